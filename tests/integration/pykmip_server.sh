#!/usr/bin/env bash
# PyKMIP's server (Debian python3-pykmip) on loopback, with its own throwaway PKI: the
# reference server coffre-bench is compared against, usable by any test.
#
#   pykmip_server.sh certs DIR [ec|rsa]   make DIR/pki/{ca,server,client,badca,badclient}.{crt,key}
#   pykmip_server.sh start DIR [ec|rsa]   certs (if missing) + DIR/server.conf + start the
#                                         server on a free 127.0.0.1 port; prints the port.
#                                         pid in DIR/pykmip.pid, log in DIR/server.log
#   pykmip_server.sh stop DIR             SIGTERM (then SIGKILL) the server started in DIR
#
# Everything lives in DIR (certificates, config, policy dir, SQLite database, logs); nothing
# is written outside it. Key type: ec = P-256 (default; ECDHE-ECDSA suites), rsa = RSA-2048.
# The client certificate carries extendedKeyUsage clientAuth, which PyKMIP requires.
set -uo pipefail

PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "pykmip_server.sh: $*" >&2; exit 1; }

# newkey FILE TYPE: private key (PEM, mode 0600)
newkey() {
	local f=$1 t=$2
	(umask 077
	 if [[ $t == rsa ]]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$f" 2>/dev/null
	 else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$f" 2>/dev/null
	 fi) || die "openssl genpkey failed for $f"
}

# ca DIR NAME TYPE: self-signed CA NAME.{crt,key}
mkca() {
	local d=$1 n=$2 t=$3
	newkey "$d/$n.key" "$t"
	openssl req -new -x509 -key "$d/$n.key" -out "$d/$n.crt" -days 3650 -sha256 \
		-subj "/CN=$n coffre-bench test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		die "openssl req (CA $n) failed"
}

# leaf DIR NAME CN EKU TYPE [SAN] [CA]: NAME.{crt,key} signed by DIR/CA (default ca)
leaf() {
	local d=$1 n=$2 cn=$3 eku=$4 t=$5 san=${6:-} ca=${7:-ca}
	local ext=$d/$n.ext
	newkey "$d/$n.key" "$t"
	openssl req -new -key "$d/$n.key" -out "$d/$n.csr" -subj "/CN=$cn" 2>/dev/null ||
		die "openssl req ($n) failed"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[[ -n $san ]] && echo "subjectAltName=$san"
	} >"$ext"
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
		-out "$d/$n.crt" -days 3650 -sha256 -extfile "$ext" 2>/dev/null ||
		die "openssl x509 ($n) failed"
	rm -f "$d/$n.csr" "$ext"
}

cmd_certs() {
	local dir=${1:?usage: certs DIR [ec|rsa]} t=${2:-ec}
	local p=$dir/pki
	[[ $t == ec || $t == rsa ]] || die "key type must be ec or rsa"
	[[ -f $p/client.crt && -f $p/server.crt && -f $p/badclient.crt ]] && return 0
	mkdir -p "$p" || die "cannot create $p"
	mkca "$p" ca "$t"
	leaf "$p" server 127.0.0.1 serverAuth "$t" "IP:127.0.0.1,DNS:localhost"
	leaf "$p" client coffre-bench clientAuth "$t"
	# an unrelated CA: a client trusting it must refuse the server, and the server must
	# refuse a client certificate it signed
	mkca "$p" badca "$t"
	leaf "$p" badclient coffre-bench clientAuth "$t" "" badca
}

free_port() {
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cmd_start() {
	local dir=${1:?usage: start DIR [ec|rsa]} t=${2:-ec} port i pid
	dir=$(cd "$dir" && pwd) || die "no such directory: $1"
	cmd_certs "$dir" "$t"
	mkdir -p "$dir/policies"
	port=$(free_port) || die "no free port"
	cat >"$dir/server.conf" <<EOF
[server]
hostname=127.0.0.1
port=$port
certificate_path=$dir/pki/server.crt
key_path=$dir/pki/server.key
ca_path=$dir/pki/ca.crt
auth_suite=TLS1.2
policy_path=$dir/policies
enable_tls_client_auth=True
logging_level=WARNING
database_path=$dir/pykmip.db
EOF
	: >"$dir/server.log"
	# setsid: its own process group, so stop can end the server and its policy monitor
	setsid "$PYTHON" -W ignore -m kmip.services.server.server -f "$dir/server.conf" \
		-l "$dir/server.log" </dev/null >"$dir/server.out" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pykmip.pid"
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$dir/server.out" "$dir/server.log" >&2
			die "PyKMIP server exited during start-up"
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
		sleep 0.1
	done
	cmd_stop "$dir"
	die "PyKMIP server did not listen on 127.0.0.1:$port within 30 s"
}

cmd_stop() {
	local dir=${1:?usage: stop DIR} pid i
	[[ -f $dir/pykmip.pid ]] || return 0
	pid=$(cat "$dir/pykmip.pid")
	[[ $pid =~ ^[0-9]+$ ]] || die "bad pid file $dir/pykmip.pid"
	# the server runs as its own process-group leader (setsid): end the group it leads
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	rm -f "$dir/pykmip.pid"
}

case ${1:-} in
certs) shift; cmd_certs "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) echo "usage: $0 certs|start|stop DIR [ec|rsa]" >&2; exit 2 ;;
esac
