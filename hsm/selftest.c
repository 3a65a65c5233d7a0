/* Power-up self-tests: known-answer tests run inside the
 * HSM for AES-256-GCM, SHA-256, HMAC-SHA-256 and the blob wrap format, a wrap/unwrap round trip
 * with a tamper check, and a repeated-block check of the generator. Keys are session objects
 * (CKA_TOKEN false) destroyed at the end. A failure names the test; the caller refuses to
 * serve. Vectors: GCM = McGrew-Viega test case 16 (AES-256, 96-bit IV, AAD); SHA-256 = FIPS
 * 180-2 "abc"; HMAC = RFC 4231 test case 6; wrap = our blob format computed independently with
 * pyca/cryptography AESGCM. Also: random bytes (hsm_random). */
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

static const uint8_t gcm_key[32] = {
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
};
static const uint8_t gcm_iv[12] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad,
				    0xde, 0xca, 0xf8, 0x88 };
static const uint8_t gcm_aad[20] = { 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
				     0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2 };
static const uint8_t gcm_pt[60] = {
	0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
	0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
	0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
	0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39,
};
static const uint8_t gcm_ct[76] = {
	0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42,
	0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55,
	0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56,
	0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62,
	/* tag */
	0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68, 0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b,
};
static const uint8_t sha_exp[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};
/* RFC 4231 test case 6: key = 131 x 0xaa (SoftHSMv2 refuses HMAC keys under 32 bytes, which
 * rules out cases 1-4) */
static const char hmac_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
static const uint8_t hmac_exp[32] = {
	0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
	0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54,
};
/* wrap KAT: KEK 00..1f, nonce 40..4b, DEK a0..bf, uid "selftest-uid", object type 2, KEK v1 */
static const uint8_t wrap_exp[76] = {
	0x43, 0x46, 0x4b, 0x57, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x20, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x42, 0x18,
	0x0c, 0x80, 0x82, 0x99, 0x21, 0xa4, 0x65, 0x6d, 0xbd, 0x9d, 0x37, 0xc9, 0xbd, 0xf4, 0xc9,
	0x77, 0xe0, 0xef, 0x03, 0x80, 0xb9, 0x94, 0xcf, 0xfe, 0xf4, 0x5e, 0x2b, 0xae, 0x53, 0x64,
	0x19, 0x79, 0x1d, 0xce, 0x61, 0xcb, 0xaa, 0x17, 0xe2, 0x9d, 0x86, 0x18, 0xfe, 0x6d, 0x3d,
	0x98,
};

static const char *const st_names[HSM_ST_COUNT_] = {
	[HSM_ST_NONE] = "none",
	[HSM_ST_AES_GCM_KAT] = "aes-gcm-kat",
	[HSM_ST_SHA256_KAT] = "sha256-kat",
	[HSM_ST_HMAC_KAT] = "hmac-sha256-kat",
	[HSM_ST_WRAP_KAT] = "wrap-kat",
	[HSM_ST_WRAP_ROUNDTRIP] = "wrap-roundtrip",
	[HSM_ST_RANDOM] = "random",
};

const char *hsm_selftest_name(enum hsm_selftest_id id)
{
	if ((unsigned)id >= HSM_ST_COUNT_)
		return "unknown";
	return st_names[id];
}

/* compare with the expected vector; the test hook flips one expected byte */
static bool st_match(struct hsm_exec *x, enum hsm_selftest_id id, const uint8_t *got, size_t n,
		     const uint8_t *exp)
{
	uint8_t e[128];
	if (n > sizeof e)
		return false;
	memcpy(e, exp, n);
	if (x->h->st_corrupt == id)
		e[n / 2] ^= 0x01;
	return ct_memeq(got, e, n);
}

