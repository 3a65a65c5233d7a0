/* Console administrators (docs/architecture.md "firmware/accounts/"; docs/console/accounts.md):
 * Argon2id password hashes, the TOTP second factor and its sealed secret, lockout, the login
 * verdict, and dual control (pending operations and who may approve them). The rows live in
 * the store (firmware/store/store_users.h); the prompts, the messages and the audit records
 * are the console's (firmware/console/con_auth.c). Nothing here reads a TTY or prints.
 *
 * The TOTP secret is sealed (AES-256-GCM) under a key derived from the account's password with
 * Argon2id, so the store alone gives neither the password nor the second factor; checking a
 * code therefore needs the password just typed, and a password change re-seals the secret.
 *
 * The same Argon2id encoded hash (acct_pw_hash / acct_pw_verify) is the password record of the
 * KMIP Username/Password credential (firmware/ops/authz_cred.c). */
#ifndef COFFRE_FIRMWARE_ACCOUNTS_ACCOUNTS_H
#define COFFRE_FIRMWARE_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct store;
struct store_user;

#define ACCT_NAME_MAX 32                 /* [a-z][a-z0-9._-]{0,31} (= STORE_USER_NAME_MAX) */

/* Argon2id cost for password hashes and for the TOTP sealing key (both). */
#define ACCT_ARGON_T 3
#define ACCT_ARGON_M_KIB (64u * 1024u)   /* 64 MiB */
#define ACCT_ARGON_P 1
#define ACCT_SALT_LEN 16
#define ACCT_HASH_LEN 32
#define ACCT_ENCODED_MAX 160             /* "$argon2id$v=19$m=65536,t=3,p=1$<22>$<43>" = 97 */

/* Passwords */
#define ACCT_PW_MIN 12
#define ACCT_PW_MAX (256 - 1)            /* CON_SECRET_MAX - 1 */

/* TOTP (RFC 6238): HMAC-SHA1, 30 s steps, 6 digits, steps T-1..T+1 accepted. */
#define ACCT_TOTP_KEY_LEN 20
#define ACCT_TOTP_STEP 30
#define ACCT_TOTP_DIGITS 6
#define ACCT_TOTP_B32_LEN 32             /* 20 bytes in base32, no padding */
#define ACCT_ISSUER "Coffre"

/* Sealed TOTP blob: "CT" 0x01 | salt[16] | nonce[12] | AES-256-GCM(secret[20] | last_step[8]) |
 * tag[16]. The key is Argon2id(password, salt); the AAD is the header and the account name. */
#define ACCT_SEAL_HDR (3 + ACCT_SALT_LEN + 12)
#define ACCT_SEAL_PT (ACCT_TOTP_KEY_LEN + 8)
#define ACCT_SEAL_LEN (ACCT_SEAL_HDR + ACCT_SEAL_PT + 16)

/* Lockout: ACCT_LOCK_FAILS failures within ACCT_LOCK_WINDOW_S lock the account for
 * ACCT_LOCK_BASE_S, doubled for each further lockout since the last successful login, at most
 * ACCT_LOCK_MAX_S. Each failure also costs ACCT_FAIL_DELAY_S before "login incorrect" (the
 * console waits). */
#define ACCT_LOCK_FAILS 10
#define ACCT_LOCK_WINDOW_S 60
#define ACCT_LOCK_BASE_S 300
#define ACCT_LOCK_MAX_S 3600
#define ACCT_FAIL_DELAY_S 1
#define ACCT_LK_SLOTS 32                 /* accounts with a failure window open (LRU beyond) */

/* Dual control */
#define ACCT_DUAL_TTL_S (15 * 60)
#define ACCT_DUAL_MAX 16
#define ACCT_DUAL_ID_LEN 8
#define ACCT_DUAL_ARGS_MAX 16            /* = CON_ARGS_MAX */

/* The in-memory state: failure windows (the "within a minute" part of lockout; the counts
 * that matter across restarts are in the store) and the operations waiting for approval. One
 * per console; it dies with it. */
struct accounts;

MUST_USE cf_err accounts_new(struct accounts **out);
/* Frees the pending operations too (NULL is a no-op). */
void accounts_free(struct accounts *a);

/* n random bytes (OpenSSL's DRBG). */
MUST_USE cf_err acct_random(void *buf, size_t n);

/* ---- names and passwords (acct_pw.c) ---------------------------------------------------- */

/* [a-z][a-z0-9._-]{0,31} */
bool acct_name_ok(const char *name);
/* NULL when pw is acceptable for account name, else the rule it breaks (for the operator). */
const char *acct_pw_rules(const char *name, const char *pw, size_t n);
/* Argon2id encoded hash of a password, random salt. */
MUST_USE cf_err acct_pw_hash(const char *pw, size_t n, char out[ACCT_ENCODED_MAX]);
/* The same with the caller's salt (ACCT_SALT_LEN bytes). */
MUST_USE cf_err acct_pw_hash_salt(const char *pw, size_t n, const uint8_t *salt,
				  char out[ACCT_ENCODED_MAX]);
