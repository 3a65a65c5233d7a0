"""Create Key Pair and Re-key Key Pair against a real coffred (SoftHSMv2, mutual TLS).

usage: test_keypair.py BUILD_DIR
PyKMIP's ProxyKmipClient.create_key_pair as a new user would call it (RSA and EC), then our
own TTLV client for the 1.4 form (Common / Private / Public Key Template-Attribute) and the 2.0
form (Common / Private / Public Key Attributes): the two uids, Object Types, algorithm and
length, usage masks, Links both ways, Names, Recommended Curve, state; the refusals with their
Result Reasons; Re-key Key Pair (Replacement / Replaced Object links, names moved, Offset);
Query lists both operations; and no key DER in store.db, its WAL or coffred's output."""
import glob
import logging
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
from robust_lib import S, E, I, Tx, TAG  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

OP_CREATE_KEY_PAIR, OP_REKEY_KEY_PAIR, OP_GET_ATTRIBUTES, OP_LOCATE, OP_QUERY = 0x02, 0x1D, 0x0B, 0x08, 0x18
T = dict(
    COMMON_TA=0x42001F, PRIVATE_TA=0x420065, PUBLIC_TA=0x42006E,
    PRIVATE_UID=0x420066, PUBLIC_UID=0x42006F, OFFSET=0x420058,
    COMMON_ATTRS=0x420126, PRIVATE_ATTRS=0x420127, PUBLIC_ATTRS=0x420128, ATTRIBUTES=0x420125,
    LINK=0x42004A, LINK_TYPE=0x42004B, LINKED_ID=0x42004C, NAME=0x420053, NAME_VALUE=0x420055,
    NAME_TYPE=0x420054, OBJECT_TYPE=0x420057, STATE=0x42008D, DOMAIN=0x420029, CURVE=0x420075,
    QUERY_FUNCTION=0x420074, OPERATION=0x42005C, ACTIVATION_DATE=0x420001,
)
ALG_RSA, ALG_EC, ALG_AES = 4, 0x1A, 3
M_SIGN, M_VERIFY, M_ENCRYPT, M_DECRYPT = 1, 2, 4, 8
LINK_PUBLIC, LINK_PRIVATE, LINK_REPLACEMENT, LINK_REPLACED = 0x102, 0x103, 0x106, 0x107
OT_PUBLIC, OT_PRIVATE = 3, 4
CURVE_P256, CURVE_P384 = 7, 0x0A
R_INVALID_FIELD, R_PERMISSION_DENIED, R_INVALID_MESSAGE, R_ILLEGAL_OPERATION = 7, 0x0C, 4, 0x0B
R_ATTRIBUTE_SINGLE_VALUED, R_INVALID_ATTRIBUTE_VALUE = 0x23, 0x2D  # 2.0

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, name="keypair")
inst.start()
pki = os.path.join(inst.dir, "pki")
pylog = os.path.join(inst.tmp, "pykmip.log")
logging.basicConfig(filename=pylog, level=logging.INFO)


def pyclient():
    return ProxyKmipClient(hostname="127.0.0.1", port=inst.port, cert="%s/qa.crt" % pki,
                           key="%s/qa.key" % pki, ca="%s/ca.crt" % pki, config_file="/dev/null")


def name_v1(v):
    return S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Name"),
             S(TAG["ATTRIBUTE_VALUE"], Tx(T["NAME_VALUE"], v), E(T["NAME_TYPE"], 1)))


def kp_req_v1(common, priv, pub, op=OP_CREATE_KEY_PAIR, head=()):
    """1.4 Create Key Pair / Re-key Key Pair: lists of 1.x Attribute items per template."""
    kids = list(head)
    for tag, attrs in ((T["COMMON_TA"], common), (T["PRIVATE_TA"], priv), (T["PUBLIC_TA"], pub)):
        if attrs is not None:
            kids.append(S(tag, *attrs))
    return rl.request([(op, kids)])


def call(c, req):
    r = c.call(req)
    return r, r.first()


def uids(resp):
    _, _, _, pl, _ = resp.first()
    if pl is None:
        return None, None
    v, u = pl.find(T["PRIVATE_UID"]), pl.find(T["PUBLIC_UID"])
    return (v.value if v else None), (u.value if u else None)


