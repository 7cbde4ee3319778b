#!/usr/bin/env bash
# Scale: inventory, copy, no-op re-sync and deep verify of a registry of N repositories made by
# ../shared/bench/populate.py (profile small: about 9 tags and 21 blobs per repository), each
# timed with /usr/bin/time; the copy is checked by the harness's own verify.py. Not part of the
# tests.
#
#   bench/scale.sh REPOS [all|populate|measure]      (default: all)
#
# `populate` fills a source registry and leaves both registries running in $SCALE_WORK
# (default ${TMPDIR:-/tmp}/acr-scale), `measure` runs the timed steps on them (an idle machine),
# `all` does both and stops the registries. Prints `SCALE step=… wall_s=… peak_rss_kb=…` lines
# and writes them to bench/results/scale-REPOS.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
repos="${1:?number of repositories}"; phase="${2:-all}"
source bench/lib.sh
work="${SCALE_WORK:-${TMPDIR:-/tmp}/acr-scale}"
export BENCH_WORK="$work"
out="bench/results/scale-$repos.txt"

if [[ $phase == all || $phase == populate ]]; then
  "$bench/registry.sh" stop-all >/dev/null 2>&1 || true
  rm -rf "$work"; mkdir -p "$work"
  "$bench/registry.sh" start src "$(freeport)" >/dev/null 2>&1
  "$bench/registry.sh" start dst "$(freeport)" >/dev/null 2>&1
  python3 "$bench/populate.py" --registry "$("$bench/registry.sh" url src)" --profile small \
    --seed 1 --repos "$repos" --jobs 4 --out "$work/expected.json" 2>&1 | grep '^populate: p'
fi
if [[ $phase == all || $phase == measure ]]; then
  release_binary
  src="$("$bench/registry.sh" url src)"; dst="$("$bench/registry.sh" url dst)"
  : > "$out"
  step() {
    local name="$1"; shift
    local rc=0
    /usr/bin/time -f "%e %M %U %S" -o "$work/$name.time" "$@" > "$work/$name.out" 2>&1 || rc=$?
    read -r wall rss user sys < "$work/$name.time"
    echo "SCALE repos=$repos step=$name wall_s=$wall peak_rss_kb=$rss cpu_s=$(python3 -c "print(round($user+$sys,2))") rc=$rc" | tee -a "$out"
    tail -n 2 "$work/$name.out" | sed 's/^/  /' | tee -a "$out"
  }
  step inventory "$bin" inventory "$src"
  step copy "$bin" copy -q "$src" "$dst"
  python3 "$bench/verify.py" --quiet --expected "$work/expected.json" "$src" "$dst" 2>&1 \
    | tail -n 1 | sed 's/^/  verify.py: /' | tee -a "$out"
  step resync "$bin" copy -q "$src" "$dst"
  step verify-deep "$bin" verify --deep "$src" "$dst"
fi
if [[ $phase == all ]]; then "$bench/registry.sh" stop-all >/dev/null 2>&1 || true; fi