static cf_err create_secret(struct hsm_exec *x, CK_KEY_TYPE kt, const uint8_t *v, size_t n,
			    bool hmac, CK_OBJECT_HANDLE *o)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &cls, sizeof cls },    { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &fl, 1 },              { CKA_SENSITIVE, &t, 1 },
		{ CKA_EXTRACTABLE, &fl, 1 },        { CKA_ENCRYPT, hmac ? &fl : &t, 1 },
		{ CKA_DECRYPT, hmac ? &fl : &t, 1 }, { CKA_SIGN, hmac ? &t : &fl, 1 },
		{ CKA_VERIFY, hmac ? &t : &fl, 1 },  { CKA_VALUE, (void *)v, n },
	};
	CK_RV rv = x->h->f->C_CreateObject(x->sh, a, sizeof a / sizeof a[0], o);
	return p11_fail(x, rv);
}

static cf_err st_gcm(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	TRY(create_secret(x, CKK_AES, gcm_key, sizeof gcm_key, false, &k));
	io->key = k;
	memcpy(io->nonce, gcm_iv, 12);
	memcpy(io->aad, gcm_aad, sizeof gcm_aad);
	io->aad_n = sizeof gcm_aad;
	memcpy(io->in, gcm_pt, sizeof gcm_pt);
	io->in_n = sizeof gcm_pt;
	cf_err rc = hsm_job_gcm_encrypt(x);
	if (rc == CF_OK && (io->out_n != sizeof gcm_ct ||
			    !st_match(x, HSM_ST_AES_GCM_KAT, io->out, sizeof gcm_ct, gcm_ct)))
		rc = CF_E_HSM_SELFTEST;
	if (rc == CF_OK) {
		memcpy(io->in, gcm_ct, sizeof gcm_ct);
		io->in_n = sizeof gcm_ct;
		rc = hsm_job_gcm_decrypt(x);
		if (rc == CF_OK && (io->out_n != sizeof gcm_pt || !ct_memeq(io->out, gcm_pt, sizeof gcm_pt)))
			rc = CF_E_HSM_SELFTEST;
	}
	(void)x->h->f->C_DestroyObject(x->sh, k);
	return rc;
}

static cf_err st_sha(struct hsm_exec *x)
{
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_RV rv = x->h->f->C_DigestInit(x->sh, &m);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	uint8_t d[64];
	CK_ULONG n = sizeof d;
	rv = x->h->f->C_Digest(x->sh, (CK_BYTE *)"abc", 3, d, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n != 32 || !st_match(x, HSM_ST_SHA256_KAT, d, 32, sha_exp))
		return CF_E_HSM_SELFTEST;
	return CF_OK;
}

static cf_err st_hmac(struct hsm_exec *x)
{
	uint8_t key[131];
	memset(key, 0xaa, sizeof key);
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	TRY(create_secret(x, CKK_GENERIC_SECRET, key, sizeof key, true, &k));
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	cf_err rc = CF_E_HSM_SELFTEST;
	CK_RV rv = x->h->f->C_SignInit(x->sh, &m, k);
	if (rv == CKR_OK) {
		uint8_t mac[64];
		CK_ULONG n = sizeof mac;
		rv = x->h->f->C_Sign(x->sh, (CK_BYTE *)hmac_msg, sizeof hmac_msg - 1, mac, &n);
		if (rv == CKR_OK)
			rc = n == 32 && st_match(x, HSM_ST_HMAC_KAT, mac, 32, hmac_exp)
				     ? CF_OK : CF_E_HSM_SELFTEST;
	}
	if (rv != CKR_OK)
		rc = p11_fail(x, rv);
	(void)x->h->f->C_DestroyObject(x->sh, k);
	return rc;
}

