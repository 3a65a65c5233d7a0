"""Every managed object type beyond Symmetric Key, as a new user would use them: PyKMIP's
ProxyKmipClient registers, gets, locates and destroys a Private Key (RSA as PKCS#1, EC as
PKCS#8), a Public Key (X.509), an X.509 Certificate, Secret Data, an Opaque Object and a Split
Key; Get converts between Key Format Types (checked against Python's `cryptography`); the TTLV
client checks the exact Result Reasons of the refusals and the Transparent key structures;
another tenant's client gets Item Not Found for each object; and no private key or secret
data is found in plaintext in the instance's files, the store's rows or coffred's output.

usage: test_objects.py BUILD_DIR
"""
import datetime
import hashlib
import os
import sqlite3
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from kmip import enums  # noqa: E402
from kmip.core import misc  # noqa: E402
from kmip.core.factories import attributes as attr_factory  # noqa: E402
from kmip.pie import objects  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402
from kmip.pie.exceptions import KmipOperationFailure  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=2, name="objects")
inst.start()
port, pki = inst.port, os.path.join(inst.dir, "pki")
af = attr_factory.AttributeFactory()
DER = serialization.Encoding.DER
NOENC = serialization.NoEncryption()

# ---- material ------------------------------------------------------------------------------
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_pkcs1 = rsa_key.private_bytes(DER, serialization.PrivateFormat.TraditionalOpenSSL, NOENC)
rsa_pkcs8 = rsa_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, NOENC)
rsa_spki = rsa_key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
rsa_pub_pkcs1 = rsa_key.public_key().public_bytes(DER, serialization.PublicFormat.PKCS1)
ec_key = ec.generate_private_key(ec.SECP256R1())
ec_pkcs8 = ec_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, NOENC)
ec_sec1 = ec_key.private_bytes(DER, serialization.PrivateFormat.TraditionalOpenSSL, NOENC)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "objects-test"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Coffre QA")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(rsa_key.public_key()).serial_number(0x1234567)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .sign(ec_key, hashes.SHA256()))
cert_der = cert.public_bytes(DER)
secret = os.urandom(24) + b"-secret-data-objects"
opaque = os.urandom(40)
split_part = os.urandom(32)


def check(desc, cond, detail=""):
    t.check(desc, cond, detail)


def step(desc, fn):
    try:
        r = fn()
        check(desc, True)
        return r
    except Exception as e:  # noqa: BLE001
        check("%s: %r" % (desc, e), False)
        return None


def attempt(desc, fn, want_reason):
    try:
        fn()
    except KmipOperationFailure as e:
        check("%s (%s: %r)" % (desc, e.reason, e.message), e.reason == want_reason,
              "got %s, want %s" % (e.reason, want_reason))
        return
    except Exception as e:  # noqa: BLE001
        check("%s: unexpected %r" % (desc, e), False)
        return
    check(desc + ": succeeded, expected a failure", False)


def client(who):
    return ProxyKmipClient(hostname="127.0.0.1", port=port, cert="%s/%s.crt" % (pki, who),
                           key="%s/%s.key" % (pki, who), ca="%s/ca.crt" % pki,
                           config_file="/dev/null")


def get_as(c, uid, fmt):
    """Get through PyKMIP's KMIPProxy with a Key Format Type: -> (result reason, key bytes)."""
    r = c.proxy.get(uid, key_format_type=misc.KeyFormatType(fmt))
    if r.result_status.value != enums.ResultStatus.SUCCESS:
        return r.result_reason.value, None
    return None, r.secret.key_block.key_value.key_material.value


def attrs_of(c, uid, names):
    _, al = c.get_attributes(uid, names)
    return {a.attribute_name.value: a.attribute_value for a in al}


