#!/usr/bin/env bash
# coffred boot and states, end to end: provision, ready line, clean SIGTERM, refusal to
# re-provision, SEALED without pin_file, config errors with FILE:LINE, unsafe pin_file, and
# a failed power-up self-test (test-hooks build) that refuses to serve.
#   bash tests/integration/test_boot.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
it_init "$1"

# refusal RC WANT_RC LINE FILE: the exit status is WANT_RC and LINE is a whole line of FILE
refusal() {
	(($1 == $2)) && grep -qxF -- "$3" "$4" && return 0
	echo "   | rc=$1 (want $2), want the line: $3"; sed 's/^/   | /' "$4" | tail -n 4
	return 1
}

D=$IT_TMP/qa
check "provision --qa creates an instance" it_provision "$D"
for f in coffred.conf softhsm2.conf hsm.pin hsm-so.pin pki/ca.crt pki/server.crt pki/qa.crt pki/qa.key; do
	[[ -f $D/$f ]] || bad "provision wrote $f"
done
check "hsm.pin, hsm-so.pin and qa.key are mode 0600" \
	test "$(stat -c %a "$D/hsm.pin" "$D/hsm-so.pin" "$D/pki/qa.key" | sort -u)" = 600
check "server and client certificates chain to the CA" \
	openssl verify -CAfile "$D/pki/ca.crt" "$D/pki/server.crt" "$D/pki/qa.crt"

sum_before=$(sha256sum "$D/coffred.conf" "$D/hsm.pin")
"$COFFRED" provision --qa "$D" >"$IT_TMP/reprov.log" 2>&1; rc=$?
check "provisioning an existing instance is refused (exit 1, the reason on stderr)" refusal "$rc" 1 \
	"coffred: provision: $D already holds an instance (coffred.conf exists); refusing to touch it" \
	"$IT_TMP/reprov.log"
check "... and leaves it untouched" test "$sum_before" = "$(sha256sum "$D/coffred.conf" "$D/hsm.pin")"
check "coffre provision runs coffred provision" \
	bash -c "'$COFFRE' provision --qa '$IT_TMP/qa-via-coffre' >/dev/null 2>&1 && test -f '$IT_TMP/qa-via-coffre/pki/qa.crt'"

# ---- READY, serve, clean stop -----------------------------------------------------------
it_start boot "$D/coffred.conf" --port 0
if it_ready boot; then
	ok "ready line on stderr (port $IT_PORT)"
	check "mutual TLS handshake with qa.crt" it_tls "$D" "$IT_PORT" -cert "$D/pki/qa.crt" -key "$D/pki/qa.key"
	t0=$SECONDS
	it_stop "$IT_PID" 5; rc=$IT_RC
	check "SIGTERM stops cleanly with exit 0 within 5 s (rc=$rc, $((SECONDS - t0)) s)" test "$rc" = 0
	check "... and says so" grep -q '^coffred: stopped' "$IT_TMP/boot.err"
	check "the store was created 0600" test "$(stat -c %a "$D/data/store.db")" = 600
else
	bad "ready line on stderr"; sed 's/^/   | /' "$IT_TMP/boot.err"
fi

# ---- RSA server key in the HSM (--server-key rsa), used through the pkcs11 engine ---------
R=$IT_TMP/qa-rsa
check "provision --qa --server-key rsa" it_provision "$R" --server-key rsa
check "... the server certificate holds an RSA key" \
	bash -c "openssl x509 -in '$R/pki/server.crt' -noout -text | grep -q 'Public Key Algorithm: rsaEncryption'"
