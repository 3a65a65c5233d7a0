"""Cryptographic services (issue 15) against a real coffred (SoftHSMv2, mutual TLS).

usage: test_crypto.py BUILD_DIR
Our own TTLV client (robust_lib) for the 1.4 / 2.0 fields PyKMIP cannot send (GCM additional
data and tag, streaming, Digested Data, Hash, RNG, Derive Key parameters), each result checked
against OpenSSL through Python's `cryptography` (decrypt what it encrypted, verify what it
signed, and the reverse) and known answers (NIST / RFC vectors): AES-GCM / CBC-PAD / CTR / ECB,
RSA-OAEP (SHA-1, SHA-256) and PKCS#1 v1.5, RSA-PSS / PKCS#1 / ECDSA P-256 / P-384 signatures,
HMAC-SHA-256/384/512 and CMAC, SHA-2 hashes, RNG Retrieve / Seed, the four Derive Key methods
(the derived key then usable and Get-able); streaming (CBC in parts, GCM in parts, a forged or
misused Correlation Value); and the refusals with their Result Reasons: usage mask, state,
dates, Usage Limits, key type, tampered tag, wrong signature, oversized data, another tenant's
key. PyKMIP's own calls are in test_pykmip_client.py ("crypto_round_trips")."""
import hashlib
import hmac as pyhmac
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
from robust_lib import S, E, I, Tx, B, TAG  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.cmac import CMAC  # noqa: E402
from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFHMAC, Mode  # noqa: E402
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC  # noqa: E402

T = dict(
    CP=0x42002B, MODE=0x420011, PAD=0x42005F, HASH=0x420038, DSA=0x4200AE, ALG=0x420028,
    RANDOM_IV=0x4200C5, IV_LEN=0x4200CD, TAG_LEN=0x4200CE, CTR_LEN=0x4200D0, SALT_LEN=0x420100,
    MGF_HASH=0x420102, P_SOURCE=0x420103, DATA=0x4200C2, DATA_LEN=0x4200C4, SIG=0x4200C3,
    MAC=0x4200C6, IV=0x42003D, CORR=0x4200D6, INIT=0x4200D7, FINAL=0x4200D8, VALIDITY=0x42009B,
    AAD=0x4200FE, AE_TAG=0x4200FF, DIGESTED=0x420107, DMETHOD=0x420031, DPARAMS=0x420032,
    DDATA=0x420030, SALT=0x420084, ITER=0x42003C, INIT_VEC=0x42003A, USAGE_LIMITS=0x420095,
    UL_TOTAL=0x420097, UL_UNIT=0x420098, PRIVATE_KEY=0x420064, PUBLIC_KEY=0x42006D,
    SECRET_DATA=0x420085, SECRET_DATA_TYPE=0x420086,
)
OP = dict(REGISTER=0x03, DERIVE=0x05, ACTIVATE=0x12, REVOKE=0x13, DESTROY=0x14, GET=0x0A,
          ENCRYPT=0x1F, DECRYPT=0x20, SIGN=0x21, VERIFY=0x22, MAC=0x23, MAC_VERIFY=0x24,
          RNG_RETRIEVE=0x25, RNG_SEED=0x26, HASH=0x27)
M_SIGN, M_VERIFY, M_ENC, M_DEC = 0x01, 0x02, 0x04, 0x08
M_DERIVE, M_MAC, M_MACV = 0x200, 0x80, 0x100
ALG_AES, ALG_RSA, ALG_EC, ALG_HMAC256, ALG_HMAC384, ALG_HMAC512 = 3, 4, 0x1A, 9, 0x0A, 0x0B
MODE_CBC, MODE_ECB, MODE_CTR, MODE_GCM, MODE_CMAC = 1, 2, 6, 9, 7
PAD_NONE, PAD_OAEP, PAD_PKCS5, PAD_PKCS1, PAD_PSS = 1, 2, 3, 8, 0x0A
H_SHA1, H_SHA256, H_SHA384, H_SHA512 = 4, 6, 7, 8
DSA_SHA256_RSA, DSA_PSS, DSA_ECDSA256, DSA_ECDSA384 = 5, 8, 0x0E, 0x0F
R = dict(NOT_FOUND=1, TOO_LARGE=2, INVALID_MESSAGE=4, INVALID_FIELD=7, FEATURE=8,
         CRYPTO=0x0A, PERMISSION=0x0C, GENERAL=0x100, INCOMPATIBLE_MASK=0x29,
         INVALID_CORR=0x2E, WRONG_STATE=0x43, USAGE_LIMIT=0x1A, INVALID_OBJECT_TYPE=0x30)
VALID, INVALID = 1, 2

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, clients=2, name="crypto")
inst.start()


def dt(tag, v):
    return rl.item(tag, 9, struct.pack(">q", v))


def bl(tag, v):
    return rl.item(tag, 6, struct.pack(">Q", 1 if v else 0))


def lng(tag, v):
    return rl.item(tag, 3, struct.pack(">q", v))


def cp(mode=None, pad=None, h=None, dsa=None, alg=None, tag_len=None, random_iv=None,
       ctr_len=None, mgf_hash=None, salt_len=None, p_source=None):
    kids = []
    for tag, v, fn in ((T["MODE"], mode, E), (T["PAD"], pad, E), (T["HASH"], h, E),
                       (T["DSA"], dsa, E), (T["ALG"], alg, E), (T["RANDOM_IV"], random_iv, bl),
                       (T["TAG_LEN"], tag_len, I), (T["CTR_LEN"], ctr_len, I),
                       (T["SALT_LEN"], salt_len, I), (T["MGF_HASH"], mgf_hash, E),
                       (T["P_SOURCE"], p_source, B)):
        if v is not None:
            kids.append(fn(tag, v))
    return S(T["CP"], *kids)


