#!/usr/bin/env bash
# Docker 20.10 (Debian docker.io) drives iso-runtime: a named runtime in daemon.json, then a
# default-runtime switch with a site policy (runtimeArgs: --policy FILE) picked up by SIGHUP.
# Usage: tests/clients/docker.sh   (as root; ISO_RUNTIME=... to test another build)
. "$(dirname "$0")/lib.sh"

D=$C/docker
CG=/iso-test-clients-docker
DOCKER=/usr/bin/docker # Debian's 20.10 CLI (a newer CLI may come first in PATH)
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || fail "docker.io is not installed (scripts/setup.sh installs it)"
fresh_dir "$D"
rm_cgroups "$CG" # what an interrupted run left
SNAP=$D/host.before; snapshot_host "$SNAP"
FAIL_CONTEXT=$D/dockerd.log

# The site policy of issue #9: a pids default for configs that have none, and a ceiling that
# rejects bind mounts of the host's /etc.
cat > "$D/policy.toml" <<'EOF'
[defaults]
pids = 500

[ceilings.mounts]
forbid_sources = ["/etc"]
action = "reject"
EOF

# daemon.json: no host network changes (iptables, bridge off), oom-score-adjust 0 (no
# CAP_SYS_RESOURCE here for a negative one), an absolute cgroup parent, and iso-runtime as the
# named runtime "iso".
write_config() { # write_config EXTRA_JQ
    jq -n --arg d "$D" --arg rt "$ISO_RUNTIME" --arg cg "$CG" --arg pol "$D/policy.toml" '{
        "iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false,
        "bridge": "none", "oom-score-adjust": 0, "cgroup-parent": $cg,
        "data-root": "\($d)/data", "exec-root": "\($d)/exec", "pidfile": "\($d)/dockerd.pid",
        "hosts": ["unix://\($d)/docker.sock"],
        "runtimes": { "iso": { "path": $rt } }
    } | '"$1" > "$D/daemon.json.tmp"
    mv "$D/daemon.json.tmp" "$D/daemon.json"
}
write_config .
dockerd --config-file "$D/daemon.json" > "$D/dockerd.log" 2>&1 &
DPID=$!
cleanup() {
    local ids
    ids=$($DOCKER ps -aq 2>/dev/null) && [ -z "$ids" ] || $DOCKER rm -f $ids > /dev/null 2>&1 || true
    stop_pid "$DPID"
}
trap cleanup EXIT
export DOCKER_HOST=unix://$D/docker.sock
wait_until 60 $DOCKER version || fail "dockerd did not answer on $DOCKER_HOST"
say "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) up (pid $DPID)"
tar -C "$(dirname "$(busybox_image)")/busybox" -c . | $DOCKER import - iso-busybox > /dev/null
IMG=iso-busybox
RUN=($DOCKER run --network none)
# runtime_state ID: iso-runtime's own view of a docker container, which only a container that
# iso-runtime created has (dockerd gives the shim --root EXEC_ROOT/runtime-runc/moby for every
# runtime of the runc v2 shim, runc's own included)
runtime_state() { "$ISO_RUNTIME" --root "$D/exec/runtime-runc/moby" state "$1"; }

# 1. docker run --rm --runtime iso
expect_eq "docker run --rm --runtime iso echo" "$("${RUN[@]}" --rm --runtime iso $IMG echo hello)" hello
expect_eq "exit code of docker run ... exit 3" "$("${RUN[@]}" --rm --runtime iso $IMG sh -c 'exit 3' || echo $?)" 3

# 2. detached: exec, pause/unpause, top, stop/start, kill, rm
id=$("${RUN[@]}" -d --name life --runtime iso $IMG sleep 300)
expect_eq "runtime of 'life'" "$($DOCKER inspect -f '{{.HostConfig.Runtime}}' life)" iso
expect_eq "iso-runtime state of 'life'" "$(runtime_state "$id" | jq -r .status)" running
pid=$($DOCKER inspect -f '{{.State.Pid}}' life)
expect_eq "cgroup of 'life' on the host" "$(cgroup_of "$pid" pids)" "$CG/$id"
expect_eq "docker exec" "$($DOCKER exec life sh -c 'echo in-exec; hostname')" "in-exec
${id:0:12}"
expect_eq "exit code of docker exec ... exit 7" "$($DOCKER exec life sh -c 'exit 7' || echo $?)" 7
$DOCKER pause life > /dev/null
expect_eq "status after pause" "$($DOCKER inspect -f '{{.State.Status}}' life)" paused
expect_eq "freezer.state after pause" "$(cgfile freezer "$CG/$id" freezer.state)" FROZEN
$DOCKER unpause life > /dev/null
expect_eq "freezer.state after unpause" "$(cgfile freezer "$CG/$id" freezer.state)" THAWED
expect_contains "docker top" "$($DOCKER top life)" "sleep 300"
$DOCKER stop -t 1 life > /dev/null
expect_eq "status after stop" "$($DOCKER inspect -f '{{.State.Status}}' life)" exited
[ ! -d "/sys/fs/cgroup/pids$CG/$id" ] || fail "cgroup $CG/$id still there after stop"
$DOCKER start life > /dev/null
expect_eq "status after start" "$($DOCKER inspect -f '{{.State.Status}}' life)" running
[ "$($DOCKER inspect -f '{{.State.Pid}}' life)" != "$pid" ] || fail "start did not start a new init"
$DOCKER kill life > /dev/null
wait_until 10 sh -c "[ \"\$($DOCKER inspect -f '{{.State.Status}}' life)\" = exited ]" || fail "kill: not exited"
expect_eq "exit code after kill" "$($DOCKER inspect -f '{{.State.ExitCode}}' life)" 137
$DOCKER rm life > /dev/null
expect_fail "runtime state after rm" runtime_state "$id"

