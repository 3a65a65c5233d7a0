"""Shared helpers for the robustness tests (wire abuse, durability, secrets) over real mTLS.

    import robust_lib as rl
    t = rl.Tally()                         # ok()/bad()/check(), prints "N passed, M failed"
    inst = rl.Instance(build_dir)          # provisions a QA instance in a mktemp dir
    inst.start()                           # coffred -c DIR/coffred.conf --port 0; waits for ready
    with inst.client() as c:               # mutual TLS with DIR/pki/qa.crt
        uid = c.create_aes()
        key = c.get(uid)
    inst.kill()                            # SIGKILL (every process started is killed at exit)

A tiny TTLV encoder/decoder of our own (KMIP 1.x framing: tag 3 bytes, type 1, length 4,
value padded to 8) covers the few messages these tests need; raw byte strings can be sent
as they are for the abuse cases.
"""
import atexit
import os
import random
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

# ---- TTLV ---------------------------------------------------------------------------------
T_STRUCT, T_INT, T_LONG, T_BIGINT, T_ENUM, T_BOOL, T_TEXT, T_BYTES, T_DATE, T_INTERVAL = range(1, 11)

TAG = dict(
    ATTRIBUTE=0x420008, ATTRIBUTE_NAME=0x42000A, ATTRIBUTE_VALUE=0x42000B,
    BATCH_COUNT=0x42000D, BATCH_ITEM=0x42000F, CRYPTO_ALG=0x420028, CRYPTO_LEN=0x42002A,
    CRYPTO_USAGE_MASK=0x42002C, KEY_BLOCK=0x420040, KEY_FORMAT_TYPE=0x420042,
    KEY_MATERIAL=0x420043, KEY_VALUE=0x420045, OBJECT_TYPE=0x420057, OPERATION=0x42005C,
    PROTOCOL_VERSION=0x420069, PV_MAJOR=0x42006A, PV_MINOR=0x42006B,
    REQUEST_HEADER=0x420077, REQUEST_MESSAGE=0x420078, REQUEST_PAYLOAD=0x420079,
    RESPONSE_HEADER=0x42007A, RESPONSE_MESSAGE=0x42007B, RESPONSE_PAYLOAD=0x42007C,
    RESULT_MESSAGE=0x42007D, RESULT_REASON=0x42007E, RESULT_STATUS=0x42007F,
    SYMMETRIC_KEY=0x42008F, TEMPLATE_ATTRIBUTE=0x420091, UNIQUE_BATCH_ITEM_ID=0x420093,
    UNIQUE_IDENTIFIER=0x420094,
)
OP_CREATE, OP_REGISTER, OP_GET, OP_ACTIVATE, OP_DESTROY, OP_DISCOVER = 0x01, 0x03, 0x0A, 0x12, 0x14, 0x1E
REASON = {1: "Item Not Found", 2: "Response Too Large", 3: "Authentication Not Successful",
          4: "Invalid Message", 5: "Operation Not Supported", 6: "Missing Data",
          7: "Invalid Field", 8: "Feature Not Supported", 0x0B: "Illegal Operation",
          0x0C: "Permission Denied", 0x100: "General Failure"}
R_ITEM_NOT_FOUND, R_INVALID_MESSAGE, R_INVALID_FIELD, R_PERMISSION_DENIED = 1, 4, 7, 0x0C
ST_OPERATION_FAILED = 1


def item(tag, typ, value, length=None, pad=None):
    """One TTLV item. value: bytes for the raw value (already encoded), or a list of child
    items for a structure. length/pad override the announced length / padding bytes."""
    if typ == T_STRUCT:
        v = b"".join(value)
    else:
        v = value
    n = len(v) if length is None else length
    if pad is None:
        pad = b"\0" * ((8 - len(v) % 8) % 8)
    return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", n) + v + pad


def S(tag, *children):
    return item(tag, T_STRUCT, list(children))


def I(tag, v):
    return item(tag, T_INT, struct.pack(">i", v))


def E(tag, v):
    return item(tag, T_ENUM, struct.pack(">I", v))


