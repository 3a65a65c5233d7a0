#!/usr/bin/env bash
# secrets at rest: no key bytes and no HSM PIN in any file of the instance, the captured
# stderr or the store's rows (audit included) after a Create/Register/Get run (see the .py)
#   bash tests/integration/test_secrets.sh BUILD_DIR [ARGS...]      (cwd: anywhere; runs from the repo root)
# Prints "N passed, M failed" last; exit 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${1:?usage: $0 BUILD_DIR}; shift
out=$(mktemp /tmp/coffre-robust-out.XXXXXX)
trap 'rm -f "$out"' EXIT
/usr/bin/python3 -B -u tests/integration/test_secrets.py "$build" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if ! tail -n1 "$out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
	echo "test_secrets.py ended without its summary (rc=$rc)"
	echo "0 passed, 1 failed"
	exit 1
fi
exit "$rc"
