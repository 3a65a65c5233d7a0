"""The semantics a KMIP client relies on, over real mutual TLS, in 1.4 and 2.0 (issue 14):
destroyed objects, the life-cycle diagram (KMIP 1.4 section 3.22), the 2.0 attribute
operations (Modify / Delete with Current Attribute, New Attribute, Attribute Reference; Set;
Adjust) beside their 1.x forms, Check, and an empty Username/Password credential (PyKMIP's
ProxyKmipClient with username = password = "" in its configuration file).

usage: test_kmip_semantics.py BUILD_DIR
(provisions a QA instance, starts BUILD_DIR/coffred on port 0, talks TTLV with kmipwire.py and
PyKMIP, stops it cleanly)."""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmipwire as kw  # noqa: E402
import robust_lib as rl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.core import objects as cobj  # noqa: E402
from kmip.core.factories import attribute_values as avf  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402
from kmip.pie.exceptions import KmipOperationFailure  # noqa: E402

STRUCT, INT, ENUM, TEXT, DATE = kw.STRUCT, kw.INT, kw.ENUM, kw.TEXT, kw.DATE
T_UID = kw.T_UID
T_OBJECT_TYPE, T_TEMPLATE, T_ATTRIBUTES = 0x420057, 0x420091, 0x420125
T_ALG, T_LEN, T_MASK, T_STATE = 0x420028, 0x42002A, 0x42002C, 0x42008D
T_CONTACT, T_ACTIVATION = 0x420022, 0x420001
T_REV_REASON, T_REV_CODE = 0x420081, 0x420082
T_ATTR_INDEX, T_VENDOR = 0x420009, 0x42009D
T_ATTR_REF, T_CURRENT, T_NEW = 0x42013B, 0x42013C, 0x42013D
T_ADJ_TYPE, T_ADJ_VALUE = 0x420158, 0x420162
OP_CREATE, OP_GET, OP_GET_ATTRS = 0x01, 0x0A, 0x0B
OP_ADD, OP_MODIFY, OP_DELETE, OP_ACTIVATE, OP_REVOKE, OP_DESTROY = 0x0D, 0x0E, 0x0F, 0x12, 0x13, 0x14
OP_ADJUST, OP_SET = 0x30, 0x31
KC, CESSATION = 2, 6
INCREMENT, DECREMENT, NEGATE = 1, 2, 3
PRE_ACTIVE, ACTIVE, DEACTIVATED, COMPROMISED, DESTROYED, DESTROYED_COMPROMISED = range(1, 7)
R_NOT_FOUND, R_PERMISSION, R_NUMERIC_RANGE, R_DATA_TYPE = 0x01, 0x0C, 0x1B, 0x1C
R_READ_ONLY, R_MULTI_VALUED, R_OBJECT_DESTROYED, R_WKLS = 0x1D, 0x1E, 0x36, 0x43
V14, V20 = (1, 4), (2, 0)

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=1, name="semantics")
inst.start()
pki = os.path.join(inst.dir, "pki")
pylog = os.path.join(inst.tmp, "pykmip.log")
logging.basicConfig(filename=pylog, level=logging.INFO)
conn = kw.Conn(inst.port, pki + "/ca.crt", pki + "/qa.crt", pki + "/qa.key")


def call(op, payload, ver):
    """One item; (status, reason, message, payload items)."""
    items = kw.batch_items(conn.call(kw.request(op, payload, version=ver)))
    st, reason, msg = kw.item_result(items[0])
    pl = kw.find(items[0][2], kw.T_PAYLOAD_RESP)
    return st, reason, msg, pl if pl is not None else []


def expect(desc, got, reason):
    """reason None: success; else Operation Failed with that Result Reason."""
    st, r, msg = got[0], got[1], got[2]
    ok = st == 0 if reason is None else (st == 1 and r == reason)
    want = "success" if reason is None else "reason 0x%x" % reason
    t.check("%s: %s" % (desc, want) if ok else
            "%s: got status %s reason %s (%r), want %s" % (desc, st, r, msg, want), ok)