def get_attrs(c, uid, names, ver=(1, 4)):
    """{name: [value Node or primitive]} of a 1.x Get Attributes."""
    req = rl.request([(OP_GET_ATTRIBUTES, [Tx(TAG["UNIQUE_IDENTIFIER"], uid)] +
                       [Tx(TAG["ATTRIBUTE_NAME"], n) for n in names])], major=ver[0], minor=ver[1])
    r = c.call(req)
    out = {}
    if not r.ok:
        return None
    pl = r.first()[3]
    for a in pl.children(TAG["ATTRIBUTE"]):
        n = a.find(TAG["ATTRIBUTE_NAME"]).value
        v = a.find(TAG["ATTRIBUTE_VALUE"])
        out.setdefault(n, []).append(v.value if v.typ != rl.T_STRUCT else v)
    return out


def links(attrs):
    """{link type: linked uid} from a Get Attributes result."""
    out = {}
    for v in (attrs or {}).get("Link", []):
        out[v.find(T["LINK_TYPE"]).value] = v.find(T["LINKED_ID"]).value
    return out


def names(attrs):
    return sorted(v.find(T["NAME_VALUE"]).value for v in (attrs or {}).get("Name", []))


def check_pair(c, desc, priv, pub, alg, length, pmask, umask, curve=None):
    """Both objects exist with the right type, algorithm, length, masks, links."""
    want = ["Object Type", "Cryptographic Algorithm", "Cryptographic Length",
            "Cryptographic Usage Mask", "Link", "State", "Cryptographic Domain Parameters"]
    a, b = get_attrs(c, priv, want), get_attrs(c, pub, want)
    t.check("%s: Get Attributes of both keys" % desc, a is not None and b is not None)
    if a is None or b is None:
        return a, b
    t.check("%s: object types Private Key / Public Key" % desc,
            a["Object Type"] == [OT_PRIVATE] and b["Object Type"] == [OT_PUBLIC],
            "%r %r" % (a.get("Object Type"), b.get("Object Type")))
    t.check("%s: algorithm and length on both" % desc,
            a["Cryptographic Algorithm"] == [alg] == b["Cryptographic Algorithm"] and
            a["Cryptographic Length"] == [length] == b["Cryptographic Length"],
            "%r" % ((a.get("Cryptographic Algorithm"), a.get("Cryptographic Length")),))
    t.check("%s: usage masks private %#x public %#x" % (desc, pmask, umask),
            a["Cryptographic Usage Mask"] == [pmask] and b["Cryptographic Usage Mask"] == [umask],
            "%r %r" % (a.get("Cryptographic Usage Mask"), b.get("Cryptographic Usage Mask")))
    t.check("%s: Public Key Link on the private key, Private Key Link on the public key" % desc,
            links(a).get(LINK_PUBLIC) == pub and links(b).get(LINK_PRIVATE) == priv,
            "%r %r" % (links(a), links(b)))
    t.check("%s: Pre-Active" % desc, a["State"] == [1] and b["State"] == [1])
    if curve is not None:
        d = a.get("Cryptographic Domain Parameters", [None])[0]
        t.check("%s: Recommended Curve %#x" % (desc, curve),
                d is not None and d.find(T["CURVE"]) is not None and d.find(T["CURVE"]).value == curve)
    return a, b


# ---- PyKMIP, as a new user would ---------------------------------------------------------
with pyclient() as c:
    try:
        pub, priv = c.create_key_pair(
            enums.CryptographicAlgorithm.RSA, 2048, public_name="kp-rsa-pub",
            public_usage_mask=[enums.CryptographicUsageMask.VERIFY], private_name="kp-rsa-priv",
            private_usage_mask=[enums.CryptographicUsageMask.SIGN])
        t.ok("PyKMIP create_key_pair RSA-2048")
    except Exception as e:  # noqa: BLE001
        pub = priv = None
        t.bad("PyKMIP create_key_pair RSA-2048: %r" % e)
    try:
        epub, epriv = c.create_key_pair(enums.CryptographicAlgorithm.EC, 256)
        t.ok("PyKMIP create_key_pair EC 256 (no masks, no names)")
    except Exception as e:  # noqa: BLE001
        epub = epriv = None
        t.bad("PyKMIP create_key_pair EC 256: %r" % e)

