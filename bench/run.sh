#!/usr/bin/env bash
# Benchmarks acr-relocate against skopeo with ../shared/bench (not part of the tests).
#
#   bench/run.sh [RUNS] [SCENARIO...]
#
# Builds the release binary, then for each scenario runs bench.sh with acr-relocate and with the
# skopeo baseline, alternating, RUNS times each (default 2), and writes bench/results/results.md:
# a Markdown table of medians and ratios. With python3 and matplotlib, also a PNG plot of wall
# time per scenario (bench/results/wall.png). Scenarios: small mixed mixed130 large latency
# (default: all); `mixed` is the harness's profile as it comes (23 repositories, 303 tags), `mixed130`
# the same with --repos 130 (1,055 tags, catalog pages).
#
# The registries keep their storage under BENCH_ROOT (bench.sh's variable; default $TMPDIR or
# /tmp). `BENCH_ROOT=/dev/shm bench/run.sh` keeps it in memory, taking the VM disk's fsyncs and
# inode allocation out of both tools' times; those results go to bench/results/shm/ instead.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-2}"; shift || true
scenarios=("$@"); ((${#scenarios[@]})) || scenarios=(small mixed mixed130 large latency)
source bench/lib.sh
release_binary
storage="${BENCH_ROOT:-${TMPDIR:-/tmp}}"
out=bench/results
fstype="$(df --output=fstype "$storage" | tail -1)"
[[ "$fstype" == tmpfs ]] && out=bench/results/shm
mkdir -p "$out"
tsv="$out/results.tsv"; : > "$tsv"

args_of() {
  case "$1" in
    small) echo "small" ;;
    mixed) echo "mixed" ;;
    mixed130) echo "mixed --repos 130" ;;
    large) echo "large" ;;
    latency) echo "small --repos 8 --many-tags 20 --delay-ms 10" ;;
  esac
}

# One harness invocation (a copy, then a re-sync) with bench/regcpu.sh in front of the tool: each
# RESULT line gains the registries' CPU during that run (`src_cpu_s=… dst_cpu_s=… machine_busy=…`).
run_harness() { # SCENARIO HARNESS-ARG...
  local scenario="$1"; shift
  local cpu lines; cpu="$(mktemp)"; lines="$(mktemp)"
  # shellcheck disable=SC2046
  REGCPU_OUT="$cpu" BENCH_RESULTS="$tsv.raw" "$harness" $(args_of "$scenario") "$@" \
    | grep '^RESULT' > "$lines" || true
  paste -d' ' "$lines" <(sed 's/^REGCPU //' "$cpu") | sed "s/^/$scenario\t/" >> "$tsv"
  rm -f "$cpu" "$lines"
}

for scenario in "${scenarios[@]}"; do
  for ((i = 1; i <= runs; i++)); do
    run_harness "$scenario" --name "acr-relocate" \
      --tool "$PWD/bench/regcpu.sh $bin copy -q {SRC_URL} {DST_URL}"
    run_harness "$scenario" --tool "$PWD/bench/regcpu.sh $bench/skopeo-sync.sh {SRC} {DST}"
  done
done

python3 bench/report.py "$tsv" "$out" "registries stored in $storage ($fstype)"
