#!/usr/bin/env python3
"""Turns bench/run.sh results (TSV of RESULT lines) into a Markdown table of medians and ratios,
and a PNG plot of wall time per scenario when matplotlib is available.

Usage: bench/report.py RESULTS.tsv OUT_DIR [STORAGE]

STORAGE, when given, is a line saying where the registries kept their data.

Rows from bench/run.sh carry the registries' CPU during each run (bench/regcpu.sh): the table then
gives, for acr-relocate's runs, the two registries' CPU seconds, the floor they make on this
machine (their CPU divided by its cores: no client sending the same requests finishes sooner), that
floor as a ratio of skopeo's time, and how busy the whole machine was.
"""
import re, statistics, sys, collections
tsv, out = sys.argv[1], sys.argv[2]
storage = sys.argv[3] if len(sys.argv) > 3 else None
rows = collections.defaultdict(list)
for line in open(tsv):
    scenario, result = line.rstrip("\n").split("\t", 1)
    f = dict(re.findall(r"(\w+)=(\S+)", result))
    if f.get("verify") != "ok":
        continue
    tool = "acr-relocate" if f["tool"].startswith("acr-relocate") else "skopeo"
    registries = None
    if "src_cpu_s" in f:
        registries = (float(f["src_cpu_s"]) + float(f["dst_cpu_s"]), int(f["cores"]), float(f["machine_busy"]))
    rows[(scenario, f["kind"], tool)].append((float(f["wall_s"]), int(f["peak_rss_kb"]), registries))
lines = ["| scenario | run | acr-relocate (s) | skopeo (s) | ratio | acr-relocate peak RSS (KB) "
         "| registries' CPU (s) | their floor (s) | floor ratio | machine busy | registries' CPU under skopeo (s) |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
plot = []
for (scenario, kind) in sorted({(s, k) for s, k, _ in rows}):
    a = rows.get((scenario, kind, "acr-relocate"), [])
    b = rows.get((scenario, kind, "skopeo"), [])
    if not a or not b:
        continue
    ma, mb = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
    rss = max(x[1] for x in a)
    measured = [x[2] for x in a if x[2]]
    if measured:
        cpu = statistics.median(m[0] for m in measured)
        floor = cpu / measured[0][1]
        busy = statistics.median(m[2] for m in measured)
        theirs = [x[2][0] for x in b if x[2]]
        skopeo_cpu = f"{statistics.median(theirs):.2f}" if theirs else ""
        extra = f" {cpu:.2f} | {floor:.2f} | {floor / mb:.3f} | {busy:.0%} | {skopeo_cpu} |"
    else:
        extra = " | | | | |"
    lines.append(f"| {scenario} | {kind} | {ma:.2f} | {mb:.2f} | {ma / mb:.3f} | {rss} |{extra}")
    plot.append((f"{scenario}\n{kind}", ma, mb, floor if measured else None))
if storage:
    lines = [storage, ""] + lines
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(plot))
    ax.bar([x - 0.2 for x in xs], [p[1] for p in plot], 0.4, label="acr-relocate")
    ax.bar([x + 0.2 for x in xs], [p[2] for p in plot], 0.4, label="skopeo")
    floors = [(x, p[3]) for x, p in zip(xs, plot) if p[3] is not None]
    if floors:
        ax.hlines([f for _, f in floors], [x - 0.4 for x, _ in floors], [x for x, _ in floors],
                  colors="black", label="registries' floor (their CPU / cores)")
    ax.set_xticks(list(xs)); ax.set_xticklabels([p[0] for p in plot], fontsize=8)
    ax.set_ylabel("wall time (s, median)"); ax.legend(); fig.tight_layout()
    fig.savefig(f"{out}/wall.png", dpi=100)
except ImportError:
    print("bench: no matplotlib: no plot", file=sys.stderr)
