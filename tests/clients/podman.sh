#!/usr/bin/env bash
# Podman 4.3 (with conmon) drives iso-runtime, configured as the named runtime "iso" in
# containers.conf. Usage: tests/clients/podman.sh   (as root; ISO_RUNTIME=... for another build)
. "$(dirname "$0")/lib.sh"

D=$C/podman
CG=/iso-test-clients-podman
command -v podman > /dev/null && command -v conmon > /dev/null || fail "podman is not installed (scripts/setup.sh installs it)"
export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
if [ -d "$D/root" ]; then podman system reset -f > /dev/null 2>&1 || true; fi
fresh_dir "$D"
rm_cgroups "$CG" # what an interrupted run left
SNAP=$D/host.before; snapshot_host "$SNAP"

podman_confs "$D" overlay
# iso-runtime's default root (see below) keeps only a cache of compiled seccomp filters once
# podman's containers are gone; remove it too when this scenario made the root.
[ -e /run/iso ] && made_iso_root= || made_iso_root=1
trap podman_cleanup EXIT
podman load -q -i "$(busybox_image)" > /dev/null
IMG=$BUSYBOX_REF
RUN=(podman run --network none --cgroup-parent "$CG")
expect_eq "podman's OCI runtime" "$(podman info -f '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}')" "iso $ISO_RUNTIME"
# iso-runtime's own view of a container, which only a container that iso-runtime created has.
# podman as root gives the runtime no --root (and `podman --runtime-flag root=...` does not
# reach the `delete` of podman's cleanup process), so the state is in iso-runtime's default
# root, /run/iso, under the container's unique id.
state() { "$ISO_RUNTIME" state "$1"; }

# 1. podman run --rm
expect_eq "podman run --rm echo" "$("${RUN[@]}" --rm "$IMG" echo hello)" hello
expect_eq "exit code of podman run ... exit 3" "$("${RUN[@]}" --rm "$IMG" sh -c 'exit 3' || echo $?)" 3

# 2. detached: exec, pause/unpause, stop, start, kill, rm
id=$("${RUN[@]}" -d --name life "$IMG" sleep 300)
expect_eq "iso-runtime state of 'life'" "$(state "$id" | jq -r .status)" running
pid=$(podman inspect -f '{{.State.Pid}}' life)
expect_eq "cgroup of 'life' on the host" "$(cgroup_of "$pid" pids)" "$CG/libpod-$id"
expect_eq "podman exec" "$(podman exec life sh -c 'echo in-exec')" in-exec
expect_eq "exit code of podman exec ... exit 7" "$(podman exec life sh -c 'exit 7' || echo $?)" 7
podman pause life > /dev/null
expect_eq "status after pause" "$(podman inspect -f '{{.State.Status}}' life)" paused
expect_eq "freezer.state after pause" "$(cgfile freezer "$CG/libpod-$id" freezer.state)" FROZEN
podman unpause life > /dev/null
expect_eq "status after unpause" "$(podman inspect -f '{{.State.Status}}' life)" running
podman stop -t 1 life > /dev/null
expect_eq "status after stop" "$(podman inspect -f '{{.State.Status}}' life)" exited
podman start life > /dev/null
expect_eq "status after start" "$(podman inspect -f '{{.State.Status}}' life)" running
podman kill life > /dev/null
wait_until 10 sh -c "[ \"\$(podman inspect -f '{{.State.Status}}' life)\" = exited ]" || fail "kill: not exited"
ok "status after kill = exited"
podman rm life > /dev/null
expect_fail "iso-runtime state after rm" state "$id"

# 3. --pids-limit, read back from the host
id=$("${RUN[@]}" -d --pids-limit 55 "$IMG" sleep 300)
pid=$(podman inspect -f '{{.State.Pid}}' "$id")
expect_eq "--pids-limit 55: pids.max" "$(cgfile pids "$(cgroup_of "$pid" pids)" pids.max)" 55
podman rm -f -t 0 "$id" > /dev/null
expect_fail "iso-runtime state after rm -f" state "$id"

# 4. a terminal
out=$(on_a_tty "${RUN[*]} --rm -t $IMG sh -c 'test -t 0 && test -t 1 && echo on-a-tty'")
expect_eq "podman run -t" "$out" on-a-tty

# 5. iso-runtime's own error reaches podman's output (runtime_supports_json)
expect_fail "podman run of a missing program" "${RUN[@]}" --rm "$IMG" /no/such/program
expect_contains "podman's error" "$OUT" "container init: process.args: exec /no/such/program: No such file or directory"
expect_eq "containers left in podman" "$(podman ps -aq)" ""

trap - EXIT
podman_cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
