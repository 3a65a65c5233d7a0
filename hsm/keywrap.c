/* KMIP key wrapping inside the HSM: a managed key answered wrapped under another managed AES
 * key (Get with a Key Wrapping Specification), and wrapped key material registered (Register
 * of a Key Block with Key Wrapping Data). docs/hsm.md "Key wrapping for KMIP".
 *
 * Both keys are managed objects, i.e. blobs sealed with AES-256-GCM under a KEK (wrap.c). The
 * wrapping itself is C_WrapKey / C_UnwrapKey with CKM_AES_KEY_WRAP (RFC 3394) or
 * CKM_AES_KEY_WRAP_PAD (RFC 5649) on session objects (CKA_TOKEN false) that exist only for
 * the duration of one job and are destroyed before it returns.
 *
 * Where the plaintext goes. The ideal is C_UnwrapKey(CKM_AES_GCM, KEK, blob) straight into a
 * session object. That is not possible here, for two reasons:
 *  - our KEKs have CKA_UNWRAP = false by policy (kek.c, docs/hsm.md): a KEK can only seal and
 *    open blobs through C_Encrypt / C_Decrypt, so no client request can make it unwrap
 *    anything into an object;
 *  - SoftHSMv2 (2.6.1) offers CKM_AES_GCM for C_Encrypt / C_Decrypt only; C_UnwrapKey
 *    accepts the AES key wrap mechanisms, AES-CBC(-PAD) and RSA, and answers
 *    CKR_MECHANISM_INVALID for GCM (checked by tests/unit/hsm/test_hsm_keywrap.c).
 * So the narrowest fallback: in one job on the executor, C_Decrypt opens the blob into the
 * executor's locked scratch (x->io, sec_alloc: mlock'd, MADV_DONTDUMP), C_CreateObject makes
 * the session object from it, and the scratch is wiped at once. The plaintext never reaches
 * the caller's memory (ops/, the request arena, the response). For Register the unwrapped
 * value has to be read back (C_GetAttributeValue(CKA_VALUE) of a non-sensitive session
 * object) to be sealed under the KEK with GCM, again only in the executor's scratch, for
 * the same two reasons. */
#include <string.h>

#include "board/sec.h"
#include "hsm/hsm_int.h"

#define NONCE_N 12u
#define TAG_N 16u
#define SEALED_MAX (HSM_DEK_MAX + TAG_N)

/* The job's arguments in io->in (locked), at fixed offsets:
 *   [0, SEALED_MAX)            the wrapping key's sealed DEK (ciphertext || tag), its nonce in
 *                              io->nonce, its AAD in io->aad
 *   [OFF_K, OFF_K+SEALED_MAX)  wrap: the wrapped key's sealed DEK; unwrap: the wrapped bytes
 *   [OFF_KN, +12)              the wrapped key's nonce (wrap)
 *   [OFF_KA, +HSM_AAD_MAX)     the wrapped key's AAD (wrap)
 * io->ul: [0] wrapping key's KEK version, [1] its sealed length, [2] second KEK version,
 * [3] second length, [4] mechanism, [5] AAD length of the second key. */
#define OFF_K SEALED_MAX
#define OFF_KN (2u * SEALED_MAX)
#define OFF_KA (OFF_KN + NONCE_N)
_Static_assert(OFF_KA + HSM_AAD_MAX <= HSM_IO_IN, "keywrap arguments fit io->in");

static CK_MECHANISM_TYPE kw_mech(CK_ULONG m)
{
	return m == HSM_KW_AES_PAD ? CKM_AES_KEY_WRAP_PAD : CKM_AES_KEY_WRAP;
}

