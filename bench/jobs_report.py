#!/usr/bin/env python3
"""Table and plot of throughput against --jobs from bench/jobs.sh results.

Usage: bench/jobs_report.py JOBS.tsv OUT_DIR
"""
import re, sys, collections
tsv, out = sys.argv[1], sys.argv[2]
data = collections.defaultdict(list)
for line in open(tsv):
    scenario, j, result = line.rstrip("\n").split("\t", 2)
    f = dict(re.findall(r"(\w+)=(\S+)", result))
    if f.get("verify") == "ok":
        data[scenario].append((int(j), float(f["mb_s"]), float(f["wall_s"]), int(f["peak_rss_kb"])))
rows = ["| scenario | --jobs | wall (s) | MB/s | peak RSS (KB) |", "|---|---:|---:|---:|---:|"]
for scenario, points in sorted(data.items()):
    for j, mbs, wall, rss in sorted(points):
        rows.append(f"| {scenario} | {j} | {wall:.2f} | {mbs:.1f} | {rss} |")
open(f"{out}/jobs.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for scenario, points in sorted(data.items()):
        points.sort()
        best = max(p[1] for p in points)
        ax.plot([p[0] for p in points], [p[1] / best for p in points], marker="o", label=f"{scenario} (best {best:.1f} MB/s)")
    ax.set_xscale("log", base=2); ax.set_xlabel("--jobs"); ax.set_ylabel("throughput, relative to the best"); ax.set_ylim(0, 1.05)
    ax.legend(); fig.tight_layout(); fig.savefig(f"{out}/jobs.png", dpi=100)
except ImportError:
    print("bench: no matplotlib: no plot", file=sys.stderr)
