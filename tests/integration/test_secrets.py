"""Secrets at rest ("zeroise", "secrets never logged"): after a
run of Creates, Registers, Gets, Destroys and some failing requests, no file of the instance
(store.db, -wal, -shm, logs, tokens, config) nor coffred's captured stderr nor any row of the
store (audit log included, read through sqlite3) holds any key's 32 bytes (raw, hex lower/upper,
base64, or either 16-byte half) or the HSM PINs. Scanned while coffred runs and after it stops.
hsm.pin and hsm-so.pin are the PINs themselves and are not scanned for the PINs.

    python3 tests/integration/test_secrets.py BUILD_DIR
"""
import base64
import os
import sqlite3
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, name="secrets")
inst.start()
with open(os.path.join(inst.dir, "hsm.pin"), "rb") as f:
    pin = f.read().strip()
so_pin = b""
if os.path.exists(os.path.join(inst.dir, "hsm-so.pin")):
    with open(os.path.join(inst.dir, "hsm-so.pin"), "rb") as f:
        so_pin = f.read().strip()
t.check("the instance has an HSM PIN to look for (%d chars)" % len(pin), len(pin) >= 4)

keys = {}   # uid -> bytes Get returned
try:
    with inst.client() as c:
        for _ in range(10):
            uid = c.create_aes(256)
            keys[uid] = c.get(uid)
        registered = {}
        for _ in range(10):
            k = os.urandom(32)
            uid = c.register_aes(k)
            registered[uid] = k
            keys[uid] = c.get(uid)
        t.check("Get returns what Register stored (10 keys)",
                all(keys[u] == registered[u] for u in registered))
        # every key fetched again, in one batch
        uids = sorted(keys)
        resp = c.call(rl.request([(rl.OP_GET, [rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], u)]) for u in uids]))
        t.check("a batch of 20 Gets answers the same bytes", resp.ok and [
            it[3].find(rl.TAG["KEY_MATERIAL"]).value for it in resp.items] == [keys[u] for u in uids],
            resp.describe()[:200])
        # some failures and a destroy, so that error paths write their logs and audit rows;
        # each failure is checked to be the one intended, so the error path did run
        refusals = []
        for u in uids[:3]:
            c.destroy(u)
            refusals.append(c.call(rl.uid_req(rl.OP_GET, u)))
        t.check("Get of the 3 destroyed keys: Item Not Found 'object destroyed'",
                all(r.failed_with(rl.R_ITEM_NOT_FOUND, "object destroyed") for r in refusals),
                "; ".join(r.describe() for r in refusals))
        r = c.call(rl.uid_req(rl.OP_GET, "no-such-id"))
        t.check("Get of an unknown id: Item Not Found 'not found'",
                r.failed_with(rl.R_ITEM_NOT_FOUND, "not found"), r.describe())
        t.check("all 32-byte keys", len(keys) == 20 and all(len(k) == 32 for k in keys.values()))
    with inst.client() as c:   # a malformed request on its own connection
        kind, v = c.outcome(rl.discover_versions_req()[:-3] + b"\x99\x99\x99", timeout=5)
    t.check("a malformed request: Invalid Message 'request could not be decoded'",
            kind == "response" and v.failed_with(rl.R_INVALID_MESSAGE, "request could not be decoded"),
            v.describe() if kind == "response" else "%s %s" % (kind, v))
    # Register with a wrong length, an error carrying key bytes in the request
    bad_key = os.urandom(32)
    with inst.client() as c:
        req = rl.register_aes_req(bad_key)
        kind, v = c.outcome(req.replace(rl.I(rl.TAG["CRYPTO_LEN"], 256), rl.I(rl.TAG["CRYPTO_LEN"], 100)),
                            timeout=5)
    t.check("Register with a wrong length: Invalid Field 'Cryptographic Length does not match the key'",
            kind == "response" and v.failed_with(rl.R_INVALID_FIELD,
                                                 "Cryptographic Length does not match the key"),
            v.describe() if kind == "response" else "%s %s" % (kind, v))
    keys["(refused register)"] = bad_key
except Exception as e:
    t.bad("the workload ran: %s: %s" % (type(e).__name__, e))
    t.done()


