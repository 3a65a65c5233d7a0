/* firmware/console: the line editor (con_io.c) and the shell (con_shell.c) over a socketpair:
 * echo, Backspace, Ctrl-U, Ctrl-C, CR / LF / CR LF (also split across writes), over-long
 * lines rejected whole, dropped bytes, secrets not echoed and wiped from the read buffer,
 * confirmations, paste blocks, timeouts, end of input; the tokenizer, the lookup, the state
 * and login checks, options, help, the audit of commands, and the console thread (notices,
 * prompt redraw, state change, idle logout, console_stop).
 *
 * The two sources are included so that their static functions can be tested; the other parts
 * of the console are replaced by the weak fakes below (fake command tables, a login that
 * accepts admin / pw). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firmware/console/con_io.c"
#include "firmware/console/con_shell.c"

/* ---- fakes for the other parts ------------------------------------------------------------ */

static int fake_runs;
static char fake_last[64];

static cf_err fake_cmd(struct con *c, int argc, char **argv)
{
	fake_runs++;
	(void)snprintf(fake_last, sizeof fake_last, "%d:%s", argc, argc > 0 ? argv[0] : "");
	con_printf(c, "ran %s\n", fake_last);
	return CF_OK;
}

/* as svc_zeroize_as: the program is asked to start again */
static cf_err fake_restart_cmd(struct con *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	atomic_store(&c->svc->restarting, true);
	con_printf(c, "zeroized\n");
	return CF_OK;
}

