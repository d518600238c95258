#!/usr/bin/env bash
# Regenerates scripts/hot-functions.txt, the functions of iso-runtime that the container
# lifecycle runs, in the order they first run (scripts/link-ordered.sh lays out the
# installed binary with it; see there). As root:
#
#   benches/hot-functions.sh            # rewrite scripts/hot-functions.txt
#   benches/hot-functions.sh --check    # exit 1 if the list misses over 15% of what runs now
#
# Builds the dist binary (scripts/build-dist.sh) and benches/lifecycle/hotlist.rs, makes a busybox bundle, and runs each command of a container's life under
# hotlist: run; create, state, start, list, exec, kill, delete. Everything it makes lives
# in a temporary directory and the cgroup /iso-hot-<pid>, removed on exit.
# Re-run it when the start path changed much; a stale list only costs layout, not function.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
check=false
[ "${1:-}" = --check ] && check=true
[ "$(id -u)" = 0 ] || { echo "hot-functions: must run as root" >&2; exit 1; }
for cmd in jq nm /bin/busybox; do
  command -v "$cmd" >/dev/null || { echo "hot-functions: needs $cmd (scripts/setup.sh)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/iso-hot-XXXXXX)
cgroup=/iso-hot-$$
bin=
cleanup() {
  if [ -n "$bin" ]; then
    for id in $("$bin" --root "$work/state" list -q 2>/dev/null); do
      "$bin" --root "$work/state" delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$work"
  for hierarchy in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    rmdir "$hierarchy${cgroup#/}" 2>/dev/null || true
  done
}
trap cleanup EXIT

bin=$("$repo/scripts/build-dist.sh" --unstripped) # with its symbols
rustc -O --edition 2021 -o "$work/hotlist" "$repo/benches/lifecycle/hotlist.rs"
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/"
for tool in sh true sleep; do ln -s busybox "$work/bundle/rootfs/bin/$tool"; done
(cd "$work/bundle" && "$bin" spec)
config() {
  jq --argjson args "$1" --arg cg "$cgroup/$2" \
    '.process.args = $args | .process.terminal = false | .linux.cgroupsPath = $cg' \
    "$work/bundle/config.json" > "$work/config.tmp"
  mv "$work/config.tmp" "$work/bundle/config.json"
}
raw=$work/raw.txt
trace() { "$work/hotlist" "$raw" "$bin" --root "$work/state" "$@" >/dev/null; }

config '["/bin/true"]' run
trace run -b "$work/bundle" hot-run
config '["/bin/sleep", "100"]' life
trace create -b "$work/bundle" hot-life
trace state hot-life
trace start hot-life
trace list
trace exec hot-life /bin/true
trace kill hot-life KILL
while [ "$("$bin" --root "$work/state" state hot-life | jq -r .status)" != stopped ]; do sleep 0.05; done
trace delete hot-life
list=$repo/scripts/hot-functions.txt
if $check; then
  # Names that run now but are not on the list (nm's names of the new binary: the same
  # demangling as the list's).
  awk -v list="$list" 'BEGIN { while ((getline n < list) > 0) listed[n] = 1 }
    !seen[$0]++ { now++; if (!($0 in listed)) missing++ }
    END { printf "hot-functions: %d of %d functions that run now are not on the list\n", missing, now
          exit (missing > now * 0.15) ? 1 : 0 }' "$raw" ||
    { echo "hot-functions: the list is stale: run sudo benches/hot-functions.sh" >&2; exit 1; }
else
  awk '!seen[$0]++' "$raw" > "$list"
  echo "scripts/hot-functions.txt: $(wc -l < "$list") functions"
fi
