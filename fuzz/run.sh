#!/usr/bin/env bash
# Runs every cargo-fuzz target of the iso crates for a short time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 20 s, all targets)
#
# Installs cargo-fuzz if it is missing; uses RUSTC_BOOTSTRAP=1 so that stable Rust accepts
# the sanitizer flags (set SANITIZER=none to build without AddressSanitizer). New inputs
# libFuzzer finds go to a scratch directory, not into the committed seed corpus under
# fuzz/corpus/<target>/; crashes are written to fuzz/artifacts/<target>/ and make the
# script exit non-zero.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(config seccomp idmap mountinfo cli policy landlock netlink criu_response)
fi
sanitizer="${SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
scratch="$(mktemp -d /tmp/iso-fuzz-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
# The config target writes its bundle under TMPDIR: keep it in the scratch directory.
export TMPDIR="$scratch"

cd "$here"
cargo fuzz build -O -s "$sanitizer"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/corpus/$t" "artifacts/$t"
    echo "== fuzzing $t for ${secs}s" >&2
    if ! cargo fuzz run -O -s "$sanitizer" "$t" "$scratch/corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"$scratch/$t.log"; then
        tail -40 "$scratch/$t.log" >&2
        failed+=("$t")
    else
        grep -E "^stat::number_of_executed_units|^Done" "$scratch/$t.log" >&2 || true
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "all fuzz targets ran ${secs}s without a crash: ${targets[*]}" >&2
