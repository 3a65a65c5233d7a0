/* KMIP cryptographic services inside the HSM: Encrypt / Decrypt / Sign / Signature Verify /
 * MAC / MAC Verify with a managed key (hsm_cs_run), Hash, RNG Seed, Derive Key. docs/hsm.md
 * "Cryptographic services".
 *
 * One executor job per call: the managed key's blob is opened into a session object
 * (CKA_TOKEN false, sensitive, not extractable, only the usage the operation needs), the
 * operation runs in the HSM, and every object the job made is destroyed before it returns, on
 * the error paths too (a fault that kills the session takes its objects with it).
 *
 * Where the key's plaintext goes (SoftHSMv2 2.6.1; keywrap.c's header says why a GCM blob
 * cannot be C_UnwrapKey'd into an object):
 *  - symmetric keys and secret data (mech-1 blob): C_Decrypt into the executor's locked
 *    scratch (io->out), C_CreateObject, scratch wiped at once. An HMAC key shorter than the
 *    hash (SoftHSMv2 refuses HMAC keys below the hash length: CKR_KEY_SIZE_RANGE) is
 *    zero-padded to the hash's block size there first, and one longer than the block is
 *    hashed (C_Digest, into the same scratch): both give the same HMAC (RFC 2104 pads and
 *    hashes keys exactly so);
 *  - private keys made in the HSM (HSM_BLOB_MECH_KWP_GCM): the GCM layer opens to the KWP
 *    ciphertext, which C_UnwrapKey takes into a private key object under a session copy of
 *    the KEK (kwp.c): the plaintext never enters this process;
 *  - registered private keys (mech-1 blob of PKCS#8): the PKCS#8 passes through the scratch
 *    into a generic-secret session object (scratch wiped), is wrapped with
 *    CKM_AES_KEY_WRAP_PAD under a fresh session AES key and unwrapped from that as the
 *    private key object (no parser of private keys on our side);
 *  - public keys: their SubjectPublicKeyInfo (not secret) is parsed (der.c) and made an
 *    object.
 * Client data (plaintext, ciphertext, signatures) is not key material: it travels in the
 * executor-owned x->cs_buf (arguments + data, up to HSM_CS_DATA_MAX), never in io. Derived
 * key bytes exist only in io (locked) and are sealed under the KEK in the same job.
 *
 * RSA-OAEP with a hash other than SHA-1: SoftHSMv2 2.6.1 takes only SHA-1 / MGF1-SHA-1 in
 * CK_RSA_PKCS_OAEP_PARAMS (its C_EncryptInit / C_DecryptInit refuse the others). The module is asked first; when it
 * refuses, the RSA operation still runs in the HSM as CKM_RSA_X_509 (raw RSA) and the OAEP
 * encoding (RFC 8017 7.1) is done here around it, its hashes (lHash, MGF1) by C_Digest. The
 * private key never leaves the HSM; what passes here is the encoded message, i.e. the client's
 * plaintext. */
#include <stdlib.h>
#include <string.h>

#include "board/sec.h"
#include "hsm/hsm_int.h"

#define NONCE_N 12u
#define TAG_N 16u
#define RSA_MAX 512u      /* RSA-4096 */
#define SIG_AREA 1024u    /* largest signature or MAC we make */
#define SEED_MAX 4096u
#define PBKDF2_ITER_MAX 10000000u
#define HASH_MAX 64u
#define SCR_OFF (HSM_DEK_MAX + 64u) /* io->in: [0, SCR_OFF) derived bytes, then scratch */
_Static_assert(SCR_OFF + HSM_DEK_MAX <= HSM_IO_IN, "scratch fits io->in");

/* KMIP Object Type enumeration */
#define OT_SYMMETRIC 2u
#define OT_PUBLIC 3u
#define OT_PRIVATE 4u
#define OT_SECRET 7u

enum kneed { KN_AES = 1, KN_HMAC = 2, KN_RSA = 3, KN_EC = 4 };
enum { JOB_CS = 1, JOB_HASH = 2, JOB_DERIVE = 3 };

/* The job's arguments at the head of x->cs_buf. Every pointer in it points into cs_buf, where
 * the caller copied its data: the job touches no caller memory. */
struct cs_job {
	int what;                        /* JOB_* */
	int op;                          /* enum hsm_cs_op */
	struct hsm_cs_params p;
	int need;                        /* enum kneed */
	uint32_t obj_type;
	uint8_t bmech;
	uint32_t kv;
	const uint8_t *ct; size_t ct_n;  /* the sealed part of the key's blob */
	uint8_t nonce[NONCE_N];
	uint8_t aad[HSM_AAD_MAX]; size_t aad_n;
	const uint8_t *in; size_t in_n;
	uint8_t *out; size_t out_cap;
	enum hsm_hash hash;              /* JOB_HASH */
	struct hsm_derive_params d;      /* JOB_DERIVE */
	struct hsm_cs_params denc;
	size_t d_len;
	uint32_t seal_kv;
	bool want_digest;
	bool cache;                      /* use the session's key object cache */
	unsigned long cs_gen;            /* h->cs_gen when the call began */
	/* results */
	size_t out_n;
	uint8_t tag[16];
	bool valid;
};

/* what the job knows of the key object it made */
struct kobj {
	CK_OBJECT_HANDLE o;
	size_t mod_n;   /* RSA modulus bytes */
	size_t field;   /* EC field bytes */
};

/* ---- tables ------------------------------------------------------------------------- */

size_t hsm_hash_len(enum hsm_hash h)
{
	switch (h) {
	case HSM_HASH_SHA1: return 20;
	case HSM_HASH_SHA224: return 28;
	case HSM_HASH_SHA256: return 32;
	case HSM_HASH_SHA384: return 48;
	case HSM_HASH_SHA512: return 64;
	default: return 0;
	}
}

static size_t hash_block(enum hsm_hash h)
{
	return h == HSM_HASH_SHA384 || h == HSM_HASH_SHA512 ? 128u : 64u;
}

static CK_MECHANISM_TYPE hash_mech(enum hsm_hash h)
{
	static const CK_MECHANISM_TYPE m[] = { 0, CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384,
					       CKM_SHA512 };
	return m[h];
}

static CK_RSA_PKCS_MGF_TYPE mgf_of(enum hsm_hash h)
{
	static const CK_RSA_PKCS_MGF_TYPE m[] = { 0, CKG_MGF1_SHA1, CKG_MGF1_SHA224,
						  CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512 };
	return m[h];
}

static CK_MECHANISM_TYPE hmac_mech(enum hsm_hash h)
{
	static const CK_MECHANISM_TYPE m[] = { 0, CKM_SHA_1_HMAC, CKM_SHA224_HMAC,
					       CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC };
	return m[h];
}

static CK_MECHANISM_TYPE rsa_pkcs_mech(enum hsm_hash h)
{
	static const CK_MECHANISM_TYPE m[] = { CKM_RSA_PKCS, CKM_SHA1_RSA_PKCS,
					       CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS,
					       CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS };
	return m[h];
}

static CK_MECHANISM_TYPE pss_mech(enum hsm_hash h)
{
	static const CK_MECHANISM_TYPE m[] = { CKM_RSA_PKCS_PSS, CKM_SHA1_RSA_PKCS_PSS,
					       CKM_SHA224_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS,
					       CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS };
	return m[h];
}

/* DER DigestInfo prefix of h (RFC 8017 9.2 note 1), for a PKCS#1 v1.5 signature on a digest */
static const uint8_t *digest_info(enum hsm_hash h, size_t *n)
{
	static const uint8_t p1[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02,
				      0x1a, 0x05, 0x00, 0x04, 0x14 };
	static const uint8_t p224[] = { 0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c };
	static const uint8_t p256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
	static const uint8_t p384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
	static const uint8_t p512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };
	switch (h) {
	case HSM_HASH_SHA1: *n = sizeof p1; return p1;
	case HSM_HASH_SHA224: *n = sizeof p224; return p224;
	case HSM_HASH_SHA256: *n = sizeof p256; return p256;
	case HSM_HASH_SHA384: *n = sizeof p384; return p384;
	case HSM_HASH_SHA512: *n = sizeof p512; return p512;
	default: *n = 0; return NULL;
	}
}

static bool hash_ok(enum hsm_hash h)
{
	return hsm_hash_len(h) != 0;
}

/* a failing CK_RV inside a job: faults are recorded (the session is repaired), anything else
 * is the operation's own refusal, mapped to `other` */
static cf_err cs_fail(struct hsm_exec *x, CK_RV rv, cf_err other)
{
	if (p11_rv_fault(rv) != HSM_FAULT_NONE)
		return p11_fail(x, rv);
	switch (rv) {
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_SIZE_RANGE:
	case CKR_ARGUMENTS_BAD:
		return CF_E_HSM_MECH;
	case CKR_DATA_LEN_RANGE:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
		return CF_E_INVALID_ARG;
	case CKR_BUFFER_TOO_SMALL:
		return CF_E_HSM_OUTPUT;
	default:
		return other;
	}
}

static void obj_drop(struct hsm_exec *x, CK_OBJECT_HANDLE *o)
{
	if (*o != CK_INVALID_HANDLE)
		(void)x->h->f->C_DestroyObject(x->sh, *o);
	*o = CK_INVALID_HANDLE;
}