uids = {}
with client("qa") as c:
    # ---- Private Key (RSA, PKCS#1) ---------------------------------------------------------
    u = step("register an RSA-2048 private key as PKCS#1", lambda: c.register(objects.PrivateKey(
        enums.CryptographicAlgorithm.RSA, 2048, rsa_pkcs1, enums.KeyFormatType.PKCS_1,
        name="obj-rsa-priv")))
    uids["rsa private"] = u
    if u:
        k = step("get the RSA private key (registered format)", lambda: c.get(u))
        check("it comes back as the same PKCS#1 DER", k is not None and k.value == rsa_pkcs1 and
              k.key_format_type == enums.KeyFormatType.PKCS_1)
        rr, v = get_as(c, u, enums.KeyFormatType.PKCS_8)
        check("get as PKCS#8 converts (same DER as cryptography's)", v == rsa_pkcs8, "reason %s" % rr)
        a = attrs_of(c, u, ["Cryptographic Algorithm", "Cryptographic Length", "Digest", "Object Type"])
        check("attributes: RSA, 2048, Private Key",
              a.get("Cryptographic Algorithm") is not None and
              a["Cryptographic Algorithm"].value == enums.CryptographicAlgorithm.RSA and
              a.get("Cryptographic Length") is not None and a["Cryptographic Length"].value == 2048 and
              a["Object Type"].value == enums.ObjectType.PRIVATE_KEY, repr(a))
        check("a Digest is kept", "Digest" in a, repr(sorted(a)))
    # ---- Private Key (EC P-256, PKCS#8) ----------------------------------------------------
    u = step("register an EC P-256 private key as PKCS#8", lambda: c.register(objects.PrivateKey(
        enums.CryptographicAlgorithm.EC, 256, ec_pkcs8, enums.KeyFormatType.PKCS_8)))
    uids["ec private"] = u
    if u:
        k = step("get the EC key", lambda: c.get(u))
        check("the EC key round-trips as PKCS#8", k is not None and k.value == ec_pkcs8)
        rr, v = get_as(c, u, enums.KeyFormatType.EC_PRIVATE_KEY)
        check("get as ECPrivateKey converts", v == ec_sec1, "reason %s" % rr)
        rr, v = get_as(c, u, enums.KeyFormatType.PKCS_1)
        check("get an EC key as PKCS#1: Key Format Type Not Supported",
              rr == enums.ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "reason %s" % rr)
    # ---- Public Key ------------------------------------------------------------------------
    u = step("register the RSA public key as X.509", lambda: c.register(objects.PublicKey(
        enums.CryptographicAlgorithm.RSA, 2048, rsa_spki, enums.KeyFormatType.X_509)))
    uids["public"] = u
    if u:
        k = step("get the public key", lambda: c.get(u))
        check("the public key round-trips", k is not None and k.value == rsa_spki)
        rr, v = get_as(c, u, enums.KeyFormatType.PKCS_1)
        check("get the public key as PKCS#1 converts", v == rsa_pub_pkcs1, "reason %s" % rr)
        rr, v = get_as(c, u, enums.KeyFormatType.PKCS_8)
        check("get a public key as PKCS#8: Key Format Type Not Supported",
              rr == enums.ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "reason %s" % rr)
    # ---- Certificate -----------------------------------------------------------------------
    u = step("register an X.509 certificate", lambda: c.register(objects.X509Certificate(
        cert_der, name="obj-cert")))
    uids["certificate"] = u
    if u:
        k = step("get the certificate", lambda: c.get(u))
        check("the certificate round-trips", k is not None and k.value == cert_der and
              k.certificate_type == enums.CertificateType.X_509)
        # PyKMIP cannot decode X.509 Certificate Subject / Identifier / Issuer nor Digital
        # Signature Algorithm, and wants a Key Format Type in every Digest (a certificate's has
        # none): those are checked through the TTLV client below
        a = attrs_of(c, u, ["Certificate Type", "Certificate Length", "Cryptographic Algorithm"])
        check("Certificate Type X.509, Certificate Length = DER length",
              "Certificate Type" in a and a["Certificate Type"].value == enums.CertificateType.X_509
              and "Certificate Length" in a and a["Certificate Length"].value == len(cert_der), repr(a))
        check("the certificate's key algorithm is RSA", "Cryptographic Algorithm" in a and
              a["Cryptographic Algorithm"].value == enums.CryptographicAlgorithm.RSA)
    # ---- Secret Data, Opaque Object, Split Key ---------------------------------------------
    u = step("register secret data", lambda: c.register(objects.SecretData(
        secret, enums.SecretDataType.PASSWORD, name="obj-secret")))
    uids["secret"] = u
    if u:
        k = step("get the secret data", lambda: c.get(u))
        check("the secret round-trips", k is not None and k.value == secret)
    u = step("register an opaque object", lambda: c.register(objects.OpaqueObject(
        opaque, enums.OpaqueDataType.NONE)))
    uids["opaque"] = u
    if u:
        k = step("get the opaque object", lambda: c.get(u))
        check("the opaque bytes round-trip", k is not None and k.value == opaque)
    u = step("register a split key part", lambda: c.register(objects.SplitKey(
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=256,
        key_value=split_part, split_key_parts=3, key_part_identifier=2, split_key_threshold=2,
        split_key_method=enums.SplitKeyMethod.XOR)))
    uids["split"] = u
    if u:
        k = step("get the split key part", lambda: c.get(u))
        check("split key: bytes, parts 3, part 2, threshold 2, XOR",
              k is not None and k.value == split_part and k.split_key_parts == 3 and
              k.key_part_identifier == 2 and k.split_key_threshold == 2 and
              k.split_key_method == enums.SplitKeyMethod.XOR)
    # ---- Locate ----------------------------------------------------------------------------
    for label, ot in (("certificate", enums.ObjectType.CERTIFICATE),
                      ("public", enums.ObjectType.PUBLIC_KEY),
                      ("secret", enums.ObjectType.SECRET_DATA),
                      ("opaque", enums.ObjectType.OPAQUE_DATA),
                      ("split", enums.ObjectType.SPLIT_KEY)):
        found = step("locate by Object Type %s" % ot.name, lambda: c.locate(attributes=[
            af.create_attribute(enums.AttributeType.OBJECT_TYPE, ot)]))
        check("it finds exactly the %s" % label, found == [uids[label]], repr(found))
    found = step("locate private keys", lambda: c.locate(attributes=[
        af.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.PRIVATE_KEY)]))
    check("it finds both private keys", found is not None and
          sorted(found) == sorted([uids["rsa private"], uids["ec private"]]), repr(found))
    found = step("locate private keys with algorithm RSA", lambda: c.locate(attributes=[
        af.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.PRIVATE_KEY),
        af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                            enums.CryptographicAlgorithm.RSA)]))
    check("it finds the RSA private key only", found == [uids["rsa private"]], repr(found))
    found = step("locate by Certificate Type X.509", lambda: c.locate(attributes=[
        af.create_attribute(enums.AttributeType.CERTIFICATE_TYPE, enums.CertificateType.X_509)]))
    check("it finds the certificate", found == [uids["certificate"]], repr(found))
    found = step("locate by Name obj-cert", lambda: c.locate(attributes=[
        af.create_attribute(enums.AttributeType.NAME, "obj-cert")]))
    check("it finds the certificate by name", found == [uids["certificate"]], repr(found))

