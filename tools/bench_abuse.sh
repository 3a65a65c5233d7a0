#!/usr/bin/env bash
# The abuse figure of `make bench` (issue 16, docs/security.md "Fair share under abuse"):
# the vCenter pattern from 127.0.0.1 alone, then again while 127.0.0.2 floods the listener.
#
#   tools/bench_abuse.sh BUILD_DIR PORT PKI_DIR
#
# PORT: a running coffred on 127.0.0.1 (its [kmip] fair-share settings as configured);
# PKI_DIR: ca.crt, qa.crt, qa.key of a client it serves. Three runs of coffre-bench --op
# vcenter from 127.0.0.1 on ABUSE_CONNS (default BENCH_CONNS or 64) connections, each
# ABUSE_SECONDS (default BENCH_SECONDS or 5) plus a 1 s warm-up:
#   1. unloaded;
#   2. half-open flood: meanwhile coffre-flood from 127.0.0.2 holds ABUSE_SILENT (300) silent
#      and ABUSE_PARTIAL (100) partial-ClientHello connections (a refused one connects again
#      after ABUSE_PACE_MS, default 20 ms);
#   3. handshake flood: meanwhile 127.0.0.2 runs ABUSE_HS (8) loops of full TLS handshakes
#      without a client certificate and ABUSE_HS with one (the QA client's);
#   4. unloaded again: the unloaded rate reported is the mean of 1 and 4 (the load of a shared
#      machine drifts). The floods run at nice 19: the attacker's CPU is not the server's.
# Prints on stdout each flood's line, each run's line, then
#   abuse: unloaded=R0 halfopen=R1 halfopen_pct=P1 handshake=R2 handshake_pct=P2 errors=E1/E2
# (R = vCenter operations per second, each a full mutual-TLS handshake + Discover Versions +
# Get; E = the good client's errors under each flood). Exit 0 when every run worked.
set -uo pipefail

BUILD=${1:?usage: tools/bench_abuse.sh BUILD_DIR PORT PKI_DIR}
PORT=${2:?usage}
PKI=${3:?usage}
SECS=${ABUSE_SECONDS:-${BENCH_SECONDS:-5}}
CONNS=${ABUSE_CONNS:-${BENCH_CONNS:-64}}
CORES=$(nproc 2>/dev/null || echo 2)
W=$(mktemp -d /tmp/coffre-abuse.XXXXXX) || exit 1
FLOOD_PIDS=()
cleanup() {
	local p
	for p in "${FLOOD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT

# vcenter NAME: one coffre-bench vcenter run from 127.0.0.1; prints its result line
vcenter() {
	timeout -k 5 $((SECS + 60)) "$BUILD/coffre-bench" --host 127.0.0.1 --port "$PORT" \
		--cert "$PKI/qa.crt" --key "$PKI/qa.key" --ca "$PKI/ca.crt" --threads "$CORES" \
		--op vcenter --conns "$CONNS" --seconds "$SECS" --warmup 1 --max-errors 0 \
		--no-name-check >"$W/$1.out" 2>"$W/$1.err"
	head -n1 "$W/$1.out"
}
field() { grep -oE "(^| )$2=[^ ]*" <<<"$1" | head -n1 | sed 's/^ //; s/^[^=]*=//; s/\/s$//'; }

# flood MODE N: coffre-flood from 127.0.0.2 in the background, for the next loaded run
flood() {
	local secs
	secs=$(awk -v s="$SECS" 'BEGIN { print s + 3 }')
	nice -n 19 "$BUILD/coffre-flood" --host 127.0.0.1 --port "$PORT" --bind 127.0.0.2 --mode "$1" \
		--conns "$2" --seconds "$secs" --cert "$PKI/qa.crt" --key "$PKI/qa.key" \
		--pace-ms "${ABUSE_PACE_MS:-20}" >"$W/flood-$1.out" 2>"$W/flood-$1.err" &
	FLOOD_PIDS+=($!)
}
# loaded NAME MODES...: the floods up, a second to settle, the measured run, the floods' lines
loaded() {
	local name=$1 m p line
	shift
	for m in "$@"; do flood "${m%:*}" "${m#*:}"; done
	sleep 1
	line=$(vcenter "$name")
	for p in "${FLOOD_PIDS[@]}"; do wait "$p"; done
	FLOOD_PIDS=()
	for m in "$@"; do
		echo "flood ($name): $(head -n1 "$W/flood-${m%:*}.out")$(head -c 200 "$W/flood-${m%:*}.err")"
	done
	echo "$name: $line"
	grep -h "first error" "$W/$name.err" | head -n1
	[[ -n $line ]] || tail -n 2 "$W/$name.err"    # no result line: why (set-up failed)
	LINE=$line
}
pct() { awk -v u="${1:-0}" -v l="${2:-0}" 'BEGIN { if (u > 0) printf "%.0f", 100 * l / u; else print 0 }'; }

U=$(vcenter unloaded)
echo "unloaded: $U"
loaded halfopen "silent:${ABUSE_SILENT:-300}" "partial:${ABUSE_PARTIAL:-100}"
H=$LINE
loaded handshake "handshake:${ABUSE_HS:-8}" "handshake-cert:${ABUSE_HS:-8}"
S=$LINE
sleep 2                                  # the floods' last connections are gone
U2=$(vcenter unloaded2)
echo "unloaded again: $U2"
# the unloaded rate: the mean of the runs before and after (the machine's load drifts)
ur=$(awk -v a="$(field "$U" rate)" -v b="$(field "$U2" rate)" \
	'BEGIN { if (a > 0 && b > 0) printf "%.1f", (a + b) / 2; else if (a > 0) print a; else print "" }')
hr=$(field "$H" rate) sr=$(field "$S" rate)
echo "abuse: unloaded=${ur:-0} halfopen=${hr:-0} halfopen_pct=$(pct "$ur" "$hr")" \
	"handshake=${sr:-0} handshake_pct=$(pct "$ur" "$sr")" \
	"errors=$(field "$H" errors)/$(field "$S" errors)"
[[ -n $ur && -n $hr && -n $sr ]]
