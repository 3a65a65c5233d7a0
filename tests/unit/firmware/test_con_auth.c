/* firmware/console/con_auth.c: TOTP (RFC 6238 Appendix B SHA-1 vectors), Argon2id hashes,
 * the sealed TOTP secret, password rules, lockout counting on a fake clock against a real
 * SQLite store, and the login / enrolment / dual-control dialogues driven through scripted
 * console input (the console's I/O functions are replaced here by a script: con_io.c and
 * con_shell.c have their own tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board/sec.h"
#include "firmware/core/config.h"
#include "firmware/console/con.h"
#include "firmware/console/con_auth_int.h"
#include "firmware/store/store_users.h"
#include "firmware/svc/svc.h"

/* ---- a scripted console ---------------------------------------------------------------- */

static char *out;          /* everything printed (prompts included) */
static size_t out_len, out_cap;
static const char *const *script;
static size_t script_pos, script_n;
static struct store *g_st;
static int64_t fake_now = 1700000000;

struct audit_rec {
	char op[64], uid[64], detail[300];
	cf_err result;
};
static struct audit_rec audits[256];
static size_t n_audits;

static char last_secret[33]; /* the last "secret=" printed (enrolment) */

static void out_add(const char *s, size_t n)
{
	if (out_len + n + 1 > out_cap) {
		out_cap = (out_len + n + 1) * 2;
		out = realloc(out, out_cap);
		assert_non_null(out);
	}
	memcpy(out + out_len, s, n);
	out_len += n;
	out[out_len] = '\0';
	const char *p = memmem(s, n, "secret=", 7);
	if (p != NULL && (size_t)(p - s) + 7 + 32 <= n)
		snprintf(last_secret, sizeof last_secret, "%.32s", p + 7);
}

