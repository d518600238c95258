#!/usr/bin/env bash
# Builds the test guest once: Debian's own kernel package (pure cgroup v2 and AppArmor are
# kernel command-line choices) plus a tiny busybox initramfs that mounts this machine's root
# read-only over 9p with a tmpfs overlay, so every host binary runs unchanged in the guest.
# The result is cached in $ISO_VM_HOME (default /var/tmp/iso-vm); re-run with ISO_VM_FORCE=1.
set -euo pipefail
home=${ISO_VM_HOME:-/var/tmp/iso-vm}
cache=$home/cache
[[ -f $cache/ready && -z ${ISO_VM_FORCE:-} ]] && exit 0
mkdir -p "$cache"
cd "$cache"

kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[[ -n $kpkg ]] || { echo "vm setup: apt-cache cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
kver=${kpkg#linux-image-}
for pkg in "$kpkg" busybox-static; do
  compgen -G "$cache/${pkg}_*.deb" >/dev/null || apt-get download "$pkg" >/dev/null ||
    { echo "vm setup: apt-get download $pkg failed" >&2; exit 1; }
done
rm -rf kernel busybox initramfs
mkdir -p kernel busybox
dpkg -x "$(compgen -G "$cache/${kpkg}_*.deb" | head -n1)" kernel
dpkg -x "$(compgen -G "$cache/busybox-static_*.deb" | head -n1)" busybox
bb=$cache/busybox/bin/busybox

# Booting the uncompressed ELF through its PVH entry point skips the xz decompression, which
# is slow under software emulation.
python3 - kernel/boot/vmlinuz-"$kver" vmlinux <<'PY'
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("vm setup: the kernel image is not xz-compressed")
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
if elf[:4] != b"\x7fELF":
    sys.exit("vm setup: decompressed kernel is not an ELF image")
open(sys.argv[2], "wb").write(elf)
PY

moddir=kernel/lib/modules/$kver
mkdir -p initramfs/{bin,proc,sys,dev,ctl,lower,upper,newroot,lib/modules}
cp "$bb" initramfs/bin/busybox
# insmod order: dependencies first (the initramfs has no depmod data).
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"
for m in $modules; do
  f=$(find "$moddir" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -n1)
  [[ -n $f ]] || { echo "vm setup: kernel module $m not found" >&2; exit 1; }
  cp "$f" initramfs/lib/modules/
done
echo "$modules" > initramfs/lib/modules/order
"$bb" depmod -b "$cache/kernel" "$kver"
echo "MODDIR=$cache/kernel/lib/modules/$kver" > initramfs/moddir
cp "$(dirname "$(readlink -f "$0")")/init.sh" initramfs/init
chmod +x initramfs/init
(cd initramfs && find . | "$bb" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1 > "$cache/initrd.gz")
echo "$kver" > "$cache/kver"
touch "$cache/ready"
echo "vm setup: kernel $kver ready in $cache" >&2
