"""Create Split Key and Join Split Key over raw TTLV, in KMIP 1.4 and 2.0 (PyKMIP 0.10 has no
client calls for them): a new AES key split 2-of-3 by Polynomial Sharing GF(2^8) joins back to
the same bytes from every pair and from all three parts; a managed key split 2-of-3 and 3-of-3
by XOR joins back to its own bytes (Get of the original vs Get of the joined key), into a
Symmetric Key or Secret Data; the parts are Split Key objects with their fields, Links (Previous
/ Next between parts, Parent to the key split, Child from it), the ID Placeholder names part 1.
Refusals: threshold > parts, XOR with threshold != parts, unsupported methods (GF(2^16), Prime
Field), Prime Field Size with another method, wrong object types (create, join, a part that is
not a Split Key), too few parts (Cryptographic Failure, 1.4 Table 363), parts of different
splits, the same part twice, a compromised key, another tenant's part, the readonly role, KMIP
1.1 (the operation does not exist there). The store holds only wrapped material (no part and
no key in clear in store.db); every part has its audit record.

usage: test_split.py BUILD_DIR
"""
import os
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

OP_CSK, OP_JSK, OP_QUERY, OP_REVOKE, OP_GET_ATTRS = 0x28, 0x29, 0x18, 0x13, 0x0B
T_SPLIT_KEY, T_PARTS, T_THRESHOLD, T_METHOD = 0x420089, 0x42008B, 0x42008C, 0x42008A
T_PART_ID, T_PRIME, T_SECRET_TYPE, T_SECRET_DATA = 0x420044, 0x420062, 0x420086, 0x420085
T_LINK, T_LINK_TYPE, T_LINKED = 0x42004A, 0x42004B, 0x42004C
T_ATTRIBUTES, T_QUERY_FN, T_REV_REASON, T_REV_CODE = 0x420125, 0x420074, 0x420081, 0x420082
OT_SYM, OT_PUB, OT_SPLIT, OT_SECRET, OT_CERT = 2, 3, 5, 7, 1
M_XOR, M_GF16, M_PRIME, M_GF8 = 1, 2, 3, 4
L_PARENT, L_CHILD, L_PREV, L_NEXT = 0x108, 0x109, 0x10A, 0x10B
R_CRYPTO_FAILURE, R_OP_NOT_SUPPORTED, R_INVALID_OBJECT_TYPE = 0x0A, 0x05, 0x30
R_WKLS = 0x43
V11, V14, V20 = (1, 1), (1, 4), (2, 0)
UID = rl.TAG["UNIQUE_IDENTIFIER"]

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=3, name="split")
inst.client_readonly("qa3", "qa")
inst.start()


def call(c, op, kids, ver):
    r = c.call(rl.request([(op, kids)], major=ver[0], minor=ver[1]))
    st, reason, msg, pl, _ = r.first()
    return st, reason, msg, pl, r


def expect_ok(what, res):
    st, reason, msg, pl, _ = res
    t.check(what, st == 0, "status %s reason %s %r" % (st, reason, msg))
    return pl if st == 0 else None


def expect_fail(what, res, reason):
    st, got, msg, _, _ = res
    t.check(what, st == rl.ST_OPERATION_FAILED and got == reason,
            "status %s reason %s (want %s) %r" % (st, got, reason, msg))


def tmpl(ver, alg=None, bits=None):
    """Template-Attribute (1.x) / Attributes (2.0) with an algorithm and a length."""
    if ver >= V20:
        kids = ([rl.E(rl.TAG["CRYPTO_ALG"], alg)] if alg is not None else []) + \
               ([rl.I(rl.TAG["CRYPTO_LEN"], bits)] if bits is not None else [])
        return rl.S(T_ATTRIBUTES, *kids)
    kids = ([rl.attr("Cryptographic Algorithm", rl.E, alg)] if alg is not None else []) + \
           ([rl.attr("Cryptographic Length", rl.I, bits)] if bits is not None else [])
    return rl.S(rl.TAG["TEMPLATE_ATTRIBUTE"], *kids)


def csk_kids(ver, parts, threshold, method, uid=None, otype=OT_SPLIT, alg=3, bits=256,
             prime=None):
    kids = [rl.E(rl.TAG["OBJECT_TYPE"], otype)]
    if uid is not None:
        kids.append(rl.Tx(UID, uid))
    kids += [rl.I(T_PARTS, parts), rl.I(T_THRESHOLD, threshold), rl.E(T_METHOD, method)]
    if prime is not None:
        kids.append(rl.item(T_PRIME, rl.T_BIGINT, prime))
    kids.append(tmpl(ver, alg, bits) if uid is None else tmpl(ver))
    return kids


