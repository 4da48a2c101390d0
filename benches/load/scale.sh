#!/usr/bin/env bash
# Scaling and memory: throughput and server CPU per request against the
# number of connections (1 to 10,000), and resident memory per idle
# connection at 10,000 connections, for reel and the baselines.
#
#   benches/load/scale.sh [ROUNDS] [SECONDS] [OUT.jsonl]
#
# Server on CPU 0, load generator on CPU 1; the descriptor limit is raised to
# its hard limit. Each memory figure comes from a fresh server (RSS does not
# shrink after connections close).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-3}
OUT=${3:-target/load-scale.jsonl}
CONNS=${CONNS:-"1 10 100 1000 10000"}
SERVERS=${SERVERS:-"reel mio tokio threads"}
IDLE=${IDLE:-10000}

cargo build --release --quiet --example echo_hello --example http_hello --example baseline --example loadgen
B=target/release/examples
ulimit -n "$(ulimit -Hn)"
: > "$OUT"
port=25000

start_server() { # kind proto port
    local kind=$1 proto=$2 addr=127.0.0.1:$3
    case $kind in
        reel) taskset -c 0 "$B/$proto" --listen "$addr" >/dev/null 2>&1 & ;;
        *) taskset -c 0 "$B/baseline" --kind "$kind" --proto "$proto" --listen "$addr" >/dev/null 2>&1 & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server $kind $proto did not start" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

record() { # extra-json-fields loadgen-json
    echo "{$1,${2#\{}" >> "$OUT"
}

# Throughput and CPU per request by connection count (reel only, both
# protocols, ping-pong).
for round in $(seq "$ROUNDS"); do
    for proto in echo_hello http_hello; do
        for conns in $CONNS; do
            port=$((port + 1))
            start_server reel "$proto" "$port"
            line=$(taskset -c 1 "$B/loadgen" --target "$proto" --connect "127.0.0.1:$port" \
                --conns "$conns" --depth 1 --duration "$SECS" --warmup 2 --server-pid "$SERVER_PID" --json || true)
            stop_server
            record "\"round\":$round,\"server\":\"reel\",\"kind\":\"scale\"" "$line"
            echo "scale round $round $proto conns=$conns done" >&2
        done
    done
done

# Memory per idle connection, a fresh server each.
for proto in echo_hello http_hello; do
    for kind in $SERVERS; do
        port=$((port + 1))
        start_server "$kind" "$proto" "$port"
        line=$(taskset -c 1 "$B/loadgen" --idle "$IDLE" --target "$proto" --connect "127.0.0.1:$port" \
            --duration 3 --server-pid "$SERVER_PID" --json || true)
        stop_server
        record "\"server\":\"$kind\",\"kind\":\"idle\",\"proto\":\"$proto\"" "$line"
        echo "idle $proto $kind done" >&2
    done
done
python3 benches/load/summarize_scale.py "$OUT"
