#!/usr/bin/env bash
# Adaptive blob transfers against fixed numbers (not part of the tests).
#
#   bench/adaptive.sh [RUNS] [DELAY_MS...]      (default: 2 runs; one-way delays 0 10 40)
#
# For each one-way delay D (round trip 2 × D through ../shared/bench/latproxy.py), runs
# ../shared/bench/bench.sh small --repos 8 --many-tags 20 with acr-relocate's default (-j 8,
# growing towards 32 while round trips stay steady), with 8 transfers fixed and with 16 fixed,
# alternating, RUNS times each; every run is checked by the harness's verify.py. Writes
# bench/results/adaptive.tsv (one line per run, with the most transfers at once the run reached)
# and bench/results/adaptive.md (medians).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-2}"; shift || true
delays=("$@"); ((${#delays[@]})) || delays=(0 10 40)
source bench/lib.sh
release_binary
out=bench/results
tsv="$out/adaptive.tsv"; : > "$tsv"
summary="$(mktemp)"; trap 'rm -f "$summary"' EXIT
declare -A settings=([adaptive]="-j 8" [fixed-8]="-j 8 --max-jobs 8" [fixed-16]="-j 16 --max-jobs 16")
for delay in "${delays[@]}"; do
  for ((i = 1; i <= runs; i++)); do
    for name in adaptive fixed-8 fixed-16; do
      line=$("$harness" small --repos 8 --many-tags 20 --delay-ms "$delay" --runs 1 --name "$name" \
        --tool "$bin copy --json ${settings[$name]} {SRC_URL} {DST_URL} > $summary" | grep '^RESULT')
      wall=$(sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<< "$line")
      verdict=$(sed -n 's/.* verify=\([a-z]*\).*/\1/p' <<< "$line")
      peak=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_transfers"])' "$summary")
      printf '%s\t%s\t%s\t%s\t%s\n' "$delay" "$name" "$wall" "$peak" "$verdict" | tee -a "$tsv"
    done
  done
done
python3 - "$tsv" > "$out/adaptive.md" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| round trip added | setting | runs | median wall (s) | most transfers at once | verify |")
print("|---:|---|---:|---:|---:|---|")
for delay in dict.fromkeys(r[0] for r in rows):
    for name in ("adaptive", "fixed-8", "fixed-16"):
        rs = [r for r in rows if r[0] == delay and r[1] == name]
        if rs:
            walls = [float(r[2]) for r in rs]
            peaks = "/".join(r[3] for r in rs)
            ok = "ok" if all(r[4] == "ok" for r in rs) else "FAILED"
            print(f"| {2 * float(delay):g} ms | {name} | {len(rs)} | {statistics.median(walls):.2f} | {peaks} | {ok} |")
PY
cat "$out/adaptive.md"
