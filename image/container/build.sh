#!/usr/bin/env bash
# The QA container's OCI image archive from the appliance's root filesystem.
#
#   image/container/build.sh BUILD_DIR OUT.tar
#
# Stages the root filesystem with image/rootfs.sh BUILD_DIR BUILD_DIR/image/container-rootfs
# (ROOTFS_SH=... runs another staging script with the same arguments), then writes OUT.tar
# with image/container/oci.py: the rootfs plus the entrypoint in one layer, mtimes at the
# source epoch (SOURCE_DATE_EPOCH, else the last commit's time), so that the same inputs give
# the same bytes. No base image, no registry, no container engine.
set -euo pipefail

if (($# != 2)); then
	echo "usage: image/container/build.sh BUILD_DIR OUT.tar" >&2
	exit 64
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$1
OUT=$2
ROOTFS_SH=${ROOTFS_SH:-$TOP/image/rootfs.sh}
STAGE=$BUILD_DIR/image/container-rootfs

if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
	epoch=$SOURCE_DATE_EPOCH
else
	epoch=$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH=$epoch

mkdir -p "$(dirname "$OUT")"
bash "$ROOTFS_SH" "$BUILD_DIR" "$STAGE"
/usr/bin/python3 "$HERE/oci.py" "$STAGE" "$HERE/entrypoint.sh" "$OUT" "$epoch"