__attribute__((weak)) const struct con_cmd con_cmds_auth[] = { { 0 } };
__attribute__((weak)) const struct con_cmd con_cmds_sys[] = {
	{ "status", 0, 0, CON_F_UNINIT | CON_F_SEALED | CON_F_AUTH, "status", "state", fake_cmd },
	{ "init", 0, 0, CON_F_UNINIT, "init", "set up", fake_cmd },
	{ "unseal", 0, 0, CON_F_SEALED, "unseal", "PIN", fake_cmd },
	{ "wipe-restart", 0, 0, CON_F_UNINIT, "wipe-restart", "as zeroize", fake_restart_cmd },
	{ "zeroize", 0, 0, CON_F_AUTH | CON_F_DUAL, "zeroize", "erase", fake_cmd },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_pki[] = {
	{ "client list", 0, 0, CON_F_AUTH, "client list", "clients", fake_cmd },
	{ "client issue", 1, 3, CON_F_AUTH, "client issue NAME [--days N]", "issue", fake_cmd },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_keys[] = {
	{ "keys", 0, 1, CON_F_AUTH | CON_F_HSM, "keys [X]", "keys", fake_cmd },
	{ "keys list", 0, 1, CON_F_AUTH | CON_F_HSM, "keys list [T]", "list", fake_cmd },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_backup[] = { { 0 } };

static int dual_submits;

__attribute__((weak)) const struct con_cmd con_cmds_net[] = { { 0 } };

__attribute__((weak)) bool con_dual_required(const struct con *c, const struct con_cmd *cmd)
{
	return strcmp(cmd->name, "zeroize") == 0;
}

__attribute__((weak)) cf_err con_dual_submit(struct con *c, const struct con_cmd *cmd, int argc,
					     char **argv)
{
	dual_submits++;
	con_printf(c, "pending 1\n");
	return CF_OK;
}

__attribute__((weak)) cf_err con_login(struct con *c)
{
	char name[CON_USER_MAX + 1], pw[CON_SECRET_MAX];

	TRY(con_readline(c, "login: ", name, sizeof name, 0));
	TRY(con_read_secret(c, "Password: ", pw, sizeof pw, 0));
	if (strcmp(name, "admin") != 0 || strcmp(pw, "pw") != 0) {
		con_printf(c, "login incorrect\n");
		return CF_E_AUTH;
	}
	c->authed = true;
	(void)snprintf(c->user, sizeof c->user, "%s", name);
	return CF_OK;
}

__attribute__((weak)) cf_err con_auth_new(struct con *c) { return CF_OK; }
/* svc.c's, here so that svc.o (and through it the real con_auth.o) is not linked in */
__attribute__((weak)) const char *svc_state_name(enum svc_state s)
{
	static const char *const names[] = { "UNINITIALIZED", "SEALED", "READY", "ERROR" };

	return (unsigned)s < 4 ? names[s] : "?";
}
__attribute__((weak)) void con_auth_free(struct con *c) { }

/* ---- rig ----------------------------------------------------------------------------------- */

struct rig {
	struct con c;
	struct svc svc;
	struct config cfg;
	int peer;
	char out[65536];
	size_t n;
};

static int64_t fixed_now(void *arg) { return 1700000000; }

static struct rig *rig_new(enum svc_state st)
{
	struct rig *r = calloc(1, sizeof *r);
	int sv[2];

	assert_non_null(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->c.fd_in = r->c.fd_out = sv[0];
	r->peer = sv[1];
	r->c.svc = &r->svc;
	r->svc.cfg = &r->cfg;
	r->svc.now = fixed_now;
	atomic_store(&r->svc.state, (int)st);
	return r;
}

static void rig_free(struct rig *r)
{
	con_store_close(&r->c);
	close(r->c.fd_in);
	if (r->peer >= 0)
		close(r->peer);
	free(r);
}

static void put(struct rig *r, const char *s, size_t n)
{
	assert_int_equal(write(r->peer, s, n), (ssize_t)n);
}
#define PUT(r, lit) put((r), (lit), sizeof(lit) - 1)

/* Everything the console wrote so far (waits up to ms for the first byte). */
static const char *out(struct rig *r, int ms)
{
	struct pollfd p = { .fd = r->peer, .events = POLLIN };

	r->n = 0;
	while (r->n < sizeof r->out - 1 && poll(&p, 1, ms) == 1 && (p.revents & POLLIN)) {
		ssize_t k = read(r->peer, r->out + r->n, sizeof r->out - 1 - r->n);

		if (k <= 0)
			break;
		r->n += (size_t)k;
		ms = 50;
	}
	r->out[r->n] = '\0';
	return r->out;
}

/* Wait until the output contains want (accumulating); returns the text so far. */
static const char *wait_for(struct rig *r, const char *want)
{
	static char acc[65536];
	size_t n = 0;

	acc[0] = '\0';
	for (int i = 0; i < 100 && strstr(acc, want) == NULL; i++) {
		const char *o = out(r, 100);
		size_t k = strlen(o);

		if (n + k >= sizeof acc)
			break;
		memcpy(acc + n, o, k + 1);
		n += k;
	}
	if (strstr(acc, want) == NULL)
		fail_msg("waited for \"%s\"; got \"%s\"", want, acc);
	return acc;
}

static bool rbuf_has(const struct con *c, const char *s)
{
	return memmem(c->rbuf, sizeof c->rbuf, s, strlen(s)) != NULL;
}

/* ---- con_io ------------------------------------------------------------------------------- */

static void test_echo_and_crlf_output(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];

	PUT(r, "hello world\r");
	assert_int_equal(con_readline(&r->c, "p> ", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "hello world");
	assert_string_equal(out(r, 100), "p> hello world\r\n");
	con_printf(&r->c, "a\nb\r\nc %d\n", 7);
	assert_string_equal(out(r, 100), "a\r\nb\r\nc 7\r\n");
	/* longer than the stack buffer: all of it */
	static char pem[3000];
	memset(pem, 'Q', sizeof pem - 1);
	con_printf(&r->c, "<%s>", pem);
	assert_int_equal(strlen(out(r, 100)), sizeof pem + 1);
	assert_int_equal(r->out[0], '<');
	assert_int_equal(r->out[sizeof pem], '>');
	rig_free(r);
}

static void test_backspace_ctrl_u(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];

	PUT(r, "helx\x7fp\x08\x08lp\r");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "help");
	assert_string_equal(out(r, 100), "helx\b \bp\b \b\b \blp\r\n");
	PUT(r, "\x7f\x7fjunk words\x15ok\r");     /* Backspace on an empty line: nothing */
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "ok");
	assert_non_null(strstr(out(r, 100), "\b \b\b \b\b \b\b \b\b \b\b \b\b \b\b \b\b \b\b \bok"));
	rig_free(r);
}

static void test_ctrl_c(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];

	PUT(r, "zeroize\x03status\r");
	assert_int_equal(con_readline(&r->c, "> ", buf, sizeof buf, 0), CF_E_CANCELLED);
	assert_string_equal(buf, "");
	assert_string_equal(out(r, 100), "> zeroize^C\r\n");
	assert_false(rbuf_has(&r->c, "zeroize"));
	assert_int_equal(con_readline(&r->c, "> ", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "status");
	rig_free(r);
}

static void test_line_ends(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];
	const char *want[] = { "a", "b", "", "c", "", "d" };

	PUT(r, "a\r\nb\r\n\r\nc\n\nd\r");
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
		assert_string_equal(buf, want[i]);
	}
	/* a CR LF split across two writes (two reads, two calls) counts once */
	PUT(r, "x\r");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "x");
	PUT(r, "\ny\r");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "y");
	/* ... also after a secret, whose bytes are wiped as they are consumed */
	PUT(r, "s\r");
	assert_int_equal(con_read_secret(&r->c, "", buf, sizeof buf, 0), CF_OK);
	PUT(r, "\nz\r");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "z");
	rig_free(r);
}