/* Open a sealed DEK with KEK `kv` into io->out (locked); *n = plaintext length. */
static cf_err kw_open(struct hsm_exec *x, CK_ULONG kv, const uint8_t *nonce, uint8_t *aad,
		      size_t aad_n, uint8_t *ct, size_t ct_n, size_t *n)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE kek = hsm_kek_handle(x->h, (uint32_t)kv);
	*n = 0;
	if (kek == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	if (ct_n < TAG_N || ct_n > SEALED_MAX)
		return CF_E_HSM_BLOB;
	CK_GCM_PARAMS gp = { (CK_BYTE_PTR)nonce, NONCE_N, NONCE_N * 8u, aad, aad_n, TAG_N * 8u };
	CK_MECHANISM m = { CKM_AES_GCM, &gp, sizeof gp };
	CK_RV rv = x->h->f->C_DecryptInit(x->sh, &m, kek);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG on = sizeof io->out;
	rv = x->h->f->C_Decrypt(x->sh, ct, ct_n, io->out, &on);
	if (rv != CKR_OK) {
		if (p11_rv_fault(rv) == HSM_FAULT_NONE || rv == CKR_GENERAL_ERROR)
			return CF_E_HSM_UNWRAP;
		return p11_fail(x, rv);
	}
	if (on != ct_n - TAG_N) { /* untrusted length */
		sec_wipe(io->out, sizeof io->out);
		return CF_E_HSM_OUTPUT;
	}
	*n = on;
	return CF_OK;
}

/* Make a session secret key from io->out[n] (then wiped). aes: the wrapping key, CKK_AES
 * usable only to wrap and unwrap, sensitive, not extractable; else CKK_GENERIC_SECRET,
 * sensitive and extractable: the key C_WrapKey wraps. */
static cf_err kw_object(struct hsm_exec *x, size_t n, bool aes, CK_OBJECT_HANDLE *o)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = aes ? CKK_AES : CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },
		{ CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &t, sizeof t },
		{ CKA_EXTRACTABLE, aes ? &f : &t, sizeof t },
		{ CKA_ENCRYPT, &f, sizeof f },
		{ CKA_DECRYPT, &f, sizeof f },
		{ CKA_VALUE, x->io->out, n },
		{ CKA_WRAP, &t, sizeof t },   /* last two: left out for the generic key */
		{ CKA_UNWRAP, &t, sizeof t },
	};
	CK_ULONG tn = sizeof tm / sizeof tm[0] - (aes ? 0u : 2u);
	*o = CK_INVALID_HANDLE;
	CK_RV rv = x->h->f->C_CreateObject(x->sh, tm, tn, o);
	sec_wipe(x->io->out, sizeof x->io->out);
	if (rv == CKR_OK && *o == CK_INVALID_HANDLE)
		return CF_E_HSM_OUTPUT;
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)
		return CF_E_HSM_MECH; /* e.g. an AES key of a length AES does not have */
	return rv == CKR_OK ? CF_OK : p11_fail(x, rv);
}

/* The wrapping key (sealed at io->in[0]) as a session AES key. */
static cf_err kw_wrapping_key(struct hsm_exec *x, CK_OBJECT_HANDLE *o)
{
	struct hsm_io *io = x->io;
	size_t n;
	TRY(kw_open(x, io->ul[0], io->nonce, io->aad, io->aad_n, io->in, io->ul[1], &n));
	return kw_object(x, n, true, o);
}

static void kw_destroy(struct hsm_exec *x, CK_OBJECT_HANDLE o)
{
	if (o != CK_INVALID_HANDLE)
		(void)x->h->f->C_DestroyObject(x->sh, o);
}

/* Expected C_WrapKey output length for a key of n bytes. */
static size_t kw_out_len(CK_ULONG mech, size_t n)
{
	if (mech == HSM_KW_AES_PAD)
		return ((n + 7u) / 8u) * 8u + 8u;
	return n + 8u;
}