def Tx(tag, s):
    return item(tag, T_TEXT, s.encode())


def B(tag, b):
    return item(tag, T_BYTES, b)


def attr(name, value_item_fn, v):
    return S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], name), value_item_fn(TAG["ATTRIBUTE_VALUE"], v))


def header(batch_count, major=1, minor=4):
    return S(TAG["REQUEST_HEADER"],
             S(TAG["PROTOCOL_VERSION"], I(TAG["PV_MAJOR"], major), I(TAG["PV_MINOR"], minor)),
             I(TAG["BATCH_COUNT"], batch_count))


def batch_item(op, payload_children, batch_id=None):
    kids = [E(TAG["OPERATION"], op)]
    if batch_id is not None:
        kids.append(B(TAG["UNIQUE_BATCH_ITEM_ID"], batch_id))
    kids.append(S(TAG["REQUEST_PAYLOAD"], *payload_children))
    return S(TAG["BATCH_ITEM"], *kids)


def request(items, batch_count=None, major=1, minor=4):
    """items: list of (op, [payload children]) or already encoded batch items (bytes)."""
    multi = len(items) > 1   # Unique Batch Item ID is required when Batch Count > 1
    enc = [it if isinstance(it, bytes) else
           batch_item(it[0], it[1], struct.pack(">I", k + 1) if multi else None)
           for k, it in enumerate(items)]
    n = len(enc) if batch_count is None else batch_count
    return S(TAG["REQUEST_MESSAGE"], header(n, major, minor), *enc)


def discover_versions_req():
    return request([(OP_DISCOVER, [])])


def create_aes_req(bits=256):
    return request([(OP_CREATE, [
        E(TAG["OBJECT_TYPE"], 2),
        S(TAG["TEMPLATE_ATTRIBUTE"],
          attr("Cryptographic Algorithm", E, 3),
          attr("Cryptographic Length", I, bits),
          attr("Cryptographic Usage Mask", I, 12)),
    ])])


def register_aes_req(key):
    return request([(OP_REGISTER, [
        E(TAG["OBJECT_TYPE"], 2),
        S(TAG["TEMPLATE_ATTRIBUTE"], attr("Cryptographic Usage Mask", I, 12)),
        S(TAG["SYMMETRIC_KEY"],
          S(TAG["KEY_BLOCK"],
            E(TAG["KEY_FORMAT_TYPE"], 1),
            S(TAG["KEY_VALUE"], B(TAG["KEY_MATERIAL"], key)),
            E(TAG["CRYPTO_ALG"], 3),
            I(TAG["CRYPTO_LEN"], 8 * len(key)))),
    ])])


def uid_req(op, uid):
    return request([(op, [Tx(TAG["UNIQUE_IDENTIFIER"], uid)])])


class Node:
    __slots__ = ("tag", "typ", "value")

    def __init__(self, tag, typ, value):
        self.tag, self.typ, self.value = tag, typ, value

    def find(self, tag):
        """First descendant (depth first, self included) with this tag, or None."""
        if self.tag == tag:
            return self
        if self.typ == T_STRUCT:
            for c in self.value:
                r = c.find(tag)
                if r is not None:
                    return r
        return None

    def children(self, tag):
        return [c for c in self.value if c.tag == tag] if self.typ == T_STRUCT else []


class DecodeError(Exception):
    pass


def decode(buf, off=0, end=None, depth=0):
    """Decode the items in buf[off:end] -> list of Node. Strict enough for our responses."""
    end = len(buf) if end is None else end
    out = []
    while off < end:
        if end - off < 8 or depth > 64:
            raise DecodeError("truncated item at %d" % off)
        tag = int.from_bytes(buf[off:off + 3], "big")
        typ = buf[off + 3]
        n = struct.unpack(">I", buf[off + 4:off + 8])[0]
        v0 = off + 8
        padded = n if typ == T_STRUCT else n + (8 - n % 8) % 8
        if padded > end - v0:
            raise DecodeError("item 0x%06x length %d past the end" % (tag, n))
        raw = bytes(buf[v0:v0 + n])
        if typ == T_STRUCT:
            val = decode(buf, v0, v0 + n, depth + 1)
        elif typ in (T_INT, T_ENUM, T_INTERVAL):
            val = struct.unpack(">I", raw)[0]
        elif typ in (T_LONG, T_DATE):
            val = struct.unpack(">q", raw)[0]
        elif typ == T_BOOL:
            val = raw != b"\0" * 8
        elif typ == T_TEXT:
            val = raw.decode("utf-8", "replace")
        else:
            val = raw
        out.append(Node(tag, typ, val))
        off = v0 + padded
    return out


