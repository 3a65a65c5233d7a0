/* DEK blobs: key material wrapped under the current KEK (docs/architecture.md "Data at rest").
 *
 * Mechanism: AES-256-GCM through C_Encrypt / C_Decrypt with the KEK, NOT C_WrapKey with
 * CKM_AES_KEY_WRAP_PAD (RFC 5649). Measured here, SoftHSMv2 2.6.1, one thread, 32-byte DEK:
 *   with a session-object AES key (a throw-away measurement program):
 *     GCM C_DecryptInit + C_Decrypt                      ~84,000 /s
 *     GCM C_GenerateRandom + C_EncryptInit + C_Encrypt   ~67,000 /s
 *     KWP C_UnwrapKey + C_GetAttributeValue(CKA_VALUE) + C_DestroyObject   ~20,000 /s
 *     KWP C_GenerateKey + C_WrapKey + C_DestroyObject    ~20,000 /s
 *   with the real KEK, a token object (`make bench-hsm`; SoftHSMv2 re-checks the token object
 *   file on each use, which dominates): GCM decrypt ~23,000 /s, GCM generate+wrap ~24,000 /s,
 *   KWP unwrap+read ~15,000 /s, KWP generate+wrap ~15,000 /s.
 * GCM is 1.5-4x faster on the hot path (KMIP Get), and it is also the better fit for the promise:
 *  - vCenter needs the raw DEK bytes (KMIP Get), so the DEK must reach our memory anyway.
 *    With GCM, C_Decrypt writes it straight into the executor's sec_alloc (mlock'd,
 *    MADV_DONTDUMP) scratch, then the caller's sec_alloc buffer: one module call, no HSM
 *    object. With KWP, C_UnwrapKey creates a session object that must be CKA_SENSITIVE=FALSE
 *    and CKA_EXTRACTABLE=TRUE so CKA_VALUE can be read out, then destroyed: three calls, a
 *    readable key object living in the HSM between them, and a leak if the destroy fails.
 *  - KWP has no associated data: binding the blob to its row would need a second key (e.g.
 *    an HMAC over header || uid || type) or a per-row derived KEK. GCM binds directly through
 *    AAD = header || uid length || uid || object type.
 *  - The KEK never leaves the HSM either way (CKA_SENSITIVE, not extractable; see kek.c).
 * GCM's limit: random 96-bit nonces are safe for < 2^32 encryptions per key (SP 800-38D 8.3);
 * a KEK wraps one blob per managed object (and per rotation), far below that.
 *
 * Blob = header(16) || nonce(12) || ciphertext(dek_len) || tag(16)
 *   header = "CFKW" | format u8 (1) | mechanism u8 (1 = AES-256-GCM) | reserved u16 (0)
 *          | KEK version u32 BE | dek_len u32 BE
 * Errors: a malformed header, unknown format or mechanism, or a length that disagrees with the
 * blob -> CF_E_HSM_BLOB (parser: blob.c, pure, fuzzed); a KEK version we do not have -> CF_E_HSM_WRONG_KEK; an authentication
 * failure (tampered bytes, or the blob moved to another uid / object type, or its header
 * edited to name another existing KEK) -> CF_E_HSM_UNWRAP. */
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

#define NONCE_N 12u
#define TAG_N 16u

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t hsm_blob_size(size_t dek_n)
{
	return HSM_BLOB_HDR + NONCE_N + dek_n + TAG_N;
}

void hsm_blob_header(uint8_t hdr[HSM_BLOB_HDR], uint32_t kek_version, uint32_t dek_len)
{
	struct hsm_blob_hdr bh = { HSM_BLOB_FORMAT, HSM_BLOB_MECH_AES_GCM, 0, kek_version, dek_len };
	hsm_blob_hdr_write(&bh, hdr);
}

