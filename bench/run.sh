#!/usr/bin/env bash
# Benchmarks acr-relocate against skopeo with ../shared/bench (not part of the tests).
#
#   bench/run.sh [RUNS] [SCENARIO...]
#
# Builds the release binary, then for each scenario runs bench.sh with acr-relocate and with the
# skopeo baseline, alternating, RUNS times each (default 2), and writes bench/results/results.md:
# a Markdown table of medians and ratios. With python3 and matplotlib, also a PNG plot of wall
# time per scenario (bench/results/wall.png). Scenarios: small mixed large latency (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-2}"; shift || true
scenarios=("$@"); ((${#scenarios[@]})) || scenarios=(small mixed large latency)
harness="$(cd .. && pwd)/shared/bench/bench.sh"
[[ -x "$harness" ]] || { echo "bench: $harness not found (../shared/bench)" >&2; exit 2; }
cargo build --release --quiet
bin="$PWD/target/release/acr-relocate"
out=bench/results; mkdir -p "$out"
tsv="$out/results.tsv"; : > "$tsv"

args_of() {
  case "$1" in
    small) echo "small" ;;
    mixed) echo "mixed --repos 130" ;;
    large) echo "large" ;;
    latency) echo "small --repos 8 --many-tags 20 --delay-ms 10" ;;
  esac
}

for scenario in "${scenarios[@]}"; do
  for ((i = 1; i <= runs; i++)); do
    # shellcheck disable=SC2046
    BENCH_RESULTS="$tsv.raw" "$harness" $(args_of "$scenario") --name "acr-relocate" \
      --tool "$bin copy -q {SRC_URL} {DST_URL}" | grep '^RESULT' | sed "s/^/$scenario\t/" >> "$tsv"
    # shellcheck disable=SC2046
    BENCH_RESULTS="$tsv.raw" "$harness" $(args_of "$scenario") --name "skopeo" \
      | grep '^RESULT' | sed "s/^/$scenario\t/" >> "$tsv"
  done
done

python3 - "$tsv" "$out" <<'PY'
import re, statistics, sys, collections
tsv, out = sys.argv[1], sys.argv[2]
rows = collections.defaultdict(list)
for line in open(tsv):
    scenario, result = line.rstrip("\n").split("\t", 1)
    f = dict(re.findall(r"(\w+)=(\S+)", result))
    if f.get("verify") != "ok":
        continue
    tool = "acr-relocate" if f["tool"].startswith("acr-relocate") else "skopeo"
    rows[(scenario, f["kind"], tool)].append((float(f["wall_s"]), int(f["peak_rss_kb"])))
lines = ["| scenario | run | acr-relocate (s) | skopeo (s) | ratio | acr-relocate peak RSS (KB) |", "|---|---|---:|---:|---:|---:|"]
plot = []
for (scenario, kind) in sorted({(s, k) for s, k, _ in rows}):
    a = rows.get((scenario, kind, "acr-relocate"), [])
    b = rows.get((scenario, kind, "skopeo"), [])
    if not a or not b:
        continue
    ma, mb = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
    rss = max(x[1] for x in a)
    lines.append(f"| {scenario} | {kind} | {ma:.2f} | {mb:.2f} | {ma / mb:.3f} | {rss} |")
    plot.append((f"{scenario}\n{kind}", ma, mb))
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
    ax.set_xticks(list(xs)); ax.set_xticklabels([p[0] for p in plot], fontsize=8)
    ax.set_ylabel("wall time (s, median)"); ax.legend(); fig.tight_layout()
    fig.savefig(f"{out}/wall.png", dpi=100)
except ImportError:
    print("bench: no matplotlib: no plot", file=sys.stderr)
PY
