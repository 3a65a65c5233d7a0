#!/usr/bin/env bash
# The root filesystem shared by the appliance image and the QA container.
#
#   image/rootfs.sh BUILD_DIR OUT_DIR
#
# OUT_DIR is emptied and then holds (host paths, merged /usr):
#   /usr/bin/coffred, /usr/bin/coffre      from BUILD_DIR
#   /usr/bin/busybox + its applet links    busybox-static
#   /usr/lib/softhsm/libsofthsm2.so        SoftHSMv2's PKCS#11 module
#   /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so   libp11's OpenSSL engine
#   the shared libraries all of these load (found with ldd), the dynamic loader
#   /etc/ssl/openssl.cnf (image/openssl.cnf), /etc/passwd, /etc/group (root, coffre 100:100)
#   empty /dev /proc /sys /run /tmp /root /var/lib/coffre
# Modes lose group/other write, owners are 0:0, every mtime is the source epoch
# (SOURCE_DATE_EPOCH, else the last commit's time), so that an archive of OUT_DIR with
# sorted entries is reproducible. Nothing is downloaded: every file comes from BUILD_DIR or
# from installed Debian packages (tools/deps.sh ensure image).
set -euo pipefail

if (($# != 2)); then
	echo "usage: image/rootfs.sh BUILD_DIR OUT_DIR" >&2
	exit 64
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=image/lib.sh
source "$HERE/lib.sh"
BUILD_DIR=$1
OUT=$2
BUSYBOX=/bin/busybox
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so

for f in "$BUILD_DIR/coffred" "$BUILD_DIR/coffre" "$BUSYBOX" "$SOFTHSM" "$ENGINE"; do
	[[ -f $f ]] || { echo "rootfs: missing $f" >&2; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT"/usr/{bin,sbin,lib,lib64}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$OUT/$d"; done
mkdir -p "$OUT"/{dev,proc,sys,run,root,etc/ssl,usr/lib/ssl,var/lib/coffre}
install -d -m 1777 "$OUT/tmp"

stage_bin "$OUT" "$BUILD_DIR/coffred" /usr/bin/coffred
stage_bin "$OUT" "$BUILD_DIR/coffre" /usr/bin/coffre
stage_file "$OUT" "$BUSYBOX" /usr/bin/busybox
stage_bin "$OUT" "$SOFTHSM"
stage_bin "$OUT" "$ENGINE"

# busybox applets as links to /usr/bin/busybox (paths as busybox lists them)
while read -r applet; do
	dst=$(stage_path "$OUT" "/$applet")
	[[ -e $dst || -L $dst ]] && continue
	mkdir -p "$(dirname "$dst")"
	ln -s /usr/bin/busybox "$dst"
done < <("$BUSYBOX" --list-full | LC_ALL=C sort)

install -m 0644 "$HERE/openssl.cnf" "$OUT/etc/ssl/openssl.cnf"
ln -s /etc/ssl/openssl.cnf "$OUT/usr/lib/ssl/openssl.cnf"
printf 'root:x:0:0:root:/root:/bin/sh\ncoffre:x:100:100:coffre:/var/lib/coffre:/bin/false\n' \
	>"$OUT/etc/passwd"
printf 'root:x:0:\ncoffre:x:100:\n' >"$OUT/etc/group"
chmod 0644 "$OUT/etc/passwd" "$OUT/etc/group"

stage_normalize "$OUT" "$(cd "$HERE/.." && source_epoch)"
chmod 1777 "$OUT/tmp"
