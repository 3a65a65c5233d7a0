#!/usr/bin/env bash
# Debian packages the build, the tests and `make run` need.
#   tools/deps.sh ensure   install only if something is missing (called by every make target)
#   tools/deps.sh install  same, and says so when all are present (make deps)
#   tools/deps.sh list     print the list
# An optional group name after the mode adds its packages: `tools/deps.sh ensure image` (the
# bootable image: make image / run-image / test-image) or `tools/deps.sh ensure container` (the
# QA container: make container / test-container). Without one, only PKGS.
set -euo pipefail

PKGS=(
	make gcc clang libclang-rt-14-dev pkg-config cppcheck
	libcmocka-dev libssl-dev libsqlite3-dev libinih-dev libp11-kit-dev
	libargon2-dev libgfshare-dev libgfshare-bin libqrencode-dev libseccomp-dev
	softhsm2 opensc libengine-pkcs11-openssl
	python3 python3-pykmip
)

# the QA container (image/container/): busybox for its root filesystem, skopeo to inspect the
# OCI archive and convert it for Docker engines that do not load OCI archives
PKGS_CONTAINER=(
	busybox-static skopeo
)

# the bootable image (image/): kernel, busybox, cpio, e2fsprogs and kmod for the initramfs, qemu
PKGS_IMAGE=(
	linux-image-amd64 busybox-static cpio e2fsprogs kmod gzip qemu-system-x86
)

mode=${1:-ensure}
case ${2:-} in
'') ;;
container) PKGS+=("${PKGS_CONTAINER[@]}") ;;
image) PKGS+=("${PKGS_IMAGE[@]}") ;;
*) echo "deps: unknown group ${2}" >&2; exit 64 ;;
esac
if [[ $mode == list ]]; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

missing=()
while read -r pkg status; do
	[[ $status == installed ]] || missing+=("$pkg")
done < <(for p in "${PKGS[@]}"; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	echo "$p ${s:-missing}"
done)

if ((${#missing[@]} == 0)); then
	[[ $mode == install ]] && echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null; then SUDO=sudo; else
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
