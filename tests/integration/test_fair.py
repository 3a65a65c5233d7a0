"""Fair share under abuse (docs/security.md "Fair share"): [kmip] max_conns_per_source,
handshake_rate_per_source / handshake_burst_per_source, max_handshaking.

usage: test_fair.py BUILD_DIR

1. max_conns_per_source = 4 (generous rate): from 127.0.0.2, 4 mutual-TLS connections stay
   open; the 5th is closed with not one byte back (no ServerHello) and counted in `status`
   (refused_busy_source); 127.0.0.1 still works (TLS and PyKMIP create/get); after the 4 close,
   127.0.0.2 works again.
2. handshake_rate_per_source = 1, burst 5: from 127.0.0.3 a quick run of sequential handshakes
   gets the first ones served and the rest refused before TLS (refused_rate); after the bucket
   refills, a handshake works again.
3. The refusals are logged in a bounded number of lines, never one per connection.
4. The DEFAULT limits: coffre-bench --op vcenter --conns 64 --seconds 5 from one address (a
   vCenter boot storm: a new full handshake per operation) gets zero refusals; its rate is
   printed.
5. handshake_rate_per_source = 50, burst 50: coffre-bench --op vcenter --resume from one
   address goes far beyond 50/s with zero refusals (a resumed session gives its token back);
   the same without --resume is held to the rate (refused_rate grows)."""
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import kmipwire as kw  # noqa: E402
import robust_lib as rl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()

STATUS_RE = re.compile(r"^kmip fair share: refused_busy_source (\d+), refused_rate (\d+), "
                       r"refused_handshaking (\d+)$", re.M)


def fair(con):
    """(refused_busy_source, refused_rate, refused_handshaking) from `status`."""
    out = con.cmd("status")
    m = STATUS_RE.search(out.replace("\r\n", "\n"))
    return tuple(int(x) for x in m.groups()) if m else out


def open_count(con):
    m = re.search(r"^kmip: \S+, (\d+) open connections", con.cmd("status"), re.M)
    return int(m.group(1)) if m else None


def tls(a, src):
    """A mutual-TLS connection from src, handshake done: the SSL socket, or None when the
    server closed it first (how it ended in .why)."""
    pki = os.path.join(a.dir, "pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(pki, "qa.crt"), os.path.join(pki, "qa.key"))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", a.port))
    try:
        ss = ctx.wrap_socket(s)
        # TLS 1.3: the server may refuse the client certificate after the client's Finished;
        # a read proves the session is up (no data: times out quickly)
        ss.settimeout(0.2)
        try:
            if ss.recv(1) == b"":
                ss.close()
                return None
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        ss.settimeout(5)
        return ss
    except (ssl.SSLError, OSError):
        s.close()
        return None


def served_one(a, src):
    """A mutual-TLS connection from src that sends one request (Discover Versions) and gets
    its answer: True when served (a client that sends requests pays no fair-share penalty)."""
    s = tls(a, src)
    if s is None:
        return False
    try:
        s.sendall(kw.request(0x1E, []))
        hdr = b""
        while len(hdr) < 8:
            b = s.recv(8 - len(hdr))
            if not b:
                return False
            hdr += b
        return hdr[:3] == b"\x42\x00\x7b"
    except (ssl.SSLError, OSError):
        return False
    finally:
        s.close()


