#!/usr/bin/env bash
# The main job: builds iso-runtime and runs a demo container from a temporary busybox root
# filesystem (no download): it prints what the container sees (pid 1, hostname, uid,
# capabilities, seccomp mode, its cgroup limits) and then removes everything. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo # a compiler, libseccomp and busybox; nothing the tests need
cargo build --release --quiet -p iso-runtime --bin iso-runtime
exec target/release/iso-runtime demo "$@"
