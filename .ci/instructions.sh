#!/usr/bin/env bash
# Instructions per request under callgrind: the noise-free regression guard.
#
#   .ci/instructions.sh              measure reel's cases, compare with the
#                                    committed figures, fail on a case more
#                                    than 10 % over its figure
#   .ci/instructions.sh --record     measure and write the figures file
#   .ci/instructions.sh --baselines  also measure the hand-written mio loops
#                                    (and for HTTP the lenient httparse-only
#                                    server) and print the ratios
#                                    (docs/PERFORMANCE.md)
#
# Each case runs the server under `valgrind --tool=callgrind`, warms it up
# with a short load run, zeroes the counters, drives a fixed number of
# requests with the load generator (which checks every reply), dumps the
# counters and divides the user-space instructions by the requests. Counts
# depend on how requests batch into reads, so they vary by a few tenths of
# a percent between runs, far below the 10 % margin.
#
# CG_KEEP=DIR keeps each case's callgrind dump there for `callgrind_annotate`;
# ONLY=CASE measures one case.
#
# The figures live in .ci/instructions.txt, one line per case:
#   CASE INSTRUCTIONS_PER_REQUEST
# Re-recording after a change that moves them on purpose (or after a merge)
# is one command: `.ci/instructions.sh --record`, then commit the file.
set -euo pipefail
cd "$(dirname "$0")/.."

FIGURES=.ci/instructions.txt
MARGIN_PERCENT=10
MODE=check
case "${1:-}" in
    --record) MODE=record ;;
    --baselines) MODE=baselines ;;
    "") ;;
    *) echo "usage: $0 [--record | --baselines]" >&2; exit 2 ;;
esac

if [ "$MODE" = record ] && [ -n "${ONLY:-}" ]; then
    echo "--record measures every case: unset ONLY" >&2
    exit 2
fi

for tool in valgrind callgrind_control; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is missing (apt-get install valgrind)" >&2
        exit 1
    fi
done

# The servers are reel-examples' programs; the load generator and the
# baselines are reel-bench's (bench/).
cargo build --release -q --example echo_hello --example http_hello
cargo build --release -q -p reel-bench --bin loadgen --bin baseline
BIN=target/release/examples
TOOLS=target/release
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits for the server's "listening on ADDR (PROTO)" log line and prints ADDR.
wait_listening() {
    local log=$1 proto=$2
    for _ in $(seq 1 600); do
        local addr
        addr=$(sed -n "s/.*listening on \(.*\) ($proto).*/\1/p" "$log" | head -n 1)
        if [ -n "$addr" ]; then
            echo "$addr"
            return 0
        fi
        if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "the server never listened; its log:" >&2
    cat "$log" >&2
    return 1
}

# measure NAME TARGET CONNS DEPTH REQUESTS SERVER_COMMAND...: prints the
# instructions per request of the server, one decimal.
measure() {
    local name=$1 target=$2 conns=$3 depth=$4 requests=$5
    shift 5
    local out=$WORK/$name.cg log=$WORK/$name.log proto=tcp
    case "$target" in udp_*) proto=udp ;; esac
    RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$out" "$@" --listen 127.0.0.1:0 \
        >"$log" 2>&1 &
    SERVER_PID=$!
    local addr
    addr=$(wait_listening "$log" "$proto")
    local load=("$TOOLS/loadgen" --target "$target" --connect "$addr" --conns "$conns" --depth "$depth"
        --duration 120 --warmup 0 --timeout 30 --json)
    "${load[@]}" --requests $((requests / 10)) >/dev/null
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    if ! "${load[@]}" --requests "$requests" >"$WORK/$name.json"; then
        echo "$name: the load generator saw errors:" >&2
        cat "$WORK/$name.json" >&2
        return 1
    fi
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    # To profile: CG_KEEP=DIR keeps each case's dump for callgrind_annotate.
    if [ -n "${CG_KEEP:-}" ]; then cp "$out".1 "$CG_KEEP/$name.cg"; fi
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    local served total
    served=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$WORK/$name.json")
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out".1 | head -n 1)
    if [ -z "$served" ] || [ -z "$total" ] || [ "$served" -eq 0 ]; then
        echo "$name: no count (requests '$served', instructions '$total')" >&2
        return 1
    fi
    awk -v t="$total" -v r="$served" 'BEGIN { printf "%.1f\n", t / r }'
}

