#!/usr/bin/env bash
# vCenter 7.0.3 replay over real mutual TLS (test_vcenter_replay.py does the work).
#   bash tests/integration/test_vcenter_replay.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/integration/lib.sh
it_init "$1"
D=$IT_TMP/qa
it_provision "$D" || { bad "provision"; it_done; exit 1; }
it_start srv "$D/coffred.conf" --port 0
if ! it_ready srv; then
	bad "coffred ready"; sed 's/^/   | /' "$IT_TMP/srv.err"; it_done; exit 1
fi
/usr/bin/python3 tests/integration/test_vcenter_replay.py "$IT_PORT" "$D/pki/ca.crt" \
	"$D/pki/qa.crt" "$D/pki/qa.key" | tee "$IT_TMP/replay.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$IT_TMP/replay.out" | tail -n1)
IT_PASS=$((IT_PASS + $(awk '{print $1}' <<<"${line:-0 passed, 1 failed}")))
IT_FAIL=$((IT_FAIL + $(awk '{print $3}' <<<"${line:-0 passed, 1 failed}")))
check "coffred still running after the replay" kill -0 "$IT_PID"
it_stop "$IT_PID" 5
check "clean stop (rc=$IT_RC)" test "$IT_RC" = 0
((IT_FAIL == 0)) || tail -n 30 "$IT_TMP/srv.err" | sed 's/^/   srv| /'
it_done