cf_err hsm_blob_aad(const uint8_t hdr[HSM_BLOB_HDR], const struct hsm_bind *b, uint8_t *aad,
		    size_t cap, size_t *n)
{
	*n = 0;
	if (b == NULL || b->uid == NULL || b->uid_n == 0 || b->uid_n > HSM_UID_MAX)
		return CF_E_INVALID_ARG;
	if (cap < HSM_BLOB_HDR + 4u + 4u || cap - (HSM_BLOB_HDR + 8u) < b->uid_n)
		return CF_E_NO_SPACE;
	size_t o = 0;
	memcpy(aad, hdr, HSM_BLOB_HDR);
	o += HSM_BLOB_HDR;
	be32_put(aad + o, (uint32_t)b->uid_n);
	o += 4;
	memcpy(aad + o, b->uid, b->uid_n);
	o += b->uid_n;
	be32_put(aad + o, b->obj_type);
	o += 4;
	*n = o;
	return CF_OK;
}

/* ---- jobs (run on the executor; arguments in x->io) ---------------------------------- */

/* Warm KEKs. SoftHSMv2 re-reads a token object's file (open, fcntl lock, read, close) on every
 * use, which made C_DecryptInit most of a KMIP Get (profile). A session-object copy of
 * the KEK (C_CopyObject with CKA_TOKEN false: every other attribute, CKA_SENSITIVE and
 * not-extractable included, is kept) lives in the executor's session and is used instead:
 * make bench-hsm's session-object figures. A copy is used only while the KEK table still maps
 * its version to the token object it was copied from, so a destroyed or replaced KEK's copy is
 * never used again and is destroyed at the executor's next KEK job (and with the session). */
static void kcopy_drop(struct hsm_exec *x, unsigned i)
{
	(void)x->h->f->C_DestroyObject(x->sh, x->kcopy[i].copy);
	x->kcopy[i] = x->kcopy[--x->kcopy_n];
}

static CK_OBJECT_HANDLE job_kek(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	uint32_t v = (uint32_t)x->io->ul[0];
	/* looked up inside the job: the executor holds mod_lock, so no re-init can void it */
	CK_OBJECT_HANDLE tok = hsm_kek_handle(h, v);
	/* copies whose KEK went away or changed: destroyed now */
	for (unsigned i = 0; i < x->kcopy_n;) {
		const struct hsm_kcopy *k = &x->kcopy[i];
		if ((k->version == v ? tok : hsm_kek_handle(h, k->version)) != k->tok)
			kcopy_drop(x, i);
		else
			i++;
	}
	if (tok == CK_INVALID_HANDLE || x->kcopy_off || !x->sh_open)
		return tok;
	for (unsigned i = 0; i < x->kcopy_n; i++)
		if (x->kcopy[i].version == v)
			return x->kcopy[i].copy;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &f, sizeof f } };
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
	CK_RV rv = h->f->C_CopyObject(x->sh, tok, t, 1, &copy);
	if (rv != CKR_OK || copy == CK_INVALID_HANDLE) {
		x->kcopy_off = true; /* (once per executor) */
		log_info("hsm: KEK %u: no session copy (C_CopyObject: 0x%lx); using the token object",
			 v, (unsigned long)rv);
		return tok;
	}
	if (x->kcopy_n == HSM_KCOPY_MAX)
		kcopy_drop(x, 0);
	x->kcopy[x->kcopy_n++] = (struct hsm_kcopy){ v, tok, copy };
	return copy;
}

CK_OBJECT_HANDLE hsm_job_kek_warm(struct hsm_exec *x, uint32_t v)
{
	x->io->ul[0] = v;
	return job_kek(x);
}

cf_err hsm_job_gcm_encrypt(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_GCM_PARAMS gp = { io->nonce, NONCE_N, NONCE_N * 8u, io->aad, io->aad_n, TAG_N * 8u };
	CK_MECHANISM m = { CKM_AES_GCM, &gp, sizeof gp };
	CK_RV rv = x->h->f->C_EncryptInit(x->sh, &m, io->key);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG n = sizeof io->out;
	rv = x->h->f->C_Encrypt(x->sh, io->in, io->in_n, io->out, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n != io->in_n + TAG_N) /* untrusted length */
		return CF_E_HSM_OUTPUT;
	io->out_n = n;
	return CF_OK;
}