/* C_Digest in the HSM of up to three parts into out (hsm_hash_len(h) bytes) */
static cf_err hsm_digest3(struct hsm_exec *x, enum hsm_hash h, const uint8_t *a, size_t an,
			  const uint8_t *b, size_t bn, const uint8_t *c, size_t cn, uint8_t *out)
{
	CK_MECHANISM m = { hash_mech(h), NULL, 0 };
	CK_FUNCTION_LIST *f = x->h->f;
	CK_RV rv = f->C_DigestInit(x->sh, &m);
	if (rv == CKR_OK && an > 0)
		rv = f->C_DigestUpdate(x->sh, (CK_BYTE_PTR)a, an);
	if (rv == CKR_OK && bn > 0)
		rv = f->C_DigestUpdate(x->sh, (CK_BYTE_PTR)b, bn);
	if (rv == CKR_OK && cn > 0)
		rv = f->C_DigestUpdate(x->sh, (CK_BYTE_PTR)c, cn);
	CK_ULONG on = HASH_MAX;
	if (rv == CKR_OK)
		rv = f->C_DigestFinal(x->sh, out, &on);
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM);
	return on == hsm_hash_len(h) ? CF_OK : CF_E_HSM_OUTPUT;
}

/* ---- opening the key ---------------------------------------------------------------- */

/* the GCM layer of the blob into io->out; *n = its length */
static cf_err open_sealed(struct hsm_exec *x, struct cs_job *j, size_t *n)
{
	struct hsm_io *io = x->io;
	*n = 0;
	CK_OBJECT_HANDLE kek = hsm_job_kek_warm(x, j->kv); /* (wrap.c: the token KEK's copy) */
	if (kek == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	CK_GCM_PARAMS gp = { j->nonce, NONCE_N, NONCE_N * 8u, j->aad, j->aad_n, TAG_N * 8u };
	CK_MECHANISM m = { CKM_AES_GCM, &gp, sizeof gp };
	CK_RV rv = x->h->f->C_DecryptInit(x->sh, &m, kek);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG on = sizeof io->out;
	rv = x->h->f->C_Decrypt(x->sh, (CK_BYTE_PTR)j->ct, j->ct_n, io->out, &on);
	if (rv != CKR_OK) {
		if (p11_rv_fault(rv) == HSM_FAULT_NONE || rv == CKR_GENERAL_ERROR)
			return CF_E_HSM_UNWRAP; /* tampered, or bound to another object */
		return p11_fail(x, rv);
	}
	if (on != j->ct_n - TAG_N || on == 0) { /* untrusted length */
		sec_wipe(io->out, sizeof io->out);
		return CF_E_HSM_OUTPUT;
	}
	*n = on;
	return CF_OK;
}

/* HMAC key normalisation in io->out (see the header comment); *n updated */
static cf_err hmac_key_fit(struct hsm_exec *x, enum hsm_hash h, size_t *n)
{
	struct hsm_io *io = x->io;
	size_t b = hash_block(h), l = hsm_hash_len(h);
	if (*n > b) {
		uint8_t *d = io->in + SCR_OFF;
		TRY(hsm_digest3(x, h, io->out, *n, NULL, 0, NULL, 0, d));
		sec_wipe(io->out, *n);
		memcpy(io->out, d, l);
		sec_wipe(d, l);
		*n = l;
	}
	if (*n < l) {
		memset(io->out + *n, 0, b - *n);
		*n = b;
	}
	return CF_OK;
}

static cf_err secret_object(struct hsm_exec *x, CK_KEY_TYPE kt, CK_ATTRIBUTE_TYPE use,
			    size_t n, CK_OBJECT_HANDLE *o)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls },  { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },      { CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &t, sizeof t },  { CKA_EXTRACTABLE, &f, sizeof f },
		{ use, &t, sizeof t },            { CKA_VALUE, x->io->out, n },
	};
	*o = CK_INVALID_HANDLE;
	CK_RV rv = x->h->f->C_CreateObject(x->sh, tm, sizeof tm / sizeof tm[0], o);
	sec_wipe(x->io->out, sizeof x->io->out);
	if (rv != CKR_OK) {
		*o = CK_INVALID_HANDLE;
		if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)
			return CF_E_HSM_MECH; /* e.g. an AES key of a length AES does not have */
		return cs_fail(x, rv, CF_E_HSM);
	}
	return *o == CK_INVALID_HANDLE ? CF_E_HSM_OUTPUT : CF_OK;
}

/* mech-1 PKCS#8 in io->out[n] -> the wrap source: generic secret object g (scratch wiped),
 * then KWP under a fresh session AES key w into io->in + SCR_OFF */
static cf_err pkcs8_to_kwp(struct hsm_exec *x, size_t n, CK_OBJECT_HANDLE *w, size_t *wn)
{
	CK_FUNCTION_LIST *f = x->h->f;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET, ak = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE gt[] = {
		{ CKA_CLASS, &cls, sizeof cls },  { CKA_KEY_TYPE, &gk, sizeof gk },
		{ CKA_TOKEN, &fl, sizeof fl },    { CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &t, sizeof t },  { CKA_EXTRACTABLE, &t, sizeof t },
		{ CKA_VALUE, x->io->out, n },
	};
	CK_ATTRIBUTE at[] = {
		{ CKA_CLASS, &cls, sizeof cls },  { CKA_KEY_TYPE, &ak, sizeof ak },
		{ CKA_TOKEN, &fl, sizeof fl },    { CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &t, sizeof t },  { CKA_EXTRACTABLE, &fl, sizeof fl },
		{ CKA_VALUE_LEN, &len, sizeof len }, { CKA_WRAP, &t, sizeof t },
		{ CKA_UNWRAP, &t, sizeof t },
	};
	CK_OBJECT_HANDLE g = CK_INVALID_HANDLE;
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 }, kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	*w = CK_INVALID_HANDLE;
	*wn = 0;
	CK_RV rv = f->C_CreateObject(x->sh, gt, sizeof gt / sizeof gt[0], &g);
	sec_wipe(x->io->out, sizeof x->io->out);
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM_MECH);
	rv = f->C_GenerateKey(x->sh, &gen, at, sizeof at / sizeof at[0], w);
	if (rv != CKR_OK) {
		*w = CK_INVALID_HANDLE;
		obj_drop(x, &g);
		return cs_fail(x, rv, CF_E_HSM_MECH);
	}
	CK_ULONG on = HSM_DEK_MAX;
	rv = f->C_WrapKey(x->sh, &kwp, *w, g, x->io->in + SCR_OFF, &on);
	obj_drop(x, &g);
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM_MECH);
	if (on < 16u || on % 8u != 0 || on > HSM_DEK_MAX)
		return CF_E_HSM_OUTPUT;
	*wn = on;
	return CF_OK;
}

/* A wrap-capable session copy of KEK kv, as hsm_kwp_kek (kwp.c) makes, but copied from the
 * executor's warm copy of the KEK (wrap.c) when there is one: SoftHSMv2 re-reads a token object
 * on every use, a session object it has in memory. Destroyed by the caller (obj_drop). */
static cf_err kwp_kek_warm(struct hsm_exec *x, uint32_t kv, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE src = hsm_job_kek_warm(x, kv);
	if (src == CK_INVALID_HANDLE || src == hsm_kek_handle(x->h, kv))
		return hsm_kwp_kek(x, kv, out); /* no warm copy: from the token object */
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = { { CKA_TOKEN, &f, 1 }, { CKA_WRAP, &t, 1 }, { CKA_UNWRAP, &t, 1 } };
	*out = CK_INVALID_HANDLE;
	CK_RV rv = x->h->f->C_CopyObject(x->sh, src, tm, 3, out);
	if (rv != CKR_OK) {
		*out = CK_INVALID_HANDLE;
		if (p11_rv_fault(rv) != HSM_FAULT_NONE)
			return p11_fail(x, rv);
		return hsm_kwp_kek(x, kv, out);
	}
	return *out == CK_INVALID_HANDLE ? CF_E_HSM_OUTPUT : CF_OK;
}

static cf_err open_private(struct hsm_exec *x, struct cs_job *j, size_t n,
			   CK_ATTRIBUTE_TYPE use, struct kobj *k)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = j->need == KN_RSA ? CKK_RSA : CKK_EC;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls },  { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },      { CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &t, sizeof t },  { CKA_EXTRACTABLE, &f, sizeof f },
		{ use, &t, sizeof t },
	};
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE w = CK_INVALID_HANDLE;
	const uint8_t *src;
	size_t sn;
	cf_err rc;

	if (j->bmech == HSM_BLOB_MECH_KWP_GCM) {
		rc = kwp_kek_warm(x, j->kv, &w);
		src = io->out; /* the KWP ciphertext: not plaintext */
		sn = n;
	} else {
		int kind = der_pkcs8_kind(io->out, n);
		if (kind != (j->need == KN_RSA ? DER_PUB_RSA : DER_PUB_EC)) {
			sec_wipe(io->out, sizeof io->out);
			return CF_E_HSM_MECH;
		}
		rc = pkcs8_to_kwp(x, n, &w, &sn);
		src = io->in + SCR_OFF;
	}
	if (rc == CF_OK) {
		CK_RV rv = x->h->f->C_UnwrapKey(x->sh, &kwp, w, (CK_BYTE_PTR)src, sn, tm,
						sizeof tm / sizeof tm[0], &k->o);
		if (rv != CKR_OK) {
			k->o = CK_INVALID_HANDLE;
			/* the GCM layer was authentic: a refusal here is a key of another type */
			rc = p11_rv_fault(rv) != HSM_FAULT_NONE ? p11_fail(x, rv) : CF_E_HSM_MECH;
		} else if (k->o == CK_INVALID_HANDLE) {
			rc = CF_E_HSM_OUTPUT;
		}
	}
	obj_drop(x, &w);
	sec_wipe(io->in + SCR_OFF, HSM_DEK_MAX);
	sec_wipe(io->out, sizeof io->out);
	if (rc != CF_OK)
		return rc;
	uint8_t buf[RSA_MAX];
	size_t bn = 0;
	if (j->need == KN_RSA) {
		TRY(p11_get_bytes(x, k->o, CKA_MODULUS, buf, sizeof buf, &bn));
		while (bn > 0 && buf[0] == 0 && (memmove(buf, buf + 1, --bn), true))
			;
		k->mod_n = bn;
		return bn >= 128u ? CF_OK : CF_E_HSM_MECH;
	}
	TRY(p11_get_bytes(x, k->o, CKA_EC_PARAMS, buf, sizeof buf, &bn));
	k->field = der_ec_field_bytes(buf, bn);
	return k->field != 0 ? CF_OK : CF_E_HSM_MECH;
}

