#!/usr/bin/env bash
# Podman's `container checkpoint` and `container restore` through iso-runtime and CRIU.
# CRIU 3.17 does not start on the development host's kernel, so this scenario runs in the VM
# tier's guest (crates/iso-runtime/tests/checkpoint.rs, vm_podman_checkpoint_restore), not
# in run.sh's default list. Usage: tests/clients/podman-checkpoint.sh   (as root)
. "$(dirname "$0")/lib.sh"

D=$C/podman-checkpoint
CG=/iso-test-clients-podman-checkpoint
command -v podman > /dev/null && command -v conmon > /dev/null || fail "podman is not installed (scripts/setup.sh installs it)"
command -v criu > /dev/null || fail "criu is not installed (scripts/setup.sh installs it)"
export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
if [ -d "$D/root" ]; then podman system reset -f > /dev/null 2>&1 || true; fi
fresh_dir "$D"
rm_cgroups "$CG"
SNAP=$D/host.before; snapshot_host "$SNAP"
podman_confs "$D" overlay
cleanup() {
    podman rm -af -t 0 > /dev/null 2>&1 || true
    podman system reset -f > /dev/null 2>&1 || true
    rm_cgroups "$CG/conmon"
}
trap cleanup EXIT
podman load -q -i "$(busybox_image)" > /dev/null
counter() { podman exec ck cat /tmp/cnt; }

# A counter that notes each start of its script in /tmp/starts.
podman run -d --network none --cgroup-parent "$CG" --name ck "$BUSYBOX_REF" \
    sh -c 'echo started >> /tmp/starts; i=0; while :; do i=$((i+1)); echo $i > /tmp/cnt; sleep 0.2; done' > /dev/null
wait_until 30 sh -c "[ \"\$(podman exec ck cat /tmp/cnt)\" -gt 2 ]" || fail "the counter did not start"
before=$(counter)
podman container checkpoint ck > /dev/null
expect_eq "status after checkpoint" "$(podman inspect -f '{{.State.Status}}' ck)" exited
podman container restore ck > /dev/null
expect_eq "status after restore" "$(podman inspect -f '{{.State.Status}}' ck)" running
pid=$(podman inspect -f '{{.State.Pid}}' ck)
id=$(podman inspect -f '{{.Id}}' ck)
expect_eq "iso-runtime's pid of the restored container" "$("$ISO_RUNTIME" state "$id" | jq -r .pid)" "$pid"
after=$(counter)
[ "$after" -ge "$before" ] || fail "the counter went back: $before before the checkpoint, $after after the restore"
ok "the counter went on: $before, then $after"
expect_eq "starts of the script" "$(podman exec ck cat /tmp/starts)" started
podman rm -f -t 0 ck > /dev/null
expect_eq "containers left in podman" "$(podman ps -aq)" ""

trap - EXIT
cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
