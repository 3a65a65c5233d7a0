/* The TOTP second factor (accounts.h "TOTP"): RFC 4226 / RFC 6238 codes, the secret sealed
 * under a key derived from the password, and the enrolment text (otpauth URI, QR code). */
#include "firmware/accounts/accounts.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "board/sec.h"

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* ---- codes ------------------------------------------------------------------------------ */

uint32_t acct_hotp(const uint8_t *key, size_t n, uint64_t counter, unsigned digits)
{
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	uint32_t mod = 1;

	if (digits == 0 || digits > 8)
		return UINT32_MAX;
	for (unsigned i = 0; i < digits; i++)
		mod *= 10;
	put_be64(msg, counter);
	if (HMAC(EVP_sha1(), key, (int)n, msg, sizeof msg, mac, &mlen) == NULL || mlen != 20) {
		sec_wipe(mac, sizeof mac);
		return UINT32_MAX; /* never equal to a code */
	}
	unsigned off = mac[19] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
		       ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
	sec_wipe(mac, sizeof mac);
	return bin % mod;
}

bool acct_totp_check(const uint8_t key[ACCT_TOTP_KEY_LEN], const char *code, int64_t now,
		     uint64_t last_step, uint64_t *step)
{
	bool ok = false;
	uint64_t found = 0;

	if (code == NULL || strlen(code) != ACCT_TOTP_DIGITS || now < 0)
		return false;
	for (int i = 0; i < ACCT_TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	uint64_t t = (uint64_t)now / ACCT_TOTP_STEP;
	/* all three steps are computed and compared whatever matches first */
	for (uint64_t s = t > 0 ? t - 1 : 0; s <= t + 1; s++) {
		char want[16];
		snprintf(want, sizeof want, "%0*u", ACCT_TOTP_DIGITS,
			 (unsigned)acct_hotp(key, ACCT_TOTP_KEY_LEN, s, ACCT_TOTP_DIGITS));
		bool m = ct_memeq(want, code, ACCT_TOTP_DIGITS);
		if (m && s > last_step && !ok) {
			ok = true;
			found = s;
		}
		sec_wipe(want, sizeof want);
	}
	if (ok && step != NULL)
		*step = found;
	return ok;
}

cf_err acct_totp_generate(struct acct_totp *t)
{
	t->last_step = 0;
	return acct_random(t->secret, sizeof t->secret);
}

/* ---- the sealed secret ------------------------------------------------------------------ */

cf_err acct_totp_derive(struct acct_totp *t, const char *pw, size_t n)
{
	int r = argon2id_hash_raw(ACCT_ARGON_T, ACCT_ARGON_M_KIB, ACCT_ARGON_P, pw, n, t->salt,
				  sizeof t->salt, t->key, sizeof t->key);
	if (r != ARGON2_OK) {
		sec_wipe(t->key, sizeof t->key);
		log_err("accounts: argon2id: %s", argon2_error_message(r));
		return r == ARGON2_MEMORY_ALLOCATION_ERROR ? CF_E_NOMEM : CF_E_INTERNAL;
	}
	return CF_OK;
}

/* The AAD (hdr | name) and the data: encrypt in[n] into out, or decrypt it. */
static bool gcm_update(EVP_CIPHER_CTX *x, bool enc, const uint8_t *hdr, size_t n_hdr,
		       const char *name, const uint8_t *in, size_t n, uint8_t *out, int *len)
{
	int (*upd)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
		enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
	return upd(x, NULL, len, hdr, (int)n_hdr) == 1 &&
	       upd(x, NULL, len, (const uint8_t *)name, (int)strlen(name)) == 1 &&
	       upd(x, out, len, in, (int)n) == 1;
}

/* AES-256-GCM over in[n] with AAD = hdr | name; enc writes tag, !enc checks it. */
static MUST_USE cf_err gcm(bool enc, const uint8_t key[32], const uint8_t *hdr, size_t n_hdr,
		  const char *name, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	const uint8_t *iv = hdr + 3 + ACCT_SALT_LEN;
	int len = 0, ok;
	cf_err rc = CF_E_INTERNAL;

	if (x == NULL)
		return CF_E_NOMEM;
	ok = enc ? EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, iv)
		 : EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, iv);
	if (ok != 1 || !gcm_update(x, enc, hdr, n_hdr, name, in, n, out, &len))
		goto out;
	if (enc) {
		if (EVP_EncryptFinal_ex(x, out + len, &len) != 1 ||
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
			goto out;
		rc = CF_OK;
	} else {
		if (EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
			goto out;
		rc = EVP_DecryptFinal_ex(x, out + len, &len) == 1 ? CF_OK : CF_E_AUTH;
	}
out:
	if (!enc && rc != CF_OK)
		sec_wipe(out, n);
	EVP_CIPHER_CTX_free(x);
	return rc;
}

cf_err acct_totp_seal(const char *name, const struct acct_totp *t, uint8_t **blob, size_t *n_blob)
{
	uint8_t pt[ACCT_SEAL_PT];
	uint8_t *b;
	cf_err rc;

	*blob = NULL;
	*n_blob = 0;
	if ((b = malloc(ACCT_SEAL_LEN)) == NULL)
		return CF_E_NOMEM;
	b[0] = 'C';
	b[1] = 'T';
	b[2] = 1;
	memcpy(b + 3, t->salt, ACCT_SALT_LEN);
	if ((rc = acct_random(b + 3 + ACCT_SALT_LEN, 12)) != CF_OK) {
		free(b);
		return rc;
	}
	memcpy(pt, t->secret, ACCT_TOTP_KEY_LEN);
	put_be64(pt + ACCT_TOTP_KEY_LEN, t->last_step);
	rc = gcm(true, t->key, b, ACCT_SEAL_HDR, name, pt, sizeof pt, b + ACCT_SEAL_HDR,
		 b + ACCT_SEAL_HDR + ACCT_SEAL_PT);
	sec_wipe(pt, sizeof pt);
	if (rc != CF_OK) {
		sec_freezero(b, ACCT_SEAL_LEN);
		return rc;
	}
	*blob = b;
	*n_blob = ACCT_SEAL_LEN;
	return CF_OK;
}

cf_err acct_totp_seal_new(const char *name, struct acct_totp *t, const char *pw, size_t n,
			  uint8_t **blob, size_t *n_blob)
{
	*blob = NULL;
	*n_blob = 0;
	TRY(acct_random(t->salt, sizeof t->salt));
	TRY(acct_totp_derive(t, pw, n));
	return acct_totp_seal(name, t, blob, n_blob);
}

cf_err acct_totp_unseal(const char *name, const char *pw, size_t n, const uint8_t *blob,
			size_t n_blob, struct acct_totp *t)
{
	uint8_t pt[ACCT_SEAL_PT], tag[16];
	cf_err rc;

	sec_wipe(t, sizeof *t);
	if (blob == NULL || n_blob != ACCT_SEAL_LEN || blob[0] != 'C' || blob[1] != 'T' || blob[2] != 1)
		return CF_E_BAD_VALUE;
	memcpy(t->salt, blob + 3, ACCT_SALT_LEN);
	TRY(acct_totp_derive(t, pw, n));
	memcpy(tag, blob + ACCT_SEAL_HDR + ACCT_SEAL_PT, sizeof tag);
	rc = gcm(false, t->key, blob, ACCT_SEAL_HDR, name, blob + ACCT_SEAL_HDR, ACCT_SEAL_PT, pt, tag);
	if (rc == CF_OK) {
		memcpy(t->secret, pt, ACCT_TOTP_KEY_LEN);
		t->last_step = get_be64(pt + ACCT_TOTP_KEY_LEN);
	} else {
		sec_wipe(t, sizeof *t);
	}
	sec_wipe(pt, sizeof pt);
	return rc;
}

/* ---- enrolment text --------------------------------------------------------------------- */

void acct_base32(const uint8_t *in, size_t n, char *out)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint32_t buf = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = alpha[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = alpha[(buf << (5 - bits)) & 31];
	out[o] = '\0';
	sec_wipe(&buf, sizeof buf);
}

cf_err acct_otpauth_uri(const char *name, const char *b32, char *out, size_t cap)
{
	/* names are [a-z0-9._-]: nothing to percent-encode. SHA-1, 6 digits and 30 s are the
	 * otpauth defaults; leaving them out keeps the QR code small enough for 80 columns. */
	if (!acct_name_ok(name))
		return CF_E_INVALID_ARG;
	int r = snprintf(out, cap, "otpauth://totp/" ACCT_ISSUER ":%s?secret=%s&issuer=" ACCT_ISSUER,
			 name, b32);
	if (r < 0 || (size_t)r >= cap)
		return CF_E_NO_SPACE;
	return CF_OK;
}

cf_err acct_qr_ascii(const char *text, char **out)
{
	enum { QZ = 2 };
	*out = NULL;
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (q == NULL)
		return errno == ERANGE ? CF_E_TOO_LARGE : CF_E_NOMEM;
	size_t w = (size_t)q->width, full = w + 2 * QZ, line = 2 * full + 1;
	char *s = malloc(line * full + 1);
	if (s == NULL) {
		sec_wipe(q->data, w * w);
		QRcode_free(q);
		return CF_E_NOMEM;
	}
	char *p = s;
	for (size_t y = 0; y < full; y++) {
		for (size_t x = 0; x < full; x++) {
			bool dark = y >= QZ && y < QZ + w && x >= QZ && x < QZ + w &&
				    (q->data[(y - QZ) * w + (x - QZ)] & 1);
			*p++ = dark ? '#' : ' ';
			*p++ = dark ? '#' : ' ';
		}
		*p++ = '\n';
	}
	*p = '\0';
	/* the modules encode the secret */
	sec_wipe(q->data, w * w);
	QRcode_free(q);
	*out = s;
	return CF_OK;
}