/* RFC 5649 of a key whose length is not a multiple of 8: unwrap io->out[on] again and check
 * the length the Message Length Indicator gives back. SoftHSMv2 2.6.1 zero-pads such a key to
 * a multiple of 8 before wrapping (its output unwraps to the key plus zero bytes: checked by
 * tests/unit/hsm/test_hsm_keywrap.c), which a client would take for the key: refused with
 * CF_E_HSM_MECH rather than answered. */
static cf_err kwp_check(struct hsm_exec *x, CK_OBJECT_HANDLE w, CK_ULONG on, size_t kn)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },     { CKA_SENSITIVE, &t, sizeof t },
		{ CKA_EXTRACTABLE, &f, sizeof f },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE u = CK_INVALID_HANDLE;
	CK_ULONG len = 0;
	CK_RV rv = x->h->f->C_UnwrapKey(x->sh, &m, w, x->io->out, on, tm, 5, &u);
	if (rv != CKR_OK)
		return p11_rv_fault(rv) == HSM_FAULT_NONE ? CF_E_HSM_MECH : p11_fail(x, rv);
	cf_err rc = p11_get_ulong(x, u, CKA_VALUE_LEN, &len);
	kw_destroy(x, u);
	if (rc == CF_OK && len != kn)
		rc = CF_E_HSM_MECH;
	return rc;
}

static cf_err job_kw_wrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE w = CK_INVALID_HANDLE, k = CK_INVALID_HANDLE;
	size_t kn = 0;
	cf_err rc;

	io->out_n = 0;
	if ((rc = kw_wrapping_key(x, &w)) != CF_OK)
		goto out;
	if ((rc = kw_open(x, io->ul[2], io->in + OFF_KN, io->in + OFF_KA, io->ul[5],
			  io->in + OFF_K, io->ul[3], &kn)) != CF_OK)
		goto out;
	if ((rc = kw_object(x, kn, false, &k)) != CF_OK)
		goto out;
	CK_MECHANISM m = { kw_mech(io->ul[4]), NULL, 0 };
	CK_ULONG on = sizeof io->out;
	CK_RV rv = x->h->f->C_WrapKey(x->sh, &m, w, k, io->out, &on);
	if (rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE || rv == CKR_DATA_LEN_RANGE ||
	    rv == CKR_KEY_NOT_WRAPPABLE) {
		rc = CF_E_HSM_MECH;
		goto out;
	}
	if (rv != CKR_OK) {
		rc = p11_fail(x, rv);
		goto out;
	}
	if (on != kw_out_len(io->ul[4], kn)) { /* untrusted length */
		rc = CF_E_HSM_OUTPUT;
		goto out;
	}
	if (io->ul[4] == HSM_KW_AES_PAD && kn % 8u != 0 &&
	    (rc = kwp_check(x, w, on, kn)) != CF_OK)
		goto out;
	io->out_n = on;
	rc = CF_OK;
out:
	kw_destroy(x, k);
	kw_destroy(x, w);
	if (rc != CF_OK)
		sec_wipe(io->out, sizeof io->out);
	return rc;
}

/* Unwrap io->in[OFF_K] (ul[3] bytes) into a non-sensitive session object and read its value
 * into io->out (locked); the object is destroyed before the job returns. */
static cf_err job_kw_unwrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE w = CK_INVALID_HANDLE, k = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls },   { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },       { CKA_PRIVATE, &t, sizeof t },
		{ CKA_SENSITIVE, &f, sizeof f },   { CKA_EXTRACTABLE, &t, sizeof t },
	};
	cf_err rc;

	io->out_n = 0;
	if ((rc = kw_wrapping_key(x, &w)) != CF_OK)
		goto out;
	CK_MECHANISM m = { kw_mech(io->ul[4]), NULL, 0 };
	CK_RV rv = x->h->f->C_UnwrapKey(x->sh, &m, w, io->in + OFF_K, io->ul[3], tm,
					 sizeof tm / sizeof tm[0], &k);
	if (rv != CKR_OK) {
		/* an integrity check failure (wrong key, tampered bytes) is not a fault */
		rc = p11_rv_fault(rv) == HSM_FAULT_NONE || rv == CKR_GENERAL_ERROR
			     ? CF_E_HSM_UNWRAP : p11_fail(x, rv);
		k = CK_INVALID_HANDLE;
		goto out;
	}
	size_t n = 0;
	if ((rc = p11_get_bytes(x, k, CKA_VALUE, io->out, HSM_DEK_MAX, &n)) != CF_OK)
		goto out;
	if (n == 0) {
		rc = CF_E_HSM_UNWRAP;
		goto out;
	}
	io->out_n = n;
	rc = CF_OK;
