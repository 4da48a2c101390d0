#!/usr/bin/env python3
"""Medians of bench/load/group.sh runs (JSON lines), as Markdown: per case
and placement, one reactor against two: requests/s, server and load
generator CPU-µs per request, server CPU utilisation (cores busy), p99."""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            runs[(r["target"], r["conns"], r["depth"], r["placement"], r["loadgens"], r["threads"])].append(r)
    print("| target | conns | depth | placement | load generators | reactors | rounds | req/s | server CPU-µs/req | load CPU-µs/req | server cores busy | p99 µs | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    med = lambda rs, k: statistics.median(r[k] or 0 for r in rs)
    for key in sorted(runs):
        rs = runs[key]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | {key[5]} | {len(rs)} | "
              f"{med(rs, 'rps'):,.0f} | {med(rs, 'server_cpu_us_per_req'):.3f} | {med(rs, 'load_cpu_us_per_req'):.3f} | "
              f"{med(rs, 'server_cpu_util'):.2f} | {med(rs, 'latency_p99_us'):,.0f} | {sum(r['errors'] for r in rs)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/load-group.jsonl")
