#!/usr/bin/env bash
# UDP echo_hello: reel against tokio's UdpSocket loop, a blocking std::net
# loop and a hand-written mio loop (`baseline --proto udp_echo_hello`),
# with 1, 16 and 64 datagrams in flight from one socket.
#
#   bench/load/udp_compare.sh [ROUNDS] [SECONDS] [OUT.jsonl]
#
# Rounds are interleaved (the servers' order turning each round); the server is pinned to CPU 0 and the load
# generator to CPU 1; every reply is checked. Prints, per case, the median
# datagrams served per second of server CPU time and reel's ratio to each
# baseline.
#
# LOADGEN_ARGS adds arguments to every load generator run (`--no-gro`:
# a client without coalesced receives).
#
# REEL_BEFORE=PATH adds a server `reel-before`: another build of the
# echo_hello example (an earlier commit's), run interleaved with the rest,
# to measure a change against its parent in the same run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-3}
SECS=${2:-3}
OUT=${3:-target/udp-compare.jsonl}
DEPTHS=${DEPTHS:-"1 16 64"}
SERVERS=${SERVERS:-"reel tokio threads mio${REEL_BEFORE:+ reel-before}"}

. "$here/lib.sh"
: > "$OUT"
port=25000
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

# The servers' order turns by one each round: the first run after the
# heavy 64-in-flight runs was often slow at 1 in flight (the machine's
# wake-up latency varies by a factor of 3 to 5 from minute to minute), and
# a fixed order charged that to reel every round.
read -r -a server_list <<<"$SERVERS"
for round in $(seq "$ROUNDS"); do
    shift_by=$(( (round - 1) % ${#server_list[@]} ))
    order=("${server_list[@]:$shift_by}" "${server_list[@]:0:$shift_by}")
    for depth in $DEPTHS; do
        for kind in "${order[@]}"; do
            port=$((port + 1))
            case $kind in
                reel) taskset -c 0 "$B/echo_hello" --listen "127.0.0.1:$port" >"$LOG" 2>&1 & ;;
                reel-before) taskset -c 0 "$REEL_BEFORE" --listen "127.0.0.1:$port" >"$LOG" 2>&1 & ;;
                *) taskset -c 0 "$BIN/baseline" --kind "$kind" --proto udp_echo_hello \
                    --listen "127.0.0.1:$port" >"$LOG" 2>&1 & ;;
            esac
            SERVER_PID=$!
            for _ in $(seq 100); do
                grep -q "listening on .* (udp)" "$LOG" && break
                sleep 0.05
            done
            line=$(taskset -c 1 "$BIN/loadgen" --target udp_echo_hello --connect "127.0.0.1:$port" \
                --conns 1 --depth "$depth" --duration "$SECS" --warmup 1 \
                --server-pid "$SERVER_PID" ${LOADGEN_ARGS:-} --json || true)
            stop_server
            echo "{\"round\":$round,\"server\":\"$kind\",${line#\{}" >> "$OUT"
            echo "round $round udp_echo_hello depth=$depth $kind done" >&2
        done
    done
done
python3 - "$OUT" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("server_cpu_us_per_req"):
        runs[(r["depth"], r["server"])].append(r)
print("| in flight | server | rounds | datagrams/s (median) | datagrams per server-CPU-second (median) | lost | reel's ratio |")
print("|---|---|---|---|---|---|---|")
for depth in sorted({k[0] for k in runs}):
    med = {}
    for (d, server), rs in runs.items():
        if d == depth:
            med[server] = (statistics.median(r["rps"] for r in rs),
                           statistics.median(1e6 / r["server_cpu_us_per_req"] for r in rs),
                           sum(r["errors"] for r in rs), len(rs))
    for server, (rps, per_cpu, lost, n) in med.items():
        ratio = "" if server == "reel" or "reel" not in med else f"{med['reel'][1] / per_cpu:.2f}×"
        print(f"| {depth} | {server} | {n} | {rps:,.0f} | {per_cpu:,.0f} | {lost} | {ratio} |")
PY