def call(c, op, kids, ver=(1, 4)):
    """-> (status, reason, message, payload Node or None)."""
    r = c.call(rl.request([(op, kids)], major=ver[0], minor=ver[1]))
    st, rr, rm, pl, _ = r.first()
    return st, rr, rm, pl


def field(pl, tag):
    n = pl.find(tag) if pl is not None else None
    return n.value if n is not None else None


def crypt(c, op, uid, params=None, data=None, ver=(1, 4), **kw):
    """Encrypt .. MAC Verify in the spec's field order."""
    kids = [] if uid is None else [Tx(TAG["UNIQUE_IDENTIFIER"], uid)]
    if params is not None:
        kids.append(params)
    if data is not None:
        kids.append(B(T["DATA"], data))
    for k, tag in (("digested", T["DIGESTED"]), ("sig", T["SIG"]), ("mac", T["MAC"]),
                   ("iv", T["IV"]), ("corr", T["CORR"])):
        if kw.get(k) is not None:
            kids.append(B(tag, kw[k]))
    for k, tag in (("init", T["INIT"]), ("final", T["FINAL"])):
        if kw.get(k) is not None:
            kids.append(bl(tag, kw[k]))
    for k, tag in (("aad", T["AAD"]), ("tag", T["AE_TAG"])):
        if kw.get(k) is not None:
            kids.append(B(tag, kw[k]))
    return call(c, op, kids, ver)


def ok_field(desc, res, tag):
    st, rr, rm, pl = res
    t.check(desc, st == 0, "status=%s reason=%s msg=%r" % (st, rr, rm))
    return field(pl, tag) if st == 0 else None


def refused(desc, res, reason):
    st, rr, rm, _ = res
    t.check("%s: %s" % (desc, rl.REASON.get(reason, hex(reason))), st == 1 and rr == reason,
            "status=%s reason=%s msg=%r" % (st, rr, rm))


NOW = int(time.time())


def template(mask, alg=None, length=None, active=True, extra=()):
    kids = [rl.attr("Cryptographic Usage Mask", I, mask)]
    if active:
        kids.append(rl.attr("Activation Date", dt, NOW - 3600))
    return S(TAG["TEMPLATE_ATTRIBUTE"], *(kids + list(extra)))


def register_sym(c, key, mask, alg=ALG_AES, active=True, extra=(), ver=(1, 4)):
    kb = S(TAG["KEY_BLOCK"], E(TAG["KEY_FORMAT_TYPE"], 1),
           S(TAG["KEY_VALUE"], B(TAG["KEY_MATERIAL"], key)),
           E(TAG["CRYPTO_ALG"], alg), I(TAG["CRYPTO_LEN"], len(key) * 8))
    st, rr, rm, pl = call(c, OP["REGISTER"], [E(TAG["OBJECT_TYPE"], 2),
                                               template(mask, active=active, extra=extra),
                                               S(TAG["SYMMETRIC_KEY"], kb)], ver)
    if st != 0:
        raise RuntimeError("register failed: %s %s %r" % (st, rr, rm))
    return field(pl, TAG["UNIQUE_IDENTIFIER"])


def register_secret(c, value, mask):
    kb = S(TAG["KEY_BLOCK"], E(TAG["KEY_FORMAT_TYPE"], 2),
           S(TAG["KEY_VALUE"], B(TAG["KEY_MATERIAL"], value)))
    st, rr, rm, pl = call(c, OP["REGISTER"], [E(TAG["OBJECT_TYPE"], 7), template(mask),
                                               S(T["SECRET_DATA"], E(T["SECRET_DATA_TYPE"], 1),
                                                 kb)])
    if st != 0:
        raise RuntimeError("register secret failed: %s %s %r" % (st, rr, rm))
    return field(pl, TAG["UNIQUE_IDENTIFIER"])


def register_asym(c, der, private, alg, bits, mask):
    """PKCS#8 (format 4) private key or SubjectPublicKeyInfo (format 5) public key."""
    kb = S(TAG["KEY_BLOCK"], E(TAG["KEY_FORMAT_TYPE"], 4 if private else 5),
           S(TAG["KEY_VALUE"], B(TAG["KEY_MATERIAL"], der)),
           E(TAG["CRYPTO_ALG"], alg), I(TAG["CRYPTO_LEN"], bits))
    st, rr, rm, pl = call(c, OP["REGISTER"], [E(TAG["OBJECT_TYPE"], 4 if private else 3),
                                               template(mask),
                                               S(T["PRIVATE_KEY"] if private else T["PUBLIC_KEY"],
                                                 kb)])
    if st != 0:
        raise RuntimeError("register key failed: %s %s %r" % (st, rr, rm))
    return field(pl, TAG["UNIQUE_IDENTIFIER"])


def pair(c, key, alg, bits):
    priv = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return (register_asym(c, priv, True, alg, bits, M_SIGN | M_DEC),
            register_asym(c, pub, False, alg, bits, M_VERIFY | M_ENC))


