"""The audit leaves the box (docs/security.md "Remote audit"): [audit] remote.

usage: test_audit_remote.py BUILD_DIR

A TLS syslog collector on loopback (Python ssl: it requires a client certificate, reads
RFC 5425 octet-counted frames, keeps every RFC 5424 message). coffred's client certificate is
the QA client certificate of the appliance's own PKI (pki/qa.crt, signed by the appliance CA
the collector trusts); the collector's certificate comes from a separate CA made here with
openssl, which coffred trusts through [audit] remote_ca.

1. A load of KMIP Creates; the collector is stopped during it and started again: what it
   received covers every seq from 1 to the store's last record (repeats allowed: at least
   once), every message is a valid RFC 5424 line with the structured data, the hash chain
   recomputed from the fields checks out and matches the store's rows. Then coffred is killed
   (SIGKILL) under load and started again: still nothing missing.
2. on_queue_full = stop with a small queue_max and the collector away: the console says
   AUDIT QUEUE FULL once, KMIP Creates answer Operation Failed; the collector back: the console
   says it drained, Creates work, nothing missing.
3. on_queue_full = continue: Creates keep working while full; nothing missing afterwards.
4. A collector whose certificate comes from another CA, then one whose certificate names
   another address: refused, not one record sent to them; `audit remote` says why.
5. No [audit] in coffred.conf (the appliance): `audit remote set` at the console with the
   collector's CA pasted; refusals (bad address, garbage PEM, a leaf, a private key, "n")
   change nothing; set, the collector (trusting the appliance CA, requiring a client
   certificate) gets every record from seq 1, coffred showing its own server certificate
   (key in the HSM); a restart keeps it; `audit remote off` stops it, also over a
   coffred.conf remote; the audit records of all this exist.
6. [audit] remote_cert / remote_key = pkcs11:... (the server's HSM key by URI): the engine
   loads it at READY, the collector gets everything.
"""
import hashlib
import os
import re
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()


def boot(appl):
    """Start coffred, log the administrator in: its console."""
    appl.start()
    appl.login()
    return appl.console


# ---- certificates --------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj",
            "/CN=" + name, cwd=d)


def make_leaf(d, ca, name, san):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext",
            cwd=d)


# ---- the collector -------------------------------------------------------------------------
SD_RE = re.compile(r'^<(\d{1,3})>1 (\S+) (\S+) coffred (\d+) audit \[coffre@32473((?: [a-z]+='
                   r'"(?:[^"\\\]]|\\["\\\]])*")+)\] audit seq=(\d+) op=(\S*) result=(-?\d+)$')
PARAM_RE = re.compile(r' ([a-z]+)="((?:[^"\\\]]|\\["\\\]])*)"')
NAMES = ["seq", "time", "actor", "source", "op", "uid", "result", "detail", "prev", "hash"]


def unescape(v):
    return re.sub(r'\\(["\\\]])', r"\1", v)


class Collector:
    """RFC 5425 receiver: TLS with a required client certificate, octet-counted frames."""

    def __init__(self, d, cert, key, client_ca, port=0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(d, cert), os.path.join(d, key))
        self.ctx.load_verify_locations(client_ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.msgs = []          # decoded strings, in arrival order
        self.bad = []           # framing or TLS failures
        self.peers = []         # client certificate subjects
        self.conns = []
        self.stopped = False
        self.th = threading.Thread(target=self._accept, daemon=True)
        self.th.start()

    def _accept(self):
        while not self.stopped:
            try:
                raw, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.bad.append("handshake: %s" % e)
            raw.close()
            return
        self.conns.append(s)
        self.peers.append(dict(x[0] for x in s.getpeercert()["subject"]))
        buf = b""
        try:
            while not self.stopped:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    sp = buf.find(b" ")
                    if sp < 0:
                        break
                    if not buf[:sp].isdigit() or sp > 6:
                        self.bad.append("frame: %r" % buf[:40])
                        return
                    n = int(buf[:sp])
                    if len(buf) < sp + 1 + n:
                        break
                    self.msgs.append(buf[sp + 1:sp + 1 + n].decode("utf-8"))
                    buf = buf[sp + 1 + n:]
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.ls.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def parse(msg):
    """An RFC 5424 message -> dict of the structured data, or None when malformed."""
    m = SD_RE.match(msg)
    if not m:
        return None
    params = dict((k, unescape(v)) for k, v in PARAM_RE.findall(m.group(5)))
    if list(params) != NAMES or params["seq"] != m.group(6):
        return None
    if int(m.group(1)) not in (84, 85) or not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                                                        m.group(2)):
        return None
    return params