static void test_too_long_rejected_whole(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[CON_LINE_MAX + 1], small[8];
	static char big[5000 + 32];

	/* 5000 characters: more than the read buffer, so discarded across several reads */
	memset(big, 'k', 5000);
	memcpy(big + 5000, "eys destroy\rstatus\r", 19);
	put(r, big, 5000 + 19);
	assert_int_equal(con_readline(&r->c, "> ", buf, sizeof buf, 0), CF_E_TOO_LARGE);
	assert_string_equal(buf, "");
	assert_non_null(strstr(out(r, 200), "\r\nline too long (max 1024 characters); ignored\r\n"));
	assert_int_equal(con_readline(&r->c, "> ", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "status");
	/* the bound is min(cap - 1, CON_LINE_MAX); exactly that many is fine */
	PUT(r, "1234567\r12345678\rok\r");
	assert_int_equal(con_readline(&r->c, "", small, sizeof small, 0), CF_OK);
	assert_string_equal(small, "1234567");
	assert_int_equal(con_readline(&r->c, "", small, sizeof small, 0), CF_E_TOO_LARGE);
	assert_non_null(strstr(out(r, 100), "line too long (max 7 characters); ignored"));
	assert_int_equal(con_readline(&r->c, "", small, sizeof small, 0), CF_OK);
	assert_string_equal(small, "ok");
	/* Backspace does not rescue a line once it is over the bound */
	PUT(r, "123456789\x7f\x7f\x7f\rno\r");
	assert_int_equal(con_readline(&r->c, "", small, sizeof small, 0), CF_E_TOO_LARGE);
	assert_int_equal(con_readline(&r->c, "", small, sizeof small, 0), CF_OK);
	assert_string_equal(small, "no");
	rig_free(r);
}

static void test_dropped_bytes(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];

	PUT(r, "a\x01" "b\xc3\xa9" "c\x1b[A\x1b[1;5D\x1bOPd\x1bxe\t\r");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "abcdxe");
	assert_string_equal(out(r, 100), "abcdxe\r\n");
	rig_free(r);
}

static void test_secret(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[CON_SECRET_MAX];

	PUT(r, "s3cr3t-pin\x7fN\r");
	assert_int_equal(con_read_secret(&r->c, "PIN: ", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "s3cr3t-piN");
	assert_string_equal(out(r, 100), "PIN: \r\n");
	assert_false(rbuf_has(&r->c, "s3cr3t"));
	/* Ctrl-C in a secret: nothing of it is left anywhere */
	PUT(r, "hunter2\x03");
	assert_int_equal(con_read_secret(&r->c, "PIN: ", buf, sizeof buf, 0), CF_E_CANCELLED);
	assert_false(rbuf_has(&r->c, "hunter2"));
	assert_null(memmem(buf, sizeof buf, "hunter2", 7));
	assert_string_equal(out(r, 100), "PIN: ^C\r\n");
	rig_free(r);
}

static void test_confirm(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);

	PUT(r, "y\r YES \rn\r\ryess\r\x03");
	assert_true(con_confirm(&r->c, "Erase?"));
	assert_non_null(strstr(out(r, 100), "Erase? [y/N] y\r\n"));
	assert_true(con_confirm(&r->c, "Erase?"));
	assert_false(con_confirm(&r->c, "Erase?"));
	assert_false(con_confirm(&r->c, "Erase?"));
	assert_false(con_confirm(&r->c, "Erase?"));
	assert_false(con_confirm(&r->c, "Erase?"));
	rig_free(r);
}

