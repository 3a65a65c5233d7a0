/* Console administrators in the store (schema v2 `users` table; docs/console/accounts.md).
 *
 * Typed access only: firmware/store/store_users.c holds the SQL. The store never sees a password or
 * a TOTP secret: pw_hash is an Argon2id encoded string and totp the sealed blob that
 * firmware/accounts/ produced. Every write commits before it returns (or joins the
 * caller's store_tx_begin()). */
#ifndef COFFRE_FIRMWARE_STORE_USERS_H
#define COFFRE_FIRMWARE_STORE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct store;

#define STORE_USER_NAME_MAX 32   /* = CON_USER_MAX */
#define STORE_USER_HASH_MAX 255  /* an Argon2id encoded string (ours are ~97 chars) */
#define STORE_USER_TOTP_MAX 256  /* a sealed TOTP blob */

struct store_user {
	char name[STORE_USER_NAME_MAX + 1];
	char role[16];                       /* "admin" (the only role so far) */
	char pw_hash[STORE_USER_HASH_MAX + 1];
	uint8_t *totp;                       /* sealed TOTP secret, malloc'd; NULL = no TOTP */
	size_t totp_len;
	bool must_change;                    /* new password + TOTP enrolment at next login */
	int64_t created;
	bool disabled;
	uint32_t failed;                     /* failed logins since the last successful one */
	int64_t locked_until;                /* 0 or a time: logins refused before it */
};

/* Free totp and zero *u (NULL is a no-op). */
void store_user_free(struct store_user *u);

/* Insert a new account: CF_E_EXISTS when the name is taken. */
MUST_USE cf_err store_user_insert(struct store *st, const struct store_user *u);
/* Insert or replace the whole row (provisioning, tests). */
MUST_USE cf_err store_user_put(struct store *st, const struct store_user *u);
/* Read one account: CF_E_NOT_FOUND when absent. Free with store_user_free. */
MUST_USE cf_err store_user_get(struct store *st, const char *name, struct store_user *out);
/* Every account ordered by name: *out is an array of *n rows; free with store_user_list_free. */
MUST_USE cf_err store_user_list(struct store *st, struct store_user **out, size_t *n);
void store_user_list_free(struct store_user *u, size_t n);
/* Number of accounts (disabled ones included). */
MUST_USE cf_err store_user_count(struct store *st, size_t *n);

/* New credentials: password hash, sealed TOTP (NULL/0 = none) and must_change; the failure
 * count and lockout are cleared. CF_E_NOT_FOUND when absent. */
MUST_USE cf_err store_user_set_credentials(struct store *st, const char *name,
					   const char *pw_hash, const uint8_t *totp,
					   size_t totp_len, bool must_change);
/* Replace the sealed TOTP blob only (login records the last TOTP step used inside it). */
MUST_USE cf_err store_user_set_totp(struct store *st, const char *name, const uint8_t *totp,
				    size_t totp_len);
/* Failure count and lockout (0 = not locked). */
MUST_USE cf_err store_user_set_lockout(struct store *st, const char *name, uint32_t failed,
				       int64_t locked_until);

#endif