out:
	kw_destroy(x, k);
	kw_destroy(x, w);
	if (rc != CF_OK)
		sec_wipe(io->out, sizeof io->out);
	return rc;
}

/* Seal io->in[in_n] under KEK ul[0] with a fresh nonce, AAD in io->aad -> io->out. */
static cf_err job_kw_seal(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	if ((io->key = hsm_kek_handle(x->h, (uint32_t)io->ul[0])) == CK_INVALID_HANDLE)
		return CF_E_HSM_NOT_FOUND;
	CK_RV rv = x->h->f->C_GenerateRandom(x->sh, io->nonce, NONCE_N);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return hsm_job_gcm_encrypt(x);
}

/* ---- public -------------------------------------------------------------------------- */

/* Parse a managed key's blob and stage its sealed part: ciphertext at io->in + off, nonce
 * and AAD where given. *kv = its KEK version, *ct_n = sealed length. */
static cf_err kw_stage(hsm_sess *s, const struct hsm_kw_key *key, size_t off, uint8_t *nonce,
		       uint8_t *aad, size_t *aad_n, CK_ULONG *kv, CK_ULONG *ct_n)
{
	struct hsm_blob_info bi;
	struct hsm_io *io = s->x->io;
	if (key == NULL || key->blob == NULL)
		return CF_E_INVALID_ARG;
	TRY(hsm_blob_info_get(key->blob, key->n, &bi));
	if (bi.mech != HSM_BLOB_MECH_AES_GCM)
		return CF_E_HSM_MECH; /* a KWP-then-GCM private key is not opened here */
	if (hsm_kek_handle(s->h, bi.kek_version) == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	TRY(hsm_blob_aad(key->blob, &key->bind, aad, HSM_AAD_MAX, aad_n));
	memcpy(nonce, key->blob + HSM_BLOB_HDR, NONCE_N);
	memcpy(io->in + off, key->blob + HSM_BLOB_HDR + NONCE_N, bi.dek_len + TAG_N);
	*kv = bi.kek_version;
	*ct_n = bi.dek_len + TAG_N;
	return CF_OK;
}

static bool kw_mech_ok(enum hsm_kw_mech m)
{
	return m == HSM_KW_AES || m == HSM_KW_AES_PAD;
}

cf_err hsm_kw_wrap(hsm_sess *s, enum hsm_kw_mech mech, const struct hsm_kw_key *wkey,
		   const struct hsm_kw_key *key, uint8_t *out, size_t cap, size_t *out_n)
{
	struct timespec dl;
	cf_err rc;

	if (out_n != NULL)
		*out_n = 0;
	if (s == NULL || out == NULL || out_n == NULL || !kw_mech_ok(mech))
		return CF_E_INVALID_ARG;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	size_t aad_n = 0;
	if ((rc = kw_stage(s, wkey, 0, io->nonce, io->aad, &io->aad_n, &io->ul[0], &io->ul[1])) ==
		    CF_OK &&
	    (rc = kw_stage(s, key, OFF_K, io->in + OFF_KN, io->in + OFF_KA, &aad_n, &io->ul[2],
			   &io->ul[3])) == CF_OK) {
		size_t kn = io->ul[3] - TAG_N;
		io->ul[4] = mech;
		io->ul[5] = aad_n;
		/* RFC 3394 is defined for n >= 2 blocks of 8 bytes only (SoftHSMv2 2.6.1 would
		 * zero-pad anything else and answer a longer key) */
		if (mech == HSM_KW_AES && (kn % 8u != 0 || kn < 16u))
			rc = CF_E_HSM_MECH;
		else
			rc = hsm_sess_run(s, job_kw_wrap, &dl);
	}
	if (s->x == NULL)
		return rc;
	io = s->x->io;
	if (rc == CF_OK && io->out_n > cap)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK) {
		memcpy(out, io->out, io->out_n); /* wrapped: no longer secret */
		*out_n = io->out_n;
	}
	sec_wipe(io->in, sizeof io->in);
	sec_wipe(io->out, sizeof io->out);
	return rc;
}

