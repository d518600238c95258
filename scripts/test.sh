#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this). Run as root: privileged
# tests skip otherwise, and fail instead of skipping when ISO_REQUIRE_ROOT=1 (CI sets it).
#   1. formatting, clippy (warnings are errors), rustdoc (warnings are errors; the workspace,
#      then each crate alone as docs.rs builds it), the public API against api/*.txt
#   2. every test on this host's kernel, examples included (cargo nextest), the clients suite
#      (tests/clients: real Docker, containerd and Podman drive iso-runtime), and the doctests
#   3. the installed binary (scripts/build-dist.sh: static, size-optimised) passes the runtime
#      conformance suite and has its hot functions laid out first, from a list that still
#      covers what runs (benches/hot-functions.sh --check)
#   4. the VM tier: tests named vm_* and the runtime conformance suite, in a guest with pure
#      cgroup v2 and AppArmor
#   5. a short run of every fuzz target (ISO_FUZZ_SECONDS, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
step() { echo; echo "== $*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet
# Each published crate alone, with its default features and with all (as docs.rs builds it):
# a link to a feature-gated item breaks only there.
for p in iso-sys iso-ns iso-chroot iso-caps iso-cgroups iso-seccomp iso-mac iso-runtime iso-linux; do
    RUSTDOCFLAGS="-D warnings" cargo doc -p "$p" --no-deps --quiet
    RUSTDOCFLAGS="-D warnings" cargo doc -p "$p" --all-features --no-deps --quiet
done
step "public API: each published crate against its snapshot in api/ (scripts/public-api.sh)"
scripts/public-api.sh
step "host tests (cargo nextest)"
cargo build --workspace --all-features --examples --quiet
cargo nextest run --workspace --all-features --no-fail-fast
step "clients suite: Docker, containerd (ctr, CRI) and Podman drive iso-runtime (tests/clients)"
cargo build --workspace --all-features --bins --quiet # the iso-runtime the tests used
ISO_RUNTIME="$PWD/target/debug/iso-runtime" tests/clients/run.sh
step "doctests (every README included)"
cargo test --workspace --all-features --doc --quiet
step "the installed binary (scripts/build-dist.sh): conformance suite, hot-code layout"
dist=$(scripts/build-dist.sh)
ISO_RUNTIME_BIN=$dist cargo nextest run -p iso-runtime --test conformance --no-fail-fast
scripts/check-dist-layout.sh "$dist"
benches/hot-functions.sh --check # the list still covers what a container's life runs
step "VM tier: vm_* tests and the conformance suite, pure cgroup v2 + AppArmor (tests/vm)"
tests/vm/tier.sh
step "fuzzing: each cargo-fuzz target briefly (fuzz/run.sh)"
fuzz/run.sh "${ISO_FUZZ_SECONDS:-10}"
