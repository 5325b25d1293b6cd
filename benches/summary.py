#!/usr/bin/env python3
"""Summarise criterion results of the lookup, slow_path and timer benches.

    python3 benches/summary.py [target/criterion]

Prints, per group and parameter, each id's time per iteration (median, and
the mean with its 95% interval, ns) and throughput, then the ratios computed
from the same run's medians (the median is less sensitive than the mean to
the preemptions of a shared machine):

* lookup groups: neighcache time / peer time (below 1: neighcache faster),
  `limit` (the two-miss limit, `benches/common/limit.rs`) among the peers
  of `lookup_hit`; for `lookup_burst`, `neighcache_burst` and
  `neighcache_loop` / `hashmap`; for `create_resolve` and `remove`,
  `neighcache` / each map; for `lookup_mix_mt` also each id's mean / median
  (how far preemptions and stalls pull the mean);
* timer groups: peer time / neighcache time (above 1: neighcache faster).
"""
import json
import os
import sys
from collections import defaultdict

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
rows = defaultdict(dict)  # (group, value) -> id -> (median, mean, lo, hi, elems)
for dirpath, _, files in os.walk(root):
    if not dirpath.endswith(os.path.join("new")) or "benchmark.json" not in files:
        continue
    b = json.load(open(os.path.join(dirpath, "benchmark.json")))
    est = json.load(open(os.path.join(dirpath, "estimates.json")))
    e = est["mean"]
    elems = (b.get("throughput") or {}).get("Elements", 1)
    rows[(b["group_id"], b["value_str"] or "")][b["function_id"]] = (
        est["median"]["point_estimate"],
        e["point_estimate"],
        e["confidence_interval"]["lower_bound"],
        e["confidence_interval"]["upper_bound"],
        elems,
    )


def key(k):
    g, v = k
    size, _, th = v.partition("x")
    try:
        return (g, 0, int(size), int(th.rstrip("t") or 0), "")
    except ValueError:
        return (g, 1, 0, 0, v)


LOOKUP_PEERS = ["limit", "limit_pinned", "hashmap", "rwlock_hashmap", "mutex_hashmap", "dashmap", "papaya"]
# group -> (ours, [peers]) with ratio peer/ours
TIMER = {
    "timer_core": ("wheel_core", ["binary_heap"]),
    "timer_shared": ("timer_wheel", ["mutex_binary_heap"]),
    "timer_wheel": ("neighcache", ["delay_queue", "binary_heap"]),
}

for k in sorted(rows, key=key):
    g, v = k
    ids = rows[k]
    print(f"## {g} / {v}")
    for fid, (med, m, lo, hi, el) in sorted(ids.items(), key=lambda x: x[1][0]):
        mops = el / med * 1e3  # elements per ns -> M elements per s
        print(
            f"  {fid:18} {med / el:10.2f} ns/elem (median {med:.0f} ns/iter; "
            f"mean {m:.0f} [{lo:.0f} .. {hi:.0f}])  {mops:8.2f} Melem/s"
        )
    if g in TIMER:
        ours, peers = TIMER[g]
        if ours in ids:
            r = [f"{p} {ids[p][0] / ids[ours][0]:.2f}" for p in peers if p in ids]
            print(f"  speedup peer/{ours} (time):", ", ".join(r))
    elif g == "lookup_burst":
        if "hashmap" in ids:
            r = [
                f"{o} {ids[o][0] / ids['hashmap'][0]:.2f}"
                for o in ("neighcache_burst", "neighcache_loop")
                if o in ids
            ]
            print("  ratio neighcache/hashmap (time):", ", ".join(r))
    else:
        name = "neighcache_noref" if "neighcache_noref" in ids else "neighcache"
        ours = ids.get(name)
        if ours:
            r = [f"{p} {ours[0] / ids[p][0]:.2f}" for p in LOOKUP_PEERS if p in ids]
            print(f"  ratio {name}/peer (time):", ", ".join(r))
        if g == "lookup_mix_mt":
            r = [f"{f} {m / med:.2f}" for f, (med, m, _, _, _) in sorted(ids.items())]
            print("  mean/median:", ", ".join(r))