def create_split(c, ver, what, parts, threshold, method, uid=None):
    pl = expect_ok(what, call(c, OP_CSK, csk_kids(ver, parts, threshold, method, uid), ver))
    uids = [n.value for n in pl.children(UID)] if pl is not None else []
    t.check("%s: one Unique Identifier per part" % what, len(uids) == parts, repr(uids))
    return uids


def jsk_kids(ver, uids, otype=OT_SYM, secret_type=None, alg=None):
    kids = [rl.E(rl.TAG["OBJECT_TYPE"], otype)] + [rl.Tx(UID, u) for u in uids]
    if secret_type is not None:
        kids.append(rl.E(T_SECRET_TYPE, secret_type))
    if alg is not None:
        kids.append(tmpl(ver, alg))
    return kids


def join(c, ver, what, uids, otype=OT_SYM, secret_type=None):
    pl = expect_ok(what, call(c, OP_JSK, jsk_kids(ver, uids, otype, secret_type), ver))
    u = pl.find(UID) if pl is not None else None
    return u.value if u is not None else None


def get(c, ver, uid):
    """-> (object type, payload Node) or (None, None)."""
    st, reason, msg, pl, _ = call(c, rl.OP_GET, [rl.Tx(UID, uid)], ver)
    if st != 0:
        t.bad("get %s: status %s reason %s %r" % (uid, st, reason, msg))
        return None, None
    return pl.find(rl.TAG["OBJECT_TYPE"]).value, pl


def material(c, ver, uid):
    _, pl = get(c, ver, uid)
    km = pl.find(rl.TAG["KEY_MATERIAL"]) if pl is not None else None
    return km.value if km is not None else None


def links(c, ver, uid):
    """[(link type, linked uid)] of the object."""
    st, _, _, pl, _ = call(c, OP_GET_ATTRS, [rl.Tx(UID, uid)], ver)
    out = []
    if st != 0 or pl is None:
        return out
    stack = [pl]
    while stack:
        n = stack.pop()
        is_link = n.tag == T_LINK   # 2.0; 1.x: Attribute { Attribute Name "Link", Value }
        if n.tag == rl.TAG["ATTRIBUTE"] and n.typ == rl.T_STRUCT:
            nm = n.find(rl.TAG["ATTRIBUTE_NAME"])
            if nm is not None and nm.value == "Link":
                n = n.find(rl.TAG["ATTRIBUTE_VALUE"])
                is_link = n is not None
        if is_link and n.typ == rl.T_STRUCT:
            lt, lo = n.find(T_LINK_TYPE), n.find(T_LINKED)
            out.append((lt.value if lt else None, lo.value if lo else None))
        elif n.typ == rl.T_STRUCT:
            stack.extend(n.value)
    return out


