#!/usr/bin/env bash
# Rootless Podman 4.3 drives iso-runtime: a fresh unprivileged user (with subordinate ids,
# removed at the end) runs, execs into and removes containers with `--runtime iso-runtime`
# and `--network none`. Podman runs the runtime as root of its own user namespace (the user
# outside); iso-runtime detects it is rootless and keeps its state under $XDG_RUNTIME_DIR/iso.
# Usage: tests/clients/podman-rootless.sh   (as root; ISO_RUNTIME=... for another build)
. "$(dirname "$0")/lib.sh"

D=$C/podman-rootless
command -v podman > /dev/null && command -v conmon > /dev/null || fail "podman is not installed (scripts/setup.sh installs it)"
command -v newuidmap > /dev/null || fail "newuidmap is not installed (scripts/setup.sh installs uidmap)"
fresh_dir "$D"
SNAP=$D/host.before; snapshot_host "$SNAP"

# The user: a system user (useradd gives it no subordinate ids of its own) with 65536 of them.
U=isopod$$
SUB=$((3000000 + ($$ % 8192) * 65536))
useradd --no-create-home --shell /bin/sh --system "$U"
usermod --add-subuids "$SUB-$((SUB + 65535))" --add-subgids "$SUB-$((SUB + 65535))" "$U"
UID_=$(id -u "$U") GID_=$(id -g "$U")
XDG=/run/user/$UID_
mkdir -p "$XDG" "$D/home"; chmod 700 "$XDG"; chown "$UID_:$GID_" "$XDG" "$D" "$D/home"

export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
podman_confs "$D" vfs # plain copies: nothing for the user to mount
chmod 644 "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"

# as_user CMD...: CMD as the user, in its session environment.
as_user() {
    setpriv --reuid "$UID_" --regid "$GID_" --init-groups \
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$D/home" USER="$U" \
        LOGNAME="$U" XDG_RUNTIME_DIR="$XDG" CONTAINERS_CONF="$CONTAINERS_CONF" \
        CONTAINERS_STORAGE_CONF="$CONTAINERS_STORAGE_CONF" "$@"
}
# user_pids: the processes of the user (all started by this scenario: podman's pause
# process, conmon, containers).
user_pids() { ps -o pid= -u "$UID_" 2> /dev/null || true; }
cleanup() {
    as_user podman rm -af -t 0 > /dev/null 2>&1 || true
    as_user podman system reset -f > /dev/null 2>&1 || true
    local p
    for p in $(user_pids); do kill -KILL "$p" 2> /dev/null || true; done
    for _ in $(seq 50); do [ -z "$(user_pids)" ] && break; sleep 0.1; done
    usermod --del-subuids "$SUB-$((SUB + 65535))" --del-subgids "$SUB-$((SUB + 65535))" "$U" 2> /dev/null || true
    userdel "$U" 2> /dev/null || true
    rm -rf "$XDG"; rmdir /run/user 2> /dev/null || true # when no other user has a directory there
    # vfs layers the user's namespace made, owned by subordinate ids
    rm -rf "$D/root" "$D/run" "$D/home"
}
trap cleanup EXIT
cp "$(busybox_image)" "$D/busybox.tar"; chmod 644 "$D/busybox.tar"
as_user podman load -q -i "$D/busybox.tar" > /dev/null
IMG=$BUSYBOX_REF
RUN=(as_user podman run --network none)
expect_eq "podman's OCI runtime" "$(as_user podman info -f '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}')" "iso $ISO_RUNTIME"
expect_eq "podman is rootless" "$(as_user podman info -f '{{.Host.Security.Rootless}}')" true

# 1. run --rm: root inside
expect_eq "podman run --rm id -u" "$("${RUN[@]}" --rm "$IMG" id -u)" 0
expect_eq "exit code of podman run ... exit 3" "$("${RUN[@]}" --rm "$IMG" sh -c 'exit 3' || echo $?)" 3

# 2. detached: the container's root is the user on the host; exec; stop; rm
id=$("${RUN[@]}" -d --name life "$IMG" sleep 300)
pid=$(as_user podman inspect -f '{{.State.Pid}}' life)
expect_eq "uid of the container's init on the host" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" "$UID_"
expect_eq "iso-runtime state of 'life' under \$XDG_RUNTIME_DIR/iso" \
    "$(as_user "$ISO_RUNTIME" --root "$XDG/iso" state "$id" | jq -r .status)" running
expect_eq "podman exec" "$(as_user podman exec life sh -c 'echo in-exec; id -u')" "in-exec
0"
expect_eq "exit code of podman exec ... exit 7" "$(as_user podman exec life sh -c 'exit 7' || echo $?)" 7
as_user podman stop -t 1 life > /dev/null
expect_eq "status after stop" "$(as_user podman inspect -f '{{.State.Status}}' life)" exited
as_user podman rm life > /dev/null
expect_fail "iso-runtime state after rm" as_user "$ISO_RUNTIME" --root "$XDG/iso" state "$id"
expect_eq "containers left in podman" "$(as_user podman ps -aq)" ""

trap - EXIT
cleanup
[ -z "$(getent passwd "$U")" ] || fail "user $U left"
leak_check "$D" /iso-test-clients-podman-rootless "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