def audit_hash(p):
    """firmware/store/audit.c audit_hash, from the fields a message carries."""
    h = hashlib.sha256()

    def field(b):
        h.update(struct.pack(">I", len(b)) + b)

    def u64(v):
        field(struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF))
    field(b"coffre-audit-v1")
    u64(int(p["seq"]))
    u64(int(p["time"]))
    for k in ("actor", "source", "op", "uid"):
        field(p[k].encode())
    u64(int(p["result"]))
    field(p["detail"].encode())
    field(bytes.fromhex(p["prev"]))
    return h.hexdigest()


def store_rows(a):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.dir, "data", "store.db"), uri=True,
                         timeout=10)
    try:
        return {seq: h.hex() for seq, h in db.execute("SELECT seq, hash FROM audit")}
    finally:
        db.close()


def sent_cursor(a):
    """The store's audit_remote_sent (0 when absent): where the next run's sender starts."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.dir, "data", "store.db"), uri=True,
                         timeout=10)
    try:
        r = db.execute("SELECT value FROM meta WHERE key = 'audit_remote_sent'").fetchone()
        return int(r[0]) if r else 0
    finally:
        db.close()


def check_complete(what, col, a, first=1):
    """Every seq first..head received, each valid RFC 5424, the chain recomputes (from the
    store's hash before first) and matches the store."""
    rows = store_rows(a)
    head = max(rows) if rows else 0
    got, bad, dups = {}, [], 0
    for m in list(col.msgs):
        p = parse(m)
        if p is None:
            bad.append(m[-300:])
            continue
        seq = int(p["seq"])
        if seq in got:
            dups += 1
            if got[seq] != p:
                bad.append("seq %d sent twice with different content" % seq)
        got[seq] = p
    missing = [s for s in range(first, head + 1) if s not in got]
    t.check("%s: records %d to %d of the store all received (%d messages, %d repeats), none missing"
            % (what, first, head, len(col.msgs), dups), head > first and not missing,
            "missing %s" % missing[:20])
    t.check("%s: every message is RFC 5424 with the coffre@32473 structured data" % what,
            not bad, "%r" % bad[:3])
    prev, broken = rows.get(first - 1, "00" * 32), []
    for s in range(first, head + 1):
        p = got.get(s)
        if p is None:
            break
        if p["prev"] != prev or audit_hash(p) != p["hash"] or rows.get(s) != p["hash"]:
            broken.append(s)
        prev = p["hash"]
    t.check("%s: the hash chain recomputed from the messages checks out and matches the store"
            % what, not broken, "broken at %s" % broken[:5])
    return head


def wait_delivered(a, cols, first=1, timeout=15):
    """Until the collectors (one, or a list: one collector's runs) hold the store's records
    first..last."""
    cols = cols if isinstance(cols, list) else [cols]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = store_rows(a)
        head = max(rows) if rows else 0
        seen = set()
        for m in [m for c in cols for m in list(c.msgs)]:
            p = SD_RE.match(m)
            if p:
                seen.add(int(p.group(6)))
        if head and all(s in seen for s in range(first, head + 1)):
            return True
        time.sleep(0.1)
    return False


def create(a):
    """One KMIP Create on a new connection: True, or the failure's message."""
    try:
        with a.client(timeout=10) as c:
            r = c.call(rl.create_aes_req())
        return True if r.ok else r.describe()
    except Exception as e:  # noqa: BLE001
        return repr(e)


class Load:
    """Creates from 2 threads over persistent connections until stopped."""

    def __init__(self, a):
        self.a, self.n, self.fail, self.stopped = a, 0, [], False
        self.ths = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]
        for th in self.ths:
            th.start()

    def _run(self):
        try:
            with self.a.client(timeout=10) as c:
                while not self.stopped:
                    r = c.call(rl.create_aes_req())
                    if r.ok:
                        self.n += 1
                    else:
                        self.fail.append(r.describe())
        except Exception as e:  # noqa: BLE001
            self.fail.append(repr(e))

    def stop(self):
        self.stopped = True
        for th in self.ths:
            th.join(20)


