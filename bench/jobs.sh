#!/usr/bin/env bash
# Throughput against --jobs: runs ../shared/bench/bench.sh once per value of --jobs for a scenario
# (default: large, and small over a 20 ms round trip) and writes bench/results/jobs.md and
# bench/results/jobs.png (with matplotlib).   bench/jobs.sh [JOBS...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=("$@"); ((${#jobs[@]})) || jobs=(1 2 4 8 16 32)
source bench/lib.sh
release_binary
out=bench/results; tsv="$out/jobs.tsv"; : > "$tsv"
for j in "${jobs[@]}"; do
  "$harness" large --runs 1 --name "j$j" --tool "$bin copy -q -j $j --max-jobs $j {SRC_URL} {DST_URL}" \
    | grep '^RESULT' | sed "s/^/large\t$j\t/" >> "$tsv"
  "$harness" small --repos 8 --many-tags 20 --delay-ms 10 --runs 1 --name "j$j" \
    --tool "$bin copy -q -j $j --max-jobs $j {SRC_URL} {DST_URL}" | grep '^RESULT' | sed "s/^/latency\t$j\t/" >> "$tsv"
done
python3 bench/jobs_report.py "$tsv" "$out"