# ---- another tenant ------------------------------------------------------------------------
with client("qa2") as c2:
    for label, u in sorted(uids.items()):
        if u:
            attempt("qa2 cannot get qa's %s" % label, lambda: c2.get(u),
                    enums.ResultReason.ITEM_NOT_FOUND)
    found = step("qa2 locates private keys", lambda: c2.locate(attributes=[
        af.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.PRIVATE_KEY)]))
    check("qa2 sees none of qa's private keys", found == [], repr(found))

# ---- exact Result Reasons and Transparent keys (TTLV) --------------------------------------
T = rl.TAG
T_OBJECT_TYPE, T_KEY_BLOCK, T_KEY_FORMAT, T_KEY_VALUE, T_KEY_MATERIAL = 0x420057, 0x420040, 0x420042, 0x420045, 0x420043
T_PRIVATE_KEY, T_PUBLIC_KEY, T_CERTIFICATE, T_CERT_TYPE, T_CERT_VALUE = 0x420064, 0x42006D, 0x420013, 0x42001D, 0x42001E
T_ALG, T_LEN, T_TEMPLATE = 0x420028, 0x42002A, 0x420091
T_MODULUS, T_PUB_EXP, T_PRIV_EXP, T_P, T_Q, T_DP, T_DQ, T_QINV = (
    0x420052, 0x42006C, 0x420063, 0x42005E, 0x420071, 0x420060, 0x420061, 0x420027)
