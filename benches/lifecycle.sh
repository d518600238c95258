#!/bin/bash
# Container lifecycle benchmark: iso-runtime against runc and crun (issues 11 and 24).
#
#   sudo benches/lifecycle.sh [--quick] [--runs N] [--warmup N] [--block N] [--containers N] [--parallel N] [--no-build] [--profile]
#
# Needs root. Installs hyperfine, runc, crun, busybox-static, jq and time with apt-get when
# missing, builds iso-runtime as installed (scripts/build-dist.sh), builds one busybox bundle and measures the
# three runtimes (and a kernel lower bound) scenario by scenario with hyperfine, all of them
# run directly (no wrapper) inside ONE private mount namespace this script enters once, so
# every runtime runs under identical conditions. Prints a table and writes
# target/bench/lifecycle-<UTC time>.{json,md} (plus lifecycle-latest.*).
# Everything it creates lives under /tmp/iso-bench-* (state roots included: nothing in /run)
# and under the cgroup parent /iso-bench/; all of it is removed on exit, even on failure.
# See benches/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ARGV=("$@")
RUNS=50 WARMUP=3 NCONT=1000 NPAR=8 BUILD=1 MODE=full BLOCK=1 PROFILE=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) MODE=quick RUNS=10 WARMUP=1 NCONT=20 ;;
    --runs) RUNS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --containers) NCONT=$2; shift ;;
    --parallel) NPAR=$2; shift ;;
    --block) BLOCK=$2; shift ;;
    --no-build) BUILD=0 ;;
    --profile) PROFILE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'lifecycle.sh: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (containers with cgroups and namespaces)"

# ---- one mount namespace for every runtime ---------------------------------------------
# crun 1.8 refuses a hybrid cgroup host whose cgroup2 controllers file is not empty (here the
# cgroup2 mount owns hugetlb). Rather than wrapping crun alone (a cost only crun would pay on
# every call), the whole benchmark runs in one private mount namespace, entered once here,
# where an empty file is bind-mounted over that file: every runtime, the floor included,
# then runs directly under the same conditions. Propagation is private: the host's mount
# table never sees it, and it is gone when the script exits.
CONTROLLERS=/sys/fs/cgroup/unified/cgroup.controllers
if [ -z "${ISO_BENCH_IN_NS:-}" ]; then
  ISO_BENCH_IN_NS=1 exec unshare --mount --propagation private "$0" "${ARGV[@]}"
fi
NS_NOTE="all runtimes run directly inside one private mount namespace"
if [ -n "$(cat "$CONTROLLERS" 2>/dev/null)" ]; then # (kernfs files all have size 0)
  EMPTY=$(mktemp /tmp/iso-bench-empty-XXXXXX)
  mount --bind "$EMPTY" "$CONTROLLERS"
  rm -f "$EMPTY" # the bind mount keeps the inode
  NS_NOTE="$NS_NOTE, with an empty cgroup2 controllers file (for crun 1.8 on this hybrid host)"
fi

