#!/usr/bin/env bash
# containerd 1.6's CRI plugin drives iso-runtime through a runtime handler "iso" (the runc v2
# shim with BinaryName), as the kubelet does for a RuntimeClass with handler "iso". The CRI
# calls come from the Rust client in cri/ (k8s-cri crate); the pod sandbox image is the static
# `pause` program built there. Usage: tests/clients/cri.sh   (as root; needs protoc)
. "$(dirname "$0")/lib.sh"

D=$C/cri
CG=/iso-test-clients-cri
command -v containerd > /dev/null && command -v ctr > /dev/null || fail "containerd is not installed (scripts/setup.sh installs it)"
command -v protoc > /dev/null || fail "protoc is not installed (Debian package protobuf-compiler; scripts/setup.sh installs it)"

# The client and the pause program, statically linked (the pause image has no libc).
say "building the CRI client and the pause program (tests/clients/cri)"
TRIPLE=$(rustc -vV | awk '/^host:/ { print $2 }')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --locked \
    --manifest-path "$SUITE/cri/Cargo.toml" --target "$TRIPLE" || fail "building tests/clients/cri"
BIN=$SUITE/cri/target/$TRIPLE/release

fresh_dir "$D"
rm_cgroups "$CG" # what an interrupted run left
SNAP=$D/host.before; snapshot_host "$SNAP"
FAIL_CONTEXT=$D/containerd.log

# The pause image: /pause alone.
mkdir -p "$D/pause/dev" "$D/pause/proc" "$D/pause/sys"
cp "$BIN/pause" "$D/pause/pause"
make_oci_image "$D/pause" "$D/pause.tar" "$PAUSE_REF" /pause

# The CNI plugin and its configuration (a veth pair inside the pod's netns only).
mkdir -p "$D/cni/bin" "$D/cni/conf"
cp "$SUITE/cni/iso-test-veth" "$D/cni/bin/"
ln -s iso-test-veth "$D/cni/bin/loopback"
echo '{"cniVersion": "0.4.0", "name": "iso-test", "type": "iso-test-veth"}' > "$D/cni/conf/10-iso-test.conf"

# restrict_oom_score_adj: the sandbox asks for -998, which needs CAP_SYS_RESOURCE (not here).
cat > "$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.opt"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$D/cni/bin"
    conf_dir = "$D/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.iso]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.iso.options]
      BinaryName = "$ISO_RUNTIME"
      Root = "$D/runtime-root"
EOF
containerd --config "$D/config.toml" > "$D/containerd.log" 2>&1 &
CPID=$!
CTR=(ctr -a "$D/containerd.sock" -n k8s.io)
cleanup() {
    local t n
    for t in $("${CTR[@]}" task ls -q 2>/dev/null); do "${CTR[@]}" task kill -s SIGKILL "$t" > /dev/null 2>&1 || true; "${CTR[@]}" task delete -f "$t" > /dev/null 2>&1 || true; done
    for t in $("${CTR[@]}" container ls -q 2>/dev/null); do "${CTR[@]}" container delete "$t" > /dev/null 2>&1 || true; done
    stop_pid "$CPID"
    # After a failure: the pod network namespaces this run made (not in the snapshot) and the
    # sandboxes' shm mounts; the leak check reports them when the CRI calls did not remove them.
    if [ "${1:-}" = failed ]; then
        for n in $(ls /run/netns 2> /dev/null); do
            grep -qx "netns $n" "$SNAP" || { umount "/run/netns/$n" && rm -f "/run/netns/$n"; } || true
        done
        fresh_dir "$D/state"
        rm_cgroups "$CG"
    fi
}
trap 'cleanup failed' EXIT
wait_until 30 "${CTR[@]}" version || fail "containerd did not answer on $D/containerd.sock"
say "containerd $(containerd --version | awk '{print $3}') up (pid $CPID), CRI handler iso -> $ISO_RUNTIME"
"${CTR[@]}" images import "$(busybox_image)" > /dev/null
"${CTR[@]}" images import "$D/pause.tar" > /dev/null

"$BIN/iso-cri-test" --socket "$D/containerd.sock" --handler iso --cgroup-parent "$CG" \
    --runtime "$ISO_RUNTIME" --runtime-root "$D/runtime-root" --image "$BUSYBOX_REF" \
    --log-dir "$D/pods" | tee "$D/client.out" || fail "the CRI client failed (see above)"
CHECKS=$((CHECKS + $(grep -c '^\[cri\] ok:' "$D/client.out")))
expect_eq "containers left in containerd (k8s.io)" "$("${CTR[@]}" container ls -q)" ""

trap - EXIT
cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
