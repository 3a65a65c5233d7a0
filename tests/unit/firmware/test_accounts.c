/* firmware/accounts: TOTP (RFC 6238 Appendix B SHA-1 vectors, RFC 4226 Appendix D), Argon2id
 * hashes, the sealed TOTP secret, password and name rules, the lockout arithmetic and its
 * counting on a fake clock against a real SQLite store, the login verdict, and the dual-control
 * bookkeeping (ids, expiry, the approval rule, which commands need it). No console. */
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
#include "firmware/accounts/accounts.h"
#include "firmware/store/store.h"
#include "firmware/store/store_users.h"

static struct store *g_st;
static char tmpdir[64];
static unsigned db_counter;

static int setup(void **state)
{
	char path[128];
	snprintf(path, sizeof path, "%s/a%u.db", tmpdir, ++db_counter);
	assert_int_equal(store_open(path, NULL, &g_st), CF_OK);
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
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-acct-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **s)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
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
		assert_int_equal(acct_hotp(rfc_key, 20, (uint64_t)v[i].t / 30, 8), v[i].code);
		/* the 6-digit code is the low 6 digits */
		char code[8];
		uint64_t step = 0;
		snprintf(code, sizeof code, "%06u", v[i].code % 1000000);
		assert_true(acct_totp_check(rfc_key, code, v[i].t, 0, &step));
		assert_int_equal(step, (uint64_t)v[i].t / 30);
		/* one step of clock skew either way is accepted, two are not */
		assert_true(acct_totp_check(rfc_key, code, v[i].t + 30, 0, NULL));
		assert_true(acct_totp_check(rfc_key, code, v[i].t - 30, 0, NULL));
		assert_false(acct_totp_check(rfc_key, code, v[i].t + 61, 0, NULL));
		assert_false(acct_totp_check(rfc_key, code, v[i].t - 61, 0, NULL));
		/* the same step again is a replay */
		assert_false(acct_totp_check(rfc_key, code, v[i].t, step, NULL));
		assert_true(acct_totp_check(rfc_key, code, v[i].t, step - 1, NULL));
	}
	/* RFC 4226 Appendix D, 6 digits */
	assert_int_equal(acct_hotp(rfc_key, 20, 0, 6), 755224);
	assert_int_equal(acct_hotp(rfc_key, 20, 9, 6), 520489);
	/* malformed codes */
	assert_false(acct_totp_check(rfc_key, "28708", 59, 0, NULL));
	assert_false(acct_totp_check(rfc_key, "2870821", 59, 0, NULL));
	assert_false(acct_totp_check(rfc_key, "28708a", 59, 0, NULL));
	assert_false(acct_totp_check(rfc_key, "", 59, 0, NULL));
	assert_false(acct_totp_check(rfc_key, "000000", 59, 0, NULL));
}

