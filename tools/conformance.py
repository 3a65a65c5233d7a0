#!/usr/bin/python3
"""The OASIS KMIP 1.4 profile test cases against a fresh QA coffred (make conformance).

    tools/conformance.py [--build DIR] [--vectors DIR] [--only NAME[,NAME...]]
                         [--strict[=PROFILE,...]] [-v] [--all]

For each test case of VECTORS/{mandatory,optional}/*.xml (default
../shared/vectors/oasis/kmip-1.4-xml): copies a QA instance provisioned once for the run
(`coffred provision --qa`), starts BUILD/coffred on it (port 0), sends every Request Message
of the case, encoded to TTLV, over mutual TLS with the instance's qa client certificate, and
compares each response with the case's Response Message (rules: docs/conformance.md). Every
case starts from an empty server, except the cases that continue the previous one
(CHAINED below), which run on the same server right after it.

Prints one line per case, `PASS NAME`, `FAIL NAME: step N (OPERATION): PATH: difference` or
`N/A NAME: reason`, then `conformance: N passed, M failed, K not applicable`.
Exit status: 0 when it ran; with --strict, 1 if a case failed (--strict=LIST: a case of the
profiles or a case named in LIST, separated by commas or spaces; an empty LIST requires
nothing); 2 when it could not run (no server, unreadable test case).
-v prints the response that differed, as XML-like lines, before its FAIL line. --all goes on
after a difference and prints the first difference of every later step too, as "  also ..."
lines after the FAIL line.
"""
import argparse
import glob
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kmipcompare as kc  # noqa: E402
import kmipxml as kx  # noqa: E402

ROOT = os.path.dirname(HERE)
DEFAULT_VECTORS = os.path.join(ROOT, "..", "shared", "vectors", "oasis", "kmip-1.4-xml")
# Profiles this runner leaves out, with the reason printed on their N/A line.
NOT_APPLICABLE = [
    ("CS-RNG-O-4-14", "RNG Seed refused (Permission Denied): the alternative of a server that "
                      "takes no seed; Coffre passes seeds to the HSM's generator (CS-RNG-O-1..3)"),
    ("MSGENC", "other message encodings (HTTPS, JSON, XML) are not served: Coffre speaks TTLV"),
]
# Cases that continue the state an earlier case left (they Locate what it registered).
CHAINED = {"SASED-M-3-14": "SASED-M-2-14", "TL-M-3-14": "TL-M-2-14"}
STEP_TIMEOUT = 30


def profile_of(name):
    m = re.match(r"(.+?)-[MO]-", name)
    return m.group(1) if m else name


def not_applicable(name):
    for prefix, reason in NOT_APPLICABLE:
        if name.startswith(prefix):
            return reason
    return None


class RunnerError(Exception):
    pass