with inst.client() as c:
    if priv:
        a, _ = check_pair(c, "PyKMIP RSA-2048", priv, pub, ALG_RSA, 2048, M_SIGN, M_VERIFY)
        n1, n2 = names(get_attrs(c, priv, ["Name"])), names(get_attrs(c, pub, ["Name"]))
        t.check("names from the private and public templates", n1 == ["kp-rsa-priv"] and
                n2 == ["kp-rsa-pub"], "%r %r" % (n1, n2))
    if epriv:
        check_pair(c, "PyKMIP EC-256", epriv, epub, ALG_EC, 256, M_SIGN, M_VERIFY, CURVE_P256)

    # ---- 1.4 form ---------------------------------------------------------------------
    req = kp_req_v1([rl.attr("Cryptographic Algorithm", E, ALG_EC),
                     rl.attr("Cryptographic Length", I, 384)],
                    [rl.attr("Cryptographic Usage Mask", I, M_SIGN), name_v1("kp14-priv")],
                    [rl.attr("Cryptographic Usage Mask", I, M_VERIFY), name_v1("kp14-pub")])
    r = c.call(req)
    v14, u14 = uids(r)
    t.check("1.4 Create Key Pair EC P-384: two uids", r.ok and v14 and u14 and v14 != u14,
            r.describe())
    if v14:
        check_pair(c, "1.4 EC-384", v14, u14, ALG_EC, 384, M_SIGN, M_VERIFY, CURVE_P384)
    # the curve alone (Cryptographic Domain Parameters), length implied and reported
    req = kp_req_v1([rl.attr("Cryptographic Algorithm", E, ALG_EC),
                     S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Cryptographic Domain Parameters"),
                       S(TAG["ATTRIBUTE_VALUE"], E(T["CURVE"], CURVE_P256)))], None, None)
    r = c.call(req)
    vc, uc = uids(r)
    pl = r.first()[3]
    tmpl = pl.find(T["PRIVATE_TA"]) if pl is not None else None
    t.check("1.4 by curve only: created, implied length and masks in the response template",
            r.ok and tmpl is not None and
            any(a.find(TAG["ATTRIBUTE_NAME"]).value == "Cryptographic Length" and
                a.find(TAG["ATTRIBUTE_VALUE"]).value == 256
                for a in tmpl.children(TAG["ATTRIBUTE"])), r.describe())
    if vc:
        check_pair(c, "1.4 by curve", vc, uc, ALG_EC, 256, M_SIGN, M_VERIFY, CURVE_P256)
    # RSA-3072 with a private template overriding the common mask
    req = kp_req_v1([rl.attr("Cryptographic Algorithm", E, ALG_RSA),
                     rl.attr("Cryptographic Length", I, 3072),
                     rl.attr("Cryptographic Usage Mask", I, M_VERIFY | M_ENCRYPT)],
                    [rl.attr("Cryptographic Usage Mask", I, M_SIGN | M_DECRYPT)], [])
    r = c.call(req)
    v3, u3 = uids(r)
    t.check("1.4 RSA-3072 with the common mask overridden for the private key", r.ok, r.describe())
    if v3:
        check_pair(c, "RSA-3072", v3, u3, ALG_RSA, 3072, M_SIGN | M_DECRYPT, M_VERIFY | M_ENCRYPT)

    # ---- 2.0 form ---------------------------------------------------------------------
    a_alg = E(0x420028, ALG_RSA)
    a_len = I(0x42002A, 2048)
    req = rl.request([(OP_CREATE_KEY_PAIR, [
        S(T["COMMON_ATTRS"], a_alg, a_len),
        S(T["PRIVATE_ATTRS"], I(0x42002C, M_SIGN),
          S(T["NAME"], Tx(T["NAME_VALUE"], "kp20-priv"), E(T["NAME_TYPE"], 1))),
        S(T["PUBLIC_ATTRS"], I(0x42002C, M_VERIFY))])], major=2, minor=0)
    r = c.call(req)
    v20, u20 = uids(r)
    pl = r.first()[3]
    t.check("2.0 Create Key Pair RSA-2048: two uids, no template in the 2.0 response",
            r.ok and v20 and u20 and pl.find(T["PRIVATE_TA"]) is None, r.describe())
    if v20:
        check_pair(c, "2.0 RSA-2048", v20, u20, ALG_RSA, 2048, M_SIGN, M_VERIFY)

    # ---- refusals ---------------------------------------------------------------------
    def refused(desc, common, priv_t, pub_t, reason, ver=(1, 4)):
        req = kp_req_v1(common, priv_t, pub_t)
        if ver != (1, 4):
            req = rl.request([(OP_CREATE_KEY_PAIR, [S(T["COMMON_ATTRS"], *common)])],
                             major=ver[0], minor=ver[1])
        r = c.call(req)
        st, rr, rm, _, _ = r.first()
        t.check("%s: Operation Failed / reason %#x (%r)" % (desc, reason, rm),
                st == rl.ST_OPERATION_FAILED and rr == reason, r.describe())

    alg = lambda a: rl.attr("Cryptographic Algorithm", E, a)  # noqa: E731
    ln = lambda n: rl.attr("Cryptographic Length", I, n)  # noqa: E731
    refused("RSA-1024", [alg(ALG_RSA), ln(1024)], None, None, R_INVALID_FIELD)
    refused("RSA without a length", [alg(ALG_RSA)], None, None, R_INVALID_FIELD)
    refused("AES is not a key pair", [alg(ALG_AES), ln(256)], None, None, R_INVALID_FIELD)
    refused("EC length 521", [alg(ALG_EC), ln(521)], None, None, R_INVALID_FIELD)
    refused("no algorithm", [ln(2048)], None, None, R_INVALID_FIELD)
    refused("private key usage Encrypt", [alg(ALG_RSA), ln(2048)],
            [rl.attr("Cryptographic Usage Mask", I, M_ENCRYPT)], None, R_INVALID_FIELD)
    refused("public key usage Sign", [alg(ALG_RSA), ln(2048)], None,
            [rl.attr("Cryptographic Usage Mask", I, M_SIGN)], R_INVALID_FIELD)
    refused("EC key usage Decrypt", [alg(ALG_EC), ln(256)],
            [rl.attr("Cryptographic Usage Mask", I, M_DECRYPT)], None, R_INVALID_FIELD)
    refused("different lengths for the two keys", [alg(ALG_RSA)], [ln(2048)], [ln(3072)],
            R_INVALID_FIELD)
    refused("2.0: RSA-1024", [E(0x420028, ALG_RSA), I(0x42002A, 1024)], None, None,
            R_INVALID_ATTRIBUTE_VALUE, ver=(2, 0))
    refused("2.0: EC with Decrypt", [E(0x420028, ALG_EC), I(0x42002A, 256),
                                     I(0x42002C, M_DECRYPT)], None, None,
            R_INVALID_ATTRIBUTE_VALUE, ver=(2, 0))
    refused("2.0: Cryptographic Length twice", [E(0x420028, ALG_RSA), I(0x42002A, 2048),
                                                I(0x42002A, 3072)], None, None,
            R_ATTRIBUTE_SINGLE_VALUED, ver=(2, 0))
    refused("1.4: Cryptographic Length twice", [alg(ALG_RSA), ln(2048), ln(3072)], None, None,
            R_INVALID_FIELD)

    # ---- Re-key Key Pair --------------------------------------------------------------
    if priv:
        r = c.call(kp_req_v1(None, None, None, op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], priv)]))
        nv, nu = uids(r)
        t.check("Re-key Key Pair of the PyKMIP RSA pair: two new uids",
                r.ok and nv and nu and nv not in (priv, pub) and nu not in (priv, pub), r.describe())
        if nv:
            check_pair(c, "re-keyed RSA", nv, nu, ALG_RSA, 2048, M_SIGN, M_VERIFY)
            lo, lu = links(get_attrs(c, priv, ["Link"])), links(get_attrs(c, pub, ["Link"]))
            ln_, lnu = links(get_attrs(c, nv, ["Link"])), links(get_attrs(c, nu, ["Link"]))
            t.check("old keys link to their replacements",
                    lo.get(LINK_REPLACEMENT) == nv and lu.get(LINK_REPLACEMENT) == nu, "%r %r" % (lo, lu))
            t.check("new keys link to the keys they replace",
                    ln_.get(LINK_REPLACED) == priv and lnu.get(LINK_REPLACED) == pub,
                    "%r %r" % (ln_, lnu))
            t.check("names moved to the replacement pair",
                    names(get_attrs(c, nv, ["Name"])) == ["kp-rsa-priv"] and
                    names(get_attrs(c, nu, ["Name"])) == ["kp-rsa-pub"] and
                    names(get_attrs(c, priv, ["Name"])) == [] and
                    names(get_attrs(c, pub, ["Name"])) == [])
            st = get_attrs(c, priv, ["State"])
            t.check("old private key keeps its state", st is not None and st["State"] == [1])
        r = c.call(kp_req_v1(None, None, None, op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], pub)]))
        t.check("Re-key Key Pair of a public key: Permission Denied",
                r.first()[:2] == (rl.ST_OPERATION_FAILED, R_PERMISSION_DENIED), r.describe())
        r = c.call(kp_req_v1(None, None, None, op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], "no-such-key")]))
        t.check("Re-key Key Pair of an unknown id: Item Not Found",
                r.first()[:2] == (rl.ST_OPERATION_FAILED, rl.R_ITEM_NOT_FOUND), r.describe())
        r = c.call(kp_req_v1(None, None, None, op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], nv or priv),
                                   rl.item(T["OFFSET"], rl.T_INTERVAL, struct.pack(">I", 3600))]))
        t.check("Re-key Key Pair with an Offset and no Activation Date: Illegal Operation",
                r.first()[:2] == (rl.ST_OPERATION_FAILED, R_ILLEGAL_OPERATION), r.describe())
    # Offset (1.4 Table 176): activation = now + Offset, deactivation moved by as much
    now = int(time.time())
    dt = lambda tag, v: rl.item(tag, rl.T_DATE, struct.pack(">q", v))  # noqa: E731
    r = c.call(kp_req_v1([alg(ALG_EC), ln(256),
                          S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Activation Date"),
                            dt(TAG["ATTRIBUTE_VALUE"], now + 86400)),
                          S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Deactivation Date"),
                            dt(TAG["ATTRIBUTE_VALUE"], now + 2 * 86400))], None, None))
    vo, uo = uids(r)
    t.check("EC pair with future Activation / Deactivation Dates", r.ok, r.describe())
    if vo:
        r = c.call(kp_req_v1(None, None, None, op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], vo),
                                   rl.item(T["OFFSET"], rl.T_INTERVAL, struct.pack(">I", 3600))]))
        nvo, _ = uids(r)
        d = get_attrs(c, nvo, ["Activation Date", "Deactivation Date"]) if nvo else None
        act = (d or {}).get("Activation Date", [0])[0]
        deact = (d or {}).get("Deactivation Date", [0])[0]
        t.check("Re-key Key Pair with Offset 3600: Activation Date = now + 3600, Deactivation "
                "Date moved by the same amount", r.ok and abs(act - (now + 3600)) < 120 and
                deact - act == 86400, "%s act=%s deact=%s" % (r.describe(), act, deact))
        r = c.call(kp_req_v1([S(TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Activation Date"),
                                dt(TAG["ATTRIBUTE_VALUE"], now + 60))], None, None,
                             op=OP_REKEY_KEY_PAIR,
                             head=[Tx(T["PRIVATE_UID"], vo),
                                   rl.item(T["OFFSET"], rl.T_INTERVAL, struct.pack(">I", 60))]))
        t.check("Re-key Key Pair with an Offset and an Activation Date: Invalid Message",
                r.first()[:2] == (rl.ST_OPERATION_FAILED, R_INVALID_MESSAGE), r.describe())
    if v20:
        r = c.call(rl.request([(OP_REKEY_KEY_PAIR, [Tx(T["PRIVATE_UID"], v20)])], major=2, minor=0))
        nv2, nu2 = uids(r)
        t.check("2.0 Re-key Key Pair", r.ok and nv2 and nu2, r.describe())
        if nv2:
            check_pair(c, "2.0 re-keyed", nv2, nu2, ALG_RSA, 2048, M_SIGN, M_VERIFY)

    # ---- Query --------------------------------------------------------------------------
    r = c.call(rl.request([(OP_QUERY, [E(T["QUERY_FUNCTION"], 1)])]))
    ops = [n.value for n in r.first()[3].children(T["OPERATION"])] if r.ok else []
    t.check("Query lists Create Key Pair and Re-key Key Pair",
            OP_CREATE_KEY_PAIR in ops and OP_REKEY_KEY_PAIR in ops, "%r" % ops)