static void test_base32_uri_qr(void **state)
{
	char b[64], uri[256];
	acct_base32(rfc_key, 20, b);
	assert_string_equal(b, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	acct_base32((const uint8_t *)"f", 1, b);
	assert_string_equal(b, "MY");
	assert_int_equal(acct_otpauth_uri("admin", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", uri, sizeof uri),
			 CF_OK);
	assert_string_equal(uri, "otpauth://totp/Coffre:admin?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
				 "&issuer=Coffre");
	assert_int_equal(acct_otpauth_uri("Admin", "X", uri, sizeof uri), CF_E_INVALID_ARG);
	assert_int_equal(acct_otpauth_uri("admin", "X", uri, 10), CF_E_NO_SPACE);

	char *qr = NULL;
	assert_int_equal(acct_qr_ascii(uri, &qr), CF_OK);
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
	char h[ACCT_ENCODED_MAX], h2[ACCT_ENCODED_MAX];
	const char *pw = "correct horse battery staple";
	double t0 = mono();
	assert_int_equal(acct_pw_hash(pw, strlen(pw), h), CF_OK);
	double dt = mono() - t0;
	print_message("argon2id t=3 m=64MiB p=1: %.3f s\n", dt);
	/* the target is < 0.5 s on the appliance; no assertion on time here (a shared build
	 * machine makes any bound flaky): the parameters are checked below */
	(void)dt;
	assert_true(strncmp(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31) == 0);
	assert_int_equal(acct_pw_verify(h, pw, strlen(pw)), CF_OK);
	assert_int_equal(acct_pw_verify(h, "correct horse battery stapl", 27), CF_E_AUTH);
	assert_int_equal(acct_pw_verify(h, "correct horse battery staplf", 28), CF_E_AUTH);
	assert_int_equal(acct_pw_verify(h, "", 0), CF_E_AUTH);
	/* a fresh salt each time */
	assert_int_equal(acct_pw_hash(pw, strlen(pw), h2), CF_OK);
	assert_string_not_equal(h, h2);
	/* other parameters are refused, not verified (a row asking for 4 GiB) */
	char big[ACCT_ENCODED_MAX + 64];
	snprintf(big, sizeof big, "$argon2id$v=19$m=4194304,t=3,p=1$%s", h + 31);
	assert_int_equal(acct_pw_verify(big, pw, strlen(pw)), CF_E_AUTH);
	assert_int_equal(acct_pw_verify("$argon2i$v=19$m=65536,t=3,p=1$AAAA$AAAA", pw, strlen(pw)),
			 CF_E_AUTH);
	assert_int_equal(acct_pw_verify("garbage", pw, strlen(pw)), CF_E_AUTH);
}

static void test_password_rules(void **state)
{
	static const char *const good[] = { "correct horse battery", "Tr0ub4dor&3x", "abcdefghij12",
					    "ABCDEFGHIJ-K", "hello world!", "a1b2c3d4e5f6" };
	static const char *const bad[] = { "short1A!", "abcdefghijkl", "ABCDEFGHIJKL", "123456789012",
					   "!!!!!!!!!!!!", "aaaaaaaaaaa1", "abababab1212", "Alice.Smith1",
					   "caf\xc3\xa9 cr\xc3\xa8me 12", "tab\there123456" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_null(acct_pw_rules("alice", good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = acct_pw_rules("alice.smith1", bad[i], strlen(bad[i]));
		assert_non_null(why);
	}
	/* equal to the name, in any case */
	assert_non_null(acct_pw_rules("operator2024", "OPERATOR2024", 12));
	assert_null(acct_pw_rules("operator2024", "OPERATOR2025", 12));
	char longpw[300];
	memset(longpw, 'a', sizeof longpw);
	memcpy(longpw, "1234", 4);
	assert_non_null(acct_pw_rules("x", longpw, 256));
	assert_null(acct_pw_rules("x", longpw, 255));
	/* names */
	assert_true(acct_name_ok("admin"));
	assert_true(acct_name_ok("j.doe-2_x"));
	assert_true(acct_name_ok("a2345678901234567890123456789012"));
	assert_false(acct_name_ok("a23456789012345678901234567890123"));
	assert_false(acct_name_ok(""));
	assert_false(acct_name_ok("Admin"));
	assert_false(acct_name_ok("1admin"));
	assert_false(acct_name_ok("ad min"));
	assert_false(acct_name_ok("admin;drop"));
}

/* ---- sealing ---------------------------------------------------------------------------- */

static void test_seal_roundtrip(void **state)
{
	struct acct_totp *t, *u;
	uint8_t *blob = NULL;
	size_t n = 0;
	const char *pw = "a good password 1";
	assert_int_equal(sec_alloc(sizeof *t, (void **)&t), CF_OK);
	assert_int_equal(sec_alloc(sizeof *u, (void **)&u), CF_OK);
	memcpy(t->secret, rfc_key, 20);
	t->last_step = 56666666;
	memset(t->salt, 7, sizeof t->salt);
	assert_int_equal(acct_totp_derive(t, pw, strlen(pw)), CF_OK);
	assert_int_equal(acct_totp_seal("alice", t, &blob, &n), CF_OK);
	assert_int_equal(n, ACCT_SEAL_LEN);
	/* the secret is not in the blob */
	assert_null(memmem(blob, n, rfc_key, 20));
	assert_null(memmem(blob, n, rfc_key, 8));

	assert_int_equal(acct_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_OK);
	assert_memory_equal(u->secret, rfc_key, 20);
	assert_int_equal(u->last_step, 56666666);
	assert_memory_equal(u->key, t->key, 32);

	/* wrong password, another account's name, any bit flipped: refused, nothing out */
	assert_int_equal(acct_totp_unseal("alice", "a good password 2", 17, blob, n, u), CF_E_AUTH);
	for (size_t i = 0; i < sizeof u->secret; i++)
		assert_int_equal(u->secret[i], 0);
	assert_int_equal(acct_totp_unseal("bob", pw, strlen(pw), blob, n, u), CF_E_AUTH);
	size_t flips[] = { 5, ACCT_SEAL_HDR - 1, ACCT_SEAL_HDR + 3, ACCT_SEAL_LEN - 1 };
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		blob[flips[i]] ^= 0x01;
		assert_int_equal(acct_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_E_AUTH);
		blob[flips[i]] ^= 0x01;
	}
	assert_int_equal(acct_totp_unseal("alice", pw, strlen(pw), blob, n - 1, u), CF_E_BAD_VALUE);
	blob[2] = 2;
	assert_int_equal(acct_totp_unseal("alice", pw, strlen(pw), blob, n, u), CF_E_BAD_VALUE);
	free(blob);
	sec_free(t, sizeof *t);
	sec_free(u, sizeof *u);
}

/* ---- lockout ---------------------------------------------------------------------------- */

static void fail_at(struct accounts *a, const char *name, int64_t t, int64_t *locked_for)
{
	struct store_user u;
	assert_int_equal(store_user_get(g_st, name, &u), CF_OK);
	assert_int_equal(acct_fail_record(a, g_st, &u, t, locked_for), CF_OK);
	store_user_free(&u);
}

static void user_row(const char *name, struct store_user *u)
{
	assert_int_equal(store_user_get(g_st, name, u), CF_OK);
}

static void test_lockout_counting(void **state)
{
	struct accounts *a;
	struct store_user u;
	int64_t lf = 0, t = 1700000000;
	assert_int_equal(accounts_new(&a), CF_OK);
	assert_int_equal(acct_password_set(g_st, "alice", "alice password 1", 16, false, t), CF_OK);

	/* 9 failures within a minute: not locked */
	for (int i = 0; i < 9; i++) {
		fail_at(a, "alice", t + i * 5, &lf);
		assert_int_equal(lf, 0);
	}
	user_row("alice", &u);
	assert_int_equal(u.failed, 9);
	assert_false(acct_locked(&u, t + 45));
	store_user_free(&u);
	/* the 10th within the minute locks for 5 minutes */
	fail_at(a, "alice", t + 50, &lf);
	assert_int_equal(lf, 300);
	user_row("alice", &u);
	assert_int_equal(u.locked_until, t + 50 + 300);
	assert_true(acct_locked(&u, t + 51));
	assert_true(acct_locked(&u, t + 349));
	assert_false(acct_locked(&u, t + 350));
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
	assert_false(acct_locked(&u, t + 100));
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
	assert_int_equal(acct_success_record(a, g_st, &u), CF_OK);
	store_user_free(&u);
	user_row("alice", &u);
	assert_int_equal(u.failed, 0);
	assert_int_equal(u.locked_until, 0);
	store_user_free(&u);
	t += 10000;
	for (int i = 0; i < 6; i++)
		fail_at(a, "alice", t + i, &lf);
	accounts_free(a);
	assert_int_equal(accounts_new(&a), CF_OK);
	for (int i = 0; i < 3; i++) {
		fail_at(a, "alice", t + 10 + i, &lf);
		assert_int_equal(lf, 0);
	}
	fail_at(a, "alice", t + 20, &lf);
	assert_int_equal(lf, 300);
	accounts_free(a);
}

/* The lockout durations alone: base * 2^(n-1), capped at an hour. */
static void test_lock_duration(void **state)
{
	assert_int_equal(acct_lock_duration(0), ACCT_LOCK_BASE_S);
	assert_int_equal(acct_lock_duration(1), 300);
	assert_int_equal(acct_lock_duration(2), 600);
	assert_int_equal(acct_lock_duration(3), 1200);
	assert_int_equal(acct_lock_duration(4), 2400);
	assert_int_equal(acct_lock_duration(5), ACCT_LOCK_MAX_S);
	assert_int_equal(acct_lock_duration(6), ACCT_LOCK_MAX_S);
	assert_int_equal(acct_lock_duration(UINT32_MAX), ACCT_LOCK_MAX_S);
}

/* acct_password_set: the rules apply, a replaced account keeps its creation date. */
static void test_password_set(void **state)
{
	struct store_user u;
	int64_t t = 1700000000;
	assert_int_equal(acct_password_set(g_st, "alice", "short", 5, false, t), CF_E_BAD_VALUE);
	assert_int_equal(acct_password_set(g_st, "Alice", "alice password 1", 16, false, t),
			 CF_E_INVALID_ARG);
	assert_int_equal(acct_password_set(NULL, "alice", "alice password 1", 16, false, t),
			 CF_E_INVALID_ARG);
	assert_int_equal(acct_password_set(g_st, "alice", "alice password 1", 16, false, t), CF_OK);
	assert_int_equal(acct_password_set(g_st, "alice", "alice password 2", 16, true, t + 99), CF_OK);
	assert_int_equal(store_user_get(g_st, "alice", &u), CF_OK);
	assert_int_equal(u.created, t);
	assert_true(u.must_change);
	assert_null(u.totp);
	assert_int_equal(acct_pw_verify(u.pw_hash, "alice password 2", 16), CF_OK);
	assert_int_equal(acct_pw_verify(u.pw_hash, "alice password 1", 16), CF_E_AUTH);
	store_user_free(&u);
}

/* The verdict of a login: every field, for a known account with TOTP and an unknown name. */
static void test_login_verdict(void **state)
{
	struct acct_totp *t;
	struct store_user u;
	struct acct_verdict v;
	bool known = true;
	const char *pw = "bob password 12";
	int64_t now = 1700000000;
	char code[8], why[160];

	assert_int_equal(sec_alloc(sizeof *t, (void **)&t), CF_OK);
	memcpy(t->secret, rfc_key, 20);
	t->last_step = 0;
	assert_int_equal(acct_create(g_st, "bob", pw, strlen(pw), t, false, now), CF_OK);
	assert_int_equal(acct_create(g_st, "bob", pw, strlen(pw), NULL, true, now), CF_E_EXISTS);
	assert_int_equal(acct_login_lookup(g_st, "nobody", &u, &known), CF_OK);
	assert_false(known);
	assert_int_equal(acct_login_lookup(g_st, "Not A Name", &u, &known), CF_OK);
	assert_false(known);
	assert_int_equal(acct_login_lookup(g_st, "bob", &u, &known), CF_OK);
	assert_true(known);
	assert_non_null(u.totp);
	snprintf(code, sizeof code, "%06u", acct_hotp(rfc_key, 20, (uint64_t)now / 30, 6));

	memset(&v, 0, sizeof v);
	v.known = v.has_totp = true;
	acct_login_verdict(&u, pw, strlen(pw), code, now, t, &v);
	assert_true(v.pw_ok && v.totp_ok && !v.replay && !v.locked && !v.disabled);
	assert_int_equal(v.step, (uint64_t)now / 30);
	assert_true(acct_verdict_ok(&v));
	/* the step is recorded: the same code again is a replay */
	assert_int_equal(acct_login_record(g_st, &u, t, &v), CF_OK);
	store_user_free(&u);
	assert_int_equal(acct_login_lookup(g_st, "bob", &u, &known), CF_OK);
	memset(&v, 0, sizeof v);
	v.known = v.has_totp = true;
	acct_login_verdict(&u, pw, strlen(pw), code, now, t, &v);
	assert_true(v.pw_ok && !v.totp_ok && v.replay);
	assert_false(acct_verdict_ok(&v));
	acct_verdict_reason(&v, &u, now, why, sizeof why);
	assert_string_equal(why, "TOTP code already used");
	/* a wrong password: nothing unsealed, no code accepted */
	memset(&v, 0, sizeof v);
	v.known = v.has_totp = true;
	acct_login_verdict(&u, "bob password 13", 15, code, now + 30, t, &v);
	assert_false(v.pw_ok || v.totp_ok);
	acct_verdict_reason(&v, &u, now, why, sizeof why);
	assert_string_equal(why, "wrong password");
	/* right credentials but locked, or an overlong line: refused */
	u.locked_until = now + 60;
	snprintf(code, sizeof code, "%06u", acct_hotp(rfc_key, 20, (uint64_t)now / 30 + 1, 6));
	memset(&v, 0, sizeof v);
	v.known = v.has_totp = true;
	acct_login_verdict(&u, pw, strlen(pw), code, now, t, &v);
	assert_true(v.pw_ok && v.totp_ok && v.locked);
	assert_false(acct_verdict_ok(&v));
	acct_verdict_reason(&v, &u, now, why, sizeof why);
	assert_string_equal(why, "account locked for 60 s more");
	u.locked_until = 0;
	v.locked = false;
	v.bad_input = true;
	assert_false(acct_verdict_ok(&v));
	store_user_free(&u);
	/* an unknown name: refused, whatever it typed */
	memset(&v, 0, sizeof v);
	memset(&u, 0, sizeof u);
	v.has_totp = true;
	acct_login_verdict(&u, pw, strlen(pw), code, now, t, &v);
	assert_false(acct_verdict_ok(&v));
	acct_verdict_reason(&v, &u, now, why, sizeof why);
	assert_string_equal(why, "no such account");
	sec_free(t, sizeof *t);
}

/* Dual control bookkeeping: which commands, ids, the requester rule, expiry, the bound. */
static void test_dual(void **state)
{
	struct accounts *a;
	const struct acct_op *op, *op2;
	struct acct_op out;
	char *argv[] = { "--force", "x", NULL };
	char what[200];
	int ref;

	assert_true(acct_dual_required("zeroize, backup export", "backup export", false));
	assert_true(acct_dual_required(" Zeroize ,kek rotate", "zeroize", false));
	assert_false(acct_dual_required("zeroize", "backup export", true));
	assert_true(acct_dual_required("all", "kek rotate", true));
	assert_false(acct_dual_required("all", "status", false));
	assert_false(acct_dual_required("all, approve, pending", "approve", true));
	assert_false(acct_dual_required("", "zeroize", true));

	assert_int_equal(accounts_new(&a), CF_OK);
	assert_int_equal(acct_dual_submit(a, "zeroize", &ref, 2, argv, "alice", 1000, &op), CF_OK);
	assert_int_equal(strlen(op->id), ACCT_DUAL_ID_LEN);
	assert_ptr_equal(op->ref, &ref);
	acct_op_describe(op, what, sizeof what);
	assert_string_equal(what, "zeroize --force x");
	assert_int_equal(acct_dual_may_approve(op, "alice"), CF_E_PERMISSION);
	assert_int_equal(acct_dual_may_approve(op, "bob"), CF_OK);
	char upper[ACCT_DUAL_ID_LEN + 1];
	for (size_t i = 0; i <= ACCT_DUAL_ID_LEN; i++)
		upper[i] = (char)(op->id[i] >= 'a' && op->id[i] <= 'f' ? op->id[i] - 32 : op->id[i]);
	assert_ptr_equal(acct_dual_find(a, upper), op);
	assert_null(acct_dual_find(a, "00000000x"));
	assert_int_equal(acct_dual_count(a), 1);
	/* the bound */
	for (int i = 1; i < ACCT_DUAL_MAX; i++)
		assert_int_equal(acct_dual_submit(a, "kek rotate", NULL, 0, NULL, "bob", 1500, &op2),
				 CF_OK);
	assert_int_equal(acct_dual_submit(a, "kek rotate", NULL, 0, NULL, "bob", 1500, &op2),
			 CF_E_TOO_MANY);
	assert_null(op2);
	assert_int_equal(acct_dual_submit(a, "kek rotate", NULL, ACCT_DUAL_ARGS_MAX + 1, argv, "bob",
					  1500, &op2), CF_E_INVALID_ARG);
	/* expiry: only after 15 minutes, the oldest first */
	assert_false(acct_dual_expire_next(a, 1000 + ACCT_DUAL_TTL_S, &out));
	assert_true(acct_dual_expire_next(a, 1001 + ACCT_DUAL_TTL_S, &out));
	assert_string_equal(out.cmd, "zeroize");
	assert_string_equal(out.requester, "alice");
	assert_int_equal(out.argc, 2);
	assert_string_equal(out.argv[1], "x");
	acct_op_clear(&out);
	assert_false(acct_dual_expire_next(a, 1001 + ACCT_DUAL_TTL_S, &out));
	assert_int_equal(acct_dual_count(a), ACCT_DUAL_MAX - 1);
	/* take: off the list, runs once */
	op = acct_dual_slot(a, 1);
	assert_non_null(op);
	char id[ACCT_DUAL_ID_LEN + 1];
	snprintf(id, sizeof id, "%s", op->id);
	acct_dual_take(a, op, &out);
	assert_null(acct_dual_find(a, id));
	assert_null(acct_dual_slot(a, 1));
	assert_string_equal(out.id, id);
	acct_op_clear(&out);
	assert_int_equal(acct_dual_count(a), ACCT_DUAL_MAX - 2);
	accounts_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_base32_uri_qr),
		cmocka_unit_test(test_argon2id),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test(test_lock_duration),
		cmocka_unit_test_setup_teardown(test_lockout_counting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_password_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_verdict, setup, teardown),
		cmocka_unit_test(test_dual),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