static cf_err open_public(struct hsm_exec *x, struct cs_job *j, size_t n, CK_ATTRIBUTE_TYPE use,
			  struct kobj *k)
{
	struct der_pub pub;
	cf_err rc = der_spki_parse(x->io->out, n, &pub);
	if (rc == CF_E_INVALID_ARG)
		rc = CF_E_HSM_BLOB; /* the blob was authentic: not a key we can use */
	if (rc == CF_OK && pub.kind != (j->need == KN_RSA ? DER_PUB_RSA : DER_PUB_EC))
		rc = CF_E_HSM_MECH;
	if (rc != CF_OK)
		return rc;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = pub.kind == DER_PUB_RSA ? CKK_RSA : CKK_EC;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	uint8_t pt[4 + 2 * 66];
	CK_ATTRIBUTE tm[6] = {
		{ CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },     { use, &t, sizeof t },
	};
	if (pub.kind == DER_PUB_RSA) {
		tm[4] = (CK_ATTRIBUTE){ CKA_MODULUS, (void *)pub.mod, pub.mod_n };
		tm[5] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)pub.e, pub.e_n };
		k->mod_n = pub.mod_n;
	} else {
		pt[0] = 0x04; /* CKA_EC_POINT: DER OCTET STRING of the point (< 128 bytes) */
		pt[1] = (uint8_t)pub.point_n;
		memcpy(pt + 2, pub.point, pub.point_n);
		tm[4] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)pub.params, pub.params_n };
		tm[5] = (CK_ATTRIBUTE){ CKA_EC_POINT, pt, pub.point_n + 2u };
		k->field = pub.field;
	}
	CK_RV rv = x->h->f->C_CreateObject(x->sh, tm, 6, &k->o);
	if (rv != CKR_OK) {
		k->o = CK_INVALID_HANDLE;
		if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)
			return CF_E_HSM_MECH;
		return cs_fail(x, rv, CF_E_HSM);
	}
	return k->o == CK_INVALID_HANDLE ? CF_E_HSM_OUTPUT : CF_OK;
}

/* The managed key as a session object with usage `use`. */
static cf_err key_open(struct hsm_exec *x, struct cs_job *j, CK_ATTRIBUTE_TYPE use,
		       enum hsm_hash hmac_hash, struct kobj *k)
{
	size_t n = 0;
	memset(k, 0, sizeof *k);
	k->o = CK_INVALID_HANDLE;
	TRY(open_sealed(x, j, &n));
	cf_err rc;
	switch (j->obj_type) {
	case OT_PRIVATE:
		return open_private(x, j, n, use, k);
	case OT_PUBLIC:
		rc = open_public(x, j, n, use, k);
		break;
	default: /* symmetric key, secret data */
		if (j->need == KN_HMAC)
			rc = hmac_key_fit(x, hmac_hash, &n);
		else
			rc = CF_OK;
		if (rc == CF_OK)
			return secret_object(x, j->need == KN_AES ? CKK_AES : CKK_GENERIC_SECRET,
					     use, n, &k->o);
		break;
	}
	sec_wipe(x->io->out, sizeof x->io->out);
	return rc;
}

/* ---- the key object cache (hsm.h HSM_CS_CACHE_MAX) ------------------------------------
 * Per executor (x->csc), so per pool session: its objects live in x->sh and only x's jobs
 * make, use or destroy them. An entry's id is a copy of everything that decides what object
 * key_open makes: the kind needed, the object type, the usage, the HMAC hash (an HMAC key is
 * normalised for its hash), the AAD (the blob header and the binding), the nonce and the
 * sealed part with its tag, i.e. the whole blob. A hit is an exact match of all of it. A KEK
 * rotation re-wraps blobs under new bytes: a miss. The ids are ciphertext and names, not key
 * material. (A SHA-256 of the same by the module cost ~10 us a call, half of a hit's time.) */

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void cache_destroy(struct hsm_exec *x, struct hsm_cs_ent *e, cf_err *rc)
{
	CK_RV rv = x->h->f->C_DestroyObject(x->sh, e->o);
	/* a fault: the session is repaired (reopened), which takes the object with it */
	if (rv != CKR_OK && p11_rv_fault(rv) != HSM_FAULT_NONE && *rc == CF_OK)
		*rc = p11_fail(x, rv);
	e->o = CK_INVALID_HANDLE;
	free(e->id);
	e->id = NULL;
}

/* Destroy the entries condemned by a new generation (or all when drop_all) or by age. */
static cf_err cache_maint(struct hsm_exec *x, unsigned long gen, bool drop_all)
{
	struct hsm_cs_cache *c = &x->csc;
	unsigned idle = x->h->cfg.cs_cache_idle_ms ? x->h->cfg.cs_cache_idle_ms
						    : HSM_CS_CACHE_IDLE_MS;
	bool all = drop_all || gen != c->seen_gen;
	uint64_t now = mono_ms();
	cf_err rc = CF_OK;
	unsigned w = 0;
	c->seen_gen = gen;
	for (unsigned i = 0; i < c->n; i++) {
		if (all || now - c->ent[i].used_ms > idle)
			cache_destroy(x, &c->ent[i], &rc);
		else
			c->ent[w++] = c->ent[i];
	}
	c->n = w;
	return rc;
}

/* the scalar head of an id */
static void cache_pre(const struct cs_job *j, CK_ATTRIBUTE_TYPE use, enum hsm_hash hmac_hash,
		      uint8_t pre[16])
{
	be32(pre, (uint32_t)j->need);
	be32(pre + 4, j->obj_type);
	be32(pre + 8, (uint32_t)use);
	be32(pre + 12, j->need == KN_HMAC ? (uint32_t)hmac_hash : 0u);
}

static size_t cache_id_len(const struct cs_job *j)
{
	return 16u + j->aad_n + NONCE_N + j->ct_n;
}

static bool cache_match(const struct hsm_cs_ent *e, const struct cs_job *j, const uint8_t pre[16])
{
	const uint8_t *p = e->id;
	return e->id_n == cache_id_len(j) && memcmp(p, pre, 16) == 0 &&
	       memcmp(p + 16, j->aad, j->aad_n) == 0 &&
	       memcmp(p + 16 + j->aad_n, j->nonce, NONCE_N) == 0 &&
	       memcmp(p + 16 + j->aad_n + NONCE_N, j->ct, j->ct_n) == 0;
}

/* key_open through the cache: *kept = the object belongs to the cache (not to be dropped) */
static cf_err key_get(struct hsm_exec *x, struct cs_job *j, CK_ATTRIBUTE_TYPE use,
		      enum hsm_hash hmac_hash, struct kobj *k, bool *kept)
{
	struct hsm_cs_cache *c = &x->csc;
	uint8_t pre[16];
	*kept = false;
	if (!j->cache)
		return key_open(x, j, use, hmac_hash, k);
	TRY(cache_maint(x, j->cs_gen, false));
	cache_pre(j, use, hmac_hash, pre);
	for (unsigned i = 0; i < c->n; i++) {
		struct hsm_cs_ent *e = &c->ent[i];
		if (cache_match(e, j, pre)) {
			*k = (struct kobj){ e->o, e->mod_n, e->field };
			e->used_ms = mono_ms();
			e->used_seq = ++c->seq;
			*kept = true;
			return CF_OK;
		}
	}
	TRY(key_open(x, j, use, hmac_hash, k));
	size_t idn = cache_id_len(j);
	uint8_t *id = malloc(idn);
	if (id == NULL)
		return CF_OK; /* not cached: the caller destroys it */
	memcpy(id, pre, 16);
	memcpy(id + 16, j->aad, j->aad_n);
	memcpy(id + 16 + j->aad_n, j->nonce, NONCE_N);
	memcpy(id + 16 + j->aad_n + NONCE_N, j->ct, j->ct_n);
	unsigned slot = c->n;
	cf_err rc = CF_OK;
	if (slot == HSM_CS_CACHE_MAX) { /* full: the least recently used one goes */
		slot = 0;
		for (unsigned i = 1; i < c->n; i++)
			if (c->ent[i].used_seq < c->ent[slot].used_seq)
				slot = i;
		cache_destroy(x, &c->ent[slot], &rc);
		if (rc != CF_OK) { /* the session is to be reopened: do not keep the new one */
			c->ent[slot] = c->ent[--c->n];
			free(id);
			return CF_OK;
		}
	} else {
		c->n++;
	}
	c->ent[slot] = (struct hsm_cs_ent){ .id = id, .id_n = idn, .o = k->o, .mod_n = k->mod_n,
					    .field = k->field, .used_ms = mono_ms(),
					    .used_seq = ++c->seq };
	*kept = true;
	return CF_OK;
}

/* the sweep job: x->csc.want_gen / drop_all staged by its caller */
static cf_err job_cs_sweep(struct hsm_exec *x)
{
	return cache_maint(x, x->csc.want_gen, x->csc.drop_all);
}

/* ---- the operations ----------------------------------------------------------------- */

static CK_ATTRIBUTE_TYPE op_usage(enum hsm_cs_op op)
{
	switch (op) {
	case HSM_CS_ENCRYPT: return CKA_ENCRYPT;
	case HSM_CS_DECRYPT: return CKA_DECRYPT;
	case HSM_CS_SIGN:
	case HSM_CS_MAC: return CKA_SIGN;
	default: return CKA_VERIFY;
	}
}

