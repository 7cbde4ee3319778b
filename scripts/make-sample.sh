#!/usr/bin/env bash
# Regenerates examples/sample-layout, the OCI layout the README's first command copies.
# Deterministic: the same seed gives the same digests, so a re-run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf examples/sample-layout
cargo run --quiet --release -- sample oci:examples/sample-layout --repos 12 --seed 1