# ---- set-up --------------------------------------------------------------------------------
a = cl.Appliance(build, name="araudit")
pki = os.path.join(a.tmp, "collector")
os.mkdir(pki)
make_ca(pki, "colca")
make_ca(pki, "otherca")
make_leaf(pki, "colca", "col", "IP:127.0.0.1")
make_leaf(pki, "otherca", "evil", "IP:127.0.0.1")
make_leaf(pki, "colca", "elsewhere", "IP:127.0.0.2,DNS:collector.example")
appl_ca = os.path.join(a.dir, "pki", "ca.crt")
with open(a.conf) as f:
    BASE = f.read()


def configure(port, **extra):
    kv = {"remote": "127.0.0.1:%d" % port, "remote_ca": os.path.join(pki, "colca.crt"),
          "remote_cert": os.path.join(a.dir, "pki", "qa.crt"),
          "remote_key": os.path.join(a.dir, "pki", "qa.key")}
    kv.update(extra)
    with open(a.conf, "w") as f:
        f.write(BASE + "\n[audit]\n" + "".join("%s = %s\n" % x for x in kv.items()))


def remote_state(con):
    return con.cmd("audit remote")


# ---- 1. collector stopped and restarted during a load --------------------------------------
col = Collector(pki, "col.crt", "col.key", appl_ca)
PORT = col.port
configure(PORT)
con = boot(a)
load = Load(a)
time.sleep(0.7)
col.stop()
n_before = load.n
time.sleep(1.0)
out = remote_state(con)
t.check("audit remote while the collector is away: disconnected, records queued",
        "sender: disconnected since" in out and re.search(r"^queued: [1-9]", out, re.M)
        and "last error:" in out, out)
col2 = Collector(pki, "col.crt", "col.key", appl_ca, port=PORT)
time.sleep(1.0)
load.stop()
t.check("the load ran throughout (%d Creates, %d during the outage), no failure"
        % (load.n, load.n - n_before), load.n > 20 and not load.fail, "%r" % load.fail[:3])
t.check("the collector saw coffred's client certificate (CN=qa, the appliance PKI)",
        col.peers and col.peers[0].get("commonName") == "qa", "%r" % col.peers)
t.check("after the restart the collector catches up", wait_delivered(a, [col, col2]))
both = Collector.__new__(Collector)  # what the collector holds: before and after its restart
both.msgs = col.msgs + col2.msgs
check_complete("stop/restart", both, a)
for _ in range(4):  # the cursor moves once the connection lasted the settle time (1 s)
    time.sleep(1.2)
    out = remote_state(con)
    m = re.search(r"^delivered up to seq: (\d+) \(written (\d+), store head (\d+)\)$", out,
                  re.M)
    if m and m.group(1) == m.group(3):
        break
t.check("audit remote: connected, delivered = head, queued 0", m and "sender: connected since"
        in out and m.group(1) == m.group(3) and re.search(r"^queued: 0$", out, re.M), out)