def refused_raw(a, src):
    """Connect from src, send nothing, read: True when the server closes with no byte."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", a.port))
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def wait_open(con, n, secs=5):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if open_count(con) == n:
            return True
        time.sleep(0.05)
    return False


a = cl.Appliance(build, name="fair")
with open(a.conf) as f:
    base_conf = f.read()

# ---- 1. per-source connection cap -------------------------------------------------------------
a.set_section("kmip", {"max_conns_per_source": 4, "handshake_rate_per_source": 1000,
                       "handshake_burst_per_source": 1000})
a.start()
con = a.console
a.login()
t.check("status shows the fair-share counters at 0", fair(con) == (0, 0, 0), fair(con))
held = [tls(a, "127.0.0.2") for _ in range(4)]
t.check("4 TLS connections from 127.0.0.2 are up", all(h is not None for h in held))
t.check("status: 4 open", wait_open(con, 4))
t.check("5th from 127.0.0.2: closed before TLS, no byte back", refused_raw(a, "127.0.0.2"))
t.check("6th (a TLS client) from 127.0.0.2 fails too", tls(a, "127.0.0.2") is None)
f = fair(con)
t.check("status: refused_busy_source 2, nothing else (%s)" % (f,), f == (2, 0, 0))
other = tls(a, "127.0.0.1")
t.check("127.0.0.1 still gets a TLS connection", other is not None)
if other is not None:
    other.close()
try:
    with ProxyKmipClient(hostname="127.0.0.1", port=a.port,
                         cert=os.path.join(a.dir, "pki", "qa.crt"),
                         key=os.path.join(a.dir, "pki", "qa.key"),
                         ca=os.path.join(a.dir, "pki", "ca.crt"), config_file="/dev/null") as c:
        uid = c.create(enums.CryptographicAlgorithm.AES, 256)
        t.check("PyKMIP from 127.0.0.1: create and get", len(c.get(uid).value) == 32)
except Exception as e:  # noqa: BLE001
    t.check("PyKMIP from 127.0.0.1: %r" % e, False)
for h in held:
    if h is not None:
        h.close()
t.check("the 4 close: 0 open", wait_open(con, 0))
again = tls(a, "127.0.0.2")
t.check("127.0.0.2 works again once its connections closed (count released exactly)",
        again is not None)
if again is not None:
    again.close()
f = fair(con)
t.check("status unchanged: refused_busy_source 2 (%s)" % (f,), f == (2, 0, 0))
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)

# ---- 2. per-source handshake rate --------------------------------------------------------------
with open(a.conf, "w") as fh:
    fh.write(base_conf)
a.set_section("kmip", {"max_conns_per_source": 64, "handshake_rate_per_source": 1,
                       "handshake_burst_per_source": 5})
a.start()
con = a.console
a.login()
served = refused = 0
t0 = time.monotonic()
for _ in range(12):
    if served_one(a, "127.0.0.3"):
        served += 1
    else:
        refused += 1
took = time.monotonic() - t0
f = fair(con)
# 5 from the burst plus at most one per second elapsed
t.check("12 quick handshakes from 127.0.0.3 in %.1f s: %d served, %d refused"
        % (took, served, refused), 5 <= served <= 5 + int(took) + 1 and refused >= 12 - served)
t.check("status: refused_rate %s = the refusals, no busy (%s)" % (refused, f,),
        isinstance(f, tuple) and f[0] == 0 and f[1] == refused and f[2] == 0)
ok1 = tls(a, "127.0.0.1")
t.check("127.0.0.1 is not throttled by 127.0.0.3's bucket", ok1 is not None)
if ok1 is not None:
    ok1.close()
time.sleep(2.2)
t.check("after the bucket refills, 127.0.0.3 works again", served_one(a, "127.0.0.3"))
err = a.stderr()
lines = re.findall(r"net: refused (\d+) connection\(s\) by \[kmip\] fair share", err)
t.check("log: bounded refusal lines (%d lines for %d refusals)" % (len(lines), refused),
        1 <= len(lines) <= 2 and refused >= 2)
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)

# ---- 4. defaults: a vCenter boot storm from one address is not throttled -----------------------
with open(a.conf, "w") as fh:
    fh.write(base_conf)
a.start()
con = a.console
a.login()
pki = os.path.join(a.dir, "pki")
r = subprocess.run([os.path.join(build, "coffre-bench"), "--host", "127.0.0.1", "--port",
                    str(a.port), "--cert", os.path.join(pki, "qa.crt"), "--key",
                    os.path.join(pki, "qa.key"), "--ca", os.path.join(pki, "ca.crt"),
                    "--op", "vcenter", "--conns", "64", "--seconds", "5", "--threads", "1",
                    "--max-errors", "0", "--no-name-check"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
out = r.stdout.decode(errors="replace")
print(out.rstrip())
m = re.search(r"^op=vcenter conns=64 ops=(\d+) .*rate=([\d.]+)/s .*errors=(\d+)$", out, re.M)
t.check("coffre-bench vcenter: rc=%d, no error" % r.returncode,
        r.returncode == 0 and m is not None and int(m.group(1)) > 0 and m.group(3) == "0",
        out[-600:])
if m is not None:
    print("vcenter pattern, one address, default limits: %s new handshakes+requests/s"
          % m.group(2))
f = fair(con)
t.check("defaults: zero fair-share refusals for 64 concurrent vCenter connections (%s)" % (f,),
        f == (0, 0, 0))
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)


# ---- 5. resumed sessions give their token back -------------------------------------------------
def bench_vcenter(extra):
    r = subprocess.run([os.path.join(build, "coffre-bench"), "--host", "127.0.0.1", "--port",
                        str(a.port), "--cert", os.path.join(pki, "qa.crt"), "--key",
                        os.path.join(pki, "qa.key"), "--ca", os.path.join(pki, "ca.crt"),
                        "--op", "vcenter", "--conns", "8", "--seconds", "3", "--threads", "1",
                        "--no-name-check"] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^op=vcenter conns=8 ops=(\d+) .*errors=(\d+)$", out, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (0, -1), out


# 50 handshakes a second, burst 50: far below what one client resuming sessions does
with open(a.conf, "w") as fh:
    fh.write(base_conf)
a.set_section("kmip", {"handshake_rate_per_source": 50, "handshake_burst_per_source": 50})
a.start()
con = a.console
a.login()
(ops, errs), out = bench_vcenter(["--resume"])
print(out.rstrip())
f = fair(con)
t.check("resumed handshakes from one address at %d in 3 s (rate limit 50/s, burst 50): no "
        "error, zero refusals (%s)" % (ops, f,), ops > 3 * 50 + 50 + 100 and errs == 0 and
        f is not None and f[1] == 0, out[-600:])
(ops2, errs2), out = bench_vcenter([])
print(out.rstrip())
f2 = fair(con)
t.check("the same pace with full handshakes is held to the rate: %d ops, refused_rate %s"
        % (ops2, f2 and f2[1]), f2 is not None and f2[1] > 0 and ops2 <= 3 * 50 + 50 + 60,
        out[-600:])
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)
t.done()
