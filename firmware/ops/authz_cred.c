/* The optional KMIP Username/Password credential of a request (authz.h "Passwords"). */
#include "firmware/ops/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "board/sec.h"
#include "firmware/store/store.h"

#define META_PREFIX "kmip_password:"
#define RECORD_MAX 512

static void hex_enc(const uint8_t *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static cf_err hex_dec(const char *s, size_t sn, uint8_t *out, size_t n)
{
	if (sn != 2 * n)
		return CF_E_BAD_HEX;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CF_E_BAD_HEX;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return CF_OK;
}

static cf_err pbkdf2(const uint8_t *pw, size_t n, const uint8_t *salt, unsigned iter,
		     uint8_t out[AUTHZ_HASH_LEN])
{
	if (n > (size_t)INT32_MAX)
		return CF_E_INVALID_ARG;
	if (PKCS5_PBKDF2_HMAC((const char *)(n ? (const char *)pw : ""), (int)n, salt, AUTHZ_SALT_LEN,
			      (int)iter, EVP_sha256(), AUTHZ_HASH_LEN, out) != 1)
		return CF_E_INTERNAL;
	return CF_OK;
}

static cf_err meta_key(const char *user, size_t un, char *key, size_t cap)
{
	if (un == 0 || un > AUTHZ_USER_MAX || memchr(user, '\0', un) != NULL)
		return CF_E_AUTH;
	if (cap - 1 < sizeof META_PREFIX - 1 + un)
		return CF_E_AUTH;
	memcpy(key, META_PREFIX, sizeof META_PREFIX - 1);
	memcpy(key + sizeof META_PREFIX - 1, user, un);
	key[sizeof META_PREFIX - 1 + un] = '\0';
	return CF_OK;
}

cf_err authz_password_set(struct store *st, const char *user, const char *tenant,
			  const uint8_t *pw, size_t n, store_rng_fn rng, void *rng_arg)
{
	uint8_t salt[AUTHZ_SALT_LEN], hash[AUTHZ_HASH_LEN];
	char key[sizeof META_PREFIX + AUTHZ_USER_MAX + 1];
	char salt_hex[2 * AUTHZ_SALT_LEN + 1], hash_hex[2 * AUTHZ_HASH_LEN + 1];
	char rec[RECORD_MAX];
	cf_err rc = CF_E_INTERNAL;

	if (st == NULL || user == NULL || tenant == NULL || rng == NULL ||
	    strlen(tenant) == 0 || strlen(tenant) > STORE_TENANT_MAX)
		return CF_E_INVALID_ARG;
	if ((rc = meta_key(user, strlen(user), key, sizeof key)) != CF_OK)
		return CF_E_INVALID_ARG;
	if ((rc = rng(rng_arg, salt, sizeof salt)) != CF_OK)
		goto out;
	if ((rc = pbkdf2(pw, n, salt, AUTHZ_PBKDF2_ITER, hash)) != CF_OK)
		goto out;
	hex_enc(salt, sizeof salt, salt_hex);
	hex_enc(hash, sizeof hash, hash_hex);
	snprintf(rec, sizeof rec, "pbkdf2-sha256$%u$%s$%s$%s", AUTHZ_PBKDF2_ITER, salt_hex, hash_hex,
		 tenant);
	rc = store_meta_set(st, key, rec);
out:
	sec_wipe(hash, sizeof hash);
	sec_wipe(hash_hex, sizeof hash_hex);
	sec_wipe(rec, sizeof rec);
	return rc;
}

/* Verify one Username/Password credential. */
static cf_err check_one(struct store *st, const struct authz_principal *p,
			const struct kmip_credential *c)
{
	char key[sizeof META_PREFIX + AUTHZ_USER_MAX + 1];
	char rec[RECORD_MAX];
	uint8_t salt[AUTHZ_SALT_LEN], want[AUTHZ_HASH_LEN], got[AUTHZ_HASH_LEN];
	char *f[5], *save = NULL, *s;
	unsigned long iter;
	cf_err rc = CF_E_AUTH;
	bool ok;

	if (c->type != KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD || c->username.p == NULL ||
	    c->password.p == NULL)
		return CF_E_AUTH;
	if (meta_key(c->username.p, c->username.n, key, sizeof key) != CF_OK)
		return CF_E_AUTH;
	rc = store_meta_get(st, key, rec, sizeof rec);
	if (rc != CF_OK) {
		rc = (rc == CF_E_NOT_FOUND || rc == CF_E_NO_SPACE) ? CF_E_AUTH : rc;
		goto out;
	}
	rc = CF_E_AUTH;
	s = rec;
	for (int i = 0; i < 4; i++) {
		f[i] = strtok_r(s, "$", &save);
		s = NULL;
		if (f[i] == NULL)
			goto out;
	}
	f[4] = save; /* the tenant: the rest, may be any text */
	if (f[4] == NULL || strcmp(f[0], "pbkdf2-sha256") != 0)
		goto out;
	iter = strtoul(f[1], NULL, 10);
	if (iter == 0 || iter > 10000000ul)
		goto out;
	if (hex_dec(f[2], strlen(f[2]), salt, sizeof salt) != CF_OK ||
	    hex_dec(f[3], strlen(f[3]), want, sizeof want) != CF_OK)
		goto out;
	if ((rc = pbkdf2((const uint8_t *)c->password.p, c->password.n, salt, (unsigned)iter, got)) !=
	    CF_OK)
		goto out;
	ok = ct_memeq(got, want, sizeof got);
	rc = (ok && strcmp(f[4], p->tenant) == 0) ? CF_OK : CF_E_AUTH;
out:
	sec_wipe(got, sizeof got);
	sec_wipe(want, sizeof want);
	sec_wipe(rec, sizeof rec);
	return rc;
}

cf_err authz_credential_check(struct store *st, const struct authz_principal *p,
			      const struct kmip_req_header *h)
{
	if (h == NULL || !h->has_auth || h->n_creds == 0)
		return CF_OK;
	if (st == NULL)
		return CF_E_AUTH;
	for (size_t i = 0; i < h->n_creds && i < KMIP_MAX_CREDENTIALS; i++) {
		cf_err rc = check_one(st, p, &h->creds[i]);
		if (rc != CF_OK)
			return rc;
	}
	return CF_OK;
}

