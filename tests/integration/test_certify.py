"""Certify, Re-certify and the PGP Key object type, end to end (docs/kmip-server.md
"Certify and Re-certify", docs/security.md "Certify").

usage: test_certify.py BUILD_DIR
- Certify of a PKCS#10 request made by `openssl req` (DER, Certificate Request Type PKCS#10,
  KMIP 1.4; and PEM, KMIP 2.0): the certificate Get returns verifies with `openssl verify`
  against the Certify CA's certificate (a managed Certificate object, reached by the issued
  certificate's Certificate Link) and not against the appliance CA; it carries the request's
  subject and public key.
- Certify of a Public Key made by Create Key Pair (PyKMIP), subject from the template's
  Certificate Subject: Public Key Link / Certificate Link both ways; Re-certify of it: the
  Replaced / Replacement links, the Name moved, the public key's Certificate Link moved.
- Refusals: an altered request (bad signature), RSA-1024 and P-521 keys, an unknown UID, a
  Symmetric Key to Certify, a Public Key to Re-certify, garbage, an unsupported request type.
- A certificate issued by Certify (its key made by openssl) cannot open a KMIP TLS session:
  the listener trusts the client CA only.
- Tenants and roles: another tenant gets Item Not Found for our key and certificate and has a
  Certify CA certificate object of its own (same issuing key); a readonly client may not Certify.
- PGP Key: Register / Get / Get Attributes / Locate / Destroy round trip, Query Objects.
- PyKMIP (the independent client) reads the issued certificate with Get."""
import calendar
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
from robust_lib import B, E, I, S, Tx  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

OP_CREATE_KP, OP_CERTIFY, OP_RECERTIFY, OP_LOCATE = 0x02, 0x06, 0x07, 0x08
OP_GET_ATTRS, OP_QUERY = 0x0B, 0x18
T = dict(UID=0x420094, CERT=0x420013, CERT_VALUE=0x42001E, CREQ=0x420018, CREQ_TYPE=0x420019,
         CREQ_VALUE=0x420140, LINK=0x42004A, LINK_TYPE=0x42004B, LINKED=0x42004C,
         NAME=0x420053, NAME_VALUE=0x420055, NAME_TYPE=0x420054, OBJ_TYPE=0x420057,
         QUERY_FN=0x420074, OPERATION=0x42005C, PGP=0x4200BD, PGP_VER=0x4200BE,
         ATTRS=0x420125, CERT_SUBJECT=0x42001A, CERT_SUBJECT_DN=0x42001C, OFFSET=0x420058,
         ATTR_VALUE=0x42000B, STATE=0x42008D)
LT_CERT, LT_PUB, LT_REPLACEMENT, LT_REPLACED = 0x101, 0x102, 0x106, 0x107
R_FEATURE = 8

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=3, name="certify")
# qa2: another tenant; qa3: a readonly client of qa's tenant
inst.client_readonly("qa3", "qa")
inst.start()
pki = os.path.join(inst.dir, "pki")
work = os.path.join(inst.tmp, "work")
os.makedirs(work)


def call(items, major=1, minor=4, who="qa"):
    with inst.client(who) as c:
        return c.call(rl.request(items, major=major, minor=minor))


def openssl(*args, **kw):
    return subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60, **kw)


def make_csr(name, keyopts, subj):
    """openssl req: a new key (keyopts) and its PKCS#10 request -> (DER bytes, PEM bytes)."""
    key, pem = os.path.join(work, name + ".key"), os.path.join(work, name + ".csr")
    r = openssl("req", "-new", "-newkey", *keyopts, "-nodes", "-keyout", key, "-subj", subj,
                "-out", pem)
    if r.returncode != 0:
        raise RuntimeError(r.stdout.decode())
    der = openssl("req", "-in", pem, "-outform", "DER").stdout
    with open(pem, "rb") as f:
        return der, f.read()