def create(state=PRE_ACTIVE, activation=None):
    tmpl = [(kw.T_ATTRIBUTE, STRUCT, [(kw.T_ATTR_NAME, TEXT, n), (kw.T_ATTR_VALUE, typ, v)])
            for n, typ, v in [("Cryptographic Algorithm", ENUM, 3), ("Cryptographic Length", INT, 128),
                              ("Cryptographic Usage Mask", INT, 12)]]
    if activation is not None:
        tmpl.append((kw.T_ATTRIBUTE, STRUCT, [(kw.T_ATTR_NAME, TEXT, "Activation Date"),
                                              (kw.T_ATTR_VALUE, DATE, activation)]))
    st, _, msg, pl = call(OP_CREATE, [(T_OBJECT_TYPE, ENUM, 2), (T_TEMPLATE, STRUCT, tmpl)], V14)
    assert st == 0, msg
    uid = kw.find(pl, T_UID)
    path = {PRE_ACTIVE: [], ACTIVE: [OP_ACTIVATE], DEACTIVATED: [OP_ACTIVATE, CESSATION],
            COMPROMISED: [KC], DESTROYED: [OP_DESTROY], DESTROYED_COMPROMISED: [KC, OP_DESTROY]}
    for step in path[state]:
        r = revoke(uid, step, V14) if step in (KC, CESSATION) else call(step, [(T_UID, TEXT, uid)], V14)
        assert r[0] == 0, r
    return uid


def revoke(uid, code, ver):
    return call(OP_REVOKE, [(T_UID, TEXT, uid), (T_REV_REASON, STRUCT, [(T_REV_CODE, ENUM, code)])], ver)


def attrs(uid, names):
    """Get Attributes 1.4 -> {name: [values]}."""
    st, _, msg, pl = call(OP_GET_ATTRS, kw.attr_names_payload(uid, names), V14)
    out = {}
    for a in kw.find_all(pl, kw.T_ATTRIBUTE):
        out.setdefault(kw.find(a[2], kw.T_ATTR_NAME), []).append(kw.find(a[2], kw.T_ATTR_VALUE))
    return out


def state(uid):
    return attrs(uid, ["State"]).get("State", [None])[0]


# ---- 1. destroyed objects, 2. the life cycle: every transition and refusal ------------------
OPS = {"Activate": lambda u, v: call(OP_ACTIVATE, [(T_UID, TEXT, u)], v),
       "Revoke(Cessation)": lambda u, v: revoke(u, CESSATION, v),
       "Revoke(Key Compromise)": lambda u, v: revoke(u, KC, v),
       "Destroy": lambda u, v: call(OP_DESTROY, [(T_UID, TEXT, u)], v),
       "Get": lambda u, v: call(OP_GET, [(T_UID, TEXT, u)], v),
       "Get Attributes": lambda u, v: call(OP_GET_ATTRS, [(T_UID, TEXT, u)], v)}
S = {PRE_ACTIVE: "Pre-Active", ACTIVE: "Active", DEACTIVATED: "Deactivated",
     COMPROMISED: "Compromised", DESTROYED: "Destroyed", DESTROYED_COMPROMISED: "Destroyed Compromised"}
