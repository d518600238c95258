# Shared helpers of the clients suite (tests/clients). Sourced by each scenario script.
#
# Every scenario works under "$ISO_CLIENTS_DIR/<scenario>" (default /tmp/iso-test-clients),
# puts its containers' cgroups under "/iso-test-clients-<scenario>" (an absolute parent: a
# relative cgroupsPath would land under the caller's own cgroup), starts its daemon itself and
# stops it by pid, and ends with `leak_check`, which fails when a daemon, shim, container
# process, mount, network namespace or cgroup of the scenario is left.
set -euo pipefail
# A scenario stopped by a signal still runs its EXIT trap (stops its daemon, removes containers).
trap 'exit 130' INT
trap 'exit 143' TERM

SUITE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SUITE/../.." && pwd)
C=${ISO_CLIENTS_DIR:-/tmp/iso-test-clients}
mkdir -p "$C"

# The runtime under test: $ISO_RUNTIME, else the workspace's release build, else its debug build.
if [ -z "${ISO_RUNTIME:-}" ]; then
    for b in "$ROOT/target/release/iso-runtime" "$ROOT/target/debug/iso-runtime"; do
        if [ -x "$b" ]; then ISO_RUNTIME=$b; break; fi
    done
fi
[ -x "${ISO_RUNTIME:-}" ] || { echo "no iso-runtime binary: build it (cargo build --release -p iso-runtime) or set ISO_RUNTIME" >&2; exit 1; }
ISO_RUNTIME=$(readlink -f "$ISO_RUNTIME")
export ISO_RUNTIME

BUSYBOX_REF=docker.io/library/iso-busybox:offline
PAUSE_REF=docker.io/library/iso-pause:offline

# --- reporting -----------------------------------------------------------------------------
SCENARIO=${SCENARIO:-$(basename "$0" .sh)}
CHECKS=0
say() { echo "[$SCENARIO] $*"; }
fail() {
    echo "[$SCENARIO] FAIL: $*" >&2
    if [ -n "${FAIL_CONTEXT:-}" ] && [ -f "$FAIL_CONTEXT" ]; then
        echo "[$SCENARIO] last lines of $FAIL_CONTEXT:" >&2
        tail -n 25 "$FAIL_CONTEXT" >&2
    fi
    exit 1
}
ok() { CHECKS=$((CHECKS + 1)); say "ok: $*"; }
# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; ok "$1 = $3"; }
# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
    case "$2" in *"$3"*) ok "$1 contains '$3'" ;; *) fail "$1 does not contain '$3'; it is: $2" ;; esac
}
# expect_lacks WHAT HAYSTACK NEEDLE
expect_lacks() {
    case "$2" in *"$3"*) fail "$1 contains '$3'; it is: $2" ;; *) ok "$1 does not contain '$3'" ;; esac
}
# expect_fail WHAT CMD... : the command must exit non-zero; its output goes to $OUT
expect_fail() {
    local what=$1; shift
    if OUT=$("$@" 2>&1); then fail "$what: succeeded, expected a failure; output: $OUT"; fi
    ok "$what fails"
}
# wait_until SECONDS CMD... : retry CMD every 0.1 s
wait_until() {
    local n=$(($1 * 10)); shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1)); [ $n -gt 0 ] || return 1
        sleep 0.1
    done
}

# on_a_tty COMMAND_LINE: run it with a terminal as stdin/stdout (script(1)); print its output
# without the terminal's carriage returns and the ^@ that the terminal echoes at stdin's end
on_a_tty() { script -qec "$1" /dev/null < /dev/null | tr -d '\r' | sed 's/\^@//g'; }

# --- the images ----------------------------------------------------------------------------
# build_rootfs DIR: a minimal busybox-static root filesystem, offline.
build_rootfs() {
    local d=$1 a
    rm -rf "$d"; mkdir -p "$d"/{bin,sbin,proc,sys,dev,etc,tmp,root,run}
    cp /bin/busybox "$d/bin/busybox"
    for a in sh ls cat echo sleep true false id hostname ps grep env test head wc sed touch mkdir rm tr; do
        ln -sf busybox "$d/bin/$a"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' > "$d/etc/passwd"
    echo 'root:x:0:' > "$d/etc/group"
    : > "$d/etc/hosts"; : > "$d/etc/resolv.conf"; echo container > "$d/etc/hostname"
}

