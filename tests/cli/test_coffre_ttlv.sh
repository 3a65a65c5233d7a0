#!/usr/bin/env bash
# coffre ttlv decode over every vCenter 7.0.3 request and over malformed inputs.
#   bash tests/cli/test_coffre_ttlv.sh BUILD_DIR      (cwd = repository root)
set -uo pipefail
build=${1:?usage: test_coffre_ttlv.sh BUILD_DIR}
coffre=$build/coffre
vectors=../shared/vectors/vcenter-7.0.3/requests.txt
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); }
ko() { failed=$((failed + 1)); echo "FAIL: $*"; }

[[ -x $coffre ]] || { echo "FAIL: $coffre missing"; echo "0 passed, 1 failed"; exit 1; }

# expect RC STDERR_REGEX ARGS... : exit status, exactly one stderr line matching the regex
expect_err() {
	local want=$1 re=$2; shift 2
	"$coffre" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; local rc=$?
	local lines; lines=$(wc -l <"$tmp/err")
	if ((rc == want)) && ((lines == 1)) && grep -qE "$re" "$tmp/err"; then ok; else
		ko "coffre $* -> rc=$rc (want $want), stderr: $(head -c 300 "$tmp/err")"; fi
}

# 1. every vCenter request line: exit 0, a Request Message, nothing on stderr
if [[ -f $vectors ]]; then
	n=0
	while IFS= read -r line; do
		[[ $line == \#* || -z $line ]] && continue
		hex=$(cut -d' ' -f3 <<<"$line")
		n=$((n + 1))
		if "$coffre" ttlv decode "$hex" >"$tmp/out" 2>"$tmp/err" && \
		   grep -q '^Request Message (0x420078) Structure$' "$tmp/out" && [[ ! -s $tmp/err ]]; then
			ok
		else
			ko "vector line $n: $(head -c 200 "$tmp/err")"
		fi
		# the same via stdin, with whitespace, must print the same tree
		if fold -w 16 <<<"$hex" | "$coffre" ttlv decode - >"$tmp/out2" 2>/dev/null && \
		   cmp -s "$tmp/out" "$tmp/out2"; then ok; else ko "vector line $n via stdin"; fi
	done <"$vectors"
	((n >= 100)) && ok || ko "only $n vector lines"
else
	ko "$vectors not found (the vCenter vectors are part of ../shared)"
fi

# 2. exact tree of the DiscoverVersions request; no argument = stdin
dv=42007801000000604200770100000038420069010000002042006a0200000004000000010000000042006b0200000004000000010000000042000d0200000004000000010000000042000f010000001842005c05000000040000001e000000004200790100000000
cat >"$tmp/want" <<'EOF'
Request Message (0x420078) Structure
  Request Header (0x420077) Structure
    Protocol Version (0x420069) Structure
      Protocol Version Major (0x42006A) Integer: 1
      Protocol Version Minor (0x42006B) Integer: 1
    Batch Count (0x42000D) Integer: 1
  Batch Item (0x42000F) Structure
    Operation (0x42005C) Enumeration: Discover Versions (0x0000001E)
    Request Payload (0x420079) Structure
EOF
if echo "$dv" | "$coffre" ttlv decode >"$tmp/out" 2>&1 && cmp -s "$tmp/want" "$tmp/out"; then ok; else
	ko "DiscoverVersions tree differs: $(diff "$tmp/want" "$tmp/out" | head -5)"; fi

# 3. secrets: redacted by default, shown with --show-secrets
km=42004301000000104200430800000004deadbeef00000000
"$coffre" ttlv decode "$km" >"$tmp/out" 2>&1
if grep -q '<4 bytes redacted>' "$tmp/out" && ! grep -q deadbeef "$tmp/out"; then ok; else ko "redaction"; fi
"$coffre" ttlv decode --show-secrets "$km" >"$tmp/out" 2>&1
if grep -q 'deadbeef' "$tmp/out"; then ok; else ko "--show-secrets"; fi

# 4. malformed TTLV: exit 2, one line naming what and where
expect_err 2 'ttlv decode: bad padding at offset 8 \(tag 0x42000A Attribute Name\)$' \
	ttlv decode "4200780100000010 42000a0700000002
6162000000000100"
expect_err 2 'ttlv decode: truncated at offset 0 \(tag 0x420078 Request Message\)$' \
	ttlv decode "${dv:0:$((${#dv} - 16))}"
expect_err 2 'ttlv decode: bad length at offset 8 \(tag 0x42000D Batch Count\)$' \
	ttlv decode 420078010000001042000d02000000080000000000000001
expect_err 2 'ttlv decode: invalid UTF-8 at offset 8' \
	ttlv decode 420078010000001042000a070000000261ff000000000000
expect_err 2 'ttlv decode: bad type at offset 0' ttlv decode 4200780c00000000
expect_err 2 'ttlv decode: truncated at offset 0$' ttlv decode 42007801
# bad hex
expect_err 2 'ttlv decode: bad hex' ttlv decode 42007g01
expect_err 2 'ttlv decode: bad hex' ttlv decode 4200780
expect_err 2 'ttlv decode: empty input' ttlv decode ""
# 5. usage errors: 64
"$coffre" >/dev/null 2>&1; (($? == 64)) && ok || ko "no command -> 64"
"$coffre" frobnicate >/dev/null 2>&1; (($? == 64)) && ok || ko "unknown command -> 64"
"$coffre" ttlv >/dev/null 2>&1; (($? == 64)) && ok || ko "ttlv without subcommand -> 64"
"$coffre" ttlv decode a b >/dev/null 2>&1; (($? == 64)) && ok || ko "two arguments -> 64"
"$coffre" ttlv decode --bogus 00 >/dev/null 2>&1; (($? == 64)) && ok || ko "unknown option -> 64"
"$coffre" help >"$tmp/out" 2>&1 && grep -q 'ttlv decode' "$tmp/out" && ok || ko "help"

echo "$passed passed, $failed failed"
((failed == 0))
