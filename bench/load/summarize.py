#!/usr/bin/env python3
"""Medians of load-generator runs (JSON lines from compare.sh), as Markdown.

For each case (target, connections, depth) and server: median requests/s,
median server CPU-µs per request, p99 latency, and the ratio of reel's CPU
per request to the best baseline of the same run.
"""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    errors = defaultdict(int)
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        key = (r["target"], r["conns"], r["depth"], r["server"])
        if r.get("errors", 0):
            errors[key] += r["errors"]
        runs[key].append(r)
    cases = sorted({k[:3] for k in runs})
    print("| target | conns | depth | server | rounds | req/s (median) | server CPU-µs/req (median) | p99 µs (median) | errors | CPU/req vs best baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        med = {}
        for server in ["reel", "lenient", "mio", "tokio", "threads"]:
            rs = runs.get(case + (server,))
            if not rs:
                continue
            med[server] = (
                statistics.median(r["rps"] for r in rs),
                statistics.median(r["server_cpu_us_per_req"] for r in rs),
                statistics.median(r["latency_p99_us"] for r in rs),
                len(rs),
            )
        best = min((v[1] for s, v in med.items() if s in ("mio", "tokio")), default=None)
        for server, (rps, cpu, p99, n) in med.items():
            ratio = f"{cpu / best:.2f}×" if best and server == "reel" else ""
            if server == "reel" and "lenient" in med:
                ratio += f" ({cpu / med['lenient'][1]:.2f}× lenient)"
            print(f"| {case[0]} | {case[1]} | {case[2]} | {server} | {n} | {rps:,.0f} | {cpu:.3f} | {p99:,.0f} | {errors[case + (server,)]} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/load-compare.jsonl")
