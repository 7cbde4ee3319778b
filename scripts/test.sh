#!/usr/bin/env bash
# The test command of the README: installs what the tests need when it is missing (the CNCF
# Distribution registry and skopeo, from Debian's packages), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v script >/dev/null || need+=(bsdutils)   # a terminal that closes (tests/it/stops.rs)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo test --workspace "$@"
