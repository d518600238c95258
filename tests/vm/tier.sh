#!/usr/bin/env bash
# The VM test tier: runs every test named vm_* inside the guest of run.sh (pure cgroup v2,
# AppArmor active), and the whole runtime conformance suites (iso-runtime's
# tests/conformance.rs and tests/rootfs_conformance.rs, the devices, mounts and namespaces
# compared with runc, are cgroup-version aware: they must hold on the host most users have
# too), reusing the test binaries already built on the host, so the guest only runs tests.
# They run one at a time: AppArmor policy and the root cgroup are global to the guest
# kernel, and tests that load profiles or enable controllers must not overlap.
# Usage: tests/vm/tier.sh [extra nextest args]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
target=${CARGO_TARGET_DIR:-$top/target}
meta=$target/vm-tier
mkdir -p "$meta"
cargo nextest list --workspace --all-features --list-type binaries-only \
  --message-format json > "$meta/binaries.json"
cargo metadata --format-version 1 --all-features > "$meta/cargo.json"
nextest=$(command -v cargo-nextest)
# Under software emulation the conformance suite alone takes many minutes on a busy machine.
ISO_VM_TIMEOUT=${ISO_VM_TIMEOUT:-3600} \
  ISO_VM_PASS_ENV="ISO_REQUIRE_ROOT RUST_BACKTRACE" ISO_REQUIRE_ROOT=1 \
  "$top/tests/vm/run.sh" "$top" \
  "$nextest" nextest run --binaries-metadata "$meta/binaries.json" \
  --cargo-metadata "$meta/cargo.json" --workspace-remap "$top" \
  --no-tests=warn --no-fail-fast --test-threads 1 \
  -E 'test(/(^|::)vm_/) | binary_id(iso-runtime::conformance) | binary_id(iso-runtime::rootfs_conformance)' "$@"