def certify_req(der=None, rtype=2, uid=None, tmpl=None, v2=False, op=OP_CERTIFY, offset=None):
    kids = []
    if uid is not None:
        kids.append(Tx(T["UID"], uid))
    if der is not None:
        kids.append(E(T["CREQ_TYPE"], rtype))
        kids.append(B(T["CREQ_VALUE"] if v2 else T["CREQ"], der))
    if offset is not None:
        kids.append(rl.item(T["OFFSET"], rl.T_INTERVAL, struct.pack(">I", offset)))
    if tmpl:
        kids.append(S(T["ATTRS"], *tmpl) if v2 else S(rl.TAG["TEMPLATE_ATTRIBUTE"], *tmpl))
    return (op, kids)


def uid_of(r):
    p = r.first()[3]
    n = p.find(T["UID"]) if p is not None else None
    return n.value if n is not None else None


def get_cert(uid):
    return get_cert_as(uid, "qa")


def get_cert_as(uid, who):
    """Get -> the Certificate Value (DER), None on failure."""
    r = call([(rl.OP_GET, [Tx(T["UID"], uid)])], who=who)
    if not r.ok:
        return None
    n = r.first()[3].find(T["CERT_VALUE"])
    return n.value if n is not None else None


def links(uid, who="qa"):
    """[(Link Type, Linked Object Identifier)] of uid."""
    r = call([(OP_GET_ATTRS, [Tx(T["UID"], uid), Tx(rl.TAG["ATTRIBUTE_NAME"], "Link")])],
             who=who)
    out = []
    if r.ok:
        for a in r.first()[3].children(rl.TAG["ATTRIBUTE"]):
            v = a.find(rl.TAG["ATTRIBUTE_VALUE"])
            out.append((v.find(T["LINK_TYPE"]).value, v.find(T["LINKED"]).value))
    return out


def link_to(uid, ltype):
    return link_to_as(uid, ltype, "qa")


def link_to_as(uid, ltype, who):
    ls = [to for (lt, to) in links(uid, who) if lt == ltype]
    return ls[0] if len(ls) == 1 else None


def pem_file(name, der):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return path


def date_item(tag, v):
    return rl.item(tag, rl.T_DATE, struct.pack(">q", v))


def state_of(uid):
    r = call([(OP_GET_ATTRS, [Tx(T["UID"], uid), Tx(rl.TAG["ATTRIBUTE_NAME"], "State")])])
    v = r.first()[3].find(rl.TAG["ATTRIBUTE_VALUE"]) if r.ok else None
    return v.value if v is not None else None


def refused(desc, r, reason, msg_part=None):
    st, rr, rm = r.first()[:3]
    ok = st == rl.ST_OPERATION_FAILED and rr == reason and (msg_part is None or
                                                            (rm and msg_part in rm))
    t.check("%s: refused with %s" % (desc, rl.REASON.get(reason, reason)), ok, r.describe())


# ---- Query ---------------------------------------------------------------------------------
r = call([(OP_QUERY, [E(T["QUERY_FN"], 1), E(T["QUERY_FN"], 2)])])
ops = [n.value for n in r.first()[3].children(T["OPERATION"])] if r.ok else []
types = [n.value for n in r.first()[3].children(T["OBJ_TYPE"])] if r.ok else []
t.check("Query Operations lists Certify and Re-certify", OP_CERTIFY in ops and OP_RECERTIFY in ops,
        str(ops))
t.check("Query Objects lists PGP Key", 9 in types, str(types))

# ---- Certify of a PKCS#10 request (DER, 1.4) -----------------------------------------------
subj = "/CN=certify-test.example/O=Coffre QA/C=FR"
der, pem = make_csr("ec256", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], subj)
r = call([certify_req(der)])
t.check("Certify of an openssl PKCS#10 request (DER): Success", r.ok, r.describe())
cert_uid = uid_of(r)
cert_der = get_cert(cert_uid) if cert_uid else None
t.check("Get returns the issued certificate", cert_der is not None)
ca_uid = link_to(cert_uid, LT_CERT) if cert_uid else None
t.check("the certificate links to its issuer (Certificate Link)", ca_uid is not None,
        str(links(cert_uid) if cert_uid else None))