PD, WK, OD, NF = R_PERMISSION, R_WKLS, R_OBJECT_DESTROYED, R_NOT_FOUND
# (from, operation, to, 1.4 reason, 2.0 reason); None = success
TABLE = [
    (PRE_ACTIVE, "Activate", ACTIVE, None, None),
    (PRE_ACTIVE, "Revoke(Cessation)", PRE_ACTIVE, PD, WK),
    (PRE_ACTIVE, "Revoke(Key Compromise)", COMPROMISED, None, None),
    (PRE_ACTIVE, "Destroy", DESTROYED, None, None),
    (PRE_ACTIVE, "Get", PRE_ACTIVE, None, None),
    (ACTIVE, "Activate", ACTIVE, PD, WK),
    (ACTIVE, "Revoke(Cessation)", DEACTIVATED, None, None),
    (ACTIVE, "Revoke(Key Compromise)", COMPROMISED, None, None),
    (ACTIVE, "Destroy", ACTIVE, PD, WK),
    (DEACTIVATED, "Revoke(Cessation)", DEACTIVATED, PD, WK),
    (DEACTIVATED, "Revoke(Key Compromise)", COMPROMISED, None, None),
    (DEACTIVATED, "Destroy", DESTROYED, None, None),
    (COMPROMISED, "Revoke(Key Compromise)", COMPROMISED, PD, WK),
    (COMPROMISED, "Activate", COMPROMISED, PD, WK),
    (COMPROMISED, "Destroy", DESTROYED_COMPROMISED, None, None),
    (DESTROYED, "Get", DESTROYED, NF, OD),
    (DESTROYED, "Get Attributes", DESTROYED, None, None),
    (DESTROYED, "Destroy", DESTROYED, PD, OD),
    (DESTROYED, "Activate", DESTROYED, PD, OD),
    (DESTROYED, "Revoke(Cessation)", DESTROYED, PD, OD),
    (DESTROYED, "Revoke(Key Compromise)", DESTROYED_COMPROMISED, None, None),
    (DESTROYED_COMPROMISED, "Get", DESTROYED_COMPROMISED, NF, OD),
    (DESTROYED_COMPROMISED, "Revoke(Key Compromise)", DESTROYED_COMPROMISED, PD, OD),
    (DESTROYED_COMPROMISED, "Destroy", DESTROYED_COMPROMISED, PD, OD),
]
for frm, op, to, r14, r20 in TABLE:
    for ver, want in ((V14, r14), (V20, r20)):
        uid = create(frm)
        desc = "%s of a %s key in %d.%d" % (op, S[frm], ver[0], ver[1])
        expect(desc, OPS[op](uid, ver), want)
        got = state(uid)
        t.check("%s -> %s" % (desc, S[to]) if got == to else
                "%s: state %s, want %s" % (desc, S.get(got, got), S[to]), got == to)
uid = create(DESTROYED)
t.check("a destroyed key keeps its Destroy Date", bool(attrs(uid, ["Destroy Date"]).get("Destroy Date")))
uid = create(PRE_ACTIVE, activation=1)
t.check("a template Activation Date in the past makes the new key Active", state(uid) == ACTIVE)

# ---- 3. Add / Modify / Delete Attribute in 1.4, and the 2.0 forms ---------------------------
uid = create()


def a14(name, typ, v, index=None):
    sub = [(kw.T_ATTR_NAME, TEXT, name)]
    if index is not None:
        sub.append((T_ATTR_INDEX, INT, index))
    return (kw.T_ATTRIBUTE, STRUCT, sub + [(kw.T_ATTR_VALUE, typ, v)])


def custom20(name, typ, v):
    return (kw.T_ATTRIBUTE, STRUCT, [(T_VENDOR, TEXT, "x"), (kw.T_ATTR_NAME, TEXT, name),
                                     (kw.T_ATTR_VALUE, typ, v)])


def ref20(name, vendor=""):
    return (T_ATTR_REF, STRUCT, [(T_VENDOR, TEXT, vendor), (kw.T_ATTR_NAME, TEXT, name)])


expect("1.4 Add Attribute x-Tag", call(OP_ADD, [(T_UID, TEXT, uid), a14("x-Tag", TEXT, "a")], V14), None)
expect("1.4 Add Attribute x-Tag again", call(OP_ADD, [(T_UID, TEXT, uid), a14("x-Tag", TEXT, "b")], V14), None)
expect("1.4 Modify Attribute x-Tag index 1",
       call(OP_MODIFY, [(T_UID, TEXT, uid), a14("x-Tag", TEXT, "B", 1)], V14), None)
