"""The appliance's life from the console, over a real pty:

  provision --fresh -> power on UNINITIALIZED (not ERROR, KMIP closed) -> `init` refused
  input and a declined confirmation change nothing -> the init ceremony -> READY: the ready
  line, the fingerprint printed = the certificate's, the chain, a client certificate from
  `client issue` does Create + Get -> `init` refused -> status -> restart: SEALED, KMIP
  closed, a wrong PIN stays SEALED, the right one serves the same keys -> status backup
  warnings -> `zeroize` (a wrong confirmation cancels) -> UNINITIALIZED: token empty, store
  new with the zeroize record, certificates gone, KMIP closed -> `init` again (wrong current
  SO PIN refused, then the right one) -> the old client certificate is refused.

    /usr/bin/python3 tests/integration/test_console_init.py BUILD_DIR

Runs build/tests/coffred_th when it exists (COFFRE_TEST_CLOCK moves the service clock so that
each login has a fresh TOTP step without waiting); else build/coffred and waits for the next
30 s step before a second login.
"""
import glob
import hashlib
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl      # noqa: E402
import console_lib as cl     # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()

# ---- the service clock (coffred_th + COFFRE_TEST_CLOCK) ------------------------------------
th = os.path.join(build, "tests", "coffred_th")
clock = {"off": 0, "file": None, "last_step": None}


def svc_time():
    return time.time() + clock["off"]


