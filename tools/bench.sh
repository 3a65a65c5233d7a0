#!/usr/bin/env bash
# `make bench`: Coffre and PyKMIP side by side, the goal table, the HSM's own limit.
#
#   tools/bench.sh BUILD_DIR
#
# 1. provisions a QA coffred in a mktemp dir (ECDSA P-256 server key in SoftHSMv2, EC P-256
#    client certificate, [kmip] workers = number of cores, [hsm] direct_calls = true) and
#    starts it on a free loopback port; starts PyKMIP's server (tests/integration/pykmip_server.sh, EC P-256 PKI);
# 2. drives both with coffre-bench at the same settings: get, create, vcenter (and vcenter
#    --resume), get-attributes, encrypt (AES-GCM 4 KiB) and sign (ECDSA P-256) on 64
#    connections. A PyKMIP run that completes nothing at 64 is
#    repeated at 16, 4, 1 connections and the row says so ("pykmip@16");
# 3. 1,000 idle mutual-TLS connections to coffred: its VmRSS (peak while they are held) and
#    how fast a new client is served meanwhile;
# 4. stops coffred, fills its store with BENCH_FILL keys (bench_fill, through the store API;
#    fewer if the time budget runs out: N is printed), restarts it and times Locate by the
#    x- attribute (p99 on one connection; the rate on 64);
#    Each side-by-side row's note gives coffred's CPU time per operation (utime + stime from
#    /proc/PID/stat over the run, warm-up second included);
# 5. prints the side-by-side table, the goal table (PASS/MISS) and bench_hsm's raw figures;
# 6. (after 2) the abuse rows: tools/bench_abuse.sh, the vCenter pattern from 127.0.0.1 alone
#    and while coffre-flood floods from 127.0.0.2 (half-open, then handshakes), with the ratio.
#
# Environment: BENCH_SECONDS (measured seconds per run, default 5), BENCH_FILL (default
# 1000000), BENCH_FILL_SECONDS (default 60), BENCH_IDLE_CONNS (default 1000), BENCH_CONNS
# (default 64), BENCH_HSM_SECONDS (default 0.5), BENCH_KEEP=1 keeps the work directory.
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
set -uo pipefail

BUILD=${1:?usage: tools/bench.sh BUILD_DIR}
cd "$(dirname "$0")/.." || exit 1
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac

SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-64}
FILL=${BENCH_FILL:-1000000}
FILL_SECS=${BENCH_FILL_SECONDS:-60}
IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
HSM_SECS=${BENCH_HSM_SECONDS:-0.5}
BUDGET=290                       # seconds for the whole run (the issue allows 300)
CORES=$(nproc 2>/dev/null || echo 2)
FILL_ATTR=x-Bench-Vm
FILL_PREFIX=vm-

BENCH=$BUILD/coffre-bench
T=
COFFRED_PID=
BG_PID=

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

stop_coffred() {
	local i
	[[ -n $COFFRED_PID ]] || return 0
	kill -TERM "$COFFRED_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$COFFRED_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$COFFRED_PID" 2>/dev/null
	wait "$COFFRED_PID" 2>/dev/null
	COFFRED_PID=
}

