#!/usr/bin/env bash
# TLS misuse against a real coffred: no client certificate, a certificate from another CA
# (TLS 1.2 and 1.3), TLS 1.0 / 1.1, a handshake that stalls, a probe that closes right after
# the handshake; every one is refused or absorbed, and the server keeps serving a good client.
#   bash tests/integration/test_tls_misuse.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
it_init "$1"

D=$IT_TMP/qa
it_provision "$D" || { bad "provision"; it_done; exit 1; }
# prepare DESC FILE COMMAND...: COMMAND must succeed and leave FILE non-empty, else the test
# stops here (every refusal below relies on these certificates)
prepare() {
	local d=$1 f=$2; shift 2
	if "$@" >"$IT_TMP/prepare.out" 2>&1 && [[ -s $f ]]; then
		ok "set-up: $d"
	else
		bad "set-up: $d ($f)"; sed 's/^/   | /' "$IT_TMP/prepare.out" | tail -5
		it_done; exit 1
	fi
}
prepare "a self-signed client certificate with subject CN=qa" "$IT_TMP/other.crt" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=qa \
	-keyout "$IT_TMP/other.key" -out "$IT_TMP/other.crt" -days 2
# a second CA, and a client certificate from it carrying the same subject as qa
prepare "a second CA with the QA CA's subject" "$IT_TMP/ca2.crt" \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Coffre QA CA" \
	-keyout "$IT_TMP/ca2.key" -out "$IT_TMP/ca2.crt" -days 2
prepare "a CSR for CN=qa" "$IT_TMP/forged.csr" \
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=qa \
	-keyout "$IT_TMP/forged.key" -out "$IT_TMP/forged.csr"
prepare "the second CA signs it" "$IT_TMP/forged.crt" \
	openssl x509 -req -in "$IT_TMP/forged.csr" -CA "$IT_TMP/ca2.crt" -CAkey "$IT_TMP/ca2.key" \
	-CAcreateserial -days 2 -out "$IT_TMP/forged.crt"
for f in other.key forged.key; do
	[[ -s $IT_TMP/$f ]] || { bad "set-up: $IT_TMP/$f written"; it_done; exit 1; }
done
check "set-up: the forged certificate does not chain to the appliance CA" \
	bash -c "! openssl verify -CAfile '$D/pki/ca.crt' '$IT_TMP/forged.crt' >/dev/null 2>&1"
check "set-up: ... and has the same subject and issuer as qa.crt" test \
	"$(openssl x509 -noout -subject -issuer -in "$IT_TMP/forged.crt")" = \
	"$(openssl x509 -noout -subject -issuer -in "$D/pki/qa.crt")"

it_start srv "$D/coffred.conf" --port 0
if ! it_ready srv; then
	bad "coffred ready"; sed 's/^/   | /' "$IT_TMP/srv.err"; it_done; exit 1
fi
P=$IT_PORT
GOOD=(-cert "$D/pki/qa.crt" -key "$D/pki/qa.key")

check "good client, TLS 1.2" it_tls "$D" "$P" -tls1_2 "${GOOD[@]}"
check "good client, TLS 1.3" it_tls "$D" "$P" -tls1_3 "${GOOD[@]}"

# server_saw REASON N: coffred logs its N-th "TLS handshake failed: ...REASON" line (within 5 s)
server_saw() {
	local why=$1 n=$2 i
	for ((i = 0; i < 50; i++)); do
		(($(grep -cF "TLS handshake failed: $why" "$IT_TMP/srv.err") >= n)) && return 0
		sleep 0.1
	done
	return 1
}
# refused DESC ALERT SERVER_REASON ARGS...: the s_client handshake fails with exactly this alert
# from the server ("sslv3 alert handshake failure", as OpenSSL names it) and coffred logs the
# reason for one more failed handshake
refused() {
	local d=$1 alert=$2 why=$3 n; shift 3
	n=$(($(grep -cF "TLS handshake failed: $why" "$IT_TMP/srv.err") + 1))
	if it_tls "$D" "$P" "$@"; then
		bad "$d: the handshake succeeded"; sed 's/^/   | /' "$IT_TMP/s_client.out" | tail -5
	elif ! grep -qF ":$alert:" "$IT_TMP/s_client.out"; then
		bad "$d: not with the alert \"$alert\""; grep -i 'error' "$IT_TMP/s_client.out" | sed 's/^/   | /' | tail -3
	elif ! server_saw "$why" "$n"; then
		bad "$d: coffred did not log \"TLS handshake failed: $why\""; tail -3 "$IT_TMP/srv.err" | sed 's/^/   | /'
	else
		ok "$d ($alert; coffred: $why)"
	fi
}
NO_CERT="error:0A0000C7:SSL routines::peer did not return a certificate"
SELF_SIGNED="error:0A000086:SSL routines::certificate verify failed (self-signed certificate)"
BAD_SIG="error:0A000086:SSL routines::certificate verify failed (certificate signature failure)"
OLD_TLS="error:0A000102:SSL routines::unsupported protocol"
refused "no client certificate (TLS 1.2) is refused" "sslv3 alert handshake failure" "$NO_CERT" -tls1_2
refused "a self-signed client certificate is refused" "tlsv1 alert unknown ca" "$SELF_SIGNED" \
	-tls1_2 -cert "$IT_TMP/other.crt" -key "$IT_TMP/other.key"