t.check("x-Tag is [a, B]", sorted(attrs(uid, ["x-Tag"]).get("x-Tag", [])) == ["B", "a"])
expect("1.4 Delete Attribute x-Tag index 0",
       call(OP_DELETE, [(T_UID, TEXT, uid), (kw.T_ATTR_NAME, TEXT, "x-Tag"), (T_ATTR_INDEX, INT, 0)], V14), None)
t.check("x-Tag is [B]", attrs(uid, ["x-Tag"]).get("x-Tag") == ["B"])
expect("2.0 Add Attribute Contact Information",
       call(OP_ADD, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [(T_CONTACT, TEXT, "ops@a")])], V20), None)
expect("2.0 Modify Attribute with Current Attribute / New Attribute",
       call(OP_MODIFY, [(T_UID, TEXT, uid), (T_CURRENT, STRUCT, [(T_CONTACT, TEXT, "ops@a")]),
                        (T_NEW, STRUCT, [(T_CONTACT, TEXT, "ops@b")])], V20), None)
t.check("Contact Information is ops@b", attrs(uid, ["Contact Information"]).get("Contact Information") == ["ops@b"])
expect("2.0 Modify Attribute whose Current Attribute does not match",
       call(OP_MODIFY, [(T_UID, TEXT, uid), (T_CURRENT, STRUCT, [(T_CONTACT, TEXT, "nobody")]),
                        (T_NEW, STRUCT, [(T_CONTACT, TEXT, "x")])], V20), 0x21)
expect("2.0 Delete Attribute by Current Attribute",
       call(OP_DELETE, [(T_UID, TEXT, uid), (T_CURRENT, STRUCT, [(T_CONTACT, TEXT, "ops@b")])], V20), None)
t.check("Contact Information deleted", "Contact Information" not in attrs(uid, ["Contact Information"]))
expect("2.0 Delete Attribute by Attribute Reference (vendor x)",
       call(OP_DELETE, [(T_UID, TEXT, uid), ref20("Tag", "x")], V20), None)
t.check("x-Tag deleted", "x-Tag" not in attrs(uid, ["x-Tag"]))
expect("2.0 Delete Attribute by an Attribute Reference with an empty vendor (State)",
       call(OP_DELETE, [(T_UID, TEXT, uid), ref20("State")], V20), 0x22)
expect("2.0 Delete Attribute by the enumeration Attribute Reference (Contact Information, absent)",
       call(OP_DELETE, [(T_UID, TEXT, uid), (T_ATTR_REF, ENUM, T_CONTACT)], V20), 0x21)

# Set Attribute: adds, then replaces the one instance; several instances: Multi Valued
expect("2.0 Set Attribute (absent: added)",
       call(OP_SET, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [(T_CONTACT, TEXT, "one")])], V20), None)
expect("2.0 Set Attribute (one instance: replaced)",
       call(OP_SET, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [(T_CONTACT, TEXT, "two")])], V20), None)
t.check("Set leaves one instance, the new value",
        attrs(uid, ["Contact Information"]).get("Contact Information") == ["two"])
for v in ("m1", "m2"):
    call(OP_ADD, [(T_UID, TEXT, uid), a14("x-Multi", TEXT, v)], V14)
expect("2.0 Set Attribute of a two-instance attribute",
       call(OP_SET, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [custom20("Multi", TEXT, "m3")])], V20),
       R_MULTI_VALUED)
expect("2.0 Set Attribute State (read-only)",
       call(OP_SET, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [(T_STATE, ENUM, ACTIVE)])], V20), R_READ_ONLY)
expect("1.4 Set Attribute (a 2.0 operation)",
       call(OP_SET, [(T_UID, TEXT, uid), (T_NEW, STRUCT, [(T_CONTACT, TEXT, "x")])], V14), 0x05)

