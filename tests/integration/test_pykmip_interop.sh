#!/usr/bin/env bash
# PyKMIP client interop over real mutual TLS (test_pykmip_interop.py does the work), with two
# clients in two tenants (qa, qa2).
#   bash tests/integration/test_pykmip_interop.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
it_init "$1"
D=$IT_TMP/qa
it_provision "$D" --clients 2 || { bad "provision"; it_done; exit 1; }
it_start srv "$D/coffred.conf" --port 0
if ! it_ready srv; then
	bad "coffred ready"; sed 's/^/   | /' "$IT_TMP/srv.err"; it_done; exit 1
fi
/usr/bin/python3 tests/integration/test_pykmip_interop.py "$IT_PORT" "$D/pki" \
	2>"$IT_TMP/pykmip.err" | tee "$IT_TMP/interop.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$IT_TMP/interop.out" | tail -n1)
IT_PASS=$((IT_PASS + $(awk '{print $1}' <<<"${line:-0 passed, 1 failed}")))
IT_FAIL=$((IT_FAIL + $(awk '{print $3}' <<<"${line:-0 passed, 1 failed}")))
check "coffred still running after the PyKMIP client" kill -0 "$IT_PID"
it_stop "$IT_PID" 5
check "clean stop (rc=$IT_RC)" test "$IT_RC" = 0
if ((IT_FAIL != 0)); then
	tail -n 20 "$IT_TMP/pykmip.err" | sed 's/^/   py| /'
	tail -n 30 "$IT_TMP/srv.err" | sed 's/^/   srv| /'
fi
it_done
