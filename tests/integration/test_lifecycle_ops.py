"""Archive, Recover, Obtain Lease, Get Usage Allocation, Poll and Cancel over raw TTLV, in KMIP
1.4 and 2.0 (PyKMIP has no client calls for them): an archived object's Get / Encrypt / Obtain
Lease / Get Usage Allocation / Destroy / second Archive answer Object Archived while Get
Attributes still answers; Locate finds it only with a
Storage Status Mask that asks for archival storage; Recover brings it back; Obtain Lease answers
our Lease Time and the Last Change Date, and refuses objects that may not be used; Get Usage
Allocation counts the Usage Limits down and refuses what is not left, a key without Usage
Limits or one that may not protect yet; Poll and
Cancel answer as for an unknown correlation value (every request is answered synchronously,
even with the Asynchronous Indicator set); another tenant's object is Item Not Found; the
readonly role may not Archive, Recover or Cancel; Query lists the operations; each operation
leaves its audit record.

usage: test_lifecycle_ops.py BUILD_DIR
"""
import os
import sqlite3
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

OP_LOCATE, OP_GET_ATTRS, OP_QUERY, OP_REVOKE = 0x08, 0x0B, 0x18, 0x13
OP_LEASE, OP_ARCHIVE, OP_RECOVER, OP_CANCEL, OP_POLL = 0x10, 0x15, 0x16, 0x19, 0x1A
OP_GUA, OP_ADD_ATTR, OP_ENCRYPT = 0x11, 0x0D, 0x1F
T_ULC, T_ULT, T_ULU, T_DATA = 0x420096, 0x420097, 0x420098, 0x4200C2
R_ILLEGAL_OP, R_ATTR_NOT_FOUND, R_USAGE_LIMIT, R_WKLS = 0x0B, 0x21, 0x1A, 0x43
T_ASYNC_IND, T_ASYNC_CORR, T_CANCEL_RESULT = 0x420007, 0x420006, 0x420012
T_LAST_CHANGE, T_LEASE, T_SSM, T_QUERY_FN, T_ATTRIBUTES = 0x420048, 0x420049, 0x42008E, 0x420074, 0x420125
T_REV_REASON, T_REV_CODE, T_STATE = 0x420081, 0x420082, 0x42008D
R_OBJECT_ARCHIVED, R_INVALID_ASYNC_CORR = 0x0D, 0x2B
CANCEL_UNAVAILABLE = 5
LEASE_SECONDS = 3600            # OPS_LEASE_SECONDS (firmware/ops/ops_int.h)
V14, V20 = (1, 4), (2, 0)
UID = rl.TAG["UNIQUE_IDENTIFIER"]

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=3, name="lifeops")
# qa3: a readonly client of qa's tenant
inst.client_readonly("qa3", "qa")
inst.start()


def req(op, kids, ver, async_ind=False):
    if not async_ind:
        return rl.request([(op, kids)], major=ver[0], minor=ver[1])
    hdr = rl.S(rl.TAG["REQUEST_HEADER"],
               rl.S(rl.TAG["PROTOCOL_VERSION"], rl.I(rl.TAG["PV_MAJOR"], ver[0]),
                    rl.I(rl.TAG["PV_MINOR"], ver[1])),
               rl.item(T_ASYNC_IND, rl.T_BOOL, struct.pack(">Q", 1)),
               rl.I(rl.TAG["BATCH_COUNT"], 1))
    return rl.S(rl.TAG["REQUEST_MESSAGE"], hdr, rl.batch_item(op, kids))


def call(c, op, kids, ver, async_ind=False):
    r = c.call(req(op, kids, ver, async_ind))
    st, reason, msg, pl, _ = r.first()
    return st, reason, msg, pl, r


def expect_ok(what, res):
    st, reason, msg, pl, _ = res
    t.check(what, st == 0, "status %s reason %s %r" % (st, reason, msg))
    return pl


def expect_fail(what, res, reason):
    st, got, msg, _, _ = res
    t.check(what, st == rl.ST_OPERATION_FAILED and got == reason,
            "status %s reason %s (want %s) %r" % (st, got, reason, msg))


def uid_kids(uid):
    return [rl.Tx(UID, uid)]