static void test_paste(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64], *text;
	size_t n;

	PUT(r, "noise\r-----BEGIN X-----\r\nAAAA  \r\n\r\n-----END X-----  \rafter\r");
	assert_int_equal(con_read_paste(&r->c, "Paste:\n", "-----BEGIN ", "-----END ", 4096,
					&text, &n), CF_OK);
	assert_string_equal(text, "-----BEGIN X-----\nAAAA\n\n-----END X-----\n");
	assert_int_equal(n, strlen(text));
	free(text);
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "after");
	/* too large: refused whole, read on to the end line, the next line is a new one */
	PUT(r, "-----BEGIN X-----\rAAAAAAAAAAAAAAAAAAAA\r-----END X-----\rnext\r");
	assert_int_equal(con_read_paste(&r->c, "", "-----BEGIN ", "-----END ", 24, &text, &n),
			 CF_E_TOO_LARGE);
	assert_null(text);
	assert_non_null(strstr(out(r, 100), "paste too large (max 24 bytes); ignored"));
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "next");
	/* no begin prefix: from the first line; Ctrl-C cancels */
	PUT(r, "one\rtwo\x03");
	assert_int_equal(con_read_paste(&r->c, "", NULL, "END", 4096, &text, &n), CF_E_CANCELLED);
	assert_null(text);
	rig_free(r);
}

static void test_timeout_and_eof(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	char buf[64];
	struct timespec a, b;

	PUT(r, "partial");
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 1), CF_E_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 990 && ms < 3000);
	assert_string_equal(buf, "");
	assert_false(r->c.eof);
	PUT(r, "last\rtail");
	shutdown(r->peer, SHUT_WR);
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_OK);
	assert_string_equal(buf, "last");
	assert_int_equal(con_readline(&r->c, "", buf, sizeof buf, 0), CF_E_CLOSED);
	assert_true(r->c.eof);
	assert_int_equal(con_read_secret(&r->c, "", buf, sizeof buf, 0), CF_E_CLOSED);
	assert_false(con_confirm(&r->c, "again?"));
	rig_free(r);
}

/* ---- tokenizer, options, lookup --------------------------------------------------------- */

static void test_tokenize(void **state)
{
	char line[256], *argv[CON_ARGS_MAX + 1];
	const char *why = NULL;
	int argc;

	snprintf(line, sizeof line, "  a  b\t\"c d\" e\"f g\"h \"\"  ");
	assert_int_equal(con_tokenize(line, argv, &argc, &why), CF_OK);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "b");
	assert_string_equal(argv[2], "c d");
	assert_string_equal(argv[3], "ef gh");
	assert_string_equal(argv[4], "");
	assert_null(argv[5]);
	snprintf(line, sizeof line, "   ");
	assert_int_equal(con_tokenize(line, argv, &argc, &why), CF_OK);
	assert_int_equal(argc, 0);
	snprintf(line, sizeof line, "client issue \"web 1");
	assert_int_equal(con_tokenize(line, argv, &argc, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "unbalanced \""));
	snprintf(line, sizeof line, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16");
	assert_int_equal(con_tokenize(line, argv, &argc, &why), CF_OK);
	assert_int_equal(argc, 16);
	snprintf(line, sizeof line, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17");
	assert_int_equal(con_tokenize(line, argv, &argc, &why), CF_E_TOO_MANY);
}

static void test_options(void **state)
{
	char a0[] = "web", a1[] = "--days", a2[] = "30", a3[] = "--force", a4[] = "--tenant";
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	int argc = 5;
	bool bad = false;

	assert_string_equal(con_opt_take(&argc, argv, "days", &bad), "30");
	assert_false(bad);
	assert_int_equal(argc, 3);
	assert_null(con_opt_take(&argc, argv, "nope", &bad));
	assert_false(bad);
	assert_true(con_flag_take(&argc, argv, "force"));
	assert_false(con_flag_take(&argc, argv, "force"));
	assert_null(con_opt_take(&argc, argv, "tenant", &bad)); /* no value */
	assert_true(bad);
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "web");
	assert_null(argv[1]);
	/* given twice: bad; a value that is an option: bad */
	char b0[] = "--days", b1[] = "1", b2[] = "--days", b3[] = "2", b4[] = "--t", b5[] = "--x";
	char *bv[] = { b0, b1, b2, b3, b4, b5, NULL };
	int bc = 6;
	bad = false;
	assert_string_equal(con_opt_take(&bc, bv, "days", &bad), "1");
	assert_true(bad);
	bad = false;
	assert_null(con_opt_take(&bc, bv, "t", &bad));
	assert_true(bad);
}