/* the AES / RSA cipher mechanisms with their parameters (kept in *pv) */
union mparams {
	CK_GCM_PARAMS gcm;
	CK_AES_CTR_PARAMS ctr;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_RSA_PKCS_PSS_PARAMS pss;
};

static void cipher_mech(const struct hsm_cs_params *p, CK_MECHANISM *m, union mparams *pv)
{
	*m = (CK_MECHANISM){ 0, NULL, 0 };
	switch (p->mech) {
	case HSM_CS_AES_GCM:
		pv->gcm = (CK_GCM_PARAMS){ (CK_BYTE_PTR)p->iv, p->iv_n, p->iv_n * 8u,
					   (CK_BYTE_PTR)p->aad, p->aad_n, p->tag_n * 8u };
		*m = (CK_MECHANISM){ CKM_AES_GCM, &pv->gcm, sizeof pv->gcm };
		break;
	case HSM_CS_AES_CBC:
	case HSM_CS_AES_CBC_PAD:
		*m = (CK_MECHANISM){ p->mech == HSM_CS_AES_CBC ? CKM_AES_CBC : CKM_AES_CBC_PAD,
				     (void *)p->iv, 16 };
		break;
	case HSM_CS_AES_CTR:
		pv->ctr.ulCounterBits = p->ctr_bits == 0 ? 128u : p->ctr_bits;
		memcpy(pv->ctr.cb, p->iv, 16);
		*m = (CK_MECHANISM){ CKM_AES_CTR, &pv->ctr, sizeof pv->ctr };
		break;
	case HSM_CS_AES_ECB:
	case HSM_CS_AES_ECB_PAD:
		m->mechanism = CKM_AES_ECB;
		break;
	case HSM_CS_RSA_OAEP:
		pv->oaep = (CK_RSA_PKCS_OAEP_PARAMS){ hash_mech(p->hash), mgf_of(p->mgf_hash),
						      CKZ_DATA_SPECIFIED, (void *)p->label,
						      p->label_n };
		*m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &pv->oaep, sizeof pv->oaep };
		break;
	default: /* HSM_CS_RSA_PKCS1 */
		m->mechanism = CKM_RSA_PKCS;
		break;
	}
}

/* MGF1 (RFC 8017 B.2.1) with C_Digest: mask[n] ^= MGF1(seed[sn]) */
static cf_err mgf1_xor(struct hsm_exec *x, enum hsm_hash h, const uint8_t *seed, size_t sn,
		       uint8_t *mask, size_t n)
{
	uint8_t d[HASH_MAX], c[4];
	size_t hl = hsm_hash_len(h);
	for (uint32_t i = 0; (size_t)i * hl < n; i++) {
		c[0] = (uint8_t)(i >> 24);
		c[1] = (uint8_t)(i >> 16);
		c[2] = (uint8_t)(i >> 8);
		c[3] = (uint8_t)i;
		TRY(hsm_digest3(x, h, seed, sn, c, 4, NULL, 0, d));
		for (size_t k = 0; k < hl && (size_t)i * hl + k < n; k++)
			mask[(size_t)i * hl + k] ^= d[k];
	}
	return CF_OK;
}

/* RSA-OAEP around CKM_RSA_X_509 (the module lacks the hash): RFC 8017 7.1.1 / 7.1.2 */
static cf_err oaep_raw(struct hsm_exec *x, struct cs_job *j, const struct kobj *k)
{
	const struct hsm_cs_params *p = &j->p;
	enum hsm_hash h = p->hash, mh = p->mgf_hash;
	size_t hl = hsm_hash_len(h), kn = k->mod_n;
	uint8_t em[RSA_MAX], lh[HASH_MAX];
	CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
	CK_FUNCTION_LIST *f = x->h->f;
	cf_err rc = CF_OK;
	if (kn > RSA_MAX || kn < 2u * hl + 2u)
		return CF_E_HSM_MECH;
	TRY(hsm_digest3(x, h, p->label, p->label_n, NULL, 0, NULL, 0, lh));
	uint8_t *seed = em + 1, *db = em + 1 + hl;
	size_t dbn = kn - hl - 1u;
	if (j->op == HSM_CS_ENCRYPT) {
		if (j->in_n > kn - 2u * hl - 2u)
			return CF_E_INVALID_ARG;
		memset(em, 0, kn);
		memcpy(db, lh, hl);
		db[dbn - j->in_n - 1u] = 0x01;
		memcpy(db + dbn - j->in_n, j->in, j->in_n);
		CK_RV rv = f->C_GenerateRandom(x->sh, seed, hl);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
		if ((rc = mgf1_xor(x, mh, seed, hl, db, dbn)) == CF_OK)
			rc = mgf1_xor(x, mh, db, dbn, seed, hl);
		CK_ULONG on = j->out_cap;
		if (rc == CF_OK && (rv = f->C_EncryptInit(x->sh, &m, k->o)) == CKR_OK)
			rv = f->C_Encrypt(x->sh, em, kn, j->out, &on);
		if (rc == CF_OK && rv != CKR_OK)
			rc = cs_fail(x, rv, CF_E_HSM);
		if (rc == CF_OK && on != kn)
			rc = CF_E_HSM_OUTPUT;
		j->out_n = rc == CF_OK ? on : 0;
		sec_wipe(em, sizeof em);
		return rc;
	}
	if (j->in_n != kn)
		return CF_E_INVALID_ARG;
	CK_ULONG on = kn;
	CK_RV rv = f->C_DecryptInit(x->sh, &m, k->o);
	if (rv == CKR_OK)
		rv = f->C_Decrypt(x->sh, (CK_BYTE_PTR)j->in, j->in_n, em, &on);
	if (rv != CKR_OK)
		return rv == CKR_GENERAL_ERROR ? CF_E_HSM_CRYPTO : cs_fail(x, rv, CF_E_HSM_CRYPTO);
	if (on > kn)
		return CF_E_HSM_OUTPUT;
	if (on < kn) { /* leading zero bytes dropped by the module */
		memmove(em + (kn - on), em, on);
		memset(em, 0, kn - on);
	}
	if ((rc = mgf1_xor(x, mh, db, dbn, seed, hl)) == CF_OK)
		rc = mgf1_xor(x, mh, seed, hl, db, dbn);
	if (rc != CF_OK) {
		sec_wipe(em, sizeof em);
		return rc;
	}
	/* constant time over the encoded message: one verdict, no early exit */
	unsigned bad = em[0];
	bad |= ct_memeq(db, lh, hl) ? 0u : 1u;
	size_t idx = 0;
	unsigned found = 0;
	for (size_t i = hl; i < dbn; i++) {
		unsigned is1 = (unsigned)(db[i] == 0x01), is0 = (unsigned)(db[i] == 0x00);
		unsigned first = is1 & (found ^ 1u);
		idx = first ? i : idx;
		bad |= (found ^ 1u) & (is0 ^ 1u) & (is1 ^ 1u); /* a non-zero before the 0x01 */
		found |= is1;
	}
	bad |= found ^ 1u;
	if (bad != 0) {
		sec_wipe(em, sizeof em);
		return CF_E_HSM_CRYPTO;
	}
	size_t mn = dbn - idx - 1u;
	if (mn > j->out_cap) {
		sec_wipe(em, sizeof em);
		return CF_E_HSM_OUTPUT;
	}
	memcpy(j->out, db + idx + 1u, mn);
	j->out_n = mn;
	sec_wipe(em, sizeof em);
	return CF_OK;
}

/* PKCS#5 padding check of the ECB_PAD plaintext in j->out[j->out_n], then cut */
static cf_err pad_strip(struct cs_job *j)
{
	if (j->out_n < 16u || j->out_n % 16u != 0)
		return CF_E_HSM_CRYPTO;
	uint8_t pn = j->out[j->out_n - 1u];
	unsigned bad = (unsigned)(pn == 0) | (unsigned)(pn > 16u);
	for (size_t i = 0; i < 16u; i++)
		bad |= (unsigned)(i < pn && j->out[j->out_n - 1u - i] != pn);
	if (bad != 0)
		return CF_E_HSM_CRYPTO;
	j->out_n -= pn;
	return CF_OK;
}

static cf_err do_cipher(struct hsm_exec *x, struct cs_job *j, const struct kobj *k)
{
	const struct hsm_cs_params *p = &j->p;
	CK_FUNCTION_LIST *f = x->h->f;
	CK_MECHANISM m;
	union mparams pv;
	bool enc = j->op == HSM_CS_ENCRYPT;
	cipher_mech(p, &m, &pv);
	CK_RV rv = enc ? f->C_EncryptInit(x->sh, &m, k->o) : f->C_DecryptInit(x->sh, &m, k->o);
	if (rv != CKR_OK && p->mech == HSM_CS_RSA_OAEP && p11_rv_fault(rv) == HSM_FAULT_NONE &&
	    (p->hash != HSM_HASH_SHA1 || p->mgf_hash != HSM_HASH_SHA1))
		return oaep_raw(x, j, k); /* the module's OAEP takes only SHA-1 */
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM_MECH);
	CK_ULONG on = j->out_cap;
	if (enc)
		rv = f->C_Encrypt(x->sh, (CK_BYTE_PTR)j->in, j->in_n, j->out, &on);
	else
		rv = f->C_Decrypt(x->sh, (CK_BYTE_PTR)j->in, j->in_n, j->out, &on);
	if (rv != CKR_OK) {
		/* SoftHSMv2 answers a GCM tag mismatch, bad CBC padding and a failed RSA decoding
		 * with CKR_GENERAL_ERROR: for a decryption that is the data's fault, not the
		 * device's (as wrap.c treats a blob's tag) */
		if (!enc && rv == CKR_GENERAL_ERROR)
			return CF_E_HSM_CRYPTO;
		cf_err rc = cs_fail(x, rv, enc ? CF_E_HSM : CF_E_HSM_CRYPTO);
		return !enc && rc == CF_E_INVALID_ARG && p->mech == HSM_CS_AES_CBC_PAD
			       ? CF_E_HSM_CRYPTO : rc;
	}
	if (on > j->out_cap)
		return CF_E_HSM_OUTPUT; /* untrusted length */
	j->out_n = on;
	if (p->mech == HSM_CS_AES_GCM && enc) {
		if (on != j->in_n + p->tag_n)
			return CF_E_HSM_OUTPUT;
		j->out_n = j->in_n;
		memcpy(j->tag, j->out + j->in_n, p->tag_n);
	}
	if (p->mech == HSM_CS_AES_ECB_PAD && !enc)
		return pad_strip(j);
	if ((p->mech == HSM_CS_RSA_OAEP || p->mech == HSM_CS_RSA_PKCS1) && enc && on != k->mod_n)
		return CF_E_HSM_OUTPUT;
	return CF_OK;
}