def locate(c, ver, mask=None):
    kids = []
    if mask is not None:
        kids.append(rl.I(T_SSM, mask))
    if ver >= (2, 0):
        kids.append(rl.S(T_ATTRIBUTES))
    st, reason, msg, pl, _ = call(c, OP_LOCATE, kids, ver)
    if st != 0:
        t.bad("locate %s mask %s: status %s reason %s %r" % (ver, mask, st, reason, msg))
        return []
    return [n.value for n in pl.children(UID)]


def add_limits(c, uid, total, count):
    ul = rl.S(rl.TAG["ATTRIBUTE_VALUE"], rl.item(T_ULT, rl.T_LONG, struct.pack(">q", total)),
              rl.item(T_ULC, rl.T_LONG, struct.pack(">q", count)), rl.E(T_ULU, 2))   # Object
    a = rl.S(rl.TAG["ATTRIBUTE"], rl.Tx(rl.TAG["ATTRIBUTE_NAME"], "Usage Limits"), ul)
    return call(c, OP_ADD_ATTR, [rl.Tx(UID, uid), a], V14)


def gua(c, uid, n, ver):
    kids = ([rl.Tx(UID, uid)] if uid is not None else []) + [rl.item(T_ULC, rl.T_LONG, struct.pack(">q", n))]
    return call(c, OP_GUA, kids, ver)


def new_key(c, active=True):
    uid = c.create_aes()
    if active:
        st = c.call(rl.uid_req(rl.OP_ACTIVATE, uid)).first()[0]
        t.check("activate %s" % uid, st == 0)
    return uid