class Response:
    """A decoded Response Message: items = [(status, reason, message, payload Node|None, batch id)]"""

    def __init__(self, raw):
        self.raw = raw
        top = decode(raw)
        if len(top) != 1 or top[0].tag != TAG["RESPONSE_MESSAGE"]:
            raise DecodeError("not a Response Message")
        self.msg = top[0]
        self.items = []
        for bi in self.msg.children(TAG["BATCH_ITEM"]):
            st = bi.find(TAG["RESULT_STATUS"])
            rr = bi.find(TAG["RESULT_REASON"])
            rm = bi.find(TAG["RESULT_MESSAGE"])
            bid = bi.find(TAG["UNIQUE_BATCH_ITEM_ID"])
            self.items.append((st.value if st else None, rr.value if rr else None,
                               rm.value if rm else None, bi.find(TAG["RESPONSE_PAYLOAD"]),
                               bid.value if bid else None))

    @property
    def ok(self):
        return bool(self.items) and all(i[0] == 0 for i in self.items)

    def first(self):
        return self.items[0] if self.items else (None, None, None, None, None)

    def failed_with(self, reason, message):
        """One batch item: Operation Failed with this Result Reason and Result Message."""
        return len(self.items) == 1 and self.items[0][:3] == (ST_OPERATION_FAILED, reason, message)

    def describe(self):
        parts = []
        for st, rr, rm, _, _ in self.items:
            parts.append("status=%s reason=%s(%s) msg=%r" % (st, rr, REASON.get(rr, "?"), rm))
        return "; ".join(parts) or "no batch items"


class KmipError(Exception):
    def __init__(self, resp):
        st, rr, rm, _, _ = resp.first()
        super().__init__("KMIP failure: %s" % resp.describe())
        self.status, self.reason, self.message = st, rr, rm


# ---- processes ----------------------------------------------------------------------------
_PROCS = []
_TMPDIRS = []


def _cleanup():
    for p in _PROCS:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass
    if not os.environ.get("ROBUST_KEEP"):
        for d in _TMPDIRS:
            shutil.rmtree(d, ignore_errors=True)
    else:
        for d in _TMPDIRS:
            print("kept %s" % d)


atexit.register(_cleanup)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, lambda *_: sys.exit(1))


class Tally:
    def __init__(self):
        self.passed = self.failed = 0
        prev = sys.excepthook

        def hook(typ, val, tb):   # an unexpected exception is one more failure, still counted
            prev(typ, val, tb)
            if not issubclass(typ, SystemExit):
                print("FAIL unexpected %s: %s" % (typ.__name__, val))
                print("%d passed, %d failed" % (self.passed, self.failed + 1), flush=True)
        sys.excepthook = hook

    def ok(self, what):
        self.passed += 1
        print("ok   " + what, flush=True)

    def bad(self, what):
        self.failed += 1
        print("FAIL " + what, flush=True)

    def check(self, what, cond, detail=""):
        if cond:
            self.ok(what)
        else:
            self.bad(what + ((": " + detail) if detail else ""))
        return cond

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(0 if self.failed == 0 else 1)


def require_built(build):
    """Fail (exit 1, after a "0 passed, 1 failed" summary) when BUILD/coffred does not exist:
    a test that cannot run is a failure, never a pass with no check."""
    if not os.path.exists(os.path.join(build, "coffred")):
        print("FAIL not built: %s/coffred (build it: make BUILD=%s)" % (build, build))
        print("0 passed, 1 failed", flush=True)
        sys.exit(1)