/* sign / verify / mac / mac verify */
static cf_err do_sign(struct hsm_exec *x, struct cs_job *j, const struct kobj *k)
{
	const struct hsm_cs_params *p = &j->p;
	CK_FUNCTION_LIST *f = x->h->f;
	bool sign = j->op == HSM_CS_SIGN || j->op == HSM_CS_MAC;
	size_t hl = hsm_hash_len(p->hash);
	const uint8_t *msg = j->in;
	size_t msg_n = j->in_n, want = 0;
	uint8_t buf[32 + HASH_MAX], rs[2 * 66];
	union mparams pv;
	CK_MECHANISM m = { 0, NULL, 0 };

	switch (p->mech) {
	case HSM_CS_HMAC:
		m.mechanism = hmac_mech(p->hash);
		want = hl;
		break;
	case HSM_CS_CMAC:
		m.mechanism = CKM_AES_CMAC;
		want = 16;
		break;
	case HSM_CS_RSA_PKCS1:
		m.mechanism = rsa_pkcs_mech(p->hash);
		if (p->prehashed && hl != 0) {
			size_t pn = 0;
			const uint8_t *pre = digest_info(p->hash, &pn);
			memcpy(buf, pre, pn);
			memcpy(buf + pn, j->in, hl);
			msg = buf;
			msg_n = pn + hl;
			m.mechanism = CKM_RSA_PKCS;
		}
		want = k->mod_n;
		break;
	case HSM_CS_RSA_PSS:
		pv.pss = (CK_RSA_PKCS_PSS_PARAMS){ hash_mech(p->hash), mgf_of(p->mgf_hash),
						   p->has_salt ? p->salt_n : hl };
		m = (CK_MECHANISM){ p->prehashed ? CKM_RSA_PKCS_PSS : pss_mech(p->hash), &pv.pss,
				    sizeof pv.pss };
		want = k->mod_n;
		break;
	default: /* ECDSA: the digest by the HSM unless given */
		m.mechanism = CKM_ECDSA;
		if (!p->prehashed && hl != 0) {
			TRY(hsm_digest3(x, p->hash, j->in, j->in_n, NULL, 0, NULL, 0, buf));
			msg = buf;
			msg_n = hl;
		}
		want = 2u * k->field;
		break;
	}
	CK_RV rv = sign ? f->C_SignInit(x->sh, &m, k->o) : f->C_VerifyInit(x->sh, &m, k->o);
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM_MECH);
	if (sign) {
		uint8_t *dst = p->mech == HSM_CS_ECDSA ? rs : j->out;
		CK_ULONG on = p->mech == HSM_CS_ECDSA ? sizeof rs : j->out_cap;
		rv = f->C_Sign(x->sh, (CK_BYTE_PTR)msg, msg_n, dst, &on);
		if (rv != CKR_OK)
			return cs_fail(x, rv, CF_E_HSM);
		if (on != want)
			return CF_E_HSM_OUTPUT; /* untrusted length */
		if (p->mech != HSM_CS_ECDSA) {
			j->out_n = on;
			return CF_OK;
		}
		return hsm_ecdsa_sig_to_der(rs, on, j->out, j->out_cap, &j->out_n);
	}
	const uint8_t *chk = p->check;
	size_t chk_n = p->check_n;
	if (p->mech == HSM_CS_ECDSA) {
		if (der_ecdsa_sig_parse(p->check, p->check_n, k->field, rs) != CF_OK) {
			j->valid = false; /* not a signature at all: wrong, not an error */
			(void)f->C_Verify(x->sh, (CK_BYTE_PTR)msg, msg_n, rs, 0); /* end the op */
			return CF_OK;
		}
		chk = rs;
		chk_n = want;
	}
	rv = f->C_Verify(x->sh, (CK_BYTE_PTR)msg, msg_n, (CK_BYTE_PTR)chk, chk_n);
	if (rv == CKR_OK) {
		j->valid = true;
		return CF_OK;
	}
	if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
		j->valid = false;
		return CF_OK;
	}
	return cs_fail(x, rv, CF_E_HSM);
}

static cf_err job_cs(struct hsm_exec *x)
{
	struct cs_job *j = (struct cs_job *)x->cs_buf;
	if (j == NULL)
		return CF_E_INTERNAL; /* a new executor: its caller's data is gone */
	struct kobj k;
	bool kept = false;
	j->out_n = 0;
	j->valid = false;
	cf_err rc = key_get(x, j, op_usage((enum hsm_cs_op)j->op), j->p.hash, &k, &kept);
	if (rc == CF_OK) {
		if (j->op == HSM_CS_ENCRYPT || j->op == HSM_CS_DECRYPT)
			rc = do_cipher(x, j, &k);
		else
			rc = do_sign(x, j, &k);
	}
	if (!kept)
		obj_drop(x, &k.o);
	if (rc != CF_OK)
		j->out_n = 0;
	return rc;
}

static cf_err job_hash(struct hsm_exec *x)
{
	struct cs_job *j = (struct cs_job *)x->cs_buf;
	if (j == NULL)
		return CF_E_INTERNAL;
	CK_MECHANISM m = { hash_mech(j->hash), NULL, 0 };
	CK_RV rv = x->h->f->C_DigestInit(x->sh, &m);
	CK_ULONG on = j->out_cap;
	if (rv == CKR_OK)
		rv = x->h->f->C_Digest(x->sh, (CK_BYTE_PTR)j->in, j->in_n, j->out, &on);
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM);
	if (on != hsm_hash_len(j->hash))
		return CF_E_HSM_OUTPUT;
	j->out_n = on;
	return CF_OK;
}

static cf_err job_seed(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_RV rv = x->h->f->C_SeedRandom(x->sh, io->in, io->in_n);
	io->ul[0] = rv == CKR_OK ? io->in_n : 0;
	if (rv == CKR_OK || rv == CKR_RANDOM_SEED_NOT_SUPPORTED || rv == CKR_RANDOM_NO_RNG)
		return CF_OK;
	return cs_fail(x, rv, CF_E_HSM);
}

/* ---- derivation (in the same job: the derived bytes in io->in, then sealed) ------------- */

/* one HMAC of the parts a, b with the base key into out (hl bytes) */
static cf_err prf(struct hsm_exec *x, CK_OBJECT_HANDLE key, enum hsm_hash h, const uint8_t *a,
		  size_t an, const uint8_t *b, size_t bn, uint8_t *out)
{
	CK_MECHANISM m = { hmac_mech(h), NULL, 0 };
	CK_FUNCTION_LIST *f = x->h->f;
	CK_ULONG on = HASH_MAX;
	if (a == NULL)
		a = (const uint8_t *)""; /* no data: a valid pointer all the same */
	CK_RV rv = f->C_SignInit(x->sh, &m, key);
	if (rv == CKR_OK && bn == 0)
		rv = f->C_Sign(x->sh, (CK_BYTE_PTR)a, an, out, &on);
	else if (rv == CKR_OK) {
		rv = f->C_SignUpdate(x->sh, (CK_BYTE_PTR)a, an);
		if (rv == CKR_OK)
			rv = f->C_SignUpdate(x->sh, (CK_BYTE_PTR)b, bn);
		if (rv == CKR_OK)
			rv = f->C_SignFinal(x->sh, out, &on);
	}
	if (rv != CKR_OK)
		return cs_fail(x, rv, CF_E_HSM);
	return on == hsm_hash_len(h) ? CF_OK : CF_E_HSM_OUTPUT;
}

