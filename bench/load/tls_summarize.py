#!/usr/bin/env python3
"""Medians of bench/load/tls_compare.sh's output: reel vs tokio-rustls.

Request cases: server CPU-us per request (lower is better). Bulk: MB moved
(both ways) per server-CPU-second (higher is better). Handshakes: server
CPU-us per full handshake (lower is better). Fails on any run with errors.
"""
import json
import re
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"round=(\S+) kind=(\S+) (proto=(\S+) depth=(\S+)|bulk|handshakes) (.*)", line.strip())
    if not m:
        continue
    _, kind, what, proto, depth, rest = m.groups()
    if proto:
        j = json.loads(rest)
        assert j["errors"] == 0, line
        key = f"{proto} x{depth}"
        rows.setdefault((key, kind), []).append((j["server_cpu_us_per_req"], j["rps"]))
    elif what == "bulk":
        assert "WRONG" not in rest, line
        per_cpu = float(re.search(r"([\d.]+) MB per server-CPU-second", rest).group(1))
        rate = float(re.search(r"([\d.]+) MB/s", rest).group(1))
        rows.setdefault(("bulk", kind), []).append((per_cpu, rate))
    else:
        assert "; 0 errors" in rest, line
        per = float(re.search(r"([\d.]+) us per handshake", rest).group(1))
        rate = float(re.search(r": (\d+)/s", rest).group(1))
        rows.setdefault(("handshakes", kind), []).append((per, rate))

units = {"bulk": "MB per server-CPU-s (higher is better)", "handshakes": "server CPU-us per handshake"}
print("| case | measure | reel (median) | tokio-rustls (median) | reel / tokio | rounds | reel runs | tokio runs |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted({k for k, _ in rows}):
    reel, tok = rows.get((key, "reel"), []), rows.get((key, "tokio"), [])
    if not reel or not tok:
        continue
    mr, mt = statistics.median(r[0] for r in reel), statistics.median(t[0] for t in tok)
    unit = units.get(key, "server CPU-us per request")
    runs = lambda xs: ", ".join(f"{x[0]:.2f}" for x in xs)
    print(f"| {key} | {unit} | {mr:.2f} | {mt:.2f} | {mr / mt:.2f} | {len(reel)} | {runs(reel)} | {runs(tok)} |")
