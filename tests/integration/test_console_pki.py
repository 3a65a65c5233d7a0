"""Console PKI commands over a real pty with a real PyKMIP client (docs/console/pki.md).

usage: test_console_pki.py BUILD_DIR

On a QA instance: `cert show` fingerprints equal openssl's; `client sign-csr` with an openssl
CSR, `client issue`, and `client trust` with a self-signed certificate each give a client
that PyKMIP connects with and runs a key life cycle through; `client revoke` makes the next
connection fail; garbage PEM and a CSR with a corrupted signature are refused with one clear
line and record nothing."""
import base64
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----", re.S)
# the alert a revoked client meets: a CA-signed one is revoked, a pinned self-signed one is
# no longer pinned, so its CA is unknown
REVOKED_ALERT = {"vc1": "SSLV3_ALERT_CERTIFICATE_REVOKED", "vc3": "TLSV1_ALERT_UNKNOWN_CA"}
KEY_RE = re.compile(r"-----BEGIN PRIVATE KEY-----\n.*?-----END PRIVATE KEY-----", re.S)


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30, **kw).stdout.decode()


def openssl_fp(path, alg):
    out = sh("openssl", "x509", "-noout", "-fingerprint", "-" + alg, "-in", path)
    return out.strip().split("=", 1)[1]


def write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def paste_cmd(con, line, pem, confirm=None):
    """Run a command that asks for a paste (and maybe a [y/N] confirmation)."""
    con.send(line)
    con.expect("Paste ")
    for ln in pem.strip().splitlines():
        con.send(ln)
    if confirm is not None:
        try:
            before = con.expect("[y/N] ", timeout=10)
        except cl.Timeout:
            return con.prompt().replace("\r\n", "\n")
        con.send(confirm)
        return (before + con.prompt()).replace("\r\n", "\n")
    return con.prompt().replace("\r\n", "\n")


def client(a, crt, key, **cred):
    return ProxyKmipClient(hostname="127.0.0.1", port=a.port, cert=crt, key=key,
                           ca=os.path.join(a.dir, "pki", "ca.crt"), config_file="/dev/null",
                           **cred)


def life_cycle(a, who, crt, key, **cred):
    """create, get, activate, revoke, destroy through PyKMIP; True when all worked."""
    try:
        with client(a, crt, key, **cred) as c:
            uid = c.create(enums.CryptographicAlgorithm.AES, 256, name="pki-" + who)
            k = c.get(uid)
            assert len(k.value) == 32
            c.activate(uid)
            c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
            c.destroy(uid)
        return True, ""
    except Exception as e:  # noqa: BLE001
        return False, repr(e)


def refused(a, crt, key, alert):
    """The server refuses the handshake with this TLS alert (the OpenSSL reason the client
    reads, e.g. TLSV1_ALERT_UNKNOWN_CA): -> (True, "") or (False, what happened)."""
    try:
        with client(a, crt, key) as c:
            c.create(enums.CryptographicAlgorithm.AES, 128)
        return False, "create succeeded"
    except OSError as e:   # ssl.SSLError is an OSError
        got = rl.ssl_reason(e)
        return got == alert, "%s: %r (want the alert %s)" % (type(e).__name__, e, alert)


a = cl.Appliance(build, name="pki")
work = os.path.join(a.tmp, "work")
os.makedirs(work)
a.start()
con = a.console
a.login()

# ---- cert show ------------------------------------------------------------------------------
out = con.cmd("cert show")
srv_crt = os.path.join(a.dir, "pki", "server.crt")
ca_crt = os.path.join(a.dir, "pki", "ca.crt")
for label, path in (("server", srv_crt), ("CA", ca_crt)):
    for alg, tag in (("sha1", "SHA-1"), ("sha256", "SHA-256")):
        fp = openssl_fp(path, alg)
        t.check("cert show: %s %s fingerprint equals openssl's" % (label, tag),
                ("%s fingerprint:" % tag) in out and fp in out, fp)
pems = CERT_RE.findall(out)
t.check("cert show prints both certificates in PEM", len(pems) == 2)
t.check("cert show: validity in UTC and subject", " UTC" in out and "subject:" in out)

