"""Fair share under abuse (docs/security.md "Fair share under abuse"): a flood from 127.0.0.2
while the vCenter pattern runs from 127.0.0.1. Behaviour only; the rates are make bench's.

usage: test_abuse.py BUILD_DIR

[kmip] max_handshaking = 16 (so max_handshaking_per_source defaults to 8), handshake_timeout_s
= 2, handshake_rate_per_source = 2000, burst 200 (far above the good client's rate):
1. half-open flood: coffre-flood from 127.0.0.2 keeps 40 silent connections going for 4 s (a
   refused one connects again 10 ms later);
   meanwhile coffre-bench --op vcenter (full mutual-TLS handshake, Discover Versions, Get,
   close) on 4 connections from 127.0.0.1: every one of its operations succeeds (none of its
   handshakes refused); the flood holds at most its share (8) in handshake, the rest is closed
   before TLS and counted in `status` (refused_handshaking); the ones held are closed by the
   handshake deadline (2 s), not kept.
2. handshake flood: 127.0.0.2 runs full TLS handshakes without a client certificate (8 loops)
   and with one but no request (8 loops); meanwhile the vCenter pattern from 127.0.0.1 again
   has no error; 127.0.0.2 is throttled (refused_rate grows: its failed handshakes cost it the
   penalty); the log has a bounded number of refusal lines, and of failed-handshake lines (30
   at once, then one a second; `status` counts every failed handshake).
3. Afterwards nothing is left counted: 0 connections open, and 127.0.0.2 is served again once
   its bucket refilled (a client that sends a request)."""
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

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()

STATUS_RE = re.compile(r"^kmip fair share: refused_busy_source (\d+), refused_rate (\d+), "
                       r"refused_handshaking (\d+)$", re.M)
FLOOD_RE = re.compile(r"^mode=(\S+) conns=\d+ secs=\S+ attempts=(\d+) refused=(\d+) "
                      r"served=(\d+) failed=(\d+) deadline=(\d+)$", re.M)


def fair(con):
    m = STATUS_RE.search(con.cmd("status").replace("\r\n", "\n"))
    return tuple(int(x) for x in m.groups()) if m else None