ca_der = get_cert(ca_uid) if ca_uid else None
t.check("the Certify CA certificate is a managed Certificate object (Get)", ca_der is not None)
if cert_der and ca_der:
    cert_pem, ca_pem = pem_file("issued.pem", cert_der), pem_file("certify-ca.pem", ca_der)
    v = openssl("verify", "-CAfile", ca_pem, cert_pem)
    t.check("openssl verify: the certificate verifies against the Certify CA", v.returncode == 0,
            v.stdout.decode())
    v = openssl("verify", "-CAfile", os.path.join(pki, "ca.crt"), cert_pem)
    t.check("openssl verify: it does NOT verify against the appliance (client) CA",
            v.returncode != 0, v.stdout.decode())
    c = x509.load_der_x509_certificate(cert_der)
    req = x509.load_der_x509_csr(der)
    t.check("the certificate carries the request's subject",
            c.subject == req.subject, "%s vs %s" % (c.subject.rfc4514_string(),
                                                    req.subject.rfc4514_string()))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    t.check("the certificate carries the request's public key",
            c.public_key().public_bytes(serialization.Encoding.DER, spki) ==
            req.public_key().public_bytes(serialization.Encoding.DER, spki))
    ca = x509.load_der_x509_certificate(ca_der)
    app_ca = x509.load_pem_x509_certificate(open(os.path.join(pki, "ca.crt"), "rb").read())
    t.check("the Certify CA is not the appliance CA (another key, another name)",
            ca.subject != app_ca.subject and
            ca.public_key().public_bytes(serialization.Encoding.DER, spki) !=
            app_ca.public_key().public_bytes(serialization.Encoding.DER, spki))
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints).value
    t.check("the issued certificate is not a CA", not bc.ca)
    span = c.not_valid_after - c.not_valid_before
    t.check("default validity: 365 days", span.total_seconds() == 365 * 86400, str(span))
    t.check("without an Activation Date the certificate is Pre-Active (as Register)",
            state_of(cert_uid) == 1, str(state_of(cert_uid)))

# validity and state from the template's dates
now = int(time.time())
act, deact = now - 60, now + 30 * 86400
dder, _ = make_csr("dated", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "/CN=dated")
r = call([certify_req(dder, tmpl=[rl.attr("Activation Date", date_item, act),
                                  rl.attr("Deactivation Date", date_item, deact)])])
t.check("Certify with Activation / Deactivation Date: Success", r.ok, r.describe())
du = uid_of(r)
if du:
    dc = x509.load_der_x509_certificate(get_cert(du))
    t.check("the X.509 validity is the template's dates",
            calendar.timegm(dc.not_valid_before.utctimetuple()) == act and
            calendar.timegm(dc.not_valid_after.utctimetuple()) == deact,
            "%s %s" % (dc.not_valid_before, dc.not_valid_after))
    t.check("an Activation Date <= now makes it Active", state_of(du) == 2, str(state_of(du)))

# a second Certify reuses the same CA certificate object
der2, pem2 = make_csr("ec384", ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "/CN=second")
r = call([certify_req(pem2, rtype=3, v2=True)], major=2, minor=0)
t.check("Certify of a PEM request (Certificate Request Type PEM, KMIP 2.0): Success", r.ok,
        r.describe())
u2 = uid_of(r)
t.check("the second certificate has the same issuer object", u2 is not None and
        link_to(u2, LT_CERT) == ca_uid)

# RSA-2048 and RSA-4096 accepted
for bits in (2048, 4096):
    d, _ = make_csr("rsa%d" % bits, ["rsa:%d" % bits], "/CN=rsa%d" % bits)
    r = call([certify_req(d)])
    t.check("Certify of an RSA-%d request: Success" % bits, r.ok, r.describe())

# ---- refusals ------------------------------------------------------------------------------
bad = bytearray(der)
bad[-3] ^= 0x01  # inside the signature
refused("an altered request (signature does not verify)", call([certify_req(bytes(bad))]),
        rl.R_INVALID_FIELD, "signature")
d, _ = make_csr("rsa1024", ["rsa:1024"], "/CN=weak")
refused("an RSA-1024 request", call([certify_req(d)]), rl.R_PERMISSION_DENIED, "2048")
d, _ = make_csr("p521", ["ec", "-pkeyopt", "ec_paramgen_curve:P-521"], "/CN=p521")
refused("a P-521 request", call([certify_req(d)]), rl.R_PERMISSION_DENIED, "P-256")
refused("garbage as a PKCS#10 request", call([certify_req(b"\x30\x03\x02\x01\x00")]),
        rl.R_INVALID_FIELD)
