"""Source-address allow-lists (docs/security.md "Source-address allow-lists"): [kmip] allow.

usage: test_allow.py BUILD_DIR

A QA instance listening on 127.0.0.1 with `allow = 127.0.0.2/32`: a TCP connection from
127.0.0.1 that sends a real TLS ClientHello is closed with not one byte back (no ServerHello:
the handshake never started), and the console's `status` counts it in refused_source; PyKMIP
from 127.0.0.2 (its socket bound there) runs create/get. A bad CIDR in [kmip] allow stops the
start with the config line and the reason. On ::1 (when the host has it): allow = ::1/128
serves, allow = 2001:db8::/32 refuses. `client allow` per client. `kmip allow` at the console:
shown, changed at once (a list without 127.0.0.1 closes its new connections before TLS, `any`
serves them again), audited, and kept across a restart."""
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402
from kmip.pie.exceptions import KmipOperationFailure  # noqa: E402
import kmip.services.kmip_client as kc  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()

# PyKMIP opens socket.socket(AF_INET, SOCK_STREAM) then connects: give it a socket bound to
# SRC[0] (the source address under test) when set.
SRC = [None]


class SrcSocket(socket.socket):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        if SRC[0] is not None:
            self.bind((SRC[0], 0))


_proxy = types.ModuleType("socket")
_proxy.__dict__.update(socket.__dict__)
_proxy.socket = SrcSocket
kc.socket = _proxy


def client_hello():
    """The bytes of a real TLS ClientHello (Python's ssl over memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def raw_hello(host, port, family=socket.AF_INET, src=None):
    """Connect (from src), send a ClientHello, read until EOF/reset/timeout: (bytes back,
    how it ended)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    got, how = b"", "eof"
    try:
        if src is not None:
            s.bind((src, 0))
        s.connect((host, port))
        try:
            s.sendall(client_hello())
        except OSError:
            pass  # closed before we wrote: the same refusal
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    finally:
        s.close()
    return got, how


def kmip_client(a, host="127.0.0.1", crt=None, key=None):
    pki = os.path.join(a.dir, "pki")
    return ProxyKmipClient(hostname=host, port=a.port, cert=crt or os.path.join(pki, "qa.crt"),
                           key=key or os.path.join(pki, "qa.key"), ca=os.path.join(pki, "ca.crt"),
                           config_file="/dev/null")


def create_get(a, src, crt, key):
    """PyKMIP from src: create + get. "ok", or the Result Reason name of the refusal."""
    SRC[0] = src
    try:
        with kmip_client(a, crt=crt, key=key) as c:
            uid = c.create(enums.CryptographicAlgorithm.AES, 256)
            return "ok" if len(c.get(uid).value) == 32 else "bad key"
    except KmipOperationFailure as e:
        return "%s %r" % (e.reason.name, e.message)
    except Exception as e:  # noqa: BLE001
        return repr(e)
    finally:
        SRC[0] = None


def confirm(con, line):
    con.send(line)
    con.expect("[y/N] ")
    con.send("y")
    return con.prompt().replace("\r\n", "\n")


def refused_source(con):
    m = re.search(r"^kmip refused_source: (\d+) ", con.cmd("status"), re.M)
    return int(m.group(1)) if m else None


# ---- a bad CIDR is a config error ------------------------------------------------------------
a = cl.Appliance(build, name="allow")
with open(a.conf) as f:
    good = f.read()
