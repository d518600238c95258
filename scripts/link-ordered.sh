#!/usr/bin/env bash
# Linker driver for scripts/build-dist.sh: lays out .text so that the functions a container
# start runs sit together, in the order they first run. Every start maps the pages of code it
# touches (the kernel maps 64 KB or more around each first touch), so hot code spread over
# the whole binary costs its whole size in RSS; packed at the front it costs its own size.
#
# The list comes as the argument --iso-hot-functions=FILE (scripts/build-dist.sh passes a copy
# of scripts/hot-functions.txt, made by benches/hot-functions.sh, named by its hash so that a
# new list relinks): demangled names without their hash, which survive rebuilds. This script
# takes that argument out, maps the names to the symbols of the objects being linked (several per name for generic
# functions; C names such as libc's stand for themselves), writes lld's
# --symbol-ordering-file and runs the usual linker driver, cc. A name no longer in the build
# is skipped; the layout degrades, the binary stays correct.
set -euo pipefail
order=$(mktemp)
trap 'rm -f "$order"' EXIT
list=
args=()
objects=()
lld=false
for arg in "$@"; do
  case $arg in
    --iso-hot-functions=*) list=${arg#*=}; continue ;;
    *.o) objects+=("$arg") ;;
    -fuse-ld=lld) lld=true ;; # rustc's default on x86_64 Linux since 1.90 (rust-lld)
  esac
  args+=("$arg")
done
hash='::h[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$'
# The ordering file: "rank<TAB>symbol" for every object symbol whose demangled name, hash
# removed, is on the list, plus the listed names no object defines (C functions of the
# static libraries), sorted by rank.
write_order() {
  # Only lld reads a symbol ordering file.
  $lld && [ -f "$list" ] && ((${#objects[@]})) || return 1
  paste -d '\t' \
    <(nm --defined-only --format=just-symbols "${objects[@]}") \
    <(nm --defined-only --format=just-symbols --demangle "${objects[@]}") |
    awk -F '\t' -v hash="$hash" -v list="$list" '
      BEGIN { while ((getline name < list) > 0) if (!(name in rank)) rank[name] = ++n }
      { plain = $2; sub(hash, "", plain)
        if (plain in rank) { print rank[plain] "\t" $1; found[plain] = 1 } }
      END { for (name in rank) if (!(name in found)) print rank[name] "\t" name }' |
    sort -n -s -k1,1 | cut -f2 > "$order"
}
# Without a list (or nm), the usual link.
if write_order 2>/dev/null; then
  cc "${args[@]}" "-Wl,--symbol-ordering-file=$order" -Wl,--no-warn-symbol-ordering
else
  cc "${args[@]}"
fi