# ---- sign-csr -------------------------------------------------------------------------------
vc1_key, vc1_csr = os.path.join(work, "vc1.key"), os.path.join(work, "vc1.csr")
sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
   "-subj", "/CN=vc1", "-keyout", vc1_key, "-out", vc1_csr)
csr = open(vc1_csr).read()
out = paste_cmd(con, "client sign-csr vc1", csr)
certs = CERT_RE.findall(out)
t.check("sign-csr prints a certificate", len(certs) == 1, out[-500:])
vc1_crt = os.path.join(work, "vc1.crt")
if certs:
    write(vc1_crt, certs[0])
    text = sh("openssl", "x509", "-noout", "-text", "-in", vc1_crt)
    t.check("signed certificate has clientAuth", "TLS Web Client Authentication" in text)
    sh("openssl", "verify", "-CAfile", ca_crt, vc1_crt)
    t.ok("signed certificate chains to the appliance CA")
    ok, why = life_cycle(a, "vc1", vc1_crt, vc1_key)
    t.check("PyKMIP with the CSR-signed certificate: create/get/activate/revoke/destroy", ok, why)
out = con.cmd("client sign-csr vc1")   # refused before the paste is asked for
t.check("sign-csr refuses a name in use",
        re.search(r'^client "vc1" already exists \(signed, sha256:[0-9a-f]{64}\): choose another name, '
                  r'or `client revoke vc1` first$', out, re.M) is not None and
        not CERT_RE.search(out), out[-300:])

# garbage PEM and a corrupted signature
out = paste_cmd(con, "client sign-csr bad1",
                "-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE REQUEST-----")
t.check("garbage PEM: one clear line", cl.has_line(
    out, "not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----); nothing recorded"),
    out[-300:])
der = bytearray(base64.b64decode("".join(l for l in csr.splitlines() if not l.startswith("-----"))))
der[-1] ^= 1
b64 = base64.b64encode(bytes(der)).decode()
bad = "-----BEGIN CERTIFICATE REQUEST-----\n%s\n-----END CERTIFICATE REQUEST-----" % "\n".join(
    b64[i:i + 64] for i in range(0, len(b64), 64))
out = paste_cmd(con, "client sign-csr bad2", bad)
t.check("corrupted CSR signature: one clear line", cl.has_line(
    out, "the request's signature does not verify (altered or corrupted CSR); nothing recorded"),
    out[-300:])

# ---- issue ----------------------------------------------------------------------------------
out = con.cmd("client issue vc2")
certs, keys = CERT_RE.findall(out), KEY_RE.findall(out)
t.check("issue prints a certificate and its private key", len(certs) == 1 and len(keys) == 1)
if certs and keys:
    vc2_crt, vc2_key = os.path.join(work, "vc2.crt"), os.path.join(work, "vc2.key")
    write(vc2_crt, certs[0])
    write(vc2_key, keys[0], 0o600)
    ok, why = life_cycle(a, "vc2", vc2_crt, vc2_key)
    t.check("PyKMIP with the issued certificate and key: key life cycle", ok, why)

    # ---- client password: tenant vc2's requests must then carry the credential ----
    con.send("client password kmipuser --tenant vc2")
    con.expect("KMIP password: ")
    con.send("short")
    out = con.expect("KMIP password: ")
    t.check("client password: a weak password is refused with the rules", "password refused" in
            out, out[-300:])
    con.send("Kmip-Pass-2026")
    con.expect("Repeat the KMIP password: ")
    con.send("Kmip-Pass-2026")
    con.expect("[y/N] ")
    con.send("y")
    out = con.prompt().replace("\r\n", "\n")
    t.check("client password sets it", cl.has_line(
        out, 'KMIP password of "kmipuser" set: tenant vc2\'s requests must carry it from now on.'),
        out[-300:])
    ok, why = life_cycle(a, "vc2-nopw", vc2_crt, vc2_key)
    t.check("... tenant vc2 without the credential: refused", not ok and
            "AUTHENTICATION_NOT_SUCCESSFUL" in why.upper(), why)
    ok, why = life_cycle(a, "vc2-badpw", vc2_crt, vc2_key, username="kmipuser",
                         password="Wrong-Pass-2026")
    t.check("... with a wrong password: refused", not ok and
            "AUTHENTICATION_NOT_SUCCESSFUL" in why.upper(), why)
    ok, why = life_cycle(a, "vc2-pw", vc2_crt, vc2_key, username="kmipuser",
                         password="Kmip-Pass-2026")
    t.check("... with the password: key life cycle", ok, why)

