#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time and reports its figures (make fuzz,
# make test-fuzz-short; see tests/fuzz/fuzz.mk).
#   tests/fuzz/run.sh short|long FUZZ_BUILD BUILD SECONDS TARGET...
# short: new inputs go to a scratch dir ($BUILD/fuzz-short/<t>), the seed corpus is not changed.
# long:  the corpus grows in $BUILD/fuzz-corpus/<t>.
# Fails on any crash, leak, UB report or timeout (the input is kept in $BUILD/fuzz-artifacts/);
# prints per target: executions, exec/s (libFuzzer's final stat:: lines), corpus size.
# FUZZ_JOBS (default nproc) targets run at once, each for the full SECONDS.
set -uo pipefail
mode=$1 fbuild=$2 build=$3 secs=$4; shift 4
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
min_eps=${FUZZ_MIN_EXEC_PER_SEC:-1000}
# FUZZ_JOBS targets at a time (default: the number of cores; each target is one process)
jobs=${FUZZ_JOBS:-$(nproc)}
resdir=$(mktemp -d "${TMPDIR:-/tmp}/coffre-fuzz.XXXXXX")
trap 'rm -rf "$resdir"' EXIT

# One target: its output into $resdir/<t>.out, its verdict into $resdir/<t>.res
# ("ok LINE", "slow LINE" or "failed LINE").
run_one() {
	local t=$1 bin corpus art logdir log dict scratch rc execs eps rss done_line ncorp line
	local -a dirs=()
	bin=$fbuild/fuzz/fuzz_$t
	corpus=$build/fuzz-corpus/$t
	art=$build/fuzz-artifacts/$t
	logdir=$build/fuzz-logs
	mkdir -p "$corpus" "$art" "$logdir"
	log=$logdir/$t.$mode.log
	# the target's own dictionary where it has one (config.dict), else the KMIP one
	dict=tests/fuzz/dict/$t.dict
	[[ -f $dict ]] || dict=tests/fuzz/dict/kmip.dict
	if [[ $mode == short ]]; then
		scratch=$build/fuzz-short/$t
		rm -rf "$scratch"; mkdir -p "$scratch"
		dirs=("$scratch" "$corpus")
	else
		dirs=("$corpus")
	fi
	[[ -d tests/fuzz/corpus/$t ]] && dirs+=("tests/fuzz/corpus/$t")
	if [[ ! -x $bin ]]; then
		echo "fuzz: $bin missing (build with SAN=fuzz)"
		echo "failed $t (missing)" >"$resdir/$t.res"
		return
	fi
	echo "fuzz: $t for ${secs}s: $bin -dict=$dict ${dirs[*]}"
	"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=5 -max_len=16384 \
		-print_final_stats=1 -dict="$dict" -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	execs=$(awk '/^stat::number_of_executed_units:/{print $2}' "$log" | tail -n1)
	eps=$(awk '/^stat::average_exec_per_sec:/{print $2}' "$log" | tail -n1)
	rss=$(awk '/^stat::peak_rss_mb:/{print $2}' "$log" | tail -n1)
	if [[ -z $execs ]]; then # no final stats (crash): the last status line "#N ... exec/s: E"
		execs=$(grep -aoE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
		eps=$(grep -aoE 'exec/s: [0-9]+' "$log" | tail -n1 | awk '{print $2}')
	fi
	done_line=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1)
	ncorp=$(find "${dirs[0]}" -type f | wc -l)
	line=$(printf '%-14s %12s execs  %8s exec/s  peak %5s MB  %s  corpus[%s] %d files' \
		"$t" "${execs:-?}" "${eps:-?}" "${rss:-?}" "rc=$rc" "${dirs[0]}" "$ncorp")
	echo "fuzz: $line"
	[[ -n $done_line ]] && echo "fuzz:   libFuzzer: $done_line"
	if ((rc != 0)); then
		echo "fuzz: $t FAILED (rc=$rc); log $log; artifacts:"
		ls -1 "$art" | sed "s|^|fuzz:   $art/|"
		grep -aE 'ERROR|SUMMARY|==[0-9]+==|#[0-9]+ 0x' "$log" | head -n 40 | sed 's/^/     | /'
		echo "failed $line" >"$resdir/$t.res"
	elif [[ -n $eps ]] && ((eps < min_eps)); then
		echo "slow $line" >"$resdir/$t.res"
	else
		echo "ok $line" >"$resdir/$t.res"
	fi
}

running=0
for t in "$@"; do
	if ((running >= jobs)); then
		wait -n
		running=$((running - 1))
	fi
	run_one "$t" >"$resdir/$t.out" 2>&1 &
	running=$((running + 1))
done
wait
failed=() slow=() summary=()
for t in "$@"; do   # in the targets' order, whatever order they finished in
	cat "$resdir/$t.out"
	read -r verdict line <"$resdir/$t.res" || { verdict=failed; line="$t (no result)"; }
	[[ $verdict == failed && $line == *"(missing)"* ]] || summary+=("$line")
	case $verdict in
	failed) failed+=("$t") ;;
	slow) slow+=("$t") ;;
	esac
done
echo "fuzz ($mode, ${secs}s per target):"
for l in "${summary[@]}"; do echo "  $l"; done
for t in "${slow[@]}"; do
	echo "fuzz: WARNING $t below $min_eps exec/s (shared machine?)"
done
if ((${#failed[@]} > 0)); then
	echo "fuzz: FAILED: ${failed[*]}"
	exit 1
fi
echo "fuzz: all ${#summary[@]} targets passed"