# Adjust Attribute
expect("2.0 Adjust Attribute of an absent integer (from 0) by +5",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("Counter", "x"), (T_ADJ_TYPE, ENUM, INCREMENT),
                        (T_ADJ_VALUE, INT, 5)], V20), None)
expect("2.0 Adjust Attribute Decrement (default 1)",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("Counter", "x"), (T_ADJ_TYPE, ENUM, DECREMENT)], V20), None)
expect("2.0 Adjust Attribute Negate",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("Counter", "x"), (T_ADJ_TYPE, ENUM, NEGATE)], V20), None)
t.check("x-Counter is -4", attrs(uid, ["x-Counter"]).get("x-Counter") == [-4])
expect("2.0 Adjust Attribute past the Integer range",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("Counter", "x"), (T_ADJ_TYPE, ENUM, DECREMENT),
                        (T_ADJ_VALUE, INT, 2**31 - 1)], V20), R_NUMERIC_RANGE)
t.check("x-Counter unchanged after the refusal", attrs(uid, ["x-Counter"]).get("x-Counter") == [-4])
act = attrs(uid, ["Activation Date"]).get("Activation Date")
expect("2.0 Adjust Attribute Activation Date of a Pre-Active key (absent: from 0, future)",
       call(OP_ADJUST, [(T_UID, TEXT, uid), (T_ATTR_REF, ENUM, T_ACTIVATION), (T_ADJ_TYPE, ENUM, INCREMENT),
                        (T_ADJ_VALUE, kw.LONG, 4102444800)], V20), None)
t.check("Activation Date set to 2100-01-01, key still Pre-Active",
        act is None and attrs(uid, ["Activation Date"]).get("Activation Date") == [4102444800] and
        state(uid) == PRE_ACTIVE)
expect("2.0 Adjust Attribute of a text attribute",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("Contact Information"), (T_ADJ_TYPE, ENUM, INCREMENT)], V20),
       R_DATA_TYPE)
expect("2.0 Adjust Attribute State (read-only)",
       call(OP_ADJUST, [(T_UID, TEXT, uid), ref20("State"), (T_ADJ_TYPE, ENUM, INCREMENT)], V20), R_READ_ONLY)
expect("2.0 Adjust Attribute of an unknown object",
       call(OP_ADJUST, [(T_UID, TEXT, "no-such"), ref20("Counter", "x"), (T_ADJ_TYPE, ENUM, INCREMENT)], V20),
       R_NOT_FOUND)

# ---- Check (1.4 section 4.10) --------------------------------------------------------------
OP_CHECK, T_ULC, T_ULT, T_ULU, T_LEASE = 0x09, 0x420096, 0x420097, 0x420098, 0x420049
ENC, DEC, SIGN = 4, 8, 1


def check(uid, ver, mask=None, count=None, lease=None):
    pl = [(T_UID, TEXT, uid)]
    if count is not None:
        pl.append((T_ULC, kw.LONG, count))
    if mask is not None:
        pl.append((T_MASK, INT, mask))
    if lease is not None:
        pl.append((T_LEASE, kw.INTERVAL, lease))
    return call(OP_CHECK, pl, ver)


