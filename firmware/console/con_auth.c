/* Console accounts (con.h "accounts"; docs/console/accounts.md): the dialogues over
 * firmware/accounts/ (accounts.h), which holds the logic: the login (prompts, then the verdict
 * and its consequences: lockout, audit, messages), first-login password change and TOTP
 * enrolment, dual control, and the `user`, `approve` and `pending` commands. This file reads
 * the secrets, prints and audits; accounts/ hashes, seals, counts and decides. */
#include "firmware/console/con.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/accounts/accounts.h"
#include "firmware/store/store_users.h"

#define AUTH_PROMPT_TIMEOUT_S 120 /* Password:, TOTP code: and the enrolment dialogue */
#define AUTH_CODE_CAP 16          /* a TOTP code line (6 digits; longer is simply wrong) */

/* ---- small helpers ---------------------------------------------------------------------- */

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

/* ---- state ------------------------------------------------------------------------------ */

cf_err con_auth_new(struct con *c)
{
	if (c->auth != NULL)
		return CF_OK;
	return accounts_new(&c->auth);
}

void con_auth_free(struct con *c)
{
	accounts_free(c->auth);
	c->auth = NULL;
}

/* ---- dialogue pieces -------------------------------------------------------------------- */

struct secbuf {
	char *p;
	size_t cap;
};