refused("a PEM request sent as PKCS#10 DER", call([certify_req(pem)]), rl.R_INVALID_FIELD)
refused("a CRMF request", call([certify_req(der, rtype=1)]), R_FEATURE)
refused("Certify of an unknown UID", call([certify_req(uid="no-such-object")]),
        rl.R_ITEM_NOT_FOUND)
r = call([(rl.OP_CREATE, [E(rl.TAG["OBJECT_TYPE"], 2),
                          S(rl.TAG["TEMPLATE_ATTRIBUTE"],
                            rl.attr("Cryptographic Algorithm", E, 3),
                            rl.attr("Cryptographic Length", I, 256),
                            rl.attr("Cryptographic Usage Mask", I, 12))])])
sym = uid_of(r)
refused("Certify of a Symmetric Key", call([certify_req(uid=sym)]), rl.R_PERMISSION_DENIED)
r = call([certify_req(uid=sym)], major=2, minor=0)
refused("Certify of a Symmetric Key (2.0)", r, 0x30)

# ---- Certify of a Public Key, Re-certify ---------------------------------------------------
from kmip import enums  # noqa: E402
from kmip.core import misc  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402


def pyclient():
    return ProxyKmipClient(hostname="127.0.0.1", port=inst.port, cert="%s/qa.crt" % pki,
                           key="%s/qa.key" % pki, ca="%s/ca.crt" % pki, config_file="/dev/null")


with pyclient() as pc:
    pub, priv = pc.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048)
    if cert_uid:
        got = pc.get(cert_uid)
        t.check("PyKMIP Get of the issued certificate: an X.509 certificate, same bytes",
                got.value == cert_der and got.certificate_type == enums.CertificateType.X_509)
refused("Re-certify of a Public Key", call([certify_req(uid=pub, op=OP_RECERTIFY)]),
        rl.R_PERMISSION_DENIED)
refused("Certify of a Public Key without a subject", call([certify_req(uid=pub)]),
        rl.R_INVALID_FIELD, "Subject")
subject_attr = rl.attr("Certificate Subject", lambda tag, v: S(tag, Tx(T["CERT_SUBJECT_DN"], v)),
                       "CN=pubkey-test, O=Coffre QA")
name_attr = rl.attr("Name", lambda tag, v: S(tag, Tx(T["NAME_VALUE"], v), E(T["NAME_TYPE"], 1)),
                    "certify-named-cert")
r = call([certify_req(uid=pub, tmpl=[subject_attr, name_attr])])
t.check("Certify of a Public Key (Create Key Pair), subject from Certificate Subject: Success",
        r.ok, r.describe())
