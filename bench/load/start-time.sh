#!/usr/bin/env bash
# Time from `cargo run --release --example demo` to the demo's first
# "listening on" line, in a fresh clone with an empty target/ (the crate
# download cache, ~/.cargo/registry, is used as it is: warm or not).
#
#   bench/load/start-time.sh [REPO] [COMMIT] [DIR]
#
# REPO defaults to this repository, COMMIT to HEAD, DIR (the clone, removed
# first) to /tmp/reel-start-time. The demo is killed once it has logged the
# line. Needs the demo's default ports free (7007 first).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=${1:-$(cd "$here/../.." && pwd)}
commit=${2:-HEAD}
dir=${3:-/tmp/reel-start-time}
commit=$(git -C "$repo" rev-parse "$commit")
rm -rf "$dir"
git clone -q "$repo" "$dir" && git -C "$dir" checkout -q "$commit"
cd "$dir"
log=$(mktemp)
start=$(date +%s.%N)
# `cargo run` replaces itself with the demo (exec), so $! is the demo once
# it runs.
cargo run --release --example demo >"$log" 2>&1 &
pid=$!
found=0
while kill -0 "$pid" 2>/dev/null; do
    if grep -q "listening on" "$log"; then found=1; break; fi
    sleep 0.2
done
end=$(date +%s.%N)
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ "$found" = 1 ]; then
    printf '%s: first "listening on" after %.1f s (load average %s)\n' \
        "$commit" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
else
    echo "$commit: the demo ended without a \"listening on\" line:" >&2
    tail -5 "$log" >&2
    exit 1
fi