# ---- dependencies ---------------------------------------------------------------------
need=()
for pair in hyperfine:hyperfine runc:runc crun:crun busybox-static:/bin/busybox jq:jq time:/usr/bin/time; do
  pkg=${pair%%:*} cmd=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ "$PROFILE" = 0 ] || command -v strace >/dev/null 2>&1 || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${need[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${need[@]}" >/dev/null; }
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RUNC=$(readlink -f "$(command -v runc)")
CRUN=$(readlink -f "$(command -v crun)")

# ---- work dir, cleanup -----------------------------------------------------------------
W=$(mktemp -d /tmp/iso-bench-XXXXXX)
TAG=$(basename "$W")                 # unique per run; names containers and cgroups
CGPARENT=/iso-bench
OUT=$REPO/target/bench
mkdir -p "$W/bin" "$W/b" "$W/res" "$W/fail" "$W/state" "$OUT"
NAMES=(iso-runtime crun runc)
declare -A RT ROOT
for n in "${NAMES[@]}"; do ROOT[$n]=$W/state/$n; mkdir -p "${ROOT[$n]}"; done

cleanup() {
  set +e
  for n in "${NAMES[@]}"; do
    [ -n "${RT[$n]:-}" ] || continue
    # Every container of this run: ids all start with $TAG.
    for d in "${ROOT[$n]}"/*/; do
      [ -d "$d" ] || continue
      id=$(basename "$d")
      case $id in "$TAG"*) "${RT[$n]}" --root "${ROOT[$n]}" delete --force "$id" >/dev/null 2>&1 ;; esac
    done
  done
  # Cgroups: only this run's leaves, then the shared parent if it became empty.
  for c in /sys/fs/cgroup/*/"${CGPARENT#/}" /sys/fs/cgroup/"${CGPARENT#/}"; do
    [ -d "$c" ] || continue
    find "$c" -depth -mindepth 1 -type d -name "$TAG*" -exec rmdir {} + 2>/dev/null
    rmdir "$c" 2>/dev/null
  done
  rm -rf "$W"
  left=$( (grep -F "$TAG" /proc/self/mountinfo; ls -d /sys/fs/cgroup/*/"${CGPARENT#/}"/"$TAG"* 2>/dev/null) | head -5)
  [ -z "$left" ] || printf 'lifecycle.sh: WARNING, left behind:\n%s\n' "$left" >&2
}
trap cleanup EXIT
trap 'echo "lifecycle.sh: unexpected failure at line $LINENO (set -e)" >&2' ERR
trap 'exit 130' INT TERM

# ---- binaries --------------------------------------------------------------------------
log "building the helper (benches/lifecycle/isobench.rs)"
rustc -O --edition 2021 -o "$W/bin/isobench" "$REPO/benches/lifecycle/isobench.rs"
IB=$W/bin/isobench

ISO_TARGET=${ISO_BENCH_TARGET_DIR:-$REPO/target-bench}
ISO_BIN=$ISO_TARGET/$(rustc -vV | sed -n 's/^host: //p')/dist/installed/iso-runtime
ISO_BUILD_ERR=
if [ "$BUILD" = 1 ]; then
  log "building iso-runtime (scripts/build-dist.sh, CARGO_TARGET_DIR=$ISO_TARGET)"
  if ! CARGO_TARGET_DIR=$ISO_TARGET "$REPO/scripts/build-dist.sh" >/dev/null 2>"$W/build.err"; then
    ISO_BUILD_ERR="cargo build failed: $(grep -m1 -E '^error' "$W/build.err" || tail -1 "$W/build.err")"
  fi
fi
[ -x "$ISO_BIN" ] || ISO_BUILD_ERR=${ISO_BUILD_ERR:-"no binary at $ISO_BIN"}
if [ -n "$ISO_BUILD_ERR" ]; then log "iso-runtime unavailable: $ISO_BUILD_ERR"; else RT[iso-runtime]=$ISO_BIN; fi
RT[runc]=$RUNC
RT[crun]=$CRUN
# Every runtime's binary starts from the same page-cache state: written back and dropped, so
# each is read back as its starts touch it (a freshly written binary sits in the cache in the
# write path's large folios, which a process maps whole: more RSS; see build-dist.sh).
for n in "${NAMES[@]}"; do
  [ -n "${RT[$n]:-}" ] || continue
  sync "${RT[$n]}"
  dd if="${RT[$n]}" iflag=nocache count=0 status=none
done

# ---- bundle ----------------------------------------------------------------------------
log "building the busybox rootfs and bundles"
R=$W/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,etc,tmp,root,run}
cp /bin/busybox "$R/bin/busybox"
for a in sh true sleep cat ls echo; do ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
(cd "$W" && "$RUNC" spec) # the default spec: pid, network, ipc, uts, mount namespaces
# bundle NAME CMD... : $W/b/NAME/config.json on the shared read-only rootfs, own cgroup.
bundle() {
  local name=$1; shift
  mkdir -p "$W/b/$name"
  jq --arg root "$R" --arg cg "$CGPARENT/$TAG-$name" '
      .process.terminal = false | .process.args = $ARGS.positional
      | .root.path = $root | .root.readonly = true | .linux.cgroupsPath = $cg' \
     --args "$@" < "$W/config.json" > "$W/b/$name/config.json"
}

# ---- helpers ---------------------------------------------------------------------------
# fail SCENARIO NAME MESSAGE
fail() { printf '%s' "$3" > "$W/fail/$1.$2"; log "$2 fails $1: $3"; }
# smoke SCENARIO NAME CMD... : one untimed run; on failure the runtime is left out of the
# scenario and the error is reported instead of a time.
smoke() {
  local s=$1 n=$2; shift 2
  if "$@" >/dev/null 2>"$W/smoke.err" </dev/null; then return 0; fi
  fail "$s" "$n" "$(grep -v '^\s*$' "$W/smoke.err" | head -2 | tr '\n' ' ' | cut -c1-200)"
  return 1
}
# hf SCENARIO ARGS... : measure the commands (-n NAME CMD pairs, optional --prepare) with
# hyperfine, interleaved: hyperfine runs each command's runs back to back, so the runs are
# split into rounds of $BLOCK runs per command and the rounds alternate between commands
# (a burst of load on the machine then hits every runtime, not just one). The rounds' times
# are merged into one hyperfine-shaped result.
hf() {
  local s=$1; shift
  if [ $# -eq 0 ]; then log "$s: no runtime left to measure"; return 0; fi
  local rounds=$(( (RUNS + BLOCK - 1) / BLOCK )) r per done=0 w
  log "measuring $s ($RUNS runs per command in $rounds interleaved rounds)"
  for r in $(seq 1 "$rounds"); do
    per=$(( RUNS - done < BLOCK ? RUNS - done : BLOCK )); done=$(( done + per ))
    w=0; [ "$r" = 1 ] && w=$WARMUP
    if ! hyperfine -N --style none --runs "$per" --warmup "$w" \
         --export-json "$W/res/$s.round$r.json" "$@" >/dev/null 2>"$W/hf.err"; then
      fail "$s" all "hyperfine failed in round $r: $(grep -m1 -i error "$W/hf.err" | cut -c1-200)"
      return 0
    fi
  done
  jq -s '{results: ([.[].results[]] | group_by(.command) | map(
      (map(.times[]) ) as $t | ($t | sort) as $o | ($t | length) as $n | ($t | add / $n) as $m |
      {command: .[0].command, times: $t, mean: $m, min: $o[0], max: $o[-1],
       median: (if $n % 2 == 1 then $o[($n - 1) / 2] else ($o[$n / 2 - 1] + $o[$n / 2]) / 2 end),
       stddev: (if $n > 1 then (($t | map((. - $m) * (. - $m)) | add) / ($n - 1) | sqrt) else null end)}))}' \
    "$W/res/$s".round*.json > "$W/res/$s.json"
  jq -r '.results[] | "   \(.command): median \(.median * 1000 | . * 100 | round / 100) ms"' "$W/res/$s.json" >&2
}
avail() { [ -n "${RT[$1]:-}" ] || { [ "$1" = iso-runtime ] && fail "$2" "$1" "$ISO_BUILD_ERR"; return 1; }; }
rtc() { local n=$1; shift; "${RT[$n]}" --root "${ROOT[$n]}" "$@"; }
start_sleeper() { # NAME ID BUNDLE
  rtc "$1" create --bundle "$3" "$2" </dev/null >/dev/null 2>"$W/smoke.err" && rtc "$1" start "$2" 2>>"$W/smoke.err"
}

bundle true /bin/true
bundle sleep /bin/sleep 3600

# ---- scenario: create; start; wait; delete ---------------------------------------------
args=()
for n in "${NAMES[@]}"; do
  avail "$n" cycle || continue
  id=$TAG-cycle
  smoke cycle "$n" "$IB" cycle "${RT[$n]}" "${ROOT[$n]}" "$id" "$W/b/true" || continue
  args+=(-n "$n" "$IB cycle ${RT[$n]} ${ROOT[$n]} $id $W/b/true")
done
smoke cycle floor "$IB" floor "$R" && args+=(-n floor "$IB floor $R")
hf cycle "${args[@]}"

# ---- scenario: run (removes the container after exit, like run --rm) -------------------
args=()
for n in "${NAMES[@]}"; do
  avail "$n" run || continue
  id=$TAG-run
  smoke run "$n" "${RT[$n]}" --root "${ROOT[$n]}" run --bundle "$W/b/true" "$id" || continue
  args+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} run --bundle $W/b/true $id")
done
smoke run floor "$IB" floor "$R" && args+=(-n floor "$IB floor $R")
hf run "${args[@]}"

# ---- scenario: create alone (the previous container is force-deleted before each run) --
args=()
for n in "${NAMES[@]}"; do
  avail "$n" create || continue
  id=$TAG-create
  if smoke create "$n" "${RT[$n]}" --root "${ROOT[$n]}" create --bundle "$W/b/sleep" "$id"; then
    rtc "$n" delete --force "$id" >/dev/null 2>&1 || true
    args+=(--prepare "$IB ok ${RT[$n]} --root ${ROOT[$n]} delete --force $id"
           -n "$n" "${RT[$n]} --root ${ROOT[$n]} create --bundle $W/b/sleep $id")
  fi
done
hf create "${args[@]}"
for n in "${NAMES[@]}"; do [ -z "${RT[$n]:-}" ] || rtc "$n" delete --force "$TAG-create" >/dev/null 2>&1 || true; done

# ---- scenarios: state and list with one running container ------------------------------
sargs=() largs=()
for n in "${NAMES[@]}"; do
  avail "$n" state || { avail "$n" list-1 || true; continue; }
  id=$TAG-one
  if ! start_sleeper "$n" "$id" "$W/b/sleep"; then
    fail state "$n" "create/start of a sleeping container: $(head -c 200 "$W/smoke.err")"
    fail list-1 "$n" "create/start of a sleeping container failed"
    continue
  fi
  smoke state "$n" rtc "$n" state "$id" && sargs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} state $id")
  smoke list-1 "$n" rtc "$n" list && largs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} list")
done
hf state "${sargs[@]}"
hf list-1 "${largs[@]}"

# ---- peak RSS (ru_maxrss of the runtime process and the children it waited for) --------
rss() { # NAME CMD... -> median KiB of 5 runs, or empty
  local n=$1 i v=(); shift
  for i in 1 2 3 4 5; do
    /usr/bin/time -f %M -o "$W/rss" "$@" </dev/null >/dev/null 2>&1 || return 0
    v+=("$(tail -1 "$W/rss")")
  done
  printf '%s\n' "${v[@]}" | sort -n | sed -n 3p
}
declare -A RSS_RUN RSS_STATE
for n in "${NAMES[@]}"; do
  [ -n "${RT[$n]:-}" ] || continue
  RSS_RUN[$n]=$(rss "$n" "${RT[$n]}" --root "${ROOT[$n]}" run --bundle "$W/b/true" "$TAG-rss")
  [ -f "$W/fail/state.$n" ] || RSS_STATE[$n]=$(rss "$n" "${RT[$n]}" --root "${ROOT[$n]}" state "$TAG-one")
done
RSS_RUN[floor]=$(rss floor "$IB" floor "$R")

for n in "${NAMES[@]}"; do [ -z "${RT[$n]:-}" ] || rtc "$n" delete --force "$TAG-one" >/dev/null 2>&1 || true; done

# ---- scenarios: NCONT containers alive, created then running ---------------------------
# First all NCONT are created (their inits wait for `start`): list and state of created
# containers, and the create of one more. Then all are started: list and state again.
log "creating $NCONT containers per runtime"
cargs=() dargs=() nargs=() margs=() qargs=()
declare -A SETUP_MS
mid=$TAG-many-$((NCONT / 2))
for n in "${NAMES[@]}"; do
  avail "$n" "list-created-$NCONT" || continue
  t0=$(date +%s%N) ok=1
  for i in $(seq 1 "$NCONT"); do
    bundle "many-$n-$i" /bin/sleep 3600
    if ! rtc "$n" create --bundle "$W/b/many-$n-$i" "$TAG-many-$i" </dev/null >/dev/null 2>"$W/smoke.err"; then
      for s in list-created state-created create-alive list state; do
        fail "$s-$NCONT" "$n" "create of container $i of $NCONT: $(head -c 200 "$W/smoke.err")"
      done
      ok=0; break
    fi
  done
  [ $ok = 1 ] || continue
  SETUP_MS[$n]=$(( ($(date +%s%N) - t0) / 1000000 ))
  smoke "list-created-$NCONT" "$n" rtc "$n" list && cargs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} list")
  smoke "state-created-$NCONT" "$n" rtc "$n" state "$mid" && dargs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} state $mid")
  id=$TAG-one-more
  if smoke "create-alive-$NCONT" "$n" rtc "$n" create --bundle "$W/b/sleep" "$id"; then
    rtc "$n" delete --force "$id" >/dev/null 2>&1 || true
    nargs+=(--prepare "$IB ok ${RT[$n]} --root ${ROOT[$n]} delete --force $id"
            -n "$n" "${RT[$n]} --root ${ROOT[$n]} create --bundle $W/b/sleep $id")
  fi
done
hf "list-created-$NCONT" "${cargs[@]}"
hf "state-created-$NCONT" "${dargs[@]}"
hf "create-alive-$NCONT" "${nargs[@]}"
log "starting the $NCONT containers"
for n in "${NAMES[@]}"; do
  [ -n "${SETUP_MS[$n]:-}" ] || continue
  rtc "$n" delete --force "$TAG-one-more" >/dev/null 2>&1 || true
  ok=1
  for i in $(seq 1 "$NCONT"); do
    rtc "$n" start "$TAG-many-$i" 2>"$W/smoke.err" || { ok=0; break; }
  done
  if [ $ok = 0 ]; then
    fail "list-$NCONT" "$n" "start of container $i: $(head -c 200 "$W/smoke.err")"
    fail "state-$NCONT" "$n" "start of container $i failed"
    continue
  fi
  smoke "list-$NCONT" "$n" rtc "$n" list && margs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} list")
  smoke "state-$NCONT" "$n" rtc "$n" state "$mid" && qargs+=(-n "$n" "${RT[$n]} --root ${ROOT[$n]} state $mid")
done
hf "list-$NCONT" "${margs[@]}"
hf "state-$NCONT" "${qargs[@]}"
# --profile: syscall summaries (strace -f -c) of iso-runtime's run and list-N, untimed
if [ "$PROFILE" = 1 ] && [ -n "${SETUP_MS[iso-runtime]:-}" ]; then
  STAMP_P=$(date -u +%Y%m%dT%H%M%SZ)
  log "profiling iso-runtime (strace -f -c) into $OUT/profile-$STAMP_P-*.txt"
  strace -f -c -o "$OUT/profile-$STAMP_P-list-$NCONT.txt" "$ISO_BIN" --root "${ROOT[iso-runtime]}" list >/dev/null 2>&1 || true
  strace -f -c -o "$OUT/profile-$STAMP_P-run.txt" "$ISO_BIN" --root "${ROOT[iso-runtime]}" run --bundle "$W/b/true" "$TAG-prof" </dev/null >/dev/null 2>&1 || true
  strace -f -c -o "$OUT/profile-$STAMP_P-state.txt" "$ISO_BIN" --root "${ROOT[iso-runtime]}" state "$mid" >/dev/null 2>&1 || true
fi
# how many the runtime itself lists (a list that silently drops containers is a bug)
declare -A LISTED
for n in "${NAMES[@]}"; do
  [ -n "${SETUP_MS[$n]:-}" ] && LISTED[$n]=$(rtc "$n" list 2>/dev/null | grep -c "$TAG-many-" || true)
done
log "deleting the $NCONT containers"
for n in "${NAMES[@]}"; do
  [ -n "${RT[$n]:-}" ] || continue
  for i in $(seq 1 "$NCONT"); do rtc "$n" delete --force "$TAG-many-$i" >/dev/null 2>&1 || true; done
done

# ---- scenario: NPAR concurrent runs in one state root (lock contention) ----------------
args=()
for n in "${NAMES[@]}"; do
  avail "$n" "run-x$NPAR" || continue
  for i in $(seq 1 "$NPAR"); do bundle "par-$n-$i" /bin/true; done # a cgroup each
  smoke "run-x$NPAR" "$n" "$IB" parallel "$NPAR" "${RT[$n]}" "${ROOT[$n]}" "$W/b/par-$n" "$TAG-par" || continue
  args+=(-n "$n" "$IB parallel $NPAR ${RT[$n]} ${ROOT[$n]} $W/b/par-$n $TAG-par")
done
hf "run-x$NPAR" "${args[@]}"

# ---- report ----------------------------------------------------------------------------
SCEN=(cycle run create state list-1 "list-created-$NCONT" "state-created-$NCONT" "create-alive-$NCONT" "list-$NCONT" "state-$NCONT" "run-x$NPAR")
size() { [ -n "${1:-}" ] && [ -e "$1" ] && stat -c %s "$(readlink -f "$1")" || echo null; }
num() { [ -n "${1:-}" ] && echo "$1" || echo null; }
{
  for s in "${SCEN[@]}"; do
    f=$W/res/$s.json
    if [ -f "$f" ]; then
      jq --arg s "$s" '{($s): (.results | map({key: .command, value: {
          median_ms: (.median*1000), min_ms: (.min*1000), max_ms: (.max*1000),
          mean_ms: (.mean*1000), stddev_ms: ((.stddev // 0)*1000), runs: (.times|length)}}) | from_entries)}' "$f"
    else
      jq -n --arg s "$s" '{($s): {}}'
    fi
    for e in "$W/fail/$s".*; do
      [ -f "$e" ] || continue
      jq -n --arg s "$s" --arg n "${e##*/$s.}" --rawfile m "$e" '{($s): {($n): {error: $m}}}'
    done
  done
} | jq -s 'reduce .[] as $x ({}; . * $x)' > "$W/scen.json"

jq -n --slurpfile sc "$W/scen.json" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg mode "$MODE" \
  --argjson runs "$RUNS" --argjson warmup "$WARMUP" --argjson ncont "$NCONT" --argjson npar "$NPAR" --arg ns "$NS_NOTE" \
  --arg kernel "$(uname -r)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  --argjson nproc "$(nproc)" --arg load "$LOAD_START -> $(cut -d' ' -f1-3 /proc/loadavg)" --arg cgroups "$(if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2; elif [ -d /sys/fs/cgroup/unified ]; then echo hybrid; else echo v1; fi)" \
  --arg iso_v "$( [ -n "${RT[iso-runtime]:-}" ] && "$ISO_BIN" --version 2>/dev/null | head -1 || echo unavailable)" \
  --arg runc_v "$("$RUNC" --version | head -1)" --arg crun_v "$("$CRUN" --version | head -1)" \
  --arg iso_git "$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --argjson s_iso "$(size "${RT[iso-runtime]:-}")" --argjson s_runc "$(size "$RUNC")" --argjson s_crun "$(size "$CRUN")" \
  --argjson r_iso "$(num "${RSS_RUN[iso-runtime]:-}")" --argjson r_runc "$(num "${RSS_RUN[runc]:-}")" \
  --argjson r_crun "$(num "${RSS_RUN[crun]:-}")" --argjson r_floor "$(num "${RSS_RUN[floor]:-}")" \
  --argjson q_iso "$(num "${RSS_STATE[iso-runtime]:-}")" --argjson q_runc "$(num "${RSS_STATE[runc]:-}")" \
  --argjson q_crun "$(num "${RSS_STATE[crun]:-}")" \
  --argjson l_iso "$(num "${LISTED[iso-runtime]:-}")" --argjson l_runc "$(num "${LISTED[runc]:-}")" \
  --argjson l_crun "$(num "${LISTED[crun]:-}")" \
  --argjson u_iso "$(num "${SETUP_MS[iso-runtime]:-}")" --argjson u_runc "$(num "${SETUP_MS[runc]:-}")" \
  --argjson u_crun "$(num "${SETUP_MS[crun]:-}")" \
  '{date: $date, mode: $mode, runs: $runs, warmup: $warmup, containers: $ncont, parallel: $npar, conditions: $ns,
    machine: {kernel: $kernel, cpu: $cpu, nproc: $nproc, cgroups: $cgroups, loadavg: $load},
    versions: {"iso-runtime": $iso_v, iso_git: $iso_git, runc: $runc_v, crun: $crun_v},
    binary_bytes: {"iso-runtime": $s_iso, runc: $s_runc, crun: $s_crun},
    peak_rss_kib: {run: {"iso-runtime": $r_iso, crun: $r_crun, runc: $r_runc, floor: $r_floor},
                   state: {"iso-runtime": $q_iso, crun: $q_crun, runc: $q_runc}},
    many: {listed: {"iso-runtime": $l_iso, crun: $l_crun, runc: $l_runc},
           start_all_ms: {"iso-runtime": $u_iso, crun: $u_crun, runc: $u_runc}},
    scenarios: $sc[0]}' > "$W/result.json"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
cp "$W/result.json" "$OUT/lifecycle-$STAMP.json"
cp "$W/result.json" "$OUT/lifecycle-latest.json"
# Markdown table (also printed).
jq -r -f "$REPO/benches/lifecycle/report.jq" "$W/result.json" > "$W/result.md"

cp "$W/result.md" "$OUT/lifecycle-$STAMP.md"
cp "$W/result.md" "$OUT/lifecycle-latest.md"
echo
cat "$W/result.md"
echo
echo "Results: $OUT/lifecycle-$STAMP.{json,md}"