alive = inst.alive()
t.check("coffred still running", alive)
rc = inst.stop(10)
t.check("clean stop (rc=%s)" % rc, rc == 0)
san = inst.sanitizer_errors()
t.check("no sanitizer report in coffred's output", not san, "; ".join(san[:3]))

# ---- no key DER at rest or in the output ----------------------------------------------------
# every key is stored wrapped: the DER of an RSA / EC key (PKCS#8 or SubjectPublicKeyInfo)
# carries its algorithm OID in the clear, so neither OID may appear in the store files or the
# server's output
oids = {"rsaEncryption": bytes.fromhex("06092a864886f70d010101"),
        "id-ecPublicKey": bytes.fromhex("06072a8648ce3d0201")}
files = glob.glob(os.path.join(inst.dir, "data", "store.db*"))
t.check("store files found (%d)" % len(files), len(files) >= 1)
hits = []
for f in files:
    with open(f, "rb") as fh:
        data = fh.read()
    hits += ["%s in %s" % (k, os.path.basename(f)) for k, v in oids.items() if v in data]
out = inst.stderr(all_runs=True).encode()
hits += ["%s in coffred's output" % k for k, v in oids.items() if v in out or v.hex() in out.decode()]
t.check("no key DER in store.db, its WAL or coffred's output", not hits, "; ".join(hits))

if t.failed:
    with open(pylog, errors="replace") as f:
        print("\n".join("   py| " + line for line in f.read().splitlines()[-20:]))
    print("\n".join("   srv| " + line for line in inst.stderr().splitlines()[-30:]))
t.done()