class Server:
    """A copy of the template QA instance with coffred running on it."""

    def __init__(self, build, template, workdir):
        self.dir = workdir
        shutil.copytree(template, workdir, symlinks=True)
        conf = os.path.join(workdir, "softhsm2.conf")
        with open(conf) as f:
            text = f.read()
        text = re.sub(r"(?m)^directories\.tokendir = .*$",
                      "directories.tokendir = " + os.path.join(workdir, "tokens"), text)
        with open(conf, "w") as f:
            f.write(text)
        self.err = os.path.join(workdir, "coffred.err")
        env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
        with open(self.err, "wb") as ef:
            self.proc = subprocess.Popen([os.path.join(build, "coffred"), "-c",
                                          os.path.join(workdir, "coffred.conf"), "--port", "0"],
                                         stdin=subprocess.DEVNULL, stdout=ef, stderr=ef, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.err, "rb") as f:
                m = re.search(rb"^coffred: ready kmip=(\S+):(\d+)$", f.read(), re.M)
            if m:
                self.host, self.port = m.group(1).decode(), int(m.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.stop()
        raise RunnerError("coffred did not start (rc=%s): %s" % (self.proc.poll(), self.stderr_tail()))

    def stderr_tail(self, n=5):
        with open(self.err, "rb") as f:
            return " | ".join(f.read().decode(errors="replace").strip().splitlines()[-n:])

    def connect(self):
        pki = os.path.join(self.dir, "pki")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(pki, "qa.crt"), os.path.join(pki, "qa.key"))
        raw = socket.create_connection((self.host, self.port), timeout=STEP_TIMEOUT)
        try:
            return ctx.wrap_socket(raw)
        except Exception:
            raw.close()
            raise

    def stop(self):
        """SIGTERM, then the exit status (124 when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return 124
        return self.proc.returncode


def read_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed by the server")
        b += c
    return bytes(b)


def exchange(s, msg):
    s.sendall(msg)
    hdr = read_exact(s, 8)
    body = read_exact(s, struct.unpack(">I", hdr[4:8])[0])
    items = kx.decode(hdr + body)
    if len(items) != 1:
        raise kx.DecodeError("%d top-level items" % len(items))
    return items[0]


def dump(tables, item, depth=0, attr_table=None):
    """XML-like lines of an Item (for -v)."""
    pad = "    " + "  " * depth
    name = tables.xml_name(item.tag)
    if item.typ != kx.STRUCT:
        v = item.value if item.typ == kx.TEXT else kx.show_value(tables, item, attr_table)
        return ['%s<%s type="%s" value="%s"/>' % (pad, name, kx.XML_BY_TYPE.get(item.typ, item.typ), v)]
    out = [pad + "<%s>" % name]
    table = None
    for c in item.value:
        if c.tag == tables.tag("AttributeName") and c.typ == kx.TEXT:
            table = tables.enum_for_attribute(c.value)
        out += dump(tables, c, depth + 1, table if c.tag == tables.tag("AttributeValue") else None)
    return out + [pad + "</%s>" % name]


def run_case(tables, server, case, ctx, verbose, keep_going=False):
    """-> [] (pass) or the differences as text: the first one, or with keep_going the first
    one of every step (later steps are still sent)."""
    diffs = []
    try:
        sock = server.connect()
    except (OSError, ssl.SSLError) as e:
        return ["connect: %s" % e]
    try:
        for k, (req, exp) in enumerate(case.steps):
            where = "step %d (%s)" % (k + 1, kc.op_names(tables, req))
            try:
                sent = ctx.resolve(req)
                got = exchange(sock, kx.encode(sent))
            except kc.Diff as d:
                diffs.append("%s: %s" % (where, d))
                if keep_going:
                    continue
                return diffs
            except (OSError, EOFError, ssl.SSLError, kx.DecodeError) as e:
                dead = "" if server.proc.poll() is None else "; coffred exited (rc=%s): %s" % (
                    server.proc.returncode, server.stderr_tail())
                return diffs + ["%s: no response: %s%s" % (where, e, dead)]
            try:
                ctx.message(exp, got, sent)
            except kc.Diff as d:
                if verbose:
                    print("\n".join(["  response of %s:" % where] + dump(tables, got)))
                diffs.append("%s: %s" % (where, d))
                if not keep_going:
                    return diffs
                ctx.bind_loose(exp, got)
        return diffs
    finally:
        sock.close()


def run_group(args, tables, paths, run, live, template, workdir):
    """Runs the cases of one plan entry on one server -> {name: ((status, detail), [more])}.
    A server that crashed, reported a sanitizer error or did not stop cleanly fails the
    cases that passed on it."""
    out = {n: (("N/A", not_applicable(n)), []) for n in run if n not in live}
    if not live:
        return out
    server = Server(args.build, template, workdir)
    ctx = kc.Context(tables)
    try:
        for n in live:
            case = kx.load_case(tables, paths[n])
            ctx.client_bytes |= kc.request_bytes(tables, case.steps)
            diffs = run_case(tables, server, case, ctx, args.verbose, args.all)
            out[n] = (("FAIL", diffs[0]) if diffs else ("PASS", None), diffs[1:])
    finally:
        rc = server.stop()
        bad = rc != 0 or "Sanitizer" in server.stderr_tail(10**6) or "runtime error" in server.stderr_tail(10**6)
        why = "coffred exited with rc=%s or reported an error: %s" % (rc, server.stderr_tail()) if bad else ""
        shutil.rmtree(server.dir, ignore_errors=True)
    for n in live:
        if why and out[n][0][0] == "PASS":
            out[n] = (("FAIL", why), [])
    return out


def plan(names, available):
    """Names in run order, grouped: a chained case runs on its predecessor's server (the
    predecessor runs too when it was not asked for, but is not reported)."""
    runs, by_first = [], {}
    for n in names:
        pred = CHAINED.get(n)
        if pred not in available:
            pred = None
        if pred is not None and pred in by_first:
            by_first[pred].append(n)
            continue
        run = [pred, n] if pred is not None else [n]
        runs.append(run)
        by_first[run[-1]] = run
        by_first[n] = run
    return runs


def provision(build, tmp):
    tpl = os.path.join(tmp, "template")
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    r = subprocess.run([os.path.join(build, "coffred"), "provision", "--qa", tpl], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise RunnerError("provision failed (rc=%d): %s" % (r.returncode, r.stdout.decode(errors="replace")))
    return tpl


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--vectors", default=DEFAULT_VECTORS)
    ap.add_argument("--only", default="", help="comma-separated case names or profiles")
    ap.add_argument("--strict", nargs="?", const="ALL", default=None,
                    help="exit 1 when a case fails (only those of these profiles / cases)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--all", action="store_true",
                    help="after a difference, go on with the next steps; print each step's")
    return ap.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    tables = kx.Tables()
    files = sorted(glob.glob(os.path.join(args.vectors, "mandatory", "*.xml")) +
                   glob.glob(os.path.join(args.vectors, "optional", "*.xml")),
                   key=lambda p: os.path.basename(p))
    if not files:
        raise RunnerError("no test case in %s" % args.vectors)
    paths = {os.path.basename(p)[:-4]: p for p in files}
    only = {x for x in args.only.split(",") if x}
    names = [n for n in paths if not only or n in only or profile_of(n) in only]
    results = {}
    t_start = time.monotonic()
    servers = 0
    with tempfile.TemporaryDirectory(prefix="coffre-conformance.") as tmp:
        template = None
        for i, run in enumerate(plan(names, paths)):
            live = [n for n in run if not not_applicable(n)]
            if live:
                template = template or provision(args.build, tmp)
                servers += 1
            got = run_group(args, tables, paths, run, live, template, os.path.join(tmp, "run%d" % i))
            for n in run:
                results[n] = got[n][0]
                if n in names:
                    print_result(n, results[n])
                    print_also(got[n][1])
    shown = {n: results[n] for n in names}
    npass = sum(1 for r in shown.values() if r[0] == "PASS")
    nfail = sum(1 for r in shown.values() if r[0] == "FAIL")
    nna = sum(1 for r in shown.values() if r[0] == "N/A")
    print("conformance: %d cases, %d coffred instances, %.1f s"
          % (len(shown), servers, time.monotonic() - t_start), file=sys.stderr)
    print("conformance: %d passed, %d failed, %d not applicable" % (npass, nfail, nna), flush=True)
    if args.strict is None:
        return 0
    required = None if args.strict == "ALL" else {p for p in re.split(r"[,\s]+", args.strict) if p}
    bad = [n for n, r in shown.items() if r[0] == "FAIL" and
           (required is None or profile_of(n) in required or n in required)]
    if bad:
        print("conformance: required cases failed: %s" % " ".join(bad), file=sys.stderr)
    return 1 if bad else 0


def print_also(diffs):
    """--all: the later steps' differences; those that could not be sent, counted."""
    unsent = [d for d in diffs if "is used before a response gave its value" in d]
    for d in diffs:
        if d not in unsent:
            print("  also " + d)
    if unsent:
        print("  also %d later step(s) not sent: they use an identifier no response gave" % len(unsent))


def print_result(name, result):
    status, detail = result
    print(status + " " + name if detail is None else "%s %s: %s" % (status, name, detail), flush=True)


if __name__ == "__main__":
    for _sig in (signal.SIGTERM, signal.SIGHUP):     # stop the coffred of the run on the way out
        signal.signal(_sig, lambda *_: sys.exit(3))
    try:
        sys.exit(main(sys.argv[1:]))
    except (RunnerError, kx.XmlError) as e:
        print("conformance: cannot run: %s" % e, file=sys.stderr)
        sys.exit(2)
