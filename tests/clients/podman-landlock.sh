#!/usr/bin/env bash
# Landlock for containers (issue 27) through Podman: the site policy's [landlock] section,
# given to iso-runtime as `--policy FILE` by podman's `--runtime-flag`, makes the root
# filesystem read-only except /tmp, /dev and /run for a root container started by the
# engine (where discretionary access control allows every write), and for `podman exec`.
# Usage: tests/clients/podman-landlock.sh   (as root; ISO_RUNTIME=... for another build)
. "$(dirname "$0")/lib.sh"

D=$C/podman-landlock
CG=/iso-test-clients-podman-landlock
command -v podman > /dev/null && command -v conmon > /dev/null || fail "podman is not installed (scripts/setup.sh installs it)"
export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
if [ -d "$D/root" ]; then podman system reset -f > /dev/null 2>&1 || true; fi
fresh_dir "$D"
rm_cgroups "$CG"
SNAP=$D/host.before; snapshot_host "$SNAP"

abi=$("$ISO_RUNTIME" features | jq -r '.annotations["org.iso.landlock.abi"]')
[ "${abi:-0}" -gt 0 ] || fail "this kernel has no Landlock (features: org.iso.landlock.abi = $abi)"
ok "kernel Landlock ABI = $abi"

podman_confs "$D" overlay
cat > "$D/policy.toml" <<'POLICY'
[landlock]
rootfs = "read-only"
writable = ["/tmp", "/dev", "/run"]
compatibility = "hard-requirement"
POLICY
[ -e /run/iso ] && made_iso_root= || made_iso_root=1
trap podman_cleanup EXIT
podman load -q -i "$(busybox_image)" > /dev/null
IMG=$BUSYBOX_REF
PLAIN=(podman run --network none --cgroup-parent "$CG")
POLICED=(podman --runtime-flag "policy=$D/policy.toml" run --network none --cgroup-parent "$CG")
WRITE='(echo a > /etc/x) 2>&1; echo etc=$?; (echo b > /tmp/x) 2>&1; echo tmp=$?'
state() { "$ISO_RUNTIME" state "$1"; }

# 1. Without the policy the root container may write /etc (DAC allows it).
out=$("${PLAIN[@]}" --rm "$IMG" sh -c "$WRITE")
expect_contains "podman run without the policy" "$out" "etc=0"

# 2. With the policy: /etc/x refused by Landlock (EACCES), /tmp/x written.
out=$("${POLICED[@]}" --rm "$IMG" sh -c "$WRITE")
expect_contains "write to /etc under the policy" "$out" "can't create /etc/x: Permission denied"
expect_contains "exit status of the /etc write" "$out" "etc=1"
expect_contains "write to /tmp under the policy" "$out" "tmp=0"

# 3. Detached: the policy's ruleset is in the state, and confines `podman exec` too.
id=$("${POLICED[@]}" -d "$IMG" sleep 300)
ann=$(state "$id" | jq -r '.annotations["org.iso.policy.landlock"] // empty')
expect_contains "policy's Landlock section recorded in the state" "$ann" '"rootfs":"read-only"'
changes=$(state "$id" | jq -r '.annotations["org.iso.policy.changes"] // empty')
expect_contains "policy change recorded" "$changes" '"rule":"landlock"'
out=$(podman exec "$id" sh -c "$WRITE")
expect_contains "podman exec: write to /etc" "$out" "Permission denied"
expect_contains "podman exec: write to /tmp" "$out" "tmp=0"
podman rm -f -t 0 "$id" > /dev/null
expect_fail "iso-runtime state after rm -f" state "$id"
expect_eq "containers left in podman" "$(podman ps -aq)" ""

trap - EXIT
podman_cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