cf_err hsm_job_gcm_decrypt(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	io->out_n = 0;
	if (io->in_n < TAG_N)
		return CF_E_HSM_BLOB;
	CK_GCM_PARAMS gp = { io->nonce, NONCE_N, NONCE_N * 8u, io->aad, io->aad_n, TAG_N * 8u };
	CK_MECHANISM m = { CKM_AES_GCM, &gp, sizeof gp };
	CK_RV rv = x->h->f->C_DecryptInit(x->sh, &m, io->key);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG n = sizeof io->out;
	rv = x->h->f->C_Decrypt(x->sh, io->in, io->in_n, io->out, &n);
	if (rv != CKR_OK) {
		/* SoftHSMv2 answers a GCM tag mismatch with CKR_GENERAL_ERROR; that and anything
		 * that is not a session / device / module fault is an authentication failure and
		 * leaves the session healthy */
		enum hsm_fault ft = p11_rv_fault(rv);
		if (ft == HSM_FAULT_NONE || rv == CKR_GENERAL_ERROR)
			return CF_E_HSM_UNWRAP;
		return p11_fail(x, rv);
	}
	if (n != io->in_n - TAG_N) { /* untrusted length */
		sec_wipe(io->out, sizeof io->out);
		return CF_E_HSM_OUTPUT;
	}
	io->out_n = n;
	return CF_OK;
}

/* Odd parity in the low bit of each byte (DES key bytes, FIPS 46-3), without branching on
 * the key bits. */
static void des_parity(uint8_t *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = k[i] >> 1;
		v ^= v >> 4;
		v ^= v >> 2;
		v ^= v >> 1;
		k[i] = (uint8_t)((k[i] & 0xfeu) | ((v & 1u) ^ 1u));
	}
}

/* The plaintext's options (io->dek_flags: HSM_DEK_*): parity, then the SHA-256 by the HSM
 * (the KMIP Digest of the key material as made) into io->digest. */
static cf_err job_plain_opts(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	if (io->dek_flags & HSM_DEK_DES_PARITY)
		des_parity(io->in, io->in_n);
	if ((io->dek_flags & HSM_DEK_DIGEST) == 0)
		return CF_OK;
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_RV rv = x->h->f->C_DigestInit(x->sh, &m);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG n = sizeof io->digest;
	rv = x->h->f->C_Digest(x->sh, io->in, io->in_n, io->digest, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return n == sizeof io->digest ? CF_OK : CF_E_HSM_OUTPUT; /* untrusted length */
}

static cf_err job_wrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	if ((io->key = job_kek(x)) == CK_INVALID_HANDLE)
		return CF_E_HSM_NOT_FOUND;
	TRY(job_plain_opts(x));
	CK_RV rv = x->h->f->C_GenerateRandom(x->sh, io->nonce, NONCE_N);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return hsm_job_gcm_encrypt(x);
}


static cf_err job_generate_wrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	if ((io->key = job_kek(x)) == CK_INVALID_HANDLE)
		return CF_E_HSM_NOT_FOUND;
	/* one call for key material and nonce: dek || nonce */
	CK_RV rv = x->h->f->C_GenerateRandom(x->sh, io->in, io->in_n + NONCE_N);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	memcpy(io->nonce, io->in + io->in_n, NONCE_N);
	sec_wipe(io->in + io->in_n, NONCE_N);
	cf_err rc = job_plain_opts(x);
	if (rc == CF_OK)
		rc = hsm_job_gcm_encrypt(x);
	sec_wipe(io->in, io->in_n + NONCE_N);
	return rc;
}

