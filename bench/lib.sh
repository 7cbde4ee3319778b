# Sourced by the bench scripts, from the repository root: where ../shared/bench is (checked), a
# free port, and the release binary built on demand.
bench="$(cd .. && pwd)/shared/bench"
harness="$bench/bench.sh"
[[ -x "$harness" ]] || { echo "bench: $bench not found (../shared/bench)" >&2; exit 2; }
mkdir -p bench/results

# A free TCP port on 127.0.0.1.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Builds the release binary and sets $bin to it.
release_binary() {
  cargo build --release --quiet
  bin="$PWD/target/release/acr-relocate"
}
