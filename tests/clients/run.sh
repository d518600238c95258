#!/usr/bin/env bash
# The clients suite: Docker, containerd (ctr and CRI) and Podman drive iso-runtime.
#
#   tests/clients/run.sh [SCENARIO...]      (as root; scenarios: docker ctr cri podman podman-rootless podman-landlock;
#                                            default all)
#
# Uses $ISO_RUNTIME, else target/release/iso-runtime, else target/debug/iso-runtime. Each
# scenario runs in its own process, prints one "ok:" line per check and "RESULT: PASS", and
# fails at the first check that does not hold, saying why. Logs: $ISO_CLIENTS_DIR/logs
# (default /tmp/iso-test-clients/logs); the output of a failed scenario is printed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
C=${ISO_CLIENTS_DIR:-/tmp/iso-test-clients}
mkdir -p "$C/logs"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(docker ctr cri podman podman-rootless podman-landlock)
[ "$(id -u)" = 0 ] || { echo "the clients suite needs root" >&2; exit 1; }
pass=0 failed=0
for s in "${scenarios[@]}"; do
    [ -x "$here/$s.sh" ] || { echo "no scenario $s" >&2; exit 2; }
    log=$C/logs/$s.log
    start=$SECONDS
    if "$here/$s.sh" > "$log" 2>&1 && grep -q '^RESULT: PASS' "$log"; then
        pass=$((pass + 1))
        printf '%-8s PASS %4ss  %s\n' "$s" $((SECONDS - start)) "$(grep '^RESULT:' "$log")"
    else
        failed=$((failed + 1))
        printf '%-8s FAIL %4ss  (log: %s)\n' "$s" $((SECONDS - start)) "$log"
        sed 's/^/    /' "$log"
    fi
done
echo "clients: $pass passed, $failed failed"
[ $failed = 0 ]
