/* The optional KMIP Username/Password credential of a request (authz.h "Passwords"): the
 * password record is the Argon2id encoded hash of the console administrators
 * (firmware/accounts, acct_pw_hash / acct_pw_verify) followed by the tenant. */
#include "firmware/ops/authz.h"

#include <stdio.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/accounts/accounts.h"
#include "firmware/store/store.h"

#define META_PREFIX "kmip_password:"
#define TENANT_PREFIX "kmip_password_tenant:" /* "1": the tenant has a password (required) */
#define RECORD_MAX (ACCT_ENCODED_MAX + 1 + STORE_TENANT_MAX + 1)
#define HASH_FIELDS 6 /* '$' characters up to the tenant: five in the hash, one after it */

static MUST_USE cf_err meta_key(const char *user, size_t un, char *key, size_t cap)
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
	uint8_t salt[ACCT_SALT_LEN];
	char key[sizeof TENANT_PREFIX + AUTHZ_USER_MAX + STORE_TENANT_MAX + 1];
	char hash[ACCT_ENCODED_MAX];
	char rec[RECORD_MAX];
	cf_err rc;

	hash[0] = '\0';
	rec[0] = '\0';
	if (st == NULL || user == NULL || tenant == NULL || rng == NULL ||
	    strlen(tenant) == 0 || strlen(tenant) > STORE_TENANT_MAX)
		return CF_E_INVALID_ARG;
	if (meta_key(user, strlen(user), key, sizeof key) != CF_OK)
		return CF_E_INVALID_ARG;
	if ((rc = rng(rng_arg, salt, sizeof salt)) != CF_OK ||
	    (rc = acct_pw_hash_salt((const char *)pw, n, salt, hash)) != CF_OK)
		goto out;
	int r = snprintf(rec, sizeof rec, "%s$%s", hash, tenant);
	rc = (r < 0 || (size_t)r >= sizeof rec) ? CF_E_NO_SPACE : store_meta_set(st, key, rec);
	if (rc == CF_OK) {
		/* the tenant now has a password: an empty credential is no longer ignored */
		r = snprintf(key, sizeof key, "%s%s", TENANT_PREFIX, tenant);
		rc = (r < 0 || (size_t)r >= sizeof key) ? CF_E_NO_SPACE : store_meta_set(st, key, "1");
	}
out:
	sec_wipe(salt, sizeof salt);
	sec_wipe(hash, sizeof hash);
	sec_wipe(rec, sizeof rec);
	return rc;
}

/* Split rec at the '$' that ends the encoded hash: *tenant is the text after it. */
static bool record_split(char *rec, const char **tenant)
{
	unsigned seen = 0;
	for (char *p = rec; *p != '\0'; p++) {
		if (*p == '$' && ++seen == HASH_FIELDS) {
			*p = '\0';
			*tenant = p + 1;
			return true;
		}
	}
	return false;
}

/* Verify one Username/Password credential. */
static MUST_USE cf_err check_one(struct store *st, const struct authz_principal *p,
			const struct kmip_credential *c)
{
	char key[sizeof META_PREFIX + AUTHZ_USER_MAX + 1];
	char rec[RECORD_MAX];
	const char *tenant = NULL;
	cf_err rc;

	if (c->type != KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD || c->username.p == NULL ||
	    c->password.p == NULL)
		return CF_E_AUTH;
	if (meta_key(c->username.p, c->username.n, key, sizeof key) != CF_OK)
		return CF_E_AUTH;
	rc = store_meta_get(st, key, rec, sizeof rec);
	if (rc != CF_OK) {
		rec[0] = '\0';
		rc = (rc == CF_E_NOT_FOUND || rc == CF_E_NO_SPACE) ? CF_E_AUTH : rc;
		goto out;
	}
	rc = CF_E_AUTH;
	if (!record_split(rec, &tenant))
		goto out;
	bool ok = acct_pw_verify(rec, c->password.p, c->password.n) == CF_OK;
	rc = (ok && strcmp(tenant, p->tenant) == 0) ? CF_OK : CF_E_AUTH;
out:
	sec_wipe(rec, sizeof rec);
	return rc;
}

/* A Username/Password credential whose username and password are both empty (or the
 * password absent): what some clients send when no password is configured on their side. */
static bool cred_empty(const struct kmip_credential *c)
{
	return c->type == KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD && c->username.n == 0 &&
	       c->password.n == 0;
}

cf_err authz_tenant_password(struct store *st, const char *tenant, bool *out)
{
	char key[sizeof TENANT_PREFIX + STORE_TENANT_MAX + 1];
	char v[8];
	int r = snprintf(key, sizeof key, "%s%s", TENANT_PREFIX, tenant != NULL ? tenant : "");

	*out = true; /* on any doubt, a password is required */
	if (st == NULL || tenant == NULL || r < 0 || (size_t)r >= sizeof key)
		return CF_E_AUTH;
	cf_err rc = store_meta_get(st, key, v, sizeof v);
	if (rc == CF_E_NOT_FOUND || (rc == CF_OK && strcmp(v, "1") != 0)) {
		*out = false;
		return CF_OK;
	}
	return rc;
}

cf_err authz_credential_check(struct store *st, const struct authz_principal *p,
			      const struct kmip_req_header *h)
{
	size_t n = h != NULL && h->has_auth ? h->n_creds : 0;
	bool verified = false;

	if (n == 0)
		return p->password_required ? CF_E_AUTH : CF_OK;
	if (st == NULL)
		return CF_E_AUTH;
	for (size_t i = 0; i < n && i < KMIP_MAX_CREDENTIALS; i++) {
		const struct kmip_credential *c = &h->creds[i];
		if (cred_empty(c)) {
			/* what PyKMIP sends with an empty username and password: ignored where the
			 * tenant has no password, refused where it has one */
			if (p->password_required)
				return CF_E_AUTH;
			continue;
		}
		cf_err rc = check_one(st, p, c);
		if (rc != CF_OK)
			return rc;
		verified = true;
	}
	return p->password_required && !verified ? CF_E_AUTH : CF_OK;
}
