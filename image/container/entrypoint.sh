#!/bin/sh
# The QA container's entrypoint (/usr/sbin/coffre-entrypoint, busybox sh).
#
# First start (no /var/lib/coffre/coffred.conf): `coffred provision --qa` writes a QA instance
# into the volume /var/lib/coffre (SoftHSMv2 token, PINs, CA, server and client certificates,
# store, console administrator) and its [kmip] address is set to 0.0.0.0. Every start then
# execs coffred on it: KMIP on 0.0.0.0:$COFFRE_PORT, the console on stdin/stdout, the log on
# stderr. A restart finds coffred.conf and keeps the instance as it is.
#
# For the tests to copy out: /var/lib/coffre/pki/ca.crt, qa.crt, qa.key.
#
# Started as root, it gives the volume to the user coffre (uid 100) when coffre cannot write
# it, then runs again as coffre: the token, the store and the keys belong to coffre and
# coffred never runs as root. Started as another user (run --user), it stays that user.
set -eu

DIR=/var/lib/coffre
PORT=${COFFRE_PORT:-5696}
QA_USER=coffre

say() { echo "coffre-entrypoint: $*" >&2; }

case $PORT in
'' | *[!0-9]*) say "COFFRE_PORT=$PORT is not a port number"; exit 64 ;;
esac

if [ "$(id -u)" = 0 ]; then
	if [ "$(stat -c %u "$DIR")" != "$(id -u $QA_USER)" ]; then
		say "giving $DIR to $QA_USER"
		chown -R $QA_USER:$QA_USER "$DIR"
	fi
	# su keeps the environment (-p) and execs: coffred stays pid 1 of the container
	exec su -p -s /bin/sh $QA_USER -c 'exec /usr/sbin/coffre-entrypoint "$@"' entrypoint "$@"
fi

if [ ! -w "$DIR" ]; then
	say "$DIR is not writable by uid $(id -u): give the volume to uid $(id -u) or start as root"
	exit 1
fi

if [ ! -e "$DIR/coffred.conf" ]; then
	if [ -e "$DIR/tokens" ] || [ -e "$DIR/pki" ] || [ -e "$DIR/data" ]; then
		# provision writes coffred.conf after the token and the certificates: these are
		# the leftovers of a first start that stopped half-way, no key was ever served
		say "$DIR holds an unfinished provisioning: starting it again"
		rm -rf "$DIR/tokens" "$DIR/pki" "$DIR/data" "$DIR/softhsm2.conf" "$DIR/hsm.pin" \
			"$DIR/hsm-so.pin" "$DIR/admin.pw"
	fi
	say "first start: provisioning a QA instance in $DIR"
	coffred provision --qa "$DIR" --port "$PORT" >&2
	say "client certificate $DIR/pki/qa.crt, key $DIR/pki/qa.key, CA $DIR/pki/ca.crt"
fi

# provision writes KMIP on 127.0.0.1: in a container it must listen on every address
if grep -q '^address = 127\.0\.0\.1$' "$DIR/coffred.conf"; then
	sed -i 's/^address = 127\.0\.0\.1$/address = 0.0.0.0/' "$DIR/coffred.conf"
fi

cd "$DIR"
exec coffred -c "$DIR/coffred.conf" --console stdio --port "$PORT" "$@"
