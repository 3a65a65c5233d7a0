#!/usr/bin/env bash
# Regression replay (run by make test-unit through SCRIPT_TESTS, in every build): each fuzz
# target's replay tool over its hand-made seeds and kept crash inputs in tests/fuzz/corpus/,
# without libFuzzer. Prints "N passed, N failed" (one check per target).
#   tests/fuzz/replay.sh BUILD_DIR
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
pass=0 fail=0
for tool in "$build"/fuzz/replay_*; do
	[[ -x $tool ]] || continue
	t=${tool##*/replay_}
	dir=tests/fuzz/corpus/$t
	[[ -d $dir ]] || continue
	if out=$("$tool" "$dir" 2>&1); then
		echo "ok   replay $t: $out"
		pass=$((pass + 1))
	else
		echo "FAIL replay $t:"
		echo "$out" | tail -n 30
		fail=$((fail + 1))
	fi
done
((pass + fail > 0)) || { echo "replay: no replay tools in $build/fuzz"; fail=1; }
echo "$pass passed, $fail failed"
((fail == 0))