t.check("audit remote shows the policy", "policy: queue_max 100000 records, on_queue_full stop"
        in out, out)
t.check("no TLS or framing failure at the collector", not col.bad and not col2.bad,
        "%r" % (col.bad + col2.bad)[:3])

# coffred killed (SIGKILL) under load while connected: after the restart the sender resumes
# from its durable cursor, nothing is missing
load = Load(a)
time.sleep(0.6)
a.kill()
load.stop()
con = boot(a)
t.check("after SIGKILL and a restart the collector catches up", wait_delivered(a, [col, col2]))
both.msgs = col.msgs + col2.msgs
check_complete("SIGKILL", both, a)
col2.stop()
t.check("clean stop", a.stop() == 0)

# ---- 2. queue full, policy stop -------------------------------------------------------------
configure(PORT, queue_max="40", on_queue_full="stop")
first = sent_cursor(a) + 1
con = boot(a)
refused = None
for i in range(80):
    r = create(a)
    if r is not True:
        refused = r
        break
t.check("stop: with the collector away, Creates end with Operation Failed (%r)" % refused,
        refused is not None and "audit collector unreachable: audit queue full" in refused)
out = con.drain(1.0)
t.check("stop: the console says AUDIT QUEUE FULL once", out.count("AUDIT QUEUE FULL") == 1
        and "KMIP requests answer Operation Failed until it drains" in out, out)
out = remote_state(con)
t.check("stop: audit remote shows FULL", "FULL: KMIP requests answer Operation Failed" in out, out)
col3 = Collector(pki, "col.crt", "col.key", appl_ca, port=PORT)
try:
    con.expect("has drained", timeout=10)
    drained = True
except cl.Timeout:
    drained = False
t.check("stop: the collector back, the console says the queue drained", drained)
t.check("stop: Creates work again", create(a) is True)
t.check("stop: caught up", wait_delivered(a, col3, first))
check_complete("stop policy", col3, a, first)
col3.stop()
t.check("clean stop", a.stop() == 0)

# ---- 3. queue full, policy continue ---------------------------------------------------------
configure(PORT, queue_max="20", on_queue_full="continue")
first = sent_cursor(a) + 1
con = boot(a)
ok = sum(1 for _ in range(40) if create(a) is True)
t.check("continue: all 40 Creates served with the collector away (%d)" % ok, ok == 40)
out = con.drain(1.0)
t.check("continue: the console says AUDIT QUEUE FULL, KMIP keeps serving",
        out.count("AUDIT QUEUE FULL") == 1 and "KMIP keeps serving" in out, out)
col4 = Collector(pki, "col.crt", "col.key", appl_ca, port=PORT)
t.check("continue: caught up", wait_delivered(a, col4, first))
check_complete("continue policy", col4, a, first)
col4.stop()
t.check("clean stop", a.stop() == 0)

# ---- 4. collectors with a wrong certificate ----------------------------------------------------
for cert, why, what in (("evil", "collector certificate refused", "another CA"),
                        ("elsewhere", "collector certificate refused", "another address")):
    bad = Collector(pki, cert + ".crt", cert + ".key", appl_ca)
    configure(bad.port)
    a.start()
    a.login()
    con = a.console
    time.sleep(1.0)
    out = remote_state(con)
    t.check("%s: refused, nothing sent (%d messages)" % (what, len(bad.msgs)),
            not bad.msgs and not bad.peers and "sender: disconnected" in out and why in out, out)
    bad.stop()
    t.check("clean stop", a.stop() == 0)

# ---- 5. set at the console (the appliance: no coffred.conf to edit) ---------------------------
def audit_ops(a, ops):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.dir, "data", "store.db"), uri=True,
                         timeout=10)
    try:
        q = "SELECT operation, result, detail FROM audit WHERE operation IN (%s) ORDER BY seq" % (
            ",".join("?" * len(ops)))
        return db.execute(q, ops).fetchall()
    finally:
        db.close()


