#!/usr/bin/env bash
# One reactor against two (`--threads 1` / `--threads 2`) under the same
# load, in two placements:
#
#   split:  server on CPU 0, load generator on CPU 1 (the server's CPU time
#           per request with two reactors sharing one core: the cost of the
#           group itself);
#   shared: server and load generator(s) on CPUs 0-1, unpinned (what two
#           cores give when the load generator needs them too).
#
#   bench/load/group.sh [ROUNDS] [SECONDS] [OUT.jsonl]
#
# LOADGENS=2 runs two load generators side by side in the shared placement
# (the load generator is one thread); requests are summed, and the server's
# CPU time is the first one's measurement over its window (both windows
# start and end together within milliseconds). Every case is interleaved
# per round, so machine noise hits all alike. Prints a Markdown table of
# medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-3}
SECS=${2:-3}
OUT=${3:-target/load-group.jsonl}
CASES=${CASES:-"echo_hello:50:1 http_hello:50:16"}
PLACEMENTS=${PLACEMENTS:-"split shared"}
LOADGENS=${LOADGENS:-1}

cargo build --release --quiet --example echo_hello --example http_hello
cargo build --release --quiet -p reel-bench --bin loadgen
B=target/release/examples
BIN=target/release
ulimit -n "$(ulimit -Hn)"
. "$here/ports.sh"
: > "$OUT"
port=26000

start_server() { # cpus proto threads port
    taskset -c "$1" "$B/$2" --threads "$3" --listen "127.0.0.1:$4" >/dev/null 2>&1 &
    SERVER_PID=$!
    wait_port "$4" "server $2"
}

for round in $(seq "$ROUNDS"); do
    for case in $CASES; do
        IFS=: read -r proto conns depth <<<"$case"
        for placement in $PLACEMENTS; do
            for threads in 1 2; do
                port=$((port + 1))
                if [ "$placement" = split ]; then
                    server_cpus=0 load_cpus=1 gens=1
                else
                    server_cpus=0,1 load_cpus=0,1 gens=$LOADGENS
                fi
                start_server "$server_cpus" "$proto" "$threads" "$port"
                per=$((conns / gens))
                pids=()
                for g in $(seq "$gens"); do
                    taskset -c "$load_cpus" "$BIN/loadgen" --target "$proto" --connect "127.0.0.1:$port" \
                        --conns "$per" --depth "$depth" --duration "$SECS" --warmup 1 \
                        --server-pid "$SERVER_PID" --json > "target/load-group-$g.json" &
                    pids+=($!)
                done
                wait "${pids[@]}" || true
                stop_server
                python3 - "$round" "$placement" "$threads" "$gens" "$OUT" target/load-group-*.json <<'EOF'
import json, sys
round_, placement, threads, gens, out = sys.argv[1:6]
runs = [json.loads(open(p).read()) for p in sys.argv[6:6 + int(gens)]]
first = dict(runs[0])
req = sum(r["requests"] for r in runs)
first.update(round=int(round_), placement=placement, threads=int(threads), loadgens=int(gens),
             requests=req, rps=sum(r["rps"] for r in runs),
             conns=sum(r["conns"] for r in runs), errors=sum(r.get("errors", 0) for r in runs),
             load_cpu_us_per_req=sum(r["loadgen_cpu_us_per_req"] * r["requests"] for r in runs) / max(req, 1),
             server_cpu_us_per_req=runs[0]["server_cpu_us_per_req"] * runs[0]["requests"] / max(req, 1))
open(out, "a").write(json.dumps(first) + "\n")
EOF
                rm -f target/load-group-*.json
                echo "round $round $proto $placement threads=$threads done" >&2
            done
        done
    done
done
python3 bench/load/summarize_group.py "$OUT"