def handshakes(con):
    m = re.search(r"^kmip handshakes: (\d+) completed, (\d+) failed or timed out$",
                  con.cmd("status").replace("\r\n", "\n"), re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def told(log):
    """(lines about one failed handshake, the number the log says it left out)"""
    pre = re.findall(r"net: conn \d+ \S+: (?:TLS handshake failed|closed by the peer during the "
                     r"TLS handshake|TLS handshake timeout|client certificate unusable)", log)
    said = sum(int(x) for x in re.findall(r"(\d+) earlier line\(s\) of failed or timed-out "
                                          r"handshakes not logged", log))
    return len(pre), said


def open_count(con):
    m = re.search(r"^kmip: \S+, (\d+) open connections", con.cmd("status"), re.M)
    return int(m.group(1)) if m else None


def flood(a, mode, conns, secs):
    pki = os.path.join(a.dir, "pki")
    return subprocess.Popen([os.path.join(build, "coffre-flood"), "--host", "127.0.0.1",
                             "--port", str(a.port), "--bind", "127.0.0.2", "--mode", mode,
                             "--conns", str(conns), "--seconds", str(secs),
                             "--cert", os.path.join(pki, "qa.crt"),
                             "--key", os.path.join(pki, "qa.key"), "--pace-ms", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def flood_result(p):
    out = p.communicate(timeout=60)[0].decode(errors="replace")
    m = FLOOD_RE.search(out)
    if m is None:
        return None, out
    return dict(zip(("attempts", "refused", "served", "failed", "deadline"),
                    (int(x) for x in m.groups()[1:]))), out


def vcenter(a, secs):
    """coffre-bench --op vcenter from 127.0.0.1: (ops, errors, output)."""
    pki = os.path.join(a.dir, "pki")
    r = subprocess.run([os.path.join(build, "coffre-bench"), "--host", "127.0.0.1", "--port",
                        str(a.port), "--cert", os.path.join(pki, "qa.crt"), "--key",
                        os.path.join(pki, "qa.key"), "--ca", os.path.join(pki, "ca.crt"),
                        "--op", "vcenter", "--conns", "4", "--seconds", str(secs),
                        "--threads", "1", "--max-errors", "0", "--no-name-check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^op=vcenter conns=4 ops=(\d+) .*errors=(\d+)$", out, re.M)
    if m is None:
        return 0, -1, out
    return int(m.group(1)), int(m.group(2)), out


def served_one(a, src):
    """A mutual-TLS connection from src that sends Discover Versions and gets an answer."""
    pki = os.path.join(a.dir, "pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(pki, "qa.crt"), os.path.join(pki, "qa.key"))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", a.port))
        ss = ctx.wrap_socket(s)
        ss.sendall(kw.request(0x1E, []))
        hdr = ss.recv(8)
        ss.close()
        return hdr[:3] == b"\x42\x00\x7b"
    except (ssl.SSLError, OSError):
        s.close()
        return False


a = cl.Appliance(build, name="abuse")
a.set_section("kmip", {"max_handshaking": 16, "handshake_timeout_s": 2,
                       "handshake_rate_per_source": 2000, "handshake_burst_per_source": 200})
a.start()
T0 = time.monotonic()
con = a.console
a.login()
t.check("status: fair-share counters at 0", fair(con) == (0, 0, 0), con.cmd("status"))

# ---- 1. half-open flood ----------------------------------------------------------------------
p = flood(a, "silent", 40, 4)
time.sleep(0.5)
ops, errs, out = vcenter(a, 3)
t.check("vCenter pattern from 127.0.0.1 under a half-open flood: %d ops, %d errors"
        % (ops, errs), ops > 0 and errs == 0, out[-600:])
res, fout = flood_result(p)
print("flood:", fout.strip())
t.check("the flood ran", res is not None, fout)
f = fair(con)
t.check("status: 127.0.0.2's excess refused before TLS, counted in refused_handshaking (%s)"
        % (f,), f is not None and f[2] > 0 and res is not None and res["refused"] > 0)
t.check("half-open connections held were closed by the 2 s handshake deadline (%s)"
        % (res and res["deadline"]), res is not None and res["deadline"] >= 1)

# ---- 2. handshake flood ----------------------------------------------------------------------
f1 = fair(con)
p1 = flood(a, "handshake", 8, 4)
p2 = flood(a, "handshake-cert", 8, 4)
time.sleep(0.5)
ops, errs, out = vcenter(a, 3)
t.check("vCenter pattern from 127.0.0.1 under a handshake flood: %d ops, %d errors"
        % (ops, errs), ops > 0 and errs == 0, out[-600:])
r1, o1 = flood_result(p1)
r2, o2 = flood_result(p2)
print("flood:", o1.strip())
print("flood:", o2.strip())
f2 = fair(con)
t.check("127.0.0.2 throttled: refused_rate grew (%s -> %s), refusals seen by the flood"
        % (f1, f2), f1 is not None and f2 is not None and f2[1] > f1[1] and r1 is not None
        and r2 is not None and r1["refused"] + r2["refused"] > 0)
lines = re.findall(r"net: refused \d+ connection\(s\) by \[kmip\] fair share", a.stderr())
t.check("log: bounded refusal lines (%d for %d refusals)" % (len(lines), sum(f2)),
        1 <= len(lines) <= 4 and sum(f2) > 20)

# ---- 2b. failed handshakes: a bounded number of log lines -----------------------------------
# 120 sources (127.0.1.1 ...), each one connection that sends a non-TLS line: 120 failed
# handshakes, whatever the floods above left in the sources' buckets
hs0 = handshakes(con)
for i in range(120):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind(("127.0.1.%d" % (i + 1), 0))
    s.connect(("127.0.0.1", a.port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        s.recv(64)          # the alert, then the close
    except OSError:
        pass
    s.close()
deadline = time.monotonic() + 5
while time.monotonic() < deadline and (handshakes(con) or (0, 0))[1] < hs0[1] + 120:
    time.sleep(0.1)


hs = handshakes(con)
t.check("status: the 120 failed handshakes counted (%s -> %s)" % (hs0, hs),
        hs0 is not None and hs is not None and hs[1] - hs0[1] == 120)
# what was left out is said within a refill (one a second), with no further failure
deadline = time.monotonic() + 5
while True:
    hs = handshakes(con)
    n_lines, said = told(a.stderr())
    if hs is None or n_lines + said >= hs[1] or time.monotonic() > deadline:
        break
    time.sleep(0.2)
elapsed = time.monotonic() - T0
# 30 at once, then one a second since coffred started
t.check("log: failed handshakes at a bounded rate (%d lines for %s failures in %.0f s)"
        % (n_lines, hs and hs[1], elapsed),
        hs is not None and n_lines <= 30 + elapsed + 1 and n_lines < hs[1])
t.check("log: every failure is a line or counted in a 'not logged' line (%d + %d = %s)"
        % (n_lines, said, hs and hs[1]), hs is not None and n_lines + said == hs[1])

# ---- 3. nothing left counted ------------------------------------------------------------------
deadline = time.monotonic() + 5
while time.monotonic() < deadline and open_count(con) != 0:
    time.sleep(0.1)
t.check("0 connections open after the floods", open_count(con) == 0)
time.sleep(1.0)  # the penalty debt (at most the burst: 200 tokens at 2000/s) is paid
t.check("127.0.0.2 is served again (a client that sends a request)",
        served_one(a, "127.0.0.2"))
t.check("and 127.0.0.1 too", served_one(a, "127.0.0.1"))
rc = a.stop()
t.check("clean stop (rc=%s)" % rc, rc == 0)
t.done()