/* CF_OK when pw matches the encoded hash, CF_E_AUTH when not, or when the hash is malformed or
 * has other parameters than ours (a row edited to ask for terabytes of memory is refused). */
MUST_USE cf_err acct_pw_verify(const char *encoded, const char *pw, size_t n);
/* The cost of acct_pw_verify, for a name that has no account. */
void acct_pw_dummy(const char *pw, size_t n);
/* Create or replace administrator name with this password, no TOTP, not locked; must_change
 * forces a new password (and TOTP enrolment) at the next login. A replaced account keeps its
 * creation date. Non-interactive: `coffred provision --qa` and tests. CF_E_BAD_VALUE when the
 * password breaks acct_pw_rules. */
MUST_USE cf_err acct_password_set(struct store *st, const char *name, const char *pw, size_t n,
				  bool must_change, int64_t now);

/* ---- TOTP (acct_totp.c) ----------------------------------------------------------------- */

/* The secret half of a TOTP enrolment; keep it in sec_alloc memory, wipe it after use. */
struct acct_totp {
	uint8_t secret[ACCT_TOTP_KEY_LEN];
	uint64_t last_step;              /* the last step accepted (replays refused); 0 = none */
	uint8_t key[32];                 /* the sealing key derived from the password */
	uint8_t salt[ACCT_SALT_LEN];     /* its salt */
};

/* HOTP (RFC 4226) value of counter, digits <= 8; UINT32_MAX on error (never a code). */
uint32_t acct_hotp(const uint8_t *key, size_t n, uint64_t counter, unsigned digits);
/* A code against steps T-1, T, T+1 (T = now / 30) that are newer than last_step; *step gets
 * the one that matched. Exactly 6 digits; all three compared in constant time. */
bool acct_totp_check(const uint8_t key[ACCT_TOTP_KEY_LEN], const char *code, int64_t now,
		     uint64_t last_step, uint64_t *step);
/* A fresh random secret in t (last_step 0). */
MUST_USE cf_err acct_totp_generate(struct acct_totp *t);
/* Derive the sealing key for t->salt from the password (Argon2id) into t->key. */
MUST_USE cf_err acct_totp_derive(struct acct_totp *t, const char *pw, size_t n);
/* Seal t (secret, last_step) under t->key / t->salt for account name: *blob malloc'd,
 * ACCT_SEAL_LEN bytes (free with sec_freezero). */
MUST_USE cf_err acct_totp_seal(const char *name, const struct acct_totp *t, uint8_t **blob,
			       size_t *n_blob);
/* A fresh salt and key from pw, then acct_totp_seal (enrolment, password change). */
MUST_USE cf_err acct_totp_seal_new(const char *name, struct acct_totp *t, const char *pw,
				   size_t n, uint8_t **blob, size_t *n_blob);
/* Derive the key from pw and the blob's salt, then open it: CF_E_AUTH for a wrong password
 * (or another account's blob, or a modified one), CF_E_BAD_VALUE for a malformed blob. */
MUST_USE cf_err acct_totp_unseal(const char *name, const char *pw, size_t n,
				 const uint8_t *blob, size_t n_blob, struct acct_totp *t);
/* RFC 4648 base32 without padding; out needs 8 * ceil(n / 5) + 1 bytes. */
void acct_base32(const uint8_t *in, size_t n, char *out);
/* The otpauth URI for name and a base32 secret. */
MUST_USE cf_err acct_otpauth_uri(const char *name, const char *b32, char *out, size_t cap);
/* The QR code of text as lines of "##" (dark) and "  " (light), two characters per module,
 * with a quiet zone of 2 modules; malloc'd, NUL-terminated, lines end in "\n". */
MUST_USE cf_err acct_qr_ascii(const char *text, char **out);

/* ---- lockout (acct_lockout.c) ----------------------------------------------------------- */

bool acct_locked(const struct store_user *u, int64_t now);
/* The lockout that the nth block of ACCT_LOCK_FAILS failures since the last successful login
 * starts: ACCT_LOCK_BASE_S * 2^(nth-1), at most ACCT_LOCK_MAX_S (nth >= 1). */
int64_t acct_lock_duration(uint32_t nth);
/* Count one failed login for u (row as read before the attempt) at now; persists failed and
 * locked_until, and updates u. *locked_for is the lockout it started (0 = none). Attempts on
 * a locked account are not counted (the lock is not extended by them). */
MUST_USE cf_err acct_fail_record(struct accounts *a, struct store *st, struct store_user *u,
				 int64_t now, int64_t *locked_for);
/* A successful login: failures and lockout cleared. */
MUST_USE cf_err acct_success_record(struct accounts *a, struct store *st, struct store_user *u);
/* Forget the in-memory failure window of name (its password was reset). */
void acct_lock_forget(struct accounts *a, const char *name);

