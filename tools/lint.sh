#!/usr/bin/env bash
# Static analysis over the product sources (make lint; part of make test):
#   tools/lint.sh [BUILD_DIR]
# cppcheck, then tools/archcheck.py: the code against docs/architecture.md (allowed edges from
# the sources' includes and from the objects' symbols in BUILD_DIR/obj, no call cycle in hsm/,
# SQL only in firmware/store/, no function over 100 lines but the listed option parsers).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dirs=()
for d in board kmip hsm firmware tools; do [[ -d $d ]] && dirs+=("$d"); done
# generated tables are data; skip them to keep the run short
mapfile -t files < <(find "${dirs[@]}" -name '*.c' ! -name '*_gen.c' | sort)
echo "lint: cppcheck on ${#files[@]} files"
cppcheck --quiet --std=c11 --enable=warning,portability,performance --error-exitcode=1 \
	--inline-suppr -I. -I/usr/include/p11-kit-1 -D__GNUC__ -U__has_feature \
	--suppress=missingIncludeSystem "${files[@]}"
/usr/bin/python3 tools/archcheck.py "$build"
echo "lint: ok"