all_parts = []
with inst.client("qa") as c, inst.client("qa2") as c2, inst.client("qa3") as ro:
    originals = []
    for ver in (V14, V20):
        v = "%d.%d" % ver
        # ---- a new AES-256 key, 2-of-3 GF(2^8)
        parts = create_split(c, ver, "%s create split of a new key (2 of 3, GF(2^8))" % v, 3, 2, M_GF8)
        all_parts += parts
        for i, u in enumerate(parts):
            ot, pl = get(c, ver, u)
            t.check("%s part %d is a Split Key" % (v, i + 1), ot == OT_SPLIT, repr(ot))
            if pl is None:
                continue
            fields = [(pl.find(tag) or rl.Node(0, 0, None)).value
                      for tag in (T_PARTS, T_PART_ID, T_THRESHOLD, T_METHOD)]
            t.check("%s part %d: Parts 3, Key Part Identifier %d, Threshold 2, Method GF(2^8)"
                    % (v, i + 1, i + 1), fields == [3, i + 1, 2, M_GF8], repr(fields))
            km = pl.find(rl.TAG["KEY_MATERIAL"])
            t.check("%s part %d: 32 bytes of share" % (v, i + 1), km is not None and len(km.value) == 32)
        lk = links(c, ver, parts[1])
        t.check("%s part 2 links to part 1 (Previous) and part 3 (Next)" % v,
                (L_PREV, parts[0]) in lk and (L_NEXT, parts[2]) in lk, repr(lk))
        joined = {}
        for pair in ((0, 1), (0, 2), (1, 2), (0, 1, 2), (2, 0)):
            u = join(c, ver, "%s join parts %s" % (v, [p + 1 for p in pair]), [parts[p] for p in pair])
            if u is not None:
                joined[pair] = material(c, ver, u)
        vals = set(joined.values())
        t.check("%s every pair and all three parts join to the same 32-byte key" % v,
                len(joined) == 5 and len(vals) == 1 and len(next(iter(vals))) == 32, repr(joined))
        shares = {material(c, ver, u) for u in parts}
        t.check("%s no part holds the key" % v, not (shares & vals))
        # ---- the ID Placeholder: part 1
        r = c.call(rl.request([(OP_CSK, csk_kids(ver, 3, 2, M_GF8)), (rl.OP_GET, [])],
                              major=ver[0], minor=ver[1]))
        ok = len(r.items) == 2 and r.ok
        pid = r.items[1][3].find(T_PART_ID) if ok else None
        u1 = r.items[0][3].find(UID) if ok else None
        gu = r.items[1][3].find(UID) if ok else None
        t.check("%s Create Split Key then Get in one batch: the placeholder is part 1" % v,
                pid is not None and pid.value == 1 and gu.value == u1.value, r.describe())
        if ok:
            all_parts += [n.value for n in r.items[0][3].children(UID)]

        # ---- an existing key, 2-of-3 GF(2^8): Get of the original == Get of the joined
        k = c.create_aes()
        orig = material(c, ver, k)
        originals.append(orig)
        parts = create_split(c, ver, "%s split an existing key (2 of 3)" % v, 3, 2, M_GF8, uid=k)
        all_parts += parts
        u = join(c, ver, "%s join parts 3 and 1 of the existing key" % v, [parts[2], parts[0]])
        got = material(c, ver, u) if u else None
        t.check("%s the joined key is the original's bytes" % v, got == orig and orig is not None)
        st, pl = get(c, ver, u) if u else (None, None)
        alg = pl.find(rl.TAG["CRYPTO_ALG"]) if pl is not None else None
        t.check("%s the joined key is an AES key" % v, alg is not None and alg.value == 3)
        lk = links(c, ver, parts[0])
        t.check("%s part 1 links to the key split (Parent)" % v, (L_PARENT, k) in lk, repr(lk))
        lk = links(c, ver, k)
        t.check("%s the key split links to its parts (Child)" % v,
                all((L_CHILD, p) in lk for p in parts), repr(lk))
        u = join(c, ver, "%s join into Secret Data" % v, parts[:2], OT_SECRET, secret_type=2)
        ot, pl = get(c, ver, u) if u else (None, None)
        km = pl.find(rl.TAG["KEY_MATERIAL"]) if pl is not None else None
        st_ = pl.find(T_SECRET_TYPE) if pl is not None else None
        t.check("%s Secret Data with the key's bytes and the Secret Data Type asked" % v,
                ot == OT_SECRET and km is not None and km.value == orig and st_ is not None
                and st_.value == 2, repr((ot, st_ and st_.value)))

        # ---- XOR 3-of-3
        xparts = create_split(c, ver, "%s XOR split 3 of 3" % v, 3, 3, M_XOR, uid=k)
        all_parts += xparts
        u = join(c, ver, "%s XOR join of the 3 parts" % v, xparts)
        t.check("%s XOR: the joined key is the original's bytes" % v,
                u is not None and material(c, ver, u) == orig)
        expect_fail("%s XOR join of 2 of 3 parts: Cryptographic Failure" % v,
                    call(c, OP_JSK, jsk_kids(ver, xparts[:2]), ver), R_CRYPTO_FAILURE)

        # ---- refusals
        bad_type = R_INVALID_OBJECT_TYPE if ver >= V20 else rl.R_INVALID_FIELD
        expect_fail("%s threshold > parts: Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 2, 3, M_GF8), ver), rl.R_INVALID_FIELD)
        expect_fail("%s XOR with threshold < parts: Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_XOR), ver), rl.R_INVALID_FIELD)
        expect_fail("%s 256 parts: Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 256, 2, M_GF8), ver), rl.R_INVALID_FIELD)
        expect_fail("%s method GF(2^16): Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF16), ver), rl.R_INVALID_FIELD)
        expect_fail("%s method Prime Field: Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_PRIME, prime=b"\0" * 7 + b"\x83"), ver),
                    rl.R_INVALID_FIELD)
        expect_fail("%s Prime Field Size with GF(2^8): Invalid Field" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, prime=b"\0" * 7 + b"\x83"), ver),
                    rl.R_INVALID_FIELD)
        expect_fail("%s create split of a Public Key type" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, otype=OT_PUB), ver), bad_type)
        expect_fail("%s a new split key of another algorithm (3DES)" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, alg=2, bits=168), ver),
                    rl.R_INVALID_FIELD)
        expect_fail("%s split of an unknown uid: Item Not Found" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, uid="no-such-key"), ver),
                    rl.R_ITEM_NOT_FOUND)
        expect_fail("%s split of a Split Key: wrong object type" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, uid=parts[0]), ver), bad_type)
        expect_fail("%s join into a Certificate: wrong object type" % v,
                    call(c, OP_JSK, jsk_kids(ver, parts[:2], OT_CERT), ver), bad_type)
        expect_fail("%s join of a Symmetric Key (not a Split Key)" % v,
                    call(c, OP_JSK, jsk_kids(ver, [parts[0], k]), ver), bad_type)
        expect_fail("%s join of 1 of 2-of-3: Cryptographic Failure" % v,
                    call(c, OP_JSK, jsk_kids(ver, parts[:1]), ver), R_CRYPTO_FAILURE)
        expect_fail("%s join of the same part twice: Invalid Field" % v,
                    call(c, OP_JSK, jsk_kids(ver, [parts[0], parts[0]]), ver), rl.R_INVALID_FIELD)
        other = create_split(c, ver, "%s another split (2 of 3)" % v, 3, 2, M_GF8, uid=k)
        all_parts += other
        expect_fail("%s join of parts of different splits: Invalid Field" % v,
                    call(c, OP_JSK, jsk_kids(ver, [parts[0], other[1]]), ver), rl.R_INVALID_FIELD)
        expect_fail("%s join of GF(2^8) and XOR parts: Invalid Field" % v,
                    call(c, OP_JSK, jsk_kids(ver, [parts[0], xparts[1], xparts[2]]), ver),
                    rl.R_INVALID_FIELD)
        expect_fail("%s another tenant's parts: Item Not Found" % v,
                    call(c2, OP_JSK, jsk_kids(ver, parts[:2]), ver), rl.R_ITEM_NOT_FOUND)
        expect_fail("%s another tenant's key: Item Not Found" % v,
                    call(c2, OP_CSK, csk_kids(ver, 3, 2, M_GF8, uid=k), ver), rl.R_ITEM_NOT_FOUND)
        expect_fail("%s readonly may not create split keys" % v,
                    call(ro, OP_CSK, csk_kids(ver, 3, 2, M_GF8), ver), rl.R_PERMISSION_DENIED)
        expect_fail("%s readonly may not join" % v,
                    call(ro, OP_JSK, jsk_kids(ver, parts[:2]), ver), rl.R_PERMISSION_DENIED)
        kc = c.create_aes()
        rev = [rl.Tx(UID, kc), rl.S(T_REV_REASON, rl.E(T_REV_CODE, 2))]   # Key Compromise
        expect_ok("%s revoke a key (compromise)" % v, call(c, OP_REVOKE, rev, V14))
        expect_fail("%s split of a compromised key" % v,
                    call(c, OP_CSK, csk_kids(ver, 3, 2, M_GF8, uid=kc), ver),
                    R_WKLS if ver >= V20 else rl.R_PERMISSION_DENIED)

    # ---- KMIP 1.1 has no split key operations; Query lists them from 1.2
    expect_fail("1.1 create split key: Operation Not Supported",
                call(c, OP_CSK, csk_kids(V14, 3, 2, M_XOR), V11), R_OP_NOT_SUPPORTED)
    for ver in (V11, V14, V20):
        pl = expect_ok("%d.%d query operations" % ver, call(c, OP_QUERY, [rl.E(T_QUERY_FN, 1)], ver))
        ops = {n.value for n in pl.children(rl.TAG["OPERATION"])} if pl is not None else set()
        want = ver >= (1, 2)
        t.check("%d.%d query %s Create / Join Split Key" % (ver + ("lists" if want else "omits",)),
                (OP_CSK in ops and OP_JSK in ops) == want, repr(sorted(ops)))

# ---- the store: wrapped material only; the audit records
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(inst.dir, "data", "store.db"), uri=True,
                     timeout=10)
try:
    blobs = [row[0] for row in db.execute("SELECT wrapped FROM objects WHERE wrapped IS NOT NULL")]
    audits = {}
    for op, uid, result in db.execute("SELECT operation, uid, result FROM audit"):
        audits.setdefault(op, []).append((uid, result))
finally:
    db.close()
t.check("store.db holds no original key in clear",
        all(o not in b for o in originals if o for b in blobs))
created = {u for u, res in audits.get("Create Split Key", []) if res == 0}
t.check("every part created has a Create Split Key audit record",
        set(all_parts) <= created, "%d of %d" % (len(set(all_parts) & created), len(set(all_parts))))
t.check("refused Create Split Key / Join Split Key are audited",
        any(res != 0 for _, res in audits.get("Create Split Key", [])) and
        any(res != 0 for _, res in audits.get("Join Split Key", [])))
inst.stop()
t.check("no sanitizer report", not inst.sanitizer_errors(), rl.sanitizer_digest(inst))
t.check("coffred exits cleanly", inst.proc.returncode == 0, "rc %s" % inst.proc.returncode)
t.done()