cleanup() {
	[[ -n $BG_PID ]] && kill -TERM "$BG_PID" 2>/dev/null
	stop_coffred
	[[ -n $T && -d $T/pyk ]] && bash tests/integration/pykmip_server.sh stop "$T/pyk" >/dev/null 2>&1
	if [[ -n $T ]]; then
		if [[ -n ${BENCH_KEEP:-} ]]; then say "work directory kept: $T"; else rm -rf "$T"; fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in coffred coffre coffre-bench bench_hsm bench_fill; do
	[[ -x $BUILD/$f ]] || die "not built: $BUILD/$f (run: make bench)"
done
/usr/bin/python3 -c 'import kmip.services.server.server' 2>/dev/null ||
	die "python3-pykmip is not installed (make deps)"
# a thousand connections need descriptors on both sides (a service unit would set LimitNOFILE)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= IDLE_CONNS + 256)) ||
	say "warning: only $(ulimit -n) file descriptors: the idle test may fail"

T=$(mktemp -d /tmp/coffre-bench.XXXXXX) || die "mktemp failed"
T0=$SECONDS
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed() { echo $((SECONDS - T0)); }

# ---- the two servers ------------------------------------------------------------------
say "provisioning a QA coffred in $T/coffre (ECDSA P-256 server key in the HSM)"
"$BUILD/coffre" provision --qa "$T/coffre" --clients 1 --server-key ec \
	>"$T/provision.log" 2>&1 || { cat "$T/provision.log" >&2; die "coffre provision failed"; }
CONF=$T/coffre/coffred.conf
CPKI=$T/coffre/pki
grep -q '^workers' "$CONF" || sed -i "s/^\[kmip\]\$/[kmip]\nworkers = $CORES/" "$CONF"
# SoftHSMv2 does not hang: PKCS#11 calls on the worker threads, no executor hand-off
# (docs/config.md [hsm] direct_calls; a production HSM keeps the default, bounded by timeout_ms)
grep -q '^direct_calls' "$CONF" || sed -i "s/^\[hsm\]\$/[hsm]\ndirect_calls = true/" "$CONF"

# start_coffred: start it on a free port, wait for the ready line; sets CPORT
start_coffred() {
	local i log=$T/coffred.$SECONDS.log
	"$BUILD/coffred" -c "$CONF" --port 0 </dev/null >/dev/null 2>"$log" &
	COFFRED_PID=$!
	for ((i = 0; i < 300; i++)); do
		CPORT=$(sed -n 's/^coffred: ready kmip=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -n1)
		[[ -n $CPORT ]] && return 0
		kill -0 "$COFFRED_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "coffred did not become ready"
}
start_coffred
say "coffred ready on 127.0.0.1:$CPORT (pid $COFFRED_PID, $CORES workers)"

mkdir -p "$T/pyk"
PPORT=$(bash tests/integration/pykmip_server.sh start "$T/pyk" ec 2>"$T/pyk.err") ||
	{ cat "$T/pyk.err" >&2; die "PyKMIP server did not start"; }
PPKI=$T/pyk/pki
say "PyKMIP ready on 127.0.0.1:$PPORT"

# ---- runs -------------------------------------------------------------------------------
# bench NAME SERVER(coffre|pykmip) ARGS...: one coffre-bench run; RC and LINE set, output in
# $T/NAME.{out,err}
bench() {
	local name=$1 srv=$2 port cert key ca
	shift 2
	if [[ $srv == coffre ]]; then
		port=$CPORT cert=$CPKI/qa.crt key=$CPKI/qa.key ca=$CPKI/ca.crt
	else
		port=$PPORT cert=$PPKI/client.crt key=$PPKI/client.key ca=$PPKI/ca.crt
	fi
	timeout -k 5 "${BENCH_TIMEOUT:-90}" "$BENCH" --host 127.0.0.1 --port "$port" \
		--cert "$cert" --key "$key" --ca "$ca" --threads "$CORES" "$@" \
		>"$T/$name.out" 2>"$T/$name.err"
	RC=$?
	LINE=$(head -n1 "$T/$name.out")
	[[ -n $LINE ]] || LINE="op=? conns=0 ops=0 secs=0 rate=0/s p50_ms=0 p99_ms=0 errors=1"
	printf '  %-8s %-22s rc=%d %s\n' "$srv" "$name" "$RC" "$LINE" >&2
	grep -h "first error" "$T/$name.err" | sed 's/^/           /' >&2
}
# field LINE NAME: the value of NAME= in a result line (rate without "/s")
field() { grep -oE "(^| )$2=[^ ]*" <<<"$1" | head -n1 | sed 's/^ //; s/^[^=]*=//; s/\/s$//'; }

declare -a ROW_OP ROW_CONNS ROW_C ROW_P ROW_NOTE ROW_P99
declare -A RATE_C RATE_P P99_C

# hs_resumed ERRFILE: "R/H" (resumed / total handshakes) from coffre-bench's stderr
hs_resumed() { sed -n 's/.*handshakes=\([0-9]*\) resumed=\([0-9]*\).*/\2\/\1/p' "$1" | head -n1; }

# pair KEY LABEL ARGS...: coffred then PyKMIP at the same settings, one table row
# cpu_ticks: coffred's user + system time so far, in clock ticks (/proc/PID/stat fields 14, 15)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$COFFRED_PID/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK 2>/dev/null || echo 100)

pair() {
	local key=$1 label=$2 c p note="" n ops errs t0 us
	shift 2
	t0=$(cpu_ticks)
	bench "coffre-$key" coffre "$@" --conns "$CONNS" --seconds "$SECS" --warmup 1
	c=$(field "$LINE" rate)
	# coffred's CPU per operation over the run, warm-up included (at about the same rate)
	us=$(awk -v t="$(($(cpu_ticks) - t0))" -v hz="$TICKS" -v r="$c" -v s="$SECS" \
		'BEGIN { n = r * (s + 1); if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "?" }')
	note="coffred ~${us} us CPU/op; "
	P99_C[$key]=$(field "$LINE" p99_ms)
	errs=$(field "$LINE" errors)
	((errs > 0)) && note+="coffre: $errs errors; "
	RATE_C[$key]=$c
	bench "pykmip-$key" pykmip "$@" --conns "$CONNS" --seconds "$SECS" --warmup 1
	p=$(field "$LINE" rate) ops=$(field "$LINE" ops) errs=$(field "$LINE" errors)
	if ((ops == 0)); then
		note+="pykmip@$CONNS: 0 ops, $errs errors; "
		for n in 16 4 1; do
			((n < CONNS)) || continue
			bench "pykmip-$key-$n" pykmip "$@" --conns "$n" --seconds "$SECS" --warmup 1
			p=$(field "$LINE" rate) ops=$(field "$LINE" ops) errs=$(field "$LINE" errors)
			if ((ops > 0)); then
				note+="pykmip@$n"
				((errs > 0)) && note+=" ($errs errors)"
				note+="; "
				break
			fi
		done
	elif ((errs > 0)); then
		note+="pykmip: $errs errors; "
	fi
	RATE_P[$key]=$p
	if [[ $key == vcenter* ]]; then   # how many handshakes each server let resume
		note+="resumed: coffre $(hs_resumed "$T/coffre-$key.err"), pykmip $(hs_resumed "$T/pykmip-$key.err")"
	fi
	ROW_OP+=("$label") ROW_CONNS+=("$CONNS") ROW_C+=("$c") ROW_P+=("$p")
	ROW_P99+=("${P99_C[$key]}") ROW_NOTE+=("${note%; }")
}

say "side by side: $CONNS connections, $SECS s per run (+1 s warm-up)"
pair get "get" --op get
pair create "create" --op create
pair vcenter "vcenter (full handshake)" --op vcenter
pair vcenter-resume "vcenter --resume" --op vcenter --resume
pair getattr "get-attributes" --op get-attributes
# cryptographic services (issue 15): the key is made and activated first; KMIP 1.2 requests
pair encrypt "encrypt AES-GCM 4 KiB" --op encrypt --version 1.2
pair sign "sign ECDSA P-256" --op sign --version 1.2

# ---- fair share under abuse (issue 16): tools/bench_abuse.sh ----------------------------------
say "abuse: the vCenter pattern from 127.0.0.1 alone, then under floods from 127.0.0.2"
ABUSE_OUT=$(bash tools/bench_abuse.sh "$BUILD" "$CPORT" "$CPKI" 2>&1)
sed 's/^/           /' <<<"$ABUSE_OUT" >&2
ABUSE_LINE=$(grep '^abuse:' <<<"$ABUSE_OUT" | head -n1)
# (before the idle row: its 1,000 connections close without a request, and that costs
# 127.0.0.1 fair-share tokens for a few seconds)

# ---- 1,000 idle connections ----------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$COFFRED_PID/status" 2>/dev/null || echo 0; }
say "$IDLE_CONNS idle connections to coffred; a new client every ~20 ms meanwhile"
RSS0=$(rss_kib)
"$BENCH" --host 127.0.0.1 --port "$CPORT" --cert "$CPKI/qa.crt" --key "$CPKI/qa.key" \
	--ca "$CPKI/ca.crt" --threads "$CORES" --op idle --conns "$IDLE_CONNS" --seconds "$SECS" \
	--timeout 60 >"$T/idle.out" 2>"$T/idle.err" &
BG_PID=$!
RSS_MAX=0
for ((i = 0; i < 1200; i++)); do          # <= 120 s, then give up on it
	kill -0 "$BG_PID" 2>/dev/null || break
	if grep -q "connections set up" "$T/idle.err"; then
		r=$(rss_kib)
		((r > RSS_MAX)) && RSS_MAX=$r
	fi
	sleep 0.1
done
kill -TERM "$BG_PID" 2>/dev/null
wait "$BG_PID"
IDLE_RC=$?
BG_PID=
IDLE_LINE=$(head -n1 "$T/idle.out")
IDLE_INFO=$(grep -h "coffre-bench: idle: opened" "$T/idle.err" | sed 's/^coffre-bench: idle: //')
printf '  %-8s %-22s rc=%d %s\n' coffre idle "$IDLE_RC" "$IDLE_LINE" >&2
echo "           $IDLE_INFO" >&2
grep -h "first error" "$T/idle.err" | sed 's/^/           /' >&2
IDLE_HELD=$(sed -n 's/.*held=\([0-9]*\).*/\1/p' <<<"$IDLE_INFO")
IDLE_MAX=$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' <<<"$IDLE_INFO")
IDLE_P99=$(field "$IDLE_LINE" p99_ms)

# ---- Locate among many keys --------------------------------------------------------------------
stop_coffred
left=$((BUDGET - $(elapsed) - 45))       # keep ~45 s for the restart, Locate runs, bench-hsm
((left < FILL_SECS)) && FILL_SECS=$left
((FILL_SECS < 5)) && FILL_SECS=5
say "filling coffred's store with up to $FILL keys (at most $FILL_SECS s; coffred stopped)"
FILL_LINE=$("$BUILD/bench_fill" "$T/coffre/data/store.db" qa "$FILL" "$FILL_ATTR" "$FILL_PREFIX" \
	"$FILL_SECS" 2>"$T/fill.err")
cat "$T/fill.err" >&2
say "$FILL_LINE"
NKEYS=$(sed -n 's/^filled=\([0-9]*\).*/\1/p' <<<"$FILL_LINE")
NKEYS=${NKEYS:-0}
start_coffred
say "coffred restarted on 127.0.0.1:$CPORT"
LOC_VALUE=$(printf '%s%07d' "$FILL_PREFIX" $((NKEYS / 2)))
bench coffre-locate-1 coffre --op locate --attr "$FILL_ATTR=$LOC_VALUE" --conns 1 \
	--seconds "$SECS" --warmup 1
LOC1_LINE=$LINE
bench coffre-locate coffre --op locate --attr "$FILL_ATTR=$LOC_VALUE" --conns "$CONNS" \
	--seconds "$SECS" --warmup 1
LOC64_LINE=$LINE
# PyKMIP on its own (few) keys, same filter: for the record
bench pykmip-locate pykmip --op locate --attr "$FILL_ATTR=$LOC_VALUE" --conns "$CONNS" \
	--seconds "$SECS" --warmup 1
PLOC_LINE=$LINE
PLOC_ERR=$(sed -n 's/^coffre-bench: first error: //p' "$T/pykmip-locate.err" | head -n1)

stop_coffred
bash tests/integration/pykmip_server.sh stop "$T/pyk" >/dev/null 2>&1

# ---- bench-hsm ----------------------------------------------------------------------------------
say "bench-hsm (BENCH_SECONDS=$HSM_SECS, one repeat): SoftHSMv2's own limit"
HSM_OUT=$(BENCH_SECONDS=$HSM_SECS BENCH_REPEAT=1 timeout 120 "$BUILD/bench_hsm" 2>&1)

# ---- tables -----------------------------------------------------------------------------------
ratio() { awk -v c="$1" -v p="$2" 'BEGIN { if (p > 0) printf "%.1fx", c / p; else print "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
verdict() { if "$@"; then echo PASS; else echo MISS; fi; }

echo
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV+="+uncommitted changes"
echo "== make bench: Coffre vs PyKMIP at commit $REV; $CORES cores shared with the load tool; $SECS s per run =="
echo "   (load average before the run: $LOAD0)"
printf '%-26s %6s %12s %12s %8s %10s  %s\n' operation conns "Coffre/s" "PyKMIP/s" ratio \
	"Coffre p99" note
for i in "${!ROW_OP[@]}"; do
	printf '%-26s %6s %12s %12s %8s %8sms  %s\n' "${ROW_OP[$i]}" "${ROW_CONNS[$i]}" \
		"${ROW_C[$i]}" "${ROW_P[$i]}" "$(ratio "${ROW_C[$i]}" "${ROW_P[$i]}")" \
		"${ROW_P99[$i]}" "${ROW_NOTE[$i]}"
done
PNOTE="pykmip (its own few keys): ${PLOC_ERR:-ok}"
e=$(field "$LOC64_LINE" errors)
((e > 0)) && PNOTE="coffre: $e errors ($(sed -n 's/^coffre-bench: first error: .*Result Reason //p' \
	"$T/coffre-locate.err" | head -n1)); $PNOTE"
PNOTE=${PNOTE%%: Operation failed. See the server logs*}
printf '%-26s %6s %12s %12s %8s %8sms  %s\n' "locate x- ($NKEYS keys)" 1 \
	"$(field "$LOC1_LINE" rate)" - - "$(field "$LOC1_LINE" p99_ms)" ""
printf '%-26s %6s %12s %12s %8s %8sms  %s\n' "locate x- ($NKEYS keys)" "$CONNS" \
	"$(field "$LOC64_LINE" rate)" "$(field "$PLOC_LINE" rate)" \
	"$(ratio "$(field "$LOC64_LINE" rate)" "$(field "$PLOC_LINE" rate)")" \
	"$(field "$LOC64_LINE" p99_ms)" "${PNOTE:0:110}"
printf '%-26s %6s %12s %12s %8s %8sms  %s\n' "idle: new client" "$IDLE_CONNS" \
	"$(field "$IDLE_LINE" rate)" - - "$IDLE_P99" \
	"held $IDLE_HELD/$IDLE_CONNS, coffred VmRSS $((RSS_MAX / 1024)) MiB (before: $((RSS0 / 1024)) MiB)"

echo
echo "== goals (issue 5) =="
g_get=$(verdict eval 'ge "${RATE_C[get]}" 25000 && ge "$(ratio "${RATE_C[get]}" "${RATE_P[get]}" | tr -d x)" 100 && lt "${P99_C[get]}" 5')
g_create=$(verdict eval 'ge "${RATE_C[create]}" 5000 && ge "$(ratio "${RATE_C[create]}" "${RATE_P[create]}" | tr -d x)" 40')
g_vc=$(verdict eval 'ge "${RATE_C[vcenter]}" 1500 && ge "$(ratio "${RATE_C[vcenter]}" "${RATE_P[vcenter]}" | tr -d x)" 15')
LOC_P99=$(field "$LOC1_LINE" p99_ms)
LOC_OPS=$(field "$LOC1_LINE" ops)
if ((LOC_OPS > 0)) && lt "$LOC_P99" 2; then
	if ((NKEYS >= 1000000)); then g_loc=PASS; else g_loc="PASS at $NKEYS keys only (goal: 1,000,000)"; fi
else
	g_loc=MISS
fi
g_idle=$(verdict eval '[[ ${IDLE_HELD:-0} -ge $IDLE_CONNS ]] && ((RSS_MAX > 0 && RSS_MAX <= 128 * 1024)) && [[ -n $IDLE_P99 ]] && lt "$IDLE_P99" 100 && lt "${IDLE_MAX:-1e9}" 100')
printf '%-48s %-44s %s\n' workload goal "measured: verdict"
printf '%-48s %-44s %s\n' "Get, $CONNS persistent connections" ">= 25,000/s, >= 100x PyKMIP, p99 < 5 ms" \
	"${RATE_C[get]}/s, $(ratio "${RATE_C[get]}" "${RATE_P[get]}"), p99 ${P99_C[get]} ms: $g_get"
printf '%-48s %-44s %s\n' "Create (durable), $CONNS connections" ">= 5,000/s, >= 40x PyKMIP" \
	"${RATE_C[create]}/s, $(ratio "${RATE_C[create]}" "${RATE_P[create]}"): $g_create"
printf '%-48s %-44s %s\n' "vCenter pattern, $CONNS at a time, full handshake" ">= 1,500 conn/s, >= 15x PyKMIP" \
	"${RATE_C[vcenter]}/s, $(ratio "${RATE_C[vcenter]}" "${RATE_P[vcenter]}"): $g_vc"
printf '%-48s %-44s %s\n' "Locate by x- attribute among $NKEYS keys" "p99 < 2 ms (1,000,000 keys)" \
	"p99 $LOC_P99 ms on 1 connection: $g_loc"
printf '%-48s %-44s %s\n' "$IDLE_CONNS idle mTLS connections" "VmRSS <= 128 MiB, new client < 100 ms" \
	"$((RSS_MAX / 1024)) MiB, new client p99 $IDLE_P99 ms (max ${IDLE_MAX:-?} ms), held ${IDLE_HELD:-0}: $g_idle"

echo
echo "== fair share under abuse (issue 16): vCenter pattern from 127.0.0.1, $CONNS connections, while 127.0.0.2 floods =="
printf '%-48s %12s %8s  %s\n' "run" "vCenter/s" "ratio" "goal >= 80% of unloaded, no error"
a_u=$(field "$ABUSE_LINE" unloaded) a_errs=$(field "$ABUSE_LINE" errors)
printf '%-48s %12s %8s\n' "unloaded" "${a_u:-?}" "100%"
for k in halfopen handshake; do
	a_r=$(field "$ABUSE_LINE" "$k") a_p=$(field "$ABUSE_LINE" "${k}_pct")
	a_e=${a_errs%/*}
	[[ $k == handshake ]] && a_e=${a_errs#*/}
	if [[ $k == halfopen ]]; then a_l="half-open flood (300 silent + 100 partial)"; else
		a_l="handshake flood (8 no cert + 8 cert, no request)"; fi
	printf '%-48s %12s %7s%%  %s\n' "$a_l" "${a_r:-?}" "${a_p:-?}" \
		"$(verdict eval '[[ ${a_e:-x} == 0 ]] && ge "${a_p:-0}" 80')"
done

echo
echo "== bench-hsm: SoftHSMv2 through hsm/ and raw PKCS#11 (ops/s; a Get unwraps once, a Create generates+wraps once) =="
echo "$HSM_OUT"
echo
say "done in $(elapsed) s"
