/* libFuzzer target for the console's input path: arbitrary bytes typed at the TTY go through
 * the line editor (con_io.c), the login gate, the tokenizer, the lookup, the state and login
 * checks, options, help and the dispatcher (con_shell.c) until the end of input.
 *
 * The first byte picks the state (bits 0-1) and whether a session is already logged in
 * (bit 2); the rest is the TTY input, written into a socketpair whose write side is then shut
 * (so every read ends, deterministically: no timeouts, no threads). Output is formatted and
 * translated but not written (fd_out -1: con_out's "no TTY" case), which keeps it fast.
 * The other console parts are replaced by the weak fakes below: a command table whose
 * handlers read more input the ways real ones do (secret, confirmation, paste, options), a
 * login accepting admin / pw, dual control for one command. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firmware/console/con_io.c"
#include "firmware/console/con_shell.c"

#define FUZZ_INPUT_MAX 65536 /* below the socket buffer: one write, never blocking */

static cf_err fake_plain(struct con *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		con_printf(c, "[%s]", argv[i]);
	con_printf(c, "\n");
	return CF_OK;
}

static cf_err fake_options(struct con *c, int argc, char **argv)
{
	bool bad = false;
	const char *days = con_opt_take(&argc, argv, "days", &bad);
	const char *tenant = con_opt_take(&argc, argv, "tenant", &bad);
	bool force = con_flag_take(&argc, argv, "force");

	if (bad || argc < 0 || argv[argc] != NULL)
		return CF_E_INVALID_ARG;
	con_printf(c, "%s %s %d %d\n", days ? days : "-", tenant ? tenant : "-", force, argc);
	return CF_OK;
}

static cf_err fake_secret(struct con *c, int argc, char **argv)
{
	char pin[CON_SECRET_MAX];
	cf_err rc = con_read_secret(c, "PIN: ", pin, sizeof pin, 0);

	if (rc == CF_OK && strlen(pin) >= sizeof pin)
		abort();
	sec_wipe(pin, sizeof pin);
	return rc;
}

static cf_err fake_confirm(struct con *c, int argc, char **argv)
{
	return con_confirm(c, "Really?") ? CF_OK : CF_E_CANCELLED;
}

static cf_err fake_paste(struct con *c, int argc, char **argv)
{
	char *text = NULL;
	size_t n = 0;
	cf_err rc = con_read_paste(c, "Paste:\n", argc > 0 ? "-----BEGIN " : NULL, "-----END ",
				   argc > 1 ? 64 : 4096, &text, &n);

	if (rc == CF_OK && (text == NULL || strlen(text) != n || n > 4096))
		abort();
	if (rc != CF_OK && text != NULL)
		abort();
	free(text);
	return rc;
}

/* `audit remote set`'s paste: a PEM bundle ended by an empty line after an END line */
static cf_err fake_bundle(struct con *c, int argc, char **argv)
{
	char *text = NULL;
	size_t n = 0;
	cf_err rc = con_read_pem_bundle(c, "Paste:\n", argc > 0 ? 64 : 4096, &text, &n);

	if (rc == CF_OK && (text == NULL || strlen(text) != n || n > 4096 ||
			    strncmp(text, "-----BEGIN", 10) != 0))
		abort();
	if (rc != CF_OK && text != NULL)
		abort();
	free(text);
	return rc;
}

static cf_err fake_line(struct con *c, int argc, char **argv)
{
	char small[8];
	cf_err rc = con_readline(c, "name: ", small, sizeof small, 0);

	if (rc == CF_OK && strlen(small) > 7)
		abort();
	return rc;
}

