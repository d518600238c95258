#!/usr/bin/env bash
# Builds the iso-runtime binary to install, the one benches/lifecycle.sh measures:
# - the `dist` profile (release, optimised for size): the runtime spends its time in system
#   calls, not in its own code, and every start maps the binary's pages, so a smaller binary
#   is a smaller peak RSS (the kernel maps whole page-cache folios of it) at no cost in speed;
# - statically linked, position-independent (ASLR kept): no dynamic loader or libc.so
#   mapping at each start, libseccomp inside (libseccomp.a from libseccomp-dev);
# - packed relative relocations (DT_RELR): the start-up relocation table shrinks from about
#   250 KB to a few KB;
# - the functions a container's life runs laid out together, first in .text
#   (scripts/link-ordered.sh with scripts/hot-functions.txt): what a start maps of the
#   binary is then about the size of that code, not of the whole binary;
# - installed stripped (what distributions ship): the symbols, which the layout check and
#   the hot-function tracer read, go to iso-runtime.debug beside it, named by a
#   .gnu_debuglink section so that gdb and perf still find them.
#
#   scripts/build-dist.sh [--install]     # prints the stripped binary's path; --install
#                                         # copies it to /usr/local/bin/iso-runtime
#   scripts/build-dist.sh --unstripped    # prints the path of the linked binary, symbols in
# CARGO_TARGET_DIR is honoured. Building needs an explicit --target (so that the static flags
# do not reach proc macros), hence the host triple in the output path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
static_lib=$(gcc -print-file-name=libseccomp.a)
if [ ! -f "$static_lib" ]; then
  echo "build-dist: libseccomp.a not found (install libseccomp-dev: scripts/setup.sh)" >&2
  exit 1
fi
target_dir=${CARGO_TARGET_DIR:-$repo/target}
rustflags="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"
hot=$repo/scripts/hot-functions.txt
if [ -f "$hot" ]; then
  # Named by content: RUSTFLAGS change, and cargo relinks, exactly when the list does.
  mkdir -p "$target_dir"
  hot_copy=$target_dir/hot-functions-$(sha256sum "$hot" | cut -c1-16).txt
  cp "$hot" "$hot_copy"
  rustflags="$rustflags -C linker=$repo/scripts/link-ordered.sh -C link-arg=--iso-hot-functions=$hot_copy"
fi
(
  cd "$repo"
  LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(dirname "$(readlink -f "$static_lib")") \
    RUSTFLAGS=$rustflags \
    cargo build -q --profile dist -p iso-runtime --bin iso-runtime \
    --target "$host" --target-dir "$target_dir"
)
linked=$target_dir/$host/dist/iso-runtime
if [ "${1:-}" = --unstripped ]; then
  echo "$linked"
  exit 0
fi
out=$target_dir/$host/dist/installed
mkdir -p "$out"
bin=$out/iso-runtime
objcopy --only-keep-debug "$linked" "$bin.debug.new"
objcopy --strip-all --add-gnu-debuglink="$bin.debug.new" "$linked" "$bin.new"
mv "$bin.debug.new" "$bin.debug"
mv "$bin.new" "$bin"
if [ "${1:-}" = --install ]; then
  install -m 0755 "$bin" /usr/local/bin/iso-runtime
  bin=/usr/local/bin/iso-runtime
fi
# A file just written sits in the page cache in the large folios of the write path, and a
# process maps whole folios at its first touch: every start of a freshly written binary
# mapped far more of it than it runs (peak RSS of `run` 3.7 MB here, against 2.2 MB once the
# pages come back through faults). Written back and dropped from the cache, the binary is
# read back as a start touches it, as after a reboot.
sync "$bin"
dd if="$bin" iflag=nocache count=0 status=none
echo "$bin"