static void test_lookup(void **state)
{
	char l[64], *argv[CON_ARGS_MAX + 1];
	const char *why;
	int argc, words;
	const struct con_cmd *cmd;

	snprintf(l, sizeof l, "keys list acme");
	assert_int_equal(con_tokenize(l, argv, &argc, &why), CF_OK);
	assert_non_null(cmd = con_lookup(argc, argv, &words));
	assert_string_equal(cmd->name, "keys list");
	assert_int_equal(words, 2);
	snprintf(l, sizeof l, "keys acme");
	assert_int_equal(con_tokenize(l, argv, &argc, &why), CF_OK);
	assert_non_null(cmd = con_lookup(argc, argv, &words));
	assert_string_equal(cmd->name, "keys");
	assert_int_equal(words, 1);
	snprintf(l, sizeof l, "\"client list\"");  /* one quoted word is not a two-word name */
	assert_int_equal(con_tokenize(l, argv, &argc, &why), CF_OK);
	assert_null(con_lookup(argc, argv, &words));
	snprintf(l, sizeof l, "client");
	assert_int_equal(con_tokenize(l, argv, &argc, &why), CF_OK);
	assert_null(con_lookup(argc, argv, &words));
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const char *run(struct rig *r, const char *line)
{
	char l[CON_LINE_MAX + 1];

	snprintf(l, sizeof l, "%s", line);
	(void)con_run_line(&r->c, l);
	return out(r, 100);
}

static void test_dispatch_by_state(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);

	fake_runs = 0;
	assert_string_equal(run(r, "status"), "ran 0:\r\n");
	assert_string_equal(run(r, "init"), "ran 0:\r\n");
	assert_string_equal(run(r, "keys list"),
			    "'keys list' is not available while UNINITIALIZED: run init, or backup "
			    "import to restore\r\n");
	assert_non_null(strstr(run(r, "logout"), "'logout' is not available while UNINITIALIZED"));
	assert_string_equal(run(r, "frobnicate now"), "unknown command 'frobnicate'; type help\r\n");
	assert_string_equal(run(r, "status extra"), "usage: status\r\n");
	assert_string_equal(run(r, "say \"oops"),
			    "unbalanced \" (put a word with spaces in double quotes: \"like this\")\r\n");
	assert_int_equal(fake_runs, 2);
	/* help lists what is available now, nothing else */
	const char *h = run(r, "help");
	assert_non_null(strstr(h, "  help [COMMAND]\r\n"));
	assert_non_null(strstr(h, "  status\r\n"));
	assert_non_null(strstr(h, "  init\r\n"));
	assert_null(strstr(h, "unseal"));
	assert_null(strstr(h, "keys"));
	assert_null(strstr(h, "logout"));
	h = run(r, "help client issue");
	assert_non_null(strstr(h, "usage: client issue NAME [--days N]\r\nissue\r\n"));
	assert_non_null(strstr(h, "not available while UNINITIALIZED"));
	h = run(r, "help client");
	assert_string_equal(h, "  client list\r\n  client issue NAME [--days N]\r\n");
	assert_string_equal(run(r, "help nothing"), "no command 'nothing'; type help\r\n");

	atomic_store(&r->svc.state, (int)SVC_SEALED);
	assert_string_equal(run(r, "unseal"), "ran 0:\r\n");
	assert_string_equal(run(r, "init"),
			    "'init' is not available while SEALED: run unseal first\r\n");

	atomic_store(&r->svc.state, (int)SVC_READY);
	r->c.authed = true;
	snprintf(r->c.user, sizeof r->c.user, "admin");
	assert_string_equal(run(r, "unseal"),
			    "'unseal' is not available while READY (only while SEALED)\r\n");
	assert_string_equal(run(r, "client issue web --days 3"), "ran 3:web\r\n");
	assert_string_equal(run(r, "client issue"), "usage: client issue NAME [--days N]\r\n");
	dual_submits = 0;
	assert_string_equal(run(r, "zeroize"), "pending 1\r\n");
	assert_int_equal(dual_submits, 1);
	atomic_store(&r->svc.state, (int)SVC_ERROR);
	assert_non_null(strstr(run(r, "keys"), "'keys' needs the HSM, which is not open"));
	assert_string_equal(run(r, "logout"), "admin logged out\r\n");
	assert_false(r->c.authed);
	assert_string_equal(r->c.user, "");
	rig_free(r);
}