static cf_err job_unwrap(struct hsm_exec *x)
{
	if ((x->io->key = job_kek(x)) == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK; /* the KEK went away since the caller looked */
	return hsm_job_gcm_decrypt(x);
}

/* ---- public -------------------------------------------------------------------------- */

/* prepare header + AAD for a wrap under KEK kv (0 = the current KEK) with mechanism mech */
static cf_err wrap_prepare(hsm_sess *s, uint8_t mech, uint32_t kv, size_t dek_n,
			   const struct hsm_bind *b, uint8_t *blob, size_t cap,
			   uint8_t hdr[HSM_BLOB_HDR])
{
	if (dek_n == 0 || dek_n > HSM_DEK_MAX || blob == NULL)
		return CF_E_INVALID_ARG;
	if (cap < hsm_blob_size(dek_n))
		return CF_E_NO_SPACE;
	if (kv == 0)
		kv = hsm_kek_current(s->h);
	if (kv == 0)
		return CF_E_HSM_NOT_FOUND;
	struct hsm_blob_hdr bh = { HSM_BLOB_FORMAT, mech, 0, kv, (uint32_t)dek_n };
	hsm_blob_hdr_write(&bh, hdr);
	struct hsm_io *io = s->x->io;
	TRY(hsm_blob_aad(hdr, b, io->aad, sizeof io->aad, &io->aad_n));
	io->ul[0] = kv;
	io->in_n = dek_n;
	return CF_OK;
}

static void wrap_emit(struct hsm_io *io, const uint8_t hdr[HSM_BLOB_HDR], uint8_t *blob,
		      size_t *blob_n)
{
	memcpy(blob, hdr, HSM_BLOB_HDR);
	memcpy(blob + HSM_BLOB_HDR, io->nonce, NONCE_N);
	memcpy(blob + HSM_BLOB_HDR + NONCE_N, io->out, io->out_n);
	*blob_n = HSM_BLOB_HDR + NONCE_N + io->out_n;
}

/* how a blob is made: its mechanism, the KEK version (0 = the current KEK), HSM_DEK_* flags */
struct wrap_how {
	uint8_t mech;
	uint32_t kv;
	unsigned flags;
};

static cf_err wrap_common(hsm_sess *s, const struct wrap_how *how, const uint8_t *dek,
			  size_t dek_n, const struct hsm_bind *b, uint8_t *blob, size_t cap,
			  size_t *blob_n, uint8_t *digest)
{
	cf_err rc = CF_E_INTERNAL;
	if (blob_n != NULL)
		*blob_n = 0;
	if (s == NULL || blob_n == NULL) {
		rc = CF_E_INVALID_ARG;
		goto out;
	}
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	if ((rc = hsm_sess_ready(s, &dl)) != CF_OK)
		goto out;
	uint8_t hdr[HSM_BLOB_HDR];
	if ((rc = wrap_prepare(s, how->mech, how->kv, dek_n, b, blob, cap, hdr)) != CF_OK)
		goto out;
	struct hsm_io *io = s->x->io;
	if (dek != NULL)
		memcpy(io->in, dek, dek_n);
	io->dek_flags = how->flags;
	rc = hsm_sess_run(s, dek != NULL ? job_wrap : job_generate_wrap, &dl);
	if (s->x != NULL) {
		io = s->x->io;
		sec_wipe(io->in, dek_n);
		io->dek_flags = 0;
		if (rc == CF_OK)
			wrap_emit(io, hdr, blob, blob_n);
		if (rc == CF_OK && digest != NULL)
			memcpy(digest, io->digest, sizeof io->digest);
		sec_wipe(io->digest, sizeof io->digest);
	}
out:
	if (rc != CF_OK && blob != NULL)
		sec_wipe(blob, cap); /* fail closed: no blob, not even a header */
	return rc;
}

cf_err hsm_dek_generate(hsm_sess *s, size_t dek_n, const struct hsm_bind *b, uint8_t *blob,
			size_t cap, size_t *blob_n)
{
	static const struct wrap_how gcm = { HSM_BLOB_MECH_AES_GCM, 0, 0 };
	return wrap_common(s, &gcm, NULL, dek_n, b, blob, cap, blob_n, NULL);
}

cf_err hsm_dek_make(hsm_sess *s, const uint8_t *dek, size_t dek_n, unsigned flags,
		    const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n,
		    uint8_t digest[HSM_SHA256_LEN])
{
	if (((flags & HSM_DEK_DIGEST) != 0 && digest == NULL) ||
	    (dek != NULL && (flags & HSM_DEK_DES_PARITY) != 0)) {
		if (blob_n != NULL)
			*blob_n = 0;
		return CF_E_INVALID_ARG;
	}
	const struct wrap_how how = { HSM_BLOB_MECH_AES_GCM, 0, flags };
	return wrap_common(s, &how, dek, dek_n, b, blob, cap, blob_n,
			   (flags & HSM_DEK_DIGEST) ? digest : NULL);
}

cf_err hsm_dek_wrap(hsm_sess *s, const uint8_t *dek, size_t dek_n, const struct hsm_bind *b,
		    uint8_t *blob, size_t cap, size_t *blob_n)
{
	if (dek == NULL)
		return CF_E_INVALID_ARG;
	static const struct wrap_how gcm = { HSM_BLOB_MECH_AES_GCM, 0, 0 };
	return wrap_common(s, &gcm, dek, dek_n, b, blob, cap, blob_n, NULL);
}

cf_err hsm_blob_seal(hsm_sess *s, uint8_t mech, uint32_t kv, const uint8_t *data, size_t n,
		     const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n)
{
	if (data == NULL || kv == 0)
		return CF_E_INVALID_ARG;
	const struct wrap_how how = { mech, kv, 0 };
	return wrap_common(s, &how, data, n, b, blob, cap, blob_n, NULL);
}

/* unwrap into the executor's scratch (io->out); the caller copies it where it belongs */
static cf_err unwrap_to_io(hsm_sess *s, const uint8_t *blob, size_t n, const struct hsm_bind *b,
			   const struct timespec *dl, struct hsm_blob_info *bi)
{
	TRY(hsm_blob_info_get(blob, n, bi));
	if (hsm_kek_handle(s->h, bi->kek_version) == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	TRY(hsm_sess_ready(s, dl));
	struct hsm_io *io = s->x->io;
	TRY(hsm_blob_aad(blob, b, io->aad, sizeof io->aad, &io->aad_n));
	memcpy(io->nonce, blob + HSM_BLOB_HDR, NONCE_N);
	io->in_n = bi->dek_len + TAG_N;
	memcpy(io->in, blob + HSM_BLOB_HDR + NONCE_N, io->in_n);
	io->ul[0] = bi->kek_version;
	return hsm_sess_run(s, job_unwrap, dl);
}

/* After unwrap_to_io of a KWP-then-GCM blob: io->out holds the KWP ciphertext; open it
 * inside the HSM (hsm_job_kwp_open) so that io->out holds the PKCS#8 DER. */
static cf_err kwp_open_io(hsm_sess *s, const struct hsm_blob_info *bi, const struct timespec *dl)
{
	struct hsm_io *io = s->x->io;
	if (io->out_n != bi->dek_len)
		return CF_E_HSM_OUTPUT;
	memcpy(io->in, io->out, bi->dek_len); /* ciphertext, both in the executor's scratch */
	io->in_n = bi->dek_len;
	sec_wipe(io->out, sizeof io->out);
	io->ul[0] = bi->kek_version;
	return hsm_sess_run(s, hsm_job_kwp_open, dl);
}

cf_err hsm_dek_unwrap(hsm_sess *s, const uint8_t *blob, size_t n, const struct hsm_bind *b,
		      uint8_t *out, size_t cap, size_t *out_n)
{
	if (out_n != NULL)
		*out_n = 0;
	if (s == NULL || out == NULL || out_n == NULL) {
		if (out != NULL)
			sec_wipe(out, cap); /* "on any error out[] is wiped" */
		return CF_E_INVALID_ARG;
	}
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	struct hsm_blob_info bi;
	cf_err rc = unwrap_to_io(s, blob, n, b, &dl, &bi);
	size_t len = bi.dek_len;
	if (rc == CF_OK && bi.mech == HSM_BLOB_MECH_KWP_GCM) {
		rc = kwp_open_io(s, &bi, &dl);
		/* RFC 5649: the plaintext is 1..7 bytes shorter than ciphertext - 8 */
		len = rc == CF_OK ? s->x->io->out_n : 0;
		if (rc == CF_OK && (len == 0 || len > bi.dek_len - 8u))
			rc = CF_E_HSM_OUTPUT;
	} else if (rc == CF_OK && s->x->io->out_n != bi.dek_len) {
		rc = CF_E_HSM_OUTPUT;
	}
	if (rc == CF_OK && cap < len)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK) {
		memcpy(out, s->x->io->out, len);
		*out_n = len;
	} else {
		sec_wipe(out, cap);
	}
	if (s->x != NULL)
		sec_wipe(s->x->io->out, sizeof s->x->io->out);
	return rc;
}

/* After unwrap_to_io (io->out = the sealed payload): what goes into the new blob, in io->out,
 * and the KEK version it is for. GCM: the DEK itself; KWP-then-GCM: the private key unwrapped
 * under the old KEK and wrapped under the new one, inside the HSM. */
static cf_err rewrap_payload(hsm_sess *s, const struct hsm_blob_info *bi, const struct timespec *dl,
			     uint32_t *kv)
{
	struct hsm_io *io = s->x->io;
	if (io->out_n != bi->dek_len)
		return CF_E_HSM_OUTPUT;
	if ((*kv = hsm_kek_current(s->h)) == 0)
		return CF_E_HSM_NOT_FOUND;
	if (bi->mech != HSM_BLOB_MECH_KWP_GCM)
		return CF_OK;
	memcpy(io->in, io->out, bi->dek_len);
	io->in_n = bi->dek_len;
	sec_wipe(io->out, sizeof io->out);
	io->ul[0] = bi->kek_version;
	io->ul[1] = *kv;
	TRY(hsm_sess_run(s, hsm_job_kwp_rewrap, dl));
	io = s->x->io;
	if (io->out_n < 16u || io->out_n % 8u != 0 || io->out_n > HSM_DEK_MAX)
		return CF_E_HSM_OUTPUT;
	return CF_OK;
}

cf_err hsm_dek_rewrap(hsm_sess *s, const uint8_t *blob, size_t n, const struct hsm_bind *b,
		      uint8_t *out, size_t cap, size_t *out_n)
{
	if (out_n != NULL)
		*out_n = 0;
	if (s == NULL || out == NULL || out_n == NULL) {
		if (out != NULL)
			sec_wipe(out, cap);
		return CF_E_INVALID_ARG;
	}
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	struct hsm_blob_info bi;
	uint32_t kv = 0;
	cf_err rc = unwrap_to_io(s, blob, n, b, &dl, &bi);
	uint8_t hdr[HSM_BLOB_HDR];
	if (rc == CF_OK)
		rc = rewrap_payload(s, &bi, &dl, &kv);
	size_t len = rc == CF_OK ? s->x->io->out_n : 0;
	if (rc == CF_OK)
		rc = wrap_prepare(s, bi.mech, kv, len, b, out, cap, hdr);
	if (rc == CF_OK) {
		struct hsm_io *io = s->x->io;
		memcpy(io->in, io->out, len); /* both in the executor's locked scratch */
		sec_wipe(io->out, sizeof io->out);
		s->x->io->dek_flags = 0;
		rc = hsm_sess_run(s, job_wrap, &dl);
		if (s->x != NULL) {
			sec_wipe(s->x->io->in, len);
			if (rc == CF_OK)
				wrap_emit(s->x->io, hdr, out, out_n);
		}
	}
	if (s->x != NULL)
		sec_wipe(s->x->io->out, sizeof s->x->io->out);
	if (rc != CF_OK)
		sec_wipe(out, cap); /* fail closed: no blob on error */
	return rc;
}
