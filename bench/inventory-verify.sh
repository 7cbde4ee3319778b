#!/usr/bin/env bash
# Times `inventory` and `verify --deep` on a populated ../shared/bench profile (not part of the
# tests).
#
#   bench/inventory-verify.sh [PROFILE [bench.sh options...]]     (default: mixed)
#
# bench.sh populates a source registry, then runs one "tool" command: our copy into the target,
# then inventory of the source and a deep verify of the pair, each under /usr/bin/time. Writes
# bench/results/inventory-verify-PROFILE/{inventory.txt,inventory.json,verify.txt,*.time} and
# prints populate's totals next to inventory's.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-mixed}"; shift || true
source bench/lib.sh
release_binary
out="$PWD/bench/results/inventory-verify-$profile"; rm -rf "$out"; mkdir -p "$out"
timed() { local name="$1"; shift; echo "/usr/bin/time -f '$name wall_s=%e peak_rss_kb=%M cpu_s=%U+%S' -o '$out/$name.time' $*"; }
tool="$bin copy -q {SRC_URL} {DST_URL} \
 && $(timed inventory "$bin" inventory {SRC_URL}) > '$out/inventory.txt' \
 && $bin inventory --json {SRC_URL} > '$out/inventory.json' \
 && $(timed verify "$bin" verify --deep {SRC_URL} {DST_URL}) > '$out/verify.txt'"
"$harness" "$profile" "$@" --runs 1 --name acr-relocate+inventory+verify --tool "$tool" \
  | grep -E '^(populate|RESULT)' | tee "$out/bench.txt"
cat "$out/inventory.time" "$out/verify.time"
python3 - "$out/inventory.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
print("inventory totals: " + " ".join(f"{k}={v}" for k, v in t.items()))
PY