# The cases: name, load generator target, connections, depth, requests,
# runs (the case's figure is the least of its runs: how datagrams fall
# into batches only ever adds work, 277-304 in ten runs of UDP on
# 2 December 2026, so UDP takes the least of three).
# UDP is one socket with 64 datagrams in flight: with several sockets the
# order in which their datagrams reach the server's queue decides whether
# a batch's replies to one peer are consecutive (one GSO send) or
# interleaved (sendmmsg), and the count moved between 277 and 325 from run
# to run (4 sockets x 16, 2026-12-02); one socket gives 277-280.
CASES=(
    "echo_hello_x1 echo_hello 50 1 20000 1"
    "echo_hello_x16 echo_hello 50 16 160000 1"
    "http_hello_x1 http_hello 50 1 20000 1"
    "http_hello_x16 http_hello 50 16 80000 1"
    "udp_echo_hello_x64 udp_echo_hello 1 64 40000 3"
)

reel_server() {
    case "$1" in
        echo_hello | udp_echo_hello) echo "$BIN/echo_hello" ;;
        http_hello) echo "$BIN/http_hello" ;;
    esac
}

mio_server() {
    echo "$TOOLS/baseline --kind mio --proto $1"
}

declare -A MEASURED
for c in "${CASES[@]}"; do
    read -r name target conns depth requests runs <<<"$c"
    # ONLY=NAME measures just that case (while profiling; the check then
    # reports the others as missing).
    if [ -n "${ONLY:-}" ] && [ "$name" != "$ONLY" ]; then continue; fi
    least=
    for _ in $(seq "$runs"); do
        # shellcheck disable=SC2046
        one=$(measure "$name" "$target" "$conns" "$depth" "$requests" $(reel_server "$target"))
        least=$(awk -v a="$one" -v b="${least:-$one}" 'BEGIN { print (a + 0 < b + 0) ? a : b }')
    done
    MEASURED[$name]=$least
    if [ "$MODE" = baselines ]; then
        # shellcheck disable=SC2046
        mio=$(measure "mio_$name" "$target" "$conns" "$depth" "$requests" $(mio_server "$target"))
        line=$(awk -v n="$name" -v r="${MEASURED[$name]}" -v m="$mio" \
            'BEGIN { printf "%-20s reel %8.1f  mio %8.1f  ratio %.2fx", n, r, m, r / m }')
        if [ "$target" = http_hello ]; then
            lenient=$(measure "lenient_$name" "$target" "$conns" "$depth" "$requests" \
                "$TOOLS/baseline" --kind lenient --proto http_hello)
            line+=$(awk -v r="${MEASURED[$name]}" -v l="$lenient" \
                'BEGIN { printf "  lenient %8.1f  ratio %.2fx", l, r / l }')
        fi
        echo "$line"
    else
        printf "%-20s %8.1f instructions per request\n" "$name" "${MEASURED[$name]}"
    fi
done

if [ "$MODE" = record ]; then
    {
        echo "# Instructions per request under callgrind, written by .ci/instructions.sh --record."
        echo "# .ci/run fails when a case exceeds its figure by more than ${MARGIN_PERCENT} %."
        for c in "${CASES[@]}"; do
            read -r name _ <<<"$c"
            echo "$name ${MEASURED[$name]}"
        done
    } >"$FIGURES"
    echo "wrote $FIGURES"
    exit 0
fi

if [ "$MODE" = check ]; then
    failed=0
    for c in "${CASES[@]}"; do
        read -r name _ <<<"$c"
        if [ -n "${ONLY:-}" ] && [ "$name" != "$ONLY" ]; then continue; fi
        figure=$(awk -v n="$name" '$1 == n { print $2 }' "$FIGURES")
        if [ -z "$figure" ]; then
            echo "FAIL $name: no figure in $FIGURES (run .ci/instructions.sh --record)" >&2
            failed=1
            continue
        fi
        if ! awk -v m="${MEASURED[$name]}" -v f="$figure" -v p="$MARGIN_PERCENT" \
            'BEGIN { exit !(m <= f * (1 + p / 100)) }'; then
            echo "FAIL $name: ${MEASURED[$name]} instructions per request, over $figure + ${MARGIN_PERCENT} %" >&2
            failed=1
        else
            echo "ok   $name: ${MEASURED[$name]} (figure $figure)"
        fi
    done
    exit "$failed"
fi