struct audit_seen {
	char ops[32][64], actors[32][64], details[32][64];
	int64_t results[32];
	unsigned n;
};

static cf_err audit_collect(void *arg, const struct store_audit_row *row)
{
	struct audit_seen *s = arg;

	if (s->n < 32) {
		snprintf(s->ops[s->n], 64, "%s", row->operation);
		snprintf(s->actors[s->n], 64, "%s", row->actor);
		snprintf(s->details[s->n], 64, "%s", row->detail);
		s->results[s->n++] = row->result;
	}
	return CF_OK;
}

static void test_audit(void **state)
{
	struct rig *r = rig_new(SVC_READY);
	char dir[] = "/tmp/coffre-conio-XXXXXX";
	struct audit_seen seen = { 0 };
	uint8_t h[STORE_HASH_LEN];
	uint64_t seq;
	char db[64];

	assert_non_null(mkdtemp(dir));
	snprintf(r->svc.store_path, sizeof r->svc.store_path, "%s/store.db", dir);
	r->c.authed = true;
	snprintf(r->c.user, sizeof r->c.user, "alice");
	(void)run(r, "client issue \"secret-looking value\"");
	(void)run(r, "hunter2");              /* a password typed at the wrong prompt */
	(void)run(r, "init");
	(void)run(r, "logout");
	(void)run(r, "help");
	assert_non_null(con_store(&r->c));
	assert_int_equal(store_audit_walk(r->c.st, audit_collect, &seen, &seq, h), CF_OK);
	assert_int_equal(seen.n, 5);
	assert_string_equal(seen.ops[0], "console:client issue");
	assert_string_equal(seen.actors[0], "console:alice");
	assert_int_equal(seen.results[0], CF_OK);
	assert_string_equal(seen.ops[1], "console:unknown");
	assert_int_equal(seen.results[1], CF_E_NOT_FOUND);
	assert_string_equal(seen.ops[2], "console:init");
	assert_int_equal(seen.results[2], CF_E_STATE);
	assert_string_equal(seen.details[2], "refused");
	assert_string_equal(seen.ops[3], "console:logout");
	assert_string_equal(seen.actors[3], "console:alice");
	assert_string_equal(seen.ops[4], "console:help");
	assert_string_equal(seen.actors[4], "console");
	for (unsigned i = 0; i < seen.n; i++) {
		assert_null(strstr(seen.details[i], "secret-looking"));
		assert_null(strstr(seen.details[i], "hunter2"));
	}
	con_store_close(&r->c);
	snprintf(db, sizeof db, "rm -rf %s", dir);
	assert_int_equal(system(db), 0);
	rig_free(r);
}

/* ---- the console thread ------------------------------------------------------------------ */

