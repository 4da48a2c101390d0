#!/usr/bin/env bash
# Compares reel's example servers over TLS (--tls-cert/--tls-key) with
# tokio current_thread + tokio-rustls (`baseline --kind tokio-tls`): the same
# rustls, the same `ring` provider, the same certificate (ECDSA P-256, made
# here with openssl), the same server configuration.
#
#   bench/load/tls_compare.sh [ROUNDS] [SECONDS] [OUT.txt]
#
# Per round and server: echo_hello and http_hello at depth 1 and 16 (16
# connections, loadgen --tls, requests checked byte for byte; one handshake
# per connection, then only requests are measured), bulk (loadgen --bulk:
# 16,000-byte lines to echo_hello, 32 in flight, one connection) and full
# handshakes (loadgen --handshakes: 8 connections, each closed and opened
# anew with session resumption off). Server on CPU 0, load on CPU 1.
# Prints the medians (bench/load/tls_summarize.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-3}
DUR=${2:-5}
OUT=${3:-target/tls-compare.txt}
cargo build --release --example echo_hello --example http_hello
cargo build --release -p reel-bench --bin baseline --bin loadgen
T=target/release/examples
BIN=target/release
C=$(mktemp -d)
trap 'rm -rf "$C"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -addext basicConstraints=critical,CA:FALSE \
    -keyout "$C/key.pem" -out "$C/cert.pem" -days 2 2>/dev/null

start_server() { # reel|tokio PROTO PORT
    if [ "$1" = reel ]; then
        taskset -c 0 "$T/$2" --listen "127.0.0.1:$3" --tls-cert "$C/cert.pem" --tls-key "$C/key.pem" >/dev/null 2>&1 &
    else
        taskset -c 0 "$BIN/baseline" --kind tokio-tls --proto "$2" --listen "127.0.0.1:$3" \
            --tls-cert "$C/cert.pem" --tls-key "$C/key.pem" >/dev/null 2>&1 &
    fi
    SPID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then return; fi
        sleep 0.05
    done
    echo "server $1 $2 did not start" >&2
    exit 1
}
stop_server() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; }

: > "$OUT"
port=23000
for round in $(seq "$ROUNDS"); do
    for kind in reel tokio; do
        for proto in echo_hello http_hello; do
            for depth in 1 16; do
                port=$((port + 1)); start_server "$kind" "$proto" "$port"
                echo "round=$round kind=$kind proto=$proto depth=$depth $(taskset -c 1 "$BIN/loadgen" --target "$proto" \
                    --connect "127.0.0.1:$port" --conns 16 --depth "$depth" --duration "$DUR" --warmup 1 \
                    --ca "$C/cert.pem" --server-pid "$SPID" --json)" | tee -a "$OUT"
                stop_server
            done
        done
        port=$((port + 1)); start_server "$kind" echo_hello "$port"
        echo "round=$round kind=$kind bulk $(taskset -c 1 "$BIN/loadgen" --bulk --connect "127.0.0.1:$port" \
            --duration "$DUR" --warmup 1 --ca "$C/cert.pem" --server-pid "$SPID")" | tee -a "$OUT"
        stop_server
        port=$((port + 1)); start_server "$kind" http_hello "$port"
        echo "round=$round kind=$kind handshakes $(taskset -c 1 "$BIN/loadgen" --handshakes --connect "127.0.0.1:$port" \
            --conns 8 --duration "$DUR" --warmup 1 --ca "$C/cert.pem" --server-pid "$SPID")" | tee -a "$OUT"
        stop_server
    done
done
python3 "$here/tls_summarize.py" "$OUT"
