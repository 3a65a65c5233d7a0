"""Key pairs made by Create Key Pair / Re-key Key Pair, read back with Get (end to end).

usage: test_keypair_get.py BUILD_DIR
PyKMIP's create_key_pair (RSA-2048, RSA-4096, EC P-256, EC P-384), then Get of the private key
as PKCS#8 and of the public key as X.509 (SubjectPublicKeyInfo): both parse with OpenSSL (through
python3-cryptography), the public key derived from the private one is the one served, and a
signature made with the private key verifies with the public one. A re-keyed pair is a new key.
Then the secrets scan: no private key (PKCS#8 DER, its private scalar / exponent, raw or hex) in
store.db, its WAL and shm files, or coffred's output.
The public key's Digest is checked too (the private key has none)."""
import glob
import hashlib
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
from robust_lib import S, Tx  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from kmip import enums  # noqa: E402
from kmip.core import misc  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

OP_REKEY_KEY_PAIR = 0x1D
T_PRIVATE_UID, T_PUBLIC_UID = 0x420066, 0x42006F

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, name="kpget")
inst.start()
pki = os.path.join(inst.dir, "pki")
pylog = os.path.join(inst.tmp, "pykmip.log")
logging.basicConfig(filename=pylog, level=logging.INFO)


def pyclient():
    return ProxyKmipClient(hostname="127.0.0.1", port=inst.port, cert="%s/qa.crt" % pki,
                           key="%s/qa.key" % pki, ca="%s/ca.crt" % pki, config_file="/dev/null")


def get_as(c, uid, fmt):
    """Get with a Key Format Type -> key bytes (None on failure, counted)."""
    r = c.proxy.get(uid, key_format_type=misc.KeyFormatType(fmt))
    if r.result_status.value != enums.ResultStatus.SUCCESS:
        t.bad("get %s as %s: %s %r" % (uid, fmt.name, r.result_reason.value,
                                       r.result_message.value))
        return None
    return r.secret.key_block.key_value.key_material.value


