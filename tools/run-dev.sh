#!/usr/bin/env bash
# `make run`: a development appliance on this terminal.
#   tools/run-dev.sh BUILD_DIR
# Provisions ./var/dev (a QA instance: SoftHSMv2 token, CA, server and client certificates,
# console administrator "admin") when it does not exist yet, then runs coffred with the
# console on stdio and KMIP on 127.0.0.1:5696. Ctrl-C stops it cleanly.
# Client files: var/dev/pki/{ca.crt,qa.crt,qa.key}; console password: var/dev/admin.pw.
# For the init ceremony of a new appliance instead: coffred provision --fresh DIR, then
# coffred -c DIR/coffred.conf --console stdio and `init` (docs/console/ceremony.md).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dev=var/dev
if [[ ! -f $dev/coffred.conf ]]; then
	if [[ -e $dev ]] && [[ -n $(ls -A "$dev" 2>/dev/null) ]]; then
		echo "make run: $dev exists but holds no coffred.conf; remove it to provision again" >&2
		exit 1
	fi
	mkdir -p var
	"$build/coffred" provision --qa "$dev" --port 5696 --clients 2
fi
echo "make run: KMIP on 127.0.0.1:5696, client certificate $dev/pki/qa.crt + qa.key, CA $dev/pki/ca.crt"
if [[ -f $dev/admin.pw ]]; then
	echo "make run: console login: user admin, password in $dev/admin.pw (cat $dev/admin.pw)"
else
	echo "make run: $dev was provisioned before console accounts existed: no administrator;" \
		"remove $dev to provision it again (user admin, password in $dev/admin.pw)" >&2
fi
exec "$build/coffred" -c "$dev/coffred.conf" --console stdio