static cf_err derive_bytes(struct hsm_exec *x, struct cs_job *j, CK_OBJECT_HANDLE key)
{
	struct hsm_io *io = x->io;
	const struct hsm_derive_params *d = &j->d;
	size_t hl = hsm_hash_len(d->hash), L = j->d_len;
	uint8_t *u = io->out, *t = io->out + HASH_MAX, *v = io->out + 2u * HASH_MAX, c[4];
	switch (d->method) {
	case HSM_DERIVE_HMAC:
		TRY(prf(x, key, d->hash, d->data, d->data_n, NULL, 0, u));
		memcpy(io->in, u, L);
		return CF_OK;
	case HSM_DERIVE_SP800_108:
		for (uint32_t i = 1; (size_t)(i - 1u) * hl < L; i++) {
			be32(c, i);
			TRY(prf(x, key, d->hash, c, 4, d->data, d->data_n, u));
			size_t off = (size_t)(i - 1u) * hl, cn = L - off < hl ? L - off : hl;
			memcpy(io->in + off, u, cn);
		}
		return CF_OK;
	case HSM_DERIVE_PBKDF2:
		for (uint32_t i = 1; (size_t)(i - 1u) * hl < L; i++) {
			be32(c, i);
			TRY(prf(x, key, d->hash, d->salt, d->salt_n, c, 4, u));
			memcpy(t, u, hl);
			for (uint32_t it = 1; it < d->iterations; it++) {
				TRY(prf(x, key, d->hash, u, hl, NULL, 0, v));
				for (size_t b = 0; b < hl; b++) {
					u[b] = v[b];
					t[b] ^= v[b];
				}
			}
			size_t off = (size_t)(i - 1u) * hl, cn = L - off < hl ? L - off : hl;
			memcpy(io->in + off, t, cn);
		}
		return CF_OK;
	default: { /* ENCRYPT */
		CK_MECHANISM m;
		union mparams pv;
		cipher_mech(&j->denc, &m, &pv);
		CK_RV rv = x->h->f->C_EncryptInit(x->sh, &m, key);
		CK_ULONG on = sizeof io->out;
		if (rv == CKR_OK)
			rv = x->h->f->C_Encrypt(x->sh, (CK_BYTE_PTR)d->data, d->data_n, io->out, &on);
		if (rv != CKR_OK)
			return cs_fail(x, rv, CF_E_HSM);
		if (on > sizeof io->out)
			return CF_E_HSM_OUTPUT;
		if (on < L)
			return CF_E_INVALID_ARG; /* less ciphertext than the key asked for */
		memcpy(io->in, io->out, L);
		return CF_OK;
	}
	}
}

static cf_err job_derive(struct hsm_exec *x)
{
	struct cs_job *j = (struct cs_job *)x->cs_buf;
	struct hsm_io *io = x->io;
	if (j == NULL)
		return CF_E_INTERNAL;
	struct kobj k;
	bool kept = false;
	io->out_n = 0;
	bool enc = j->d.method == HSM_DERIVE_ENCRYPT;
	cf_err rc = key_get(x, j, enc ? CKA_ENCRYPT : CKA_SIGN, j->d.hash, &k, &kept);
	if (rc == CF_OK)
		rc = derive_bytes(x, j, k.o);
	if (!kept)
		obj_drop(x, &k.o);
	sec_wipe(io->out, sizeof io->out);
	io->in_n = j->d_len;
	if (rc == CF_OK && j->want_digest) {
		CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
		CK_RV rv = x->h->f->C_DigestInit(x->sh, &m);
		CK_ULONG dn = sizeof io->digest;
		if (rv == CKR_OK)
			rv = x->h->f->C_Digest(x->sh, io->in, io->in_n, io->digest, &dn);
		if (rv != CKR_OK)
			rc = p11_fail(x, rv);
		else if (dn != sizeof io->digest)
			rc = CF_E_HSM_OUTPUT;
	}
	if (rc == CF_OK) { /* seal under the current KEK: io->aad was staged by the caller */
		io->key = hsm_job_kek_warm(x, j->seal_kv);
		if (io->key == CK_INVALID_HANDLE) {
			rc = CF_E_HSM_NOT_FOUND;
		} else {
			CK_RV rv = x->h->f->C_GenerateRandom(x->sh, io->nonce, NONCE_N);
			rc = rv == CKR_OK ? hsm_job_gcm_encrypt(x) : p11_fail(x, rv);
		}
	}
	sec_wipe(io->in, sizeof io->in);
	io->in_n = 0;
	if (rc != CF_OK) {
		sec_wipe(io->out, sizeof io->out);
		io->out_n = 0;
	}
	return rc;
}

/* ---- the caller's side ----------------------------------------------------------------- */

/* bump allocator over x->cs_buf: the caller asked cs_grow for the sum of what it takes (plus
 * 16 bytes of alignment for each of at most 12 takes) */
struct stage {
	uint8_t *base;
	size_t off, cap;
};

static uint8_t *st_take(struct stage *st, size_t n)
{
	st->off = (st->off + 15u) & ~(size_t)15u;
	uint8_t *p = st->base + st->off;
	st->off += n;
	return p;
}

static const uint8_t *st_put(struct stage *st, const uint8_t *src, size_t n)
{
	if (src == NULL)
		return NULL;
	uint8_t *p = st_take(st, n);
	if (n > 0)
		memcpy(p, src, n);
	return p;
}

/* x->cs_buf of at least need bytes (the executor is idle: its caller owns it), zeroed head */
static cf_err cs_grow(hsm_sess *s, size_t need, struct stage *st)
{
	struct hsm_exec *x = s->x;
	need += sizeof(struct cs_job) + 16u * 12u;
	if (x->cs_cap < need) {
		sec_freezero(x->cs_buf, x->cs_cap);
		x->cs_buf = NULL;
		x->cs_cap = 0;
		size_t cap = need < (256u << 10) ? (256u << 10) : need;
		uint8_t *b = calloc(1, cap);
		if (b == NULL)
			return CF_E_NOMEM;
		x->cs_buf = b;
		x->cs_cap = cap;
	}
	memset(x->cs_buf, 0, sizeof(struct cs_job));
	*st = (struct stage){ x->cs_buf, sizeof(struct cs_job), x->cs_cap };
	return CF_OK;
}

static void cache_stage(hsm_sess *s, struct cs_job *j)
{
	j->cache = !s->h->cfg.cs_cache_off;
	j->cs_gen = atomic_load(&s->h->cs_gen);
}