c1 = uid_of(r)
if c1:
    t.check("the certificate has a Public Key Link to the key", link_to(c1, LT_PUB) == pub,
            str(links(c1)))
    t.check("the key has a Certificate Link to the certificate", link_to(pub, LT_CERT) == c1,
            str(links(pub)))
    c1_der = get_cert(c1)
    with pyclient() as pc:
        g = pc.proxy.get(pub, key_format_type=misc.KeyFormatType(enums.KeyFormatType.X_509))
        spki_pub = g.secret.key_block.key_value.key_material.value
    cx = x509.load_der_x509_certificate(c1_der)
    t.check("the certificate's key is the Public Key's",
            cx.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
            == spki_pub)
    t.check("the certificate's subject is the template's",
            cx.subject.rfc4514_string() == "O=Coffre QA,CN=pubkey-test", cx.subject.rfc4514_string())
    v = openssl("verify", "-CAfile", pem_file("ca2.pem", ca_der), pem_file("c1.pem", c1_der))
    t.check("openssl verify: the Public Key's certificate verifies", v.returncode == 0,
            v.stdout.decode())

    # Re-certify
    r = call([certify_req(uid=c1, op=OP_RECERTIFY, offset=0)])
    t.check("Re-certify: Success", r.ok, r.describe())
    c2 = uid_of(r)
    if c2:
        t.check("Re-certify: a new certificate", c2 != c1)
        t.check("Re-certify: old -> new Replacement Object Link", link_to(c1, LT_REPLACEMENT) == c2,
                str(links(c1)))
        t.check("Re-certify: new -> old Replaced Object Link", link_to(c2, LT_REPLACED) == c1,
                str(links(c2)))
        t.check("Re-certify: the new one links to the Public Key", link_to(c2, LT_PUB) == pub)
        t.check("Re-certify: the key's Certificate Link now names the new certificate",
                link_to(pub, LT_CERT) == c2, str(links(pub)))
        c2_der = get_cert(c2)
        nx = x509.load_der_x509_certificate(c2_der)
        t.check("Re-certify with Offset 0: Activation Date now, the new certificate Active",
                state_of(c2) == 2, str(state_of(c2)))
        t.check("Re-certify: the existing certificate's state is unchanged (Pre-Active)",
                state_of(c1) == 1, str(state_of(c1)))
        t.check("Re-certify: validity as long as the existing certificate's",
                (nx_span := (x509.load_der_x509_certificate(get_cert(c2)).not_valid_after -
                             x509.load_der_x509_certificate(get_cert(c2)).not_valid_before))
                == cx.not_valid_after - cx.not_valid_before, str(nx_span))
        t.check("Re-certify: same subject and key, another serial",
                nx.subject == cx.subject and nx.serial_number != cx.serial_number and
                nx.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
                == spki_pub)
        r = call([(OP_LOCATE, [rl.attr("Name", lambda tag, v: S(tag, Tx(T["NAME_VALUE"], v),
                                                                  E(T["NAME_TYPE"], 1)),
                                        "certify-named-cert")])])
        found = [n.value for n in r.first()[3].children(T["UID"])] if r.ok else []
        t.check("Re-certify: the Name moved to the new certificate", found == [c2], str(found))
        # Re-certify with the request of another key is refused
        refused("Re-certify with a request for another key",
                call([certify_req(der, uid=c2, op=OP_RECERTIFY)]), rl.R_INVALID_FIELD)

# ---- tenants and roles --------------------------------------------------------------------
refused("another tenant's Certify of our Public Key", call([certify_req(uid=pub, tmpl=[subject_attr])],
                                                         who="qa2"), rl.R_ITEM_NOT_FOUND)
if c1:
    refused("another tenant's Re-certify of our certificate",
            call([certify_req(uid=c1, op=OP_RECERTIFY)], who="qa2"), rl.R_ITEM_NOT_FOUND)
refused("the readonly role's Certify", call([certify_req(der)], who="qa3"),
        rl.R_PERMISSION_DENIED)
r = call([certify_req(der2)], who="qa2")
t.check("another tenant's own Certify: Success", r.ok, r.describe())
o2 = uid_of(r)
if o2 and ca_der:
    ca2 = link_to_as(o2, LT_CERT, "qa2")
    t.check("each tenant has its own Certify CA certificate object", ca2 is not None and
            ca2 != ca_uid, str(ca2))
    v = openssl("verify", "-CAfile", pem_file("ca-t1.pem", ca_der),
                pem_file("t2.pem", get_cert_as(o2, "qa2")))
    t.check("one issuing key: the other tenant's certificate verifies with our CA certificate",
            v.returncode == 0, v.stdout.decode())

# ---- a Certify certificate cannot log in over KMIP mutual TLS --------------------------------
d, _ = make_csr("tlsclient", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "/CN=qa")
r = call([certify_req(d)])
tls_uid = uid_of(r)
if tls_uid:
    cdr = get_cert(tls_uid)
    with open(os.path.join(pki, "minted.crt"), "wb") as f:
        f.write(x509.load_der_x509_certificate(cdr).public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(work, "tlsclient.key"), "rb") as src, \
            open(os.path.join(pki, "minted.key"), "wb") as dst:
        dst.write(src.read())
    outcome = None
    try:
        with inst.client("minted", timeout=5.0) as c:
            resp = c.call(rl.discover_versions_req())
            outcome = "answered: %s" % resp.describe()
    except Exception as e:  # noqa: BLE001
        outcome = None
        reason = rl.ssl_reason(e)
        t.ok("a certificate issued by Certify cannot open a KMIP session (%s)" %
             (reason or type(e).__name__))
    if outcome is not None:
        t.bad("a certificate issued by Certify opened a KMIP session: " + outcome)
    with inst.client() as c:
        t.check("the appliance client still works", c.call(rl.discover_versions_req()).ok)
