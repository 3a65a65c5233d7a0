/* firmware/console/con_auth.c: the login / enrolment / dual-control dialogues over
 * firmware/accounts, against a real SQLite store, driven through scripted console input (the
 * console's I/O functions are replaced here by a script: con_io.c and con_shell.c have their
 * own tests; firmware/accounts has test_accounts.c). */
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
#include "firmware/accounts/accounts.h"
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
	snprintf(code, cap, "%06u", acct_hotp(key, 20, (uint64_t)at / 30, 6));
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

static void user_row(const char *name, struct store_user *u)
{
	assert_int_equal(store_user_get(g_st, name, u), CF_OK);
}

/* ---- dialogues -------------------------------------------------------------------------- */

static void test_login_password_only(void **state)
{
	struct con c;
	con_init(&c);
	assert_int_equal(acct_password_set(g_st, "admin", "QA password 123", 15, false, fake_now),
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
	assert_int_equal(u.totp_len, ACCT_SEAL_LEN);
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
		cmocka_unit_test_setup_teardown(test_login_password_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_login_enrolment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dual_control, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