static cf_err st_wrap_kat(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	uint8_t kek[32], dek[32], hdr[HSM_BLOB_HDR];
	for (unsigned i = 0; i < 32; i++) {
		kek[i] = (uint8_t)i;
		dek[i] = (uint8_t)(0xa0 + i);
	}
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	TRY(create_secret(x, CKK_AES, kek, sizeof kek, false, &k));
	sec_wipe(kek, sizeof kek);
	struct hsm_bind b = { (const uint8_t *)"selftest-uid", 12, 2 };
	hsm_blob_header(hdr, 1, 32);
	cf_err rc = hsm_blob_aad(hdr, &b, io->aad, sizeof io->aad, &io->aad_n);
	io->key = k;
	for (unsigned i = 0; i < 12; i++)
		io->nonce[i] = (uint8_t)(0x40 + i);
	memcpy(io->in, dek, 32);
	io->in_n = 32;
	if (rc == CF_OK)
		rc = hsm_job_gcm_encrypt(x);
	if (rc == CF_OK) {
		uint8_t blob[76];
		memcpy(blob, hdr, 16);
		memcpy(blob + 16, io->nonce, 12);
		if (io->out_n != 48) {
			rc = CF_E_HSM_SELFTEST;
		} else {
			memcpy(blob + 28, io->out, 48);
			if (!st_match(x, HSM_ST_WRAP_KAT, blob, sizeof blob, wrap_exp))
				rc = CF_E_HSM_SELFTEST;
		}
	}
	if (rc == CF_OK) {
		memcpy(io->in, wrap_exp + 28, 48);
		io->in_n = 48;
		rc = hsm_job_gcm_decrypt(x);
		if (rc == CF_OK && (io->out_n != 32 || !ct_memeq(io->out, dek, 32)))
			rc = CF_E_HSM_SELFTEST;
	}
	sec_wipe(io->out, sizeof io->out);
	(void)x->h->f->C_DestroyObject(x->sh, k);
	return rc;
}

static cf_err st_roundtrip(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE a[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fl, 1 },
			     { CKA_SENSITIVE, &t, 1 }, { CKA_EXTRACTABLE, &fl, 1 },
			     { CKA_ENCRYPT, &t, 1 }, { CKA_DECRYPT, &t, 1 } };
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	CK_RV rv = x->h->f->C_GenerateKey(x->sh, &gm, a, 6, &k);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	uint8_t dek[32], hdr[HSM_BLOB_HDR], ct[48];
	cf_err rc = CF_E_HSM_SELFTEST;
	rv = x->h->f->C_GenerateRandom(x->sh, dek, sizeof dek);
	if (rv == CKR_OK)
		rv = x->h->f->C_GenerateRandom(x->sh, io->nonce, 12);
	if (rv != CKR_OK) {
		rc = p11_fail(x, rv);
		goto out;
	}
	struct hsm_bind b = { (const uint8_t *)"selftest-rt", 11, 2 };
	hsm_blob_header(hdr, 1, 32);
	if ((rc = hsm_blob_aad(hdr, &b, io->aad, sizeof io->aad, &io->aad_n)) != CF_OK)
		goto out;
	io->key = k;
	memcpy(io->in, dek, 32);
	io->in_n = 32;
	if ((rc = hsm_job_gcm_encrypt(x)) != CF_OK)
		goto out;
	memcpy(ct, io->out, 48);
	memcpy(io->in, ct, 48);
	io->in_n = 48;
	if ((rc = hsm_job_gcm_decrypt(x)) != CF_OK)
		goto out;
	uint8_t exp[32];
	memcpy(exp, dek, 32);
	if (x->h->st_corrupt == HSM_ST_WRAP_ROUNDTRIP)
		exp[7] ^= 1;
	if (io->out_n != 32 || !ct_memeq(io->out, exp, 32)) {
		rc = CF_E_HSM_SELFTEST;
		goto out;
	}
	/* a flipped ciphertext bit must fail authentication */
	ct[3] ^= 0x10;
	memcpy(io->in, ct, 48);
	rc = hsm_job_gcm_decrypt(x);
	x->last_rv = CKR_OK;
	x->fault = HSM_FAULT_NONE;
	rc = rc == CF_E_HSM_UNWRAP ? CF_OK : CF_E_HSM_SELFTEST;
out:
	sec_wipe(dek, sizeof dek);
	sec_wipe(io->out, sizeof io->out);
	(void)x->h->f->C_DestroyObject(x->sh, k);
	return rc;
}