static void test_thread_notify_stop(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	struct console *k;
	const char *o;

	assert_int_equal(console_start(&r->svc, r->c.fd_in, r->c.fd_out, &k), CF_OK);
	o = wait_for(r, "coffre(UNINITIALIZED)> ");
	assert_non_null(strstr(o, "State: UNINITIALIZED"));
	/* a notice while a line is half typed: its own line, then the prompt and the line again */
	PUT(r, "sta");
	(void)wait_for(r, "sta");
	console_notify(k, "coffre: hello %d", 42);
	(void)wait_for(r, "\r\ncoffre: hello 42\r\ncoffre(UNINITIALIZED)> sta");
	PUT(r, "tus\r");
	(void)wait_for(r, "ran 0:\r\ncoffre(UNINITIALIZED)> ");
	/* a state change redraws the prompt for the new state */
	atomic_store(&r->svc.state, (int)SVC_SEALED);
	console_notify(k, "coffre: state SEALED");
	(void)wait_for(r, "coffre: state SEALED\r\ncoffre(SEALED)> ");
	/* READY: the login gate */
	atomic_store(&r->svc.state, (int)SVC_READY);
	console_notify(k, "coffre: state READY");
	(void)wait_for(r, "login: ");
	PUT(r, "admin\rwrong\r");
	(void)wait_for(r, "login incorrect\r\n");
	PUT(r, "admin\rpw\r");
	o = wait_for(r, "coffre> ");
	assert_null(strstr(o, "pw"));
	PUT(r, "logout\r");
	(void)wait_for(r, "admin logged out\r\nlogin: ");
	/* console_stop wakes the blocked read */
	console_stop(k);
	rig_free(r);
}

static void test_thread_idle_logout(void **state)
{
	struct rig *r = rig_new(SVC_READY);
	struct console *k;

	r->cfg.console.idle_logout_s = 1;
	assert_int_equal(console_start(&r->svc, r->c.fd_in, r->c.fd_out, &k), CF_OK);
	(void)wait_for(r, "login: ");
	PUT(r, "admin\rpw\r");
	(void)wait_for(r, "coffre> ");
	(void)wait_for(r, "idle for 1 s: admin logged out\r\nlogin: ");
	console_stop(k);
	rig_free(r);
}

static void test_thread_eof(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	struct console *k;

	assert_int_equal(console_start(&r->svc, r->c.fd_in, r->c.fd_out, &k), CF_OK);
	PUT(r, "status\r");
	(void)wait_for(r, "ran 0:");
	shutdown(r->peer, SHUT_WR);     /* stdin closed: the thread ends its session and waits */
	usleep(100 * 1000);
	console_stop(k);
	rig_free(r);
}

/* After a command that makes the program start again (zeroize), the session ends without a
 * prompt and the thread shows nothing more: the next prompt on the TTY is the new program's
 * (a prompt of the old one raced with it). */
static void test_thread_restart_no_prompt(void **state)
{
	struct rig *r = rig_new(SVC_UNINITIALIZED);
	struct console *k;
	const char *o;

	assert_int_equal(console_start(&r->svc, r->c.fd_in, r->c.fd_out, &k), CF_OK);
	(void)wait_for(r, "coffre(UNINITIALIZED)> ");
	PUT(r, "wipe-restart\r");
	o = wait_for(r, "restarting...\r\n");
	assert_non_null(strstr(o, "zeroized\r\nrestarting...\r\n"));
	assert_null(strstr(strstr(o, "restarting..."), "coffre"));
	/* typed input is not read, no banner or prompt comes: well past CONSOLE_PEER_POLL_MS */
	PUT(r, "status\r");
	o = out(r, 4 * CONSOLE_PEER_POLL_MS);
	assert_string_equal(o, "");
	console_stop(k);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_and_crlf_output),
		cmocka_unit_test(test_backspace_ctrl_u),
		cmocka_unit_test(test_ctrl_c),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_too_long_rejected_whole),
		cmocka_unit_test(test_dropped_bytes),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_confirm),
		cmocka_unit_test(test_paste),
		cmocka_unit_test(test_timeout_and_eof),
		cmocka_unit_test(test_tokenize),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_dispatch_by_state),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_thread_notify_stop),
		cmocka_unit_test(test_thread_idle_logout),
		cmocka_unit_test(test_thread_eof),
		cmocka_unit_test(test_thread_restart_no_prompt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
