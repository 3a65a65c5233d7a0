#!/usr/bin/env bash
# dual control (backup export, zeroize) and a restore of the export over a real pty (see the .py)
#   bash tests/integration/test_console_dual.sh BUILD_DIR [ARGS...]      (cwd: anywhere; runs from the repo root)
# Prints "N passed, M failed" last; exit 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${1:?usage: $0 BUILD_DIR}; shift
out=$(mktemp /tmp/coffre-robust-out.XXXXXX)
trap 'rm -f "$out"' EXIT
/usr/bin/python3 -B -u tests/integration/test_console_dual.py "$build" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if ! tail -n1 "$out" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
	echo "test_console_dual.py ended without its summary (rc=$rc)"
	echo "0 passed, 1 failed"
	exit 1
fi
exit "$rc"