T_CURVE, T_D, T_Q_STRING = 0x420075, 0x42002E, 0x420072
OP_REGISTER, OP_GET = 0x03, 0x0A


def big(tag, v):
    n = (v.bit_length() // 8 + 1 + 7) // 8 * 8
    return rl.item(tag, 4, v.to_bytes(n, "big"))


def key_req(obj_type, obj_tag, fmt, material_item, alg=None):
    kb = [rl.E(T_KEY_FORMAT, fmt), rl.S(T_KEY_VALUE, material_item)]
    if alg is not None:
        kb.append(rl.E(T_ALG, alg))
    return rl.request([(OP_REGISTER, [rl.E(T_OBJECT_TYPE, obj_type), rl.S(T_TEMPLATE),
                                      rl.S(obj_tag, rl.S(T_KEY_BLOCK, *kb))])])


def get_req(uid, fmt=None):
    kids = [rl.Tx(T["UNIQUE_IDENTIFIER"], uid)]
    if fmt is not None:
        kids.append(rl.E(T_KEY_FORMAT, fmt))
    return rl.request([(OP_GET, kids)])


def digest_kft(c, uid):
    """(Digest Value, Key Format Type) of uid's Digest, None where absent (1.4 request)."""
    r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], uid),
                                   rl.Tx(T["ATTRIBUTE_NAME"], "Digest")])]))
    dg = r.first()[3].find(0x420035) if r.ok else None
    kf = r.first()[3].find(T_KEY_FORMAT) if r.ok else None
    return (dg.value if dg is not None else None, kf.value if kf is not None else None)


def refused(c, req, reason):
    r = c.call(req)
    st, rr, rm, _, _ = r.first()
    return st == rl.ST_OPERATION_FAILED and rr == reason, r.describe()