# sha256 FILE
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# make_oci_image ROOTFS OUT.tar REF CMD...: an OCI image layout archive with one layer, built
# offline, that `ctr images import` and `podman load` read (REF names it for both).
make_oci_image() {
    local rootfs=$1 out=$2 ref=$3; shift 3
    local w="$out.d" layer cfg man cmd
    rm -rf "$w"; mkdir -p "$w/blobs/sha256"
    cmd=$(jq -cn '$ARGS.positional' --args "$@")
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$rootfs" -cf "$w/layer.tar" .
    local diffid; diffid=$(sha256 "$w/layer.tar")
    gzip -n -c "$w/layer.tar" > "$w/layer.tgz"; rm "$w/layer.tar"
    layer=$(sha256 "$w/layer.tgz"); local lsize; lsize=$(stat -c %s "$w/layer.tgz")
    mv "$w/layer.tgz" "$w/blobs/sha256/$layer"
    jq -cn --arg d "sha256:$diffid" --argjson cmd "$cmd" '{architecture:"amd64",os:"linux",
        config:{Env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],Cmd:$cmd,WorkingDir:"/"},
        rootfs:{type:"layers",diff_ids:[$d]}}' > "$w/cfg"
    cfg=$(sha256 "$w/cfg"); local csize; csize=$(stat -c %s "$w/cfg"); mv "$w/cfg" "$w/blobs/sha256/$cfg"
    jq -cn --arg c "sha256:$cfg" --argjson cs "$csize" --arg l "sha256:$layer" --argjson ls "$lsize" '{schemaVersion:2,
        mediaType:"application/vnd.oci.image.manifest.v1+json",
        config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},
        layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$l,size:$ls}]}' > "$w/man"
    man=$(sha256 "$w/man"); local msize; msize=$(stat -c %s "$w/man"); mv "$w/man" "$w/blobs/sha256/$man"
    echo '{"imageLayoutVersion":"1.0.0"}' > "$w/oci-layout"
    jq -cn --arg m "sha256:$man" --argjson ms "$msize" --arg ref "$ref" '{schemaVersion:2,
        mediaType:"application/vnd.oci.image.index.v1+json",
        manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$m,size:$ms,
          platform:{architecture:"amd64",os:"linux"},
          annotations:{"io.containerd.image.name":$ref,"org.opencontainers.image.ref.name":($ref|sub(".*:";""))}}]}' > "$w/index.json"
    tar -C "$w" -cf "$out" oci-layout index.json blobs
    rm -rf "$w"
}

# busybox_image: $C/images/busybox.tar (+ the rootfs in $C/images/busybox), built once.
busybox_image() {
    local d=$C/images
    if [ ! -f "$d/busybox.tar" ]; then
        mkdir -p "$d"
        build_rootfs "$d/busybox"
        make_oci_image "$d/busybox" "$d/busybox.tar.tmp" "$BUSYBOX_REF" /bin/sh
        mv "$d/busybox.tar.tmp" "$d/busybox.tar"
    fi
    echo "$d/busybox.tar"
}

