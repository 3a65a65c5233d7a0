#!/usr/bin/env bash
# coffre-bench against a real KMIP server that is not ours: PyKMIP's (python3-pykmip) on
# loopback with its own PKI (tests/integration/pykmip_server.sh). PyKMIP serves ~100-400
# ops/s, so runs are short (1-2 s) on few connections. No timing is asserted: only that the
# tool drives every operation, reports the result line, and fails loudly when it should.
#   tests/integration/test_bench_pykmip.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

BUILD=${1:?usage: $0 BUILD_DIR}
BENCH=$BUILD/coffre-bench
T=$(mktemp -d /tmp/coffre-bench-it.XXXXXX)
cleanup() {
	bash tests/integration/pykmip_server.sh stop "$T/pyk" >/dev/null 2>&1
	[[ -n ${IT_KEEP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT

if [[ ! -x $BENCH ]]; then
	echo "not built: $BENCH"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! /usr/bin/python3 -c 'import kmip.services.server.server' 2>/dev/null; then
	echo "python3-pykmip is not installed (make deps)"
	echo "0 passed, 1 failed"
	exit 1
fi

mkdir -p "$T/pyk"
if ! PORT=$(bash tests/integration/pykmip_server.sh start "$T/pyk" 2>"$T/start.err"); then
	cat "$T/start.err"
	bad "PyKMIP server starts"
	it_done
	exit 1
fi
ok "PyKMIP server listens on 127.0.0.1:$PORT"
PKI=$T/pyk/pki

# run NAME ARGS...: coffre-bench with the good client credentials; RC, OUT, ERR set
run() {
	local name=$1; shift
	timeout 60 "$BENCH" --host 127.0.0.1 --port "$PORT" --cert "$PKI/client.crt" \
		--key "$PKI/client.key" --ca "$PKI/ca.crt" --threads 2 "$@" \
		>"$T/$name.out" 2>"$T/$name.err"
	RC=$?
	OUT=$(cat "$T/$name.out")
	ERR=$(cat "$T/$name.err")
	echo "  [$name] rc=$RC $OUT"
	[[ -z $ERR ]] || sed 's/^/  [stderr] /' "$T/$name.err"
}
# field NAME: value of NAME= in the result line
field() { grep -oE "(^| )$1=[^ ]*" <<<"$OUT" | head -n1 | sed 's/^ //; s/^[^=]*=//'; }
LINE_RE='^op=[a-z-]+ conns=[0-9]+ ops=[0-9]+ secs=[0-9.]+ rate=[0-9.]+/s p50_ms=[0-9.]+ p99_ms=[0-9.]+ errors=[0-9]+$'
one_line() { [[ $(wc -l <"$T/$1.out") -eq 1 ]] && grep -qE "$LINE_RE" "$T/$1.out"; }
good_run() { # NAME OP CONNS: exit 0, one result line, errors=0, ops > 0
	one_line "$1" && ((RC == 0)) && [[ $(field op) == "$2" && $(field conns) == "$3" ]] &&
		(($(field errors) == 0)) && (($(field ops) > 0))
}
failed_run() { # NAME: exit 1, one result line, errors > 0
	one_line "$1" && ((RC == 1)) && (($(field errors) > 0))
}

run get --op get --conns 2 --seconds 2
check "get: 2 connections, one result line, errors=0, exit 0" good_run get get 2
check "get: created its own key first" grep -q "created key" "$T/get.err"
UID_OK=$(sed -n 's/^coffre-bench: created key //p' "$T/get.err")

run create --op create --conns 2 --seconds 2
check "create: errors=0, exit 0" good_run create create 2

run getattr --op get-attributes --conns 2 --seconds 2 --uid "$UID_OK"
check "get-attributes (State + x-Vendor) on --uid: errors=0, exit 0" good_run getattr get-attributes 2

run locate_std --op locate --attr "Object Type=Symmetric Key" --max-items 4 --conns 2 --seconds 2
check "locate by a standard attribute: errors=0, exit 0" good_run locate_std locate 2

# PyKMIP 0.10 cannot Locate by a custom attribute (its policy lookup raises and it answers
# Operation Failed / General Failure): the tool must say so, with the Result Reason.
run locate_x --op locate --attr x-Vendor=acme --conns 2 --seconds 1
check "locate by x-Vendor on PyKMIP: result line, exit 1, errors > 0" failed_run locate_x
check "locate by x-Vendor on PyKMIP: stderr names the Result Reason" \
	grep -q "first error: Locate: Result Status Operation Failed, Result Reason General Failure" "$T/locate_x.err"

run vc --op vcenter --conns 2 --seconds 2 --uid "$UID_OK"
check "vcenter (new connection per Discover Versions + Get): errors=0, exit 0" good_run vc vcenter 2
check "vcenter without --resume: every handshake is full (resumed=0)" \
	grep -qE "handshakes=[1-9][0-9]* resumed=0 " "$T/vc.err"

run vcr --op vcenter --resume --conns 2 --seconds 2 --uid "$UID_OK"
check "vcenter --resume: errors=0, exit 0" good_run vcr vcenter 2
check "vcenter --resume: sessions were resumed" grep -qE "resumed=[1-9]" "$T/vcr.err"

run v20 --op get --version 2.0 --conns 2 --seconds 1 --uid "$UID_OK"
check "get in KMIP 2.0: errors=0, exit 0" good_run v20 get 2
run v14 --op get-attributes --version 1.4 --conns 2 --seconds 1 --uid "$UID_OK"
check "get-attributes in KMIP 1.4: errors=0, exit 0" good_run v14 get-attributes 2

run idle --op idle --conns 20 --seconds 2
check "idle: 20 silent connections, new clients served meanwhile: errors=0, exit 0" good_run idle idle 20
check "idle: every silent connection was set up and still held at the end" \
	grep -q "idle: opened=20 held=20 of 20 connections" "$T/idle.err"

run nreq --op get --requests 30 --seconds 0 --conns 3 --uid "$UID_OK"
exactly_30() { one_line nreq && ((RC == 0)) && (($(field ops) == 30)) && (($(field errors) == 0)); }
check "--requests 30 stops after exactly 30 operations" exactly_30

run nouid --op get --uid no-such-object --conns 2 --seconds 1
check "unknown --uid: exit 1 and errors > 0" failed_run nouid
check "unknown --uid: stderr gives the Result Reason (Item Not Found)" \
	grep -q "Result Reason Item Not Found" "$T/nouid.err"

# the wrong CA: the server's certificate must be refused, whether in the set-up Create or
# in the run itself
timeout 60 "$BENCH" --port "$PORT" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--ca "$PKI/badca.crt" --op get --conns 2 --seconds 1 >"$T/badca.out" 2>"$T/badca.err"
RC=$?
check "wrong --ca: exit 1 (rc=$RC)" test "$RC" -eq 1
check "wrong --ca: says the server certificate was rejected, and why" grep -qxF \
	"coffre-bench: creating the key to read failed: TLS handshake with 127.0.0.1:$PORT failed: server certificate rejected: self-signed certificate in certificate chain (error:0A000086:SSL routines::certificate verify failed)" \
	"$T/badca.err"
timeout 60 "$BENCH" --port "$PORT" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--ca "$PKI/badca.crt" --op get --uid "$UID_OK" --conns 2 --seconds 1 \
	>"$T/badca2.out" 2>"$T/badca2.err"
RC=$?
check "wrong --ca during the run: exit 1 with errors > 0" \
	bash -c "(( $RC == 1 )) && grep -qE 'errors=[1-9]' '$T/badca2.out'"
check "wrong --ca during the run: the first error is the rejected server certificate" grep -qxF \
	"coffre-bench: first error: connection to 127.0.0.1:$PORT: TLS handshake failed: server certificate rejected: self-signed certificate in certificate chain (error:0A000086:SSL routines::certificate verify failed)" \
	"$T/badca2.err"

# a client certificate from a CA the server does not trust
timeout 60 "$BENCH" --port "$PORT" --cert "$PKI/badclient.crt" --key "$PKI/badclient.key" \
	--ca "$PKI/ca.crt" --op get --uid "$UID_OK" --conns 2 --seconds 1 \
	>"$T/badcl.out" 2>"$T/badcl.err"
RC=$?
sed 's/^/  [badclient] /' "$T/badcl.err"
check "client certificate the server refuses: exit 1 with errors > 0" \
	bash -c "(( $RC == 1 )) && grep -qE 'errors=[1-9]' '$T/badcl.out'"
check "client certificate the server refuses: the first error is the server's unknown-CA alert" grep -qxF \
	"coffre-bench: first error: connection to 127.0.0.1:$PORT: TLS handshake failed: error:0A000418:SSL routines::tlsv1 alert unknown ca" \
	"$T/badcl.err"

# a missing certificate file: set-up error, clear message, no run
timeout 60 "$BENCH" --port "$PORT" --cert "$T/missing.crt" --key "$PKI/client.key" \
	--ca "$PKI/ca.crt" --op get --conns 2 --seconds 1 >"$T/nocert.out" 2>"$T/nocert.err"
RC=$?
check "missing --cert file: exit 2" test "$RC" -eq 2
check "missing --cert file: names the file and the reason" \
	grep -q "cannot read client certificate $T/missing.crt: No such file or directory" "$T/nocert.err"

timeout 10 "$BENCH" --port "$PORT" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--ca "$PKI/ca.crt" --op bogus >/dev/null 2>"$T/usage.err"
RC=$?
check "unknown --op: usage error (exit 2)" test "$RC" -eq 2
check "unknown --op: names it" grep -qxF "coffre-bench: unknown --op 'bogus'" "$T/usage.err"

# nothing listening: a connection failure is an error, not a hang
DEAD=$(it_free_port)
timeout 60 "$BENCH" --port "$DEAD" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--ca "$PKI/ca.crt" --op get --uid 1 --conns 2 --seconds 1 >"$T/dead.out" 2>"$T/dead.err"
RC=$?
check "no server: exit 1, 'Connection refused' reported" \
	bash -c "(( $RC == 1 )) && grep -q 'Connection refused' '$T/dead.err'"

it_done
