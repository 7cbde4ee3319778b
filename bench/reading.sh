#!/usr/bin/env bash
# inventory and verify --deep with requests at once that grow, against the number pinned at the
# start (not part of the tests).
#
#   bench/reading.sh [RUNS] [DELAY_MS...]     (default: 3 runs; one-way delays 0 40)
#
# For each one-way delay D (round trip 2 × D through ../shared/bench/latproxy.py), bench.sh
# populates the `small` profile (65 repositories, 702 tags) and runs one "tool" command through
# the proxy: our copy into the target, then RUNS times, alternating, `verify --deep` and
# `inventory` with the default (-j 8: 32 requests at once, growing towards 128) and with
# `--max-jobs 8` (32 fixed, what both did before they grew). Writes bench/results/reading.tsv
# (one line per timed command) and bench/results/reading.md (medians).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"; shift || true
delays=("$@"); ((${#delays[@]})) || delays=(0 40)
source bench/lib.sh
release_binary
out=bench/results
tsv="$out/reading.tsv"; : > "$tsv"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
for delay in "${delays[@]}"; do
  : > "$work/times"
  tool="$bin copy -q {SRC_URL} {DST_URL}"
  for ((i = 1; i <= runs; i++)); do
    for setting in default pinned; do
      extra=""; [[ $setting == pinned ]] && extra="--max-jobs 8"
      for command in "verify --deep $extra {SRC_URL} {DST_URL}" "inventory $extra {SRC_URL}"; do
        name="${command%% *}"
        tool+=" && /usr/bin/time -a -o $work/times -f '$delay $name $setting %e' $bin $command > /dev/null"
      done
    done
  done
  "$harness" small --delay-ms "$delay" --runs 1 --name reading --tool "$tool" | grep '^RESULT'
  tr ' ' '\t' < "$work/times" | tee -a "$tsv"
done
python3 - "$tsv" > "$out/reading.md" <<'PY'
import collections, statistics, sys
walls = collections.defaultdict(list)
for line in open(sys.argv[1]):
    delay, command, setting, wall = line.split()
    walls[(int(delay), command, setting)].append(float(wall))
print("| round trip added | command | default (s) | 32 fixed (s) | default / fixed |")
print("|---:|---|---:|---:|---:|")
for delay, command in sorted({(d, c) for d, c, _ in walls}):
    a = statistics.median(walls[(delay, command, "default")])
    b = statistics.median(walls[(delay, command, "pinned")])
    label = "verify --deep" if command == "verify" else command
    print(f"| {2 * delay} ms | {label} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
PY
cat "$out/reading.md"
