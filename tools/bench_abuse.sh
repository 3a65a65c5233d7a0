#!/usr/bin/env bash
# The abuse figure of `make bench` (issue 16, docs/security.md "Fair share under abuse"):
# the vCenter pattern from 127.0.0.1 alone, then again while 127.0.0.2 floods the listener.
#
#   tools/bench_abuse.sh BUILD_DIR PORT PKI_DIR
#
# PORT: a running coffred on 127.0.0.1 (its [kmip] fair-share settings as configured);
# PKI_DIR: ca.crt, qa.crt, qa.key of a client it serves. coffre-bench --op vcenter from
# 127.0.0.1 on ABUSE_CONNS (default BENCH_CONNS or 64) connections, ABUSE_SECONDS (3) measured
# after a 1 s warm-up, under three conditions, interleaved over ABUSE_ROUNDS (3) rounds:
#   unloaded;
#   half-open flood: meanwhile coffre-flood from 127.0.0.2 holds ABUSE_SILENT (300) silent and
#     ABUSE_PARTIAL (100) partial-ClientHello connections (a refused one connects again after
#     ABUSE_PACE_MS, default 20 ms);
#   handshake flood: meanwhile 127.0.0.2 runs ABUSE_HS (8) loops of full TLS handshakes without
#     a client certificate and ABUSE_HS with one (the QA client's), none sending a request.
# The floods run at nice 19: on a shared test machine the attacker's CPU is not the server's.
# Prints each run's and each flood's line, then
#   abuse: unloaded=R0 halfopen=R1 halfopen_pct=P1 handshake=R2 handshake_pct=P2 errors=E1/E2 ...
# (R = vCenter operations per second over the rounds, each a full mutual-TLS handshake +
# Discover Versions + Get; E = the good client's errors under each flood). Exit 0 when every
# run worked.
set -uo pipefail

BUILD=${1:?usage: tools/bench_abuse.sh BUILD_DIR PORT PKI_DIR}
PORT=${2:?usage}
PKI=${3:?usage}
SECS=${ABUSE_SECONDS:-3}
ROUNDS=${ABUSE_ROUNDS:-3}
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

# ROUNDS rounds of unloaded, half-open, handshake (interleaved: a shared machine's load drifts
# by tens of percent within a minute, so each condition gets its share of the drift); a rate
# is the sum of a condition's operations over the sum of its measured seconds.
declare -A OPS ERRS
OPS=([unloaded]=0 [halfopen]=0 [handshake]=0) ERRS=([unloaded]=0 [halfopen]=0 [handshake]=0)
ok=1
# add NAME LINE: a run's operations and errors into its condition's sums
add() {
	local o e
	o=$(field "$2" ops) e=$(field "$2" errors)
	if [[ -z $o || -z $e ]]; then ok=0; ERRS[$1]=$((ERRS[$1] + 1)); return; fi
	OPS[$1]=$((OPS[$1] + o)) ERRS[$1]=$((ERRS[$1] + e))
}
for ((r = 1; r <= ROUNDS; r++)); do
	U=$(vcenter "unloaded-$r")
	echo "unloaded-$r: $U"
	add unloaded "$U"
	loaded "halfopen-$r" "silent:${ABUSE_SILENT:-300}" "partial:${ABUSE_PARTIAL:-100}"
	add halfopen "$LINE"
	loaded "handshake-$r" "handshake:${ABUSE_HS:-8}" "handshake-cert:${ABUSE_HS:-8}"
	add handshake "$LINE"
	sleep 1                          # the floods' last connections are gone
done
rate() { awk -v o="$1" -v s="$SECS" -v r="$ROUNDS" 'BEGIN { printf "%.1f", o / (s * r) }'; }
ur=$(rate "${OPS[unloaded]}") hr=$(rate "${OPS[halfopen]}") sr=$(rate "${OPS[handshake]}")
echo "abuse: unloaded=$ur halfopen=$hr halfopen_pct=$(pct "$ur" "$hr")" \
	"handshake=$sr handshake_pct=$(pct "$ur" "$sr")" \
	"errors=${ERRS[halfopen]}/${ERRS[handshake]} rounds=$ROUNDS secs=$SECS"
((ok == 1))
