#!/usr/bin/env bash
# Scaling and memory: throughput and server CPU per request against the
# number of connections (1 to 10,000), and resident memory per idle
# connection at 10,000 connections, for reel and the baselines.
#
#   bench/load/scale.sh [ROUNDS] [SECONDS] [OUT.jsonl]
#
# Server on CPU 0, load generator on CPU 1; the descriptor limit is raised to
# its hard limit. Each memory figure comes from a fresh server (RSS does not
# shrink after connections close).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ROUNDS=${1:-3}
SECS=${2:-3}
OUT=${3:-target/load-scale.jsonl}
CONNS=${CONNS:-"1 10 100 1000 10000"}
SERVERS=${SERVERS:-"reel mio tokio threads"}
IDLE=${IDLE:-10000}

. "$here/lib.sh"
: > "$OUT"
port=25000

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
            line=$(taskset -c 1 "$BIN/loadgen" --target "$proto" --connect "127.0.0.1:$port" \
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
        line=$(taskset -c 1 "$BIN/loadgen" --idle "$IDLE" --target "$proto" --connect "127.0.0.1:$port" \
            --duration 3 --server-pid "$SERVER_PID" --json || true)
        stop_server
        record "\"server\":\"$kind\",\"kind\":\"idle\",\"proto\":\"$proto\"" "$line"
        echo "idle $proto $kind done" >&2
    done
done
python3 bench/load/summarize_scale.py "$OUT"
