"""Median and range per (test, side, threads) over the rounds of a
results file written by tests/bench/metrics.sh, and the ratio to ours
paired within each round (the sides ran back to back, on the same machine
state).

    python3 summarize.py RESULTS
"""
import collections
import statistics
import sys

runs = collections.defaultdict(dict)  # (test, side, threads, unit) -> {round: value}
rnd = 0
for line in open(sys.argv[1]):
    f = line.split()
    if not f:
        continue
    if f[0] == "#":
        rnd += 1
    elif f[0] == "render-split":
        runs[("render", "collect", "1", "us")][rnd] = float(f[2])
        runs[("render", "serialize", "1", "us")][rnd] = float(f[4])
    elif f[0] == "render":
        runs[("render", f[1], "1", "us")][rnd] = float(f[5])
    else:
        runs[(f[0], f[1], f[2], "ns/op")][rnd] = float(f[5])

order = ["hist", "counter", "gateway", "stock", "kafka", "render"]
sides = ["ours", "theirs", "lookup", "collect", "serialize"]
for k in sorted(runs, key=lambda k: (order.index(k[0]), k[2], sides.index(k[1]))):
    test, side, threads, unit = k
    v = list(runs[k].values())
    line = (f"{test:8} {side:9} threads={threads} {unit:5} median {statistics.median(v):8.2f}"
            f"  range {min(v):8.2f} .. {max(v):8.2f}  n={len(v)}")
    ours = runs.get((test, "ours", threads, unit))
    if side in ("theirs", "lookup") and ours:
        r = [runs[k][i] / ours[i] for i in runs[k] if i in ours]
        line += (f"   x ours: median {statistics.median(r):5.2f}"
                 f"  range {min(r):.2f} .. {max(r):.2f}")
    print(line)
