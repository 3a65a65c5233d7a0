/* Console accounts (con.h "accounts"; docs/console/accounts.md): administrators with Argon2id
 * password hashes and a TOTP second factor, the login dialogue with lockout, first-login
 * password change and TOTP enrolment, dual control, and the `user`, `approve` and `pending`
 * commands.
 *
 * The TOTP secret is sealed (AES-256-GCM) under a key derived from the account's password with
 * Argon2id, so the store alone gives neither the password nor the second factor; checking a
 * code therefore needs the password just typed, and a password change re-seals the secret. */
#include "firmware/console/con.h"
#include "firmware/console/con_auth_int.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <qrencode.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/store_users.h"

#define AUTH_LK_SLOTS 32          /* accounts with a failure window open (LRU beyond) */
#define AUTH_PROMPT_TIMEOUT_S 120 /* Password:, TOTP code: and the enrolment dialogue */
#define AUTH_CODE_CAP 16          /* a TOTP code line (6 digits; longer is simply wrong) */

/* A failure window: failures of one account within AUTH_LOCK_WINDOW_S. The count that
 * matters across restarts (users.failed, users.locked_until) is in the store; this only adds
 * the "within a minute" part. */
struct auth_lk {
	char name[CON_USER_MAX + 1];  /* "" = free slot */
	int64_t win_start;
	uint32_t win_count;
	uint64_t tick;                /* LRU */
};

/* A dual-control operation waiting for `approve`. */
struct auth_op {
	bool used;
	char id[AUTH_DUAL_ID_LEN + 1];
	const struct con_cmd *cmd;    /* static table entry */
	int argc;
	char *argv[CON_ARGS_MAX + 1];
	char requester[CON_USER_MAX + 1];
	int64_t time;
};

struct con_auth {
	struct auth_lk lk[AUTH_LK_SLOTS];
	uint64_t tick;
	struct auth_op ops[AUTH_DUAL_MAX];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static cf_err rnd(void *buf, size_t n)
{
	if (n > 0 && RAND_bytes(buf, (int)n) != 1) {
		log_err("auth: RAND_bytes failed");
		return CF_E_INTERNAL;
	}
	return CF_OK;
}

static void fmt_time(int64_t t, char *out, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "-");
}