it_start rsa "$R/coffred.conf" --port 0
if it_ready rsa; then
	check "... mutual TLS 1.2 handshake with an ECDHE-RSA suite" it_tls "$R" "$IT_PORT" -tls1_2 \
		-cert "$R/pki/qa.crt" -key "$R/pki/qa.key"
	check "... which the server signed with its RSA key" grep -q 'Cipher is ECDHE-RSA' "$IT_TMP/s_client.out"
	check "... and KMIP is served (Discover Versions + Get on new connections)" \
		"$IT_BUILD/coffre-bench" --host 127.0.0.1 --port "$IT_PORT" --cert "$R/pki/qa.crt" \
		--key "$R/pki/qa.key" --ca "$R/pki/ca.crt" --op vcenter --conns 2 --requests 10 --seconds 0
	it_stop "$IT_PID" 5
	check "... SIGTERM stops it (rc=$IT_RC)" test "$IT_RC" = 0
else
	bad "RSA instance ready"; sed 's/^/   | /' "$IT_TMP/rsa.err"
fi

# ---- Suite B (KMIP profiles 1.4): minLOS_128 with the default EC P-256 keys, minLOS_192 with
# --server-key ec-p384 (CA and server keys P-384, certificates signed ECDSA-SHA384) -----------
it_start suiteb "$D/coffred.conf" --port 0
if it_ready suiteb; then
	check "Suite B minLOS_128 (default keys): TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 on P-256" \
		it_tls "$D" "$IT_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -curves P-256 \
		-sigalgs ECDSA+SHA256 -cert "$D/pki/qa.crt" -key "$D/pki/qa.key"
	check "... the default keys cannot do minLOS_192 (a P-384-only client is refused)" \
		bash -c "! timeout 10 openssl s_client -connect 127.0.0.1:$IT_PORT -tls1_2 \
		-cipher ECDHE-ECDSA-AES256-GCM-SHA384 -curves P-384 -sigalgs ECDSA+SHA384 \
		-cert '$D/pki/qa.crt' -key '$D/pki/qa.key' -CAfile '$D/pki/ca.crt' </dev/null \
		>/dev/null 2>&1"
	it_stop "$IT_PID" 5
else
	bad "default instance ready again"; sed 's/^/   | /' "$IT_TMP/suiteb.err"
fi
S=$IT_TMP/qa-p384
check "provision --qa --server-key ec-p384" it_provision "$S" --server-key ec-p384
check "... the CA and server certificates hold P-384 keys, signed ECDSA-SHA384" \
	bash -c "for c in ca server; do openssl x509 -in '$S/pki/'\$c.crt -noout -text |
		grep -q 'NIST CURVE: P-384' || exit 1; openssl x509 -in '$S/pki/'\$c.crt -noout -text |
		grep -q 'Signature Algorithm: ecdsa-with-SHA384' || exit 1; done"
it_start p384 "$S/coffred.conf" --port 0
if it_ready p384; then
	check "Suite B minLOS_192: TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384 on P-384, ECDSA+SHA384" \
		it_tls "$S" "$IT_PORT" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 -curves P-384 \
		-sigalgs ECDSA+SHA384 -cert "$S/pki/qa.crt" -key "$S/pki/qa.key"
	check "... the server's temporary key is P-384" grep -q 'Server Temp Key: ECDH, secp384r1' \
		"$IT_TMP/s_client.out"
	check "... and KMIP is served" \
		"$IT_BUILD/coffre-bench" --host 127.0.0.1 --port "$IT_PORT" --cert "$S/pki/qa.crt" \
		--key "$S/pki/qa.key" --ca "$S/pki/ca.crt" --op vcenter --conns 2 --requests 10 --seconds 0
	it_stop "$IT_PID" 5
	check "... SIGTERM stops it (rc=$IT_RC)" test "$IT_RC" = 0
else
	bad "P-384 instance ready"; sed 's/^/   | /' "$IT_TMP/p384.err"
fi