R_KFTNS = 0x10
with inst.client() as c:
    ok, d = refused(c, key_req(4, T_PRIVATE_KEY, 3, rl.B(T_KEY_MATERIAL, b"\x30\x03\x02\x01\x00")),
                    rl.R_INVALID_FIELD)
    check("register a private key whose PKCS#1 DER does not parse: Invalid Field", ok, d)
    ok, d = refused(c, key_req(4, T_PRIVATE_KEY, 3, rl.B(T_KEY_MATERIAL, rsa_pkcs1 + b"\0")),
                    rl.R_INVALID_FIELD)
    check("register a private key with bytes after the DER: Invalid Field", ok, d)
    ok, d = refused(c, key_req(4, T_PRIVATE_KEY, 1, rl.B(T_KEY_MATERIAL, rsa_pkcs1)), R_KFTNS)
    check("register a private key as Raw: Key Format Type Not Supported", ok, d)
    ok, d = refused(c, key_req(4, T_PRIVATE_KEY, 3, rl.B(T_KEY_MATERIAL, rsa_pkcs1), alg=3),
                    rl.R_INVALID_FIELD)
    check("register an RSA key labelled AES: Invalid Field", ok, d)
    ok, d = refused(c, rl.request([(OP_REGISTER, [rl.E(T_OBJECT_TYPE, 1), rl.S(T_TEMPLATE),
                                                  rl.S(T_CERTIFICATE, rl.E(T_CERT_TYPE, 1),
                                                       rl.B(T_CERT_VALUE, cert_der[:-10]))])]),
                    rl.R_INVALID_FIELD)
    check("register a truncated certificate: Invalid Field", ok, d)
    # Transparent RSA Private Key
    u = uids.get("rsa private")
    if u:
        r = c.call(get_req(u, 0x0A))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        nums = rsa_key.private_numbers()
        want = {T_MODULUS: nums.public_numbers.n, T_PUB_EXP: nums.public_numbers.e, T_PRIV_EXP: nums.d,
                T_P: nums.p, T_Q: nums.q, T_DP: nums.dmp1, T_DQ: nums.dmq1, T_QINV: nums.iqmp}
        got = {}
        if km is not None and km.typ == 1:
            for ch in km.value:
                got[ch.tag] = int.from_bytes(ch.value, "big")
        check("get as Transparent RSA Private Key: the 8 values of the key", got == want,
              r.describe())
        ok, d = refused(c, get_req(u, 0x0B), R_KFTNS)
        check("get a private key as Transparent RSA Public Key: Key Format Type Not Supported", ok, d)
    u = uids.get("certificate")
    if u:
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], u)] + [
            rl.Tx(T["ATTRIBUTE_NAME"], n) for n in (
                "Digital Signature Algorithm", "X.509 Certificate Subject",
                "X.509 Certificate Identifier", "X.509 Certificate Issuer", "Digest")])]))
        got = {}
        if r.ok:
            for a in r.first()[3].children(T["ATTRIBUTE"]):
                got[a.find(T["ATTRIBUTE_NAME"]).value] = a.find(T["ATTRIBUTE_VALUE"])
        dsa = got.get("Digital Signature Algorithm")
        check("Digital Signature Algorithm: ECDSA with SHA-256 (0x0E)",
              dsa is not None and dsa.value == 0x0E, r.describe())
        subj = got.get("X.509 Certificate Subject")
        sdn = subj.find(0x4200B4) if subj is not None else None
        check("X.509 Certificate Subject: the subject's DER",
              sdn is not None and sdn.value == name.public_bytes(), repr(got.keys()))
        ident = got.get("X.509 Certificate Identifier")
        sn = ident.find(0x4200AF) if ident is not None else None
        check("X.509 Certificate Identifier: serial number 0x1234567",
              sn is not None and int.from_bytes(sn.value, "big") == 0x1234567)
        check("X.509 Certificate Issuer present", "X.509 Certificate Issuer" in got)
        dg = got.get("Digest")
        dv = dg.find(0x420035) if dg is not None else None
        check("Digest: SHA-256 of the certificate's DER",
              dv is not None and dv.value == hashlib.sha256(cert_der).digest())
        ok, d = refused(c, get_req(u, 0x04), R_KFTNS)
        check("get a certificate with a Key Format Type: Key Format Type Not Supported", ok, d)
    # 1.4 section 3.17: "For objects registered by a client, the server SHALL compute the
    # digest [...] using the Key Format Type of the registered object": the RSA key was
    # registered as PKCS#1, so its Digest is of that PKCS#1 DER
    u = uids.get("rsa private")
    if u:
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], u), rl.Tx(T["ATTRIBUTE_NAME"], "Digest")])]))
        dg = r.first()[3].find(0x420035) if r.ok else None
        kf = r.first()[3].find(T_KEY_FORMAT) if r.ok else None
        check("RSA private key Digest: SHA-256 of the PKCS#1 DER, Key Format Type PKCS#1",
              dg is not None and dg.value == hashlib.sha256(rsa_pkcs1).digest() and
              kf is not None and kf.value == 3, r.describe())
    # the EC key was registered as PKCS#8: its Digest is of that DER, named as such; Secret
    # Data gets none (a digest of a password would allow an offline guess)
    u = uids.get("ec private")
    if u:
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], u), rl.Tx(T["ATTRIBUTE_NAME"], "Digest")])]))
        dg = r.first()[3].find(0x420035) if r.ok else None
        kf = r.first()[3].find(T_KEY_FORMAT) if r.ok else None
        check("EC private key Digest: SHA-256 of the PKCS#8 DER, Key Format Type PKCS#8",
              dg is not None and dg.value == hashlib.sha256(ec_pkcs8).digest() and
              kf is not None and kf.value == 4, r.describe())
    u = uids.get("public")
    if u:
        check("RSA public key registered as X.509: Digest of the SubjectPublicKeyInfo, X.509",
              digest_kft(c, u) == (hashlib.sha256(rsa_spki).digest(), 5), repr(digest_kft(c, u)))
    # a Transparent Symmetric Key: the Digest of the TTLV Key Material { Key } structure
    sym_mat = rl.S(T_KEY_MATERIAL, rl.B(0x42003F, bytes(range(16))))
    r = c.call(key_req(2, 0x42008F, 0x07, sym_mat, alg=3))
    su = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("register an AES key as Transparent Symmetric Key", su is not None, r.describe())
    if su:
        check("... its Digest: SHA-256 of the TTLV Key Material, Transparent Symmetric Key",
              digest_kft(c, su) == (hashlib.sha256(sym_mat).digest(), 0x07), repr(digest_kft(c, su)))
    u = uids.get("secret")
    if u:
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], u), rl.Tx(T["ATTRIBUTE_NAME"], "Digest")])]))
        check("secret data has no Digest", r.ok and r.first()[3].find(0x420035) is None, r.describe())
    # RSA-4096 as PKCS#8: the largest key the store takes
    big_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    big8 = big_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, NOENC)
    r = c.call(key_req(4, T_PRIVATE_KEY, 4, rl.B(T_KEY_MATERIAL, big8)))
    bu = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("register an RSA-4096 private key (%d bytes of PKCS#8)" % len(big8), bu is not None, r.describe())
    if bu:
        r = c.call(get_req(bu))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        check("... and get it back whole", km is not None and km.value == big8, r.describe())
        r = c.call(get_req(bu, 0x0A))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        mod = km.find(T_MODULUS) if km is not None else None
        check("... and as Transparent RSA Private Key (4096-bit modulus)",
              mod is not None and int.from_bytes(mod.value, "big") == big_key.private_numbers().public_numbers.n,
              r.describe())
    # KMIP 2.0: Register with Attributes, the Key Format Type attribute in Get Attributes
    T_ATTRIBUTES, T_ATTR_REF = 0x420125, 0x42013B
    r = c.call(rl.request([(OP_REGISTER, [rl.E(T_OBJECT_TYPE, 3), rl.S(T_ATTRIBUTES),
                                          rl.S(T_PUBLIC_KEY, rl.S(T_KEY_BLOCK, rl.E(T_KEY_FORMAT, 3),
                                                                  rl.S(T_KEY_VALUE, rl.B(T_KEY_MATERIAL, rsa_pub_pkcs1))))])],
                          major=2, minor=0))
    pu = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("2.0: register an RSA public key as PKCS#1", pu is not None, r.describe())
    if pu:
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], pu),
                                       rl.E(T_ATTR_REF, T_KEY_FORMAT)])], major=2, minor=0))
        kf = r.first()[3].find(T_KEY_FORMAT) if r.ok else None
        check("2.0: Get Attributes shows Key Format Type PKCS#1", kf is not None and kf.value == 3, r.describe())
        r = c.call(rl.request([(OP_GET, [rl.Tx(T["UNIQUE_IDENTIFIER"], pu), rl.E(T_KEY_FORMAT, 5)])],
                              major=2, minor=0))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        check("2.0: get it as X.509", km is not None and km.value == rsa_spki, r.describe())
    # register Transparent RSA Private and EC Public keys, get them as PKCS#8 / X.509
    nums = rsa_key.private_numbers()
    mat = rl.S(T_KEY_MATERIAL, big(T_MODULUS, nums.public_numbers.n), big(T_PRIV_EXP, nums.d),
               big(T_PUB_EXP, nums.public_numbers.e), big(T_P, nums.p), big(T_Q, nums.q),
               big(T_DP, nums.dmp1), big(T_DQ, nums.dmq1), big(T_QINV, nums.iqmp))
    r = c.call(key_req(4, T_PRIVATE_KEY, 0x0A, mat, alg=4))
    tu = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("register a Transparent RSA Private Key", tu is not None, r.describe())
    if tu:
        r = c.call(get_req(tu, 0x04))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        check("... and get it as PKCS#8: cryptography's DER", km is not None and km.value == rsa_pkcs8,
              r.describe())
        check("... its Digest: SHA-256 of the TTLV Key Material structure, Key Format Type "
              "Transparent RSA Private Key (1.4 3.17)",
              digest_kft(c, tu) == (hashlib.sha256(mat).digest(), 0x0A), repr(digest_kft(c, tu)))
        secret_keys = [("transparent", rsa_pkcs8)]
    pub = ec_key.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    ec_mat = rl.S(T_KEY_MATERIAL, rl.E(T_CURVE, 7), rl.B(T_Q_STRING, pub))
    r = c.call(key_req(3, T_PUBLIC_KEY, 0x15, ec_mat, alg=0x1A))
    eu = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("register a Transparent EC Public Key (P-256)", eu is not None, r.describe())
    if eu:
        check("... its Digest: SHA-256 of the TTLV Key Material, Transparent EC Public Key",
              digest_kft(c, eu) == (hashlib.sha256(ec_mat).digest(), 0x15), repr(digest_kft(c, eu)))
    if eu:
        r = c.call(get_req(eu, 0x05))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        want = ec_key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        check("... and get it as X.509: cryptography's SubjectPublicKeyInfo",
              km is not None and km.value == want, r.describe())
    bad_pt = b"\x04" + b"\x01" * 64
    ok, d = refused(c, key_req(3, T_PUBLIC_KEY, 0x15, rl.S(T_KEY_MATERIAL, rl.E(T_CURVE, 7),
                                                           rl.B(T_Q_STRING, bad_pt))),
                    rl.R_INVALID_FIELD)
    check("register an EC point not on the curve: Invalid Field", ok, d)