conf = open(inst.conf).read()
trust = [l.split("=", 1)[1].strip() for l in conf.splitlines() if l.strip().startswith("ca ")
         or l.strip().startswith("ca=")]
if trust and ca_der:
    with open(trust[0] if os.path.isabs(trust[0]) else os.path.join(inst.dir, trust[0]), "rb") as f:
        text = f.read()
    ca_pem_bytes = x509.load_der_x509_certificate(ca_der).public_bytes(serialization.Encoding.PEM)
    t.check("the listener's trust store ([tls] ca) does not hold the Certify CA",
            ca_pem_bytes not in text)

# ---- PGP Key -------------------------------------------------------------------------------
armored = (b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0Coffre" + b"A" * 200 +
           b"\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n")
pgp_obj = S(T["PGP"], I(T["PGP_VER"], 4),
            S(rl.TAG["KEY_BLOCK"], E(rl.TAG["KEY_FORMAT_TYPE"], 2),
              S(rl.TAG["KEY_VALUE"], B(rl.TAG["KEY_MATERIAL"], armored))))
r = call([(rl.OP_REGISTER, [E(rl.TAG["OBJECT_TYPE"], 9), S(rl.TAG["TEMPLATE_ATTRIBUTE"], name_attr
                                                               .replace(b"certify-named-cert",
                                                                        b"pgp-key-test-name!")),
                            pgp_obj])])
t.check("Register of a PGP Key: Success", r.ok, r.describe())
pgp = uid_of(r)
if pgp:
    r = call([(rl.OP_GET, [Tx(T["UID"], pgp)])])
    p = r.first()[3] if r.ok else None
    t.check("Get of the PGP Key: Object Type PGP Key, version 4, the same bytes",
            p is not None and p.find(T["OBJ_TYPE"]).value == 9 and
            p.find(T["PGP_VER"]).value == 4 and p.find(rl.TAG["KEY_MATERIAL"]).value == armored,
            r.describe())
    r = call([(rl.OP_GET, [Tx(T["UID"], pgp)])], major=2, minor=0)
    t.check("Get of the PGP Key in 2.0", r.ok and r.first()[3].find(T["PGP_VER"]).value == 4,
            r.describe())
    r = call([(OP_GET_ATTRS, [Tx(T["UID"], pgp), Tx(rl.TAG["ATTRIBUTE_NAME"], "Object Type")])])
    ot = r.first()[3].find(rl.TAG["ATTRIBUTE_VALUE"]) if r.ok else None
    t.check("Get Attributes: Object Type PGP Key", ot is not None and ot.value == 9, r.describe())
    r = call([(OP_LOCATE, [rl.attr("Object Type", E, 9)])])
    found = [n.value for n in r.first()[3].children(T["UID"])] if r.ok else []
    t.check("Locate by Object Type PGP Key finds it", found == [pgp], str(found))
    r = call([(rl.OP_DESTROY, [Tx(T["UID"], pgp)])])
    t.check("Destroy of the PGP Key", r.ok, r.describe())
    r = call([(rl.OP_GET, [Tx(T["UID"], pgp)])])
    t.check("Get after Destroy is refused", not r.ok)
bad_pgp = S(T["PGP"], I(T["PGP_VER"], 7),
            S(rl.TAG["KEY_BLOCK"], E(rl.TAG["KEY_FORMAT_TYPE"], 2),
              S(rl.TAG["KEY_VALUE"], B(rl.TAG["KEY_MATERIAL"], armored))))
refused("Register of a PGP Key version 7",
        call([(rl.OP_REGISTER, [E(rl.TAG["OBJECT_TYPE"], 9), S(rl.TAG["TEMPLATE_ATTRIBUTE"]),
                                bad_pgp])]), rl.R_INVALID_FIELD)

errs = inst.sanitizer_errors()
t.check("no sanitizer finding in coffred's output", not errs, " | ".join(errs[:4]))
inst.stop()
t.done()
