#!/usr/bin/env bash
# HTTP versions over TLS: copies between two TLS Distribution registries (../shared/bench's
# registry.sh --tls), optionally behind its latency proxy, with `--http 2`, `--http 1.1` and the
# default `--http auto`, alternating, every run checked by ../shared/bench/verify.py. Not part of
# the tests.
#
#   bench/tls.sh PROFILE DELAY_MS [RUNS] [populate.py options...]
#   bench/tls.sh large 10 2          # 1.48 GB, 20 ms round trip
#   bench/tls.sh small 10 3 --repos 8 --many-tags 20
#
# Prints one line per run: TLS profile=… delay_ms=… http=… wall_s=… rc=… verify=ok|FAILED
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:?profile}"; delay="${2:?delay in ms}"; runs="${3:-2}"; shift 3 || shift $#
source bench/lib.sh
release_binary
work="$(mktemp -d "${TMPDIR:-/tmp}/acr-tls.XXXXXX")"
export BENCH_WORK="$work"
proxies=()
cleanup() {
  "$bench/registry.sh" stop-all >/dev/null 2>&1 || true
  for p in "${proxies[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
src_port=$(freeport); dst_port=$(freeport)
"$bench/registry.sh" start src "$src_port" --tls >/dev/null
"$bench/registry.sh" start dst "$dst_port" --tls >/dev/null 2>&1
python3 "$bench/populate.py" --registry "https://127.0.0.1:$src_port" --profile "$profile" \
  --seed 1 --out "$work/expected.json" "$@" | grep '^populate: profile'
src=$src_port; dst=$dst_port
if ((delay > 0)); then
  src=$(freeport); dst=$(freeport)
  python3 "$bench/latproxy.py" --listen "$src" --to "127.0.0.1:$src_port" --delay-ms "$delay" &
  proxies+=($!)
  python3 "$bench/latproxy.py" --listen "$dst" --to "127.0.0.1:$dst_port" --delay-ms "$delay" &
  proxies+=($!)
  sleep 1
fi
for ((i = 1; i <= runs; i++)); do
  for http in 2 1.1 auto; do
    "$bench/registry.sh" stop dst >/dev/null 2>&1
    rm -rf "$work/reg/dst"
    "$bench/registry.sh" start dst "$dst_port" --tls >/dev/null 2>&1
    start=$(date +%s.%N)
    rc=0
    # The harness's certificates are self-signed CAs, which webpki refuses as server
    # certificates: TLS without verification for 127.0.0.1 only.
    "$bin" copy -q --insecure 127.0.0.1 --http "$http" \
      "https://127.0.0.1:$src" "https://127.0.0.1:$dst" > "$work/copy.log" 2>&1 || rc=$?
    wall=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
    check=ok
    python3 "$bench/verify.py" --quiet --expected "$work/expected.json" \
      "https://127.0.0.1:$src_port" "https://127.0.0.1:$dst_port" > "$work/verify.log" 2>&1 \
      || check=FAILED
    echo "TLS profile=$profile delay_ms=$delay http=$http run=$i wall_s=$wall rc=$rc verify=$check"
  done
done
