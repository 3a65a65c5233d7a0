/* Account names and passwords (accounts.h "names and passwords"): the strength rules and the
 * Argon2id encoded hash, which is also the KMIP password record's (firmware/ops/authz_cred.c). */
#include "firmware/accounts/accounts.h"

#include <argon2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/store_users.h"

/* The parameters we write. A hash with other parameters is refused rather than verified. */
static const char argon_prefix[] = "$argon2id$v=19$m=65536,t=3,p=1$";

static MUST_USE cf_err argon_err(int r)
{
	log_err("accounts: argon2id: %s", argon2_error_message(r));
	return r == ARGON2_MEMORY_ALLOCATION_ERROR ? CF_E_NOMEM : CF_E_INTERNAL;
}

bool acct_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > ACCT_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

const char *acct_pw_rules(const char *name, const char *pw, size_t n)
{
	bool lower = false, upper = false, digit = false, other = false;
	bool seen[128] = { false };
	unsigned distinct = 0;
	const char *bad = NULL;

	if (n < ACCT_PW_MIN)
		return "a password needs at least 12 characters";
	if (n > ACCT_PW_MAX)
		return "a password has at most 255 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)pw[i];
		if (ch < 0x20 || ch > 0x7e) {
			bad = "a password is printable ASCII";
			break;
		}
		if (ch >= 'a' && ch <= 'z')
			lower = true;
		else if (ch >= 'A' && ch <= 'Z')
			upper = true;
		else if (ch >= '0' && ch <= '9')
			digit = true;
		else
			other = true;
		if (!seen[ch]) {
			seen[ch] = true;
			distinct++;
		}
	}
	sec_wipe(seen, sizeof seen); /* which characters the password has */
	if (bad != NULL)
		return bad;
	if ((unsigned)lower + (unsigned)upper + (unsigned)digit + (unsigned)other < 2)
		return "mix at least two kinds of characters (lower case, upper case, digits, "
		       "symbols or spaces)";
	if (distinct < 5)
		return "use at least 5 different characters";
	if (name != NULL && strlen(name) == n && strncasecmp(name, pw, n) == 0)
		return "the password must not be the account name";
	return NULL;
}

cf_err acct_pw_hash_salt(const char *pw, size_t n, const uint8_t *salt, char out[ACCT_ENCODED_MAX])
{
	out[0] = '\0';
	int r = argon2id_hash_encoded(ACCT_ARGON_T, ACCT_ARGON_M_KIB, ACCT_ARGON_P, pw, n, salt,
				      ACCT_SALT_LEN, ACCT_HASH_LEN, out, ACCT_ENCODED_MAX);
	if (r != ARGON2_OK) {
		sec_wipe(out, ACCT_ENCODED_MAX);
		return argon_err(r);
	}
	return CF_OK;
}

cf_err acct_pw_hash(const char *pw, size_t n, char out[ACCT_ENCODED_MAX])
{
	uint8_t salt[ACCT_SALT_LEN];
	out[0] = '\0';
	TRY(acct_random(salt, sizeof salt));
	return acct_pw_hash_salt(pw, n, salt, out);
}

cf_err acct_pw_verify(const char *encoded, const char *pw, size_t n)
{
	if (encoded == NULL || strncmp(encoded, argon_prefix, sizeof argon_prefix - 1) != 0) {
		log_err("accounts: password hash with unexpected parameters refused");
		return CF_E_AUTH;
	}
	int r = argon2id_verify(encoded, pw, n);
	if (r == ARGON2_OK)
		return CF_OK;
	if (r != ARGON2_VERIFY_MISMATCH)
		log_err("accounts: argon2id verify: %s", argon2_error_message(r));
	return CF_E_AUTH;
}

void acct_pw_dummy(const char *pw, size_t n)
{
	static const uint8_t salt[ACCT_SALT_LEN] = "coffre-no-user!";
	uint8_t out[ACCT_HASH_LEN];
	(void)argon2id_hash_raw(ACCT_ARGON_T, ACCT_ARGON_M_KIB, ACCT_ARGON_P, pw, n, salt,
				sizeof salt, out, sizeof out);
	sec_wipe(out, sizeof out);
}

cf_err acct_password_set(struct store *st, const char *name, const char *pw, size_t n,
			 bool must_change, int64_t now)
{
	struct store_user u, old;
	const char *why;
	cf_err rc;

	if (st == NULL || pw == NULL || !acct_name_ok(name))
		return CF_E_INVALID_ARG;
	if ((why = acct_pw_rules(name, pw, n)) != NULL) {
		log_err("accounts: password for %s refused: %s", name, why);
		return CF_E_BAD_VALUE;
	}
	memset(&u, 0, sizeof u);
	snprintf(u.name, sizeof u.name, "%s", name);
	snprintf(u.role, sizeof u.role, "admin");
	u.must_change = must_change;
	u.created = now;
	/* keep the creation date of an account being replaced */
	if (store_user_get(st, name, &old) == CF_OK) {
		if (old.created != 0)
			u.created = old.created;
		store_user_free(&old);
	}
	if ((rc = acct_pw_hash(pw, n, u.pw_hash)) == CF_OK)
		rc = store_user_put(st, &u);
	sec_wipe(&u, sizeof u);
	return rc;
}