def fresh_step():
    """Make sure the service's current TOTP step has not been used by a login yet."""
    if clock["file"] is not None:
        clock["off"] += 60
        with open(clock["file"], "w") as f:
            f.write("%d\n" % clock["off"])
    else:
        while clock["last_step"] is not None and int(svc_time() // 30) <= clock["last_step"]:
            time.sleep(0.5)
    clock["last_step"] = int(svc_time() // 30)


def login(a):
    fresh_step()
    return a.login(totp=lambda: cl.totp_now(a.totp_secret, svc_time()))


def fp_of(path):
    pem = open(path).read()
    der = ssl.PEM_cert_to_DER_cert(pem)
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def port_closed(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def ready_lines(a):
    return re.findall(r"^coffred: ready kmip=\S+$", a.stderr(), re.M)


def issue_client(a, name):
    """`client issue NAME`: write the PEM certificate and key it prints to pki/NAME.*"""
    out = a.console.cmd("client issue %s" % name, timeout=60)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    key = re.search(r"-----BEGIN (EC |)PRIVATE KEY-----.*?-----END (EC |)PRIVATE KEY-----", out, re.S)
    if not cert or not key:
        return False, out
    pki = os.path.join(a.dir, "pki")
    os.makedirs(pki, exist_ok=True)
    with open(os.path.join(pki, name + ".crt"), "w") as f:
        f.write(cert.group(0) + "\n")
    fd = os.open(os.path.join(pki, name + ".key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.group(0) + "\n")
    return True, out


def db(a):
    return sqlite3.connect(os.path.join(a.dir, "data", "store.db"), timeout=10)


def meta_set(a, key, value):
    with db(a) as d:
        d.execute("INSERT INTO meta(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE "
                  "SET value=excluded.value", (key, value))


def token_objects(a):
    """SoftHSMv2 keeps each object in a file; token.object is the token's own record."""
    return [p for p in glob.glob(os.path.join(a.dir, "tokens", "*", "*.object"))
            if os.path.basename(p) != "token.object"]


# ---- provision --fresh ---------------------------------------------------------------------
a = cl.Appliance(build, fresh=True, name="console-init")
conf = open(a.conf).read()
t.check("provision --fresh writes coffred.conf, softhsm2.conf and an empty tokens/",
        os.path.isfile(os.path.join(a.dir, "softhsm2.conf")) and
        os.listdir(os.path.join(a.dir, "tokens")) == [], str(os.listdir(a.dir)))
t.check("... and nothing else (no PINs, no pki, no store)",
        sorted(os.listdir(a.dir)) == ["coffred.conf", "softhsm2.conf", "tokens"],
        str(sorted(os.listdir(a.dir))))
t.check("... the config has no pin_file, the HSM key URI and [backup] dir",
        not re.search(r"^pin_file", conf, re.M) and "key = pkcs11:token=coffre;object=tls-server;" in conf and
        re.search(r"^\[backup\]\ndir = \S+/backup$", conf, re.M) is not None, conf)
t.check("... coffred.conf is mode 0600", os.stat(a.conf).st_mode & 0o777 == 0o600)
r = subprocess.run([a.coffred, "provision", "--fresh", a.dir], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
out = r.stdout.decode(errors="replace")
t.check("provision --fresh refuses an existing instance (exit 1, the reason on stderr)",
        r.returncode == 1 and out == "coffred: provision: %s already holds an instance "
        "(coffred.conf exists); refusing to touch it\n" % os.path.realpath(a.dir), out)
r = subprocess.run([os.path.join(build, "coffre"), "provision", "--fresh", a.dir + "-via-coffre"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
t.check("coffre provision --fresh runs coffred provision --fresh",
        r.returncode == 0 and os.path.isfile(os.path.join(a.dir + "-via-coffre", "coffred.conf")),
        r.stdout.decode(errors="replace")[-300:])

if os.path.exists(th):
    a.coffred = th
    clock["file"] = os.path.join(a.tmp, "clock")
    with open(clock["file"], "w") as f:
        f.write("0\n")
    os.environ["COFFRE_TEST_CLOCK"] = clock["file"]
else:
    print("note: %s not built: logins wait for a fresh TOTP step" % th)

# ---- power on: UNINITIALIZED ---------------------------------------------------------------
a.start()
con = a.console
con.prompt()
err = a.stderr()
t.check("a fresh appliance boots UNINITIALIZED", "UNINITIALIZED" in err, err[-500:])
t.check("... without latching ERROR", "ERROR" not in err and a.alive(), err[-500:])
t.check("... and serves no KMIP (no ready line)", not ready_lines(a))
out = con.cmd("status")
t.check("status says state: UNINITIALIZED", "state: UNINITIALIZED" in out, out)
out = con.cmd("unseal")
t.check("unseal is refused while UNINITIALIZED",
        cl.has_line(out, "'unseal' is not available while UNINITIALIZED: run init, or backup "
                    "import to restore"), out)

# refused input changes nothing
con.send("init")
con.expect("New HSM SO PIN: ")
con.send("short")
o1 = con.expect("New HSM SO PIN: ")
t.check("init: a short SO PIN is refused with the rule",
        cl.has_line(o1, "the HSM SO PIN must have 8 to 256 characters; try again"), o1)
con.send("so-pin-good-1")
con.expect("Repeat the HSM SO PIN: ")
con.send("so-pin-good-2")
o2 = con.expect("New HSM SO PIN: ")
t.check("init: two different entries are refused", cl.has_line(o2, "the two entries differ; try again"), o2)
con.send("so-pin-good-1")
con.expect("Repeat the HSM SO PIN: ")
con.send("so-pin-good-1")
con.expect("New HSM user PIN: ")
con.send("user-pin-good")
con.expect("Repeat the HSM user PIN: ")
con.send("user-pin-good")
con.expect("[y/N] ")
con.send("n")
o3 = con.prompt()
t.check("init: declining the confirmation changes nothing",
        cl.has_line(o3, "init: cancelled; nothing was changed") and
        not os.listdir(os.path.join(a.dir, "tokens")), o3)
con.send("init")
con.expect("New HSM SO PIN: ")
con.send_raw(b"\x03")
o4 = con.prompt()
t.check("init: Ctrl-C at a PIN prompt cancels", "^C" in o4 and "UNINITIALIZED" in con.cmd("status"), o4)

# ---- the ceremony --------------------------------------------------------------------------
t0 = time.monotonic()
out = a.init_ceremony(clock=svc_time)
clock["last_step"] = int(svc_time() // 30)
t.ok("init ceremony from power-on to serving KMIP (%.1f s; port %d)" % (time.monotonic() - t0, a.port))
t.check("... the ready line is on stderr", len(ready_lines(a)) == 1, a.stderr()[-400:])
pki = os.path.join(a.dir, "pki")
srv_fp = fp_of(os.path.join(pki, "server.crt"))
t.check("... the printed server fingerprint is the certificate's SHA-256", srv_fp in out,
        srv_fp + " / " + out[-600:])
r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, "ca.crt"),
                    os.path.join(pki, "server.crt")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
t.check("... the server certificate chains to pki/ca.crt", r.returncode == 0, r.stdout.decode())
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
try:
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            got = ":".join("%02X" % b for b in hashlib.sha256(s.getpeercert(True)).digest())
    t.check("... KMIP answers TLS with that certificate (verified for localhost)", got == srv_fp)
except (OSError, ssl.SSLError) as e:
    t.bad("... KMIP answers TLS with that certificate: %s" % e)
t.check("... KEK 1, the CA and the server keys are on the token", len(token_objects(a)) >= 5,
        str(len(token_objects(a))))

out = login(a)
t.check("the new administrator logs in with password + TOTP", "login incorrect" not in out, out)
out = con.cmd("init")
t.check("init is refused on an initialised appliance",
        cl.has_line(out, "'init' is not available while READY (only while UNINITIALIZED)"), out)

ok, out = issue_client(a, "c1")
t.check("client issue prints a certificate and its key", ok, out[-400:])
uid = None
if ok:
    try:
        with a.client("c1") as c:
            uid = c.create_aes()
            key = c.get(uid)
        t.check("KMIP Create + Get with the issued client certificate", len(key) == 32)
    except Exception as e:
        t.bad("KMIP Create + Get with the issued client certificate: %s" % e)

out = con.cmd("status")
t.check("status: READY, self-tests passed, KEK 1",
        "state: READY" in out and "selftest: passed" in out and
        "kek: current 1 (1 on the token)" in out, out)
t.check("status: objects and administrators counted",
        "objects: 1 " in out and "administrators: 1" in out, out)
t.check("status: WARNING: no backup has been exported", "WARNING: no backup has been exported" in out,
        out)
out = con.cmd("selftest")
t.check("selftest prints each result", len(re.findall(r"^selftest \S+: passed$", out, re.M)) == 6 and
        "selftest: passed" in out, out)

# ---- restart: SEALED -> unseal ---------------------------------------------------------------
old_port = a.port
rc = a.stop()
t.check("SIGTERM stops it (rc=%s)" % rc, rc == 0)
a.start()
con = a.console
out = con.prompt()
t.check("restarted without pin_file: SEALED", b"coffre(SEALED)> " in con.log and
        "SEALED" in a.stderr(), a.stderr()[-300:])
t.check("... KMIP is not served", not ready_lines(a) and port_closed(old_port))
con.send("unseal")
con.expect("HSM user PIN: ")
con.send("wrong-pin-123")
out = con.prompt()
t.check("unseal with a wrong PIN is refused",
        cl.has_line(out, "unseal: wrong PIN; the appliance stays SEALED"), out)
out = con.cmd("status")
t.check("... and the appliance stays SEALED", "state: SEALED" in out and not ready_lines(a), out)
con.send("unseal")
con.expect("HSM user PIN: ")
con.send(a.user_pin)
out = con.expect("login: ", timeout=60)
try:
    a.wait_ready(30)
    t.check("unseal with the right PIN: READY and serving", "unsealed: READY" in out, out)
except RuntimeError as e:
    t.bad("unseal with the right PIN: READY and serving: %s" % e)
if uid is not None:
    try:
        with a.client("c1") as c:
            t.check("... the key created before the restart is still served", c.get(uid) == key)
    except Exception as e:
        t.bad("... the key created before the restart is still served: %s" % e)

# ---- status: backup warnings -----------------------------------------------------------------
out = login(a)
meta_set(a, "backup.last", str(int(time.time())))
meta_set(a, "backup.last_kek", "0")
out = con.cmd("status")
t.check("status after a backup: no 'no backup' warning, the rotation warning for an older KEK",
        "backup: last export" in out and "no backup has been exported" not in out and
        "WARNING: the KEK was rotated after the last backup" in out, out)
meta_set(a, "backup.last_kek", "1")
out = con.cmd("status")
t.check("status with a backup under the current KEK: no WARNING", "WARNING" not in out, out)

# ---- zeroize ---------------------------------------------------------------------------------
con.send("zeroize")
con.expect("[y/N] ")
con.send("y")
con.expect("to confirm: ")
con.send("zeroize")
out = con.prompt()
t.check("zeroize: a wrong confirmation word cancels", cl.has_line(out, "zeroize: cancelled") and
        "state: READY" in con.cmd("status"), out)
n_obj = len(token_objects(a))
con.send("zeroize")
con.expect("[y/N] ")
con.send("y")
con.expect("to confirm: ")
con.send("ZEROIZE")
# the old program shows no prompt after it: the next one on the TTY is the new program's
out = con.expect("restarting...\r\n", timeout=60)
t.check("zeroize -> UNINITIALIZED", "zeroized" in out and "coffre" not in out.split("zeroized")[-1], out)
pid = a.proc.pid
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not re.search(
        r"zeroized: restarting\n(.*\n)*coffred: UNINITIALIZED: ", a.stderr()):
    time.sleep(0.1)
err = a.stderr()
t.check("... the program restarts (same pid, same console pty) and boots UNINITIALIZED",
        a.alive() and a.proc.pid == pid and
        re.search(r"zeroized: restarting\n(.*\n)*coffred: UNINITIALIZED: ", err) is not None and
        len(set(re.findall(r"^coffred: console pty=(\S+)$", err, re.M))) == 1, err[-600:])
out = con.expect("coffre(UNINITIALIZED)> ", timeout=30)  # the new program's prompt
t.check("... the new program greets the console: banner, then its prompt",
        "State: UNINITIALIZED." in out and "coffre(" not in out, out)
con.drain(0.3)
t.check("... every object on the token is destroyed (%d before)" % n_obj,
        n_obj >= 5 and token_objects(a) == [], str(token_objects(a)))
t.check("... KMIP stops", port_closed(a.port))
t.check("... the certificates are deleted",
        not os.path.exists(os.path.join(pki, "server.crt")) and
        not os.path.exists(os.path.join(pki, "ca.crt")))
with db(a) as d:
    rows = d.execute("SELECT seq, operation, actor FROM audit ORDER BY seq").fetchall()
    objs = d.execute("SELECT count(*) FROM objects").fetchone()[0]
    users = d.execute("SELECT count(*) FROM users").fetchone()[0]
t.check("... the store is new: no objects, no accounts", objs == 0 and users == 0, "%d %d" % (objs, users))
t.check("... and starts with one audit record of the zeroize, by its administrator",
        rows and rows[0][1] == "zeroize" and rows[0][2] == "console:admin" and
        [r[1] for r in rows].count("zeroize") == 1, str(rows))
out = con.cmd("status")
t.check("status after zeroize: UNINITIALIZED", "state: UNINITIALIZED" in out, out)

# ---- init again --------------------------------------------------------------------------------
con.send("init")
con.expect("Current HSM SO PIN: ")
con.send("not-the-so-pin")
con.expect("New HSM user PIN: ")
con.send("another-user-pin")
con.expect("Repeat the HSM user PIN: ")
con.send("another-user-pin")
con.expect("[y/N] ")
con.send("y")
out = con.prompt(timeout=60)
t.check("init after zeroize asks the current SO PIN and refuses a wrong one",
        cl.has_line(out, "init: the current SO PIN is wrong; the token was not changed") and
        "state: UNINITIALIZED" in con.cmd("status"), out)
t0 = time.monotonic()
out = a.init_ceremony(clock=svc_time)
clock["last_step"] = int(svc_time() // 30)
t.check("init again (the token re-initialised) -> READY (%.1f s)" % (time.monotonic() - t0),
        "READY" in out and len(ready_lines(a)) == 2, out[-300:])
t.check("... with a new server certificate", fp_of(os.path.join(pki, "server.crt")) != srv_fp)
if uid is not None:
    try:
        with a.client("c1") as c:
            c.get(uid)
        t.bad("... the old client certificate is refused: Get answered")
    except (OSError, rl.Closed) as e:
        t.check("... the old client certificate is refused with the alert TLSV1_ALERT_UNKNOWN_CA",
                rl.ssl_reason(e) == "TLSV1_ALERT_UNKNOWN_CA", "%s: %s" % (type(e).__name__, e))
rc = a.stop()
t.check("SIGTERM stops it (rc=%s)" % rc, rc == 0)
t.check("no sanitizer report in any run", not a.sanitizer_errors(), rl.sanitizer_digest(a))
t.done()