cf_err hsm_kw_unwrap(hsm_sess *s, enum hsm_kw_mech mech, const struct hsm_kw_key *wkey,
		     const uint8_t *wrapped, size_t n, const struct hsm_bind *b, uint8_t *blob,
		     size_t cap, size_t *blob_n, size_t *dek_n)
{
	struct timespec dl;
	uint8_t hdr[HSM_BLOB_HDR];
	cf_err rc;

	if (blob_n != NULL)
		*blob_n = 0;
	if (dek_n != NULL)
		*dek_n = 0;
	if (s == NULL || blob == NULL || blob_n == NULL || dek_n == NULL || wrapped == NULL ||
	    !kw_mech_ok(mech))
		return CF_E_INVALID_ARG;
	if (n < 16u || n > SEALED_MAX || n % 8u != 0)
		return CF_E_HSM_UNWRAP; /* no AES key wrap output has this length */
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	if ((rc = kw_stage(s, wkey, 0, io->nonce, io->aad, &io->aad_n, &io->ul[0], &io->ul[1])) ==
	    CF_OK) {
		memcpy(io->in + OFF_K, wrapped, n);
		io->ul[3] = n;
		io->ul[4] = mech;
		rc = hsm_sess_run(s, job_kw_unwrap, &dl);
	}
	/* seal the value (in the executor's scratch) under the current KEK, bound to b */
	uint32_t kv = hsm_kek_current(s->h);
	if (rc == CF_OK && s->x != NULL && kv == 0)
		rc = CF_E_HSM_NOT_FOUND;
	if (rc == CF_OK && s->x != NULL) {
		io = s->x->io;
		size_t dn = io->out_n;
		if (cap < hsm_blob_size(dn))
			rc = CF_E_NO_SPACE;
		hsm_blob_header(hdr, kv, (uint32_t)dn);
		if (rc == CF_OK)
			rc = hsm_blob_aad(hdr, b, io->aad, sizeof io->aad, &io->aad_n);
		if (rc == CF_OK) {
			memcpy(io->in, io->out, dn); /* both in the executor's locked scratch */
			sec_wipe(io->out, sizeof io->out);
			io->in_n = dn;
			io->ul[0] = kv;
			rc = hsm_sess_run(s, job_kw_seal, &dl);
		}
		if (rc == CF_OK && s->x != NULL) {
			io = s->x->io;
			memcpy(blob, hdr, HSM_BLOB_HDR);
			memcpy(blob + HSM_BLOB_HDR, io->nonce, NONCE_N);
			memcpy(blob + HSM_BLOB_HDR + NONCE_N, io->out, io->out_n);
			*blob_n = HSM_BLOB_HDR + NONCE_N + io->out_n;
			*dek_n = dn;
		}
	}
	if (s->x != NULL) {
		sec_wipe(s->x->io->in, sizeof s->x->io->in);
		sec_wipe(s->x->io->out, sizeof s->x->io->out);
	}
	if (rc != CF_OK)
		sec_wipe(blob, cap);
	return rc;
}

