#!/usr/bin/env python3
"""Tables from scale.sh's JSON lines: throughput and server CPU per request
by connection count, and resident memory per idle connection."""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    scale = defaultdict(list)
    idle = []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("kind") == "scale":
            scale[(r["target"], r["conns"])].append(r)
        elif r.get("kind") == "idle":
            idle.append(r)
    print("| target | conns | rounds | req/s (median) | server CPU-µs/req (median) | p50 µs | p99 µs | errors |")
    print("|---|---|---|---|---|---|---|---|")
    base = {}
    for (target, conns), rs in sorted(scale.items()):
        cpu = statistics.median(r["server_cpu_us_per_req"] for r in rs)
        if conns == 100:
            base[target] = cpu
        print(
            f"| {target} | {conns} | {len(rs)} | {statistics.median(r['rps'] for r in rs):,.0f} | {cpu:.3f} "
            f"| {statistics.median(r['latency_p50_us'] for r in rs):,.0f} "
            f"| {statistics.median(r['latency_p99_us'] for r in rs):,.0f} | {sum(r['errors'] for r in rs)} |"
        )
    for target, cpu100 in base.items():
        rs = scale.get((target, 10000))
        if rs:
            cpu = statistics.median(r["server_cpu_us_per_req"] for r in rs)
            print(f"\n{target}: CPU per request at 10,000 connections / at 100 = {cpu / cpu100:.2f}")
    print()
    print("| protocol | server | connections opened | RSS before (KiB) | RSS with them open (KiB) | bytes per connection |")
    print("|---|---|---|---|---|---|")
    for r in idle:
        per = r.get("server_rss_per_conn_bytes")
        per = f"{per:,.0f}" if per is not None else "?"
        print(f"| {r['proto']} | {r['server']} | {r.get('idle_opened')} | {r.get('server_rss_before_kib')} | {r.get('server_rss_open_kib')} | {per} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/load-scale.jsonl")