__attribute__((weak)) const struct con_cmd con_cmds_auth[] = {
	{ "user add", 1, 1, CON_F_AUTH, "user add NAME", "add", fake_line },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_sys[] = {
	{ "status", 0, 0, CON_F_UNINIT | CON_F_SEALED | CON_F_AUTH, "status", "state", fake_plain },
	{ "init", 0, 0, CON_F_UNINIT, "init", "set up", fake_confirm },
	{ "unseal", 0, 0, CON_F_SEALED, "unseal", "PIN", fake_secret },
	{ "zeroize", 0, 0, CON_F_AUTH | CON_F_DUAL, "zeroize", "erase", fake_confirm },
	{ "selftest", 0, 0, CON_F_AUTH | CON_F_HSM, "selftest", "tests", fake_plain },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_pki[] = {
	{ "client sign-csr", 1, 7, CON_F_AUTH, "client sign-csr NAME [--days N] [--tenant T]",
	  "sign", fake_paste },
	{ "client issue", 1, 6, CON_F_AUTH, "client issue NAME [--days N] [--force]", "issue",
	  fake_options },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_keys[] = {
	{ "keys", 0, 16, CON_F_AUTH | CON_F_HSM, "keys ...", "keys", fake_plain },
	{ "keys list", 0, 1, CON_F_AUTH | CON_F_HSM, "keys list [T]", "list", fake_plain },
	{ "audit remote", 0, 3, CON_F_AUTH, "audit remote [set HOST:PORT]", "remote", fake_bundle },
	{ 0 },
};
__attribute__((weak)) const struct con_cmd con_cmds_backup[] = {
	{ "backup import", 0, 2, CON_F_UNINIT | CON_F_DUAL, "backup import [FILE]", "restore",
	  fake_paste },
	{ 0 },
};

__attribute__((weak)) const struct con_cmd con_cmds_net[] = { { 0 } };

__attribute__((weak)) bool con_dual_required(const struct con *c, const struct con_cmd *cmd)
{
	return strcmp(cmd->name, "zeroize") == 0;
}

__attribute__((weak)) cf_err con_dual_submit(struct con *c, const struct con_cmd *cmd, int argc,
					     char **argv)
{
	con_printf(c, "pending\n");
	return CF_OK;
}

__attribute__((weak)) cf_err con_login(struct con *c)
{
	char name[CON_USER_MAX + 1], pw[CON_SECRET_MAX];
	cf_err rc;

	TRY(con_readline(c, "login: ", name, sizeof name, 0));
	rc = con_read_secret(c, "Password: ", pw, sizeof pw, 0);
	if (rc == CF_OK && (strcmp(name, "admin") != 0 || strcmp(pw, "pw") != 0))
		rc = CF_E_AUTH;
	sec_wipe(pw, sizeof pw);
	if (rc != CF_OK)
		return rc;
	c->authed = true;
	(void)snprintf(c->user, sizeof c->user, "%s", name);
	return CF_OK;
}

__attribute__((weak)) cf_err con_auth_new(struct con *c) { return CF_OK; }
__attribute__((weak)) void con_auth_free(struct con *c) { }
/* svc.c's, here so that svc.o (and through it the real console parts) is not linked in */
__attribute__((weak)) const char *svc_state_name(enum svc_state s)
{
	static const char *const names[] = { "UNINITIALIZED", "SEALED", "READY", "ERROR" };

	return (unsigned)s < 4 ? names[s] : "?";
}

static int64_t fuzz_now(void *arg) { return 1700000000; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	struct svc svc;
	struct console *k;
	int sv[2];

	if (size < 1 || size > FUZZ_INPUT_MAX)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);

	memset(&svc, 0, sizeof svc);
	svc.cfg = &cfg;
	svc.now = fuzz_now;
	atomic_store(&svc.state, (int)(data[0] & 3));
	(void)snprintf(svc.error, sizeof svc.error, "fuzz");
	if ((k = calloc(1, sizeof *k)) == NULL)
		abort();
	k->svc = k->c.svc = &svc;
	k->c.fd_in = sv[0];
	k->c.fd_out = -1;
	k->wake = -1;
	if (data[0] & 4) {
		k->c.authed = true;
		(void)snprintf(k->c.user, sizeof k->c.user, "admin");
	}
	con_session(k);
	if (!k->c.eof || k->c.authed || k->c.user[0] != '\0' || k->c.rpos > k->c.rlen ||
	    k->c.rlen > sizeof k->c.rbuf)
		abort();
	con_store_close(&k->c);
	free(k);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
