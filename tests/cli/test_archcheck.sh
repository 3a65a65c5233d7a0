#!/usr/bin/env bash
# tools/archcheck.py (make lint) catches what docs/architecture.md forbids: the real map passes;
# a map without an edge the code uses, with a cycle, or without the long-function row fails,
# naming the violation.
#   bash tests/cli/test_archcheck.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${1:?usage: $0 BUILD_DIR}
pass=0 fail=0
t=$(mktemp -d /tmp/coffre-archcheck.XXXXXX)
trap 'rm -rf "$t"' EXIT
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# check NAME WANT_RC GREP_PATTERN DOC
check() {
	local name=$1 want=$2 pat=$3 doc=$4 out rc
	out=$(/usr/bin/python3 tools/archcheck.py --doc "$doc" "$build" 2>&1)
	rc=$?
	if [[ $rc -ne $want ]]; then
		bad "$name: exit $rc, wanted $want"; echo "$out" | tail -n 5 | sed 's/^/     | /'
	elif ! grep -qE -- "$pat" <<<"$out"; then
		bad "$name: no line matching '$pat'"; echo "$out" | tail -n 5 | sed 's/^/     | /'
	else
		ok "$name"
	fi
}

check "the real map: no violation" 0 ' 0 violation\(s\)$' docs/architecture.md
# ops uses net (struct net_conn_info, held responses): drop that edge
sed 's/^| `ops` | net, /| `ops` | /' docs/architecture.md >"$t/no-edge.md"
check "ops without its net edge: the include and the calls are named" 1 \
	'firmware/ops/.*edge ops -> net is not allowed' "$t/no-edge.md"
sed 's/^| `store` | board, kmip |/| `store` | board, kmip, backup |/' docs/architecture.md >"$t/cycle.md"
check "a table with a cycle" 1 'edge table has a cycle: .*store -> backup -> store|backup -> store -> backup' \
	"$t/cycle.md"
grep -v '^| `tools/coffre_bench.c` | `bench_args` |' docs/architecture.md >"$t/no-long.md"
check "bench_args off the long-function list" 1 'tools/coffre_bench.c:[0-9]+: bench_args is [0-9]+ lines' \
	"$t/no-long.md"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
