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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=qa \
	-keyout "$IT_TMP/other.key" -out "$IT_TMP/other.crt" -days 2 >/dev/null 2>&1
# a second CA, and a client certificate from it carrying the same subject as qa
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Coffre QA CA" \
	-keyout "$IT_TMP/ca2.key" -out "$IT_TMP/ca2.crt" -days 2 >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=qa \
	-keyout "$IT_TMP/forged.key" -out "$IT_TMP/forged.csr" >/dev/null 2>&1
openssl x509 -req -in "$IT_TMP/forged.csr" -CA "$IT_TMP/ca2.crt" -CAkey "$IT_TMP/ca2.key" \
	-CAcreateserial -days 2 -out "$IT_TMP/forged.crt" >/dev/null 2>&1

it_start srv "$D/coffred.conf" --port 0
if ! it_ready srv; then
	bad "coffred ready"; sed 's/^/   | /' "$IT_TMP/srv.err"; it_done; exit 1
fi
P=$IT_PORT
GOOD=(-cert "$D/pki/qa.crt" -key "$D/pki/qa.key")

check "good client, TLS 1.2" it_tls "$D" "$P" -tls1_2 "${GOOD[@]}"
check "good client, TLS 1.3" it_tls "$D" "$P" -tls1_3 "${GOOD[@]}"

refused() { # refused DESC ARGS...: the handshake fails
	local d=$1; shift
	if it_tls "$D" "$P" "$@"; then bad "$d"; sed 's/^/   | /' "$IT_TMP/s_client.out" | tail -5
	else ok "$d"; fi
}
refused "no client certificate (TLS 1.2) is refused" -tls1_2
refused "a self-signed client certificate is refused" -tls1_2 -cert "$IT_TMP/other.crt" -key "$IT_TMP/other.key"
refused "a certificate from another CA (same DNs) is refused" -tls1_2 -cert "$IT_TMP/forged.crt" -key "$IT_TMP/forged.key"
refused "TLS 1.1 is refused" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' "${GOOD[@]}"
refused "TLS 1.0 is refused" -tls1 -cipher 'DEFAULT@SECLEVEL=0' "${GOOD[@]}"
check "... with a protocol version alert" grep -q 'alert protocol version' "$IT_TMP/s_client.out"

# TLS 1.3: the client finishes its side first; the refusal arrives as an alert on first read.
tls13_refused() { # CERT KEY (empty = none)
	/usr/bin/python3 - "$P" "$D/pki/ca.crt" "$@" <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.check_hostname = False
if len(sys.argv) > 4:
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    t = ctx.wrap_socket(s)
    t.settimeout(5)
    # Discover Versions, so that an accepted client gets an answer instead of a timeout
    t.sendall(bytes.fromhex("42007801000000604200770100000038420069010000002042006a02000000040000000100000000"
        "42006b0200000004000000010000000042000d0200000004000000010000000042000f0100000018"
        "42005c05000000040000001e000000004200790100000000"))
    data = t.recv(8)
    sys.exit(0 if not data else 1)   # EOF without a response: refused
except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
    sys.exit(0)
except socket.timeout:
    sys.exit(1)
PY
}
check "no client certificate (TLS 1.3) is refused" tls13_refused
check "a certificate from another CA (TLS 1.3) is refused" tls13_refused "$IT_TMP/forged.crt" "$IT_TMP/forged.key"

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
