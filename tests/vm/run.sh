#!/usr/bin/env bash
# run.sh DIR COMMAND...
# Boots Debian's kernel under QEMU with a pure cgroup v2 hierarchy (every controller enabled
# at the root) and AppArmor active, and runs COMMAND as root inside with ISO_IN_VM=1. The guest
# sees this machine's / read-only (with a throwaway tmpfs on top) and DIR read-write at the same
# path, which is also the working directory. One argument is a bash snippet; several are argv.
# The command's stdout, stderr and exit code come back; 124 means timeout, 125 a failed boot.
# Environment: ISO_VM_MEM (MiB, 2048), ISO_VM_CPUS (2), ISO_VM_TIMEOUT (s, 1200),
# ISO_VM_PASS_ENV ("A B": variables exported into the guest), ISO_VM_DEBUG=1 (console).
set -uo pipefail
here=$(dirname "$(readlink -f "$0")")
home=${ISO_VM_HOME:-/var/tmp/iso-vm}
cache=$home/cache
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
share=$(realpath -e "$1") || exit 2
shift
[[ -f $cache/ready ]] || "$here/setup.sh" || { echo "vm: setup failed" >&2; exit 125; }

ctl=$(mktemp -d /tmp/iso-vm-ctl.XXXXXX)
qemu_pid=
cleanup() { [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null; rm -rf "$ctl"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "SHARE=$(printf %q "$share")" > "$ctl/config"
{
  echo 'set -o pipefail'
  for v in ${ISO_VM_PASS_ENV:-}; do [[ -n ${!v+x} ]] && echo "export $v=$(printf %q "${!v}")"; done
  if [[ $# -eq 1 ]]; then printf '%s\n' "$1"; else printf '%q ' "$@"; echo; fi
} > "$ctl/cmd.sh"

append="console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 apparmor=1 security=apparmor"
p9dev() { echo "-fsdev local,id=$1,path=$2,security_model=passthrough$3 -device virtio-9p-pci,fsdev=$1,mount_tag=$1"; }
# shellcheck disable=SC2046
timeout --foreground -k 5 "${ISO_VM_TIMEOUT:-1200}" qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -machine q35 \
  -m "${ISO_VM_MEM:-2048}" -smp "${ISO_VM_CPUS:-2}" \
  -nodefaults -no-user-config -display none -no-reboot -net none \
  -serial "file:$ctl/console.log" \
  -kernel "$cache/vmlinux" -initrd "$cache/initrd.gz" -append "$append" \
  $(p9dev ctl "$ctl" "") \
  $(p9dev hostroot / ",readonly=on,multidevs=remap") \
  $(p9dev share "$share" ",multidevs=remap") \
  </dev/null >"$ctl/qemu.log" 2>&1 &
qemu_pid=$!
wait "$qemu_pid"
qemu_rc=$?
qemu_pid=

[[ -f $ctl/stdout ]] && cat "$ctl/stdout"
[[ -f $ctl/stderr ]] && cat "$ctl/stderr" >&2
[[ -n ${ISO_VM_DEBUG:-} ]] && cat "$ctl/console.log" "$ctl/qemu.log" >&2
if [[ -f $ctl/rc ]]; then
  exit "$(cat "$ctl/rc")"
fi
if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
  echo "vm: timed out after ${ISO_VM_TIMEOUT:-1200}s" >&2
  tail -n 20 "$ctl/console.log" >&2
  exit 124
fi
echo "vm: the guest stopped before running the command (qemu exit $qemu_rc):" >&2
cat "$ctl/init-error" 2>/dev/null >&2
tail -n 30 "$ctl/console.log" "$ctl/qemu.log" >&2
exit 125
