#!/usr/bin/env bash
# The main job: builds iso and runs the demo (the newpid example: a shell in new PID and mount
# namespaces that sees itself as PID 1). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release --example newpid -- "$@"
