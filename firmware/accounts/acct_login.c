/* The login verdict and the credential changes (accounts.h "login", "credentials"). */
#include "firmware/accounts/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/store/store_users.h"

cf_err acct_login_lookup(struct store *st, const char *name, struct store_user *u, bool *known)
{
	*known = false;
	memset(u, 0, sizeof *u);
	if (!acct_name_ok(name))
		return CF_OK;
	cf_err rc = store_user_get(st, name, u);
	if (rc == CF_E_NOT_FOUND)
		return CF_OK;
	*known = rc == CF_OK;
	return rc;
}

void acct_login_verdict(const struct store_user *u, const char *pw, size_t n, const char *code,
			int64_t now, struct acct_totp *t, struct acct_verdict *v)
{
	bool unsealed = false;

	v->pw_ok = v->totp_ok = v->replay = false;
	v->step = 0;
	if (v->known)
		v->pw_ok = acct_pw_verify(u->pw_hash, pw, n) == CF_OK;
	else
		acct_pw_dummy(pw, n);
	if (v->has_totp) {
		if (v->known) {
			unsealed = acct_totp_unseal(u->name, pw, n, u->totp, u->totp_len, t) == CF_OK;
		} else {
			memset(t->salt, 0x5a, sizeof t->salt);
			cf_err dr = acct_totp_derive(t, pw, n); /* only for the time it takes */
			(void)dr;
		}
		if (unsealed) {
			v->totp_ok = acct_totp_check(t->secret, code, now, t->last_step, &v->step);
			v->replay = !v->totp_ok && acct_totp_check(t->secret, code, now, 0, NULL);
		}
	}
	v->locked = v->known && acct_locked(u, now);
	v->disabled = v->known && u->disabled;
}

bool acct_verdict_ok(const struct acct_verdict *v)
{
	return v->known && !v->disabled && !v->locked && !v->bad_input && v->pw_ok &&
	       (!v->has_totp || v->totp_ok);
}

void acct_verdict_reason(const struct acct_verdict *v, const struct store_user *u, int64_t now,
			 char *out, size_t cap)
{
	if (!v->known)
		snprintf(out, cap, "no such account");
	else if (v->locked)
		snprintf(out, cap, "account locked for %lld s more", (long long)(u->locked_until - now));
	else if (v->disabled)
		snprintf(out, cap, "account disabled");
	else if (!v->pw_ok || v->bad_input)
		snprintf(out, cap, "wrong password");
	else
		snprintf(out, cap, v->replay ? "TOTP code already used" : "wrong TOTP code");
}

cf_err acct_login_record(struct store *st, const struct store_user *u, struct acct_totp *t,
			 const struct acct_verdict *v)
{
	uint8_t *blob = NULL;
	size_t n_blob = 0;

	if (!v->has_totp)
		return CF_OK;
	t->last_step = v->step;
	cf_err rc = acct_totp_seal(u->name, t, &blob, &n_blob);
	if (rc == CF_OK)
		rc = store_user_set_totp(st, u->name, blob, n_blob);
	sec_freezero(blob, n_blob);
	return rc;
}

cf_err acct_credentials_set(struct store *st, const char *name, const char *pw, size_t n,
			    struct acct_totp *t)
{
	char hash[ACCT_ENCODED_MAX];
	uint8_t *blob = NULL;
	size_t n_blob = 0;
	cf_err rc;

	hash[0] = '\0';
	if ((rc = acct_totp_seal_new(name, t, pw, n, &blob, &n_blob)) == CF_OK &&
	    (rc = acct_pw_hash(pw, n, hash)) == CF_OK)
		rc = store_user_set_credentials(st, name, hash, blob, n_blob, false);
	sec_freezero(blob, n_blob);
	sec_wipe(hash, sizeof hash);
	return rc;
}

cf_err acct_password_reset(struct accounts *a, struct store *st, const char *name, const char *pw,
			   size_t n)
{
	char hash[ACCT_ENCODED_MAX];
	cf_err rc;

	hash[0] = '\0';
	if ((rc = acct_pw_hash(pw, n, hash)) == CF_OK)
		rc = store_user_set_credentials(st, name, hash, NULL, 0, true);
	if (rc == CF_OK)
		acct_lock_forget(a, name);
	sec_wipe(hash, sizeof hash);
	return rc;
}

cf_err acct_create(struct store *st, const char *name, const char *pw, size_t n,
		   struct acct_totp *t, bool must_change, int64_t now)
{
	struct store_user u;
	uint8_t *blob = NULL;
	size_t n_blob = 0;
	cf_err rc = CF_OK;

	memset(&u, 0, sizeof u);
	if (!acct_name_ok(name))
		return CF_E_INVALID_ARG;
	if (t != NULL && (rc = acct_totp_seal_new(name, t, pw, n, &blob, &n_blob)) != CF_OK)
		goto out;
	snprintf(u.name, sizeof u.name, "%s", name);
	snprintf(u.role, sizeof u.role, "admin");
	if ((rc = acct_pw_hash(pw, n, u.pw_hash)) != CF_OK)
		goto out;
	u.totp = blob;
	u.totp_len = n_blob;
	u.must_change = must_change;
	u.created = now;
	rc = store_user_insert(st, &u);
out:
	sec_freezero(blob, n_blob);
	sec_wipe(&u, sizeof u);
	return rc;
}