# ---- trust ----------------------------------------------------------------------------------
self_crt, self_key = os.path.join(work, "self.crt"), os.path.join(work, "self.key")
sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
   "-subj", "/CN=vcenter-self", "-days", "30", "-keyout", self_key, "-out", self_crt)
ok, why = refused(a, self_crt, self_key, "TLSV1_ALERT_UNKNOWN_CA")
t.check("a self-signed certificate is refused before trust (TLSV1_ALERT_UNKNOWN_CA)", ok, why)
out = paste_cmd(con, "client trust vc3", open(self_crt).read(), confirm="y")
fp = openssl_fp(self_crt, "sha256").replace(":", "").lower()
t.check("trust reports the SHA-256 fingerprint", fp in out, out[-400:])
ok, why = life_cycle(a, "vc3", self_crt, self_key)
t.check("PyKMIP with the trusted self-signed certificate: key life cycle", ok, why)
out = paste_cmd(con, "client trust bad3",
                "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----", confirm="y")
t.check("trust: garbage PEM refused", cl.has_line(
    out, "not a PEM certificate (-----BEGIN CERTIFICATE-----); nothing recorded"), out[-300:])

# ---- list, revoke ---------------------------------------------------------------------------
out = con.cmd("client list")
t.check("list shows vc1, vc2, vc3 and the fingerprint",
        all(re.search(r"^%s\s" % n, out, re.M) for n in ("vc1", "vc2", "vc3")) and fp in out,
        out)
t.check("nothing recorded for the refused pastes",
        not any(re.search(r"^%s\s" % n, out, re.M) for n in ("bad1", "bad2", "bad3")))
for name, crt, key in (("vc1", vc1_crt, vc1_key), ("vc3", self_crt, self_key)):
    con.send("client revoke %s" % name)
    con.expect("[y/N] ")
    con.send("y")
    out = con.prompt().replace("\r\n", "\n")
    t.check("revoke %s" % name, cl.has_line(
        out, 'Client "%s" revoked: its connections and requests are refused from now on.' % name),
        out[-300:])
    ok, why = refused(a, crt, key, REVOKED_ALERT[name])
    t.check("after revoke, %s's next connection is refused (%s)" % (name, REVOKED_ALERT[name]),
            ok, why)
out = con.cmd("client list")
t.check("list shows the revoked clients as revoked",
        re.search(r"^vc1\s.*revoked", out, re.M) and re.search(r"^vc3\s.*revoked", out, re.M),
        out)
ok, why = life_cycle(a, "vc2b", os.path.join(work, "vc2.crt"), os.path.join(work, "vc2.key"),
                     username="kmipuser", password="Kmip-Pass-2026")
t.check("the other client still works (with its tenant's KMIP password)", ok, why)
out = con.cmd("audit tail 200")
t.check("audit names the client operations",
        "client_sign_csr" in out and "client_revoke" in out and "PRIVATE KEY" not in out,
        out[-600:])

# ---- a restart keeps both the pin and the revocations -----------------------------------------
self2_crt, self2_key = os.path.join(work, "self2.crt"), os.path.join(work, "self2.key")
sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
   "-subj", "/CN=vcenter-self2", "-days", "30", "-keyout", self2_key, "-out", self2_crt)
out = paste_cmd(con, "client trust vc4", open(self2_crt).read(), confirm="y")
a.stop()
a.start()
con = a.console
a.login()
ok, why = life_cycle(a, "vc4", self2_crt, self2_key)
t.check("after a restart, the pinned self-signed certificate is still accepted", ok, why)
for name, crt, key in (("vc1", vc1_crt, vc1_key), ("vc3", self_crt, self_key)):
    ok, why = refused(a, crt, key, REVOKED_ALERT[name])
    t.check("after a restart, revoked %s is still refused (%s)" % (name, REVOKED_ALERT[name]),
            ok, why)

a.stop()
print("%d passed, %d failed" % (t.passed, t.failed))
sys.exit(0 if t.failed == 0 else 1)
