#!/usr/bin/env bash
# First-level cache misses per request under callgrind's cache simulation:
# the noise-free view of what many connections cost in user space.
#
#   bench/load/cachesim.sh CONNS REQUESTS SERVER_COMMAND...
#
# e.g. bench/load/cachesim.sh 10000 40000 target/release/examples/echo_hello
#      bench/load/cachesim.sh 10000 40000 target/release/baseline --kind mio --proto echo_hello
#
# Runs the server (an echo_hello server: `--listen 127.0.0.1:0` is added)
# under `valgrind --tool=callgrind --cache-sim=yes`, opens CONNS
# connections and warms them with two requests each, zeroes the counters,
# drives REQUESTS ping-pong requests (depth 1) with the load generator,
# and prints each event per request: Ir (instructions), Dr/Dw (data reads
# and writes), D1mr/D1mw (first-level misses), DLmr/DLmw (last level).
# Instruction counts here move with how many connections one epoll_wait
# returns (±15 % at 10,000), and so do the misses: interleave the builds
# compared. Build first:
# cargo build --release --example echo_hello -p reel-bench.
# KEEP=FILE keeps the callgrind dump for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
conns=$1 requests=$2
shift 2
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
out=$work/cg log=$work/log
valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out" "$@" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
addr=
for _ in $(seq 1 600); do
    addr=$(sed -n 's/.*listening on \(.*\) (tcp).*/\1/p' "$log" | head -n 1)
    if [ -n "$addr" ]; then break; fi
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "the server never listened; its log:" >&2
    cat "$log" >&2
    exit 1
fi
load=(target/release/loadgen --target echo_hello --connect "$addr" --conns "$conns" --depth 1
    --duration 300 --warmup 0 --timeout 120 --json)
"${load[@]}" --requests $((conns * 2)) >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
"${load[@]}" --requests "$requests" >"$work/json"
callgrind_control -d "$pid" >/dev/null 2>&1
if [ -n "${KEEP:-}" ]; then cp "$out.1" "$KEEP"; fi
served=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$work/json")
events=$(sed -n 's/^events: //p' "$out.1" | head -n 1)
summary=$(sed -n 's/^summary: //p' "$out.1" | head -n 1)
awk -v n="$served" -v e="$events" -v s="$summary" 'BEGIN {
    k = split(e, names, " "); split(s, counts, " ")
    line = "requests " n
    for (i = 1; i <= k; i++) line = line sprintf(" %s=%.2f", names[i], (counts[i] + 0) / n)
    print line
}'
