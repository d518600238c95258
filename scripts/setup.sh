#!/usr/bin/env bash
# Installs what building and testing iso needs on a fresh Debian machine, skipping what is
# already there. Needs root (apt-get).
#   scripts/setup.sh        everything the test suite needs (scripts/test.sh)
#   scripts/setup.sh demo   only what scripts/demo.sh needs: a compiler, libseccomp, busybox
set -euo pipefail
what=${1:-test}
packages=(
  build-essential pkg-config libseccomp-dev   # libseccomp for iso-seccomp
  busybox-static                               # the programs tests, examples and the demo run
)
case $what in
  demo) ;;
  test) packages+=(
  uidmap                                       # newuidmap/newgidmap for unprivileged maps
  iputils-ping iproute2 procps                 # examples and tests
  qemu-system-x86 python3                      # the VM test tier (tests/vm)
  qemu-user                                    # runs the aarch64 exec trampoline in a test
  apparmor                                     # apparmor_parser, used in the VM tier
  docker.io containerd podman conmon           # the clients suite (tests/clients): real engines
  protobuf-compiler jq bsdutils util-linux     # ... its CRI client (protoc), JSON, script, nsenter
  criu                                         # checkpoint/restore (tests/checkpoint.rs, VM tier)
  ) ;;
  *) echo "setup: unknown target $what (test or demo)" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust (rustup)" >&2; exit 1; }
[ "$what" = demo ] && exit 0
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
