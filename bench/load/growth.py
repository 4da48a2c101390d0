#!/usr/bin/env python3
"""Growth of server CPU per request from the fewest to the most connections.

    python3 bench/load/growth.py OUT.jsonl

OUT.jsonl is what bench/load/compare.sh wrote for cases of one protocol at
two connection counts (CASES="echo_hello:100:1 echo_hello:10000:1"). For
each server, prints the median CPU per request at each count, the ratio of
those medians, and the median of each round's own ratio (its two runs are
minutes apart at most, so slow drifts in the machine's load cancel out).
"""
import collections
import json
import statistics
import sys


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    cpu = collections.defaultdict(dict)
    for r in rows:
        if r.get("server_cpu_us_per_req"):
            cpu[(r["round"], r["server"])][r["conns"]] = r["server_cpu_us_per_req"]
    servers = sorted({r["server"] for r in rows})
    conns = sorted({r["conns"] for r in rows})
    rounds = sorted({r["round"] for r in rows})
    lo, hi = conns[0], conns[-1]
    for s in servers:
        at_lo = [cpu[(k, s)][lo] for k in rounds if lo in cpu[(k, s)]]
        at_hi = [cpu[(k, s)][hi] for k in rounds if hi in cpu[(k, s)]]
        per_round = [cpu[(k, s)][hi] / cpu[(k, s)][lo] for k in rounds if lo in cpu[(k, s)] and hi in cpu[(k, s)]]
        if not at_lo or not at_hi:
            continue
        lo_med, hi_med = statistics.median(at_lo), statistics.median(at_hi)
        print(
            f"{s:<12} {lo} -> {hi} connections: {lo_med:.2f} -> {hi_med:.2f} µs/request, "
            f"growth {hi_med / lo_med:.2f}x; per round {statistics.median(per_round):.2f}x "
            f"[{', '.join(f'{g:.2f}' for g in per_round)}]"
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