class Instance:
    """A provisioned QA instance in a private temporary directory."""

    def __init__(self, build, clients=1, kmip_extra=None, name="robust"):
        self.build = build
        self.coffred = os.path.join(build, "coffred")
        self.tmp = tempfile.mkdtemp(prefix="coffre-%s." % name)
        _TMPDIRS.append(self.tmp)
        self.dir = os.path.join(self.tmp, "qa")
        self.proc = None
        self.port = None
        self.starts = 0
        self.errfiles = []
        args = [self.coffred, "provision", "--qa", self.dir]
        if clients > 1:
            args += ["--clients", str(clients)]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.provision_log = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            raise RuntimeError("provision failed (rc=%d):\n%s" % (r.returncode, self.provision_log))
        self.conf = os.path.join(self.dir, "coffred.conf")
        if kmip_extra:
            self.set_kmip(kmip_extra)

    def set_kmip(self, kv):
        """Add key = value lines to the [kmip] section of coffred.conf."""
        with open(self.conf) as f:
            text = f.read()
        lines = "".join("%s = %s\n" % (k, v) for k, v in kv.items())
        text = text.replace("[kmip]\n", "[kmip]\n" + lines, 1)
        with open(self.conf, "w") as f:
            f.write(text)

    def client_readonly(self, name, tenant):
        """Make the provisioned client NAME (its own tenant NAME) a readonly client of TENANT."""
        with open(self.conf) as f:
            text = f.read()
        head = '[client "%s"]\nsubject = CN=%s\nissuer = CN=Coffre QA CA\n' % (name, name)
        old = head + "tenant = %s\n" % name
        assert old in text, "client %s not as provision writes it" % name
        text = text.replace(old, head + "tenant = %s\nrole = readonly\n" % tenant, 1)
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=30):
        self.starts += 1
        err = os.path.join(self.tmp, "coffred.%d.err" % self.starts)
        self.errfiles.append(err)
        self.errfile = err
        with open(err, "wb") as ef:
            self.proc = subprocess.Popen([self.coffred, "-c", self.conf, "--port", "0"],
                                         stdin=subprocess.DEVNULL, stdout=ef, stderr=ef)
        _PROCS.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(err, "rb") as f:
                m = re.search(rb"^coffred: ready kmip=(\S+):(\d+)$", f.read(), re.M)
            if m:
                self.host, self.port = m.group(1).decode(), int(m.group(2))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("coffred did not become ready (rc=%s):\n%s" % (self.proc.poll(), self.stderr()))

    def stderr(self, all_runs=False):
        out = b""
        for e in (self.errfiles if all_runs else self.errfiles[-1:]):
            with open(e, "rb") as f:
                out += f.read()
        return out.decode(errors="replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
        rc = self.proc.wait(30)
        return rc

    def stop(self, timeout=10):
        if not self.alive():
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return 124

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def ssl_context(self, who="qa"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(os.path.join(self.dir, "pki", "ca.crt"))
        ctx.load_cert_chain(os.path.join(self.dir, "pki", who + ".crt"),
                            os.path.join(self.dir, "pki", who + ".key"))
        ctx.check_hostname = True
        return ctx

    def client(self, who="qa", timeout=10.0):
        return Client(self, who, timeout)

    def raw_tcp(self, timeout=10.0):
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def sanitizer_errors(self):
        """Lines of the captured stderr (all runs) that report a sanitizer finding."""
        return [l for l in self.stderr(all_runs=True).splitlines()
                if "ERROR: AddressSanitizer" in l or "runtime error" in l
                or "ERROR: LeakSanitizer" in l or "ThreadSanitizer" in l]


def sanitizer_digest(inst, n=6):
    """The first lines of a sanitizer report in the last run's stderr (for a FAIL detail)."""
    lines = [l.strip() for l in inst.stderr().splitlines()
             if "Sanitizer" in l or "runtime error" in l or l.strip().startswith("#1 ")]
    return " | ".join(lines[:n])


class Closed(Exception):
    """The server closed the connection (EOF, reset, TLS alert) before a full response."""


def ssl_reason(e):
    """The OpenSSL reason of a TLS failure (e.g. "TLSV1_ALERT_UNKNOWN_CA" for the server's
    unknown-CA alert): e itself when it is an ssl.SSLError, else the SSLError it was raised
    from (Closed keeps it); None for any other error."""
    while e is not None:
        if isinstance(e, ssl.SSLError):
            return e.reason
        e = e.__cause__
    return None


class Client:
    """One mutual-TLS KMIP connection."""

    def __init__(self, inst, who="qa", timeout=10.0):
        self.inst = inst
        raw = socket.create_connection((inst.host, inst.port), timeout=timeout)
        try:
            self.s = inst.ssl_context(who).wrap_socket(raw, server_hostname="localhost")
        except Exception:
            raw.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass

    def settimeout(self, t):
        self.s.settimeout(t)

    def send(self, data):
        self.s.sendall(data)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except (ConnectionError, ssl.SSLError) as e:
                raise Closed(str(e)) from e
            if not chunk:
                raise Closed("EOF after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_msg(self):
        """One whole TTLV message (raw bytes). Raises Closed on EOF, socket.timeout on timeout."""
        h = self._recv_exact(8)
        n = struct.unpack(">I", h[4:8])[0]
        if n > (16 << 20):
            raise DecodeError("response announces %d bytes" % n)
        return h + self._recv_exact(n)

    def call(self, req):
        self.send(req)
        return Response(self.recv_msg())

    def outcome(self, req, timeout=10.0):
        """Send req; -> ('response', Response) | ('closed', why) | ('timeout', None)
        | ('garbage', raw)."""
        self.s.settimeout(timeout)
        try:
            self.send(req)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            return ("closed", "on send: %s" % e)
        try:
            raw = self.recv_msg()
        except Closed as e:
            return ("closed", str(e))
        except socket.timeout:
            return ("timeout", None)
        except OSError as e:
            return ("closed", str(e))
        try:
            return ("response", Response(raw))
        except DecodeError:
            return ("garbage", raw)

    # -- operations (raise KmipError on a KMIP failure)
    def _ok(self, req):
        r = self.call(req)
        if not r.ok:
            raise KmipError(r)
        return r

    def discover_versions(self):
        return self._ok(discover_versions_req())

    def create_aes(self, bits=256):
        r = self._ok(create_aes_req(bits))
        return r.items[0][3].find(TAG["UNIQUE_IDENTIFIER"]).value

    def register_aes(self, key):
        r = self._ok(register_aes_req(key))
        return r.items[0][3].find(TAG["UNIQUE_IDENTIFIER"]).value

    def get(self, uid):
        r = self._ok(uid_req(OP_GET, uid))
        km = r.items[0][3].find(TAG["KEY_MATERIAL"])
        if km is None or km.typ != T_BYTES:
            raise DecodeError("Get response without a raw Key Material")
        return km.value

    def destroy(self, uid):
        self._ok(uid_req(OP_DESTROY, uid))


def good_client_check(inst, timeout=5.0):
    """A fresh good client gets Discover Versions answered: -> (ok, seconds, detail)."""
    t0 = time.monotonic()
    try:
        with inst.client(timeout=timeout) as c:
            r = c.discover_versions()
        return True, time.monotonic() - t0, r.describe()
    except Exception as e:
        return False, time.monotonic() - t0, "%s: %s" % (type(e).__name__, e)


def parse_build(argv):
    if len(argv) < 2:
        sys.exit("usage: %s BUILD_DIR" % argv[0])
    return argv[1]


def rng(default_seed=None):
    seed = int(os.environ.get("ROBUST_SEED", default_seed if default_seed is not None else time.time_ns() % 1000000))
    print("seed %d (ROBUST_SEED=%d to replay)" % (seed, seed), flush=True)
    return random.Random(seed)
