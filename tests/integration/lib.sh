# Shared helpers for the end-to-end tests (sourced). Each test:
#   source tests/integration/lib.sh; it_init "$1"   (BUILD dir; cwd = repo root)
# gets a private mktemp dir ($IT_TMP), coffred processes it started are killed on exit, and
# it_done prints the "N passed, M failed" line the runner reads.
IT_PASS=0
IT_FAIL=0
IT_PIDS=()

it_init() {
	IT_BUILD=${1:?usage: $0 BUILD_DIR}
	COFFRED=$IT_BUILD/coffred
	COFFRE=$IT_BUILD/coffre
	IT_TMP=$(mktemp -d /tmp/coffre-it.XXXXXX)
	trap it_cleanup EXIT
	if [[ ! -x $COFFRED ]]; then
		echo "not built: $COFFRED"
		echo "0 passed, 1 failed"
		exit 1
	fi
}

it_cleanup() {
	local p
	for p in "${IT_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	[[ -n ${IT_KEEP:-} ]] || rm -rf "$IT_TMP"
}

ok() { IT_PASS=$((IT_PASS + 1)); echo "ok   $*"; }
bad() { IT_FAIL=$((IT_FAIL + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
	local d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

it_done() {
	echo "$IT_PASS passed, $IT_FAIL failed"
	((IT_FAIL == 0))
}

# A TCP port nobody listens on right now (bind test on 127.0.0.1).
it_free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# it_provision DIR [ARGS...]: a QA instance (output in DIR.provision.log)
it_provision() {
	local dir=$1; shift
	"$COFFRED" provision --qa "$dir" "$@" >"$dir.provision.log" 2>&1
}

# it_start NAME CONF [ARGS...]: start coffred (stderr in $IT_TMP/NAME.err); sets IT_PID.
it_start() {
	local name=$1 conf=$2; shift 2
	"$COFFRED" -c "$conf" "$@" 2>"$IT_TMP/$name.err" </dev/null >"$IT_TMP/$name.out" &
	IT_PID=$!
	IT_PIDS+=("$IT_PID")
}

# it_wait_line NAME REGEX [SECONDS]: wait until the stderr of NAME matches (or the process ends)
it_wait_line() {
	local name=$1 re=$2 secs=${3:-15} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -qE "$re" "$IT_TMP/$name.err" 2>/dev/null && return 0
		kill -0 "$IT_PID" 2>/dev/null || { grep -qE "$re" "$IT_TMP/$name.err"; return; }
		sleep 0.1
	done
	return 1
}

# it_ready NAME: wait for the ready line; sets IT_PORT
it_ready() {
	it_wait_line "$1" '^coffred: ready kmip=' "${2:-20}" || return 1
	IT_PORT=$(sed -n 's/^coffred: ready kmip=.*:\([0-9][0-9]*\)$/\1/p' "$IT_TMP/$1.err" | head -n1)
	[[ -n $IT_PORT ]]
}

# it_stop PID [SECONDS]: SIGTERM and wait; IT_RC = the exit status, 124 if it did not stop
# in time (then it is killed). Not in a subshell: wait needs the parent shell.
it_stop() {
	local pid=$1 secs=${2:-5} i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			IT_RC=$?
			return 0
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	IT_RC=124
}

# it_port_closed PORT: nothing accepts TCP connections on 127.0.0.1:PORT
it_port_closed() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# it_tls DIR PORT [s_client args...]: one openssl s_client handshake; 0 when it succeeded
it_tls() {
	local dir=$1 port=$2; shift 2
	timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$dir/pki/ca.crt" \
		-verify_return_error "$@" </dev/null >"$IT_TMP/s_client.out" 2>&1
}