def fingerprint(path):
    r = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path],
                       check=True, stdout=subprocess.PIPE).stdout.decode()
    return r.split("=", 1)[1].strip().replace(":", "").lower()


def paste_set(con, addr, pem_lines, answer="y"):
    """audit remote set ADDR, the paste, an empty line, the answer: everything said."""
    con.send("audit remote set " + addr)
    con.expect("then an empty line:")
    for line in pem_lines:
        con.send(line)
    con.send("")
    out = ""
    if answer is not None:
        try:
            out += con.expect("[y/N] ", timeout=10)
            con.send(answer)
        except cl.Timeout:
            pass
    return out + con.prompt()


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


with open(a.conf, "w") as f:
    f.write(BASE)  # no [audit] section: the appliance as shipped
col5 = Collector(pki, "col.crt", "col.key", appl_ca)
addr = "127.0.0.1:%d" % col5.port
con = boot(a)
out = remote_state(con)
t.check("console: audit remote says off, how to set it", "remote audit: off ([audit] remote is "
        "not set; `audit remote set` sets it)" in out, out)
out = con.cmd("audit remote set 127.0.0.1")
t.check("console: a bad HOST:PORT is refused before the paste", "bad address \"127.0.0.1\"" in out
        and "then an empty line" not in out, out)
out = con.cmd("audit remote set 127.0.0.1:70000")
t.check("console: a port out of range is refused", "bad address" in out, out)
out = paste_set(con, addr, ["-----BEGIN CERTIFICATE-----", "bm90IGEgY2VydGlmaWNhdGU=",
                            "-----END CERTIFICATE-----"], answer=None)
t.check("console: garbage PEM refused, nothing changed", "refused: a certificate that does not "
        "parse" in out and "nothing changed" in out, out)
out = paste_set(con, addr, read_lines(os.path.join(pki, "col.crt")), answer=None)
t.check("console: a leaf (not a CA) refused", "refused: not a CA certificate" in out, out)
out = paste_set(con, addr, read_lines(os.path.join(pki, "col.crt")) +
                read_lines(os.path.join(pki, "col.key")), answer=None)
t.check("console: a pasted private key refused and not echoed", "refused: a PEM block that is "
        "not a certificate" in out and "PRIVATE KEY-----\n" not in out.split("refused")[1], out)
out = paste_set(con, addr, read_lines(os.path.join(pki, "colca.crt")), answer="n")
t.check("console: answered no: nothing changed", "nothing changed" in out, out)
out = remote_state(con)
t.check("console: after the refusals still off", "remote audit: off" in out and not col5.msgs,
        out)
fp = fingerprint(os.path.join(pki, "colca.crt"))
out = paste_set(con, addr, read_lines(os.path.join(pki, "colca.crt")))
t.check("console: set shows the CA's subject and SHA-256, the identity, and is in force",
        "subject: /CN=colca" in out and "SHA-256: " + fp in out and "server certificate" in out
        and "remote audit to %s: in force now." % addr in out, out)
t.check("console: the collector receives the chain from seq 1", wait_delivered(a, col5, 1))
check_complete("console set", col5, a, 1)
srv_cn = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline", "-in",
                         os.path.join(a.dir, "pki", "server.crt")], check=True,
                        stdout=subprocess.PIPE).stdout.decode()
srv_cn = re.search(r"commonName\s*=\s*(.+)", srv_cn).group(1).strip()
t.check("console: coffred showed its own server certificate (key in the HSM) to the collector",
        col5.peers and col5.peers[0].get("commonName") == srv_cn, "%r vs %s" % (col5.peers, srv_cn))
time.sleep(1.5)
out = remote_state(con)
t.check("console: audit remote shows the console's setting, the CA, connected",
        "remote audit: %s (certificate name 127.0.0.1) set at the console" % addr in out
        and "sha256 " + fp in out and "sender: connected since" in out, out)