CHECKS = [  # (state, mask, 1.4 reason, 2.0 reason)
    (ACTIVE, ENC, None, None),
    (ACTIVE, ENC | DEC, None, None),
    (ACTIVE, SIGN, R_PERMISSION, 0x29),           # not in the key's mask (12)
    (PRE_ACTIVE, ENC, R_PERMISSION, R_WKLS),      # may not be used before activation
    (DEACTIVATED, DEC, None, None),                # processing protected data only
    (DEACTIVATED, ENC, R_PERMISSION, R_WKLS),
    (COMPROMISED, DEC, None, None),
    (COMPROMISED, ENC, R_PERMISSION, R_WKLS),
    (DESTROYED, DEC, R_NOT_FOUND, R_OBJECT_DESTROYED),
]
for st_, mask, r14, r20 in CHECKS:
    for ver, want in ((V14, r14), (V20, r20)):
        uid = create(st_)
        got = check(uid, ver, mask=mask)
        expect("Check mask 0x%x of a %s key in %d.%d" % (mask, S[st_], ver[0], ver[1]), got, want)
        if want is None:
            t.check("Check answers the Unique Identifier", kw.find(got[3], T_UID) == uid)
        elif want != R_NOT_FOUND and want != R_OBJECT_DESTROYED:
            t.check("the refusal's payload holds the refused mask, no Unique Identifier",
                    kw.find(got[3], T_MASK) == mask and kw.find(got[3], T_UID) is None)
uid = create(ACTIVE)
expect("Check with nothing to check", check(uid, V14), None)
expect("Check of a Lease Time within the lease policy (3600 s): granted", check(uid, V20, lease=3600), None)
got = check(uid, V14, lease=86400)
expect("Check of a Lease Time over the lease policy: refused", got, R_PERMISSION)
t.check("the refusal's payload holds the refused Lease Time", kw.find(got[3], T_LEASE) == 86400)
expect("Check of a Usage Limits Count on a key without limits", check(uid, V14, count=10**9), None)
ul = [(T_ULT, kw.LONG, 100), (T_ULC, kw.LONG, 10), (T_ULU, ENUM, 2)]
expect("Add Attribute Usage Limits (100 total, 10 left)",
       call(OP_ADD, [(T_UID, TEXT, uid), (kw.T_ATTRIBUTE, STRUCT, [(kw.T_ATTR_NAME, TEXT, "Usage Limits"),
                                                                  (kw.T_ATTR_VALUE, STRUCT, ul)])], V14), None)
for ver, want in ((V14, R_PERMISSION), (V20, 0x1A)):
    expect("Check of 10 units within the limit in %d.%d" % ver, check(uid, ver, count=10), None)
    got = check(uid, ver, count=11)
    expect("Check of 11 units over the limit in %d.%d" % ver, got, want)
    t.check("the refusal's payload holds the refused count", kw.find(got[3], T_ULC) == 11)
expect("Check of an unknown object", check("no-such", V14, mask=ENC), R_NOT_FOUND)
conn.close()


# ---- PyKMIP: what its ProxyKmipClient sends --------------------------------------------------
def pyclient(conf=None, **kw_):
    return ProxyKmipClient(hostname="127.0.0.1", port=inst.port, cert=pki + "/qa.crt",
                           key=pki + "/qa.key", ca=pki + "/ca.crt",
                           config_file=conf or "/dev/null", **kw_)


def py_fail(desc, fn, reason):
    try:
        fn()
    except KmipOperationFailure as e:
        t.check("%s (%s)" % (desc, e.reason) if e.reason == reason else
                "%s: got %s %r, want %s" % (desc, e.reason, e.message, reason), e.reason == reason)
        return
    except Exception as e:  # noqa: BLE001
        t.check("%s: unexpected %r" % (desc, e), False)
        return
    t.check(desc + ": succeeded, expected a failure", False)


def py_ok(desc, fn):
    try:
        r = fn()
        t.check(desc, True)
        return r
    except Exception as e:  # noqa: BLE001
        t.check("%s: %r" % (desc, e), False)
        return None


# username = password = "" in the client's configuration file: PyKMIP sends a Username/Password
# credential with both fields empty (username="" as an argument falls back to the file)
conf = os.path.join(inst.tmp, "pykmip.conf")
with open(conf, "w") as f:
    f.write("[client]\nusername=\npassword=\n")