# podman_confs DIR DRIVER: $CONTAINERS_CONF and $CONTAINERS_STORAGE_CONF of a scenario that
# keeps everything of podman's under DIR, with iso-runtime as the runtime "iso" and the
# storage driver DRIVER. runtime_supports_json: podman passes --log-format=json --log FILE
# (and so shows the runtime's own error) only to runtimes listed there. default_ulimits:
# podman's default nofile/nproc exceed this machine's hard limits (no CAP_SYS_RESOURCE to
# raise them).
podman_confs() {
    local d=$1 hn; hn=$(ulimit -Hn)
    cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$hn:$hn", "nproc=32768:32768"]

[engine]
runtime = "iso"
runtime_supports_json = ["crun", "runc", "iso"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
tmp_dir = "$d/tmp"
static_dir = "$d/root/libpod"
volume_path = "$d/root/volumes"

[engine.runtimes]
iso = ["$ISO_RUNTIME"]

[network]
network_config_dir = "$d/netconf"
EOF
    cat > "$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "$2"
graphroot = "$d/root"
runroot = "$d/run"
EOF
}

# podman_cleanup: the end of a root podman scenario (its EXIT trap): its containers and
# storage removed, podman's cgroup for conmon under $CG (which podman leaves), and
# iso-runtime's default root /run/iso when the scenario made it ($made_iso_root non-empty):
# once podman's containers are gone it keeps only a cache of compiled seccomp filters.
podman_cleanup() {
    podman rm -af -t 0 > /dev/null 2>&1 || true
    podman system reset -f > /dev/null 2>&1 || true
    rm_cgroups "$CG/conmon"
    if [ -n "${made_iso_root:-}" ]; then
        rm -rf /run/iso/@seccomp
        rmdir /run/iso 2> /dev/null || true
    fi
}

# --- daemons -------------------------------------------------------------------------------
# stop_pid PID: SIGTERM, wait up to 20 s, then SIGKILL; by pid only.
stop_pid() {
    local p=$1 i=0
    kill -TERM "$p" 2>/dev/null || return 0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# fresh_dir DIR: unmount what a previous, interrupted run left below DIR, then recreate it.
fresh_dir() {
    local d=$1 m
    for m in $(awk -v d="$d/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$d"; mkdir -p "$d"
}

# --- cgroups -------------------------------------------------------------------------------
V1_CONTROLLERS="pids memory cpu,cpuacct cpuset devices freezer blkio"
# cgroup_of PID CONTROLLER: the pid's cgroup path in that v1 hierarchy (e.g. /iso-test-clients-x/ID)
cgroup_of() { awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup"; }
# cgfile CONTROLLER PATH FILE: the content of a cgroup file on the host
cgfile() { cat "/sys/fs/cgroup/$1$2/$3"; }

# rm_cgroups PATH: remove PATH and the cgroups below it from every hierarchy, deepest first;
# only empty cgroups go (rmdir fails on one with processes, which the leak check then reports)
rm_cgroups() {
    local h
    for h in /sys/fs/cgroup/*; do
        [ -d "$h$1" ] && find "$h$1" -depth -type d -exec rmdir {} + 2> /dev/null
    done
    return 0
}

# --- leak check ----------------------------------------------------------------------------
# snapshot_host FILE: what the host has in the places a client may leave things outside our
# directory (network namespaces, containerd shim sockets), to compare at the end.
snapshot_host() {
    { ls /run/netns 2> /dev/null | sed 's|^|netns |' || true; ls /run/containerd/s 2> /dev/null | sed 's|^|shim-socket |' || true; } | sort > "$1"
}

# leak_check DIR CGROUP_PARENT SNAPSHOT: fail if anything of the scenario is left:
# a process whose command line, cwd or root is under DIR (daemons, shims, conmon, containers),
# a mount under DIR, a container cgroup below CGROUP_PARENT in any hierarchy, or a network
# namespace or shim socket that was not there before. Removes the (then empty) parent cgroups.
leak_check() {
    local dir=$1 parent=$2 snap=$3 left="" p h
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = $$ ] && continue
        if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF "$dir/" ||
            readlink "$p/cwd" 2>/dev/null | grep -q "^$dir/" ||
            readlink "$p/root" 2>/dev/null | grep -q "^$dir/"; then
            left+="process ${p#/proc/}: $(tr '\0' ' ' 2>/dev/null < "$p/cmdline")"$'\n'
        fi
    done
    left+=$(awk -v d="$dir/" 'index($5, d) == 1 { print "mount " $5 }' /proc/self/mountinfo)
    for h in /sys/fs/cgroup/*; do
        [ -d "$h$parent" ] || continue
        local sub; sub=$(find "$h$parent" -mindepth 1 -type d 2>/dev/null)
        [ -z "$sub" ] || left+=$'\n'"cgroup $sub"
        [ -n "$sub" ] || rmdir "$h$parent" 2>/dev/null || left+=$'\n'"cgroup $h$parent (not removable)"
    done
    local now; now=$(mktemp); snapshot_host "$now"
    left+=$'\n'$(comm -13 "$snap" "$now"); rm -f "$now"
    left=$(echo "$left" | sed '/^$/d')
    [ -z "$left" ] || fail "left behind:"$'\n'"$left"
    ok "no daemon, container, mount, cgroup, netns or shim socket left"
}
