/* Internals of con_auth.c (console accounts), exposed for tests/unit/firmware/test_con_auth.c.
 * Nothing else includes this: the rest of the console uses con.h. The choices are explained
 * in docs/console/accounts.md. */
#ifndef COFFRE_FIRMWARE_CONSOLE_CON_AUTH_INT_H
#define COFFRE_FIRMWARE_CONSOLE_CON_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct con_auth;
struct store;
struct store_user;

/* Argon2id cost for password hashes and for the TOTP sealing key (both). */
#define AUTH_ARGON_T 3
#define AUTH_ARGON_M_KIB (64u * 1024u)   /* 64 MiB */
#define AUTH_ARGON_P 1
#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32
#define AUTH_ENCODED_MAX 160             /* "$argon2id$v=19$m=65536,t=3,p=1$<22>$<43>" = 97 */

/* Passwords */
#define AUTH_PW_MIN 12
#define AUTH_PW_MAX (256 - 1)            /* CON_SECRET_MAX - 1 */

/* TOTP (RFC 6238): HMAC-SHA1, 30 s steps, 6 digits, steps T-1..T+1 accepted. */
#define AUTH_TOTP_KEY_LEN 20
#define AUTH_TOTP_STEP 30
#define AUTH_TOTP_DIGITS 6
#define AUTH_TOTP_B32_LEN 32             /* 20 bytes in base32, no padding */
#define AUTH_ISSUER "Coffre"

/* Sealed TOTP blob: "CT" 0x01 | salt[16] | nonce[12] | AES-256-GCM(secret[20] | last_step[8]) |
 * tag[16]. The key is Argon2id(password, salt); the AAD is the header and the account name. */
#define AUTH_SEAL_HDR (3 + AUTH_SALT_LEN + 12)
#define AUTH_SEAL_PT (AUTH_TOTP_KEY_LEN + 8)
#define AUTH_SEAL_LEN (AUTH_SEAL_HDR + AUTH_SEAL_PT + 16)

/* Lockout: AUTH_LOCK_FAILS failures within AUTH_LOCK_WINDOW_S lock the account for
 * AUTH_LOCK_BASE_S, doubled for each further lockout since the last successful login, at most
 * AUTH_LOCK_MAX_S. Each failure also costs AUTH_FAIL_DELAY_S before "login incorrect". */
#define AUTH_LOCK_FAILS 10
#define AUTH_LOCK_WINDOW_S 60
#define AUTH_LOCK_BASE_S 300
#define AUTH_LOCK_MAX_S 3600
#define AUTH_FAIL_DELAY_S 1

/* Dual control */
#define AUTH_DUAL_TTL_S (15 * 60)
#define AUTH_DUAL_MAX 16
#define AUTH_DUAL_ID_LEN 8

/* The secret half of a TOTP enrolment, in sec_alloc memory. */
struct auth_totp {
	uint8_t secret[AUTH_TOTP_KEY_LEN];
	uint64_t last_step;              /* the last step accepted (replays refused); 0 = none */
	uint8_t key[32];                 /* the sealing key derived from the password */
	uint8_t salt[AUTH_SALT_LEN];     /* its salt */
};

/* HOTP (RFC 4226) value of counter, digits <= 8. */
uint32_t auth_hotp(const uint8_t *key, size_t n, uint64_t counter, unsigned digits);
/* A code typed at "TOTP code: " against steps T-1, T, T+1 (T = now / 30) that are newer than
 * last_step; *step gets the one that matched. Exactly 6 digits; compared in constant time. */
bool auth_totp_check(const uint8_t key[AUTH_TOTP_KEY_LEN], const char *code, int64_t now,
		     uint64_t last_step, uint64_t *step);

/* Argon2id encoded hash of a password (random salt). */
MUST_USE cf_err auth_pw_hash(const char *pw, size_t n, char out[AUTH_ENCODED_MAX]);
/* CF_OK when pw matches the encoded hash, CF_E_AUTH when not (or the hash is malformed). */
MUST_USE cf_err auth_pw_verify(const char *encoded, const char *pw, size_t n);
/* NULL when pw is acceptable for account name, else the rule it breaks (for the operator). */
const char *auth_pw_rules(const char *name, const char *pw, size_t n);
/* [a-z][a-z0-9._-]{0,31} */
bool auth_name_ok(const char *name);

/* Derive the sealing key for t->salt from the password (Argon2id) into t->key. */
MUST_USE cf_err auth_totp_derive(struct auth_totp *t, const char *pw, size_t n);
/* Seal t (secret, last_step) under t->key / t->salt for account name: *blob malloc'd,
 * AUTH_SEAL_LEN bytes. */
MUST_USE cf_err auth_totp_seal(const char *name, const struct auth_totp *t, uint8_t **blob,
			       size_t *n_blob);
/* Derive the key from pw and the blob's salt, then open it: CF_E_AUTH for a wrong password
 * (or another account's blob, or a modified one), CF_E_BAD_VALUE for a malformed blob. */
MUST_USE cf_err auth_totp_unseal(const char *name, const char *pw, size_t n,
				 const uint8_t *blob, size_t n_blob, struct auth_totp *t);

/* RFC 4648 base32 without padding; out needs 8 * ceil(n / 5) + 1 bytes. */
void auth_base32(const uint8_t *in, size_t n, char *out);
/* The otpauth URI for name and a base32 secret. */
MUST_USE cf_err auth_otpauth_uri(const char *name, const char *b32, char *out, size_t cap);
/* The QR code of text as lines of "##" (dark) and "  " (light), two characters per module,
 * with a quiet zone of 2 modules; malloc'd, NUL-terminated, lines end in "\n". */
MUST_USE cf_err auth_qr_ascii(const char *text, char **out);

/* Lockout state. */
bool auth_locked(const struct store_user *u, int64_t now);
/* Count one failed login for u (row as read before the attempt) at now; persists failed and
 * locked_until, and updates u. *locked_for is the lockout it started (0 = none). Attempts on
 * a locked account are not counted (the lock is not extended by them). */
MUST_USE cf_err auth_fail_record(struct con_auth *a, struct store *st, struct store_user *u,
				 int64_t now, int64_t *locked_for);
/* A successful login: failures and lockout cleared. */
MUST_USE cf_err auth_success_record(struct con_auth *a, struct store *st, struct store_user *u);

/* For tests: a con_auth without a console. */
MUST_USE cf_err auth_state_new(struct con_auth **out);
void auth_state_free(struct con_auth *a);

#endif