# ---- SEALED: no pin_file ------------------------------------------------------------------
grep -v '^pin_file' "$D/coffred.conf" >"$D/sealed.conf"
port=$(it_free_port)
it_start sealed "$D/sealed.conf" --port "$port"
if it_wait_line sealed 'SEALED' 15; then
	ok "without pin_file the instance is SEALED"
	sleep 0.3
	check "... KMIP is refused (nothing listens on $port)" it_port_closed "$port"
	check "... and no ready line" bash -c "! grep -q '^coffred: ready' '$IT_TMP/sealed.err'"
	it_stop "$IT_PID" 5; rc=$IT_RC
	check "... SIGTERM stops it (rc=$rc)" test "$rc" = 0
else
	bad "without pin_file the instance is SEALED"; sed 's/^/   | /' "$IT_TMP/sealed.err"
fi

# ---- config errors -----------------------------------------------------------------------
printf '[service]\ndata_dir = data\n[kmip]\nport = not-a-port\n' >"$D/bad.conf"
timeout 10 "$COFFRED" -c "$D/bad.conf" >/dev/null 2>"$IT_TMP/bad.err"; rc=$?
check "a corrupt config exits 1 with FILE:LINE and the rule" refusal "$rc" 1 \
	"coffred: $D/bad.conf:4: [kmip] port: expected an integer in 1..65535" "$IT_TMP/bad.err"
printf '[kmip]\nport = 5696\n[nonsense]\n' >"$D/bad2.conf"
timeout 10 "$COFFRED" -c "$D/bad2.conf" >/dev/null 2>"$IT_TMP/bad2.err"; rc=$?
check "an unknown section exits 1 with bad2.conf:3" refusal "$rc" 1 \
	"coffred: $D/bad2.conf:3: unknown section [nonsense]" "$IT_TMP/bad2.err"
timeout 10 "$COFFRED" -c "$D/does-not-exist.conf" >/dev/null 2>"$IT_TMP/bad3.err"; rc=$?
check "a missing config exits 1" refusal "$rc" 1 \
	"coffred: $D/does-not-exist.conf: cannot open: No such file or directory" "$IT_TMP/bad3.err"
chmod 0644 "$D/hsm.pin"
timeout 10 "$COFFRED" -c "$D/coffred.conf" --port 0 >/dev/null 2>"$IT_TMP/pinperm.err"; rc=$?
chmod 0600 "$D/hsm.pin"
pin_line=$(grep -n '^pin_file' "$D/coffred.conf" | cut -d: -f1)
check "a group/world-readable pin_file is refused (exit 1, the rule)" refusal "$rc" 1 \
	"coffred: $D/coffred.conf:$pin_line: [hsm] pin_file $D/hsm.pin must be a regular file owned by this user, mode 0600" \
	"$IT_TMP/pinperm.err"

# ---- failed self-test (test-hooks build) ---------------------------------------------------
TH=$IT_BUILD/tests/coffred_th
if [[ -x $TH ]]; then
	port=$(it_free_port)
	COFFRE_TEST_SELFTEST_FAIL=aes-gcm-kat "$TH" -c "$D/coffred.conf" --port "$port" \
		2>"$IT_TMP/st.err" </dev/null >/dev/null &
	IT_PID=$!; IT_PIDS+=("$IT_PID")
	if it_wait_line st 'ERROR' 15; then
		ok "a failed power-up self-test latches ERROR"
		check "... naming the test" grep -q 'self-test aes-gcm-kat failed' "$IT_TMP/st.err"
		sleep 0.3
		check "... and KMIP is not served" it_port_closed "$port"
		check "... no ready line" bash -c "! grep -q '^coffred: ready' '$IT_TMP/st.err'"
		check "... the error is kept in the error log" grep -q 'aes-gcm-kat' "$D/data/error.log"
		it_stop "$IT_PID" 5; rc=$IT_RC
		check "... SIGTERM exits with 3 (stopped in ERROR; rc=$rc)" test "$rc" = 3
	else
		bad "a failed power-up self-test latches ERROR"; sed 's/^/   | /' "$IT_TMP/st.err"
	fi
else
	bad "the self-test hook case needs $TH (make build-tests)"
fi

it_done