# ---- Locate: Unique Identifier, a structure attribute, Triple DES ----------------------------
OP_LOCATE, OP_CREATE = 0x08, 0x01
T_ASI, T_NS, T_AD = 0x420004, 0x420003, 0x420002
with inst.client() as c:
    asi = rl.S(rl.TAG["ATTRIBUTE_VALUE"], rl.Tx(T_NS, "ssl"), rl.Tx(T_AD, "www.example.com"))
    asi_attr = rl.S(rl.TAG["ATTRIBUTE"], rl.Tx(rl.TAG["ATTRIBUTE_NAME"], "Application Specific Information"), asi)
    r = c.call(rl.request([(OP_REGISTER, [rl.E(T_OBJECT_TYPE, 7), rl.S(T_TEMPLATE, asi_attr),
                                          rl.S(0x420085, rl.E(0x420086, 2),
                                               rl.S(T_KEY_BLOCK, rl.E(T_KEY_FORMAT, 2),
                                                    rl.S(T_KEY_VALUE, rl.B(T_KEY_MATERIAL, b"asi-secret-0123"))))])]))
    au = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("register secret data with Application Specific Information", au is not None, r.describe())

    def located(*attrs):
        r = c.call(rl.request([(OP_LOCATE, list(attrs))]))
        return [n.value for n in r.first()[3].children(T["UNIQUE_IDENTIFIER"])] if r.ok else r.describe()

    check("locate by Application Specific Information finds it", located(asi_attr) == [au])
    other = rl.S(rl.TAG["ATTRIBUTE"], rl.Tx(rl.TAG["ATTRIBUTE_NAME"], "Application Specific Information"),
                 rl.S(rl.TAG["ATTRIBUTE_VALUE"], rl.Tx(T_NS, "ssl"), rl.Tx(T_AD, "other.example.com")))
    check("locate by another Application Specific Information finds nothing", located(other) == [])
    check("locate by Unique Identifier finds it", located(rl.attr("Unique Identifier", rl.Tx, au)) == [au])
    r = c.call(rl.request([(OP_CREATE, [rl.E(T_OBJECT_TYPE, 2), rl.S(T_TEMPLATE,
                                        rl.attr("Cryptographic Algorithm", rl.E, 2),
                                        rl.attr("Cryptographic Length", rl.I, 168))])]))
    du = r.first()[3].find(T["UNIQUE_IDENTIFIER"]).value if r.ok else None
    check("create a Triple DES 168-bit key", du is not None, r.describe())
    if du:
        r = c.call(get_req(du))
        km = r.first()[3].find(T_KEY_MATERIAL) if r.ok else None
        check("... Get answers 24 bytes", km is not None and len(km.value) == 24, r.describe())
        r = c.call(rl.request([(0x0B, [rl.Tx(T["UNIQUE_IDENTIFIER"], du), rl.Tx(T["ATTRIBUTE_NAME"], "Digest")])]))
        dg = r.first()[3].find(0x420035) if r.ok else None
        kf = r.first()[3].find(T_KEY_FORMAT) if r.ok else None
        check("... its Digest (computed by the HSM at Create) is the SHA-256 of those bytes, Raw",
              km is not None and dg is not None and dg.value == hashlib.sha256(km.value).digest() and
              kf is not None and kf.value == 1, r.describe())
    c.destroy(au)
    check("a destroyed object is not located by its Unique Identifier",
          located(rl.attr("Unique Identifier", rl.Tx, au)) == [])
    check("... unless the State asks for Destroyed",
          located(rl.attr("Unique Identifier", rl.Tx, au), rl.attr("State", rl.E, 5)) == [au])

