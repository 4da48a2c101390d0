# Shared by compare.sh and scale.sh: the release build, the descriptor
# limit, and starting a server pinned to CPU 0.
. "$here/ports.sh"
cargo build --release --quiet --example echo_hello --example http_hello
cargo build --release --quiet -p reel-bench --bin baseline --bin loadgen
B=target/release/examples
# The baselines and the load generator are reel-bench's programs (bench/).
BIN=target/release
ulimit -n "$(ulimit -Hn)"

start_server() { # kind proto port: sets SERVER_PID once the port accepts
    local kind=$1 proto=$2 addr=127.0.0.1:$3
    case $kind in
        reel) taskset -c 0 "$B/$proto" --listen "$addr" >/dev/null 2>&1 & ;;
        # REEL_BEFORE=DIR: another build's example programs (DIR/echo_hello,
        # DIR/http_hello), to compare two commits in one interleaved run.
        reel-before) taskset -c 0 "${REEL_BEFORE:?REEL_BEFORE=DIR of another build}/$proto" --listen "$addr" >/dev/null 2>&1 & ;;
        *) taskset -c 0 "$BIN/baseline" --kind "$kind" --proto "$proto" --listen "$addr" >/dev/null 2>&1 & ;;
    esac
    SERVER_PID=$!
    wait_port "$3" "server $kind $proto"
}