/* the 16-byte blocks of one answer must all differ (stuck generator) */
static bool blocks_distinct(const uint8_t *p, size_t n)
{
	for (size_t i = 0; n >= 32 && i + 16 <= n - 16; i += 16)
		for (size_t j = i + 16; j + 16 <= n; j += 16)
			if (memcmp(p + i, p + j, 16) == 0)
				return false;
	return true;
}

static cf_err st_random(struct hsm_exec *x)
{
	uint8_t r[64];
	CK_RV rv = x->h->f->C_GenerateRandom(x->sh, r, sizeof r);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (x->h->st_corrupt == HSM_ST_RANDOM)
		memcpy(r + 16, r, 16);
	return blocks_distinct(r, sizeof r) ? CF_OK : CF_E_HSM_SELFTEST;
}

static cf_err job_selftest(struct hsm_exec *x)
{
	static cf_err (*const tests[HSM_ST_COUNT_])(struct hsm_exec *) = {
		[HSM_ST_AES_GCM_KAT] = st_gcm,     [HSM_ST_SHA256_KAT] = st_sha,
		[HSM_ST_HMAC_KAT] = st_hmac,       [HSM_ST_WRAP_KAT] = st_wrap_kat,
		[HSM_ST_WRAP_ROUNDTRIP] = st_roundtrip, [HSM_ST_RANDOM] = st_random,
	};
	x->io->kind = HSM_ST_NONE;
	for (int i = 1; i < HSM_ST_COUNT_; i++) {
		cf_err rc = tests[i](x);
		if (rc != CF_OK) {
			x->io->kind = i;
			/* a device / session fault is reported as such; anything else fails the test */
			return x->fault != HSM_FAULT_NONE ? rc : CF_E_HSM_SELFTEST;
		}
	}
	return CF_OK;
}

cf_err hsm_selftest_run(hsm_sess *s, enum hsm_selftest_id *failed)
{
	if (failed != NULL)
		*failed = HSM_ST_NONE;
	if (s == NULL)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	cf_err rc = hsm_sess_run(s, job_selftest, &dl);
	if (rc != CF_OK) {
		enum hsm_selftest_id id = s->x != NULL ? (enum hsm_selftest_id)s->x->io->kind : HSM_ST_NONE;
		if (failed != NULL)
			*failed = id;
		log_err_r(rc, "hsm: self-test failed: %s", hsm_selftest_name(id));
		if (rc != CF_E_HSM_SELFTEST && id != HSM_ST_NONE)
			rc = CF_E_HSM_SELFTEST;
		return rc;
	}
	return CF_OK;
}

static cf_err job_random(struct hsm_exec *x)
{
	CK_RV rv = x->h->f->C_GenerateRandom(x->sh, x->io->out, x->io->out_n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return blocks_distinct(x->io->out, x->io->out_n) ? CF_OK : CF_E_HSM;
}

cf_err hsm_random(hsm_sess *s, uint8_t *out, size_t n)
{
	cf_err rc = CF_E_INTERNAL;
	if (s == NULL || (out == NULL && n > 0) || n > 1024u * 1024u) {
		if (out != NULL && n <= 1024u * 1024u)
			sec_wipe(out, n);
		return CF_E_INVALID_ARG;
	}
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	size_t off = 0;
	while (off < n) {
		size_t k = n - off < 1024u ? n - off : 1024u;
		if ((rc = hsm_sess_ready(s, &dl)) != CF_OK)
			goto out;
		s->x->io->out_n = k;
		rc = hsm_sess_run(s, job_random, &dl);
		if (s->x != NULL && rc == CF_OK)
			memcpy(out + off, s->x->io->out, k);
		if (s->x != NULL)
			sec_wipe(s->x->io->out, k);
		if (rc != CF_OK)
			goto out;
		off += k;
	}
	rc = CF_OK;
out:
	if (rc != CF_OK && out != NULL)
		sec_wipe(out, n); /* never a part of the bytes with an error */
	return rc;
}

#ifdef COFFRE_TEST_HOOKS
void hsm_test_selftest_corrupt(hsm *h, enum hsm_selftest_id id)
{
	if (h != NULL)
		h->st_corrupt = id;
}
#endif