static MUST_USE cf_err sb_new(struct secbuf *b, size_t cap)
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
cf_err con_read_new_password(struct con *c, const char *name, const char *prompt,
			     const char *again_prompt, const char *avoid, size_t n_avoid, char *pw,
			     size_t *n)
{
	struct secbuf again;
	cf_err rc;

	*n = 0;
	TRY(sb_new(&again, CON_SECRET_MAX));
	con_printf(c, "A password has at least %d characters, at least two kinds of characters "
		   "(lower case, upper case, digits, symbols) and is not the account name.\n",
		   ACCT_PW_MIN);
	for (int tries = 0; tries < 3; tries++) {
		rc = con_read_secret(c, prompt, pw, CON_SECRET_MAX, AUTH_PROMPT_TIMEOUT_S);
		if (rc == CF_E_TOO_LARGE)
			continue;
		if (rc != CF_OK)
			goto out;
		size_t len = strlen(pw);
		const char *why = acct_pw_rules(name, pw, len);
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
static MUST_USE cf_err totp_enrol(struct con *c, const char *name, struct acct_totp *t)
{
	struct secbuf code = { 0 }, b32b = { 0 }, urib = { 0 };
	char *qr = NULL;
	cf_err rc;

	TRY(sb_new(&code, CON_SECRET_MAX));
	if ((rc = sb_new(&b32b, 64)) != CF_OK || (rc = sb_new(&urib, 256)) != CF_OK)
		goto out;
	if ((rc = acct_totp_generate(t)) != CF_OK)
		goto out;
	char *b32 = b32b.p, *uri = urib.p;
	acct_base32(t->secret, sizeof t->secret, b32);
	if ((rc = acct_otpauth_uri(name, b32, uri, urib.cap)) != CF_OK ||
	    (rc = acct_qr_ascii(uri, &qr)) != CF_OK) {
		con_printf(c, "cannot build the TOTP enrolment (%s)\n", cf_err_str(rc));
		goto out;
	}
	con_printf(c, "\nTOTP enrolment for %s: scan this QR code with an authenticator app\n"
		   "(TOTP, SHA-1, 6 digits, 30 s), or enter the key by hand.\n\n", name);
	con_write(c, qr, strlen(qr));
	con_printf(c, "\n%s\nkey: ", uri);
	for (size_t i = 0; i < ACCT_TOTP_B32_LEN; i += 4)
		con_printf(c, "%.4s%s", b32 + i, i + 4 < ACCT_TOTP_B32_LEN ? " " : "\n");
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
		if (acct_totp_check(t->secret, code.p, con_now(c), 0, &step)) {
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

static struct store *need_store(struct con *c)
{
	struct store *st = con_store(c);
	if (st == NULL)
		con_printf(c, "no store yet: initialise the appliance first (`init`)\n");
	return st;
}

/* A new password (and TOTP enrolment unless keep) for the logged-in person's own account. */
static MUST_USE cf_err set_own_credentials(struct con *c, struct store *st, const char *name,
				  const char *old, size_t n_old, struct acct_totp *keep)
{
	struct secbuf pw = { 0 };
	struct acct_totp *t = NULL;
	size_t n = 0;
	cf_err rc;

	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if ((rc = con_read_new_password(c, name, "New password: ", "Repeat new password: ", old, n_old,
				    pw.p, &n)) != CF_OK)
		goto out;
	if (keep != NULL) {
		memcpy(t->secret, keep->secret, sizeof t->secret);
		t->last_step = keep->last_step;
	} else if ((rc = totp_enrol(c, name, t)) != CF_OK) {
		goto out;
	}
	rc = acct_credentials_set(st, name, pw.p, n, t);
	if (rc != CF_OK)
		con_printf(c, "cannot save the new credentials (%s); nothing changed\n", cf_err_str(rc));
out:
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* ---- login ------------------------------------------------------------------------------ */

static void dual_sweep(struct con *c);

/* The secrets of one login attempt, in sec_alloc memory. */
struct login_secrets {
	struct secbuf pw, code;
	struct acct_totp *t;
};

static MUST_USE cf_err ls_new(struct login_secrets *s)
{
	memset(s, 0, sizeof *s);
	TRY(sb_new(&s->pw, CON_SECRET_MAX));
	TRY(sb_new(&s->code, CON_SECRET_MAX));
	return sec_alloc(sizeof *s->t, (void **)&s->t);
}

static void ls_free(struct login_secrets *s)
{
	if (s->t != NULL)
		sec_free(s->t, sizeof *s->t);
	sb_free(&s->code);
	sb_free(&s->pw);
	s->t = NULL;
}

/* "Password: " and, when v->has_totp, "TOTP code: ". A line longer than any password or code
 * is a wrong one (v->bad_input), counted; a cancel before anything was checked is not. */
static MUST_USE cf_err login_read(struct con *c, struct login_secrets *s, struct acct_verdict *v)
{
	cf_err rc = con_read_secret(c, "Password: ", s->pw.p, s->pw.cap, AUTH_PROMPT_TIMEOUT_S);
	if (rc == CF_E_TOO_LARGE)
		v->bad_input = true;
	else if (rc != CF_OK)
		return rc;
	if (v->has_totp) {
		rc = con_read_secret(c, "TOTP code: ", s->code.p, AUTH_CODE_CAP, AUTH_PROMPT_TIMEOUT_S);
		if (rc == CF_E_TOO_LARGE)
			v->bad_input = true;
		else if (rc != CF_OK)
			return rc;
	}
	return CF_OK;
}

/* A refused login: counted against the account (lockout), audited, "login incorrect". */
static MUST_USE cf_err login_refused(struct con *c, struct store *st, struct store_user *u,
			    const struct acct_verdict *v, int64_t now)
{
	char detail[160];
	int64_t locked_for = 0;

	acct_verdict_reason(v, u, now, detail, sizeof detail);
	if (v->known && !v->locked && !v->disabled) {
		cf_err r = acct_fail_record(c->auth, st, u, now, &locked_for);
		if (r != CF_OK)
			log_err_r(r, "auth: cannot record a failed login for %s", u->name);
		size_t l = strlen(detail);
		snprintf(detail + l, sizeof detail - l, " (%u failures)", u->failed);
	}
	/* the name typed is recorded only when it is an account: a password typed at
	 * "login: " by mistake must not end up in the audit log */
	con_audit(c, "console:login", v->known ? u->name : "", CF_E_AUTH, detail);
	if (locked_for > 0) {
		snprintf(detail, sizeof detail, "%d failed logins within %d s: locked for %lld s",
			 ACCT_LOCK_FAILS, ACCT_LOCK_WINDOW_S, (long long)locked_for);
		con_audit(c, "console:lockout", u->name, CF_E_AUTH, detail);
		log_warn("console: account %s locked for %lld s after repeated failed logins",
			 u->name, (long long)locked_for);
	}
	delay_s(ACCT_FAIL_DELAY_S);
	con_printf(c, "login incorrect\n");
	return CF_E_AUTH;
}

/* An accepted login: the TOTP step and the cleared failures recorded, the first-login
 * password change, then the session. */
static MUST_USE cf_err login_accepted(struct con *c, struct store *st, struct store_user *u,
			     struct login_secrets *s, const struct acct_verdict *v)
{
	cf_err rc = acct_login_record(st, u, s->t, v);
	if (rc != CF_OK) {
		con_printf(c, "login failed: cannot update the account (%s)\n", cf_err_str(rc));
		con_audit(c, "console:login", u->name, rc, "cannot record the TOTP step");
		return rc;
	}
	uint32_t failed_before = u->failed;
	if ((rc = acct_success_record(c->auth, st, u)) != CF_OK) {
		con_printf(c, "login failed: cannot update the account (%s)\n", cf_err_str(rc));
		return rc;
	}
	if (u->must_change) {
		con_printf(c, "\nFirst login of %s: choose your own password now, then enrol a TOTP "
			   "authenticator.\n", u->name);
		rc = set_own_credentials(c, st, u->name, s->pw.p, strlen(s->pw.p), NULL);
		if (rc != CF_OK) {
			con_printf(c, "not logged in: the password must be changed at the first login\n");
			con_audit(c, "console:login", u->name, rc, "first login: password change not completed");
			return rc;
		}
	}
	c->authed = true;
	snprintf(c->user, sizeof c->user, "%s", u->name);
	con_audit(c, "console:login", u->name, CF_OK,
		  u->must_change ? "first login: password changed, TOTP enrolled" : "");
	if (failed_before > 0)
		con_printf(c, "note: %u failed login(s) since your last login\n", failed_before);
	unsigned np = acct_dual_count(c->auth);
	if (np > 0)
		con_printf(c, "%u operation(s) wait for a second administrator: see `pending`\n", np);
	return CF_OK;
}

cf_err con_login(struct con *c)
{
	struct store *st;
	struct store_user u;
	struct login_secrets s = { 0 };
	struct acct_verdict v = { 0 };
	char name[64];
	cf_err rc;

	memset(&u, 0, sizeof u);
	name[0] = '\0';
	if ((rc = con_auth_new(c)) != CF_OK)
		goto out;
	/* no store (cannot happen in READY / ERROR): the shell says "login unavailable" */
	if ((st = con_store(c)) == NULL) {
		rc = CF_E_STORE;
		goto out;
	}
	dual_sweep(c);
	if ((rc = con_readline(c, "login: ", name, sizeof name, 0)) != CF_OK)
		goto out;
	if (name[0] == '\0') {
		rc = CF_E_CANCELLED;
		goto out;
	}
	/* a store error: the shell says "login unavailable" with the reason */
	if ((rc = ls_new(&s)) != CF_OK || (rc = acct_login_lookup(st, name, &u, &v.known)) != CF_OK)
		goto out;
	/* a name without an account is asked for a code too, as most accounts have one */
	v.has_totp = v.known ? u.totp != NULL : true;
	if ((rc = login_read(c, &s, &v)) != CF_OK)
		goto out;
	int64_t now = con_now(c);
	acct_login_verdict(&u, s.pw.p, strlen(s.pw.p), s.code.p, now, s.t, &v);
	if (acct_verdict_ok(&v))
		rc = login_accepted(c, st, &u, &s, &v);
	else
		rc = login_refused(c, st, &u, &v, now);
out:
	store_user_free(&u);
	ls_free(&s);
	sec_wipe(&v, sizeof v);
	sec_wipe(name, sizeof name);
	return rc;
}

/* The logged-in administrator's current password again (before changing credentials). A
 * wrong one counts as a failed login. On success *u is their row, pw holds the password and,
 * when the account has TOTP, t its unsealed secret (*has_totp). */
static MUST_USE cf_err reauth(struct con *c, struct store *st, struct store_user *u, char *pw, size_t *n,
		     struct acct_totp *t, bool *has_totp)
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
	bool ok = rc == CF_OK && !acct_locked(u, now) && acct_pw_verify(u->pw_hash, pw, *n) == CF_OK;
	if (ok && u->totp != NULL) {
		rc = acct_totp_unseal(u->name, pw, *n, u->totp, u->totp_len, t);
		if (rc != CF_OK) {
			con_printf(c, "cannot open your TOTP secret (%s); ask another administrator to "
				   "reset your password\n", cf_err_str(rc));
			return rc;
		}
		*has_totp = true;
	}
	if (!ok) {
		int64_t locked_for = 0;
		if (acct_fail_record(c->auth, st, u, now, &locked_for) != CF_OK)
			log_err("auth: cannot record a failed password check for %s", u->name);
		con_audit(c, "console:reauth", u->name, CF_E_AUTH, "wrong password");
		if (locked_for > 0)
			con_audit(c, "console:lockout", u->name, CF_E_AUTH,
				  "repeated wrong passwords at a password change");
		delay_s(ACCT_FAIL_DELAY_S);
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

/* The new account's name is free: CF_OK, else a printed reason. */
static MUST_USE cf_err name_free(struct con *c, struct store *st, const char *name)
{
	struct store_user u;
	cf_err rc = store_user_get(st, name, &u);
	store_user_free(&u);
	if (rc == CF_OK) {
		con_printf(c, "account %s already exists\n", name);
		return CF_E_EXISTS;
	}
	if (rc != CF_E_NOT_FOUND) {
		con_printf(c, "cannot read the accounts (%s)\n", cf_err_str(rc));
		return rc;
	}
	return CF_OK;
}

cf_err con_user_create_interactive(struct con *c, const char *name, bool first_admin)
{
	struct store *st;
	struct secbuf pw = { 0 };
	struct acct_totp *t = NULL;
	size_t n = 0;
	cf_err rc;

	if (!acct_name_ok(name)) {
		name_rules(c, name);
		return CF_E_BAD_VALUE;
	}
	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	TRY(name_free(c, st, name));
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if (first_admin) {
		con_printf(c, "Administrator %s: choose your password, then enrol a TOTP "
			   "authenticator.\n", name);
		if ((rc = con_read_new_password(c, name, "New password: ", "Repeat new password: ", NULL, 0,
					    pw.p, &n)) != CF_OK ||
		    (rc = totp_enrol(c, name, t)) != CF_OK)
			goto out;
	} else {
		con_printf(c, "Set a temporary password for %s: they must replace it and enrol TOTP "
			   "at their first login.\n", name);
		if ((rc = con_read_new_password(c, name, "Temporary password: ",
					    "Repeat temporary password: ", NULL, 0, pw.p, &n)) != CF_OK)
			goto out;
	}
	rc = acct_create(st, name, pw.p, n, first_admin ? t : NULL, !first_admin, con_now(c));
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
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* `user add NAME` */
static MUST_USE cf_err cmd_user_add(struct con *c, int argc, char **argv)
{
	return con_user_create_interactive(c, argv[0], false);
}

/* `user passwd` for one's own account: prove it is you, keep the TOTP secret, re-seal it. */
static MUST_USE cf_err passwd_own(struct con *c, struct store *st, const char *name)
{
	struct store_user u;
	struct secbuf pw = { 0 };
	struct acct_totp *t = NULL;
	size_t n = 0;
	bool has_totp = false;
	cf_err rc;

	memset(&u, 0, sizeof u);
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = sec_alloc(sizeof *t, (void **)&t)) != CF_OK)
		goto out;
	if ((rc = reauth(c, st, &u, pw.p, &n, t, &has_totp)) != CF_OK)
		goto out;
	rc = set_own_credentials(c, st, name, pw.p, n, has_totp ? t : NULL);
	if (rc == CF_OK && !has_totp)
		con_printf(c, "password changed (and TOTP enrolled)\n");
	else if (rc == CF_OK)
		con_printf(c, "password changed\n");
	con_audit(c, "console:user-passwd", name, rc, "own password changed");
out:
	store_user_free(&u);
	if (t != NULL)
		sec_free(t, sizeof *t);
	sb_free(&pw);
	return rc;
}

/* `user passwd NAME` for another administrator: a reset. Their TOTP secret is sealed under
 * the password nobody here knows, so it goes too: they enrol again at their next login. */
static MUST_USE cf_err passwd_reset(struct con *c, struct store *st, const char *name)
{
	struct store_user u;
	struct secbuf pw = { 0 };
	size_t n = 0;
	cf_err rc = store_user_get(st, name, &u);

	store_user_free(&u);
	if (rc == CF_E_NOT_FOUND) {
		con_printf(c, "no account %s\n", name);
		return rc;
	} else if (rc != CF_OK) {
		con_printf(c, "cannot read the account (%s)\n", cf_err_str(rc));
		return rc;
	}
	con_printf(c, "Resetting %s: a temporary password replaces theirs, their TOTP enrolment is "
		   "removed and their lockout cleared; they choose a new password and enrol TOTP at "
		   "their next login.\n", name);
	if (!con_confirm(c, "Reset this account?")) {
		con_printf(c, "cancelled\n");
		return CF_E_CANCELLED;
	}
	TRY(sb_new(&pw, CON_SECRET_MAX));
	if ((rc = con_read_new_password(c, name, "Temporary password: ", "Repeat temporary password: ",
				    NULL, 0, pw.p, &n)) == CF_OK) {
		rc = acct_password_reset(c->auth, st, name, pw.p, n);
		if (rc == CF_OK)
			con_printf(c, "password of %s reset; they must change it at their next login\n",
				   name);
		else
			con_printf(c, "cannot save the new password (%s)\n", cf_err_str(rc));
	}
	con_audit(c, "console:user-reset", name, rc, "temporary password, TOTP removed, lockout cleared");
	sb_free(&pw);
	return rc;
}

/* `user passwd [NAME]` */
static MUST_USE cf_err cmd_user_passwd(struct con *c, int argc, char **argv)
{
	struct store *st;

	if ((st = need_store(c)) == NULL)
		return CF_E_STATE;
	const char *name = argc > 0 ? argv[0] : c->user;
	if (!acct_name_ok(name)) {
		name_rules(c, name);
		return CF_E_BAD_VALUE;
	}
	if (strcmp(name, c->user) == 0)
		return passwd_own(c, st, name);
	return passwd_reset(c, st, name);
}

/* `user totp`: enrol a new TOTP secret for one's own account. */
static MUST_USE cf_err cmd_user_totp(struct con *c, int argc, char **argv)
{
	struct store *st;
	struct store_user u;
	struct secbuf pw = { 0 };
	struct acct_totp *t = NULL, *nt = NULL;
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
	if ((rc = acct_totp_seal_new(u.name, nt, pw.p, n, &blob, &n_blob)) == CF_OK)
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
static MUST_USE cf_err cmd_user_list(struct con *c, int argc, char **argv)
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
		if (acct_locked(&v[i], now)) {
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

/* Cancel (and audit) the operations older than 15 minutes. */
static void dual_sweep(struct con *c)
{
	struct acct_op op;

	if (c->auth == NULL)
		return;
	while (acct_dual_expire_next(c->auth, con_now(c), &op)) {
		char what[200], detail[300];
		acct_op_describe(&op, what, sizeof what);
		snprintf(detail, sizeof detail, "%s, requested by %s: not approved within %d minutes",
			 what, op.requester, ACCT_DUAL_TTL_S / 60);
		con_audit(c, "console:dual-expired", op.id, CF_E_TIMEOUT, detail);
		con_printf(c, "operation %s (%s) expired: cancelled\n", op.id, what);
		acct_op_clear(&op);
	}
}

bool con_dual_required(const struct con *c, const struct con_cmd *cmd)
{
	/* dual control is between administrators: nothing to ask before there is a login
	 * (UNINITIALIZED and SEALED have no accounts in play) */
	if (c == NULL || cmd == NULL || !c->authed || c->svc == NULL || c->svc->cfg == NULL)
		return false;
	return acct_dual_required(c->svc->cfg->console.dual_control, cmd->name,
				  (cmd->flags & CON_F_DUAL) != 0);
}

cf_err con_dual_submit(struct con *c, const struct con_cmd *cmd, int argc, char **argv)
{
	const struct acct_op *op = NULL;
	char what[200], detail[300];
	cf_err rc;

	if (argc < 0 || argc > CON_ARGS_MAX || cmd == NULL)
		return CF_E_INVALID_ARG;
	TRY(con_auth_new(c));
	dual_sweep(c);
	rc = acct_dual_submit(c->auth, cmd->name, cmd, argc, argv, c->user, con_now(c), &op);
	if (rc == CF_E_TOO_MANY)
		con_printf(c, "too many operations wait for approval (%d); approve or let them expire "
			   "first\n", ACCT_DUAL_MAX);
	TRY(rc);
	acct_op_describe(op, what, sizeof what);
	snprintf(detail, sizeof detail, "%s: waits for a second administrator", what);
	con_audit(c, "console:dual-submit", op->id, CF_OK, detail);
	con_printf(c, "operation %s pending: a second administrator must log in and run "
		   "`approve %s` within %d minutes\n", op->id, op->id, ACCT_DUAL_TTL_S / 60);
	return CF_OK;
}

/* `approve ID` */
static MUST_USE cf_err cmd_approve(struct con *c, int argc, char **argv)
{
	struct acct_op op;
	char what[200], detail[300];
	cf_err rc;

	TRY(con_auth_new(c));
	dual_sweep(c);
	const struct acct_op *p = acct_dual_find(c->auth, argv[0]);
	if (p == NULL) {
		con_printf(c, "no pending operation %s (unknown, expired or already approved); see "
			   "`pending`\n", argv[0]);
		return CF_E_NOT_FOUND;
	}
	const struct con_cmd *cmd = p->ref;
	acct_op_describe(p, what, sizeof what);
	if (acct_dual_may_approve(p, c->user) != CF_OK) {
		snprintf(detail, sizeof detail, "%s: the requester cannot approve it", what);
		con_audit(c, "console:dual-refused", p->id, CF_E_PERMISSION, detail);
		con_printf(c, "you requested operation %s: another administrator must approve it\n",
			   p->id);
		return CF_E_PERMISSION;
	}
	if ((cmd->flags & CON_F_HSM) && c->svc != NULL &&
	    atomic_load(&c->svc->state) != SVC_READY) {
		con_printf(c, "%s needs the appliance READY; operation %s stays pending\n",
			   cmd->name, p->id);
		return CF_E_STATE;
	}
	/* take it off the list first: it runs once, whatever happens */
	acct_dual_take(c->auth, p, &op);
	snprintf(detail, sizeof detail, "%s, requested by %s", what, op.requester);
	con_audit(c, "console:dual-approve", op.id, CF_OK, detail);
	con_printf(c, "approved operation %s (%s, requested by %s): running it now\n", op.id, what,
		   op.requester);
	rc = cmd->fn(c, op.argc, op.argv);
	snprintf(detail, sizeof detail, "%s, requested by %s, approved by %s", what, op.requester,
		 c->user);
	con_audit(c, "console:dual-run", op.id, rc, detail);
	acct_op_clear(&op);
	return rc;
}

/* `pending` */
static MUST_USE cf_err cmd_pending(struct con *c, int argc, char **argv)
{
	TRY(con_auth_new(c));
	dual_sweep(c);
	int64_t now = con_now(c);
	unsigned n = 0;
	for (size_t i = 0; i < ACCT_DUAL_MAX; i++) {
		const struct acct_op *op = acct_dual_slot(c->auth, i);
		if (op == NULL)
			continue;
		char what[200], at[32];
		if (n++ == 0)
			con_printf(c, "%-8s  %-32s %-20s %-21s %s\n", "ID", "COMMAND", "REQUESTED BY",
				   "AT", "EXPIRES IN");
		acct_op_describe(op, what, sizeof what);
		fmt_time(op->time, at, sizeof at);
		int64_t left = op->time + ACCT_DUAL_TTL_S - now;
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