def patterns():
    out = []
    for uid, k in keys.items():
        for form, b in (("raw", k), ("hex", k.hex().encode()), ("HEX", k.hex().upper().encode()),
                        ("base64", base64.b64encode(k)),
                        ("raw first half", k[:16]), ("raw second half", k[16:]),
                        ("hex first half", k[:16].hex().encode()), ("hex second half", k[16:].hex().encode()),
                        ("HEX first half", k[:16].hex().upper().encode()),
                        ("HEX second half", k[16:].hex().upper().encode())):
            out.append(("key %s %s" % (uid, form), b, ()))
    pin_files = ("hsm.pin", "hsm-so.pin")
    for name, p in (("HSM PIN", pin), ("HSM SO PIN", so_pin)):
        if not p:
            continue
        for form, b in (("text", p), ("upper", p.upper()), ("lower", p.lower()),
                        ("hex of text", p.hex().encode()), ("base64", base64.b64encode(p))):
            out.append(("%s %s" % (name, form), b, pin_files))
    return out


PATTERNS = patterns()


def scan_blob(where, blob, skip_pin_files=False):
    hits = []
    base = os.path.basename(where)
    for what, b, exempt in PATTERNS:
        if base in exempt:
            continue
        if b and b in blob:
            hits.append("%s in %s" % (what, where))
    return hits


def scan_tree(root):
    hits, nfiles, nbytes = [], 0, 0
    for d, _, files in os.walk(root):
        for fn in files:
            p = os.path.join(d, fn)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            try:
                with open(p, "rb") as f:
                    blob = f.read()
            except OSError:
                continue
            nfiles += 1
            nbytes += len(blob)
            hits += scan_blob(p, blob)
    return hits, nfiles, nbytes


def scan_rows(db):
    """Every value of every row of every table (the audit log included), as text and bytes."""
    hits, nrows, tables = [], 0, []
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for tb in tables:
            for row in con.execute('SELECT * FROM "%s"' % tb.replace('"', '""')):
                nrows += 1
                parts = []
                for v in row:
                    if isinstance(v, bytes):
                        parts += [v, v.hex().encode(), v.hex().upper().encode()]
                    elif v is not None:
                        parts.append(str(v).encode())
                hits += scan_blob("%s row of table %s" % (os.path.basename(db), tb), b"\n".join(parts))
        dump = "\n".join(con.iterdump()).encode()
        hits += scan_blob("sqlite3 dump of %s" % os.path.basename(db), dump)
    finally:
        con.close()
    return hits, nrows, tables


# positive control: the scanner finds a key written in hex, and the PIN in a log-like file
ctl = os.path.join(inst.tmp, "control")
os.makedirs(ctl)
k0 = next(iter(keys.values()))
with open(os.path.join(ctl, "log"), "wb") as f:
    f.write(b"debug: key=" + k0.hex().upper().encode() + b" pin=" + pin + b"\n")
h, _, _ = scan_tree(ctl)
t.check("the scanner finds planted key hex and PIN (positive control, %d hits)" % len(h), len(h) >= 2)
os.remove(os.path.join(ctl, "log"))

db = os.path.join(inst.dir, "data", "store.db")
for phase in ("while coffred runs", "after SIGTERM"):
    if phase == "after SIGTERM":
        rc = inst.stop()
        t.check("coffred stops cleanly (rc=%s)" % rc, rc == 0, rl.sanitizer_digest(inst))
    t.check("the store exists (%s)" % phase, os.path.exists(db))
    hits, nfiles, nbytes = scan_tree(inst.tmp)
    names = sorted({os.path.relpath(os.path.join(d, f), inst.tmp) for d, _, fs in os.walk(inst.tmp) for f in fs})
    t.check("%s: 0 hits for %d keys and the PINs in %d files (%d bytes: %s)" % (
        phase, len(keys), nfiles, nbytes, ", ".join(n for n in names if not n.startswith("qa/tokens/"))),
        not hits, "; ".join(hits[:8]))
    try:
        rhits, nrows, tables = scan_rows(db)
        t.check("%s: 0 hits in %d rows of tables %s" % (phase, nrows, ",".join(tables)), not rhits,
                "; ".join(rhits[:8]))
        t.check("%s: the store holds rows to scan (objects and audit)" % phase, nrows >= 20)
    except sqlite3.Error as e:
        t.bad("%s: reading the store with sqlite3: %s" % (phase, e))
t.done()