/* ---- RSA-OAEP with a public key ---------------------------------------------------------
 * The wrapping key is public: its SubjectPublicKeyInfo (the managed Public Key's material) is
 * parsed here and made a session public key object; the key to wrap is opened from its blob
 * as above. PKCS#1 v2 OAEP with SHA-1 and MGF1-SHA-1 (the KMIP default Hashing Algorithm, and
 * the only one SoftHSMv2 2.6.1 takes for OAEP). */

#define RSA_MOD_MAX 512u  /* RSA-4096 */
#define RSA_EXP_MAX 8u

/* One DER TLV at *p (n bytes left): tag must be `tag`; *v / *vn = its contents, *p and *n
 * advance past it. Definite lengths of up to 2 length bytes (no SPKI needs more). */
static bool der_take(const uint8_t **p, size_t *n, uint8_t tag, const uint8_t **v, size_t *vn)
{
	size_t len, hl = 2;
	if (*n < 2 || (*p)[0] != tag)
		return false;
	len = (*p)[1];
	if (len == 0x81 || len == 0x82) {
		size_t k = len & 0x7fu;
		if (*n < 2 + k)
			return false;
		len = k == 1 ? (*p)[2] : ((size_t)(*p)[2] << 8 | (*p)[3]);
		if (len < (k == 1 ? 0x80u : 0x100u)) /* not the shortest form */
			return false;
		hl += k;
	} else if (len >= 0x80) {
		return false;
	}
	if (*n - hl < len)
		return false;
	*v = *p + hl;
	*vn = len;
	*p += hl + len;
	*n -= hl + len;
	return true;
}

/* A positive INTEGER's magnitude (leading zero octet dropped). */
static bool der_uint(const uint8_t **p, size_t *n, const uint8_t **v, size_t *vn)
{
	if (!der_take(p, n, 0x02, v, vn) || *vn == 0 || ((*v)[0] & 0x80u) != 0)
		return false;
	if (*vn > 1 && (*v)[0] == 0) {
		if (((*v)[1] & 0x80u) == 0)
			return false; /* not minimal */
		(*v)++;
		(*vn)--;
	}
	return true;
}

/* SubjectPublicKeyInfo { { rsaEncryption, NULL }, BIT STRING { RSAPublicKey { n, e } } }. */
static cf_err spki_rsa(const uint8_t *der, size_t n, const uint8_t **mod, size_t *mod_n,
		       const uint8_t **e, size_t *e_n)
{
	static const uint8_t alg[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
				       0x01, 0x05, 0x00 };
	const uint8_t *spki, *ai, *bits, *rpk;
	size_t spki_n, ai_n, bits_n, rpk_n;
	if (!der_take(&der, &n, 0x30, &spki, &spki_n) || n != 0 ||
	    !der_take(&spki, &spki_n, 0x30, &ai, &ai_n) || ai_n != sizeof alg ||
	    memcmp(ai, alg, sizeof alg) != 0)
		return CF_E_HSM_MECH; /* not an RSA public key */
	if (!der_take(&spki, &spki_n, 0x03, &bits, &bits_n) || spki_n != 0 || bits_n < 1 ||
	    bits[0] != 0)
		return CF_E_INVALID_ARG;
	bits++;
	bits_n--;
	if (!der_take(&bits, &bits_n, 0x30, &rpk, &rpk_n) || bits_n != 0 ||
	    !der_uint(&rpk, &rpk_n, mod, mod_n) || !der_uint(&rpk, &rpk_n, e, e_n) || rpk_n != 0)
		return CF_E_INVALID_ARG;
	if (*mod_n < 256u || *mod_n > RSA_MOD_MAX || *e_n > RSA_EXP_MAX)
		return CF_E_HSM_MECH; /* RSA 2048..4096 */
	return CF_OK;
}