def step(desc, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        t.bad("%s: %s: %s" % (desc, type(e).__name__, e))


KNOWN_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308")  # also scanned by test_secrets


# ---- AES ------------------------------------------------------------------------------------
def aes_cases(c):
    k0 = register_sym(c, b"\0" * 16, M_ENC | M_DEC)
    ct = ok_field("GCM KAT (NIST test case 2): encrypt", crypt(
        c, OP["ENCRYPT"], k0, cp(MODE_GCM, tag_len=16), b"\0" * 16, iv=b"\0" * 12), T["DATA"])
    t.check("GCM KAT: ciphertext", ct == bytes.fromhex("0388dace60b6a392f328c2b971b2fe78"),
            repr(ct))
    res = crypt(c, OP["ENCRYPT"], k0, cp(MODE_GCM, tag_len=16), b"\0" * 16, iv=b"\0" * 12)
    t.check("GCM KAT: tag", field(res[3], T["AE_TAG"]) ==
            bytes.fromhex("ab6e47d42cec13bdf53a67b21257bddf"))
    refused("GCM decrypt with a tampered tag", crypt(
        c, OP["DECRYPT"], k0, cp(MODE_GCM), ct, iv=b"\0" * 12,
        tag=bytes.fromhex("006e47d42cec13bdf53a67b21257bddf")), R["CRYPTO"])
    refused("GCM Tag Length 32 (1.4: as CS-BC-M-GCM-1)", crypt(
        c, OP["ENCRYPT"], k0, cp(MODE_GCM, tag_len=32), b"\0" * 16, iv=b"\0" * 12),
        R["GENERAL"])

    key = KNOWN_KEY
    uid = register_sym(c, key, M_ENC | M_DEC)
    msg = os.urandom(1000)
    # GCM with AAD, server-made nonce, checked by OpenSSL; and the reverse
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], uid, cp(MODE_GCM, tag_len=16), msg, aad=b"hdr")
    nonce, ct, tag = field(pl, T["IV"]), field(pl, T["DATA"]), field(pl, T["AE_TAG"])
    t.check("GCM encrypt without a nonce: the server makes a 12-byte one and answers it",
            st == 0 and nonce is not None and len(nonce) == 12, "%s %s %r" % (st, rr, rm))
    if st == 0:
        t.check("GCM: OpenSSL decrypts coffred's ciphertext + tag",
                AESGCM(key).decrypt(nonce, ct + tag, b"hdr") == msg)
    n2 = os.urandom(12)
    sealed = AESGCM(key).encrypt(n2, msg, b"aad2")
    pt = ok_field("GCM: coffred decrypts OpenSSL's", crypt(
        c, OP["DECRYPT"], uid, cp(MODE_GCM), sealed[:-16], iv=n2, aad=b"aad2", tag=sealed[-16:]),
        T["DATA"])
    t.check("GCM: plaintext", pt == msg)
    refused("GCM decrypt with the wrong AAD", crypt(
        c, OP["DECRYPT"], uid, cp(MODE_GCM), sealed[:-16], iv=n2, aad=b"aad3",
        tag=sealed[-16:]), R["CRYPTO"])
    refused("GCM decrypt without a tag", crypt(c, OP["DECRYPT"], uid, cp(MODE_GCM), sealed[:-16],
                                               iv=n2), R["INVALID_MESSAGE"])

    # CBC-PAD, CTR, ECB against OpenSSL, both ways
    iv = os.urandom(16)
    ct = ok_field("CBC-PKCS5 encrypt", crypt(c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), msg,
                                             iv=iv), T["DATA"])
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    raw = d.update(ct or b"") + d.finalize()
    t.check("CBC-PKCS5: OpenSSL decrypts it (PKCS#7 padding)", raw[:1000] == msg and
            raw[1000:] == bytes([8]) * 8)
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ossl = e.update(msg + bytes([8]) * 8) + e.finalize()
    t.check("CBC-PKCS5: coffred decrypts OpenSSL's", ok_field("CBC-PKCS5 decrypt", crypt(
        c, OP["DECRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), ossl, iv=iv), T["DATA"]) == msg)
    refused("CBC decrypt without an IV (as CS-BC-M-11)", crypt(
        c, OP["DECRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), ossl), R["INVALID_MESSAGE"])
    refused("CBC without padding, data not whole blocks", crypt(
        c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_NONE), b"x" * 17, iv=iv), R["INVALID_FIELD"])
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_PKCS5, random_iv=True), msg)
    riv = field(pl, T["IV"])
    t.check("CBC Random IV: a 16-byte IV answered", st == 0 and riv and len(riv) == 16,
            "%s %s %r" % (st, rr, rm))
    ct = ok_field("CTR encrypt", crypt(c, OP["ENCRYPT"], uid, cp(MODE_CTR), msg, iv=iv), T["DATA"])
    e = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    t.check("CTR: equals OpenSSL's", ct == e.update(msg) + e.finalize())
    fk = register_sym(c, bytes(range(16)), M_ENC | M_DEC)
    ct = ok_field("ECB encrypt", crypt(c, OP["ENCRYPT"], fk, cp(MODE_ECB),
                                       bytes.fromhex("00112233445566778899aabbccddeeff")),
                  T["DATA"])
    t.check("ECB KAT (FIPS-197 C.1)", ct == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a"),
            repr(ct))
    # streaming: CBC-PAD in three parts equals the one-shot OpenSSL ciphertext
    parts = [msg[:480], msg[480:960], msg[960:]]
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), parts[0], iv=iv,
                           init=True)
    corr, out = field(pl, T["CORR"]), field(pl, T["DATA"]) or b""
    t.check("stream CBC: first part answers a Correlation Value", st == 0 and corr,
            "%s %s %r" % (st, rr, rm))
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], None, None, parts[1], corr=corr)
    corr2 = field(pl, T["CORR"])
    out += field(pl, T["DATA"]) or b""
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], None, None, parts[2], corr=corr2, final=True)
    out += field(pl, T["DATA"]) or b""
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    t.check("stream CBC: three parts equal the one-shot ciphertext",
            st == 0 and out == e.update(msg + bytes([8]) * 8) + e.finalize(),
            "%s %s %r" % (st, rr, rm))
    if corr:
        forged = bytearray(corr)
        forged[-1] ^= 1
        refused("stream: a forged Correlation Value (1.4)", crypt(
            c, OP["ENCRYPT"], None, None, b"x" * 16, corr=bytes(forged)), R["INVALID_MESSAGE"])
        refused("stream: a forged Correlation Value (2.0)", crypt(
            c, OP["ENCRYPT"], None, None, b"x" * 16, corr=bytes(forged), ver=(2, 0)),
            R["INVALID_CORR"])
        refused("stream: the Correlation Value with another key's uid", crypt(
            c, OP["ENCRYPT"], k0, None, b"x" * 16, corr=corr), R["INVALID_MESSAGE"])
        refused("stream: an Encrypt Correlation Value used to Decrypt", crypt(
            c, OP["DECRYPT"], None, None, b"x" * 16, corr=corr), R["INVALID_MESSAGE"])
        with inst.client("qa2") as c2:
            refused("stream: the Correlation Value from another tenant's client", crypt(
                c2, OP["ENCRYPT"], None, None, b"x" * 16, corr=corr), R["INVALID_MESSAGE"])
    # streaming GCM (CS-BC-M-GCM-3): parts, the tag with the last one
    gk = register_sym(c, bytes.fromhex("feffe9928665731c6d6a8f9467308308"), M_ENC | M_DEC)
    p = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95"
                      "956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    st, rr, rm, pl = crypt(c, OP["ENCRYPT"], gk, cp(MODE_GCM, tag_len=16), p[:20],
                           iv=bytes.fromhex("cafebabefacedbad"), init=True,
                           aad=bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"))
    c1, corr = field(pl, T["DATA"]), field(pl, T["CORR"])
    st2, rr2, rm2, pl2 = crypt(c, OP["ENCRYPT"], gk, cp(MODE_GCM, tag_len=16), p[20:],
                               corr=corr, final=True)
    whole = (c1 or b"") + (field(pl2, T["DATA"]) or b"")
    t.check("stream GCM: two parts give the NIST test case 6 ciphertext and tag",
            st == 0 and st2 == 0 and whole[:20] == bytes.fromhex(
                "61353b4c2806934a777ff51fa22a4755699b2a71") and
            field(pl2, T["AE_TAG"]) == bytes.fromhex("3612d2e79e3b0785561be14aaca2fccb"),
            "%s %s %r / %s %s %r" % (st, rr, rm, st2, rr2, rm2))
    # streaming decrypt: GCM answers nothing until the tag verified, then the whole plaintext
    st, rr, rm, pl = crypt(c, OP["DECRYPT"], gk, cp(MODE_GCM, tag_len=16), whole[:30],
                           iv=bytes.fromhex("cafebabefacedbad"), init=True,
                           aad=bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"))
    d1, corr = field(pl, T["DATA"]), field(pl, T["CORR"])
    st2, rr2, rm2, pl2 = crypt(c, OP["DECRYPT"], None, None, whole[30:], corr=corr, final=True,
                               tag=bytes.fromhex("3612d2e79e3b0785561be14aaca2fccb"))
    t.check("stream GCM decrypt: no plaintext before the tag, all of it after",
            st == 0 and not d1 and st2 == 0 and field(pl2, T["DATA"]) == p,
            "%s %s %r / %s %s %r" % (st, rr, rm, st2, rr2, rm2))
    if corr:
        refused("stream GCM decrypt with a wrong tag", crypt(
            c, OP["DECRYPT"], None, None, whole[30:], corr=corr, final=True, tag=b"\0" * 16),
            R["CRYPTO"])
    # streaming CBC-PAD decrypt of OpenSSL's ciphertext, in two parts
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ossl = e.update(msg + bytes([8]) * 8) + e.finalize()
    st, rr, rm, pl = crypt(c, OP["DECRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), ossl[:512], iv=iv,
                           init=True)
    part1, corr = field(pl, T["DATA"]) or b"", field(pl, T["CORR"])
    st2, rr2, rm2, pl2 = crypt(c, OP["DECRYPT"], uid, None, ossl[512:], corr=corr, final=True)
    t.check("stream CBC-PKCS5 decrypt: two parts give OpenSSL's plaintext",
            st == 0 and st2 == 0 and part1 + (field(pl2, T["DATA"]) or b"") == msg,
            "%s %s %r / %s %s %r" % (st, rr, rm, st2, rr2, rm2))
    # streaming CTR and ECB: the parts equal OpenSSL's one-shot output
    for mode, ossl_mode, name in ((MODE_CTR, modes.CTR(iv), "CTR"), (MODE_ECB, modes.ECB(), "ECB")):
        data = msg[:992] if mode == MODE_ECB else msg
        st, rr, rm, pl = crypt(c, OP["ENCRYPT"], uid, cp(mode), data[:496],
                               iv=iv if mode == MODE_CTR else None, init=True)
        out, corr = field(pl, T["DATA"]) or b"", field(pl, T["CORR"])
        st2, rr2, rm2, pl2 = crypt(c, OP["ENCRYPT"], uid, None, data[496:], corr=corr,
                                   final=True)
        e = Cipher(algorithms.AES(key), ossl_mode).encryptor()
        t.check("stream %s: two parts equal OpenSSL's one-shot ciphertext" % name,
                st == 0 and st2 == 0 and out + (field(pl2, T["DATA"]) or b"") ==
                e.update(data) + e.finalize(), "%s %s %r / %s %s %r" % (st, rr, rm, st2, rr2, rm2))
    refused("stream: a part before the last not whole blocks", crypt(
        c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), b"x" * 17, iv=iv, init=True),
        R["INVALID_MESSAGE"])
    # the response size limit holds: Maximum Response Size below a 4 KiB ciphertext
    hdr = S(TAG["REQUEST_HEADER"], S(TAG["PROTOCOL_VERSION"], I(TAG["PV_MAJOR"], 1),
                                     I(TAG["PV_MINOR"], 4)),
            I(0x420050, 1024), I(TAG["BATCH_COUNT"], 1))
    r = c.call(S(TAG["REQUEST_MESSAGE"], hdr, rl.batch_item(OP["ENCRYPT"], [
        Tx(TAG["UNIQUE_IDENTIFIER"], uid), cp(MODE_GCM), B(T["DATA"], b"\0" * 4096)])))
    refused("Encrypt of 4 KiB with Maximum Response Size 1024", r.first()[:3] + (None,),
            R["TOO_LARGE"])
    refused("Data over 64 KiB in one request", crypt(
        c, OP["ENCRYPT"], uid, cp(MODE_CBC, PAD_PKCS5), b"\0" * (65 << 10), iv=iv),
        R["INVALID_MESSAGE"])


# ---- RSA / EC -------------------------------------------------------------------------------
def asym_cases(c):
    rk = rsa.generate_private_key(65537, 2048)
    priv, pub = pair(c, rk, ALG_RSA, 2048)
    msg = b"attack at dawn"
    for h, hk, name in ((H_SHA1, hashes.SHA1(), "SHA-1"), (H_SHA256, hashes.SHA256(), "SHA-256")):
        oaep = padding.OAEP(padding.MGF1(hk), hk, None)
        ct = ok_field("RSA-OAEP %s encrypt" % name, crypt(
            c, OP["ENCRYPT"], pub, cp(pad=PAD_OAEP, h=h, mgf_hash=h), msg), T["DATA"])
        t.check("RSA-OAEP %s: OpenSSL decrypts it" % name,
                ct is not None and rk.decrypt(ct, oaep) == msg)
        pt = ok_field("RSA-OAEP %s decrypt" % name, crypt(
            c, OP["DECRYPT"], priv, cp(pad=PAD_OAEP, h=h, mgf_hash=h),
            rk.public_key().encrypt(msg, oaep)), T["DATA"])
        t.check("RSA-OAEP %s: coffred decrypts OpenSSL's" % name, pt == msg)
    ct = ok_field("RSA PKCS#1 v1.5 encrypt", crypt(c, OP["ENCRYPT"], pub, cp(pad=PAD_PKCS1), msg),
                  T["DATA"])
    t.check("RSA PKCS#1 v1.5: OpenSSL decrypts it",
            ct is not None and rk.decrypt(ct, padding.PKCS1v15()) == msg)
    pt = ok_field("RSA PKCS#1 v1.5 decrypt", crypt(
        c, OP["DECRYPT"], priv, cp(pad=PAD_PKCS1),
        rk.public_key().encrypt(msg, padding.PKCS1v15())), T["DATA"])
    t.check("RSA PKCS#1 v1.5: coffred decrypts OpenSSL's", pt == msg)
    refused("RSA-OAEP decrypt of altered ciphertext", crypt(
        c, OP["DECRYPT"], priv, cp(pad=PAD_OAEP, h=H_SHA1), b"\1" * 256), R["CRYPTO"])
    refused("Encrypt with a Private Key (wrong key type)", crypt(
        c, OP["ENCRYPT"], priv, cp(pad=PAD_OAEP), msg), R["INVALID_FIELD"])
    refused("Encrypt with a Private Key (2.0)", crypt(
        c, OP["ENCRYPT"], priv, cp(pad=PAD_OAEP), msg, ver=(2, 0)), R["INVALID_OBJECT_TYPE"])

    # signatures
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    sig = ok_field("RSA-PSS sign", crypt(c, OP["SIGN"], priv, cp(pad=PAD_PSS, h=H_SHA256,
                                                                   salt_len=32), msg), T["SIG"])
    step("RSA-PSS: OpenSSL verifies coffred's signature",
         lambda: (rk.public_key().verify(sig, msg, pss, hashes.SHA256()), t.ok(
             "RSA-PSS: OpenSSL verifies coffred's signature")))
    osig = rk.sign(msg, pss, hashes.SHA256())
    v = ok_field("RSA-PSS verify of OpenSSL's signature", crypt(
        c, OP["VERIFY"], pub, cp(dsa=DSA_PSS, h=H_SHA256, salt_len=32), msg, sig=osig),
        T["VALIDITY"])
    t.check("RSA-PSS: Valid", v == VALID, repr(v))
    v = ok_field("RSA-PSS verify of other data", crypt(
        c, OP["VERIFY"], pub, cp(dsa=DSA_PSS, h=H_SHA256), msg + b"!", sig=osig), T["VALIDITY"])
    t.check("RSA-PSS wrong signature: Validity Invalid", v == INVALID, repr(v))
    sig = ok_field("SHA256WithRSAEncryption sign", crypt(c, OP["SIGN"], priv, cp(
        dsa=DSA_SHA256_RSA), msg), T["SIG"])
    step("PKCS#1 v1.5: OpenSSL verifies", lambda: (rk.public_key().verify(
        sig, msg, padding.PKCS1v15(), hashes.SHA256()), t.ok("PKCS#1 v1.5: OpenSSL verifies")))
    dg = hashlib.sha256(msg).digest()
    sig = ok_field("PKCS#1 v1.5 sign of Digested Data", crypt(
        c, OP["SIGN"], priv, cp(dsa=DSA_SHA256_RSA), digested=dg), T["SIG"])
    step("PKCS#1 v1.5 of a digest: OpenSSL verifies the message", lambda: (
        rk.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256()),
        t.ok("PKCS#1 v1.5 of a digest: OpenSSL verifies the message")))
    for curve, bits, dsa, hk in ((ec.SECP256R1(), 256, DSA_ECDSA256, hashes.SHA256()),
                                 (ec.SECP384R1(), 384, DSA_ECDSA384, hashes.SHA384())):
        ek = ec.generate_private_key(curve)
        epriv, epub = pair(c, ek, ALG_EC, bits)
        sig = ok_field("ECDSA P-%d sign" % bits, crypt(c, OP["SIGN"], epriv, cp(dsa=dsa), msg),
                       T["SIG"])
        step("ECDSA P-%d: OpenSSL verifies" % bits, lambda: (
            ek.public_key().verify(sig, msg, ec.ECDSA(hk)),
            t.ok("ECDSA P-%d: OpenSSL verifies" % bits)))
        v = ok_field("ECDSA P-%d verify of OpenSSL's" % bits, crypt(
            c, OP["VERIFY"], epub, cp(dsa=dsa), msg, sig=ek.sign(msg, ec.ECDSA(hk))),
            T["VALIDITY"])
        t.check("ECDSA P-%d: Valid" % bits, v == VALID, repr(v))
        dgst = hashlib.new(hk.name, msg).digest()
        v = ok_field("ECDSA P-%d verify on Digested Data" % bits, crypt(
            c, OP["VERIFY"], epub, cp(dsa=dsa), digested=dgst,
            sig=ek.sign(dgst, ec.ECDSA(utils.Prehashed(hk)))), T["VALIDITY"])
        t.check("ECDSA P-%d digest: Valid" % bits, v == VALID, repr(v))
    refused("Sign with a Public Key", crypt(c, OP["SIGN"], pub, cp(dsa=DSA_SHA256_RSA), msg),
            R["INVALID_FIELD"])
    refused("Sign streaming", crypt(c, OP["SIGN"], priv, cp(dsa=DSA_SHA256_RSA), msg,
                                    init=True), R["FEATURE"])


