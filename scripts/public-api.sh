#!/usr/bin/env bash
# The public API of every published crate, compared with the snapshots in api/ (CI runs
# this): a change to a public item (renamed, removed, a new field, another signature) shows
# as a diff and fails until the snapshot is updated with `scripts/public-api.sh --bless`, so
# that every API change is a visible, reviewed part of the commit that makes it.
#
# The API is read from rustdoc's JSON output (scripts/public-api.py prints it one item a
# line). That output is unstable in rustdoc, so RUSTC_BOOTSTRAP=1 enables it on the stable
# toolchain; a new toolchain may print some types differently: bless once after an upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
bless=false
[ "${1:-}" = --bless ] && bless=true
crates=(iso-sys iso-ns iso-chroot iso-caps iso-cgroups iso-seccomp iso-mac iso-runtime iso-linux)
target=target/public-api # its own target dir: RUSTC_BOOTSTRAP changes the dependencies' hashes
mkdir -p api
status=0
for p in "${crates[@]}"; do
    RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="-Z unstable-options --output-format json" \
        CARGO_TARGET_DIR=$target cargo doc --quiet -p "$p" --all-features --no-deps
    lib=$(cargo metadata --format-version 1 --no-deps |
        python3 -c "import json,sys; print(next(t['name'] for q in json.load(sys.stdin)['packages'] if q['name']=='$p' for t in q['targets'] if 'lib' in t['kind']))")
    current=$(python3 scripts/public-api.py "$target/doc/$lib.json")
    if $bless; then
        printf '%s\n' "$current" > "api/$p.txt"
    elif ! diff -u "api/$p.txt" <(printf '%s\n' "$current") > "$target/$p.diff"; then
        echo "public API of $p changed (if intended: scripts/public-api.sh --bless):" >&2
        cat "$target/$p.diff" >&2
        status=1
    fi
done
exit $status
