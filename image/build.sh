#!/usr/bin/env bash
# The bootable image (docs/appliance.md), from installed Debian packages only:
#
#   image/build.sh BUILD_DIR OUT_DIR     (make image: build build/image)
#
# OUT_DIR/vmlinuz        Debian's linux-image-amd64 kernel, as packaged
# OUT_DIR/initramfs.img  gzip'd newc cpio: image/rootfs.sh's root filesystem + the init,
#                        e2fsprogs, the kernel modules the appliance loads
# OUT_DIR/run-qemu       the launcher (image/run-qemu)
# The initramfs is reproducible: sorted entries, owner 0, fixed mtimes, gzip -n.
set -euo pipefail

if (($# != 2)); then
	echo "usage: image/build.sh BUILD_DIR OUT_DIR" >&2
	exit 64
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=image/lib.sh
source "$HERE/lib.sh"
BUILD_DIR=$1
OUT=$2
ROOT=$OUT/root
EPOCH=$(cd "$HERE/.." && source_epoch)
# the modules the init loads (docs/appliance.md); their dependencies come from modules.dep
MODULES=(virtio_pci virtio_blk virtio_net virtio_rng crc32c_generic ext4 i6300esb button evdev)

# the kernel linux-image-amd64 depends on
KVER=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | grep -o 'linux-image-[0-9][^ ,]*' |
	head -1 | sed 's/^linux-image-//')
[[ -n $KVER && -f /boot/vmlinuz-$KVER ]] || { echo "image: no kernel for linux-image-amd64" >&2; exit 1; }

bash "$HERE/rootfs.sh" "$BUILD_DIR" "$ROOT"

# e2fsprogs: the data disk is made and checked with them (busybox has no ext4 mkfs/fsck)
for b in /sbin/mke2fs /sbin/e2fsck; do
	stage_bin "$ROOT" "$b"
done
ln -sf mke2fs "$ROOT/usr/sbin/mkfs.ext4"
ln -sf e2fsck "$ROOT/usr/sbin/fsck.ext4"
stage_file "$ROOT" /etc/mke2fs.conf
ln -sf /proc/mounts "$ROOT/etc/mtab"

# kernel modules, flat in /lib/modules, and their load order in /lib/modules/load
mkdir -p "$ROOT/usr/lib/modules"
: >"$ROOT/usr/lib/modules/load"
for m in "${MODULES[@]}"; do
	modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	name=$(basename "$ko" .ko)
	install -m 0644 "$ko" "$ROOT/usr/lib/modules/$name.ko"
	echo "$name" >>"$ROOT/usr/lib/modules/load"
done

# the init and its helpers
install -m 0755 "$HERE/init" "$ROOT/init"
install -D -m 0755 "$HERE/udhcpc.script" "$ROOT/usr/share/udhcpc/default.script"
install -D -m 0755 "$HERE/power-button" "$ROOT/etc/acpi/PWRF/00000080"
mknod -m 0600 "$ROOT/dev/console" c 5 1
mknod -m 0666 "$ROOT/dev/null" c 1 3

stage_normalize "$ROOT" "$EPOCH"
chmod 1777 "$ROOT/tmp"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 >"$OUT/initramfs.img.tmp"
mv "$OUT/initramfs.img.tmp" "$OUT/initramfs.img"

install -m 0644 "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
install -m 0755 "$HERE/run-qemu" "$OUT/run-qemu"
echo "image: $OUT/vmlinuz ($KVER), $OUT/initramfs.img $(stat -c %s "$OUT/initramfs.img") bytes" \
	"($(du -k --apparent-size "$ROOT" | tail -1 | cut -f1) KiB unpacked), $OUT/run-qemu"
