"""Wire abuse over real mutual TLS ("malformed input",
"limits", "slow clients"): malformed TTLV, a 2 GiB length, depth 33, Batch Count against the
items, stalled handshakes and half-sent messages, 200 byte-flipped vCenter requests.
Each case runs on its own connection; after each, a good client must get Discover Versions
answered, and coffred must never die nor report a sanitizer finding.

    python3 tests/integration/test_wire_abuse.py BUILD_DIR      (cwd = repo root)
Environment: ROBUST_SEED (replay the byte flips), ROBUST_FLIPS (default 200), ROBUST_KEEP=1.
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
from robust_lib import TAG, S, I, E, Tx, item, T_INT, T_TEXT, T_ENUM, T_BOOL, T_STRUCT  # noqa: E402

VECTORS = "../shared/vectors/vcenter-7.0.3/requests.txt"
READ_TIMEOUT_S = 2        # lowered in this instance's config so incomplete messages end fast
RSS_JUMP_KB = 32 * 1024   # a 2 GiB announcement must not move RSS by this much

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, kmip_extra={"read_timeout_s": READ_TIMEOUT_S}, name="wire")
inst.start()
pid0 = inst.pid

ok, secs, why = rl.good_client_check(inst)
if not t.check("baseline: Discover Versions over mTLS", ok, why):
    t.done()


def after(label):
    ok, secs, why = rl.good_client_check(inst)
    t.check("  ... then a good client still gets Discover Versions (%.2f s)" % secs,
            ok and inst.alive(), why if not ok else "coffred died")


# What coffred answers to a request it cannot decode: one batch item, Operation Failed, Invalid
# Message (Invalid Field when the tree is nested too deep), this Result Message. A message
# whose outer frame is not a Request Message structure gets no answer: the connection closes.
UNDECODABLE = (rl.R_INVALID_MESSAGE, "request could not be decoded")
TOO_DEEP = (rl.R_INVALID_FIELD, "request could not be decoded")
CLOSED = "EOF after 0 of 8 bytes"   # closed before a single byte of a response


def expect_refusal(label, req, want=UNDECODABLE):
    """req on its own TLS connection -> exactly `want`: (Result Reason, Result Message) of a
    KMIP failure, or CLOSED."""
    try:
        with inst.client() as c:
            kind, v = c.outcome(req, timeout=READ_TIMEOUT_S + 5)
    except (OSError, rl.Closed) as e:   # the connection itself failed: not what this case tests
        t.bad("%s: could not connect: %s" % (label, e))
        return
    if want == CLOSED:
        t.check("%s -> connection closed without a response" % label, (kind, v) == ("closed", CLOSED),
                "%s %s" % (kind, v.describe() if kind == "response" else v))
    elif kind == "response":
        t.check("%s -> KMIP error %s" % (label, v.describe()), v.failed_with(*want),
                "expected Operation Failed, %s %r" % (rl.REASON[want[0]], want[1]))
    else:
        t.bad("%s -> %s %s (expected Operation Failed, %s %r within %d s)" % (
            label, kind, v if kind == "closed" else "", rl.REASON[want[0]], want[1],
            READ_TIMEOUT_S + 5))
    after(label)


# ---- malformed TTLV ------------------------------------------------------------------------
def dv_with_header(hdr, items=None):
    items = items if items is not None else [rl.batch_item(rl.OP_DISCOVER, [])]
    return S(TAG["REQUEST_MESSAGE"], hdr, *items)


def pv(major=None, minor=None):
    return S(TAG["PROTOCOL_VERSION"],
             major if major is not None else I(TAG["PV_MAJOR"], 1),
             minor if minor is not None else I(TAG["PV_MINOR"], 4))


def hdr(pvi=None, bc=None, extra=()):
    return S(TAG["REQUEST_HEADER"], pvi if pvi is not None else pv(),
             bc if bc is not None else I(TAG["BATCH_COUNT"], 1), *extra)


def fix_outer(body_items):
    return S(TAG["REQUEST_MESSAGE"], *body_items)


good_dv = rl.discover_versions_req()
cases = []
# bad padding: Batch Count's 4 padding bytes are not zero
cases.append(("bad padding (Integer padding not zero)",
              dv_with_header(hdr(bc=item(TAG["BATCH_COUNT"], T_INT, struct.pack(">i", 1), pad=b"\x01\0\0\0")))))
cases.append(("bad padding (Text String padding not zero)",
              rl.request([(rl.OP_GET, [item(TAG["UNIQUE_IDENTIFIER"], T_TEXT, b"abc", pad=b"\0\0\0\0\x41")])])))
# wrong type for the tag
cases.append(("wrong type (Protocol Version Major as Text String)",
              dv_with_header(hdr(pvi=pv(major=Tx(TAG["PV_MAJOR"], "1"))))))
cases.append(("wrong type (Batch Count as Enumeration)",
              dv_with_header(hdr(bc=E(TAG["BATCH_COUNT"], 1)))))
cases.append(("wrong type (Operation as Integer)",
              S(TAG["REQUEST_MESSAGE"], hdr(), S(TAG["BATCH_ITEM"], I(TAG["OPERATION"], rl.OP_DISCOVER),
                                                  S(TAG["REQUEST_PAYLOAD"])))))
cases.append(("wrong type (Request Message is an Integer)",
              item(TAG["REQUEST_MESSAGE"], T_INT, struct.pack(">i", 1)), CLOSED))
cases.append(("wrong type (Protocol Version is a Text String)",
              dv_with_header(hdr(pvi=Tx(TAG["PROTOCOL_VERSION"], "1.4")))))
# bad lengths
cases.append(("bad length (Integer of length 8)",
              dv_with_header(hdr(bc=item(TAG["BATCH_COUNT"], T_INT, struct.pack(">q", 1))))))
cases.append(("bad length (Integer of length 0)",
              dv_with_header(hdr(bc=item(TAG["BATCH_COUNT"], T_INT, b"")))))
cases.append(("bad length (Enumeration of length 2, padded)",
              S(TAG["REQUEST_MESSAGE"], hdr(), S(TAG["BATCH_ITEM"],
                                                  item(TAG["OPERATION"], T_ENUM, b"\0\x1e", pad=b"\0" * 6),
                                                  S(TAG["REQUEST_PAYLOAD"])))))
cases.append(("bad length (Boolean of length 1)",
              dv_with_header(hdr(extra=[item(0x420007, T_BOOL, b"\x01", pad=b"\0" * 7)]))))
h = hdr()
cases.append(("bad length (Request Header announces 16 bytes past its parent)",
              fix_outer([h[:4] + struct.pack(">I", len(h) - 8 + 16) + h[8:], rl.batch_item(rl.OP_DISCOVER, [])])))
cases.append(("bad length (a field announcing 500 MB inside a small message)",
              rl.request([(rl.OP_GET, [item(TAG["UNIQUE_IDENTIFIER"], T_TEXT, b"abcd", length=500 << 20)])])))
cases.append(("bad length (Text String length past the end of its structure)",
              rl.request([(rl.OP_GET, [item(TAG["UNIQUE_IDENTIFIER"], T_TEXT, b"abcdefgh", length=9)])])))
# the outer length cuts its last child short
cases.append(("bad length (message length cuts the last item)",
              good_dv[:4] + struct.pack(">I", len(good_dv) - 8 - 8) + good_dv[8:-8]))
cases.append(("bad length (structure length not a multiple of 8)",
              good_dv[:4] + struct.pack(">I", len(good_dv) - 8 + 4) + good_dv[8:] + b"\0\0\0\0", CLOSED))
cases.append(("trailing bytes inside the message",
              good_dv[:4] + struct.pack(">I", len(good_dv) - 8 + 8) + good_dv[8:] + b"\x42\0\0\0\0\0\0\0"))
cases.append(("not a Request Message (a Response Message tag)",
              struct.pack(">I", TAG["RESPONSE_MESSAGE"])[1:] + good_dv[3:], CLOSED))
cases.append(("invalid UTF-8 in a Text String",
              rl.request([(rl.OP_GET, [item(TAG["UNIQUE_IDENTIFIER"], T_TEXT, b"\xff\xfe\xc0\x80")])])))
cases.append(("unknown type byte 0x0f",
              dv_with_header(hdr(bc=item(TAG["BATCH_COUNT"], 0x0F, struct.pack(">i", 1))))))
cases.append(("empty Request Message",
              S(TAG["REQUEST_MESSAGE"])))
cases.append(("all-zero 64 bytes", b"\0" * 64, CLOSED))

for case in cases:
    expect_refusal(*case)

# ---- nesting depth -------------------------------------------------------------------------
def nested(levels):
    """A Discover Versions request whose TTLV tree is `levels` structures deep in total
    (Request Message = 1, Batch Item = 2, Request Payload = 3, then Template-Attributes)."""
    inner = b""
    for _ in range(levels - 3):
        inner = S(TAG["TEMPLATE_ATTRIBUTE"], inner) if inner else S(TAG["TEMPLATE_ATTRIBUTE"])
    payload = [inner] if inner else []
    return S(TAG["REQUEST_MESSAGE"], hdr(), rl.batch_item(rl.OP_DISCOVER, payload))


for levels in (33, 34, 64, 5000):
    expect_refusal("depth %d" % levels, nested(levels), TOO_DEEP)

# ---- Batch Count against the items ---------------------------------------------------------
def dv_items(n):  # well-formed items, each with its own Unique Batch Item ID
    return [rl.batch_item(rl.OP_DISCOVER, [], struct.pack(">I", k + 1)) for k in range(n)]


with inst.client() as c:   # control: the same items with a matching count are fine
    kind, v = c.outcome(rl.request(dv_items(3), batch_count=3))
t.check("control: Batch Count 3 with 3 items -> 3 successes",
        kind == "response" and v.ok and len(v.items) == 3, v.describe() if kind == "response" else kind)
for count, n in ((2, 1), (1, 2), (2, 3), (4, 3), (0, 1), (255, 1), (0, 0), (1, 0)):
    expect_refusal("Batch Count %d with %d item(s)" % (count, n),
                   rl.request(dv_items(n), batch_count=count))

# ---- 2 GiB announced ------------------------------------------------------------------------
for length, label in ((0x80000000, "2 GiB"), (0xFFFFFFFF, "4 GiB - 1"), ((1 << 20) + 8, "1 MiB + 8")):
    rss0 = inst.rss_kb()
    head = struct.pack(">I", TAG["REQUEST_MESSAGE"])[1:] + bytes([T_STRUCT]) + struct.pack(">I", length)
    try:
        with inst.client() as c:
            c.settimeout(READ_TIMEOUT_S + 5)
            t0 = time.monotonic()
            try:
                c.send(head + good_dv[8:])
                c.send(b"\0" * 65536)  # more body, as a lying client would
            except OSError:
                pass
            try:
                data = c.s.recv(65536)
                while data:
                    data = c.s.recv(65536)
                kind = "closed"
            except socket.timeout:
                kind = "timeout"
            except (OSError, ssl.SSLError):
                kind = "closed"
            secs = time.monotonic() - t0
    except Exception as e:
        kind, secs = "connect failed: %s" % e, 0
    rss1 = inst.rss_kb()
    t.check("header announcing %s -> closed (%.2f s)" % (label, secs),
            kind == "closed" and secs < READ_TIMEOUT_S, kind)
    t.check("  ... server RSS did not jump (%d kB -> %d kB)" % (rss0, rss1), rss1 - rss0 < RSS_JUMP_KB)
    after(label)

# ---- slow clients: stalled handshakes and half-sent messages -------------------------------
stalled = []
try:
    for _ in range(100):  # TCP connected, never says a word
        stalled.append(inst.raw_tcp())
    for _ in range(20):   # half a ClientHello record
        s = inst.raw_tcp()
        s.sendall(bytes.fromhex("160301020001") + b"\x00\x01\xfc\x03\x03")
        stalled.append(s)
    half = []
    for _ in range(20):   # handshake done, then half a message
        c = inst.client()
        c.send(good_dv[:8 + (len(good_dv) - 8) // 2])
        half.append(c)
    t.ok("opened 120 stalled handshakes and 20 half-sent messages")
    worst = 0.0
    allok = True
    for _ in range(5):
        ok, secs, why = rl.good_client_check(inst, timeout=5)
        worst = max(worst, secs)
        allok = allok and ok
    t.check("a good client is served in < 1 s meanwhile (worst of 5: %.3f s)" % worst,
            allok and worst < 1.0, why)
    # the half-sent messages end by the read timeout; the stalled handshakes stay up to the
    # handshake timeout (10 s): the server must not answer a half message
    for c in half:
        c.settimeout(READ_TIMEOUT_S + 3)
    got = [c.outcome(b"", timeout=READ_TIMEOUT_S + 3)[0] for c in half]
    t.check("half-sent messages are closed by the read timeout (%d s), not answered" % READ_TIMEOUT_S,
            all(k == "closed" for k in got), str(got))
    for c in half:
        c.close()
finally:
    for s in stalled:
        s.close()
after("slow clients")

# ---- 200 byte-flipped vCenter requests ------------------------------------------------------
with open(VECTORS) as f:
    reqs = sorted({bytes.fromhex(l.split()[-1]) for l in f if l.strip() and not l.startswith("#")})
r = rl.rng()
nflips = int(os.environ.get("ROBUST_FLIPS", "200"))
outcomes = {"response": 0, "closed": 0, "incomplete": 0}
failures = []
lock = threading.Lock()


def mutate(i):
    base = bytearray(r.choice(reqs))
    for _ in range(r.randint(1, 4)):
        pos = r.randrange(len(base))
        base[pos] ^= r.randint(1, 255)
    return i, bytes(base)


jobs = [mutate(i) for i in range(nflips)]


def worker(chunk):
    for i, m in chunk:
        try:
            with inst.client() as c:
                kind, v = c.outcome(m, timeout=READ_TIMEOUT_S + 5)
        except Exception as e:
            kind, v = "connect-failed", str(e)
        announced = struct.unpack(">I", m[4:8])[0]
        if kind == "timeout" and 8 + announced > len(m):
            kind = "timeout-incomplete"   # the server is right to wait; it must still end it
        with lock:
            if kind == "response" or kind == "closed":
                outcomes[kind] += 1
            else:
                failures.append((i, kind, m.hex()))


threads = [threading.Thread(target=worker, args=(jobs[k::4],)) for k in range(4)]
t0 = time.monotonic()
for th in threads:
    th.start()
for th in threads:
    th.join()
t.check("%d byte-flipped vCenter requests: each answered or closed (%d answered, %d closed, %.1f s)"
        % (nflips, outcomes["response"], outcomes["closed"], time.monotonic() - t0),
        not failures, "; ".join("#%d %s %s" % f for f in failures[:5]))
after("byte flips")

# ---- the end: same process, no sanitizer report ---------------------------------------------
t.check("coffred is still the same live process (pid %d)" % pid0, inst.alive() and inst.pid == pid0)
san = inst.sanitizer_errors()
t.check("no AddressSanitizer / UBSan report on coffred's stderr", not san, "; ".join(san[:3]))
rc = inst.stop()
t.check("SIGTERM still stops it cleanly (rc=%s)" % rc, rc == 0, rl.sanitizer_digest(inst))
t.done()
