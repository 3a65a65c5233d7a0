#!/usr/bin/env bash
# Old/new comparison of two coffred binaries on one QA instance (the figures of a change that
# must not slow make bench: docs/performance.md).
#
#   tools/bench_ab.sh rates OLD_COFFRED NEW_COFFRED [ROUNDS]
#       alternates OLD and NEW, ROUNDS times (default 3): coffre-bench --op get, create,
#       vcenter, get-attributes (BENCH_OPS), 64 connections, 5 s each; one line per run with
#       coffred's CPU time per operation (utime + stime from /proc/PID/stat)
#   tools/bench_ab.sh callgrind COFFRED TAG
#       instructions per Get and per Create under valgrind's callgrind (counters zeroed after
#       start-up and a warm-up; 2 connections, 10 s): steady where rates are noisy
#       (AB_SANDBOX_OFF=1 for a binary with the seccomp sandbox: valgrind cannot run under it)
#
# Uses this tree's build/coffre (provisioning) and build/coffre-bench; loopback only; the QA
# instance lives in a mktemp dir removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-$PWD/build}
mode=${1:?usage: tools/bench_ab.sh rates OLD NEW [ROUNDS] | callgrind COFFRED TAG}
T=$(mktemp -d /tmp/coffre-ab.XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

"$BUILD/coffre" provision --qa "$T/c" --clients 1 --server-key ec >"$T/prov.log" 2>&1 ||
	{ cat "$T/prov.log" >&2; exit 1; }
CONF=$T/c/coffred.conf PKI=$T/c/pki
workers=$([[ $mode == callgrind ]] && echo 1 || nproc)
sed -i "s/^\[kmip\]\$/[kmip]\nworkers = $workers/" "$CONF"
sed -i "s/^\[hsm\]\$/[hsm]\ndirect_calls = true/" "$CONF"
# valgrind runs the guest's system calls itself and cannot run under its seccomp filter:
# AB_SANDBOX_OFF=1 turns the sandbox off for binaries that have one (the figures then leave out
# the filter's cost, a few instructions in the kernel per system call)
[[ ${AB_SANDBOX_OFF:-0} == 1 ]] && sed -i "s/^\[service\]\$/[service]\nsandbox = off/" "$CONF"

# start [WRAPPER...] BIN: sets PID and PORT
start() {
	local log=$T/log.$RANDOM i
	"$@" -c "$CONF" --port 0 </dev/null >/dev/null 2>"$log" &
	PID=$!
	for ((i = 0; i < 600; i++)); do
		PORT=$(sed -n 's/^coffred: ready kmip=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
		[[ -n $PORT ]] && return 0
		sleep 0.2
	done
	echo "bench_ab: coffred did not start" >&2; tail -5 "$log" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=; }
bench() { # OP CONNS SECONDS
	"$BUILD/coffre-bench" --host 127.0.0.1 --port "$PORT" --cert "$PKI/qa.crt" \
		--key "$PKI/qa.key" --ca "$PKI/ca.crt" --threads "$(nproc)" --op "$1" \
		--conns "$2" --seconds "$3" 2>/dev/null | head -n1
}
ops_of() { grep -oE 'ops=[0-9]+' <<<"$1" | cut -d= -f2; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

case $mode in
rates)
	old=${2:?OLD} new=${3:?NEW} rounds=${4:-3} hz=$(getconf CLK_TCK)
	for ((r = 0; r < rounds; r++)); do
		for pair in "old:$old" "new:$new"; do
			start "${pair#*:}"
			for op in ${BENCH_OPS:-get create vcenter get-attributes}; do
				c0=$(cpu_ticks); line=$(bench "$op" 64 5); c1=$(cpu_ticks)
				n=$(ops_of "$line")
				echo "${pair%%:*} $op $line cpu_us_per_op=$(( (c1 - c0) * 1000000 / hz / ${n:-1} ))"
			done
			stop
		done
	done
	;;
callgrind)
	bin=${2:?COFFRED} tag=${3:?TAG}
	start valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$bin"
	for op in get create; do
		bench "$op" 2 2 >/dev/null                       # warm-up
		callgrind_control -z "$PID" >/dev/null 2>&1
		line=$(bench "$op" 2 10)
		rm -f "$T"/cg.out*; callgrind_control -d "$PID" >/dev/null 2>&1; sleep 1
		ir=$(grep -h '^summary:\|^totals:' "$T"/cg.out* | tail -n1 | awk '{print $2}')
		n=$(ops_of "$line")
		echo "$tag $op ops=$n Ir=$ir Ir_per_op=$((ir / ${n:-1}))"
	done
	stop
	;;
*) echo "usage: tools/bench_ab.sh rates OLD NEW [ROUNDS] | callgrind COFFRED TAG" >&2; exit 64 ;;
esac