out = con.cmd("audit remote set nonsense")
out += remote_state(con)
t.check("console: a bad address later leaves the setting", "bad address" in out and
        "remote audit: %s" % addr in out, out)
t.check("console: clean stop", a.stop() == 0)
con = boot(a)
for _ in range(3):
    create(a)
t.check("console: after a restart the setting holds and the collector catches up",
        wait_delivered(a, col5, 1))
check_complete("console set, restarted", col5, a, 1)
out = remote_state(con)
t.check("console: audit remote after the restart", "set at the console" in out, out)
con.send("audit remote off")
con.expect("[y/N] ")
con.send("y")
out = con.prompt()
t.check("console: audit remote off in force", "remote audit off: in force now." in out, out)
n_msgs = len(col5.msgs)
for _ in range(3):
    create(a)
time.sleep(1.5)
rows = store_rows(a)
t.check("console: after off no record arrives (%d messages, store head %d)" % (
        len(col5.msgs), max(rows)), len(col5.msgs) == n_msgs and max(rows) > max(
        int(SD_RE.match(m).group(6)) for m in col5.msgs))
t.check("console: clean stop", a.stop() == 0)
configure(col5.port)  # a coffred.conf remote: the console's off overrides it
con = boot(a)
time.sleep(1.0)
out = remote_state(con)
t.check("console: off overrides [audit] remote of coffred.conf", "remote audit: off (set at "
        "the console" in out and "overrides [audit] remote" in out and len(col5.msgs) == n_msgs,
        out)
t.check("console: clean stop", a.stop() == 0)
col5.stop()
ops = audit_ops(a, ["audit:remote-set", "audit:remote-off", "audit:remote-start"])
sets = [r for r in ops if r[0] == "audit:remote-set"]
t.check("console: audit records of the refusals, the change (with the CA fingerprint) and off",
        any(r[1] != 0 and "not a CA" in (r[2] or "") for r in sets)
        and any(r[1] == 0 and fp in r[2] and addr in r[2] for r in sets)
        and any(r[0] == "audit:remote-off" and r[1] == 0 for r in ops)
        and any(r[0] == "audit:remote-start" and "sending from seq 1" in r[2] for r in ops),
        "%r" % ops)
t.check("console: no key material in the audit", not any("PRIVATE" in (r[2] or "") or
                                                          "BEGIN" in (r[2] or "") for r in ops))

# ---- 6. [audit] remote_key = pkcs11:... (the HSM key through the engine, loaded at READY) -----
tls_key = re.search(r"^key\s*=\s*(pkcs11:\S+)\s*$", BASE, re.M)
t.check("pkcs11: the QA [tls] key is a pkcs11: URI", tls_key is not None, BASE)
col6 = Collector(pki, "col.crt", "col.key", appl_ca)
addr6 = "127.0.0.1:%d" % col6.port
with open(a.conf, "w") as f:
    f.write(BASE + "\n[audit]\nremote_cert = %s\nremote_key = %s\n" % (
        os.path.join(a.dir, "pki", "server.crt"), tls_key.group(1) if tls_key else ""))
con = boot(a)
out = paste_set(con, addr6, read_lines(os.path.join(pki, "colca.crt")))
t.check("pkcs11: set at the console, identity from [audit] remote_cert", "([audit] remote_cert)"
        in out and "in force now." in out, out)
t.check("pkcs11: a new collector receives the chain from seq 1", wait_delivered(a, col6, 1))
check_complete("pkcs11 remote_key", col6, a, 1)
t.check("pkcs11: the collector saw the certificate of remote_cert, signed in the HSM",
        col6.peers and col6.peers[0].get("commonName") == srv_cn, "%r" % col6.peers)
t.check("pkcs11: clean stop", a.stop() == 0)
col6.stop()

t.check("no sanitizer report", not a.sanitizer_errors(), rl.sanitizer_digest(a))
t.done()