/* ---- login (acct_login.c) --------------------------------------------------------------- */

/* What a login attempt found. Every check runs whatever fails first, so the time taken tells
 * nothing. */
struct acct_verdict {
	bool known;                      /* the name is an account */
	bool has_totp;                   /* a code was asked for (unknown names are asked too) */
	bool bad_input;                  /* a line was longer than any password or code */
	bool disabled, locked;
	bool pw_ok, totp_ok;
	bool replay;                     /* the code is right but was already used */
	uint64_t step;                   /* the step of an accepted code */
};

/* Read the account typed at "login: " into *u: CF_OK with *known (false for a name that is no
 * account or not a valid name); other errors are the store's. */
MUST_USE cf_err acct_login_lookup(struct store *st, const char *name, struct store_user *u,
				  bool *known);
/* Check the password and code typed (v->known, v->has_totp and v->bad_input set by the caller)
 * against u at now. t (sec_alloc) receives the unsealed TOTP secret. */
void acct_login_verdict(const struct store_user *u, const char *pw, size_t n, const char *code,
			int64_t now, struct acct_totp *t, struct acct_verdict *v);
bool acct_verdict_ok(const struct acct_verdict *v);
/* Why a refused login was refused, for the audit record ("wrong password", ...). */
void acct_verdict_reason(const struct acct_verdict *v, const struct store_user *u, int64_t now,
			 char *out, size_t cap);
/* A successful login with a code: the step just used goes inside the sealed blob, so the code
 * cannot serve twice (not even after a restart). No-op without TOTP. The failures are cleared
 * by acct_success_record. */
MUST_USE cf_err acct_login_record(struct store *st, const struct store_user *u,
				  struct acct_totp *t, const struct acct_verdict *v);

/* ---- credentials (acct_login.c) --------------------------------------------------------- */

/* New own credentials: password pw, TOTP secret t (resealed under pw); must_change cleared. */
MUST_USE cf_err acct_credentials_set(struct store *st, const char *name, const char *pw,
				     size_t n, struct acct_totp *t);
/* A reset by another administrator: temporary password, TOTP removed, must_change, lockout
 * cleared. */
MUST_USE cf_err acct_password_reset(struct accounts *a, struct store *st, const char *name,
				    const char *pw, size_t n);
/* A new account: t NULL = no TOTP yet (must_change), else sealed under pw. CF_E_EXISTS when
 * the name is taken. */
MUST_USE cf_err acct_create(struct store *st, const char *name, const char *pw, size_t n,
			    struct acct_totp *t, bool must_change, int64_t now);

/* ---- dual control (acct_dual.c) --------------------------------------------------------- */

/* An operation waiting for a second administrator. cmd is the command's name and ref the
 * caller's handle for it (the console's table entry); both outlive the operation. */
struct acct_op {
	bool used;
	char id[ACCT_DUAL_ID_LEN + 1];
	const char *cmd;
	const void *ref;
	int argc;
	char *argv[ACCT_DUAL_ARGS_MAX + 1];
	char requester[ACCT_NAME_MAX + 1];
	int64_t time;
};

/* Is cmd under dual control for the list of [console] dual_control ("zeroize, backup export",
 * "all")? "all" covers the commands flagged for it (flagged); the commands that make dual
 * control work (approve, pending, logout, help) never are. */
bool acct_dual_required(const char *list, const char *cmd, bool flagged);
/* Record an operation with a fresh id: *out points to it. CF_E_TOO_MANY when ACCT_DUAL_MAX
 * wait already. */
MUST_USE cf_err acct_dual_submit(struct accounts *a, const char *cmd, const void *ref, int argc,
				 char **argv, const char *requester, int64_t now,
				 const struct acct_op **out);
/* The next operation older than ACCT_DUAL_TTL_S at now, taken off the list into *out (clear
 * it with acct_op_clear); false when none is left. */
bool acct_dual_expire_next(struct accounts *a, int64_t now, struct acct_op *out);
/* The pending operation id (any case), NULL when none. */
const struct acct_op *acct_dual_find(const struct accounts *a, const char *id);
/* The approval rule: CF_E_PERMISSION when user requested op themselves. */
MUST_USE cf_err acct_dual_may_approve(const struct acct_op *op, const char *user);
/* Take op off the list into *out: it runs once, whatever happens. */
void acct_dual_take(struct accounts *a, const struct acct_op *op, struct acct_op *out);
/* Slot i (< ACCT_DUAL_MAX) when it holds an operation, else NULL. */
const struct acct_op *acct_dual_slot(const struct accounts *a, size_t i);
unsigned acct_dual_count(const struct accounts *a);
/* "cmd arg1 arg2 ..." */
void acct_op_describe(const struct acct_op *op, char *out, size_t cap);
/* Wipe and free the copied arguments, zero *op. */
void acct_op_clear(struct acct_op *op);

#endif
