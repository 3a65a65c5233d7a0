# Shared helpers of the image scripts (sourced by image/rootfs.sh and image/build.sh).
# Every file copied keeps its host path under the staged root (merged /usr: /lib, /bin, /sbin
# and /lib64 are symbolic links into /usr, as on Debian 12).

# stage_path ROOT PATH: the staged path of host PATH (resolved to /usr for merged dirs)
stage_path() {
	local p=$2
	case $p in
	/lib/* | /lib64/* | /bin/* | /sbin/*) p=/usr$p ;;
	esac
	printf '%s%s\n' "$1" "$p"
}

# stage_file ROOT SRC [DEST]: copy SRC (dereferenced) to ROOT/DEST (DEST defaults to SRC)
stage_file() {
	local root=$1 src=$2 dst
	dst=$(stage_path "$root" "${3:-$2}")
	mkdir -p "$(dirname "$dst")"
	rm -f "$dst"
	cp -L --no-preserve=all "$src" "$dst"
	if [[ -x $src ]]; then chmod 0755 "$dst"; else chmod 0644 "$dst"; fi
}

# stage_libs ROOT FILE...: the shared libraries FILEs load, found with ldd (and the loader)
stage_libs() {
	local root=$1 f lib
	shift
	for f in "$@"; do
		while read -r lib; do
			[[ -n $lib ]] || continue
			[[ -e $(stage_path "$root" "$lib") ]] || stage_file "$root" "$lib"
		done < <(ldd "$f" | awk '
			/=> \// { print $3; next }
			/^[ \t]*\// { print $1 }')
	done
}

# stage_bin ROOT FILE [DEST]: a program or module with the libraries it loads
stage_bin() {
	stage_file "$1" "$2" "${3:-}"
	stage_libs "$1" "$2"
}

# stage_normalize ROOT EPOCH: modes without group/other write, owner 0, mtimes EPOCH
stage_normalize() {
	local root=$1 epoch=$2
	chmod -R go-w "$root"
	chown -hR 0:0 "$root" 2>/dev/null || true
	find "$root" -depth -exec touch -h -d "@$epoch" {} +
}

# source_epoch: SOURCE_DATE_EPOCH, else the last commit's time, else 0
source_epoch() {
	if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
		echo "$SOURCE_DATE_EPOCH"
	else
		git log -1 --format=%ct 2>/dev/null || echo 0
	fi
}
