"""PyKMIP's client (python3-pykmip, ProxyKmipClient) against a real coffred.

usage: test_pykmip_interop.py BUILD_DIR
(provisions a QA instance with two clients in two tenants, qa and qa2, starts BUILD_DIR/coffred
on port 0, runs PyKMIP's client against it, then checks that coffred is still running and stops
cleanly). PyKMIP's log goes to a file of the instance, printed when a check failed."""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.core.factories import attributes as attr_factory  # noqa: E402
from kmip.pie import objects  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402
from kmip.pie.exceptions import KmipOperationFailure  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=2, name="pykmip")
inst.start()
port, pki = inst.port, os.path.join(inst.dir, "pki")
pylog = os.path.join(inst.tmp, "pykmip.log")
logging.basicConfig(filename=pylog, level=logging.INFO)


def check(desc, cond):
    t.check(desc, cond)


def attempt(desc, fn, want_reason, want_message):
    """fn() must fail with KmipOperationFailure: Operation Failed, this Result Reason and this
    Result Message."""
    try:
        fn()
    except KmipOperationFailure as e:
        got = (e.status, e.reason, e.message)
        want = (enums.ResultStatus.OPERATION_FAILED, want_reason, want_message)
        check("%s (%s: %r)" % (desc, e.reason, e.message) if got == want else
              "%s: got %s %s %r, want %s %s %r" % ((desc,) + got + want), got == want)
        return
    except Exception as e:  # noqa: BLE001
        check("%s: unexpected %r" % (desc, e), False)
        return
    check(desc + ": succeeded, expected a failure", False)


def client(name):
    return ProxyKmipClient(hostname="127.0.0.1", port=port, cert="%s/%s.crt" % (pki, name),
                           key="%s/%s.key" % (pki, name), ca="%s/ca.crt" % pki,
                           config_file="/dev/null")


def step(desc, fn):
    try:
        r = fn()
        check(desc, True)
        return r
    except Exception as e:  # noqa: BLE001
        check("%s: %r" % (desc, e), False)
        return None


af = attr_factory.AttributeFactory()
with client("qa") as c:
    uid = step("create AES-256", lambda: c.create(enums.CryptographicAlgorithm.AES, 256,
                                                 name="interop-key-1"))
    if uid:
        key = step("get (Pre-Active)", lambda: c.get(uid))
        check("get returns a 32-byte AES key", key is not None and len(key.value) == 32)
        attrs = step("get_attributes", lambda: c.get_attributes(uid, ["State", "Cryptographic Length"]))
        if attrs:
            d = {a.attribute_name.value: a.attribute_value for a in attrs[1]}
            check("state is Pre-Active", str(d.get("State")).endswith("PRE_ACTIVE") or
                  getattr(d.get("State"), "value", None) == enums.State.PRE_ACTIVE)
        names = step("get_attribute_list", lambda: c.get_attribute_list(uid))
        check("attribute list names State and Name", names is not None and "State" in names and "Name" in names)
        step("activate", lambda: c.activate(uid))
        attempt("destroy of an Active key is refused", lambda: c.destroy(uid),
                enums.ResultReason.PERMISSION_DENIED, "an Active object must be revoked first")
        found = step("locate by name", lambda: c.locate(attributes=[
            af.create_attribute(enums.AttributeType.NAME, "interop-key-1")]))
        check("locate by name finds exactly the key", found == [uid])
        uid2 = step("create a second key (AES-128)", lambda: c.create(enums.CryptographicAlgorithm.AES, 128))
        found = step("locate by length 128", lambda: c.locate(attributes=[
            af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 128)]))
        check("locate by length finds the second key only", found == [uid2])
        found = step("locate with maximum_items=1", lambda: c.locate(maximum_items=1))
        check("maximum_items honoured", found is not None and len(found) == 1)
        step("revoke (key compromise)", lambda: c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid))
        step("destroy after revoke", lambda: c.destroy(uid))
        attempt("get of a destroyed key fails", lambda: c.get(uid),
                enums.ResultReason.ITEM_NOT_FOUND, "object destroyed")
        if uid2:
            step("destroy the Pre-Active second key", lambda: c.destroy(uid2))
    secret = objects.SecretData(b"interop secret 0123456789abcdef", enums.SecretDataType.PASSWORD)
    sid = step("register secret data", lambda: c.register(secret))
    if sid:
        got = step("get the secret back", lambda: c.get(sid))
        check("secret bytes round-trip", got is not None and got.value == b"interop secret 0123456789abcdef")
    # another tenant's object is answered exactly as an unknown id
    attempt("get of an unknown id fails with Item Not Found", lambda: c.get("no-such-id"),
            enums.ResultReason.ITEM_NOT_FOUND, "not found")
    attempt("activate of an unknown id fails", lambda: c.activate("no-such-id"),
            enums.ResultReason.ITEM_NOT_FOUND, "not found")
    tenant_uid = step("qa creates a key for the tenant check",
                      lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name="tenant-qa"))

with client("qa2") as c2:
    if tenant_uid:
        attempt("qa2 cannot get qa's key", lambda: c2.get(tenant_uid),
                enums.ResultReason.ITEM_NOT_FOUND, "not found")
        attempt("qa2 cannot destroy qa's key", lambda: c2.destroy(tenant_uid),
                enums.ResultReason.ITEM_NOT_FOUND, "not found")
        found = step("qa2 locate by qa's name", lambda: c2.locate(attributes=[
            af.create_attribute(enums.AttributeType.NAME, "tenant-qa")]))
        check("qa2 does not see qa's objects in Locate", found == [])
    own = step("qa2 creates its own key", lambda: c2.create(enums.CryptographicAlgorithm.AES, 256))
with client("qa") as c:
    if own:
        attempt("qa cannot get qa2's key", lambda: c.get(own),
                enums.ResultReason.ITEM_NOT_FOUND, "not found")
    if tenant_uid:
        step("qa still reads its own key", lambda: c.get(tenant_uid))

check("coffred still running after the PyKMIP client", inst.alive())
rc = inst.stop(5)
check("clean stop (rc=%s)" % rc, rc == 0)
if t.failed:
    with open(pylog, errors="replace") as f:
        print("\n".join("   py| " + line for line in f.read().splitlines()[-20:]))
    print("\n".join("   srv| " + line for line in inst.stderr().splitlines()[-30:]))
t.done()
