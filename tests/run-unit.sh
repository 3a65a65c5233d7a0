#!/usr/bin/env bash
# Runs every unit-test binary and test script; prints each one's result and a closing
# "N passed, N failed" line (test cases, summed over cmocka binaries and scripts).
#   tests/run-unit.sh BUILD_DIR [BINARY...]     SCRIPT_TESTS="a.sh b.py" in the environment
# A script X.sh runs as `bash X.sh BUILD_DIR`, a Python test X.py as
# `bash tests/integration/run_py.sh BUILD_DIR X.py`. A binary or script that ran no test case
# fails: a cmocka binary without a "[  PASSED  ]" / "[  FAILED  ]" count or with a count of 0,
# a script whose output has no "N passed, M failed" line or whose line counts no check.
set -uo pipefail
build=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
[[ -f tests/lsan.supp ]] && export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}
: "${TEST_TIMEOUT:=600}"
passed=0 failed=0 bad_bins=()
logdir=$build/test-logs; mkdir -p "$logdir"

count() { # file -> adds cmocka counts
	local p f
	p=$(grep -aoE '^\[  PASSED  \] [0-9]+' "$1" | awk '{s+=$NF} END{print s+0}')
	f=$(grep -aoE '^\[  FAILED  \] [0-9]+ test' "$1" | awk '{s+=$(NF-1)} END{print s+0}')
	echo "$p $f"
}

for t in "$@"; do
	name=$(basename "$t")
	log=$logdir/$name.log
	start=$EPOCHREALTIME
	timeout -k 5 "$TEST_TIMEOUT" "$t" >"$log" 2>&1; rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
	read -r p f < <(count "$log")
	if ((rc == 0)) && ((p + f == 0)); then
		echo "$name ran no test case" >>"$log"; rc=1
	fi
	if ((rc != 0)) && ((f == 0)); then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if ((rc == 0)); then
		printf 'ok   %-32s %4d tests  %6.2fs\n' "$name" "$p" "$secs" 2>/dev/null || echo "ok   $name $p"
	else
		printf 'FAIL %-32s rc=%d (log: %s)\n' "$name" "$rc" "$log"
		tail -n 40 "$log" | sed 's/^/     | /'
		bad_bins+=("$name")
	fi
done

for s in ${SCRIPT_TESTS:-}; do
	name=$(basename "$s")
	log=$logdir/$name.log
	if [[ $s == *.py ]]; then
		timeout -k 5 "$TEST_TIMEOUT" bash tests/integration/run_py.sh "$build" "$s" >"$log" 2>&1; rc=$?
	else
		timeout -k 5 "$TEST_TIMEOUT" bash "$s" "$build" >"$log" 2>&1; rc=$?
	fi
	line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
	p=$(awk '{print $1}' <<<"${line:-0 passed, 0 failed}")
	f=$(awk '{print $3}' <<<"${line:-0 passed, 0 failed}")
	if ((rc == 0)) && [[ -z $line ]]; then
		echo "$name printed no \"N passed, M failed\" line" >>"$log"; rc=1
	elif ((rc == 0)) && ((p + f == 0)); then
		echo "$name ran no check" >>"$log"; rc=1
	fi
	if ((rc != 0)) && ((f == 0)); then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if ((rc == 0)); then
		printf 'ok   %-32s %4d checks\n' "$name" "$p"
	else
		printf 'FAIL %-32s rc=%d (log: %s)\n' "$name" "$rc" "$log"
		tail -n 40 "$log" | sed 's/^/     | /'
		bad_bins+=("$name")
	fi
done

echo "unit tests ($build): $passed passed, $failed failed"
echo "$passed $failed" > "$build/test-summary"
echo "$passed passed, $failed failed"
((${#bad_bins[@]} == 0))