archived = set()
with inst.client("qa") as c, inst.client("qa2") as c2, inst.client("qa3") as ro:
    for ver in (V14, V20):
        v = "%d.%d" % ver
        k = new_key(c)
        # ---- Obtain Lease: our Lease Time and the Last Change Date
        pl = expect_ok("%s obtain lease of an active key" % v, call(c, OP_LEASE, uid_kids(k), ver))
        if pl is not None:
            u, lease, lc = pl.find(UID), pl.find(T_LEASE), pl.find(T_LAST_CHANGE)
            t.check("%s lease answer names the key" % v, u is not None and u.value == k)
            t.check("%s lease time is the server's policy (%d s)" % (v, LEASE_SECONDS),
                    lease is not None and lease.typ == rl.T_INTERVAL and lease.value == LEASE_SECONDS,
                    repr(lease and lease.value))
            t.check("%s last change date is the activation, now" % v,
                    lc is not None and lc.typ == rl.T_DATE and abs(lc.value - time.time()) < 300,
                    repr(lc and lc.value))
        # ---- Archive: the object goes off-line
        pl = expect_ok("%s archive" % v, call(c, OP_ARCHIVE, uid_kids(k), ver))
        archived.add(k)
        t.check("%s archive answers the uid" % v, pl is not None and pl.find(UID).value == k)
        expect_fail("%s archive again: Object Archived" % v, call(c, OP_ARCHIVE, uid_kids(k), ver),
                    R_OBJECT_ARCHIVED)
        expect_fail("%s get of an archived key: Object Archived" % v,
                    call(c, rl.OP_GET, uid_kids(k), ver), R_OBJECT_ARCHIVED)
        expect_fail("%s obtain lease of an archived key: Object Archived" % v,
                    call(c, OP_LEASE, uid_kids(k), ver), R_OBJECT_ARCHIVED)
        expect_fail("%s encrypt with an archived key: Object Archived" % v,
                    call(c, OP_ENCRYPT, [rl.Tx(UID, k), rl.B(T_DATA, b"0123456789abcdef")], ver),
                    R_OBJECT_ARCHIVED)
        expect_fail("%s usage allocation of an archived key: Object Archived" % v,
                    gua(c, k, 1, ver), R_OBJECT_ARCHIVED)
        expect_fail("%s destroy of an archived key: Object Archived" % v,
                    call(c, rl.OP_DESTROY, uid_kids(k), ver), R_OBJECT_ARCHIVED)
        pl = expect_ok("%s get attributes of an archived key" % v,
                       call(c, OP_GET_ATTRS, uid_kids(k), ver))
        t.check("%s its attributes are answered" % v, pl is not None and len(pl.value) > 1)
        # ---- Locate and the Storage Status Mask
        t.check("%s locate without a mask leaves the archived key out" % v, k not in locate(c, ver))
        t.check("%s locate on-line leaves it out" % v, k not in locate(c, ver, 1))
        t.check("%s locate archival finds it" % v, k in locate(c, ver, 2))
        t.check("%s locate archival finds only archived keys" % v,
                all(u in archived for u in locate(c, ver, 2)))
        t.check("%s locate on-line|archival finds it" % v, k in locate(c, ver, 3))
        # ---- another tenant, the readonly role
        for op, name in ((OP_ARCHIVE, "archive"), (OP_RECOVER, "recover"), (OP_LEASE, "lease")):
            expect_fail("%s another tenant's %s: Item Not Found" % (v, name),
                        call(c2, op, uid_kids(k), ver), rl.R_ITEM_NOT_FOUND)
        expect_fail("%s readonly may not recover" % v, call(ro, OP_RECOVER, uid_kids(k), ver),
                    rl.R_PERMISSION_DENIED)
        t.check("%s readonly locates the archived key" % v, k in locate(ro, ver, 2))
        # ---- Recover: back on-line
        pl = expect_ok("%s recover" % v, call(c, OP_RECOVER, uid_kids(k), ver))
        archived.discard(k)
        t.check("%s recover answers the uid" % v, pl is not None and pl.find(UID).value == k)
        expect_ok("%s get after recover" % v, call(c, rl.OP_GET, uid_kids(k), ver))
        t.check("%s locate finds it on-line again" % v, k in locate(c, ver))
        t.check("%s locate archival no longer finds it" % v, k not in locate(c, ver, 2))
        expect_ok("%s recover of an on-line key succeeds" % v, call(c, OP_RECOVER, uid_kids(k), ver))
        expect_fail("%s readonly may not archive" % v, call(ro, OP_ARCHIVE, uid_kids(k), ver),
                    rl.R_PERMISSION_DENIED)
        expect_ok("%s readonly obtains a lease" % v, call(ro, OP_LEASE, uid_kids(k), ver))
        # ---- Obtain Lease refusals by state
        pre = new_key(c, active=False)
        expect_fail("%s no lease for a Pre-Active key" % v, call(c, OP_LEASE, uid_kids(pre), ver),
                    rl.R_PERMISSION_DENIED)
        rev = [rl.Tx(UID, k), rl.S(T_REV_REASON, rl.E(T_REV_CODE, 2))]   # Key Compromise
        expect_ok("%s revoke (compromise)" % v, call(c, OP_REVOKE, rev, V14))
        expect_fail("%s no lease for a Compromised key" % v, call(c, OP_LEASE, uid_kids(k), ver),
                    rl.R_PERMISSION_DENIED)
        expect_fail("%s lease of an unknown uid: Item Not Found" % v,
                    call(c, OP_LEASE, uid_kids("no-such-object"), ver), rl.R_ITEM_NOT_FOUND)
        # ---- Get Usage Allocation: the units counted down, refusals
        ku = new_key(c)
        expect_fail("%s usage allocation of a key without Usage Limits" % v, gua(c, ku, 1, ver),
                    R_ATTR_NOT_FOUND if ver >= (2, 0) else R_ILLEGAL_OP)
        expect_ok("%s add Usage Limits (100 total, 10 left)" % v, add_limits(c, ku, 100, 10))
        pl = expect_ok("%s allocate 4 of 10" % v, gua(c, ku, 4, ver))
        t.check("%s the allocation answers the uid" % v, pl is not None and pl.find(UID).value == ku)
        expect_fail("%s allocate 7 of the 6 left" % v, gua(c, ku, 7, ver),
                    R_USAGE_LIMIT if ver >= (2, 0) else rl.R_PERMISSION_DENIED)
        expect_ok("%s allocate the 6 left" % v, gua(c, ku, 6, ver))
        expect_fail("%s nothing left" % v, gua(c, ku, 1, ver),
                    R_USAGE_LIMIT if ver >= (2, 0) else rl.R_PERMISSION_DENIED)
        expect_fail("%s readonly may not allocate" % v, gua(ro, ku, 1, ver), rl.R_PERMISSION_DENIED)
        expect_fail("%s another tenant's allocation: Item Not Found" % v, gua(c2, ku, 1, ver),
                    rl.R_ITEM_NOT_FOUND)
        kp = new_key(c, active=False)
        expect_ok("%s add Usage Limits to a Pre-Active key" % v, add_limits(c, kp, 5, 5))
        expect_fail("%s no allocation for a Pre-Active key" % v, gua(c, kp, 1, ver),
                    R_WKLS if ver >= (2, 0) else R_ILLEGAL_OP)
        expect_fail("%s allocation without a count: Invalid Message" % v,
                    call(c, OP_GUA, [rl.Tx(UID, ku)], ver), rl.R_INVALID_MESSAGE)
        # ---- Poll and Cancel: never a pending operation
        corr = b"\x01\x02\x03\x04coffre"
        expect_fail("%s poll: no outstanding operation" % v,
                    call(c, OP_POLL, [rl.B(T_ASYNC_CORR, corr)], ver),
                    R_INVALID_ASYNC_CORR if ver >= (2, 0) else rl.R_ITEM_NOT_FOUND)
        expect_fail("%s readonly poll: the same answer" % v,
                    call(ro, OP_POLL, [rl.B(T_ASYNC_CORR, corr)], ver),
                    R_INVALID_ASYNC_CORR if ver >= (2, 0) else rl.R_ITEM_NOT_FOUND)
        pl = expect_ok("%s cancel" % v, call(c, OP_CANCEL, [rl.B(T_ASYNC_CORR, corr)], ver))
        if pl is not None:
            cv, cr = pl.find(T_ASYNC_CORR), pl.find(T_CANCEL_RESULT)
            t.check("%s cancel echoes the correlation value" % v, cv is not None and cv.value == corr)
            t.check("%s cancel result: Unavailable" % v,
                    cr is not None and cr.value == CANCEL_UNAVAILABLE, repr(cr and cr.value))
        expect_fail("%s readonly may not cancel" % v,
                    call(ro, OP_CANCEL, [rl.B(T_ASYNC_CORR, corr)], ver), rl.R_PERMISSION_DENIED)
        expect_fail("%s poll without a correlation value: Invalid Message" % v,
                    call(c, OP_POLL, [], ver), rl.R_INVALID_MESSAGE)
        # ---- the Asynchronous Indicator: answered synchronously all the same
        k2 = new_key(c)
        st, reason, msg, pl, r = call(c, OP_ARCHIVE, uid_kids(k2), ver, async_ind=True)
        archived.add(k2)
        t.check("%s archive with the Asynchronous Indicator: a synchronous Success" % v,
                st == 0 and r.msg.find(T_ASYNC_CORR) is None, "status %s %r" % (st, msg))

    # ---- Query lists the operations
    pl = expect_ok("query operations", call(c, OP_QUERY, [rl.E(T_QUERY_FN, 1)], V14))
    ops = {n.value for n in pl.children(rl.TAG["OPERATION"])} if pl is not None else set()
    for op, name in ((OP_LEASE, "Obtain Lease"), (OP_ARCHIVE, "Archive"), (OP_RECOVER, "Recover"),
                     (OP_GUA, "Get Usage Allocation"),
                     (OP_CANCEL, "Cancel"), (OP_POLL, "Poll")):
        t.check("query lists %s" % name, op in ops, repr(sorted(ops)))

# ---- audit records
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(inst.dir, "data", "store.db"), uri=True,
                     timeout=10)
try:
    seen = {}
    for op, result in db.execute("SELECT operation, result FROM audit"):
        seen.setdefault(op, set()).add(result)
finally:
    db.close()
for name, results in (("Archive", {0, R_OBJECT_ARCHIVED}), ("Recover", {0}),
                      ("Obtain Lease", {0, rl.R_PERMISSION_DENIED}), ("Poll", {rl.R_ITEM_NOT_FOUND}),
                      ("Cancel", {0, rl.R_PERMISSION_DENIED}),
                      ("Get Usage Allocation", {0, rl.R_PERMISSION_DENIED, R_ILLEGAL_OP})):
    t.check("audit records for %s (results %s)" % (name, sorted(results)),
            results <= seen.get(name, set()), repr(seen.get(name)))
inst.stop()
t.check("coffred exits cleanly", inst.proc.returncode == 0, "rc %s" % inst.proc.returncode)
t.done()