def private_numbers(k):
    """The secret values of a private key, big-endian bytes (what must never be at rest)."""
    if isinstance(k, rsa.RSAPrivateKey):
        n = k.private_numbers()
        vals = [n.d, n.p, n.q]
    else:
        vals = [k.private_numbers().private_value]
    return [v.to_bytes((v.bit_length() + 7) // 8, "big") for v in vals]


secrets = []  # (description, bytes) that must not be found at rest


def digest_of(uid):
    """The Digest Value of uid (1.4 Get Attributes over our TTLV client), None if it has none."""
    with inst.client() as tc:
        r = tc.call(rl.request([(0x0B, [Tx(rl.TAG["UNIQUE_IDENTIFIER"], uid),
                                        Tx(rl.TAG["ATTRIBUTE_NAME"], "Digest")])]))
    if not r.ok:
        return None
    v = r.first()[3].find(0x420035)
    return v.value if v is not None else None


def check_pair(c, desc, priv, pub, bits):
    der = get_as(c, priv, enums.KeyFormatType.PKCS_8)
    spki = get_as(c, pub, enums.KeyFormatType.X_509)
    if der is None or spki is None:
        return None
    try:
        k = serialization.load_der_private_key(der, password=None)
        p = serialization.load_der_public_key(spki)
    except ValueError as e:
        t.bad("%s: OpenSSL parses the PKCS#8 and the SubjectPublicKeyInfo: %s" % (desc, e))
        return None
    t.ok("%s: OpenSSL parses the PKCS#8 and the SubjectPublicKeyInfo" % desc)
    t.check("%s: %d-bit key" % (desc, bits), k.key_size == bits, str(k.key_size))
    derived = k.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    t.check("%s: the public key served is the private key's" % desc, derived == spki)
    msg = b"coffre key pair end to end"
    try:
        if isinstance(k, rsa.RSAPrivateKey):
            sig = k.sign(msg, padding.PKCS1v15(), hashes.SHA256())
            p.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
        else:
            sig = k.sign(msg, ec.ECDSA(hashes.SHA256()))
            p.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        t.ok("%s: a signature by the private key verifies with the public key" % desc)
    except Exception as e:  # noqa: BLE001
        t.bad("%s: sign / verify: %r" % (desc, e))
    # the public key's Digest (SHA-256 of PKCS#1 for RSA, of the SubjectPublicKeyInfo for EC);
    # none on the private key, whose plaintext the server never had at creation
    want = p.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1) \
        if isinstance(p, rsa.RSAPublicKey) else spki
    t.check("%s: the public key's Digest is SHA-256 of its %s" %
            (desc, "PKCS#1" if isinstance(p, rsa.RSAPublicKey) else "SubjectPublicKeyInfo"),
            digest_of(pub) == hashlib.sha256(want).digest())
    t.check("%s: no Digest on the private key" % desc, digest_of(priv) is None)
    secrets.append(("%s PKCS#8" % desc, der))
    for i, v in enumerate(private_numbers(k)):
        secrets.append(("%s private value %d" % (desc, i), v))
    return der


pairs = {}
with pyclient() as c:
    for desc, alg, bits in (("RSA-2048", enums.CryptographicAlgorithm.RSA, 2048),
                            ("RSA-4096", enums.CryptographicAlgorithm.RSA, 4096),
                            ("EC P-256", enums.CryptographicAlgorithm.EC, 256),
                            ("EC P-384", enums.CryptographicAlgorithm.ECDSA, 384)):
        try:
            pub, priv = c.create_key_pair(alg, bits, private_name="get-" + desc)
            t.ok("create_key_pair %s" % desc)
        except Exception as e:  # noqa: BLE001
            t.bad("create_key_pair %s: %r" % (desc, e))
            continue
        pairs[desc] = (priv, pub, check_pair(c, desc, priv, pub, bits))
    # Get without a format: the server's default for the key, the same private key
    if pairs.get("RSA-2048", (None, None, None))[2] is not None:
        priv, _, der = pairs["RSA-2048"]
        try:
            k = c.get(priv)
            same = (serialization.load_der_private_key(k.value, None).private_numbers() ==
                    serialization.load_der_private_key(der, None).private_numbers())
            t.check("get without a format (%s): the same private key" % k.key_format_type.name,
                    same)
        except Exception as e:  # noqa: BLE001
            t.bad("get without a format: %r" % e)

with inst.client() as tc:
    if "EC P-256" in pairs:
        priv, pub, der = pairs["EC P-256"]
        r = tc.call(rl.request([(OP_REKEY_KEY_PAIR, [Tx(T_PRIVATE_UID, priv)])]))
        pl = r.first()[3]
        nv = pl.find(T_PRIVATE_UID).value if r.ok else None
        nu = pl.find(T_PUBLIC_UID).value if r.ok else None
        t.check("Re-key Key Pair of the EC P-256 pair", r.ok, r.describe())
        if nv:
            with pyclient() as c:
                der2 = check_pair(c, "re-keyed EC P-256", nv, nu, 256)
            t.check("the replacement is a new key", der2 is not None and der2 != der)

rc = inst.stop(10)
t.check("clean stop (rc=%s)" % rc, rc == 0)
san = inst.sanitizer_errors()
t.check("no sanitizer report in coffred's output", not san, "; ".join(san[:3]))

# ---- secrets scan ---------------------------------------------------------------------------
files = glob.glob(os.path.join(inst.dir, "data", "store.db*"))
blobs = []
for f in files:
    with open(f, "rb") as fh:
        blobs.append((os.path.basename(f), fh.read()))
out = inst.stderr(all_runs=True).encode()
blobs.append(("coffred's output", out))
t.check("%d private secrets to look for" % len(secrets), len(secrets) >= 8)
hits = []
for name, data in blobs:
    low = data.lower()
    for desc, v in secrets:
        if v in data or v.hex().encode() in low:
            hits.append("%s in %s" % (desc, name))
t.check("no private key material in %s" % ", ".join(n for n, _ in blobs), not hits,
        "; ".join(hits[:5]))

if t.failed:
    with open(pylog, errors="replace") as f:
        print("\n".join("   py| " + line for line in f.read().splitlines()[-20:]))
    print("\n".join("   srv| " + line for line in inst.stderr().splitlines()[-30:]))
t.done()
