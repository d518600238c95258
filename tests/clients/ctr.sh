#!/usr/bin/env bash
# containerd 1.6 + ctr drive iso-runtime through the runc v2 shim (options BinaryName).
# Usage: tests/clients/ctr.sh   (as root; ISO_RUNTIME=... to test another build)
. "$(dirname "$0")/lib.sh"

D=$C/ctr
CG=/iso-test-clients-ctr
command -v containerd > /dev/null && command -v ctr > /dev/null || fail "containerd is not installed (scripts/setup.sh installs it)"
fresh_dir "$D"
rm_cgroups "$CG" # what an interrupted run left
SNAP=$D/host.before; snapshot_host "$SNAP"
FAIL_CONTEXT=$D/containerd.log

# oom_score 0: no CAP_SYS_RESOURCE here for a negative one. The CRI plugin is off (cri.sh
# tests it); no snapshotters this machine cannot use.
cat > "$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.opt"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
EOF
containerd --config "$D/config.toml" > "$D/containerd.log" 2>&1 &
CPID=$!
CTR=(ctr -a "$D/containerd.sock")
cleanup() {
    local t
    for t in $("${CTR[@]}" task ls -q 2>/dev/null); do "${CTR[@]}" task kill -s SIGKILL "$t" > /dev/null 2>&1 || true; "${CTR[@]}" task delete -f "$t" > /dev/null 2>&1 || true; done
    for t in $("${CTR[@]}" container ls -q 2>/dev/null); do "${CTR[@]}" container delete "$t" > /dev/null 2>&1 || true; done
    stop_pid "$CPID"
}
trap cleanup EXIT
wait_until 30 "${CTR[@]}" version || fail "containerd did not answer on $D/containerd.sock"
say "containerd $(containerd --version | awk '{print $3}') up (pid $CPID)"
"${CTR[@]}" images import "$(busybox_image)" > /dev/null
IMG=$BUSYBOX_REF
# The runc v2 shim runs BinaryName (--runc-binary) with --root (--runc-root)/<namespace>;
# --fifo-dir keeps ctr's stdio FIFOs in our directory.
RT=(--runc-binary "$ISO_RUNTIME" --runc-root "$D/runtime-root" --fifo-dir "$D/fifo")
state() { "$ISO_RUNTIME" --root "$D/runtime-root/default" state "$1"; }
status() { "${CTR[@]}" task ls | awk -v t="$1" '$1 == t { print $3 }'; }

# 1. ctr run --rm
expect_eq "ctr run --rm echo" "$("${CTR[@]}" run --rm "${RT[@]}" --cgroup "$CG/t1" "$IMG" t1 echo hello)" hello

# 2. detached task: exec, ps, pause/resume, kill, delete
"${CTR[@]}" run -d "${RT[@]}" --cgroup "$CG/t2" "$IMG" t2 sleep 300 > /dev/null
expect_eq "task status" "$(status t2)" RUNNING
expect_eq "iso-runtime state of t2" "$(state t2 | jq -r .status)" running
pid=$(state t2 | jq -r .pid)
expect_eq "cgroup of t2 on the host" "$(cgroup_of "$pid" pids)" "$CG/t2"
expect_eq "ctr task exec" "$("${CTR[@]}" task exec --fifo-dir "$D/fifo" --exec-id e1 t2 sh -c 'echo in-exec')" in-exec
expect_eq "exit code of ctr task exec ... exit 7" "$("${CTR[@]}" task exec --fifo-dir "$D/fifo" --exec-id e2 t2 sh -c 'exit 7' || echo $?)" 7
expect_contains "ctr task ps" "$("${CTR[@]}" task ps t2)" "$pid"
"${CTR[@]}" task pause t2
expect_eq "task status after pause" "$(status t2)" PAUSED
expect_eq "freezer.state after pause" "$(cgfile freezer "$CG/t2" freezer.state)" FROZEN
"${CTR[@]}" task resume t2
expect_eq "task status after resume" "$(status t2)" RUNNING
"${CTR[@]}" task kill -s SIGKILL t2
wait_until 10 sh -c "[ \"\$(ctr -a $D/containerd.sock task ls | awk '\$1 == \"t2\" { print \$3 }')\" = STOPPED ]" || fail "t2 did not stop after SIGKILL"
ok "task status after kill = STOPPED"
expect_contains "ctr task delete" "$("${CTR[@]}" task delete t2 2>&1)" "exit code 137"
"${CTR[@]}" container delete t2
expect_fail "iso-runtime state after delete" state t2
[ ! -d "/sys/fs/cgroup/pids$CG/t2" ] || fail "cgroup $CG/t2 still there after delete"
ok "cgroup of t2 removed"

# 3. a terminal
out=$(on_a_tty "ctr -a $D/containerd.sock run --rm -t ${RT[*]} --cgroup $CG/t3 $IMG t3 sh -c 'test -t 0 && test -t 1 && echo on-a-tty'")
expect_eq "ctr run -t" "$out" on-a-tty

# 4. iso-runtime's own error reaches ctr (containerd reads the runtime's --log JSON)
expect_fail "ctr run of a missing program" "${CTR[@]}" run --rm "${RT[@]}" --cgroup "$CG/t4" "$IMG" t4 /no/such/program
# iso-runtime checks the program at create (a failed start would leave a container behind)
expect_contains "ctr's error" "$OUT" "OCI runtime create failed"
expect_contains "ctr's error" "$OUT" "container init: process.args: exec /no/such/program: No such file or directory"
# the runc shim falls back to the runtime's stderr ("... did not terminate successfully: ...")
# only when the --log JSON has no error: this message came from the JSON log
expect_lacks "ctr's error" "$OUT" "did not terminate successfully"
"${CTR[@]}" container delete t4 > /dev/null 2>&1 || true
expect_eq "containers left in containerd" "$("${CTR[@]}" container ls -q)" ""

trap - EXIT
cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
