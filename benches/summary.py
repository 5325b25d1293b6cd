#!/usr/bin/env python3
"""Summarise criterion results of the lookup and slow_path benches.

    python3 benches/summary.py [target/criterion]

Prints, per group and parameter, each id's time per iteration (mean and its
95% interval, ns) and throughput, and the ratios ours / peer (time ratios:
below 1 means neighcache is faster) computed from the same run.
"""
import json
import os
import sys
from collections import defaultdict

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
rows = defaultdict(dict)  # (group, value) -> id -> (mean, lo, hi, elems)
for dirpath, _, files in os.walk(root):
    if not dirpath.endswith(os.path.join("new")) or "benchmark.json" not in files:
        continue
    b = json.load(open(os.path.join(dirpath, "benchmark.json")))
    e = json.load(open(os.path.join(dirpath, "estimates.json")))["mean"]
    elems = (b.get("throughput") or {}).get("Elements", 1)
    rows[(b["group_id"], b["value_str"] or "")][b["function_id"]] = (
        e["point_estimate"],
        e["confidence_interval"]["lower_bound"],
        e["confidence_interval"]["upper_bound"],
        elems,
    )


def key(k):
    g, v = k
    size, _, th = v.partition("x")
    try:
        return (g, int(size), int(th.rstrip("t") or 0))
    except ValueError:
        return (g, 0, 0, v)


PEERS = ["hashmap", "rwlock_hashmap", "mutex_hashmap", "dashmap", "papaya"]
for k in sorted(rows, key=key):
    g, v = k
    ids = rows[k]
    print(f"## {g} / {v}")
    for fid, (m, lo, hi, el) in sorted(ids.items(), key=lambda x: x[1][0]):
        mops = el / m * 1e3  # elements per ns -> M elements per s
        print(f"  {fid:18} {m:10.2f} ns/iter [{lo:.2f} .. {hi:.2f}]  {mops:8.2f} Melem/s")
    ours = ids.get("neighcache_noref")
    if ours:
        r = [f"{p} {ours[0] / ids[p][0]:.2f}" for p in PEERS if p in ids]
        print("  ratio neighcache_noref/peer (time):", ", ".join(r))
