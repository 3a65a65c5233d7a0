/* The console thread (console.h) and its loop (con.h "commands", "shared services"): banner,
 * prompt by state, login gate, tokenizer, command lookup, the state and login checks, dual
 * control, the audit of every command, help, logout, idle logout. docs/console/shell.md.
 *
 * Who may run what (enum con_flags):
 *   UNINITIALIZED  no login (physical presence): CON_F_UNINIT and CON_F_NOAUTH commands
 *   SEALED         no login (the HSM PIN is the credential): CON_F_SEALED, CON_F_NOAUTH
 *   READY, ERROR   "login: " first; then CON_F_AUTH and CON_F_NOAUTH commands; in ERROR a
 *                  CON_F_HSM command also needs the HSM to be open. The banner and the
 *                  login gate say why the appliance is in ERROR without a login. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/audit.h"
#include "firmware/console/con.h"
#include "firmware/console/console.h"

#define CONSOLE_NOTES 8          /* queued notices; more are counted, not kept */
#define CONSOLE_NOTE_MAX 256
#define CONSOLE_PEER_POLL_MS 250 /* how often a hung-up pty is checked for a new peer */

struct console {
	struct con c;            /* first: the wake-up hook gets &k->c */
	struct svc *svc;
	pthread_t thread;
	int wake;                /* eventfd: a notice was queued, or console_stop */
	atomic_bool stop;
	pthread_mutex_t mu;      /* notes, n_notes, dropped */
	char notes[CONSOLE_NOTES][CONSOLE_NOTE_MAX + 1];
	unsigned n_notes, dropped;
	bool at_prompt;          /* the shell's own prompt is being read... */
	int prompt_state;        /* ...and shows this state */
};

static const struct con_cmd *const con_tables[] = {
	con_cmds_shell, con_cmds_auth, con_cmds_sys, con_cmds_pki, con_cmds_keys, con_cmds_backup,
	con_cmds_net,
};
#define CON_N_TABLES (sizeof con_tables / sizeof con_tables[0])

static void con_argv_drop(int *argc, char **argv, int i, int k)
{
	memmove(argv + i, argv + i + k, (size_t)(*argc - i - k + 1) * sizeof *argv);
	*argc -= k;
}

static int con_opt_find(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, name) == 0)
			return i;
	return -1;
}

const char *con_opt_take(int *argc, char **argv, const char *name, bool *bad)
{
	int i = con_opt_find(*argc, argv, name);
	const char *v = NULL;

	if (i < 0)
		return NULL;
	if (i + 1 < *argc && strncmp(argv[i + 1], "--", 2) != 0) {
		v = argv[i + 1];
		con_argv_drop(argc, argv, i, 2);
	} else {
		con_argv_drop(argc, argv, i, 1);
	}
	/* without a value, or given twice: the caller says how to use it */
	if ((v == NULL || con_opt_find(*argc, argv, name) >= 0) && bad != NULL)
		*bad = true;
	return v;
}

bool con_flag_take(int *argc, char **argv, const char *name)
{
	bool found = false;

	for (int i; (i = con_opt_find(*argc, argv, name)) >= 0; found = true)
		con_argv_drop(argc, argv, i, 1);
	return found;
}

/* ---- tokenizer and lookup ----------------------------------------------------------------- */

/* Split line into words in place: blanks separate words; "double quotes" keep blanks inside
 * a word (and may make an empty word). No other escapes. argv gets a NULL after the last. */
static cf_err con_tokenize(char *line, char **argv, int *argc, const char **why)
{
	char *r = line, *w = line;
	int n = 0;

	*argc = 0;
	for (;;) {
		bool quoted = false;

		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			break;
		if (n == CON_ARGS_MAX) {
			*why = "too many words (at most 16)";
			return CF_E_TOO_MANY;
		}
		argv[n++] = w;
		for (; *r != '\0' && (quoted || (*r != ' ' && *r != '\t')); r++) {
			if (*r == '"')
				quoted = !quoted;
			else
				*w++ = *r;
		}
		if (quoted) {
			*why = "unbalanced \" (put a word with spaces in double quotes: \"like this\")";
			return CF_E_BAD_VALUE;
		}
		if (*r != '\0')
			r++;
		*w++ = '\0'; /* w <= r: each character read writes at most one */
	}
	argv[n] = NULL;
	*argc = n;
	return CF_OK;
}

