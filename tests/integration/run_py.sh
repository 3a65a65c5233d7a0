#!/usr/bin/env bash
# Runs one Python integration test from the repository root and checks that it ended with its
# summary: tests/run-unit.sh runs every .py of SCRIPT_TESTS through it.
#   bash tests/integration/run_py.sh BUILD_DIR TEST.py [ARGS...]      (cwd: anywhere)
# The test gets BUILD_DIR then ARGS. Its output is passed through; when its last line is not
# "N passed, M failed", one more line "0 passed, 1 failed" follows and the exit status is 1.
# Otherwise the exit status is the test's, and 1 when the summary counts no check at all.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${1:?usage: $0 BUILD_DIR TEST.py [ARGS...]}
test=${2:?usage: $0 BUILD_DIR TEST.py [ARGS...]}
shift 2
name=$(basename "$test")
out=$(mktemp "/tmp/coffre-${name%.py}-out.XXXXXX")
trap 'rm -f "$out"' EXIT
/usr/bin/python3 -B -u "$test" "$build" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
last=$(tail -n1 "$out")
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' <<<"$last"; then
	echo "$name ended without its summary (rc=$rc)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [[ $last == "0 passed, 0 failed" ]]; then
	echo "$name ran no check"
	echo "0 passed, 1 failed"
	exit 1
fi
exit "$rc"
