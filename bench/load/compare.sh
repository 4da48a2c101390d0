#!/usr/bin/env bash
# Compares reel's example servers with the baselines (hand-written mio loop,
# tokio current_thread, thread per connection) under the load generator.
#
#   bench/load/compare.sh [ROUNDS] [SECONDS] [OUT.jsonl]
#
# Each round runs every (protocol, connections, depth) case against every
# server, interleaved, so machine noise hits all servers alike. The server
# is pinned to CPU 0 and the load generator to CPU 1. Every reply is checked
# byte for byte by the load generator; a run with errors is reported.
# Prints a Markdown table of medians (bench/load/summarize.py).
# SERVERS may name `reel-before` with REEL_BEFORE=DIR holding another
# build's echo_hello and http_hello, to compare two commits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-5}
SECS=${2:-3}
OUT=${3:-target/load-compare.jsonl}
CASES=${CASES:-"echo_hello:50:1 echo_hello:50:16 http_hello:50:1 http_hello:50:16"}
SERVERS=${SERVERS:-"reel mio tokio threads"}

. "$here/lib.sh"
: > "$OUT"
port=24000

for round in $(seq "$ROUNDS"); do
    for case in $CASES; do
        IFS=: read -r proto conns depth <<<"$case"
        for kind in $SERVERS; do
            port=$((port + 1))
            start_server "$kind" "$proto" "$port"
            line=$(taskset -c 1 "$BIN/loadgen" --target "$proto" --connect "127.0.0.1:$port" \
                --conns "$conns" --depth "$depth" --duration "$SECS" --warmup 1 \
                --server-pid "$SERVER_PID" --json || true)
            stop_server
            echo "{\"round\":$round,\"server\":\"$kind\",${line#\{}" >> "$OUT"
            echo "round $round $proto conns=$conns depth=$depth $kind done" >&2
        done
    done
done
python3 bench/load/summarize.py "$OUT"