# the forged certificate names the QA CA as its issuer: its signature is checked against the
# QA CA's key, and fails
refused "a certificate from another CA (same DNs) is refused" "tlsv1 alert decrypt error" "$BAD_SIG" \
	-tls1_2 -cert "$IT_TMP/forged.crt" -key "$IT_TMP/forged.key"
refused "TLS 1.1 is refused" "tlsv1 alert protocol version" "$OLD_TLS" \
	-tls1_1 -cipher 'DEFAULT@SECLEVEL=0' "${GOOD[@]}"
refused "TLS 1.0 is refused" "tlsv1 alert protocol version" "$OLD_TLS" \
	-tls1 -cipher 'DEFAULT@SECLEVEL=0' "${GOOD[@]}"

# TLS 1.3: the client finishes its side first; the refusal arrives as an alert on first read.
# tls13_refused ALERT [CERT KEY]: the first read fails with this OpenSSL reason (the alert)
tls13_refused() {
	/usr/bin/python3 - "$P" "$D/pki/ca.crt" "$@" <<'PY'
import socket, ssl, sys
port, ca, want = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.check_hostname = False
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    t = ctx.wrap_socket(s)
    t.settimeout(5)
    # Discover Versions, so that an accepted client gets an answer instead of a timeout
    t.sendall(bytes.fromhex("42007801000000604200770100000038420069010000002042006a02000000040000000100000000"
        "42006b0200000004000000010000000042000d0200000004000000010000000042000f0100000018"
        "42005c05000000040000001e000000004200790100000000"))
    data = t.recv(8)
    print("   | %s" % ("answered: %s" % data.hex() if data else "EOF without an alert"))
    sys.exit(1)
except ssl.SSLError as e:
    if e.reason == want:
        sys.exit(0)
    print("   | %s (want %s)" % (e, want))
    sys.exit(1)
except (OSError, socket.timeout) as e:
    print("   | %s: %s (want the alert %s)" % (type(e).__name__, e, want))
    sys.exit(1)
PY
}
check "no client certificate (TLS 1.3) is refused with TLSV13_ALERT_CERTIFICATE_REQUIRED" \
	tls13_refused TLSV13_ALERT_CERTIFICATE_REQUIRED
check "... and coffred logs it" server_saw "$NO_CERT" 2
check "a self-signed client certificate (TLS 1.3) is refused with TLSV1_ALERT_UNKNOWN_CA" \
	tls13_refused TLSV1_ALERT_UNKNOWN_CA "$IT_TMP/other.crt" "$IT_TMP/other.key"
check "... and coffred logs it" server_saw "$SELF_SIGNED" 2
check "a certificate from another CA (TLS 1.3) is refused with TLSV1_ALERT_DECRYPT_ERROR" \
	tls13_refused TLSV1_ALERT_DECRYPT_ERROR "$IT_TMP/forged.crt" "$IT_TMP/forged.key"
check "... and coffred logs it" server_saw "$BAD_SIG" 2

# a client that opens TCP and never starts the handshake must not delay others
exec 7<>"/dev/tcp/127.0.0.1/$P"
exec 8<>"/dev/tcp/127.0.0.1/$P"
printf '\x16\x03\x01\x00' >&8   # half a ClientHello record header
t0=$EPOCHREALTIME
check "a stalled handshake does not block a good client" it_tls "$D" "$P" -tls1_3 "${GOOD[@]}"
dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", (b-a)*1000}')
check "... which completes in under 2 s (${dt} ms)" test "$dt" -lt 2000
exec 7>&- 8>&-

# probes: handshake then immediate close, several in parallel
probes=()
for i in 1 2 3 4 5 6; do
	(IT_TMP=$IT_TMP/probe$i; mkdir -p "$IT_TMP"; it_tls "$D" "$P" "${GOOD[@]}") &
	probes+=($!)
done
wait_fail=0
for j in "${probes[@]}"; do wait "$j" || wait_fail=1; done
check "six parallel probe connections (handshake, close) all succeed" test "$wait_fail" = 0

check "coffred is still running" kill -0 "$IT_PID"
check "the server keeps serving a good client afterwards" it_tls "$D" "$P" -tls1_2 "${GOOD[@]}"
check "no crash markers in the log" bash -c "! grep -qiE 'sanitizer|segv|abort' '$IT_TMP/srv.err'"
it_stop "$IT_PID" 5
check "clean stop after the abuse (rc=$IT_RC)" test "$IT_RC" = 0
it_done
