"""Secrets at rest ("zeroise", "secrets never logged"): after a
run of Creates, Registers, Gets, Destroys and some failing requests, no file of the instance
(store.db, -wal, -shm, logs, tokens, config) nor coffred's captured stderr nor any row of the
store (audit log included, read through sqlite3) holds any key's 32 bytes (raw, hex lower/upper,
base64, or either 16-byte half) or the HSM PINs. Scanned while coffred runs and after it stops.
hsm.pin and hsm-so.pin are the PINs themselves and are not scanned for the PINs.
Cryptographic services (issue 15): registered keys used for Encrypt / Decrypt (GCM, CBC), MAC
and Derive Key, never Get: their bytes are also looked for in coffred's heap and anonymous
writable memory (/proc/PID/mem) after the operations, where the HSM did the work.

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
used = {}   # uid -> bytes of the keys only the cryptographic services used
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
    # cryptographic services with registered keys that are never fetched
    with inst.client() as c:
        for mask, alg, kind in ((0x0C, 3, "aes"), (0x180, 9, "hmac")):
            k = os.urandom(32)
            req = rl.register_aes_req(k)
            req = req.replace(rl.I(rl.TAG["ATTRIBUTE_VALUE"], 12), rl.I(rl.TAG["ATTRIBUTE_VALUE"], mask))
            if alg != 3:
                req = req.replace(rl.E(rl.TAG["CRYPTO_ALG"], 3), rl.E(rl.TAG["CRYPTO_ALG"], alg))
            r = c.call(req)
            uid = r.items[0][3].find(rl.TAG["UNIQUE_IDENTIFIER"]).value if r.ok else None
            t.check("register a %s key for the crypto operations" % kind, r.ok, r.describe())
            if uid:
                a = c.call(rl.uid_req(rl.OP_ACTIVATE, uid))
                t.check("activate it", a.ok, a.describe())
                used[uid] = k
        cp_tag, data_tag, iv_tag, mac_tag = 0x42002B, 0x4200C2, 0x42003D, 0x4200C6
        au, hu = list(used)[:2] if len(used) == 2 else (None, None)
        ok = 0
        for mode, iv in ((9, os.urandom(12)), (1, os.urandom(16))):
            for _ in range(5):
                enc = c.call(rl.request([(0x1F, [rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], au),
                                                  rl.S(cp_tag, rl.E(0x420011, mode), rl.E(0x42005F, 3)
                                                       if mode == 1 else b""),
                                                  rl.B(data_tag, os.urandom(64)),
                                                  rl.B(iv_tag, iv)])]))
                ok += enc.ok
        for _ in range(5):
            m = c.call(rl.request([(0x23, [rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], hu),
                                           rl.S(cp_tag, rl.E(0x420028, 9)), rl.B(data_tag, b"m")])]))
            ok += m.ok and m.items[0][3].find(mac_tag) is not None
        t.check("15 Encrypt (GCM, CBC) and MAC operations with registered keys", ok == 15,
                "%d succeeded" % ok)
    keys.update(used)
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

MEM_MAP_MAX = 1 << 30


def scan_memory(pid, secret):
    """Hits of any of secret's forms in the process's heap and anonymous writable mappings
    (the SoftHSMv2 module runs inside coffred: its memory is scanned too)."""
    hits, nbytes = [], 0
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            if len(parts) < 2 or "rw" not in parts[1][:2]:
                continue
            path = parts[5] if len(parts) > 5 else ""
            if path not in ("", "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo > MEM_MAP_MAX:   # a sanitizer's shadow memory (terabytes, reserved)
                continue
            try:
                mem.seek(lo)
                blob = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError, MemoryError):
                continue
            nbytes += len(blob)
            for uid, k in secret.items():
                for form, b in (("raw", k), ("raw first half", k[:16]), ("raw second half", k[16:]),
                                ("hex", k.hex().encode())):
                    if b in blob:
                        hits.append("key %s %s in %s %s" % (uid, form, parts[0], path or "anon"))
    return hits, nbytes


if used:
    mh, mn = scan_memory(inst.pid, used)
    t.check("0 hits for the %d keys used by crypto operations in coffred's heap and anonymous "
            "memory (%d bytes)" % (len(used), mn), not mh and mn > 0, "; ".join(mh[:6]))
    # positive control: a Name (not secret) a client set is in coffred's memory (the store's
    # page cache)
    marker = os.urandom(16)
    with inst.client() as c:
        r = c.call(rl.request([(rl.OP_CREATE, [
            rl.E(rl.TAG["OBJECT_TYPE"], 2),
            rl.S(rl.TAG["TEMPLATE_ATTRIBUTE"],
                 rl.attr("Cryptographic Algorithm", rl.E, 3),
                 rl.attr("Cryptographic Length", rl.I, 256),
                 rl.S(rl.TAG["ATTRIBUTE"], rl.Tx(rl.TAG["ATTRIBUTE_NAME"], "Name"),
                      rl.S(rl.TAG["ATTRIBUTE_VALUE"], rl.Tx(0x420055, marker.hex()),
                           rl.E(0x420054, 1))))])]))
        t.check("create with a Name (the control)", r.ok, r.describe())
    ph, _ = scan_memory(inst.pid, {"(a Name)": marker})
    t.check("the memory scanner finds a Name a client set (positive control, %d hits)"
            % len(ph), len(ph) > 0)

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