/* the key's blob: kind checks and the sealed part into the job */
static cf_err stage_key(hsm_sess *s, const struct hsm_kw_key *key, struct cs_job *j,
			struct stage *st)
{
	struct hsm_blob_info bi;
	TRY(hsm_blob_info_get(key->blob, key->n, &bi));
	j->obj_type = key->bind.obj_type;
	bool sym = j->obj_type == OT_SYMMETRIC || j->obj_type == OT_SECRET;
	switch (j->need) {
	case KN_AES:
		if (j->obj_type != OT_SYMMETRIC)
			return CF_E_HSM_MECH;
		break;
	case KN_HMAC:
		if (!sym)
			return CF_E_HSM_MECH;
		break;
	default:
		if (j->obj_type != OT_PUBLIC && j->obj_type != OT_PRIVATE)
			return CF_E_HSM_MECH;
		break;
	}
	/* a public key encrypts and verifies, a private key decrypts and signs */
	if ((j->obj_type == OT_PUBLIC && j->op != HSM_CS_ENCRYPT && j->op != HSM_CS_VERIFY) ||
	    (j->obj_type == OT_PRIVATE && j->op != HSM_CS_DECRYPT && j->op != HSM_CS_SIGN))
		return CF_E_HSM_MECH;
	if (bi.mech == HSM_BLOB_MECH_KWP_GCM && j->obj_type != OT_PRIVATE)
		return CF_E_HSM_BLOB;
	if (hsm_kek_handle(s->h, bi.kek_version) == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	TRY(hsm_blob_aad(key->blob, &key->bind, j->aad, sizeof j->aad, &j->aad_n));
	memcpy(j->nonce, key->blob + HSM_BLOB_HDR, NONCE_N);
	j->ct_n = bi.dek_len + TAG_N;
	j->ct = st_put(st, key->blob + HSM_BLOB_HDR + NONCE_N, j->ct_n);
	j->bmech = bi.mech;
	j->kv = bi.kek_version;
	return CF_OK;
}

/* what the mechanism needs of the key for op, and the checks of p that need no key */
static cf_err cs_check(enum hsm_cs_op op, const struct hsm_cs_params *p, size_t n, int *need)
{
	bool cipher = op == HSM_CS_ENCRYPT || op == HSM_CS_DECRYPT;
	bool sig = op == HSM_CS_SIGN || op == HSM_CS_VERIFY;
	bool mac = op == HSM_CS_MAC || op == HSM_CS_MAC_VERIFY;
	if (n > HSM_CS_DATA_MAX)
		return CF_E_INVALID_ARG;
	if ((unsigned)p->hash > HSM_HASH_SHA512 || (unsigned)p->mgf_hash > HSM_HASH_SHA512)
		return CF_E_HSM_MECH;
	if ((op == HSM_CS_VERIFY || op == HSM_CS_MAC_VERIFY) && p->check == NULL)
		return CF_E_INVALID_ARG;
	/* what gets copied for the job stays bounded whatever the request says */
	if (p->iv_n > 128 || p->aad_n > HSM_CS_DATA_MAX || p->label_n > HSM_CS_DATA_MAX ||
	    p->check_n > HSM_CS_DATA_MAX || (p->iv_n > 0 && p->iv == NULL) ||
	    (p->check_n > 0 && p->check == NULL))
		return CF_E_INVALID_ARG;
	switch (p->mech) {
	case HSM_CS_AES_GCM:
		*need = KN_AES;
		if (!cipher)
			return CF_E_HSM_MECH;
		if (p->iv == NULL || p->iv_n < 1 || p->iv_n > 128 || p->tag_n < 4 || p->tag_n > 16 ||
		    (p->aad_n > 0 && p->aad == NULL) || p->aad_n > HSM_CS_DATA_MAX ||
		    (op == HSM_CS_DECRYPT && p->tag == NULL))
			return CF_E_INVALID_ARG;
		return CF_OK;
	case HSM_CS_AES_CBC:
	case HSM_CS_AES_CBC_PAD:
	case HSM_CS_AES_CTR:
		*need = KN_AES;
		if (!cipher)
			return CF_E_HSM_MECH;
		if (p->iv == NULL || p->iv_n != 16 || p->ctr_bits > 128)
			return CF_E_INVALID_ARG;
		if (p->mech == HSM_CS_AES_CBC && n % 16u != 0)
			return CF_E_INVALID_ARG;
		if (p->mech == HSM_CS_AES_CBC_PAD && op == HSM_CS_DECRYPT &&
		    (n == 0 || n % 16u != 0))
			return CF_E_INVALID_ARG;
		return CF_OK;
	case HSM_CS_AES_ECB:
	case HSM_CS_AES_ECB_PAD:
		*need = KN_AES;
		if (!cipher)
			return CF_E_HSM_MECH;
		if ((p->mech == HSM_CS_AES_ECB || op == HSM_CS_DECRYPT) && n % 16u != 0)
			return CF_E_INVALID_ARG;
		if (p->mech == HSM_CS_AES_ECB_PAD && op == HSM_CS_DECRYPT && n == 0)
			return CF_E_INVALID_ARG;
		return CF_OK;
	case HSM_CS_RSA_OAEP:
		*need = KN_RSA;
		if (!cipher || !hash_ok(p->hash) || !hash_ok(p->mgf_hash))
			return CF_E_HSM_MECH;
		return p->label_n > 0 && p->label == NULL ? CF_E_INVALID_ARG : CF_OK;
	case HSM_CS_RSA_PKCS1:
		*need = KN_RSA;
		if (mac || (sig && p->prehashed && !hash_ok(p->hash)))
			return CF_E_HSM_MECH;
		return sig && p->prehashed && n != hsm_hash_len(p->hash) ? CF_E_INVALID_ARG : CF_OK;
	case HSM_CS_RSA_PSS:
		*need = KN_RSA;
		if (!sig || !hash_ok(p->hash) || !hash_ok(p->mgf_hash))
			return CF_E_HSM_MECH;
		return p->prehashed && n != hsm_hash_len(p->hash) ? CF_E_INVALID_ARG : CF_OK;
	case HSM_CS_ECDSA:
		*need = KN_EC;
		if (!sig)
			return CF_E_HSM_MECH;
		if (!p->prehashed && p->hash != HSM_HASH_NONE && !hash_ok(p->hash))
			return CF_E_HSM_MECH;
		if (p->prehashed && hash_ok(p->hash) && n != hsm_hash_len(p->hash))
			return CF_E_INVALID_ARG;
		/* the data is the digest when prehashed or without a hash: not empty */
		return n == 0 && (p->prehashed || p->hash == HSM_HASH_NONE) ? CF_E_INVALID_ARG
									     : CF_OK;
	case HSM_CS_HMAC:
		*need = KN_HMAC;
		return mac && hash_ok(p->hash) ? CF_OK : CF_E_HSM_MECH;
	case HSM_CS_CMAC:
		*need = KN_AES;
		return mac ? CF_OK : CF_E_HSM_MECH;
	default:
		return CF_E_HSM_MECH;
	}
}

cf_err hsm_cs_run(hsm_sess *s, enum hsm_cs_op op, const struct hsm_kw_key *key,
		  const struct hsm_cs_params *p, const uint8_t *in, size_t n, uint8_t *out,
		  size_t cap, struct hsm_cs_result *res)
{
	struct timespec dl;
	struct stage st;
	int need = 0;
	if (res != NULL)
		memset(res, 0, sizeof *res);
	if (s == NULL || key == NULL || key->blob == NULL || p == NULL || res == NULL ||
	    (in == NULL && n > 0) || (out == NULL && cap > 0))
		return CF_E_INVALID_ARG;
	struct hsm_cs_params q = *p;
	if (q.mgf_hash == HSM_HASH_NONE)
		q.mgf_hash = q.hash;
	if (q.mech == HSM_CS_AES_GCM && q.tag_n == 0)
		q.tag_n = 16;
	TRY(cs_check(op, &q, n, &need));
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	size_t area = n + 32u < SIG_AREA ? SIG_AREA : n + 32u;
	size_t need_b = key->n + n + 32u + q.aad_n + q.iv_n + q.label_n + q.check_n + area;
	TRY(cs_grow(s, need_b, &st));
	struct cs_job *j = (struct cs_job *)st.base;
	j->what = JOB_CS;
	j->op = op;
	j->need = need;
	cache_stage(s, j);
	TRY(stage_key(s, key, j, &st));
	/* the data, with room for a GCM tag or the PKCS#5 padding after it */
	uint8_t *din = st_take(&st, n + 32u);
	if (n > 0)
		memcpy(din, in, n);
	j->in = din;
	j->in_n = n;
	if (q.mech == HSM_CS_AES_GCM && op == HSM_CS_DECRYPT) {
		memcpy(din + n, q.tag, q.tag_n);
		j->in_n += q.tag_n;
	}
	if (q.mech == HSM_CS_AES_ECB_PAD && op == HSM_CS_ENCRYPT) {
		uint8_t pn = (uint8_t)(16u - n % 16u);
		memset(din + n, pn, pn);
		j->in_n += pn;
	}
	q.iv = st_put(&st, q.iv, q.iv_n);
	q.aad = st_put(&st, q.aad, q.aad_n);
	q.label = st_put(&st, q.label, q.label_n);
	q.check = st_put(&st, q.check, q.check_n);
	q.tag = NULL;
	j->p = q;
	j->out = st_take(&st, area);
	j->out_cap = area;
	cf_err rc = hsm_sess_run(s, job_cs, &dl);
	if (s->x == NULL || s->x->cs_buf != st.base) /* abandoned with its buffer, or replaced */
		return rc == CF_OK ? CF_E_INTERNAL : rc;
	j = (struct cs_job *)s->x->cs_buf;
	if (rc == CF_OK) {
		res->out_n = j->out_n;
		res->valid = j->valid;
		if (q.mech == HSM_CS_AES_GCM && op == HSM_CS_ENCRYPT) {
			memcpy(res->tag, j->tag, q.tag_n);
			res->tag_n = q.tag_n;
		}
		if (j->out_n > cap)
			rc = CF_E_NO_SPACE;
		else if (j->out_n > 0)
			memcpy(out, j->out, j->out_n);
	}
	sec_wipe(s->x->cs_buf, st.off); /* plaintext is client data, but not left lying about */
	return rc;
}

cf_err hsm_cs_next_iv(enum hsm_cs_op op, const struct hsm_cs_params *p, const uint8_t *in,
		      size_t n, const uint8_t *out, size_t out_n, uint8_t next_iv[16])
{
	uint8_t v[16];
	if (p == NULL || (op != HSM_CS_ENCRYPT && op != HSM_CS_DECRYPT))
		return CF_E_INVALID_ARG;
	switch (p->mech) {
	case HSM_CS_AES_CBC:
	case HSM_CS_AES_CBC_PAD: {
		const uint8_t *ct = op == HSM_CS_ENCRYPT ? out : in;
		size_t ct_n = op == HSM_CS_ENCRYPT ? out_n : n;
		if (ct_n == 0) { /* nothing chained: the same iv */
			if (p->iv == NULL || p->iv_n != 16)
				return CF_E_INVALID_ARG;
			memcpy(v, p->iv, 16);
			break;
		}
		if (ct == NULL || ct_n < 16 || ct_n % 16u != 0)
			return CF_E_INVALID_ARG;
		memcpy(v, ct + ct_n - 16u, 16);
		break;
	}
	case HSM_CS_AES_CTR: {
		if (p->iv == NULL || p->iv_n != 16 || p->ctr_bits > 128)
			return CF_E_INVALID_ARG;
		unsigned bits = p->ctr_bits == 0 ? 128u : p->ctr_bits;
		uint64_t add = (uint64_t)((n + 15u) / 16u);
		memcpy(v, p->iv, 16);
		/* add to the low `bits` bits, big-endian, wrapping within them */
		unsigned carry = 0;
		for (unsigned i = 0; i < 16 && i * 8u < bits; i++) {
			uint8_t *b = &v[15 - i];
			unsigned width = bits - i * 8u >= 8u ? 8u : bits - i * 8u;
			unsigned mask = (1u << width) - 1u;
			unsigned cur = *b & mask;
			unsigned sum = cur + (unsigned)(add & 0xffu) + carry;
			add >>= 8;
			carry = sum >> width;
			*b = (uint8_t)((*b & ~mask) | (sum & mask));
		}
		break;
	}
	case HSM_CS_AES_ECB:
	case HSM_CS_AES_ECB_PAD:
		memset(v, 0, sizeof v); /* no chaining value */
		break;
	default:
		return CF_E_INVALID_ARG;
	}
	if (next_iv != NULL)
		memcpy(next_iv, v, 16);
	return CF_OK;
}

cf_err hsm_hash(hsm_sess *s, enum hsm_hash h, const uint8_t *in, size_t n, uint8_t *out,
		size_t cap, size_t *out_n)
{
	struct timespec dl;
	struct stage st;
	if (out_n != NULL)
		*out_n = 0;
	if (s == NULL || out == NULL || out_n == NULL || (in == NULL && n > 0))
		return CF_E_INVALID_ARG;
	if (!hash_ok(h))
		return CF_E_HSM_MECH;
	if (n > HSM_CS_DATA_MAX)
		return CF_E_INVALID_ARG;
	if (cap < hsm_hash_len(h))
		return CF_E_NO_SPACE;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	TRY(cs_grow(s, n + HASH_MAX, &st));
	struct cs_job *j = (struct cs_job *)st.base;
	j->what = JOB_HASH;
	j->hash = h;
	j->in = st_put(&st, in != NULL ? in : (const uint8_t *)"", n);
	j->in_n = n;
	j->out = st_take(&st, HASH_MAX);
	j->out_cap = HASH_MAX;
	cf_err rc = hsm_sess_run(s, job_hash, &dl);
	if (s->x == NULL || s->x->cs_buf != st.base)
		return rc == CF_OK ? CF_E_INTERNAL : rc;
	j = (struct cs_job *)s->x->cs_buf;
	if (rc == CF_OK) {
		memcpy(out, j->out, j->out_n);
		*out_n = j->out_n;
	}
	sec_wipe(s->x->cs_buf, st.off);
	return rc;
}

cf_err hsm_seed_random(hsm_sess *s, const uint8_t *in, size_t n, size_t *accepted)
{
	struct timespec dl;
	if (accepted != NULL)
		*accepted = 0;
	if (s == NULL || in == NULL || accepted == NULL || n == 0 || n > SEED_MAX)
		return CF_E_INVALID_ARG;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	memcpy(s->x->io->in, in, n);
	s->x->io->in_n = n;
	cf_err rc = hsm_sess_run(s, job_seed, &dl);
	if (s->x == NULL)
		return rc;
	if (rc == CF_OK)
		*accepted = s->x->io->ul[0];
	sec_wipe(s->x->io->in, n);
	s->x->io->in_n = 0;
	return rc;
}

static cf_err derive_check(const struct hsm_derive_params *p, size_t out_len, int *need)
{
	if (out_len == 0 || out_len > HSM_DEK_MAX)
		return CF_E_INVALID_ARG;
	if (p->data_n > 0 && p->data == NULL)
		return CF_E_INVALID_ARG;
	if (p->salt_n > 0 && p->salt == NULL)
		return CF_E_INVALID_ARG;
	if (p->data_n > HSM_CS_DATA_MAX || p->salt_n > HSM_CS_DATA_MAX)
		return CF_E_INVALID_ARG;
	*need = KN_HMAC;
	switch (p->method) {
	case HSM_DERIVE_PBKDF2:
		if (!hash_ok(p->hash))
			return CF_E_HSM_MECH;
		return p->iterations == 0 || p->iterations > PBKDF2_ITER_MAX ? CF_E_INVALID_ARG
									     : CF_OK;
	case HSM_DERIVE_HMAC:
		if (!hash_ok(p->hash))
			return CF_E_HSM_MECH;
		return out_len > hsm_hash_len(p->hash) ? CF_E_INVALID_ARG : CF_OK;
	case HSM_DERIVE_SP800_108:
		return hash_ok(p->hash) ? CF_OK : CF_E_HSM_MECH;
	case HSM_DERIVE_ENCRYPT: {
		*need = KN_AES;
		if (p->enc == NULL)
			return CF_E_INVALID_ARG;
		struct hsm_cs_params q = *p->enc;
		int n2 = 0;
		if (q.mech == HSM_CS_AES_GCM && q.tag_n == 0)
			q.tag_n = 16;
		if (q.mech < HSM_CS_AES_GCM || q.mech > HSM_CS_AES_ECB_PAD)
			return CF_E_HSM_MECH;
		if (p->data_n + 32u > HSM_IO_OUT - 32u) /* the ciphertext is the key: io->out */
			return CF_E_INVALID_ARG;
		return cs_check(HSM_CS_ENCRYPT, &q, p->data_n, &n2);
	}
	default:
		return CF_E_INVALID_ARG;
	}
}

cf_err hsm_derive(hsm_sess *s, const struct hsm_kw_key *base, const struct hsm_derive_params *p,
		  size_t out_len, const struct hsm_bind *b, uint8_t *blob, size_t cap,
		  size_t *blob_n, uint8_t digest[HSM_SHA256_LEN])
{
	struct timespec dl;
	struct stage st;
	uint8_t hdr[HSM_BLOB_HDR];
	int need = 0;
	if (blob_n != NULL)
		*blob_n = 0;
	if (s == NULL || base == NULL || base->blob == NULL || p == NULL || b == NULL ||
	    blob == NULL || blob_n == NULL)
		return CF_E_INVALID_ARG;
	TRY(derive_check(p, out_len, &need));
	if (cap < hsm_blob_size(out_len))
		return CF_E_NO_SPACE;
	uint32_t kv = hsm_kek_current(s->h);
	if (kv == 0)
		return CF_E_HSM_NOT_FOUND;
	/* PBKDF2 runs one HMAC per iteration: the long deadline (that of key generation) */
	unsigned ms = hsm_timeout_ms(s->h);
	if (p->method == HSM_DERIVE_PBKDF2 && s->h->cfg.keygen_timeout_ms > ms)
		ms = s->h->cfg.keygen_timeout_ms;
	hsm_deadline(&dl, ms);
	TRY(hsm_sess_ready(s, &dl));
	size_t en = p->enc != NULL ? p->enc->iv_n + p->enc->aad_n : 0;
	TRY(cs_grow(s, base->n + p->data_n + 16u + p->salt_n + en, &st));
	struct cs_job *j = (struct cs_job *)st.base;
	j->what = JOB_DERIVE;
	j->need = need;
	cache_stage(s, j);
	TRY(stage_key(s, base, j, &st));
	j->d = *p;
	j->d.salt = st_put(&st, p->salt, p->salt_n);
	if (p->method != HSM_DERIVE_ENCRYPT) {
		j->d.data = st_put(&st, p->data, p->data_n);
	} else {
		uint8_t *din = st_take(&st, p->data_n + 16u);
		if (p->data_n > 0)
			memcpy(din, p->data, p->data_n);
		j->d.data = din;
		j->denc = *p->enc;
		if (j->denc.mech == HSM_CS_AES_GCM && j->denc.tag_n == 0)
			j->denc.tag_n = 16;
		if (j->denc.mech == HSM_CS_AES_ECB_PAD) { /* PKCS#5 padding here, as hsm_cs_run */
			uint8_t pn = (uint8_t)(16u - p->data_n % 16u);
			memset(din + p->data_n, pn, pn);
			j->d.data_n += pn;
		}
		j->denc.iv = st_put(&st, p->enc->iv, p->enc->iv_n);
		j->denc.aad = st_put(&st, p->enc->aad, p->enc->aad_n);
		j->d.enc = NULL;
	}
	j->d_len = out_len;
	j->seal_kv = kv;
	j->want_digest = digest != NULL;
	struct hsm_io *io = s->x->io;
	hsm_blob_header(hdr, kv, (uint32_t)out_len);
	TRY(hsm_blob_aad(hdr, b, io->aad, sizeof io->aad, &io->aad_n));
	cf_err rc = hsm_sess_run(s, job_derive, &dl);
	if (s->x == NULL || s->x->cs_buf != st.base)
		return rc == CF_OK ? CF_E_INTERNAL : rc;
	io = s->x->io;
	if (rc == CF_OK && io->out_n != out_len + TAG_N)
		rc = CF_E_HSM_OUTPUT;
	if (rc == CF_OK) {
		memcpy(blob, hdr, HSM_BLOB_HDR);
		memcpy(blob + HSM_BLOB_HDR, io->nonce, NONCE_N);
		memcpy(blob + HSM_BLOB_HDR + NONCE_N, io->out, io->out_n);
		*blob_n = HSM_BLOB_HDR + NONCE_N + io->out_n;
		if (digest != NULL)
			memcpy(digest, io->digest, HSM_SHA256_LEN);
	}
	sec_wipe(io->digest, sizeof io->digest);
	sec_wipe(io->out, sizeof io->out);
	io->out_n = 0;
	sec_wipe(s->x->cs_buf, st.off);
	return rc;
}

/* ---- key object cache: the caller's side ------------------------------------------------ */

void hsm_cs_cache_invalidate(hsm *h)
{
	if (h != NULL)
		atomic_fetch_add(&h->cs_gen, 1);
}

unsigned hsm_cs_cache_count(hsm_sess *s)
{
	return s != NULL && s->x != NULL ? s->x->csc.n : 0;
}

/* something to destroy: a new generation, or an entry past the idle limit */
static bool cache_due(struct hsm *h, const struct hsm_cs_cache *c)
{
	if (atomic_load(&h->cs_gen) != c->seen_gen)
		return true;
	unsigned idle = h->cfg.cs_cache_idle_ms ? h->cfg.cs_cache_idle_ms : HSM_CS_CACHE_IDLE_MS;
	uint64_t now = mono_ms();
	for (unsigned i = 0; i < c->n; i++)
		if (now - c->ent[i].used_ms > idle)
			return true;
	return false;
}

/* Run the sweep job on s's own session (the caller owns s; its executor is idle). A session
 * that is broken or of an older module generation is not used: its objects go with it (it is
 * reopened here, which closes it). Logged out: nothing to do until the next login. */
static void cache_sweep(hsm_sess *s, bool all)
{
	struct hsm *h = s->h;
	struct hsm_exec *x = s->x;
	if (x == NULL || x->csc.n == 0 || (!all && !cache_due(h, &x->csc)))
		return;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	pthread_mutex_lock(&h->lock);
	bool logged = h->logged_in, usable = !h->need_reinit && x->gen == h->gen;
	pthread_mutex_unlock(&h->lock);
	if (!logged) /* kept until the next login, whose new generation destroys them */
		return;
	if (!usable || !x->sh_open || x->broken) {
		if (hsm_sess_ready(s, &dl) != CF_OK) /* a reopen forgets the objects with the */
			hsm_cs_cache_forget(s->x);   /* old session; past it, nothing to reach */
		return;
	}
	x->csc.want_gen = atomic_load(&h->cs_gen);
	x->csc.drop_all = all;
	cf_err rc = hsm_exec_run(&s->x, job_cs_sweep, &dl);
	if (s->x == NULL) { /* quarantined: its session closes when the hung call returns */
		pthread_mutex_lock(&h->lock);
		s->up = false;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	s->x->csc.drop_all = false;
	if (rc != CF_OK) {
		hsm_sess_note_fault(s, rc);
		if (hsm_sess_ready(s, &dl) != CF_OK) /* a fault: reopen now, objects and all */
			hsm_cs_cache_forget(s->x);
	}
}

void hsm_cs_cache_sweep(hsm_sess *s)
{
	if (s != NULL)
		cache_sweep(s, false);
}

void hsm_cs_cache_drop(struct hsm_sess *s)
{
	if (s != NULL)
		cache_sweep(s, true);
}