# 3. a terminal (-t) and --init (docker-init as PID 1)
out=$(on_a_tty "${RUN[*]} --rm -t --runtime iso $IMG sh -c 'test -t 0 && test -t 1 && echo on-a-tty'")
expect_eq "docker run -t" "$out" on-a-tty
expect_eq "docker run --init: PID 1" "$("${RUN[@]}" --rm --init --runtime iso $IMG cat /proc/1/comm)" docker-init

# 4. resource flags, read back from the container's cgroups on the host
id=$("${RUN[@]}" -d --runtime iso --pids-limit 77 --memory 64m --cpus 0.5 $IMG sleep 300)
pid=$($DOCKER inspect -f '{{.State.Pid}}' "$id")
expect_eq "--pids-limit 77: pids.max" "$(cgfile pids "$(cgroup_of "$pid" pids)" pids.max)" 77
expect_eq "--memory 64m: memory.limit_in_bytes" "$(cgfile memory "$(cgroup_of "$pid" memory)" memory.limit_in_bytes)" 67108864
cpu=$(cgroup_of "$pid" cpu)
expect_eq "--cpus 0.5: cpu.cfs_quota_us/cfs_period_us" "$(cgfile cpu "$cpu" cpu.cfs_quota_us)/$(cgfile cpu "$cpu" cpu.cfs_period_us)" 50000/100000
$DOCKER rm -f "$id" > /dev/null

# 5. iso-runtime's own error reaches docker's output (docker reads the runtime's --log JSON)
expect_fail "docker run of a missing program" "${RUN[@]}" --rm --runtime iso $IMG /no/such/program
# iso-runtime checks the program at create (a failed start would leave a container behind)
expect_contains "docker's error" "$OUT" "OCI runtime create failed"
expect_contains "docker's error" "$OUT" "container init: process.args: exec /no/such/program: No such file or directory"
# the runc shim falls back to the runtime's stderr ("... did not terminate successfully: ...")
# only when the --log JSON has no error: this message came from the JSON log
expect_lacks "docker's error" "$OUT" "did not terminate successfully"
expect_fail "docker run of a program not in PATH" "${RUN[@]}" --rm --runtime iso $IMG no-such-program
expect_contains "docker's error" "$OUT" 'process.args: "no-such-program" not found in PATH'

# 6. default-runtime switch by SIGHUP, to iso-runtime with a site policy (issue #9)
expect_eq "default runtime before" "$($DOCKER info -f '{{.DefaultRuntime}}')" runc
write_config '.runtimes["iso-policy"] = {path: $rt, runtimeArgs: ["--policy", $pol]} | .["default-runtime"] = "iso-policy"'
kill -HUP "$DPID"
wait_until 20 sh -c "[ \"\$($DOCKER info -f '{{.DefaultRuntime}}')\" = iso-policy ]" || fail "SIGHUP did not switch the default runtime"
ok "SIGHUP switched the default runtime to iso-policy"
id=$("${RUN[@]}" -d $IMG sleep 300)
expect_eq "runtime of a plain docker run" "$($DOCKER inspect -f '{{.HostConfig.Runtime}}' "$id")" iso-policy
pid=$($DOCKER inspect -f '{{.State.Pid}}' "$id")
expect_eq "pids.max of a plain docker run (policy default)" "$(cgfile pids "$(cgroup_of "$pid" pids)" pids.max)" 500
ann=$(runtime_state "$id" | jq -r '.annotations["org.iso.policy.file"] // empty')
expect_eq "policy file recorded in the state" "$ann" "$D/policy.toml"
$DOCKER rm -f "$id" > /dev/null
id=$("${RUN[@]}" -d --pids-limit 100 $IMG sleep 300)
pid=$($DOCKER inspect -f '{{.State.Pid}}' "$id")
expect_eq "pids.max with --pids-limit 100 (kept)" "$(cgfile pids "$(cgroup_of "$pid" pids)" pids.max)" 100
$DOCKER rm -f "$id" > /dev/null
expect_fail "docker run -v /etc:/host-etc under the policy" "${RUN[@]}" --rm -v /etc:/host-etc:ro $IMG true
expect_contains "docker's error" "$OUT" "policy rule ceilings.mounts rejects mounts["
expect_contains "docker's error" "$OUT" "(forbidden host path /etc)"
expect_lacks "docker's error" "$OUT" "did not terminate successfully"
expect_eq "containers left in docker" "$($DOCKER ps -aq)" ""

trap - EXIT
cleanup
leak_check "$D" "$CG" "$SNAP"
echo "RESULT: PASS ($CHECKS checks)"