# ---- Destroy -------------------------------------------------------------------------------
with client("qa") as c:
    for label, u in sorted(uids.items()):
        if u:
            step("destroy the %s" % label, lambda: c.destroy(u))
    found = step("locate private keys after destroy", lambda: c.locate(attributes=[
        af.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.PRIVATE_KEY),
        af.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE)]))
    check("no Active private key is left", found == [], repr(found))

# ---- secrets scan --------------------------------------------------------------------------
rsa_d = rsa_key.private_numbers().d.to_bytes(256, "big")
ec_d = ec_key.private_numbers().private_value.to_bytes(32, "big")
PATTERNS = [("RSA PKCS#1", rsa_pkcs1), ("RSA PKCS#8", rsa_pkcs8), ("RSA d (first 64 bytes)", rsa_d[:64]),
            ("RSA d hex", rsa_d[:64].hex().encode()), ("EC PKCS#8", ec_pkcs8), ("EC SEC1", ec_sec1),
            ("EC d", ec_d), ("EC d hex", ec_d.hex().encode()), ("secret data", secret),
            ("secret hex", secret.hex().encode()), ("split key part", split_part)]


def scan(blob, where):
    return ["%s in %s" % (what, where) for what, p in PATTERNS if p in blob]


hits, nfiles = [], 0
for phase in ("running", "stopped"):
    if phase == "stopped":
        rc = inst.stop()
        check("coffred stops cleanly (rc=%s)" % rc, rc == 0, rl.sanitizer_digest(inst))
    for d, _, files in os.walk(inst.tmp):
        for fn in files:
            p = os.path.join(d, fn)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    hits += scan(f.read(), os.path.relpath(p, inst.tmp))
                nfiles += 1
    db = os.path.join(inst.dir, "data", "store.db")
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        dump = "\n".join(con.iterdump()).encode()
        rows = b""
        for (tb,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute('SELECT * FROM "%s"' % tb.replace('"', '""')):
                rows += b"\n".join(v if isinstance(v, bytes) else str(v).encode()
                                   for v in row if v is not None)
        hits += scan(dump, "store dump") + scan(rows, "store rows")
    finally:
        con.close()
check("no private key, secret data or split key part in plaintext in %d files, the store's rows, "
      "or coffred's output" % nfiles, not hits, "; ".join(hits[:6]))
ctl = scan(b"x" + rsa_pkcs8 + b"y", "control")
check("the scanner finds a planted private key (positive control)", len(ctl) >= 1)
t.done()