static cf_err job_kw_wrap_rsa(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE w = CK_INVALID_HANDLE, k = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tm[] = {
		{ CKA_CLASS, &cls, sizeof cls },       { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, sizeof f },           { CKA_WRAP, &t, sizeof t },
		{ CKA_ENCRYPT, &f, sizeof f },         { CKA_VERIFY, &f, sizeof f },
		{ CKA_MODULUS, io->in, io->ul[0] },
		{ CKA_PUBLIC_EXPONENT, io->in + RSA_MOD_MAX, io->ul[1] },
	};
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &op, sizeof op };
	size_t kn = 0;
	cf_err rc;

	io->out_n = 0;
	CK_RV rv = x->h->f->C_CreateObject(x->sh, tm, sizeof tm / sizeof tm[0], &w);
	if (rv != CKR_OK) {
		w = CK_INVALID_HANDLE;
		rc = rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT
			     ? CF_E_HSM_MECH : p11_fail(x, rv);
		goto out;
	}
	if ((rc = kw_open(x, io->ul[2], io->in + OFF_KN, io->in + OFF_KA, io->ul[5],
			  io->in + OFF_K, io->ul[3], &kn)) != CF_OK ||
	    (rc = kw_object(x, kn, false, &k)) != CF_OK)
		goto out;
	CK_ULONG on = sizeof io->out;
	rv = x->h->f->C_WrapKey(x->sh, &m, w, k, io->out, &on);
	if (rv == CKR_KEY_SIZE_RANGE || rv == CKR_DATA_LEN_RANGE || rv == CKR_MECHANISM_INVALID) {
		rc = CF_E_HSM_MECH; /* e.g. a key too long for OAEP with this modulus */
		goto out;
	}
	if (rv != CKR_OK) {
		rc = p11_fail(x, rv);
		goto out;
	}
	if (on != io->ul[0]) { /* an RSA ciphertext is the modulus length */
		rc = CF_E_HSM_OUTPUT;
		goto out;
	}
	io->out_n = on;
	rc = CF_OK;
out:
	kw_destroy(x, k);
	kw_destroy(x, w);
	return rc;
}

cf_err hsm_kw_wrap_rsa(hsm_sess *s, const uint8_t *spki, size_t spki_n,
		       const struct hsm_kw_key *key, uint8_t *out, size_t cap, size_t *out_n)
{
	const uint8_t *mod = NULL, *e = NULL;
	size_t mod_n = 0, e_n = 0, aad_n = 0;
	struct timespec dl;
	cf_err rc;

	if (out_n != NULL)
		*out_n = 0;
	if (s == NULL || spki == NULL || out == NULL || out_n == NULL)
		return CF_E_INVALID_ARG;
	if (key == NULL || key->blob == NULL)
		return CF_E_INVALID_ARG;
	TRY(spki_rsa(spki, spki_n, &mod, &mod_n, &e, &e_n));
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	memcpy(io->in, mod, mod_n);
	memcpy(io->in + RSA_MOD_MAX, e, e_n);
	io->ul[0] = mod_n;
	io->ul[1] = e_n;
	rc = kw_stage(s, key, OFF_K, io->in + OFF_KN, io->in + OFF_KA, &aad_n, &io->ul[2],
		      &io->ul[3]);
	/* OAEP with SHA-1 carries at most k - 2 * 20 - 2 bytes */
	if (rc == CF_OK && io->ul[3] - TAG_N > mod_n - 42u)
		rc = CF_E_HSM_MECH;
	if (rc == CF_OK) {
		io->ul[5] = aad_n;
		rc = hsm_sess_run(s, job_kw_wrap_rsa, &dl);
	}
	if (s->x == NULL)
		return rc;
	io = s->x->io;
	if (rc == CF_OK && io->out_n > cap)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK) {
		memcpy(out, io->out, io->out_n);
		*out_n = io->out_n;
	}
	sec_wipe(io->in, sizeof io->in);
	sec_wipe(io->out, sizeof io->out);
	return rc;
}