for bad, why in (("192.0.2.1/24", "bits are set beyond the prefix length"),
                 ("10.0.0.0/33", "the prefix length of an IPv4 address is 0 to 32"),
                 ("127.0.0.2/32 host.example", "not a numeric IPv4 or IPv6 address")):
    bconf = os.path.join(a.dir, "bad.conf")
    with open(bconf, "w") as f:
        f.write(good.replace("[kmip]\n", "[kmip]\nallow = %s\n" % bad, 1))
    r = subprocess.run([a.coffred, "-c", bconf, "--port", "0"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    item = bad.split()[-1] if " " in bad else bad
    t.check("allow = %s: start refused with the line and the reason" % bad,
            r.returncode != 0 and "bad.conf:" in out and "[kmip] allow: '%s': " % item in out
            and why in out, out[-400:])
    os.unlink(bconf)

# ---- IPv4: outside closed before TLS, inside served -----------------------------------------
a.set_section("kmip", {"allow": "127.0.0.2/32 127.0.0.3"})
a.start()
con = a.console
a.login()
t.check("status shows refused_source 0 at start", refused_source(con) == 0, con.cmd("status"))

got, how = raw_hello("127.0.0.1", a.port)
t.check("from 127.0.0.1: closed with no byte back (no ServerHello) [%s]" % how,
        got == b"" and how in ("eof", "reset"), repr(got[:16]))
got2, how2 = raw_hello("127.0.0.1", a.port)
t.check("a second one too [%s]" % how2, got2 == b"" and how2 in ("eof", "reset"))
n = refused_source(con)
t.check("status: refused_source counts both (%s)" % n, n == 2)
try:
    with kmip_client(a) as c:
        c.create(enums.CryptographicAlgorithm.AES, 256)
    t.check("PyKMIP from 127.0.0.1 is refused", False)
except Exception as e:  # noqa: BLE001
    t.check("PyKMIP from 127.0.0.1 is refused (%s)" % type(e).__name__, True)
n = refused_source(con)
t.check("refused_source counts PyKMIP's attempt (%s)" % n, n == 3)

got, how = raw_hello("127.0.0.1", a.port, src="127.0.0.2")
t.check("from 127.0.0.2: the server answers the ClientHello (%d bytes, first 0x%02x)"
        % (len(got), got[0] if got else 0), len(got) > 5 and got[0] == 0x16)
SRC[0] = "127.0.0.2"
try:
    with kmip_client(a) as c:
        uid = c.create(enums.CryptographicAlgorithm.AES, 256)
        k = c.get(uid)
    t.check("PyKMIP from 127.0.0.2: create and get", len(k.value) == 32)
except Exception as e:  # noqa: BLE001
    t.check("PyKMIP from 127.0.0.2: %r" % e, False)
SRC[0] = None
n = refused_source(con)
t.check("accepted connections do not count (%s)" % n, n == 3)
# ---- per client: `client allow` --------------------------------------------------------------
CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----", re.S)
KEY_RE = re.compile(r"-----BEGIN PRIVATE KEY-----\n.*?-----END PRIVATE KEY-----", re.S)
out = con.cmd("client issue vc1")
certs, keys = CERT_RE.findall(out), KEY_RE.findall(out)
vc1_crt, vc1_key = os.path.join(a.tmp, "vc1.crt"), os.path.join(a.tmp, "vc1.key")
with open(vc1_crt, "w") as f:
    f.write(certs[0] + "\n")
fd = os.open(vc1_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(keys[0] + "\n")
t.check("vc1 from 127.0.0.2 before client allow", create_get(a, "127.0.0.2", vc1_crt, vc1_key)
        == "ok")
out = con.cmd("client allow vc1 192.0.2.1/24")
t.check("client allow: a bad CIDR is refused with the reason", cl.has_line(
    out, "bad allow-list: bits are set beyond the prefix length: write the network address "
    "(e.g. 192.0.2.0/24, not 192.0.2.1/24)"), out)
out = con.cmd("client allow nosuch 127.0.0.3")
t.check("client allow: unknown client", 'no active client named "nosuch"' in out, out)
out = confirm(con, "client allow vc1 127.0.0.3 2001:DB8:0::/32")
t.check("client allow vc1 127.0.0.3 2001:db8::/32", cl.has_line(
    out, 'Client "vc1" allowed from 127.0.0.3/32 2001:db8::/32: new requests see it now.'), out)
out = con.cmd("client list")
t.check("client list shows vc1's allow-list", cl.has_line(out, "  allow: 127.0.0.3/32 2001:db8::/32"),
        out)
r = create_get(a, "127.0.0.2", vc1_crt, vc1_key)
t.check("vc1 from 127.0.0.2 (outside its list): Permission Denied (%s)" % r,
        r.startswith("PERMISSION_DENIED 'source address not allowed for this client'"))
r = create_get(a, "127.0.0.3", vc1_crt, vc1_key)
t.check("vc1 from 127.0.0.3 (inside): works (%s)" % r, r == "ok")
r = create_get(a, "127.0.0.2", None, None)
t.check("qa (no list) from 127.0.0.2 still works (%s)" % r, r == "ok")
out = confirm(con, "client allow vc1 any")
t.check("client allow vc1 any", cl.has_line(
    out, 'Client "vc1" allowed from any: new requests see it now.'), out)
r = create_get(a, "127.0.0.2", vc1_crt, vc1_key)
t.check("vc1 from 127.0.0.2 after `any`: works (%s)" % r, r == "ok")
out = con.cmd("client list")
t.check("client list: no allow line after `any`", "allow:" not in out, out)

err = a.stderr()
lines = re.findall(r"net: refused (\d+) connection\(s\) from outside \[kmip\] allow", err)
t.check("log: one rate-limited line for the burst, not one per connection (%s)" % lines,
        len(lines) == 1 and lines[0] == "1")
t.check("coffred still running", a.alive())

# ---- the listener's list at the console: `kmip allow` ------------------------------------------
out = con.cmd("kmip allow")
t.check("kmip allow shows the list of coffred.conf", cl.has_line(
    out, "kmip allow: 127.0.0.2/32 127.0.0.3/32 ([kmip] allow of coffred.conf)"), out)
out = con.cmd("kmip allow 10.0.0.0/33")
t.check("kmip allow: a bad CIDR is refused with the reason",
        "bad allow-list: the prefix length of an IPv4 address is 0 to 32" in out, out)
out = confirm(con, "kmip allow 127.0.0.1 127.0.0.2")
t.check("kmip allow 127.0.0.1 127.0.0.2", cl.has_line(
    out, "KMIP listener allows 127.0.0.1/32 127.0.0.2/32: new connections see it now."), out)
got, how = raw_hello("127.0.0.1", a.port)
t.check("at once, no restart: 127.0.0.1 gets a ServerHello (%d bytes)" % len(got),
        len(got) > 5 and got[0] == 0x16)
r = create_get(a, None, None, None)
t.check("PyKMIP from 127.0.0.1: create and get (%s)" % r, r == "ok")
n0 = refused_source(con)
got, how = raw_hello("127.0.0.1", a.port, src="127.0.0.3")
t.check("127.0.0.3 (dropped from the list): closed with no byte back [%s]" % how,
        got == b"" and how in ("eof", "reset"))
out = confirm(con, "kmip allow 127.0.0.2")
t.check("kmip allow 127.0.0.2 (excludes 127.0.0.1)", cl.has_line(
    out, "KMIP listener allows 127.0.0.2/32: new connections see it now."), out)
got, how = raw_hello("127.0.0.1", a.port)
t.check("127.0.0.1 now closed before TLS, no byte back [%s]" % how,
        got == b"" and how in ("eof", "reset"))
n = refused_source(con)
t.check("status: refused_source counts both refusals (%s -> %s)" % (n0, n), n == n0 + 2)
out = con.cmd("audit tail 5")
t.check("the change is audited (console:admin kmip_allow kmip ok)",
        re.search(r"console:admin +console +kmip_allow +kmip +ok", out) is not None, out)
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)
a.start()
con = a.console
a.login()
out = con.cmd("kmip allow")
t.check("after a restart the console's list stays in force", cl.has_line(
    out, "kmip allow: 127.0.0.2/32 (set at the console)"), out)
got, how = raw_hello("127.0.0.1", a.port)
t.check("after the restart 127.0.0.1 is still closed before TLS [%s]" % how,
        got == b"" and how in ("eof", "reset"))
out = confirm(con, "kmip allow any")
t.check("kmip allow any", cl.has_line(
    out, "KMIP listener allows any: new connections see it now."), out)
r = create_get(a, None, None, None)
t.check("after `any`, 127.0.0.1 is served again (%s)" % r, r == "ok")
out = con.cmd("kmip allow")
t.check("kmip allow: any (set at the console)", cl.has_line(
    out, "kmip allow: any (set at the console)"), out)
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)


# ---- IPv6 on ::1 -----------------------------------------------------------------------------
def has_v6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


if has_v6_loopback():
    for allow, want in (("::1/128 127.0.0.0/8", True), ("2001:db8::/32", False)):
        b = cl.Appliance(build, name="allow6")
        b.set_section("kmip", {"address": "::1", "allow": allow})
        # the QA config names the address already: keep only our (first) line
        with open(b.conf) as f:
            text = f.read()
        first = text.index("address = ::1\n") + len("address = ::1\n")
        text = text[:first] + re.sub(r"(?m)^address = 127\.0\.0\.1\n", "", text[first:], count=1)
        with open(b.conf, "w") as f:
            f.write(text)
        b.start()
        got, how = raw_hello("::1", b.port, family=socket.AF_INET6)
        served = len(got) > 5 and got[0] == 0x16
        t.check("::1 with allow = %s: %s" % (allow, "served" if want else "closed, no byte"),
                served == want and (want or (got == b"" and how in ("eof", "reset"))))
        b.login()
        n = refused_source(b.console)
        t.check("::1 refused_source = %s" % n, n == (0 if want else 1))
        rc = b.stop()
        t.check("clean stop (rc=%s)" % rc, rc == 0)
else:
    print("(no ::1 on this host: IPv6 part skipped)")

t.done()