static void delay_s(unsigned s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = 0 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

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

/* ---- TOTP (RFC 4226 / RFC 6238) --------------------------------------------------------- */

uint32_t auth_hotp(const uint8_t *key, size_t n, uint64_t counter, unsigned digits)
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

bool auth_totp_check(const uint8_t key[AUTH_TOTP_KEY_LEN], const char *code, int64_t now,
		     uint64_t last_step, uint64_t *step)
{
	bool ok = false;
	uint64_t found = 0;

	if (code == NULL || strlen(code) != AUTH_TOTP_DIGITS || now < 0)
		return false;
	for (int i = 0; i < AUTH_TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	uint64_t t = (uint64_t)now / AUTH_TOTP_STEP;
	/* all three steps are computed and compared whatever matches first */
	for (uint64_t s = t > 0 ? t - 1 : 0; s <= t + 1; s++) {
		char want[16];
		snprintf(want, sizeof want, "%0*u", AUTH_TOTP_DIGITS,
			 (unsigned)auth_hotp(key, AUTH_TOTP_KEY_LEN, s, AUTH_TOTP_DIGITS));
		bool m = ct_memeq(want, code, AUTH_TOTP_DIGITS);
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

/* ---- passwords (Argon2id) --------------------------------------------------------------- */

static cf_err argon_err(int r)
{
	log_err("auth: argon2id: %s", argon2_error_message(r));
	return r == ARGON2_MEMORY_ALLOCATION_ERROR ? CF_E_NOMEM : CF_E_INTERNAL;
}

cf_err auth_pw_hash(const char *pw, size_t n, char out[AUTH_ENCODED_MAX])
{
	uint8_t salt[AUTH_SALT_LEN];
	out[0] = '\0';
	TRY(rnd(salt, sizeof salt));
	int r = argon2id_hash_encoded(AUTH_ARGON_T, AUTH_ARGON_M_KIB, AUTH_ARGON_P, pw, n, salt,
				      sizeof salt, AUTH_HASH_LEN, out, AUTH_ENCODED_MAX);
	if (r != ARGON2_OK) {
		out[0] = '\0';
		return argon_err(r);
	}
	return CF_OK;
}

/* The parameters we write. A hash with other parameters is refused rather than verified: a
 * row edited to ask for terabytes of memory must not take the console down. */
static const char argon_prefix[] = "$argon2id$v=19$m=65536,t=3,p=1$";

cf_err auth_pw_verify(const char *encoded, const char *pw, size_t n)
{
	if (encoded == NULL || strncmp(encoded, argon_prefix, sizeof argon_prefix - 1) != 0) {
		log_err("auth: password hash with unexpected parameters refused");
		return CF_E_AUTH;
	}
	int r = argon2id_verify(encoded, pw, n);
	if (r == ARGON2_OK)
		return CF_OK;
	if (r != ARGON2_VERIFY_MISMATCH)
		log_err("auth: argon2id verify: %s", argon2_error_message(r));
	return CF_E_AUTH;
}

/* Same cost as auth_pw_verify, for names that have no account. */
static void pw_dummy(const char *pw, size_t n)
{
	static const uint8_t salt[AUTH_SALT_LEN] = "coffre-no-user!";
	uint8_t out[AUTH_HASH_LEN];
	(void)argon2id_hash_raw(AUTH_ARGON_T, AUTH_ARGON_M_KIB, AUTH_ARGON_P, pw, n, salt,
				sizeof salt, out, sizeof out);
	sec_wipe(out, sizeof out);
}

bool auth_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > CON_USER_MAX || name[0] < 'a' || name[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

const char *auth_pw_rules(const char *name, const char *pw, size_t n)
{
	bool lower = false, upper = false, digit = false, other = false;
	bool seen[128] = { false };
	unsigned distinct = 0;

	if (n < AUTH_PW_MIN)
		return "a password needs at least 12 characters";
	if (n > AUTH_PW_MAX)
		return "a password has at most 255 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)pw[i];
		if (ch < 0x20 || ch > 0x7e)
			return "a password is printable ASCII";
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
	if ((unsigned)lower + (unsigned)upper + (unsigned)digit + (unsigned)other < 2)
		return "mix at least two kinds of characters (lower case, upper case, digits, "
		       "symbols or spaces)";
	if (distinct < 5)
		return "use at least 5 different characters";
	if (name != NULL && strlen(name) == n && strncasecmp(name, pw, n) == 0)
		return "the password must not be the account name";
	return NULL;
}

/* ---- the sealed TOTP secret ------------------------------------------------------------- */

cf_err auth_totp_derive(struct auth_totp *t, const char *pw, size_t n)
{
	int r = argon2id_hash_raw(AUTH_ARGON_T, AUTH_ARGON_M_KIB, AUTH_ARGON_P, pw, n, t->salt,
				  sizeof t->salt, t->key, sizeof t->key);
	if (r != ARGON2_OK) {
		sec_wipe(t->key, sizeof t->key);
		return argon_err(r);
	}
	return CF_OK;
}

/* AES-256-GCM over in[n] with AAD = hdr | name; enc writes tag, !enc checks it. */
static cf_err gcm(bool enc, const uint8_t key[32], const uint8_t *hdr, size_t n_hdr,
		  const char *name, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	const uint8_t *iv = hdr + 3 + AUTH_SALT_LEN;
	int len = 0, ok;
	cf_err rc = CF_E_INTERNAL;

	if (x == NULL)
		return CF_E_NOMEM;
	ok = enc ? EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, iv)
		 : EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, iv);
	if (ok != 1)
		goto out;
	if (enc) {
		if (EVP_EncryptUpdate(x, NULL, &len, hdr, (int)n_hdr) != 1 ||
		    EVP_EncryptUpdate(x, NULL, &len, (const uint8_t *)name, (int)strlen(name)) != 1 ||
		    EVP_EncryptUpdate(x, out, &len, in, (int)n) != 1 ||
		    EVP_EncryptFinal_ex(x, out + len, &len) != 1 ||
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
			goto out;
		rc = CF_OK;
	} else {
		if (EVP_DecryptUpdate(x, NULL, &len, hdr, (int)n_hdr) != 1 ||
		    EVP_DecryptUpdate(x, NULL, &len, (const uint8_t *)name, (int)strlen(name)) != 1 ||
		    EVP_DecryptUpdate(x, out, &len, in, (int)n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
			goto out;
		rc = EVP_DecryptFinal_ex(x, out + len, &len) == 1 ? CF_OK : CF_E_AUTH;
		if (rc != CF_OK)
			sec_wipe(out, n);
	}
out:
	EVP_CIPHER_CTX_free(x);
	return rc;
}

cf_err auth_totp_seal(const char *name, const struct auth_totp *t, uint8_t **blob, size_t *n_blob)
{
	uint8_t pt[AUTH_SEAL_PT];
	uint8_t *b;
	cf_err rc;

	*blob = NULL;
	*n_blob = 0;
	if ((b = malloc(AUTH_SEAL_LEN)) == NULL)
		return CF_E_NOMEM;
	b[0] = 'C';
	b[1] = 'T';
	b[2] = 1;
	memcpy(b + 3, t->salt, AUTH_SALT_LEN);
	if ((rc = rnd(b + 3 + AUTH_SALT_LEN, 12)) != CF_OK) {
		free(b);
		return rc;
	}
	memcpy(pt, t->secret, AUTH_TOTP_KEY_LEN);
	put_be64(pt + AUTH_TOTP_KEY_LEN, t->last_step);
	rc = gcm(true, t->key, b, AUTH_SEAL_HDR, name, pt, sizeof pt, b + AUTH_SEAL_HDR,
		 b + AUTH_SEAL_HDR + AUTH_SEAL_PT);
	sec_wipe(pt, sizeof pt);
	if (rc != CF_OK) {
		sec_freezero(b, AUTH_SEAL_LEN);
		return rc;
	}
	*blob = b;
	*n_blob = AUTH_SEAL_LEN;
	return CF_OK;
}

cf_err auth_totp_unseal(const char *name, const char *pw, size_t n, const uint8_t *blob,
			size_t n_blob, struct auth_totp *t)
{
	uint8_t pt[AUTH_SEAL_PT], tag[16];
	cf_err rc;

	sec_wipe(t, sizeof *t);
	if (blob == NULL || n_blob != AUTH_SEAL_LEN || blob[0] != 'C' || blob[1] != 'T' || blob[2] != 1)
		return CF_E_BAD_VALUE;
	memcpy(t->salt, blob + 3, AUTH_SALT_LEN);
	TRY(auth_totp_derive(t, pw, n));
	memcpy(tag, blob + AUTH_SEAL_HDR + AUTH_SEAL_PT, sizeof tag);
	rc = gcm(false, t->key, blob, AUTH_SEAL_HDR, name, blob + AUTH_SEAL_HDR, AUTH_SEAL_PT, pt, tag);
	if (rc == CF_OK) {
		memcpy(t->secret, pt, AUTH_TOTP_KEY_LEN);
		t->last_step = get_be64(pt + AUTH_TOTP_KEY_LEN);
	} else {
		sec_wipe(t, sizeof *t);
	}
	sec_wipe(pt, sizeof pt);
	return rc;
}

/* A fresh salt and key for sealing under pw (enrolment, password change). */
static cf_err totp_rekey(struct auth_totp *t, const char *pw, size_t n)
{
	TRY(rnd(t->salt, sizeof t->salt));
	return auth_totp_derive(t, pw, n);
}

/* ---- enrolment text --------------------------------------------------------------------- */

void auth_base32(const uint8_t *in, size_t n, char *out)
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
	buf = 0;
}

cf_err auth_otpauth_uri(const char *name, const char *b32, char *out, size_t cap)
{
	/* names are [a-z0-9._-]: nothing to percent-encode. SHA-1, 6 digits and 30 s are the
	 * otpauth defaults; leaving them out keeps the QR code small enough for 80 columns. */
	if (!auth_name_ok(name))
		return CF_E_INVALID_ARG;
	int r = snprintf(out, cap, "otpauth://totp/" AUTH_ISSUER ":%s?secret=%s&issuer=" AUTH_ISSUER,
			 name, b32);
	if (r < 0 || (size_t)r >= cap)
		return CF_E_NO_SPACE;
	return CF_OK;
}

cf_err auth_qr_ascii(const char *text, char **out)
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

/* ---- lockout ---------------------------------------------------------------------------- */

bool auth_locked(const struct store_user *u, int64_t now)
{
	return u->locked_until > now;
}

static struct auth_lk *lk_find(struct con_auth *a, const char *name)
{
	for (size_t i = 0; i < AUTH_LK_SLOTS; i++)
		if (a->lk[i].name[0] != '\0' && strcmp(a->lk[i].name, name) == 0)
			return &a->lk[i];
	return NULL;
}

static struct auth_lk *lk_new(struct con_auth *a, const char *name)
{
	struct auth_lk *v = &a->lk[0];
	for (size_t i = 0; i < AUTH_LK_SLOTS; i++) {
		if (a->lk[i].name[0] == '\0') {
			v = &a->lk[i];
			break;
		}
		if (a->lk[i].tick < v->tick)
			v = &a->lk[i];
	}
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	return v;
}

cf_err auth_fail_record(struct con_auth *a, struct store *st, struct store_user *u, int64_t now,
			int64_t *locked_for)
{
	*locked_for = 0;
	if (auth_locked(u, now))
		return CF_OK; /* refused anyway; counting it would only lengthen the lock */
	struct auth_lk *lk = lk_find(a, u->name);
	if (lk == NULL) {
		/* no window in memory (first failure since start, or evicted): carry on from the
		 * persisted count, so a restart never hands out a fresh set of attempts */
		lk = lk_new(a, u->name);
		lk->win_start = now;
		lk->win_count = u->failed % AUTH_LOCK_FAILS;
	} else if (now < lk->win_start || now - lk->win_start >= AUTH_LOCK_WINDOW_S) {
		lk->win_start = now;
		lk->win_count = 0;
	}
	lk->tick = ++a->tick;
	lk->win_count++;
	uint32_t failed = u->failed < UINT32_MAX ? u->failed + 1 : UINT32_MAX;
	int64_t until = 0;
	if (lk->win_count >= AUTH_LOCK_FAILS) {
		/* the n-th block of failures since the last successful login locks for
		 * base * 2^(n-1), at most AUTH_LOCK_MAX_S */
		uint32_t nth = failed / AUTH_LOCK_FAILS;
		int64_t d = AUTH_LOCK_BASE_S;
		for (uint32_t i = 1; i < nth && d < AUTH_LOCK_MAX_S; i++)
			d *= 2;
		if (d > AUTH_LOCK_MAX_S)
			d = AUTH_LOCK_MAX_S;
		until = now + d;
		*locked_for = d;
		lk->win_count = 0;
	}
	TRY(store_user_set_lockout(st, u->name, failed, until));
	u->failed = failed;
	u->locked_until = until;
	return CF_OK;
}

cf_err auth_success_record(struct con_auth *a, struct store *st, struct store_user *u)
{
	struct auth_lk *lk = lk_find(a, u->name);
	if (lk != NULL)
		memset(lk, 0, sizeof *lk);
	if (u->failed == 0 && u->locked_until == 0)
		return CF_OK;
	TRY(store_user_set_lockout(st, u->name, 0, 0));
	u->failed = 0;
	u->locked_until = 0;
	return CF_OK;
}

/* ---- state ------------------------------------------------------------------------------ */

static void op_clear(struct auth_op *op)
{
	for (int i = 0; i < op->argc; i++)
		if (op->argv[i] != NULL)
			sec_freezero(op->argv[i], strlen(op->argv[i]));
	memset(op, 0, sizeof *op);
}

cf_err auth_state_new(struct con_auth **out)
{
	*out = calloc(1, sizeof **out);
	return *out != NULL ? CF_OK : CF_E_NOMEM;
}

void auth_state_free(struct con_auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < AUTH_DUAL_MAX; i++)
		op_clear(&a->ops[i]);
	sec_freezero(a, sizeof *a);
}

cf_err con_auth_new(struct con *c)
{
	if (c->auth != NULL)
		return CF_OK;
	return auth_state_new(&c->auth);
}

void con_auth_free(struct con *c)
{
	/* pending operations live in memory only: they die with the console (docs) */
	auth_state_free(c->auth);
	c->auth = NULL;
}

/* ---- dialogue pieces -------------------------------------------------------------------- */

struct secbuf {
	char *p;
	size_t cap;
};

static cf_err sb_new(struct secbuf *b, size_t cap)
{
	b->cap = cap;
	b->p = NULL;
	return sec_alloc(cap, (void **)&b->p);
}

static void sb_free(struct secbuf *b)
{
	if (b->p != NULL)
		sec_free(b->p, b->cap);
	b->p = NULL;
}

/* Read a new password twice, rules checked (and different from avoid when given); three
 * attempts. pw is a CON_SECRET_MAX sec_alloc buffer. */
static cf_err read_new_password(struct con *c, const char *name, const char *prompt,
				const char *again_prompt, const char *avoid, size_t n_avoid,
				char *pw, size_t *n)
{
	struct secbuf again;
	cf_err rc;

	*n = 0;
	TRY(sb_new(&again, CON_SECRET_MAX));
	con_printf(c, "A password has at least %d characters, at least two kinds of characters "
		   "(lower case, upper case, digits, symbols) and is not the account name.\n",
		   AUTH_PW_MIN);
	for (int tries = 0; tries < 3; tries++) {
		rc = con_read_secret(c, prompt, pw, CON_SECRET_MAX, AUTH_PROMPT_TIMEOUT_S);
		if (rc == CF_E_TOO_LARGE)
			continue;
		if (rc != CF_OK)
			goto out;
		size_t len = strlen(pw);
		const char *why = auth_pw_rules(name, pw, len);
		if (why == NULL && avoid != NULL && n_avoid == len && ct_memeq(avoid, pw, len))
			why = "the new password must differ from the current one";
		if (why != NULL) {
			con_printf(c, "password refused: %s\n", why);
			continue;
		}
		rc = con_read_secret(c, again_prompt, again.p, again.cap, AUTH_PROMPT_TIMEOUT_S);
		if (rc == CF_E_TOO_LARGE)
			continue;
		if (rc != CF_OK)
			goto out;
		if (strlen(again.p) != len || !ct_memeq(pw, again.p, len)) {
			con_printf(c, "the two passwords differ; try again\n");
			continue;
		}
		*n = len;
		rc = CF_OK;
		goto out;
	}
	con_printf(c, "too many attempts; nothing changed\n");
	rc = CF_E_CANCELLED;
out:
	sb_free(&again);
	if (rc != CF_OK)
		sec_wipe(pw, CON_SECRET_MAX);
	return rc;
}

/* Enrolment: a new secret shown as URI, QR code and key, confirmed by one code (three
 * attempts). On success t->secret and t->last_step are set (the confirming step cannot be
 * used again to log in). */
static cf_err totp_enrol(struct con *c, const char *name, struct auth_totp *t)
{
	struct secbuf code = { 0 }, b32b = { 0 }, urib = { 0 };
	char *qr = NULL;
	cf_err rc;

	TRY(sb_new(&code, CON_SECRET_MAX));
	if ((rc = sb_new(&b32b, 64)) != CF_OK || (rc = sb_new(&urib, 256)) != CF_OK)
		goto out;
	if ((rc = rnd(t->secret, sizeof t->secret)) != CF_OK)
		goto out;
	t->last_step = 0;
	char *b32 = b32b.p, *uri = urib.p;
	auth_base32(t->secret, sizeof t->secret, b32);
	if ((rc = auth_otpauth_uri(name, b32, uri, urib.cap)) != CF_OK ||
	    (rc = auth_qr_ascii(uri, &qr)) != CF_OK) {
		con_printf(c, "cannot build the TOTP enrolment (%s)\n", cf_err_str(rc));
		goto out;
	}
	con_printf(c, "\nTOTP enrolment for %s: scan this QR code with an authenticator app\n"
		   "(TOTP, SHA-1, 6 digits, 30 s), or enter the key by hand.\n\n", name);
	con_write(c, qr, strlen(qr));
	con_printf(c, "\n%s\nkey: ", uri);
	for (size_t i = 0; i < AUTH_TOTP_B32_LEN; i += 4)
		con_printf(c, "%.4s%s", b32 + i, i + 4 < AUTH_TOTP_B32_LEN ? " " : "\n");
	con_printf(c, "\nConfirm with the code the app shows now.\n");
	rc = CF_E_AUTH;
	for (int tries = 0; tries < 3; tries++) {
		cf_err r = con_read_secret(c, "TOTP code: ", code.p, AUTH_CODE_CAP,
					   AUTH_PROMPT_TIMEOUT_S);
		if (r == CF_E_TOO_LARGE)
			continue;
		if (r != CF_OK) {
			rc = r;
			goto out;
		}
		uint64_t step = 0;
		if (auth_totp_check(t->secret, code.p, con_now(c), 0, &step)) {
			t->last_step = step;
			con_printf(c, "TOTP enrolled.\n");
			rc = CF_OK;
			goto out;
		}
		con_printf(c, "wrong code; check the app's clock and try again\n");
	}
	con_printf(c, "TOTP not confirmed; nothing changed\n");
out:
	if (qr != NULL)
		sec_freezero(qr, strlen(qr));
	sb_free(&urib);
	sb_free(&b32b);
	sb_free(&code);
	if (rc != CF_OK)
		sec_wipe(t, sizeof *t);
	return rc;
}

/* t (secret, last_step) sealed under a fresh key from pw. */
static cf_err seal_for(const char *name, struct auth_totp *t, const char *pw, size_t n,
		       uint8_t **blob, size_t *n_blob)
{
	TRY(totp_rekey(t, pw, n));
	return auth_totp_seal(name, t, blob, n_blob);
}

static struct store *need_store(struct con *c)
{
	struct store *st = con_store(c);
	if (st == NULL)
		con_printf(c, "no store yet: initialise the appliance first (`init`)\n");
	return st;
}

/* A new password (and TOTP enrolment when enrol) for the logged-in person's own account. */
static cf_err set_own_credentials(struct con *c, struct store *st, const char *name,
				  const char *old, size_t n_old, struct auth_totp *keep)
{
	struct secbuf pw = { 0 };
	struct auth_totp *t = NULL;
	char hash[AUTH_ENCODED_MAX];
	uint8_t *blob = NULL;
	size_t n_blob = 0, n = 0;
	cf_err rc;

	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if ((rc = read_new_password(c, name, "New password: ", "Repeat new password: ", old, n_old,
				    pw.p, &n)) != CF_OK)
		goto out;
	if (keep != NULL) {
		memcpy(t->secret, keep->secret, sizeof t->secret);
		t->last_step = keep->last_step;
	} else if ((rc = totp_enrol(c, name, t)) != CF_OK) {
		goto out;
	}
	if ((rc = seal_for(name, t, pw.p, n, &blob, &n_blob)) != CF_OK ||
	    (rc = auth_pw_hash(pw.p, n, hash)) != CF_OK)
		goto out;
	rc = store_user_set_credentials(st, name, hash, blob, n_blob, false);
	if (rc != CF_OK)
		con_printf(c, "cannot save the new credentials (%s); nothing changed\n", cf_err_str(rc));
out:
	sec_freezero(blob, n_blob);
	sec_wipe(hash, sizeof hash);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* ---- login ------------------------------------------------------------------------------ */

static unsigned pending_count(struct con *c);
static void dual_sweep(struct con *c);

cf_err con_login(struct con *c)
{
	struct store *st;
	struct store_user u;
	struct secbuf pw = { 0 }, code = { 0 };
	struct auth_totp *t = NULL;
	char name[64], detail[160];
	bool known = false, has_totp, bad_input = false, pw_ok = false, totp_ok = false;
	bool replay = false, unsealed = false;
	uint64_t step = 0;
	int64_t locked_for = 0;
	cf_err rc;

	memset(&u, 0, sizeof u);
	TRY(con_auth_new(c));
	/* no store (cannot happen in READY / ERROR): the shell says "login unavailable" */
	if ((st = con_store(c)) == NULL)
		return CF_E_STORE;
	dual_sweep(c);
	TRY(con_readline(c, "login: ", name, sizeof name, 0));
	if (name[0] == '\0')
		return CF_E_CANCELLED;

	if ((rc = sb_new(&pw, CON_SECRET_MAX)) != CF_OK || (rc = sb_new(&code, CON_SECRET_MAX)) != CF_OK ||
	    (rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if (auth_name_ok(name)) {
		rc = store_user_get(st, name, &u);
		if (rc == CF_OK) {
			known = true;
		} else if (rc != CF_E_NOT_FOUND) {
			goto out; /* the shell says "login unavailable" with the reason */
		}
	}
	/* a name without an account is asked for a code too, as most accounts have one */
	has_totp = known ? u.totp != NULL : true;

	rc = con_read_secret(c, "Password: ", pw.p, pw.cap, AUTH_PROMPT_TIMEOUT_S);
	if (rc == CF_E_TOO_LARGE)
		bad_input = true; /* longer than any password: wrong, and counted */
	else if (rc != CF_OK)
		goto out;         /* cancelled before anything was checked: nothing to count */
	if (has_totp) {
		rc = con_read_secret(c, "TOTP code: ", code.p, AUTH_CODE_CAP, AUTH_PROMPT_TIMEOUT_S);
		if (rc == CF_E_TOO_LARGE)
			bad_input = true;
		else if (rc != CF_OK)
			goto out;
	}

	/* Check everything whatever fails first, so the time taken tells nothing. */
	size_t n = strlen(pw.p);
	int64_t now = con_now(c);
	if (known)
		pw_ok = auth_pw_verify(u.pw_hash, pw.p, n) == CF_OK;
	else
		pw_dummy(pw.p, n);
	if (has_totp) {
		if (known) {
			unsealed = auth_totp_unseal(u.name, pw.p, n, u.totp, u.totp_len, t) == CF_OK;
		} else {
			memset(t->salt, 0x5a, sizeof t->salt);
			cf_err dr = auth_totp_derive(t, pw.p, n); /* only for the time it takes */
			(void)dr;
		}
		if (unsealed) {
			totp_ok = auth_totp_check(t->secret, code.p, now, t->last_step, &step);
			replay = !totp_ok && auth_totp_check(t->secret, code.p, now, 0, NULL);
		}
	}
	bool locked = known && auth_locked(&u, now);
	bool ok = known && !u.disabled && !locked && !bad_input && pw_ok && (!has_totp || totp_ok);

	if (!ok) {
		if (!known)
			snprintf(detail, sizeof detail, "no such account");
		else if (locked)
			snprintf(detail, sizeof detail, "account locked for %lld s more",
				 (long long)(u.locked_until - now));
		else if (u.disabled)
			snprintf(detail, sizeof detail, "account disabled");
		else if (!pw_ok || bad_input)
			snprintf(detail, sizeof detail, "wrong password");
		else
			snprintf(detail, sizeof detail, replay ? "TOTP code already used" : "wrong TOTP code");
		if (known && !locked && !u.disabled) {
			cf_err r = auth_fail_record(c->auth, st, &u, now, &locked_for);
			if (r != CF_OK)
				log_err_r(r, "auth: cannot record a failed login for %s", u.name);
			size_t l = strlen(detail);
			snprintf(detail + l, sizeof detail - l, " (%u failures)", u.failed);
		}
		/* the name typed is recorded only when it is an account: a password typed at
		 * "login: " by mistake must not end up in the audit log */
		con_audit(c, "console:login", known ? u.name : "", CF_E_AUTH, detail);
		if (locked_for > 0) {
			snprintf(detail, sizeof detail, "%d failed logins within %d s: locked for %lld s",
				 AUTH_LOCK_FAILS, AUTH_LOCK_WINDOW_S, (long long)locked_for);
			con_audit(c, "console:lockout", u.name, CF_E_AUTH, detail);
			log_warn("console: account %s locked for %lld s after repeated failed logins",
				 u.name, (long long)locked_for);
		}
		delay_s(AUTH_FAIL_DELAY_S);
		con_printf(c, "login incorrect\n");
		rc = CF_E_AUTH;
		goto out;
	}

	if (has_totp) {
		/* remember the step used, inside the sealed blob, so the code cannot serve twice
		 * (not even after a restart) */
		uint8_t *blob = NULL;
		size_t n_blob = 0;
		t->last_step = step;
		rc = auth_totp_seal(u.name, t, &blob, &n_blob);
		if (rc == CF_OK)
			rc = store_user_set_totp(st, u.name, blob, n_blob);
		sec_freezero(blob, n_blob);
		if (rc != CF_OK) {
			con_printf(c, "login failed: cannot update the account (%s)\n", cf_err_str(rc));
			con_audit(c, "console:login", u.name, rc, "cannot record the TOTP step");
			goto out;
		}
	}
	uint32_t failed_before = u.failed;
	if ((rc = auth_success_record(c->auth, st, &u)) != CF_OK) {
		con_printf(c, "login failed: cannot update the account (%s)\n", cf_err_str(rc));
		goto out;
	}
	if (u.must_change) {
		con_printf(c, "\nFirst login of %s: choose your own password now, then enrol a TOTP "
			   "authenticator.\n", u.name);
		rc = set_own_credentials(c, st, u.name, pw.p, n, NULL);
		if (rc != CF_OK) {
			con_printf(c, "not logged in: the password must be changed at the first login\n");
			con_audit(c, "console:login", u.name, rc, "first login: password change not completed");
			goto out;
		}
	}
	c->authed = true;
	snprintf(c->user, sizeof c->user, "%s", u.name);
	con_audit(c, "console:login", u.name, CF_OK,
		  u.must_change ? "first login: password changed, TOTP enrolled" : "");
	if (failed_before > 0)
		con_printf(c, "note: %u failed login(s) since your last login\n", failed_before);
	unsigned np = pending_count(c);
	if (np > 0)
		con_printf(c, "%u operation(s) wait for a second administrator: see `pending`\n", np);
	rc = CF_OK;
out:
	store_user_free(&u);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&code);
	sb_free(&pw);
	sec_wipe(name, sizeof name);
	return rc;
}

/* The logged-in administrator's current password again (before changing credentials). A
 * wrong one counts as a failed login. On success *u is their row, pw holds the password and,
 * when the account has TOTP, t its unsealed secret (*has_totp). */
static cf_err reauth(struct con *c, struct store *st, struct store_user *u, char *pw, size_t *n,
		     struct auth_totp *t, bool *has_totp)
{
	cf_err rc;
	*has_totp = false;
	if ((rc = store_user_get(st, c->user, u)) != CF_OK) {
		con_printf(c, "cannot read your account (%s)\n", cf_err_str(rc));
		return rc;
	}
	rc = con_read_secret(c, "Current password: ", pw, CON_SECRET_MAX, AUTH_PROMPT_TIMEOUT_S);
	if (rc != CF_OK && rc != CF_E_TOO_LARGE)
		return rc;
	*n = rc == CF_OK ? strlen(pw) : 0;
	int64_t now = con_now(c);
	bool ok = rc == CF_OK && !auth_locked(u, now) && auth_pw_verify(u->pw_hash, pw, *n) == CF_OK;
	if (ok && u->totp != NULL) {
		rc = auth_totp_unseal(u->name, pw, *n, u->totp, u->totp_len, t);
		if (rc != CF_OK) {
			con_printf(c, "cannot open your TOTP secret (%s); ask another administrator to "
				   "reset your password\n", cf_err_str(rc));
			return rc;
		}
		*has_totp = true;
	}
	if (!ok) {
		int64_t locked_for = 0;
		if (auth_fail_record(c->auth, st, u, now, &locked_for) != CF_OK)
			log_err("auth: cannot record a failed password check for %s", u->name);
		con_audit(c, "console:reauth", u->name, CF_E_AUTH, "wrong password");
		if (locked_for > 0)
			con_audit(c, "console:lockout", u->name, CF_E_AUTH,
				  "repeated wrong passwords at a password change");
		delay_s(AUTH_FAIL_DELAY_S);
		con_printf(c, "password incorrect\n");
		sec_wipe(pw, CON_SECRET_MAX);
		return CF_E_AUTH;
	}
	return CF_OK;
}

/* ---- accounts --------------------------------------------------------------------------- */

static void name_rules(struct con *c, const char *name)
{
	con_printf(c, "invalid account name \"%s\": 1 to %d characters, a lower-case letter "
		   "first, then lower-case letters, digits, '.', '_' or '-'\n", name, CON_USER_MAX);
}

cf_err con_user_create_interactive(struct con *c, const char *name, bool first_admin)
{
	struct store *st;
	struct store_user u;
	struct secbuf pw = { 0 };
	struct auth_totp *t = NULL;
	uint8_t *blob = NULL;
	size_t n_blob = 0, n = 0;
	cf_err rc;

	memset(&u, 0, sizeof u);
	if (!auth_name_ok(name)) {
		name_rules(c, name);
		return CF_E_BAD_VALUE;
	}
	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	rc = store_user_get(st, name, &u);
	store_user_free(&u);
	if (rc == CF_OK) {
		con_printf(c, "account %s already exists\n", name);
		return CF_E_EXISTS;
	}
	if (rc != CF_E_NOT_FOUND) {
		con_printf(c, "cannot read the accounts (%s)\n", cf_err_str(rc));
		return rc;
	}
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if (first_admin) {
		con_printf(c, "Administrator %s: choose your password, then enrol a TOTP "
			   "authenticator.\n", name);
		if ((rc = read_new_password(c, name, "New password: ", "Repeat new password: ", NULL, 0,
					    pw.p, &n)) != CF_OK ||
		    (rc = totp_enrol(c, name, t)) != CF_OK ||
		    (rc = seal_for(name, t, pw.p, n, &blob, &n_blob)) != CF_OK)
			goto out;
	} else {
		con_printf(c, "Set a temporary password for %s: they must replace it and enrol TOTP "
			   "at their first login.\n", name);
		if ((rc = read_new_password(c, name, "Temporary password: ",
					    "Repeat temporary password: ", NULL, 0, pw.p, &n)) != CF_OK)
			goto out;
	}
	snprintf(u.name, sizeof u.name, "%s", name);
	snprintf(u.role, sizeof u.role, "admin");
	if ((rc = auth_pw_hash(pw.p, n, u.pw_hash)) != CF_OK)
		goto out;
	u.totp = blob;
	u.totp_len = n_blob;
	u.must_change = !first_admin;
	u.created = con_now(c);
	rc = store_user_insert(st, &u);
	u.totp = NULL;
	if (rc == CF_E_EXISTS)
		con_printf(c, "account %s already exists\n", name);
	else if (rc != CF_OK)
		con_printf(c, "cannot create the account (%s)\n", cf_err_str(rc));
	else
		con_printf(c, "administrator %s created%s\n", name,
			   first_admin ? "" : " (password change and TOTP enrolment at first login)");
out:
	con_audit(c, "console:user-create", name, rc,
		  first_admin ? "first administrator, TOTP enrolled"
			      : "temporary password, must change it at first login");
	sec_freezero(blob, n_blob);
	sec_wipe(&u, sizeof u);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

cf_err con_user_set_password(struct store *st, const char *name, const char *pw, size_t n,
			     bool must_change, int64_t now)
{
	struct store_user u, old;
	const char *why;
	cf_err rc;

	if (st == NULL || pw == NULL || !auth_name_ok(name))
		return CF_E_INVALID_ARG;
	if ((why = auth_pw_rules(name, pw, n)) != NULL) {
		log_err("auth: password for %s refused: %s", name, why);
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
	if ((rc = auth_pw_hash(pw, n, u.pw_hash)) == CF_OK)
		rc = store_user_put(st, &u);
	sec_wipe(&u, sizeof u);
	return rc;
}

/* `user add NAME` */
static cf_err cmd_user_add(struct con *c, int argc, char **argv)
{
	return con_user_create_interactive(c, argv[0], false);
}

/* `user passwd [NAME]` */
static cf_err cmd_user_passwd(struct con *c, int argc, char **argv)
{
	struct store *st;
	struct store_user u;
	struct secbuf pw = { 0 };
	struct auth_totp *t = NULL;
	char hash[AUTH_ENCODED_MAX];
	size_t n = 0;
	bool has_totp = false;
	cf_err rc;

	memset(&u, 0, sizeof u);
	hash[0] = '\0';
	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	const char *name = argc > 0 ? argv[0] : c->user;
	if (!auth_name_ok(name)) {
		name_rules(c, name);
		return CF_E_BAD_VALUE;
	}
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if (strcmp(name, c->user) == 0) {
		/* own password: prove it is you, keep the TOTP secret, re-seal it */
		if ((rc = reauth(c, st, &u, pw.p, &n, t, &has_totp)) != CF_OK)
			goto out;
		rc = set_own_credentials(c, st, name, pw.p, n, has_totp ? t : NULL);
		if (rc == CF_OK && !has_totp)
			con_printf(c, "password changed (and TOTP enrolled)\n");
		else if (rc == CF_OK)
			con_printf(c, "password changed\n");
		con_audit(c, "console:user-passwd", name, rc, "own password changed");
		goto out;
	}
	/* another administrator's: a reset. Their TOTP secret is sealed under the password
	 * nobody here knows, so it goes too: they enrol again at their next login. */
	rc = store_user_get(st, name, &u);
	if (rc == CF_E_NOT_FOUND) {
		con_printf(c, "no account %s\n", name);
		goto out;
	} else if (rc != CF_OK) {
		con_printf(c, "cannot read the account (%s)\n", cf_err_str(rc));
		goto out;
	}
	con_printf(c, "Resetting %s: a temporary password replaces theirs, their TOTP enrolment is "
		   "removed and their lockout cleared; they choose a new password and enrol TOTP at "
		   "their next login.\n", name);
	if (!con_confirm(c, "Reset this account?")) {
		con_printf(c, "cancelled\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	if ((rc = read_new_password(c, name, "Temporary password: ", "Repeat temporary password: ",
				    NULL, 0, pw.p, &n)) != CF_OK ||
	    (rc = auth_pw_hash(pw.p, n, hash)) != CF_OK)
		goto audit;
	rc = store_user_set_credentials(st, name, hash, NULL, 0, true);
	if (rc == CF_OK) {
		struct auth_lk *lk = lk_find(c->auth, name);
		if (lk != NULL)
			memset(lk, 0, sizeof *lk);
		con_printf(c, "password of %s reset; they must change it at their next login\n", name);
	} else {
		con_printf(c, "cannot save the new password (%s)\n", cf_err_str(rc));
	}
audit:
	con_audit(c, "console:user-reset", name, rc, "temporary password, TOTP removed, lockout cleared");
out:
	sec_wipe(hash, sizeof hash);
	store_user_free(&u);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* `user totp`: enrol a new TOTP secret for one's own account. */
static cf_err cmd_user_totp(struct con *c, int argc, char **argv)
{
	struct store *st;
	struct store_user u;
	struct secbuf pw = { 0 };
	struct auth_totp *t = NULL, *nt = NULL;
	uint8_t *blob = NULL;
	size_t n = 0, n_blob = 0;
	bool has_totp = false;
	cf_err rc;

	memset(&u, 0, sizeof u);
	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK ||
	    (rc = sec_alloc(sizeof *nt, (void **)&nt)) != CF_OK)
		goto out;
	if ((rc = reauth(c, st, &u, pw.p, &n, t, &has_totp)) != CF_OK)
		goto out;
	if ((rc = totp_enrol(c, u.name, nt)) != CF_OK)
		goto audit;
	/* the old secret's last step still applies: a code of the old app is not a code of the
	 * new one, and the steps only grow */
	if (has_totp && t->last_step > nt->last_step)
		nt->last_step = t->last_step;
	if ((rc = seal_for(u.name, nt, pw.p, n, &blob, &n_blob)) == CF_OK)
		rc = store_user_set_totp(st, u.name, blob, n_blob);
	if (rc == CF_OK)
		con_printf(c, "TOTP re-enrolled: the previous authenticator no longer works\n");
	else
		con_printf(c, "cannot save the new TOTP secret (%s)\n", cf_err_str(rc));
audit:
	con_audit(c, "console:user-totp", u.name, rc, "TOTP re-enrolled");
out:
	sec_freezero(blob, n_blob);
	store_user_free(&u);
	if (nt != NULL)
		sec_free(nt, sizeof *nt);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* `user list` */
static cf_err cmd_user_list(struct con *c, int argc, char **argv)
{
	struct store *st;
	struct store_user *v = NULL;
	size_t n = 0;
	cf_err rc;

	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	if ((rc = store_user_list(st, &v, &n)) != CF_OK) {
		con_printf(c, "cannot list the accounts (%s)\n", cf_err_str(rc));
		return rc;
	}
	int64_t now = con_now(c);
	con_printf(c, "%-20s %-21s %-4s %-28s %-8s %s\n", "NAME", "CREATED", "TOTP", "LOCKED",
		   "FAILURES", "NOTE");
	for (size_t i = 0; i < n; i++) {
		char created[32], until[32], locked[48];
		fmt_time(v[i].created, created, sizeof created);
		if (auth_locked(&v[i], now)) {
			fmt_time(v[i].locked_until, until, sizeof until);
			snprintf(locked, sizeof locked, "until %s", until);
		} else {
			snprintf(locked, sizeof locked, "no");
		}
		con_printf(c, "%-20s %-21s %-4s %-28s %-8u %s%s%s\n", v[i].name, created,
			   v[i].totp != NULL ? "yes" : "no", locked, v[i].failed,
			   v[i].must_change ? "must change password" : "",
			   v[i].disabled ? (v[i].must_change ? ", disabled" : "disabled") : "",
			   strcmp(v[i].name, c->user) == 0 ? " (you)" : "");
	}
	con_printf(c, "%zu account(s)\n", n);
	store_user_list_free(v, n);
	return CF_OK;
}

/* ---- dual control ----------------------------------------------------------------------- */

static void op_describe(const struct auth_op *op, char *out, size_t cap)
{
	size_t l = 0;
	int r = snprintf(out, cap, "%s", op->cmd->name);
	l = r < 0 ? 0 : (size_t)r;
	for (int i = 0; i < op->argc && l < cap; i++) {
		r = snprintf(out + l, cap - l, " %s", op->argv[i]);
		if (r < 0)
			break;
		l += (size_t)r;
	}
}

static unsigned pending_count(struct con *c)
{
	unsigned n = 0;
	if (c->auth == NULL)
		return 0;
	for (size_t i = 0; i < AUTH_DUAL_MAX; i++)
		n += c->auth->ops[i].used;
	return n;
}

/* Cancel (and audit) the operations older than 15 minutes. */
static void dual_sweep(struct con *c)
{
	if (c->auth == NULL)
		return;
	int64_t now = con_now(c);
	for (size_t i = 0; i < AUTH_DUAL_MAX; i++) {
		struct auth_op *op = &c->auth->ops[i];
		if (!op->used || now - op->time <= AUTH_DUAL_TTL_S)
			continue;
		char what[200], detail[300];
		op_describe(op, what, sizeof what);
		snprintf(detail, sizeof detail, "%s, requested by %s: not approved within %d minutes",
			 what, op->requester, AUTH_DUAL_TTL_S / 60);
		con_audit(c, "console:dual-expired", op->id, CF_E_TIMEOUT, detail);
		con_printf(c, "operation %s (%s) expired: cancelled\n", op->id, what);
		op_clear(op);
	}
}

/* "zeroize, backup export" names cmd? */
static bool list_names(const char *list, const char *cmd)
{
	size_t lc = strlen(cmd);
	const char *p = list;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		const char *a = p, *b = e;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == lc && strncasecmp(a, cmd, lc) == 0)
			return true;
		p = *e == ',' ? e + 1 : e;
	}
	return false;
}

bool con_dual_required(const struct con *c, const struct con_cmd *cmd)
{
	/* dual control is between administrators: nothing to ask before there is a login
	 * (UNINITIALIZED and SEALED have no accounts in play) */
	if (c == NULL || cmd == NULL || !c->authed || c->svc == NULL || c->svc->cfg == NULL)
		return false;
	/* the commands that make dual control work can never need it */
	static const char *const never[] = { "approve", "pending", "logout", "help" };
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
		if (strcmp(cmd->name, never[i]) == 0)
			return false;
	const char *list = c->svc->cfg->console.dual_control;
	if (list_names(list, "all") && (cmd->flags & CON_F_DUAL))
		return true;
	return list_names(list, cmd->name);
}

cf_err con_dual_submit(struct con *c, const struct con_cmd *cmd, int argc, char **argv)
{
	struct auth_op *op = NULL;
	char what[200], detail[300];
	cf_err rc;

	if (argc < 0 || argc > CON_ARGS_MAX || cmd == NULL)
		return CF_E_INVALID_ARG;
	TRY(con_auth_new(c));
	dual_sweep(c);
	for (size_t i = 0; i < AUTH_DUAL_MAX && op == NULL; i++)
		if (!c->auth->ops[i].used)
			op = &c->auth->ops[i];
	if (op == NULL) {
		con_printf(c, "too many operations wait for approval (%d); approve or let them expire "
			   "first\n", AUTH_DUAL_MAX);
		return CF_E_TOO_MANY;
	}
	memset(op, 0, sizeof *op);
	/* a short id that is not already pending */
	for (int tries = 0;; tries++) {
		uint8_t r[AUTH_DUAL_ID_LEN / 2];
		bool dup = false;
		if (tries > 8)
			return CF_E_INTERNAL;
		TRY(rnd(r, sizeof r));
		for (size_t i = 0; i < sizeof r; i++)
			snprintf(op->id + 2 * i, 3, "%02x", r[i]);
		for (size_t i = 0; i < AUTH_DUAL_MAX; i++)
			dup |= &c->auth->ops[i] != op && c->auth->ops[i].used &&
			       strcmp(c->auth->ops[i].id, op->id) == 0;
		if (!dup)
			break;
	}
	op->cmd = cmd;
	for (int i = 0; i < argc; i++) {
		if ((op->argv[i] = strdup(argv[i])) == NULL) {
			op_clear(op);
			return CF_E_NOMEM;
		}
		op->argc = i + 1;
	}
	snprintf(op->requester, sizeof op->requester, "%s", c->user);
	op->time = con_now(c);
	op->used = true;
	op_describe(op, what, sizeof what);
	snprintf(detail, sizeof detail, "%s: waits for a second administrator", what);
	con_audit(c, "console:dual-submit", op->id, CF_OK, detail);
	con_printf(c, "operation %s pending: a second administrator must log in and run "
		   "`approve %s` within %d minutes\n", op->id, op->id, AUTH_DUAL_TTL_S / 60);
	rc = CF_OK;
	return rc;
}

static struct auth_op *op_find(struct con *c, const char *id)
{
	for (size_t i = 0; i < AUTH_DUAL_MAX; i++)
		if (c->auth->ops[i].used && strcasecmp(c->auth->ops[i].id, id) == 0)
			return &c->auth->ops[i];
	return NULL;
}

/* `approve ID` */
static cf_err cmd_approve(struct con *c, int argc, char **argv)
{
	struct auth_op op;
	char what[200], detail[300];
	cf_err rc;

	TRY(con_auth_new(c));
	dual_sweep(c);
	struct auth_op *p = op_find(c, argv[0]);
	if (p == NULL) {
		con_printf(c, "no pending operation %s (unknown, expired or already approved); see "
			   "`pending`\n", argv[0]);
		return CF_E_NOT_FOUND;
	}
	op_describe(p, what, sizeof what);
	if (strcmp(p->requester, c->user) == 0) {
		snprintf(detail, sizeof detail, "%s: the requester cannot approve it", what);
		con_audit(c, "console:dual-refused", p->id, CF_E_PERMISSION, detail);
		con_printf(c, "you requested operation %s: another administrator must approve it\n",
			   p->id);
		return CF_E_PERMISSION;
	}
	if ((p->cmd->flags & CON_F_HSM) && c->svc != NULL &&
	    atomic_load(&c->svc->state) != SVC_READY) {
		con_printf(c, "%s needs the appliance READY; operation %s stays pending\n",
			   p->cmd->name, p->id);
		return CF_E_STATE;
	}
	/* take it off the list first: it runs once, whatever happens */
	op = *p;
	memset(p, 0, sizeof *p);
	snprintf(detail, sizeof detail, "%s, requested by %s", what, op.requester);
	con_audit(c, "console:dual-approve", op.id, CF_OK, detail);
	con_printf(c, "approved operation %s (%s, requested by %s): running it now\n", op.id, what,
		   op.requester);
	rc = op.cmd->fn(c, op.argc, op.argv);
	snprintf(detail, sizeof detail, "%s, requested by %s, approved by %s", what, op.requester,
		 c->user);
	con_audit(c, "console:dual-run", op.id, rc, detail);
	op_clear(&op);
	return rc;
}

/* `pending` */
static cf_err cmd_pending(struct con *c, int argc, char **argv)
{
	TRY(con_auth_new(c));
	dual_sweep(c);
	int64_t now = con_now(c);
	unsigned n = 0;
	for (size_t i = 0; i < AUTH_DUAL_MAX; i++) {
		const struct auth_op *op = &c->auth->ops[i];
		if (!op->used)
			continue;
		char what[200], at[32];
		if (n++ == 0)
			con_printf(c, "%-8s  %-32s %-20s %-21s %s\n", "ID", "COMMAND", "REQUESTED BY",
				   "AT", "EXPIRES IN");
		op_describe(op, what, sizeof what);
		fmt_time(op->time, at, sizeof at);
		int64_t left = op->time + AUTH_DUAL_TTL_S - now;
		if (left < 0)
			left = 0;
		con_printf(c, "%-8s  %-32s %-20s %-21s %lld min %02lld s\n", op->id, what, op->requester,
			   at, (long long)(left / 60), (long long)(left % 60));
	}
	if (n == 0)
		con_printf(c, "no operations wait for approval\n");
	return CF_OK;
}

/* ---- the table -------------------------------------------------------------------------- */

const struct con_cmd con_cmds_auth[] = {
	{ "user add", 1, 1, CON_F_AUTH, "user add NAME",
	  "Create administrator NAME. You set a temporary password (typed twice, not echoed);\n"
	  "at their first login they must choose their own password and enrol a TOTP\n"
	  "authenticator (otpauth URI and QR code). NAME: a lower-case letter, then up to 31\n"
	  "lower-case letters, digits, '.', '_' or '-'.", cmd_user_add },
	{ "user passwd", 0, 1, CON_F_AUTH, "user passwd [NAME]",
	  "Without NAME (or with your own): change your password; asks for the current one\n"
	  "first, and keeps your TOTP enrolment.\n"
	  "With another administrator's NAME: reset their account to a temporary password you\n"
	  "set; their TOTP enrolment is removed and their lockout cleared, and they must choose\n"
	  "a new password and enrol TOTP at their next login.", cmd_user_passwd },
	{ "user totp", 0, 0, CON_F_AUTH, "user totp",
	  "Enrol a new TOTP authenticator for your own account (asks for your password, shows\n"
	  "the otpauth URI and QR code, confirms with one code). The old one stops working.",
	  cmd_user_totp },
	{ "user list", 0, 0, CON_F_AUTH, "user list",
	  "List the administrators: name, creation date, TOTP enrolled, locked (until when),\n"
	  "failed logins since the last successful one.", cmd_user_list },
	{ "approve", 1, 1, CON_F_AUTH, "approve ID",
	  "Approve and run operation ID, which another administrator started on a command under\n"
	  "dual control ([console] dual_control). You answer its questions. Operations expire\n"
	  "15 minutes after they were requested; the requester cannot approve their own.",
	  cmd_approve },
	{ "pending", 0, 0, CON_F_AUTH, "pending",
	  "List the operations that wait for a second administrator's `approve`.", cmd_pending },
	{ 0 },
};