void con_printf(struct con *c, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_add(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void con_write(struct con *c, const char *s, size_t n)
{
	out_add(s, n);
}

/* The current code for the last secret= printed (enrolment), at the fake clock. */
static void totp_from_output(char *code, size_t cap, int64_t at)
{
	const char *p = last_secret;
	assert_int_equal(strlen(p), 32);
	uint8_t key[20];
	uint32_t buf = 0;
	int bits = 0;
	size_t k = 0;
	for (size_t i = 0; i < 32; i++) {
		char ch = p[i];
		uint32_t v = ch >= 'A' && ch <= 'Z' ? (uint32_t)(ch - 'A') : (uint32_t)(ch - '2' + 26);
		buf = (buf << 5) | v;
		bits += 5;
		if (bits >= 8) {
			key[k++] = (uint8_t)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	assert_int_equal(k, 20);
	snprintf(code, cap, "%06u", auth_hotp(key, 20, (uint64_t)at / 30, 6));
}

static cf_err script_line(const char *prompt, char *buf, size_t cap)
{
	out_add(prompt, strlen(prompt));
	if (script_pos >= script_n)
		return CF_E_CLOSED;
	const char *l = script[script_pos++];
	char tmp[64];
	if (strcmp(l, "@cancel") == 0)
		return CF_E_CANCELLED;
	if (strcmp(l, "@totp") == 0) {
		totp_from_output(tmp, sizeof tmp, fake_now);
		l = tmp;
	} else if (strcmp(l, "@totp-next") == 0) {
		totp_from_output(tmp, sizeof tmp, fake_now + 30);
		l = tmp;
	}
	if (strlen(l) >= cap) {
		buf[0] = '\0';
		return CF_E_TOO_LARGE;
	}
	snprintf(buf, cap, "%s", l);
	out_add("\n", 1);
	return CF_OK;
}

cf_err con_readline(struct con *c, const char *prompt, char *buf, size_t cap, unsigned t)
{
	return script_line(prompt, buf, cap);
}

cf_err con_read_secret(struct con *c, const char *prompt, char *buf, size_t cap, unsigned t)
{
	return script_line(prompt, buf, cap);
}

bool con_confirm(struct con *c, const char *q)
{
	char b[16];
	char prompt[256];
	snprintf(prompt, sizeof prompt, "%s [y/N] ", q);
	return script_line(prompt, b, sizeof b) == CF_OK && strcmp(b, "y") == 0;
}

struct store *con_store(struct con *c)
{
	return g_st;
}

void con_audit(struct con *c, const char *op, const char *uid, cf_err result, const char *detail)
{
	assert_true(n_audits < sizeof audits / sizeof audits[0]);
	struct audit_rec *r = &audits[n_audits++];
	snprintf(r->op, sizeof r->op, "%s", op);
	snprintf(r->uid, sizeof r->uid, "%s", uid ? uid : "");
	snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
	r->result = result;
}

int64_t con_now(const struct con *c)
{
	return fake_now;
}

static int64_t now_fn(void *arg)
{
	return fake_now;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static char tmpdir[64];
static unsigned db_counter;
static struct config cfg;
static struct svc svc;

static void run(const char *const *lines, size_t n)
{
	script = lines;
	script_n = n;
	script_pos = 0;
}
/* the compound literal lives until the end of the enclosing block (the test function) */
#define RUN(...) run((const char *const[]){ __VA_ARGS__ }, \
		     sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static void out_reset(void)
{
	out_len = 0;
	if (out != NULL)
		out[0] = '\0';
	n_audits = 0;
}

static const struct audit_rec *audit_find(const char *op, size_t from)
{
	for (size_t i = from; i < n_audits; i++)
		if (strcmp(audits[i].op, op) == 0)
			return &audits[i];
	return NULL;
}

static int setup(void **state)
{
	char path[128];
	snprintf(path, sizeof path, "%s/u%u.db", tmpdir, ++db_counter);
	assert_int_equal(store_open(path, NULL, &g_st), CF_OK);
	memset(&cfg, 0, sizeof cfg);
	cfg.console.idle_logout_s = 900;
	memset(&svc, 0, sizeof svc);
	svc.cfg = &cfg;
	svc.now = now_fn;
	atomic_store(&svc.state, SVC_READY);
	fake_now = 1700000000;
	out_reset();
	return 0;
}

static int teardown(void **state)
{
	store_close(g_st);
	g_st = NULL;
	return 0;
}

static int group_setup(void **s)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-auth-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **s)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	free(out);
	return system(cmd) == 0 ? 0 : -1;
}

static void con_init(struct con *c)
{
	memset(c, 0, sizeof *c);
	c->svc = &svc;
	c->fd_in = c->fd_out = -1;
	assert_int_equal(con_auth_new(c), CF_OK);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- TOTP ------------------------------------------------------------------------------- */

static const uint8_t rfc_key[] = "12345678901234567890";

static void test_totp_rfc6238(void **state)
{
	/* RFC 6238 Appendix B, SHA-1 column */
	static const struct { int64_t t; uint32_t code; } v[] = {
		{ 59, 94287082 }, { 1111111109, 7081804 }, { 1111111111, 14050471 },
		{ 1234567890, 89005924 }, { 2000000000, 69279037 }, { 20000000000LL, 65353130 },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(auth_hotp(rfc_key, 20, (uint64_t)v[i].t / 30, 8), v[i].code);
		/* the 6-digit code is the low 6 digits */
		char code[8];
		uint64_t step = 0;
		snprintf(code, sizeof code, "%06u", v[i].code % 1000000);
		assert_true(auth_totp_check(rfc_key, code, v[i].t, 0, &step));
		assert_int_equal(step, (uint64_t)v[i].t / 30);
		/* one step of clock skew either way is accepted, two are not */
		assert_true(auth_totp_check(rfc_key, code, v[i].t + 30, 0, NULL));
		assert_true(auth_totp_check(rfc_key, code, v[i].t - 30, 0, NULL));
		assert_false(auth_totp_check(rfc_key, code, v[i].t + 61, 0, NULL));
		assert_false(auth_totp_check(rfc_key, code, v[i].t - 61, 0, NULL));
		/* the same step again is a replay */
		assert_false(auth_totp_check(rfc_key, code, v[i].t, step, NULL));
		assert_true(auth_totp_check(rfc_key, code, v[i].t, step - 1, NULL));
	}
	/* RFC 4226 Appendix D, 6 digits */
	assert_int_equal(auth_hotp(rfc_key, 20, 0, 6), 755224);
	assert_int_equal(auth_hotp(rfc_key, 20, 9, 6), 520489);
	/* malformed codes */
	assert_false(auth_totp_check(rfc_key, "28708", 59, 0, NULL));
	assert_false(auth_totp_check(rfc_key, "2870821", 59, 0, NULL));
	assert_false(auth_totp_check(rfc_key, "28708a", 59, 0, NULL));
	assert_false(auth_totp_check(rfc_key, "", 59, 0, NULL));
	assert_false(auth_totp_check(rfc_key, "000000", 59, 0, NULL));
}

static void test_base32_uri_qr(void **state)
{
	char b[64], uri[256];
	auth_base32(rfc_key, 20, b);
	assert_string_equal(b, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	auth_base32((const uint8_t *)"f", 1, b);
	assert_string_equal(b, "MY");
	assert_int_equal(auth_otpauth_uri("admin", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", uri, sizeof uri),
			 CF_OK);
	assert_string_equal(uri, "otpauth://totp/Coffre:admin?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
				 "&issuer=Coffre");
	assert_int_equal(auth_otpauth_uri("Admin", "X", uri, sizeof uri), CF_E_INVALID_ARG);
	assert_int_equal(auth_otpauth_uri("admin", "X", uri, 10), CF_E_NO_SPACE);

	char *qr = NULL;
	assert_int_equal(auth_qr_ascii(uri, &qr), CF_OK);
	/* square, two characters per module, only '#', ' ' and newlines, a blank quiet zone */
	size_t lines = 0, width = 0;
	for (const char *p = qr; *p; p++) {
		assert_true(*p == '#' || *p == ' ' || *p == '\n');
		if (*p == '\n')
			lines++;
	}
	width = (size_t)(strchr(qr, '\n') - qr);
	assert_int_equal(width, 2 * lines);
	assert_true(lines >= 21 + 4 && lines <= 37 + 4);
	assert_true(width <= 80); /* fits a dumb terminal for a short name */
	for (size_t i = 0; i < width; i++)
		assert_int_equal(qr[i], ' ');
	/* the finder pattern: 7 dark modules at the top left inside the quiet zone */
	const char *row = qr + 2 * (width + 1);
	assert_memory_equal(row, "    ##############", 18);
	free(qr);
}

/* ---- passwords -------------------------------------------------------------------------- */

static void test_argon2id(void **state)
{
	char h[AUTH_ENCODED_MAX], h2[AUTH_ENCODED_MAX];
	const char *pw = "correct horse battery staple";
	double t0 = mono();
	assert_int_equal(auth_pw_hash(pw, strlen(pw), h), CF_OK);
	double dt = mono() - t0;
	print_message("argon2id t=3 m=64MiB p=1: %.3f s\n", dt);
	/* the target is < 0.5 s on the appliance; no assertion on time here (a shared build
	 * machine makes any bound flaky): the parameters are checked below */
	(void)dt;
	assert_true(strncmp(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31) == 0);
	assert_int_equal(auth_pw_verify(h, pw, strlen(pw)), CF_OK);
	assert_int_equal(auth_pw_verify(h, "correct horse battery stapl", 27), CF_E_AUTH);
	assert_int_equal(auth_pw_verify(h, "correct horse battery staplf", 28), CF_E_AUTH);
	assert_int_equal(auth_pw_verify(h, "", 0), CF_E_AUTH);
	/* a fresh salt each time */
	assert_int_equal(auth_pw_hash(pw, strlen(pw), h2), CF_OK);
	assert_string_not_equal(h, h2);
	/* other parameters are refused, not verified (a row asking for 4 GiB) */
	char big[AUTH_ENCODED_MAX + 64];
	snprintf(big, sizeof big, "$argon2id$v=19$m=4194304,t=3,p=1$%s", h + 31);
	assert_int_equal(auth_pw_verify(big, pw, strlen(pw)), CF_E_AUTH);
	assert_int_equal(auth_pw_verify("$argon2i$v=19$m=65536,t=3,p=1$AAAA$AAAA", pw, strlen(pw)),
			 CF_E_AUTH);
	assert_int_equal(auth_pw_verify("garbage", pw, strlen(pw)), CF_E_AUTH);
}

static void test_password_rules(void **state)
{
	static const char *const good[] = { "correct horse battery", "Tr0ub4dor&3x", "abcdefghij12",
					    "ABCDEFGHIJ-K", "hello world!", "a1b2c3d4e5f6" };
	static const char *const bad[] = { "short1A!", "abcdefghijkl", "ABCDEFGHIJKL", "123456789012",
					   "!!!!!!!!!!!!", "aaaaaaaaaaa1", "abababab1212", "Alice.Smith1",
					   "caf\xc3\xa9 cr\xc3\xa8me 12", "tab\there123456" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_null(auth_pw_rules("alice", good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = auth_pw_rules("alice.smith1", bad[i], strlen(bad[i]));
		assert_non_null(why);
	}
	/* equal to the name, in any case */
	assert_non_null(auth_pw_rules("operator2024", "OPERATOR2024", 12));
	assert_null(auth_pw_rules("operator2024", "OPERATOR2025", 12));
	char longpw[300];
	memset(longpw, 'a', sizeof longpw);
	memcpy(longpw, "1234", 4);
	assert_non_null(auth_pw_rules("x", longpw, 256));
	assert_null(auth_pw_rules("x", longpw, 255));
	/* names */
	assert_true(auth_name_ok("admin"));
	assert_true(auth_name_ok("j.doe-2_x"));
	assert_true(auth_name_ok("a2345678901234567890123456789012"));
	assert_false(auth_name_ok("a23456789012345678901234567890123"));
	assert_false(auth_name_ok(""));
	assert_false(auth_name_ok("Admin"));
	assert_false(auth_name_ok("1admin"));
	assert_false(auth_name_ok("ad min"));
	assert_false(auth_name_ok("admin;drop"));
}

/* ---- sealing ---------------------------------------------------------------------------- */

static void test_seal_roundtrip(void **state)
{
	struct auth_totp *t, *u;
	uint8_t *blob = NULL;
	size_t n = 0;
	const char *pw = "a good password 1";
	assert_int_equal(sec_alloc(sizeof *t, (void **)&t), CF_OK);
	assert_int_equal(sec_alloc(sizeof *u, (void **)&u), CF_OK);
	memcpy(t->secret, rfc_key, 20);
	t->last_step = 56666666;
	memset(t->salt, 7, sizeof t->salt);
	assert_int_equal(auth_totp_derive(t, pw, strlen(pw)), CF_OK);
	assert_int_equal(auth_totp_seal("alice", t, &blob, &n), CF_OK);
	assert_int_equal(n, AUTH_SEAL_LEN);
	/* the secret is not in the blob */
	assert_null(memmem(blob, n, rfc_key, 20));
	assert_null(memmem(blob, n, rfc_key, 8));

	assert_int_equal(auth_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_OK);
	assert_memory_equal(u->secret, rfc_key, 20);
	assert_int_equal(u->last_step, 56666666);
	assert_memory_equal(u->key, t->key, 32);

	/* wrong password, another account's name, any bit flipped: refused, nothing out */
	assert_int_equal(auth_totp_unseal("alice", "a good password 2", 17, blob, n, u), CF_E_AUTH);
	for (size_t i = 0; i < sizeof u->secret; i++)
		assert_int_equal(u->secret[i], 0);
	assert_int_equal(auth_totp_unseal("bob", pw, strlen(pw), blob, n, u), CF_E_AUTH);
	size_t flips[] = { 5, AUTH_SEAL_HDR - 1, AUTH_SEAL_HDR + 3, AUTH_SEAL_LEN - 1 };
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		blob[flips[i]] ^= 0x01;
		assert_int_equal(auth_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_E_AUTH);
		blob[flips[i]] ^= 0x01;
	}
	assert_int_equal(auth_totp_unseal("alice", pw, strlen(pw), blob, n - 1, u), CF_E_BAD_VALUE);
	blob[2] = 2;
	assert_int_equal(auth_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_E_BAD_VALUE);
	free(blob);
	sec_free(t, sizeof *t);
	sec_free(u, sizeof *u);
}

/* ---- lockout ---------------------------------------------------------------------------- */

static void fail_at(struct con_auth *a, const char *name, int64_t t, int64_t *locked_for)
{
	struct store_user u;
	assert_int_equal(store_user_get(g_st, name, &u), CF_OK);
	assert_int_equal(auth_fail_record(a, g_st, &u, t, locked_for), CF_OK);
	store_user_free(&u);
}

static void user_row(const char *name, struct store_user *u)
{
	assert_int_equal(store_user_get(g_st, name, u), CF_OK);
}

static void test_lockout_counting(void **state)
{
	struct con_auth *a;
	struct store_user u;
	int64_t lf = 0, t = 1700000000;
	assert_int_equal(auth_state_new(&a), CF_OK);
	assert_int_equal(con_user_set_password(g_st, "alice", "alice password 1", 16, false, t), CF_OK);

	/* 9 failures within a minute: not locked */
	for (int i = 0; i < 9; i++) {
		fail_at(a, "alice", t + i * 5, &lf);
		assert_int_equal(lf, 0);
	}
	user_row("alice", &u);
	assert_int_equal(u.failed, 9);
	assert_false(auth_locked(&u, t + 45));
	store_user_free(&u);
	/* the 10th within the minute locks for 5 minutes */
	fail_at(a, "alice", t + 50, &lf);
	assert_int_equal(lf, 300);
	user_row("alice", &u);
	assert_int_equal(u.locked_until, t + 50 + 300);
	assert_true(auth_locked(&u, t + 51));
	assert_true(auth_locked(&u, t + 349));
	assert_false(auth_locked(&u, t + 350));
	store_user_free(&u);
	/* attempts while locked are not counted and do not extend it */
	fail_at(a, "alice", t + 100, &lf);
	assert_int_equal(lf, 0);
	user_row("alice", &u);
	assert_int_equal(u.failed, 10);
	assert_int_equal(u.locked_until, t + 350);
	store_user_free(&u);

	/* after the lock, 10 quick ones again: the 2nd lockout since the last success is twice as
	 * long */
	t += 400;
	for (int i = 0; i < 10; i++)
		fail_at(a, "alice", t + i, &lf);
	assert_int_equal(lf, 600);

	/* failures spread over more than a minute do not lock (but they count towards the
	 * doubling: the n-th block of 10 failures since the last success) */
	t += 1000;
	for (int i = 0; i < 12; i++) {
		fail_at(a, "alice", t + i * 7, &lf); /* 9 per minute */
		assert_int_equal(lf, 0);
	}
	user_row("alice", &u);
	assert_int_equal(u.failed, 32);
	assert_false(auth_locked(&u, t + 100));
	store_user_free(&u);

	/* and it doubles up to an hour */
	int64_t want[] = { 2400, 3600, 3600 };
	for (size_t k = 0; k < 3; k++) {
		t += 4000;
		for (int i = 0; i < 10; i++)
			fail_at(a, "alice", t + i, &lf);
		assert_int_equal(lf, want[k]);
	}

	/* a restart (new in-memory state) does not hand out fresh attempts: the persisted count
	 * carries over */
	user_row("alice", &u);
	assert_int_equal(auth_success_record(a, g_st, &u), CF_OK);
	store_user_free(&u);
	user_row("alice", &u);
	assert_int_equal(u.failed, 0);
	assert_int_equal(u.locked_until, 0);
	store_user_free(&u);
	t += 10000;
	for (int i = 0; i < 6; i++)
		fail_at(a, "alice", t + i, &lf);
	auth_state_free(a);
	assert_int_equal(auth_state_new(&a), CF_OK);
	for (int i = 0; i < 3; i++) {
		fail_at(a, "alice", t + 10 + i, &lf);
		assert_int_equal(lf, 0);
	}
	fail_at(a, "alice", t + 20, &lf);
	assert_int_equal(lf, 300);
	auth_state_free(a);
}

/* ---- dialogues -------------------------------------------------------------------------- */

static void test_login_password_only(void **state)
{
	struct con c;
	con_init(&c);
	assert_int_equal(con_user_set_password(g_st, "admin", "QA password 123", 15, false, fake_now),
			 CF_OK);
	/* correct: no TOTP prompt for an account without TOTP */
	RUN("admin", "QA password 123");
	assert_int_equal(con_login(&c), CF_OK);
	assert_true(c.authed);
	assert_string_equal(c.user, "admin");
	assert_null(strstr(out, "TOTP code: "));
	assert_non_null(strstr(out, "login: "));
	assert_non_null(strstr(out, "Password: "));
	assert_null(strstr(out, "QA password")); /* never echoed */
	const struct audit_rec *r = audit_find("console:login", 0);
	assert_non_null(r);
	assert_int_equal(r->result, CF_OK);
	assert_string_equal(r->uid, "admin");

	/* wrong password: one message, a delay, audited, counted */
	memset(&c.user, 0, sizeof c.user);
	c.authed = false;
	out_reset();
	RUN("admin", "QA password 124");
	double t0 = mono();
	assert_int_equal(con_login(&c), CF_E_AUTH);
	assert_true(mono() - t0 >= 1.0);
	assert_false(c.authed);
	assert_non_null(strstr(out, "login incorrect\n"));
	r = audit_find("console:login", 0);
	assert_non_null(r);
	assert_int_equal(r->result, CF_E_AUTH);
	assert_non_null(strstr(r->detail, "wrong password"));
	assert_null(strstr(r->detail, "QA password"));
	struct store_user u;
	user_row("admin", &u);
	assert_int_equal(u.failed, 1);
	store_user_free(&u);

	/* unknown name: same message and prompts as an account with TOTP, name not recorded */
	out_reset();
	RUN("nobody", "whatever pass 1", "123456");
	assert_int_equal(con_login(&c), CF_E_AUTH);
	assert_non_null(strstr(out, "TOTP code: "));
	assert_non_null(strstr(out, "login incorrect\n"));
	r = audit_find("console:login", 0);
	assert_string_equal(r->uid, "");
	assert_null(strstr(r->detail, "nobody"));

	/* an empty name is not an attempt; Ctrl-C at Password: counts nothing */
	out_reset();
	RUN("");
	assert_int_equal(con_login(&c), CF_E_CANCELLED);
	RUN("admin", "@cancel");
	assert_int_equal(con_login(&c), CF_E_CANCELLED);
	assert_int_equal(n_audits, 0);

	/* a successful login clears the failures */
	RUN("admin", "QA password 123");
	assert_int_equal(con_login(&c), CF_OK);
	assert_non_null(strstr(out, "1 failed login(s)"));
	user_row("admin", &u);
	assert_int_equal(u.failed, 0);
	store_user_free(&u);
	con_auth_free(&c);
}

static void test_first_login_enrolment(void **state)
{
	struct con c, admin;
	con_init(&c);
	con_init(&admin);
	/* an administrator adds bob with a temporary password */
	admin.authed = true;
	snprintf(admin.user, sizeof admin.user, "admin");
	RUN("short", "bob temporary 1", "bob temporary 2", "bob temporary 1", "bob temporary 1");
	assert_int_equal(con_user_create_interactive(&admin, "bob", false), CF_OK);
	assert_non_null(strstr(out, "password refused"));
	assert_non_null(strstr(out, "differ"));
	const struct audit_rec *r = audit_find("console:user-create", 0);
	assert_non_null(r);
	assert_int_equal(r->result, CF_OK);
	struct store_user u;
	user_row("bob", &u);
	assert_true(u.must_change);
	assert_null(u.totp);
	assert_true(strncmp(u.pw_hash, "$argon2id$", 10) == 0);
	store_user_free(&u);
	RUN("x");
	assert_int_equal(con_user_create_interactive(&admin, "bob", false), CF_E_EXISTS);
	assert_int_equal(con_user_create_interactive(&admin, "Bob!", false), CF_E_BAD_VALUE);

	/* bob's first login: new password twice (not the temporary one), then TOTP enrolment */
	out_reset();
	RUN("bob", "bob temporary 1", "bob temporary 1", "bob's own pass 9", "bob's own pass 9",
	    "000000", "@totp");
	assert_int_equal(con_login(&c), CF_OK);
	assert_true(c.authed);
	assert_non_null(strstr(out, "must differ"));
	assert_non_null(strstr(out, "otpauth://totp/Coffre:bob?secret="));
	assert_non_null(strstr(out, "&issuer=Coffre"));
	assert_non_null(strstr(out, "##############")); /* a QR code */
	assert_non_null(strstr(out, "wrong code"));
	user_row("bob", &u);
	assert_false(u.must_change);
	assert_non_null(u.totp);
	assert_int_equal(u.totp_len, AUTH_SEAL_LEN);
	store_user_free(&u);
	char enrol_code[16];
	totp_from_output(enrol_code, sizeof enrol_code, fake_now);

	/* the new password and a code work; the code that confirmed the enrolment does not */
	c.authed = false;
	RUN("bob", "bob's own pass 9", enrol_code);
	assert_int_equal(con_login(&c), CF_E_AUTH);
	r = audit_find("console:login", 0);
	while (r != NULL && r->result == CF_OK)
		r = audit_find("console:login", (size_t)(r - audits) + 1);
	assert_non_null(r);
	assert_non_null(strstr(r->detail, "TOTP code already used"));
	out_reset();
	fake_now += 30;
	RUN("bob", "bob's own pass 9", "@totp");
	assert_int_equal(con_login(&c), CF_OK);
	/* the same code again (same step): refused, even though the password is right */
	c.authed = false;
	RUN("bob", "bob's own pass 9", "@totp");
	assert_int_equal(con_login(&c), CF_E_AUTH);
	/* the temporary password no longer works; wrong code refused */
	fake_now += 30;
	RUN("bob", "bob temporary 1", "@totp");
	assert_int_equal(con_login(&c), CF_E_AUTH);
	RUN("bob", "bob's own pass 9", "999999");
	assert_int_equal(con_login(&c), CF_E_AUTH);

	/* own password change keeps the TOTP secret (re-sealed under the new password) */
	c.authed = true;
	snprintf(c.user, sizeof c.user, "bob");
	out_reset();
	RUN("bob's own pass 9", "bob's newer pass 7", "bob's newer pass 7");
	assert_int_equal(con_cmds_auth[1].fn(&c, 0, NULL), CF_OK);
	c.authed = false;
	fake_now += 30;
	RUN("bob", "bob's newer pass 7", "@totp");
	assert_int_equal(con_login(&c), CF_OK);

	/* another administrator resets bob: temporary password, TOTP removed, must change */
	out_reset();
	char *argv[] = { "bob", NULL };
	RUN("y", "bob reset pass 5", "bob reset pass 5");
	assert_int_equal(con_cmds_auth[1].fn(&admin, 1, argv), CF_OK);
	user_row("bob", &u);
	assert_true(u.must_change);
	assert_null(u.totp);
	store_user_free(&u);

	/* user list: names, TOTP, no hashes */
	out_reset();
	assert_string_equal(con_cmds_auth[3].name, "user list");
	assert_int_equal(con_cmds_auth[3].fn(&admin, 0, NULL), CF_OK);
	assert_non_null(strstr(out, "bob"));
	assert_non_null(strstr(out, "must change password"));
	assert_null(strstr(out, "argon2"));
	con_auth_free(&c);
	con_auth_free(&admin);
}

static void test_first_admin(void **state)
{
	struct con c;
	con_init(&c);
	RUN("root pass word 1", "root pass word 1", "@totp");
	assert_int_equal(con_user_create_interactive(&c, "root", true), CF_OK);
	struct store_user u;
	user_row("root", &u);
	assert_false(u.must_change);
	assert_non_null(u.totp);
	store_user_free(&u);
	fake_now += 30;
	RUN("root", "root pass word 1", "@totp");
	assert_int_equal(con_login(&c), CF_OK);
	/* the password just enrolled is needed for the code: a wrong one fails the login even
	 * with the right code */
	c.authed = false;
	fake_now += 30;
	RUN("root", "root pass word 2", "@totp");
	assert_int_equal(con_login(&c), CF_E_AUTH);
	/* `user totp` re-enrols: the old secret stops working */
	c.authed = true;
	snprintf(c.user, sizeof c.user, "root");
	char old[16];
	totp_from_output(old, sizeof old, fake_now + 30);
	out_reset();
	RUN("root pass word 1", "@totp");
	assert_int_equal(con_cmds_auth[2].fn(&c, 0, NULL), CF_OK);
	fake_now += 30;
	c.authed = false;
	RUN("root", "root pass word 1", old);
	assert_int_equal(con_login(&c), CF_E_AUTH);
	con_auth_free(&c);
}

/* a command under dual control that asks a question */
static char ran_with[128];
static char ran_by[64];
static cf_err cmd_fake(struct con *c, int argc, char **argv)
{
	char ans[32];
	snprintf(ran_with, sizeof ran_with, "%d:%s", argc, argc > 0 ? argv[0] : "");
	snprintf(ran_by, sizeof ran_by, "%s", c->user);
	if (con_readline(c, "Type the name: ", ans, sizeof ans, 0) != CF_OK)
		return CF_E_CANCELLED;
	return strcmp(ans, "ok") == 0 ? CF_OK : CF_E_CANCELLED;
}

static const struct con_cmd fake_cmds[] = {
	{ "kek destroy", 1, 1, CON_F_AUTH | CON_F_DUAL, "kek destroy V", "", cmd_fake },
	{ "zeroize", 0, 0, CON_F_AUTH | CON_F_DUAL, "zeroize", "", cmd_fake },
	{ "status", 0, 0, CON_F_AUTH, "status", "", cmd_fake },
	{ "approve", 1, 1, CON_F_AUTH, "approve ID", "", cmd_fake },
};

static const struct con_cmd *auth_cmd(const char *name)
{
	for (const struct con_cmd *k = con_cmds_auth; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	fail();
	return NULL;
}

static void test_dual_control(void **state)
{
	struct con c;
	con_init(&c);
	c.authed = true;
	snprintf(c.user, sizeof c.user, "alice");

	/* which commands */
	snprintf(cfg.console.dual_control, sizeof cfg.console.dual_control, "zeroize , KEK destroy");
	assert_true(con_dual_required(&c, &fake_cmds[0]));
	assert_true(con_dual_required(&c, &fake_cmds[1]));
	assert_false(con_dual_required(&c, &fake_cmds[2]));
	snprintf(cfg.console.dual_control, sizeof cfg.console.dual_control, "all");
	assert_true(con_dual_required(&c, &fake_cmds[0]));
	assert_false(con_dual_required(&c, &fake_cmds[2])); /* "all" = the dual-control commands */
	assert_false(con_dual_required(&c, &fake_cmds[3]));
	snprintf(cfg.console.dual_control, sizeof cfg.console.dual_control, "approve,status");
	assert_false(con_dual_required(&c, &fake_cmds[3]));
	assert_true(con_dual_required(&c, &fake_cmds[2]));
	cfg.console.dual_control[0] = '\0';
	assert_false(con_dual_required(&c, &fake_cmds[0]));
	snprintf(cfg.console.dual_control, sizeof cfg.console.dual_control, "zeroize");
	c.authed = false;
	assert_false(con_dual_required(&c, &fake_cmds[1])); /* no login (UNINITIALIZED) */
	c.authed = true;

	/* alice asks */
	char *argv[] = { "3", NULL };
	assert_int_equal(con_dual_submit(&c, &fake_cmds[0], 1, argv), CF_OK);
	const char *p = strstr(out, "operation ");
	assert_non_null(p);
	char id[16];
	assert_int_equal(sscanf(p, "operation %8[0-9a-f] pending", id), 1);
	assert_int_equal(strlen(id), 8);
	assert_non_null(strstr(out, "a second administrator must log in and run `approve"));
	assert_non_null(strstr(out, "within 15 minutes"));
	assert_string_equal(audits[0].op, "console:dual-submit");
	assert_string_equal(audits[0].uid, id);
	assert_string_equal(ran_with, "");

	/* pending lists it */
	out_reset();
	assert_int_equal(auth_cmd("pending")->fn(&c, 0, NULL), CF_OK);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "kek destroy 3"));

	/* alice cannot approve her own */
	out_reset();
	char *aargv[] = { id, NULL };
	assert_int_equal(auth_cmd("approve")->fn(&c, 1, aargv), CF_E_PERMISSION);
	assert_string_equal(ran_with, "");
	assert_non_null(audit_find("console:dual-refused", 0));

	/* bob approves within 15 minutes: it runs with alice's arguments, bob answers */
	snprintf(c.user, sizeof c.user, "bob");
	fake_now += 14 * 60;
	out_reset();
	RUN("ok");
	assert_int_equal(auth_cmd("approve")->fn(&c, 1, aargv), CF_OK);
	assert_string_equal(ran_with, "1:3");
	assert_string_equal(ran_by, "bob");
	assert_non_null(audit_find("console:dual-approve", 0));
	const struct audit_rec *r = audit_find("console:dual-run", 0);
	assert_non_null(r);
	assert_int_equal(r->result, CF_OK);
	assert_non_null(strstr(r->detail, "requested by alice, approved by bob"));
	/* once only */
	assert_int_equal(auth_cmd("approve")->fn(&c, 1, aargv), CF_E_NOT_FOUND);

	/* expiry: cancelled and audited after 15 minutes */
	snprintf(c.user, sizeof c.user, "alice");
	ran_with[0] = '\0';
	assert_int_equal(con_dual_submit(&c, &fake_cmds[1], 0, NULL), CF_OK);
	p = strstr(out, "operation ");
	while (strstr(p + 1, "operation ") != NULL)
		p = strstr(p + 1, "operation ");
	assert_int_equal(sscanf(p, "operation %8[0-9a-f] pending", id), 1);
	snprintf(c.user, sizeof c.user, "bob");
	fake_now += 16 * 60;
	out_reset();
	assert_int_equal(auth_cmd("approve")->fn(&c, 1, aargv), CF_E_NOT_FOUND);
	r = audit_find("console:dual-expired", 0);
	assert_non_null(r);
	assert_string_equal(r->uid, id);
	assert_string_equal(ran_with, "");
	out_reset();
	assert_int_equal(auth_cmd("pending")->fn(&c, 0, NULL), CF_OK);
	assert_non_null(strstr(out, "no operations wait"));
	con_auth_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_base32_uri_qr),
		cmocka_unit_test(test_argon2id),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test_setup_teardown(test_lockout_counting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_password_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_login_enrolment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dual_control, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