static bool con_name_is(const char *name, int words, char **argv)
{
	const char *sp = strchr(name, ' ');
	size_t l;

	if (words == 1)
		return sp == NULL && strcmp(name, argv[0]) == 0;
	l = strlen(argv[0]);
	return sp == name + l && strncmp(name, argv[0], l) == 0 && strcmp(sp + 1, argv[1]) == 0;
}

/* The command argv names: two words first, then one; *words = how many the name took. */
static const struct con_cmd *con_lookup(int argc, char **argv, int *words)
{
	for (int w = argc >= 2 ? 2 : 1; w >= 1 && argc >= 1; w--)
		for (size_t t = 0; t < CON_N_TABLES; t++)
			for (const struct con_cmd *cmd = con_tables[t]; cmd->name != NULL; cmd++)
				if (con_name_is(cmd->name, w, argv)) {
					*words = w;
					return cmd;
				}
	return NULL;
}

/* ---- state and login checks ----------------------------------------------------------- */

static enum svc_state con_state(const struct con *c)
{
	return c->svc != NULL ? (enum svc_state)atomic_load(&c->svc->state) : SVC_UNINITIALIZED;
}

static bool con_needs_login(enum svc_state st)
{
	return st == SVC_READY || st == SVC_ERROR;
}

/* NULL when cmd may run now; otherwise why not, in buf (one line). */
static const char *con_refusal(const struct con *c, const struct con_cmd *cmd, char *buf,
			       size_t cap)
{
	enum svc_state st = con_state(c);
	unsigned f = cmd->flags;

	if (f & CON_F_NOAUTH)
		return NULL;
	switch (st) {
	case SVC_UNINITIALIZED:
		if (f & CON_F_UNINIT)
			return NULL;
		(void)snprintf(buf, cap, "'%s' is not available while UNINITIALIZED: run init, or "
			       "backup import to restore", cmd->name);
		return buf;
	case SVC_SEALED:
		if (f & CON_F_SEALED)
			return NULL;
		(void)snprintf(buf, cap, "'%s' is not available while SEALED: run unseal first",
			       cmd->name);
		return buf;
	case SVC_READY:
	case SVC_ERROR:
		break;
	}
	if (!(f & CON_F_AUTH)) {
		(void)snprintf(buf, cap, "'%s' is not available while %s (only while %s)", cmd->name,
			       svc_state_name(st), (f & CON_F_UNINIT) && (f & CON_F_SEALED) ?
			       "UNINITIALIZED or SEALED" : (f & CON_F_UNINIT) ? "UNINITIALIZED" : "SEALED");
		return buf;
	}
	if (!c->authed) {
		(void)snprintf(buf, cap, "'%s' needs a login", cmd->name);
		return buf;
	}
	if ((f & CON_F_HSM) && st == SVC_ERROR && c->svc->hsm == NULL) {
		(void)snprintf(buf, cap, "'%s' needs the HSM, which is not open (ERROR: see status)",
			       cmd->name);
		return buf;
	}
	return NULL;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static cf_err con_dispatch(struct con *c, const struct con_cmd *cmd, int argc, char **argv)
{
	char why[200], op[AUDIT_OP_MAX];
	const char *refused = con_refusal(c, cmd, why, sizeof why), *detail = NULL;
	cf_err rc;

	if (refused != NULL) {
		con_printf(c, "%s\n", refused);
		rc = CF_E_STATE;
		detail = "refused";
	} else if ((unsigned)argc < cmd->min_args || (unsigned)argc > cmd->max_args) {
		con_printf(c, "usage: %s\n", cmd->usage);
		rc = CF_E_INVALID_ARG;
		detail = "usage";
	} else if ((cmd->flags & CON_F_DUAL) && con_dual_required(c, cmd)) {
		rc = con_dual_submit(c, cmd, argc, argv);
		detail = "dual control: waiting for approval";
	} else {
		rc = cmd->fn(c, argc, argv);
	}
	/* arguments are not recorded: handlers audit what matters with its uid */
	(void)snprintf(op, sizeof op, "console:%s", cmd->name);
	con_audit(c, op, NULL, rc, detail);
	if (!c->authed)
		c->user[0] = '\0'; /* after the audit, so that `logout` is recorded as its user */
	return rc;
}

/* One command line. Returns CF_OK for an empty line. */
static cf_err con_run_line(struct con *c, char *line)
{
	char *argv[CON_ARGS_MAX + 1];
	const struct con_cmd *cmd;
	const char *why = NULL;
	int argc, words = 0;
	cf_err rc;

	if ((rc = con_tokenize(line, argv, &argc, &why)) != CF_OK) {
		con_printf(c, "%s\n", why);
		return rc;
	}
	if (argc == 0)
		return CF_OK;
	if ((cmd = con_lookup(argc, argv, &words)) == NULL) {
		/* the word is not recorded: it may be a password typed at the wrong prompt */
		con_printf(c, "unknown command '%.40s'; type help\n", argv[0]);
		con_audit(c, "console:unknown", NULL, CF_E_NOT_FOUND, NULL);
		return CF_E_NOT_FOUND;
	}
	return con_dispatch(c, cmd, argc - words, argv + words);
}

/* ---- help, logout -------------------------------------------------------------------------- */

static cf_err con_help(struct con *c, int argc, char **argv)
{
	char why[200];
	const struct con_cmd *cmd;
	int words = 0, shown = 0;

	if (argc == 0) {
		con_printf(c, "Commands available now (help COMMAND for details):\n");
		for (size_t t = 0; t < CON_N_TABLES; t++)
			for (cmd = con_tables[t]; cmd->name != NULL; cmd++)
				if (con_refusal(c, cmd, why, sizeof why) == NULL)
					con_printf(c, "  %s\n", cmd->usage);
		return CF_OK;
	}
	if ((cmd = con_lookup(argc, argv, &words)) != NULL && words == argc) {
		const char *refused = con_refusal(c, cmd, why, sizeof why);

		con_printf(c, "usage: %s\n%s\n", cmd->usage, cmd->help != NULL ? cmd->help : "");
		if (refused != NULL)
			con_printf(c, "(%s)\n", refused);
		return CF_OK;
	}
	/* "help client": the commands of that group */
	for (size_t t = 0; t < CON_N_TABLES && argc == 1; t++)
		for (cmd = con_tables[t]; cmd->name != NULL; cmd++) {
			size_t l = strlen(argv[0]);

			if (strncmp(cmd->name, argv[0], l) == 0 && cmd->name[l] == ' ') {
				con_printf(c, "  %s\n", cmd->usage);
				shown++;
			}
		}
	if (shown > 0)
		return CF_OK;
	con_printf(c, "no command '%.40s%s%.40s'; type help\n", argv[0], argc > 1 ? " " : "",
		   argc > 1 ? argv[1] : "");
	return CF_E_NOT_FOUND;
}

static cf_err con_logout(struct con *c, int argc, char **argv)
{
	con_printf(c, "%s logged out\n", c->user);
	c->authed = false; /* the shell clears c->user once the command is audited */
	return CF_OK;
}

const struct con_cmd con_cmds_shell[] = {
	{ "help", 0, 2, CON_F_NOAUTH, "help [COMMAND]",
	  "Without a COMMAND: the commands available now (this state, this login).\n"
	  "With one: its usage and what it does, e.g. help client sign-csr.", con_help },
	{ "logout", 0, 0, CON_F_AUTH, "logout",
	  "End the session. A session also ends after [console] idle_logout_s without input.",
	  con_logout },
	{ 0 },
};

/* ---- the loop ------------------------------------------------------------------------------ */

static void con_banner(struct con *c)
{
	enum svc_state st = con_state(c);

	con_printf(c, "\nCoffre key vault console. State: %s.\n", svc_state_name(st));
	if (st == SVC_UNINITIALIZED)
		con_printf(c, "Not initialised: run init for a new appliance, or backup import to "
			   "restore one.\n");
	else if (st == SVC_SEALED)
		con_printf(c, "Sealed: run unseal and enter the HSM user PIN.\n");
	else if (st == SVC_ERROR)
		con_printf(c, "ERROR: %s\n", c->svc->error);
	con_printf(c, "Type help for the commands available now.\n");
}

static void con_end_session(struct con *c, const char *why)
{
	if (!c->authed)
		return;
	con_audit(c, "console:logout", NULL, CF_OK, why);
	c->authed = false;
	c->user[0] = '\0';
}

static void con_gate(struct con *c, enum svc_state st)
{
	char line[8];

	if (st == SVC_ERROR)
		con_printf(c, "ERROR: %s\n", c->svc->error);
	switch (con_login(c)) {
	case CF_OK:
		c->last_input = con_now(c);
		return;
	case CF_E_AUTH:
	case CF_E_CANCELLED:
	case CF_E_TIMEOUT:
	case CF_E_TOO_LARGE:
	case CF_E_CLOSED:
		return; /* input was read: ask again */
	default:
		/* it may have failed before reading anything (no store...: it said why): wait
		 * for a key rather than spin */
		if (con_readline(c, "press Enter to try again ", line, sizeof line, 0) != CF_OK)
			return;
	}
}

/* One session on a connected TTY, until hang-up or console_stop. */
static void con_session(struct console *k)
{
	struct con *c = &k->c;
	char line[CON_LINE_MAX + 1];
	char prompt[32];

	con_banner(c);
	while (!c->eof && !atomic_load(&k->stop)) {
		enum svc_state st = con_state(c);
		unsigned idle = 0;
		cf_err rc;

		if (!con_needs_login(st))
			con_end_session(c, "state"); /* zeroize: the accounts are gone */
		else if (!c->authed) {
			con_gate(c, st);
			continue;
		} else if (c->svc->cfg != NULL)
			idle = c->svc->cfg->console.idle_logout_s;
		if (st == SVC_READY)
			(void)snprintf(prompt, sizeof prompt, "coffre> ");
		else
			(void)snprintf(prompt, sizeof prompt, "coffre(%s)> ", svc_state_name(st));
		k->at_prompt = true;
		k->prompt_state = (int)st;
		rc = con_readline(c, prompt, line, sizeof line, idle);
		k->at_prompt = false;
		if (rc == CF_E_TIMEOUT) {
			con_printf(c, "idle for %u s: %s logged out\n", idle, c->user);
			con_end_session(c, "idle");
		}
		if (rc != CF_OK)
			continue; /* Ctrl-C, a line too long (said), hang-up, state change */
		c->last_input = con_now(c);
		(void)con_run_line(c, line);
		sec_wipe(line, sizeof line);
		if (atomic_load(&c->svc->restarting)) {
			/* zeroize: the program starts again and greets the TTY itself; a prompt
			 * from this one would race with that (and take no input) */
			con_printf(c, "restarting...\n");
			break;
		}
		if (board_power_requested(&c->svc->board) != BOARD_POWER_NONE)
			break; /* shutdown / reboot: the main thread stops everything */
	}
	con_end_session(c, atomic_load(&k->stop) ? "stop" : "hang-up");
}

/* ---- the thread ---------------------------------------------------------------------------- */

static cf_err console_woken(struct con *c, bool mid_line)
{
	struct console *k = (struct console *)c; /* only the console thread registers this */
	char notes[CONSOLE_NOTES][CONSOLE_NOTE_MAX + 1];
	unsigned n, dropped;
	uint64_t v;

	if (read(k->wake, &v, sizeof v) < 0 && errno != EAGAIN)
		log_warn("console: wake-up read failed");
	if (atomic_load(&k->stop))
		return CF_E_CLOSED;
	pthread_mutex_lock(&k->mu);
	n = k->n_notes;
	dropped = k->dropped;
	memcpy(notes, k->notes, sizeof notes);
	k->n_notes = k->dropped = 0;
	pthread_mutex_unlock(&k->mu);
	if (n > 0 && mid_line)
		con_write(c, "\n", 1);
	for (unsigned i = 0; i < n; i++)
		con_printf(c, "%s\n", notes[i]);
	if (dropped > 0)
		con_printf(c, "(%u more notices not shown)\n", dropped);
	if (k->at_prompt && (int)con_state(c) != k->prompt_state) {
		if (n == 0 && mid_line)
			con_write(c, "\n", 1);
		return CF_E_STATE; /* the shell redraws its prompt for the new state */
	}
	return n > 0 ? CF_E_AGAIN : CF_OK;
}

/* A pty whose far side is closed reports POLLHUP until someone opens it again. */
static bool console_peer_gone(struct console *k)
{
	struct pollfd p = { .fd = k->c.fd_in, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0 && !(p.revents & POLLIN);
}

/* Sleep up to ms, or until console_stop. */
static void console_nap(struct console *k, int ms)
{
	struct pollfd p = { .fd = k->wake, .events = POLLIN };

	if (!atomic_load(&k->stop))
		(void)poll(&p, 1, ms);
}

static void *console_main(void *arg)
{
	struct console *k = arg;
	struct con *c = &k->c;
	bool tty = isatty(c->fd_in) == 1;

	c->fd_wake = k->wake;
	c->on_wake = console_woken;
	while (!atomic_load(&k->stop)) {
		if (atomic_load(&k->svc->restarting) ||
		    board_power_requested(&k->svc->board) != BOARD_POWER_NONE ||
		    (tty && console_peer_gone(k))) {
			console_nap(k, CONSOLE_PEER_POLL_MS);
			continue;
		}
		con_session(k);
		sec_wipe(c->rbuf, sizeof c->rbuf);
		c->rlen = c->rpos = 0;
		if (!tty)
			break; /* stdin closed: nothing more will come */
		c->eof = false;
		console_nap(k, CONSOLE_PEER_POLL_MS);
	}
	c->on_wake = NULL;
	return NULL;
}

cf_err console_start(struct svc *svc, int fd_in, int fd_out, struct console **out)
{
	struct console *k;
	cf_err rc;

	*out = NULL;
	if (svc == NULL || fd_in < 0 || fd_out < 0)
		return CF_E_INVALID_ARG;
	if ((k = calloc(1, sizeof *k)) == NULL)
		return CF_E_NOMEM;
	k->svc = k->c.svc = svc;
	k->c.fd_in = fd_in;
	k->c.fd_out = fd_out;
	atomic_init(&k->stop, false);
	if ((k->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(k);
		return CF_E_IO;
	}
	pthread_mutex_init(&k->mu, NULL);
	if ((rc = con_auth_new(&k->c)) != CF_OK)
		goto fail;
	if (pthread_create(&k->thread, NULL, console_main, k) != 0) {
		con_auth_free(&k->c);
		rc = CF_E_INTERNAL;
		goto fail;
	}
	*out = k;
	return CF_OK;
fail:
	pthread_mutex_destroy(&k->mu);
	close(k->wake);
	free(k);
	return rc;
}

void console_notify(struct console *k, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	if (k->n_notes < CONSOLE_NOTES) {
		va_start(ap, fmt);
		(void)vsnprintf(k->notes[k->n_notes++], CONSOLE_NOTE_MAX + 1, fmt, ap);
		va_end(ap);
	} else {
		k->dropped++;
	}
	pthread_mutex_unlock(&k->mu);
	if (write(k->wake, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("console: wake-up write failed");
}

void console_stop(struct console *k)
{
	uint64_t one = 1;

	if (k == NULL)
		return;
	atomic_store(&k->stop, true);
	if (write(k->wake, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("console: wake-up write failed");
	pthread_join(k->thread, NULL);
	con_store_close(&k->c);
	con_auth_free(&k->c);
	pthread_mutex_destroy(&k->mu);
	close(k->wake);
	sec_wipe(k, sizeof *k);
	free(k);
}