# ---- MAC, Hash, RNG -------------------------------------------------------------------------
def mac_hash_rng_cases(c):
    data = b"what do ya want for nothing?"
    for alg, hname, want in (
            (ALG_HMAC256, "sha256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (ALG_HMAC384, "sha384", None), (ALG_HMAC512, "sha512", None)):
        hk = register_sym(c, b"Jefe", M_MAC | M_MACV, alg=alg)
        mac = ok_field("HMAC-%s MAC" % hname, crypt(c, OP["MAC"], hk, cp(alg=alg), data),
                       T["MAC"])
        expect = pyhmac.new(b"Jefe", data, hname).digest()
        t.check("HMAC-%s: RFC 4231 case 2 / Python's hmac" % hname, mac == expect and
                (want is None or mac.hex() == want), repr(mac))
        v = ok_field("HMAC-%s MAC Verify" % hname, crypt(c, OP["MAC_VERIFY"], hk, cp(alg=alg),
                                                         data, mac=expect), T["VALIDITY"])
        t.check("HMAC-%s MAC Verify: Valid" % hname, v == VALID, repr(v))
        v = ok_field("HMAC-%s MAC Verify of a wrong MAC" % hname, crypt(
            c, OP["MAC_VERIFY"], hk, cp(alg=alg), data, mac=b"\0" * len(expect)), T["VALIDITY"])
        t.check("HMAC-%s wrong MAC: Invalid" % hname, v == INVALID, repr(v))
    ck = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    cu = register_sym(c, ck, M_MAC | M_MACV)
    m = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    mac = ok_field("CMAC-AES", crypt(c, OP["MAC"], cu, cp(mode=MODE_CMAC), m), T["MAC"])
    cm = CMAC(algorithms.AES(ck))
    cm.update(m)
    t.check("CMAC-AES: RFC 4493 example 2", mac == bytes.fromhex(
        "070a16b46b4d4144f79bdd9dd04a287c") == cm.finalize(), repr(mac))
    for h, name in ((H_SHA256, "sha256"), (H_SHA384, "sha384"), (H_SHA512, "sha512")):
        d = ok_field("Hash %s" % name, call(c, OP["HASH"], [cp(h=h), B(T["DATA"], data)]),
                     T["DATA"])
        t.check("Hash %s equals hashlib" % name, d == hashlib.new(name, data).digest())
    r = ok_field("RNG Retrieve 32", call(c, OP["RNG_RETRIEVE"], [I(T["DATA_LEN"], 32)]),
                 T["DATA"])
    r2 = field(call(c, OP["RNG_RETRIEVE"], [I(T["DATA_LEN"], 32)])[3], T["DATA"])
    t.check("RNG Retrieve: 32 bytes, two calls differ", r and len(r) == 32 and r != r2)
    refused("RNG Retrieve of 0 bytes", call(c, OP["RNG_RETRIEVE"], [I(T["DATA_LEN"], 0)]),
            R["INVALID_FIELD"])
    st, rr, rm, pl = call(c, OP["RNG_SEED"], [B(T["DATA"], os.urandom(32))])
    n = field(pl, T["DATA_LEN"])
    t.check("RNG Seed: Data Length 0 or 32", st == 0 and n in (0, 32), "%s %s %r %r" % (
        st, rr, rm, n))


# ---- Derive Key -----------------------------------------------------------------------------
def derive(c, base, method, params, length=128, ver=(1, 4)):
    dp = S(T["DPARAMS"], *params)
    ta = S(TAG["TEMPLATE_ATTRIBUTE"], rl.attr("Cryptographic Algorithm", E, ALG_AES),
           rl.attr("Cryptographic Length", I, length),
           rl.attr("Cryptographic Usage Mask", I, M_ENC | M_DEC),
           rl.attr("Activation Date", dt, NOW - 60))
    return call(c, OP["DERIVE"], [E(TAG["OBJECT_TYPE"], 2), Tx(TAG["UNIQUE_IDENTIFIER"], base),
                                  E(T["DMETHOD"], method), dp, ta], ver)


def derive_cases(c):
    pw = register_secret(c, b"password", M_DERIVE)
    salt = b"salt" * 4
    u = ok_field("Derive PBKDF2 (SHA-256, 4096)", derive(
        c, pw, 1, [cp(h=H_SHA256), B(T["SALT"], salt), I(T["ITER"], 4096)], 256),
        TAG["UNIQUE_IDENTIFIER"])
    if u:
        got = c.get(u)
        t.check("PBKDF2: Get of the derived key equals OpenSSL's",
                got == PBKDF2HMAC(hashes.SHA256(), 32, salt, 4096).derive(b"password"))
        ct = ok_field("the derived key encrypts", crypt(c, OP["ENCRYPT"], u, cp(MODE_ECB),
                                                        b"\0" * 16), T["DATA"])
        e = Cipher(algorithms.AES(got), modes.ECB()).encryptor()
        t.check("the derived key's ciphertext", ct == e.update(b"\0" * 16) + e.finalize())
    hkey = os.urandom(32)
    hk = register_sym(c, hkey, M_DERIVE, alg=ALG_HMAC256)
    u = ok_field("Derive HMAC", derive(c, hk, 3, [B(T["DDATA"], b"info")]),
                 TAG["UNIQUE_IDENTIFIER"])
    if u:
        t.check("HMAC derivation: HMAC-SHA256(key, data) truncated",
                c.get(u) == pyhmac.new(hkey, b"info", "sha256").digest()[:16])
    fixed = b"label\x00context"
    u = ok_field("Derive NIST800-108-C", derive(c, hk, 5, [B(T["DDATA"], fixed)]),
                 TAG["UNIQUE_IDENTIFIER"])
    if u:
        kdf = KBKDFHMAC(hashes.SHA256(), Mode.CounterMode, 16, 4, None,
                        CounterLocation.BeforeFixed, None, None, fixed)
        t.check("SP 800-108 counter mode: equals cryptography's KBKDFHMAC",
                c.get(u) == kdf.derive(hkey))
    ak = os.urandom(16)
    au = register_sym(c, ak, M_DERIVE)
    dd = os.urandom(16)
    u = ok_field("Derive Encrypt (ECB)", derive(c, au, 4, [cp(MODE_ECB), B(T["DDATA"], dd)]),
                 TAG["UNIQUE_IDENTIFIER"])
    if u:
        e = Cipher(algorithms.AES(ak), modes.ECB()).encryptor()
        t.check("Encrypt derivation: AES-ECB of the data", c.get(u) == e.update(dd) +
                e.finalize())
    # a Secret Data result (HMAC of the info), Get-able as Opaque Secret Data
    st, rr, rm, pl = call(c, OP["DERIVE"], [
        E(TAG["OBJECT_TYPE"], 7), Tx(TAG["UNIQUE_IDENTIFIER"], hk), E(T["DMETHOD"], 3),
        S(T["DPARAMS"], B(T["DDATA"], b"seed info")),
        S(TAG["TEMPLATE_ATTRIBUTE"], rl.attr("Cryptographic Length", I, 256),
          rl.attr("Cryptographic Usage Mask", I, M_DERIVE))])
    su = field(pl, TAG["UNIQUE_IDENTIFIER"])
    t.check("Derive a Secret Data (HMAC)", st == 0 and su, "%s %s %r" % (st, rr, rm))
    if su:
        r = c.call(rl.uid_req(OP["GET"], su))
        km = r.first()[3].find(TAG["KEY_MATERIAL"]) if r.ok else None
        t.check("the derived Secret Data: Get answers HMAC-SHA256(key, data)",
                km is not None and km.value == pyhmac.new(hkey, b"seed info", "sha256").digest(),
                r.describe())
    refused("Derive from a key without Derive Key usage", derive(
        c, register_sym(c, os.urandom(16), M_ENC), 4, [cp(MODE_ECB), B(T["DDATA"], dd)]),
        R["PERMISSION"])
    refused("Derive by an unsupported method (HASH)", derive(c, au, 2, [cp(h=H_SHA256),
                                                                        B(T["DDATA"], dd)]),
            R["FEATURE"])


# ---- policy refusals ------------------------------------------------------------------------
def policy_cases(c):
    key = os.urandom(16)
    enc_only = register_sym(c, key, M_ENC)
    refused("Decrypt with an Encrypt-only key (1.4)", crypt(
        c, OP["DECRYPT"], enc_only, cp(MODE_ECB), b"\0" * 16), R["PERMISSION"])
    refused("Decrypt with an Encrypt-only key (2.0)", crypt(
        c, OP["DECRYPT"], enc_only, cp(MODE_ECB), b"\0" * 16, ver=(2, 0)),
        R["INCOMPATIBLE_MASK"])
    pre = register_sym(c, key, M_ENC | M_DEC, active=False)
    refused("Encrypt with a Pre-Active key (1.4)", crypt(
        c, OP["ENCRYPT"], pre, cp(MODE_ECB), b"\0" * 16), R["PERMISSION"])
    refused("Encrypt with a Pre-Active key (2.0)", crypt(
        c, OP["ENCRYPT"], pre, cp(MODE_ECB), b"\0" * 16, ver=(2, 0)), R["WRONG_STATE"])
    # Deactivated: decrypt (process) allowed, encrypt (protect) refused (1.4 section 3.22)
    dk = register_sym(c, key, M_ENC | M_DEC)
    ct = field(crypt(c, OP["ENCRYPT"], dk, cp(MODE_ECB), b"\0" * 16)[3], T["DATA"])
    r = c.call(rl.request([(OP["REVOKE"], [Tx(TAG["UNIQUE_IDENTIFIER"], dk),
                                            S(0x420081, E(0x420082, 5))])]))
    t.check("revoke (Cessation Of Operation): Deactivated", r.ok, r.describe())
    refused("Encrypt with a Deactivated key", crypt(c, OP["ENCRYPT"], dk, cp(MODE_ECB),
                                                    b"\0" * 16), R["PERMISSION"])
    t.check("Decrypt with a Deactivated key is allowed (process)", ok_field(
        "Decrypt with a Deactivated key", crypt(c, OP["DECRYPT"], dk, cp(MODE_ECB), ct),
        T["DATA"]) == b"\0" * 16)
    r = c.call(rl.uid_req(OP["DESTROY"], dk))
    t.check("destroy", r.ok, r.describe())
    refused("Decrypt with a Destroyed key", crypt(c, OP["DECRYPT"], dk, cp(MODE_ECB), ct),
            R["NOT_FOUND"])
    # dates: Protect Stop passed, Process Start ahead (CS-BC-M-14)
    dated = register_sym(c, key, M_ENC | M_DEC, extra=[
        rl.attr("Process Start Date", dt, NOW + 3600), rl.attr("Protect Stop Date", dt, NOW - 3600)])
    refused("Encrypt after Protect Stop Date", crypt(c, OP["ENCRYPT"], dated, cp(MODE_ECB),
                                                     b"\0" * 16), R["PERMISSION"])
    refused("Decrypt before Process Start Date", crypt(c, OP["DECRYPT"], dated, cp(MODE_ECB),
                                                       b"\0" * 16), R["PERMISSION"])
    # Usage Limits: 32 bytes, two 16-byte encryptions, the third refused
    lim = register_sym(c, key, M_ENC | M_DEC, extra=[S(
        TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Usage Limits"),
        S(TAG["ATTRIBUTE_VALUE"], lng(T["UL_TOTAL"], 32), E(T["UL_UNIT"], 1)))])
    for k in range(2):
        ok_field("Usage Limits 32 bytes: encryption %d" % (k + 1), crypt(
            c, OP["ENCRYPT"], lim, cp(MODE_ECB), b"\0" * 16), T["DATA"])
    refused("Usage Limits exhausted (1.4)", crypt(c, OP["ENCRYPT"], lim, cp(MODE_ECB), b"\0" * 16),
            R["PERMISSION"])
    refused("Usage Limits exhausted (2.0)", crypt(c, OP["ENCRYPT"], lim, cp(MODE_ECB), b"\0" * 16,
                                                  ver=(2, 0)), R["USAGE_LIMIT"])
    # no Cryptographic Parameters and none on the key (CS-BC-M-12's missing mode)
    refused("AES Encrypt without Block Cipher Mode", crypt(c, OP["ENCRYPT"], enc_only, None,
                                                           b"\0" * 16), R["INVALID_MESSAGE"])
    # the key's Cryptographic Parameters used when the request has none (1.4 4.29)
    kp = register_sym(c, bytes(range(16)), M_ENC, extra=[S(
        TAG["ATTRIBUTE"], Tx(TAG["ATTRIBUTE_NAME"], "Cryptographic Parameters"),
        S(TAG["ATTRIBUTE_VALUE"], E(T["MODE"], MODE_ECB)))])
    t.check("the key's Cryptographic Parameters (ECB) apply", ok_field(
        "Encrypt with the key's parameters", crypt(c, OP["ENCRYPT"], kp, None, bytes.fromhex(
            "00112233445566778899aabbccddeeff")), T["DATA"]) == bytes.fromhex(
        "69c4e0d86a7b0430d8cdb78070b4c55a"))
    with inst.client("qa2") as c2:
        refused("another tenant's key", crypt(c2, OP["ENCRYPT"], kp, cp(MODE_ECB), b"\0" * 16),
                R["NOT_FOUND"])


with inst.client() as c:
    for name, fn in (("aes", aes_cases), ("asym", asym_cases), ("mac/hash/rng", mac_hash_rng_cases),
                     ("derive", derive_cases), ("policy", policy_cases)):
        step(name, lambda: fn(c))

# audit: one record per operation with its uid and result, never the data
try:
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(inst.dir, "data", "store.db"), uri=True,
                          timeout=10)
    rows = con.execute("SELECT operation, uid, result, detail FROM audit").fetchall()
    con.close()
    ops = {}
    for op, uid, res, detail in rows:
        ops.setdefault(op, []).append((uid, res, detail))
    t.check("audit: Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify, Hash, RNG "
            "Retrieve, RNG Seed and Derive Key records",
            all(n in ops for n in ("Encrypt", "Decrypt", "Sign", "Signature Verify", "MAC",
                                   "MAC Verify", "Hash", "RNG Retrieve", "RNG Seed",
                                   "Derive Key")), sorted(ops))
    t.check("audit: successful keyed records carry the key's uid, refusals their Result Reason",
            all(u for u, res, _ in ops.get("Encrypt", []) if res == 0) and
            any(res == R["CRYPTO"] for _, res, _ in ops.get("Decrypt", [])))
    blob = repr(rows).encode()
    t.check("audit: no data, IV, tag or key in any record", b"what do ya want" not in blob and
            KNOWN_KEY.hex().encode() not in blob and b"attack at dawn" not in blob)
except Exception as e:  # noqa: BLE001
    t.bad("audit rows: %s: %s" % (type(e).__name__, e))

# the key's bytes never in coffred's output
err = inst.stderr(all_runs=True)
err_b = err.encode() if isinstance(err, str) else err
t.check("no registered key bytes (hex) in coffred's output", KNOWN_KEY.hex().encode() not in
        err_b.lower() and KNOWN_KEY not in err_b)
t.check("coffred alive and no sanitizer report", inst.alive() and not inst.sanitizer_errors(),
        rl.sanitizer_digest(inst))
inst.stop()
sys.exit(t.done())
