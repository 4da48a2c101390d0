#!/usr/bin/env bash
# The proxy example against a tokio current_thread proxy (copy_bidirectional,
# `baseline --kind tokio-proxy`) and, where installed, haproxy in TCP mode
# (one process, one thread), in the same run:
#
#   bench/load/proxy.sh [ROUNDS] [SECONDS] [MIB] [OUT.jsonl]
#
# Each round, for every proxy in turn (interleaved, so machine noise hits
# all alike):
#  - echo_hello through the proxy: the load generator (50 connections,
#    depth 16, every reply checked) reports the proxy's CPU per request;
#  - bulk: MIB MiB from a source through the proxy to a sink (both
#    python, checking the byte count), the proxy's CPU per MiB forwarded
#    from /proc/PID/stat.
# The proxy is pinned to CPU 0; the target, the load generator, the source
# and the sink to CPU 1. Prints a Markdown table of medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-5}
SECS=${2:-3}
MIB=${3:-1024}
OUT=${4:-target/load-proxy.jsonl}
PROXIES=${PROXIES:-"reel tokio haproxy"}
cargo build --release --quiet --example echo_hello --example proxy
cargo build --release --quiet -p reel-bench --bin baseline --bin loadgen
B=target/release/examples
BIN=target/release
ulimit -n "$(ulimit -Hn)"
: > "$OUT"
TICK=$(getconf CLK_TCK)

. "$here/ports.sh"

cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

start_proxy() { # kind listen-port target-port: sets PROXY_PID
    local kind=$1 port=$2 target=127.0.0.1:$3
    case $kind in
        reel) taskset -c 0 "$B/proxy" --listen "127.0.0.1:$port" --connect "$target" >/dev/null 2>&1 & ;;
        tokio) taskset -c 0 "$BIN/baseline" --kind tokio-proxy --listen "127.0.0.1:$port" --connect "$target" >/dev/null 2>&1 & ;;
        haproxy)
            cat > target/haproxy-bench.cfg <<CFG
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend f
    bind 127.0.0.1:$port
    default_backend b
backend b
    server s $target
CFG
            taskset -c 0 haproxy -f target/haproxy-bench.cfg -db >/dev/null 2>&1 & ;;
    esac
    PROXY_PID=$!
    wait_port "$port"
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
}

# A source that sends MIB MiB to each connection and closes, on CPU 1.
SOURCE_PORT=26500
taskset -c 1 python3 - "$SOURCE_PORT" "$MIB" <<'PY' &
import socket, sys, threading
port, mib = int(sys.argv[1]), int(sys.argv[2])
block = bytes(range(256)) * 4096  # 1 MiB
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(16)
def serve(c):
    try:
        for _ in range(mib):
            c.sendall(block)
    except OSError:
        pass  # a port probe, gone at once
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
SOURCE_PID=$!
taskset -c 1 "$B/echo_hello" --listen 127.0.0.1:26501 >/dev/null 2>&1 &
ECHO_PID=$!
trap 'kill $SOURCE_PID $ECHO_PID 2>/dev/null || true; stop_proxy' EXIT
wait_port "$SOURCE_PORT"
wait_port 26501

port=26600
for round in $(seq "$ROUNDS"); do
    for kind in $PROXIES; do
        if [ "$kind" = haproxy ] && ! command -v haproxy >/dev/null; then continue; fi
        # echo_hello through the proxy.
        port=$((port + 1))
        start_proxy "$kind" "$port" 26501
        line=$(taskset -c 1 "$BIN/loadgen" --target echo_hello --connect "127.0.0.1:$port" \
            --conns 50 --depth 16 --duration "$SECS" --warmup 1 --server-pid "$PROXY_PID" --json || true)
        stop_proxy
        echo "{\"round\":$round,\"proxy\":\"$kind\",\"case\":\"echo_hello\",${line#\{}" >> "$OUT"
        # Bulk: MIB MiB through the proxy.
        port=$((port + 1))
        start_proxy "$kind" "$port" "$SOURCE_PORT"
        before=$(cpu_ticks "$PROXY_PID")
        start=$(date +%s.%N)
        got=$(taskset -c 1 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = bytearray(1 << 20); n = 0
while True:
    k = s.recv_into(buf)
    if not k: break
    n += k
print(n)' "$port")
        end=$(date +%s.%N)
        after=$(cpu_ticks "$PROXY_PID")
        stop_proxy
        if [ "$got" != $((MIB * 1048576)) ]; then echo "bulk through $kind: $got bytes" >&2; exit 1; fi
        python3 -c 'import json,sys; t,a,b,s,e,m,k,r=sys.argv[1:]; cpu=(int(b)-int(a))/int(t); print(json.dumps({"round":int(r),"proxy":k,"case":"bulk","mib":int(m),"server_cpu_s":cpu,"cpu_ms_per_mib":cpu*1000/int(m),"mib_per_s":int(m)/(float(e)-float(s))}))' \
            "$TICK" "$before" "$after" "$start" "$end" "$MIB" "$kind" "$round" >> "$OUT"
        echo "round $round $kind done" >&2
    done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["case"], r["proxy"])].append(r)
print("| case | proxy | rounds | median | unit | throughput (median) | errors |")
print("|---|---|---|---|---|---|---|")
for (case, proxy), rs in sorted(runs.items()):
    if case == "bulk":
        print(f"| bulk {rs[0]['mib']} MiB | {proxy} | {len(rs)} | {statistics.median(r['cpu_ms_per_mib'] for r in rs):.3f} | server CPU-ms per MiB | {statistics.median(r['mib_per_s'] for r in rs):.0f} MiB/s | 0 |")
    else:
        print(f"| echo_hello 50x16 | {proxy} | {len(rs)} | {statistics.median(r['server_cpu_us_per_req'] for r in rs):.3f} | server CPU-µs per request | {statistics.median(r['rps'] for r in rs):.0f} req/s | {sum(r.get('errors', 0) for r in rs)} |")
PY