with pyclient(conf) as c:
    t.check("PyKMIP sends an empty credential with this configuration",
            c.proxy.username == "" and c.proxy.password == "")
    u = py_ok("empty credential, no password configured: accepted and ignored",
              lambda: c.create(enums.CryptographicAlgorithm.AES, 128))
    if u:
        py_ok("revoke (Key Compromise) of the Pre-Active key",
              lambda: c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, u))
        st = py_ok("its state", lambda: c.get_attributes(u, ["State"]))
        t.check("the Pre-Active key is Compromised", st is not None and
                st[1][0].attribute_value.value == enums.State.COMPROMISED)
        py_ok("destroy the Compromised key", lambda: c.destroy(u))
        py_fail("PyKMIP 1.x get of a destroyed key", lambda: c.get(u), enums.ResultReason.ITEM_NOT_FOUND)
    u = py_ok("PyKMIP create for check", lambda: c.create(
        enums.CryptographicAlgorithm.AES, 128,
        cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]))
    if u:
        py_ok("PyKMIP activate", lambda: c.activate(u))
        got = py_ok("PyKMIP check (Encrypt, 5 units, an hour's lease)",
                    lambda: c.check(u, usage_limits_count=5, cryptographic_usage_mask=[
                        enums.CryptographicUsageMask.ENCRYPT], lease_time=3600))
        t.check("PyKMIP check answers the key's id", got == u)
        py_fail("PyKMIP check (Sign) of an Encrypt/Decrypt key",
                lambda: c.check(u, cryptographic_usage_mask=[enums.CryptographicUsageMask.SIGN]),
                enums.ResultReason.PERMISSION_DENIED)
with pyclient(username="alice", password="secret") as c:
    py_fail("a credential that is not configured is refused",
            lambda: c.create(enums.CryptographicAlgorithm.AES, 128),
            enums.ResultReason.AUTHENTICATION_NOT_SUCCESSFUL)
f20 = avf.AttributeValueFactory()
with pyclient(kmip_version=enums.KMIPVersion.KMIP_2_0) as c:
    u = py_ok("PyKMIP 2.0 create", lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name="n1"))
    if u:
        name = lambda v: f20.create_attribute_value(enums.AttributeType.NAME, v)  # noqa: E731
        py_ok("PyKMIP 2.0 modify_attribute (Current / New Attribute)",
              lambda: c.modify_attribute(unique_identifier=u, current_attribute=cobj.CurrentAttribute(name("n1")),
                                         new_attribute=cobj.NewAttribute(name("n2"))))
        got = py_ok("PyKMIP 2.0 get_attributes Name", lambda: c.get_attributes(u, ["Name"]))
        t.check("the Name is n2", got is not None and got[1][0].attribute_value.name_value.value == "n2")
        py_ok("PyKMIP 2.0 set_attribute Contact Information",
              lambda: c.set_attribute(unique_identifier=u, attribute_name="Contact Information",
                                      attribute_value="ops"))
        py_ok("PyKMIP 2.0 delete_attribute by Attribute Reference",
              lambda: c.delete_attribute(unique_identifier=u, attribute_reference=cobj.AttributeReference(
                  vendor_identification="", attribute_name="Name")))
        got = py_ok("PyKMIP 2.0 get_attributes after the delete", lambda: c.get_attributes(u, ["Name"]))
        t.check("no Name left", got is not None and got[1] == [])
        py_ok("PyKMIP 2.0 destroy", lambda: c.destroy(u))
        py_fail("PyKMIP 2.0 get of a destroyed key", lambda: c.get(u), enums.ResultReason.OBJECT_DESTROYED)

t.check("coffred still running", inst.alive())
rc = inst.stop(5)
t.check("clean stop (rc=%s)" % rc, rc == 0)
if t.failed:
    with open(pylog, errors="replace") as f:
        print("\n".join("   py| " + line for line in f.read().splitlines()[-20:]))
    print("\n".join("   srv| " + line for line in inst.stderr().splitlines()[-30:]))
t.done()
