/* The console's appliance commands (firmware/console/con.h; docs/console/ceremony.md):
 *
 *   init       UNINITIALIZED: the init ceremony (HSM PINs, keys, certificates, first
 *              administrator) and then serving KMIP
 *   unseal     SEALED: the HSM user PIN, then the rest of the boot
 *   status     state, self-tests, HSM, KEKs, objects, clients, connections, backups, and
 *              the restart counter of boards that keep one
 *   selftest   the power-up self-tests, now
 *   zeroize    destroy every key and the store, back to UNINITIALIZED
 *
 * The state changes themselves are svc.c's (svc_init_token, svc_start_serving, svc_unseal,
 * svc_zeroize_as): this file holds the dialogue. PINs are read into sec_alloc buffers with
 * con_read_secret and wiped before the handler returns, whatever happened. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "board/board.h"
#include "board/sec.h"
#include "firmware/console/con.h"
#include "firmware/svc/kekjob.h"
#include "firmware/store/store_admin.h"
#include "firmware/store/store_clients.h"
#include "firmware/store/store_users.h"
#include "firmware/svc/svc.h"
#include "hsm/hsm.h"

#define SYS_ADMIN_TRIES 3         /* `init`: attempts at creating the first administrator */
#define SYS_ZEROIZE_WORD "ZEROIZE"

static enum svc_state sys_state(const struct con *c)
{
	return (enum svc_state)atomic_load(&c->svc->state);
}

/* A secret buffer of CON_SECRET_MAX + 1 bytes. */
static cf_err sys_secret_new(char **p)
{
	return sec_alloc(CON_SECRET_MAX + 1, (void **)p);
}

static void sys_secret_free(char *p)
{
	if (p != NULL)
		sec_free(p, CON_SECRET_MAX + 1);
}

cf_err con_pin_new(struct con *c, const char *what, char *pin, char *again)
{
	char prompt[64];
	cf_err rc;

	for (int tries = 0; tries < 3; tries++) {
		(void)snprintf(prompt, sizeof prompt, "New %s: ", what);
		if ((rc = con_read_secret(c, prompt, pin, CON_SECRET_MAX + 1, 0)) != CF_OK)
			return rc;
		if (strlen(pin) < CON_PIN_MIN || strlen(pin) > HSM_PIN_MAX) {
			con_printf(c, "the %s must have %u to %u characters; try again\n", what,
				   CON_PIN_MIN, HSM_PIN_MAX);
			continue;
		}
		(void)snprintf(prompt, sizeof prompt, "Repeat the %s: ", what);
		if ((rc = con_read_secret(c, prompt, again, CON_SECRET_MAX + 1, 0)) != CF_OK)
			return rc;
		if (strlen(pin) == strlen(again) && ct_memeq(pin, again, strlen(pin)))
			return CF_OK;
		con_printf(c, "the two entries differ; try again\n");
	}
	con_printf(c, "no %s chosen; nothing was changed\n", what);
	return CF_E_CANCELLED;
}

static void sys_kmip_addr(const struct con *c, uint16_t port, char *out, size_t cap)
{
	const char *a = c->svc->cfg->kmip.address;
	bool v6 = strchr(a, ':') != NULL;

	(void)snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", a, v6 ? "]" : "", (unsigned)port);
}

/* ---- init ------------------------------------------------------------------------------ */

/* Without [tls] server_names: the saved hostname and static address (`net hostname`, `net
 * set`) as server_names text. false when there is nothing to propose. */
static bool sys_init_names(struct con *c, char *out, size_t cap)
{
	struct board_net n;
	const char *why;

	out[0] = '\0';
	if (c->svc->cfg->tls.server_names[0] != '\0' ||
	    board_net_load(c->svc->cfg->dir, &n, &why) != CF_OK)
		return false;
	if (n.hostname[0] != '\0')
		(void)snprintf(out, cap, "%s", n.hostname);
	if (!n.dhcp)
		(void)snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? ", " : "",
			       n.address);
	return out[0] != '\0';
}

/* The proposal of sys_init_names, accepted or not: names stays the proposal or becomes "". */
static void sys_init_names_ask(struct con *c, char *names)
{
	char q[300];

	(void)snprintf(q, sizeof q, "Name the server certificate %s (the saved hostname and "
		       "address: net show)?", names);
	if (con_confirm(c, q))
		return;
	con_printf(c, "the server certificate names localhost, this host's name, 127.0.0.1 and "
		      "::1 instead\n");
	names[0] = '\0';
}

static void sys_init_explain(struct con *c, bool reinit, const char *label, const char *names)
{
	const struct config *cfg = c->svc->cfg;
	char port[24] = " (any free port)";

	if (c->svc->kmip_port != 0)
		(void)snprintf(port, sizeof port, ":%u", (unsigned)c->svc->kmip_port);

	con_printf(c,
		   "init sets this appliance up. It will:\n"
		   "  1. %s the HSM token \"%s\" (you choose its PINs now)\n"
		   "  2. create in the HSM: KEK 1, the CA key pair and the TLS server key pair\n"
		   "  3. issue the CA certificate (%s) and the server certificate (%s)\n"
		   "     for %s\n"
		   "  4. create the first console administrator: you (password and TOTP)\n"
		   "  5. serve KMIP on %s%s\n",
		   reinit ? "RE-INITIALISE (wipe)" : "initialise", label, cfg->tls.ca, cfg->tls.cert,
		   names[0] != '\0' ? names : cfg->tls.server_names[0] != '\0' ? cfg->tls.server_names
						    : "localhost, this host's name, 127.0.0.1 and ::1",
		   cfg->kmip.address, port);
	if (reinit)
		con_printf(c,
			   "The token already exists (this appliance was zeroized, or an earlier init\n"
			   "did not finish). Re-initialising it needs its CURRENT SO PIN, which stays\n"
			   "the SO PIN afterwards; the user PIN is chosen anew.\n");
	else
		con_printf(c, "Keep the SO PIN safe: it is needed to re-initialise the token.\n");
	con_printf(c, "HSM PINs have at least %u characters. Ctrl-C cancels.\n", CON_PIN_MIN);
}

/* After the token is set up: the first administrator (a few attempts). */
static cf_err sys_init_admin(struct con *c)
{
	char name[CON_USER_MAX + 2];
	cf_err rc = CF_E_CANCELLED;

	if (con_store(c) == NULL) {
		con_printf(c, "init: the store cannot be opened\n");
		return CF_E_STORE;
	}
	con_printf(c, "\nNow the first console administrator: the person typing.\n");
	for (int tries = 0; tries < SYS_ADMIN_TRIES; tries++) {
		rc = con_readline(c, "Administrator name: ", name, sizeof name, 0);
		if (rc == CF_E_TOO_LARGE)
			continue;
		if (rc != CF_OK)
			return rc;
		if (name[0] == '\0')
			continue;
		rc = con_user_create_interactive(c, name, true);
		if (rc == CF_OK || rc == CF_E_CANCELLED || rc == CF_E_CLOSED || rc == CF_E_TIMEOUT)
			return rc;
	}
	return rc;
}

/* The PINs of `init` (the buffers are sys_secret_new's): the current SO PIN of a token to
 * re-initialise, else a new one; a new user PIN, different from the SO PIN. */
static cf_err sys_init_pins(struct con *c, bool reinit, char *so, char *so2, char *user,
			    char *user2, struct svc_init_req *req)
{
	cf_err rc;

	memset(req, 0, sizeof *req);
	if (reinit) {
		if ((rc = con_read_secret(c, "Current HSM SO PIN: ", so, CON_SECRET_MAX + 1, 0)) != CF_OK)
			return rc;
		if (strlen(so) == 0 || strlen(so) > HSM_PIN_MAX) {
			con_printf(c, "init: no SO PIN given; nothing was changed\n");
			return CF_E_CANCELLED;
		}
		req->cur_so_pin = (const uint8_t *)so;
		req->cur_so_n = strlen(so);
	} else if ((rc = con_pin_new(c, "HSM SO PIN", so, so2)) != CF_OK) {
		return rc;
	}
	if ((rc = con_pin_new(c, "HSM user PIN", user, user2)) != CF_OK)
		return rc;
	if (!reinit && strlen(so) == strlen(user) && ct_memeq(so, user, strlen(so))) {
		con_printf(c, "init: the user PIN must differ from the SO PIN; nothing was changed\n");
		return CF_E_CANCELLED;
	}
	req->so_pin = (const uint8_t *)so;
	req->so_n = strlen(so);
	req->user_pin = (const uint8_t *)user;
	req->user_n = strlen(user);
	return CF_OK;
}

/* svc_init_token failed: say why. */
static void sys_init_token_failed(struct con *c, bool reinit, cf_err rc)
{
	if (rc == CF_E_HSM_PIN && reinit)
		con_printf(c, "init: the current SO PIN is wrong; the token was not changed\n");
	else if (rc == CF_E_HSM_LOCKED)
		con_printf(c, "init: the SO PIN is locked on the token; it must be reset with "
			      "the HSM's own tools\n");
	else
		con_printf(c, "init: failed (%s); see the service log. Run init again.\n",
			   cf_err_str(rc));
}

/* The appliance serves: where, and the fingerprints to compare; the audit record. */
static void sys_init_ready(struct con *c, const struct svc_init_result *res)
{
	struct svc_stats ss;
	char addr[96], detail[160];

	svc_stats_get(c->svc, &ss);
	sys_kmip_addr(c, ss.port, addr, sizeof addr);
	con_printf(c, "\nThe appliance is READY and serves KMIP on %s.\n"
		      "Server certificate SHA-256 fingerprint:\n  %s\n"
		      "CA certificate SHA-256 fingerprint:\n  %s\n"
		      "Compare them with what your KMIP clients show when they first connect.\n"
		      "Next: log in, issue client certificates (`client issue`) and export a backup.\n",
		   addr, res->server_fp, res->ca_fp);
	(void)snprintf(detail, sizeof detail, "server sha256 %.95s", res->server_fp);
	con_audit(c, "init", NULL, CF_OK, detail);
}

static cf_err sys_init(struct con *c, int argc, char **argv)
{
	struct svc *svc = c->svc;
	const char *label = c->svc->cfg->hsm.token;
	char *so = NULL, *so2 = NULL, *user = NULL, *user2 = NULL;
	struct svc_init_req req;
	struct svc_init_result res;
	char names[2 * BOARD_IP_MAX + BOARD_HOSTNAME_MAX];
	bool reinit = false, proposed;
	cf_err rc;

	(void)argc;
	(void)argv;
	if (sys_state(c) != SVC_UNINITIALIZED) {
		con_printf(c, "init: the appliance is already initialised (state %s); `init` only runs "
			      "on an UNINITIALIZED appliance (after `zeroize`)\n",
			   svc_state_name(sys_state(c)));
		return CF_E_STATE;
	}
	if ((rc = svc_token_probe(svc, &reinit)) != CF_OK) {
		con_printf(c, "init: the HSM (module %s) cannot be used: %s\n", svc->cfg->hsm.module,
			   cf_err_str(rc));
		return rc;
	}
	proposed = sys_init_names(c, names, sizeof names);
	sys_init_explain(c, reinit, label, names);
	if (proposed)
		sys_init_names_ask(c, names);
	if ((rc = sys_secret_new(&so)) != CF_OK || (rc = sys_secret_new(&so2)) != CF_OK ||
	    (rc = sys_secret_new(&user)) != CF_OK || (rc = sys_secret_new(&user2)) != CF_OK) {
		con_printf(c, "init: no locked memory for the PINs\n");
		goto out;
	}
	if ((rc = sys_init_pins(c, reinit, so, so2, user, user2, &req)) != CF_OK)
		goto out;
	req.server_names = names[0] != '\0' ? names : NULL;
	if (!con_confirm(c, reinit ? "Wipe and re-initialise the HSM token and create the keys now?"
				   : "Initialise the HSM token and create the keys now?")) {
		con_printf(c, "init: cancelled; nothing was changed\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	con_printf(c, "initialising the token and creating the keys (this takes a few seconds)...\n");
	if ((rc = svc_init_token(svc, &req, &res)) != CF_OK) {
		sys_init_token_failed(c, reinit, rc);
		goto out;
	}
	con_printf(c, "token \"%s\" initialised; KEK %u, the CA key pair and the TLS server key "
		      "pair are in the HSM\n", label, (unsigned)res.kek);
	con_printf(c, "CA certificate     %s\nserver certificate %s (%s)\n", svc->cfg->tls.ca,
		   svc->cfg->tls.cert, res.sans);

	if ((rc = sys_init_admin(c)) != CF_OK) {
		con_printf(c, "init: no administrator was created (%s); the appliance stays "
			      "UNINITIALIZED. Run init again (it re-initialises the token).\n",
			   cf_err_str(rc));
		goto out;
	}
	if ((rc = svc_start_serving(svc, user, strlen(user))) != CF_OK) {
		con_printf(c, "init: the appliance did not start serving (state %s%s%s)\n",
			   svc_state_name(sys_state(c)), svc->error[0] ? ": " : "", svc->error);
		goto out;
	}
	sys_init_ready(c, &res);
	rc = CF_OK;
out:
	sys_secret_free(so);
	sys_secret_free(so2);
	sys_secret_free(user);
	sys_secret_free(user2);
	return rc;
}

/* ---- unseal ---------------------------------------------------------------------------- */

static cf_err sys_unseal(struct con *c, int argc, char **argv)
{
	char *pin = NULL, addr[96];
	struct svc_stats ss;
	cf_err rc;

	(void)argc;
	(void)argv;
	if (sys_state(c) != SVC_SEALED) {
		con_printf(c, "unseal: the appliance is not SEALED (state %s)\n",
			   svc_state_name(sys_state(c)));
		return CF_E_STATE;
	}
	if ((rc = sys_secret_new(&pin)) != CF_OK) {
		con_printf(c, "unseal: no locked memory for the PIN\n");
		return rc;
	}
	if ((rc = con_read_secret(c, "HSM user PIN: ", pin, CON_SECRET_MAX + 1, 0)) != CF_OK)
		goto out;
	if (strlen(pin) == 0) {
		con_printf(c, "unseal: no PIN given; still SEALED\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	rc = svc_unseal(c->svc, pin, strlen(pin));
	if (rc == CF_E_HSM_PIN) {
		con_printf(c, "unseal: wrong PIN; the appliance stays SEALED\n");
		goto out;
	}
	if (rc == CF_E_NOT_FOUND) {
		con_printf(c, "unseal: the token holds no KEK: the appliance is UNINITIALIZED (run init)\n");
		goto out;
	}
	if (rc != CF_OK) {
		con_printf(c, "unseal: failed (state %s%s%s)\n", svc_state_name(sys_state(c)),
			   c->svc->error[0] ? ": " : "", c->svc->error);
		goto out;
	}
	svc_stats_get(c->svc, &ss);
	sys_kmip_addr(c, ss.port, addr, sizeof addr);
	con_printf(c, "unsealed: READY, serving KMIP on %s\n", addr);
out:
	sys_secret_free(pin);
	return rc;
}

/* ---- status ---------------------------------------------------------------------------- */

static void sys_time_text(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, cap, "-");
}

static int64_t sys_meta_int(struct store *st, const char *key, bool *present)
{
	char v[32];
	char *end;
	long long x;

	*present = false;
	if (st == NULL || store_meta_get(st, key, v, sizeof v) != CF_OK)
		return 0;
	x = strtoll(v, &end, 10);
	if (end == v)
		return 0;
	*present = true;
	return (int64_t)x;
}

static void sys_status_store(struct con *c, enum svc_state state, uint32_t kek_current)
{
	struct store *st;
	struct stat sb;
	uint64_t counts[7] = { 0 };
	struct store_client_list cl = { 0 };
	size_t admins = 0, clients = 0;
	int64_t last, last_kek;
	bool has_last, has_kek;
	char when[40];

	/* before `init` there may be no store: do not create one just to count nothing */
	st = stat(c->svc->store_path, &sb) == 0 ? con_store(c) : NULL;
	if (st == NULL) {
		con_printf(c, "store: none yet\n");
		return;
	}
	if (store_admin_counts(st, counts) == CF_OK)
		con_printf(c, "objects: %llu (pre-active %llu, active %llu, deactivated %llu, "
			      "compromised %llu, destroyed %llu, destroyed-compromised %llu)\n",
			   (unsigned long long)counts[0], (unsigned long long)counts[1],
			   (unsigned long long)counts[2], (unsigned long long)counts[3],
			   (unsigned long long)counts[4], (unsigned long long)counts[5],
			   (unsigned long long)counts[6]);
	else
		con_printf(c, "objects: unknown (store error)\n");
	if (store_client_list(st, &cl) == CF_OK) {
		for (size_t i = 0; i < cl.n; i++)
			if (strcmp(cl.v[i].role, STORE_CLIENT_ROLE_REVOKED) != 0)
				clients++;
		store_client_list_free(&cl);
	}
	con_printf(c, "clients: %zu (+ %zu in the config file)\n", clients, c->svc->cfg->n_clients);
	if (store_user_count(st, &admins) == CF_OK)
		con_printf(c, "administrators: %zu\n", admins);
	if (state == SVC_UNINITIALIZED)
		return;
	last = sys_meta_int(st, "backup.last", &has_last);
	last_kek = sys_meta_int(st, "backup.last_kek", &has_kek);
	if (has_last) {
		sys_time_text(last, when, sizeof when);
		if (has_kek)
			con_printf(c, "backup: last export %s (KEK %lld)\n", when, (long long)last_kek);
		else
			con_printf(c, "backup: last export %s\n", when);
	} else {
		con_printf(c, "backup: never\n");
		con_printf(c, "WARNING: no backup has been exported\n");
	}
	if (has_last && kek_current != 0 && (!has_kek || last_kek < (int64_t)kek_current))
		con_printf(c, "WARNING: the KEK was rotated after the last backup\n");
}

static cf_err sys_status(struct con *c, int argc, char **argv)
{
	struct svc *svc = c->svc;
	enum svc_state state = sys_state(c);
	struct svc_stats ss;
	int64_t st_time = atomic_load(&svc->selftest_time);
	uint32_t kek_current = 0;
	uint64_t restarts;
	char when[40], addr[96];

	(void)argc;
	(void)argv;
	con_printf(c, "state: %s\n", svc_state_name(state));
	if (state == SVC_ERROR && svc->error[0] != '\0')
		con_printf(c, "error: %s\n", svc->error);
	svc_stats_get(svc, &ss);
	sys_time_text(ss.started, when, sizeof when);
	con_printf(c, "started: %s (up %lld s)\n", when, (long long)(con_now(c) - ss.started));
	if (atomic_load(&svc->disk_full))
		con_printf(c, "data disk: FULL (KMIP requests that write answer Operation Failed)\n");
	if (board_restarts(svc->cfg->dir, &restarts))
		con_printf(c, "restarts: %llu (coffred restarted by init after a crash or an "
			      "unexpected exit)\n", (unsigned long long)restarts);
	if (board_sandbox_active() != 0)
		con_printf(c, "sandbox: seccomp active (%u system calls allowed)\n",
			   board_sandbox_active());
	else
		con_printf(c, "sandbox: OFF ([service] sandbox = off)\n");
	if (st_time == 0) {
		con_printf(c, "selftest: not run\n");
	} else {
		int failed = atomic_load(&svc->selftest_failed);

		sys_time_text(st_time, when, sizeof when);
		if (failed == HSM_ST_NONE && atomic_load(&svc->selftest_rc) == CF_OK)
			con_printf(c, "selftest: passed (%d tests, %s)\n", HSM_ST_COUNT_ - 1, when);
		else if (failed != HSM_ST_NONE)
			con_printf(c, "selftest: FAILED %s (%s)\n",
				   hsm_selftest_name((enum hsm_selftest_id)failed), when);
		else
			con_printf(c, "selftest: FAILED to run: %s (%s)\n",
				   cf_err_str((cf_err)atomic_load(&svc->selftest_rc)), when);
	}
	if (svc->hsm != NULL) {
		struct hsm_stats hs;

		hsm_stats_get(svc->hsm, &hs);
		kek_current = hs.kek_current;
		con_printf(c, "hsm: token %s, %s, %u sessions\n", svc->cfg->hsm.token,
			   hsm_pin_held(svc->hsm) ? "logged in" : "not logged in", hs.sessions_open);
		if (hsm_pin_held(svc->hsm))
			con_printf(c, "kek: current %u (%u on the token)\n", (unsigned)hs.kek_current,
				   hs.kek_count);
	} else {
		con_printf(c, "hsm: token %s, not open\n", svc->cfg->hsm.token);
	}
	if (svc->kekjob != NULL) {
		struct kek_job_status ks;

		kek_job_status(svc->kekjob, &ks);
		if (ks.running || ks.remaining > 0)
			con_printf(c, "kek job: re-wrapping to KEK %u: %llu remaining, %llu done\n",
				   (unsigned)ks.current, (unsigned long long)ks.remaining,
				   (unsigned long long)ks.done);
		else
			con_printf(c, "kek job: idle (%llu re-wrapped since start)\n",
				   (unsigned long long)ks.done);
		if (ks.last_error != CF_OK)
			con_printf(c, "kek job error: %s (retried)\n", cf_err_str(ks.last_error));
	}
	if (ss.port != 0) {
		sys_kmip_addr(c, ss.port, addr, sizeof addr);
		con_printf(c, "kmip: %s, %u open connections, %llu requests\n", addr, ss.connections,
			   (unsigned long long)ss.requests);
		con_printf(c, "kmip handshakes: %llu completed, %llu failed or timed out\n",
			   (unsigned long long)ss.handshakes_ok,
			   (unsigned long long)ss.handshakes_failed);
		con_printf(c, "kmip refused_source: %llu (outside [kmip] allow)\n",
			   (unsigned long long)ss.refused_source);
		con_printf(c, "kmip fair share: refused_busy_source %llu, refused_rate %llu, "
			   "refused_handshaking %llu\n", (unsigned long long)ss.refused_busy_source,
			   (unsigned long long)ss.refused_rate,
			   (unsigned long long)ss.refused_handshaking);
	} else {
		con_printf(c, "kmip: not serving\n");
	}
	sys_status_store(c, state, kek_current);
	return CF_OK;
}

/* ---- selftest -------------------------------------------------------------------------- */

static cf_err sys_selftest(struct con *c, int argc, char **argv)
{
	enum hsm_selftest_id failed = HSM_ST_NONE;
	cf_err rc;

	(void)argc;
	(void)argv;
	rc = svc_selftest(c->svc, &failed);
	if (rc == CF_E_STATE) {
		con_printf(c, "selftest: the HSM is not logged in (state %s)\n",
			   svc_state_name(sys_state(c)));
		return rc;
	}
	for (int id = 1; id < HSM_ST_COUNT_; id++) {
		const char *r = rc == CF_OK || (failed != HSM_ST_NONE && id < (int)failed) ? "passed"
				: id == (int)failed ? "FAILED" : "not run";

		con_printf(c, "selftest %s: %s\n", hsm_selftest_name((enum hsm_selftest_id)id), r);
	}
	if (rc == CF_OK) {
		con_printf(c, "selftest: passed\n");
	} else {
		con_printf(c, "selftest: FAILED (%s)%s\n", cf_err_str(rc),
			   sys_state(c) == SVC_ERROR ? "; the appliance is in ERROR" : "");
	}
	return rc;
}

/* ---- zeroize --------------------------------------------------------------------------- */

static cf_err sys_zeroize(struct con *c, int argc, char **argv)
{
	char word[32], actor[CON_USER_MAX + 16];
	enum svc_state st = sys_state(c);
	cf_err rc;

	(void)argc;
	(void)argv;
	if ((st != SVC_READY && st != SVC_ERROR) || c->svc->hsm == NULL || !hsm_pin_held(c->svc->hsm)) {
		con_printf(c, "zeroize: the HSM is not logged in (state %s); nothing was changed\n",
			   svc_state_name(st));
		return CF_E_STATE;
	}
	con_printf(c, "zeroize DESTROYS, with no way back except a backup:\n"
		      "  - every object on the HSM token (every KEK, the CA and TLS server keys)\n"
		      "  - the store: every key, client, administrator account and the audit chain\n"
		      "  - the CA and server certificates\n"
		      "KMIP stops now; the appliance becomes UNINITIALIZED (then `init`).\n");
	if (!con_confirm(c, "Destroy every key on this appliance?")) {
		con_printf(c, "zeroize: cancelled\n");
		return CF_E_CANCELLED;
	}
	rc = con_readline(c, "Type " SYS_ZEROIZE_WORD " to confirm: ", word, sizeof word, 0);
	if (rc != CF_OK || strcmp(word, SYS_ZEROIZE_WORD) != 0) {
		con_printf(c, "zeroize: cancelled\n");
		return CF_E_CANCELLED;
	}
	(void)snprintf(actor, sizeof actor, "console:%s", c->user[0] ? c->user : "?");
	con_store_close(c); /* the store file is about to be deleted */
	rc = svc_zeroize_as(c->svc, actor);
	if (rc == CF_OK) {
		con_printf(c, "zeroized: the token is empty, the store and certificates are deleted; "
			      "state UNINITIALIZED\n");
	} else if (sys_state(c) == SVC_UNINITIALIZED) {
		con_printf(c, "zeroized, but some files could not be deleted (%s): see the service log\n",
			   cf_err_str(rc));
	} else {
		con_printf(c, "zeroize: FAILED (%s)%s%s\n", cf_err_str(rc), c->svc->error[0] ? ": " : "",
			   c->svc->error);
	}
	/* the shell ends the session when it sees UNINITIALIZED: the accounts are gone */
	return rc;
}

#ifdef COFFRE_IMAGE_TEST_HOOKS
/* Test builds only (make image IMAGE_TEST_HOOKS=1): faults for tests/image/test_image.py. */
static cf_err sys_test_hang(struct con *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	atomic_store(&c->svc->test_hang, true);
	con_printf(c, "test hang: the next KMIP request stops its worker\n");
	return CF_OK;
}

#define SYS_TEST_FILLER "test-filler"

/* Fill the data directory's filesystem: a file written until ENOSPC, then fsync'd. */
static cf_err sys_test_fill(struct con *c, int argc, char **argv)
{
	static const char chunk[65536];
	char path[600];
	long long n = 0;
	int fd;

	(void)argc;
	(void)argv;
	(void)snprintf(path, sizeof path, "%s/%s", c->svc->board.data_dir, SYS_TEST_FILLER);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		con_printf(c, "test fill: %s: %s\n", path, strerror(errno));
		return CF_E_IO;
	}
	for (;;) {
		ssize_t w = write(fd, chunk, sizeof chunk);

		if (w <= 0)
			break;
		n += w;
	}
	(void)fsync(fd);
	(void)close(fd);
	con_printf(c, "test fill: %lld bytes written to %s\n", n, path);
	return CF_OK;
}

static cf_err sys_test_unfill(struct con *c, int argc, char **argv)
{
	char path[600];

	(void)argc;
	(void)argv;
	(void)snprintf(path, sizeof path, "%s/%s", c->svc->board.data_dir, SYS_TEST_FILLER);
	(void)unlink(path);
	con_printf(c, "test unfill: %s removed\n", path);
	return CF_OK;
}

static cf_err sys_test_rss(struct con *c, int argc, char **argv)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	(void)argc;
	(void)argv;
	if (f == NULL)
		return CF_E_IO;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			con_printf(c, "test rss: %s", line);
	}
	(void)fclose(f);
	return CF_OK;
}
#endif

/* ---- the table ------------------------------------------------------------------------- */

const struct con_cmd con_cmds_sys[] = {
	{ "init", 0, 0, CON_F_UNINIT, "init",
	  "Set up a new (or zeroized) appliance: initialise the HSM token with an SO PIN and a\n"
	  "user PIN typed now, create KEK 1, the CA and the TLS server key pairs in the HSM,\n"
	  "issue the CA and server certificates, create the first administrator (you: name,\n"
	  "password, TOTP), then serve KMIP and print the server certificate's fingerprint.\n"
	  "UNINITIALIZED only; after a zeroize it asks for the token's current SO PIN.",
	  sys_init },
	{ "unseal", 0, 0, CON_F_SEALED, "unseal",
	  "Type the HSM user PIN to start serving (appliances without a PIN file start SEALED).\n"
	  "A wrong PIN leaves the appliance SEALED.",
	  sys_unseal },
	{ "status", 0, 0, CON_F_UNINIT | CON_F_SEALED | CON_F_AUTH, "status",
	  "The appliance state (and why, in ERROR), self-test results, the HSM token, KEK\n"
	  "versions and re-wrap progress, object counts by state, clients, administrators, KMIP\n"
	  "connections and the last backup, with WARNING lines for what needs attention.",
	  sys_status },
	{ "selftest", 0, 0, CON_F_AUTH | CON_F_HSM, "selftest",
	  "Run the power-up self-tests now and print each result. A failure while READY puts\n"
	  "the appliance in ERROR (KMIP answers Operation Failed).",
	  sys_selftest },
	{ "zeroize", 0, 0, CON_F_AUTH | CON_F_HSM | CON_F_DUAL, "zeroize",
	  "Destroy every key: every object on the HSM token, the store (keys, clients, accounts,\n"
	  "audit) and the certificates. Asks twice (type ZEROIZE). The appliance becomes\n"
	  "UNINITIALIZED; one audit record of the zeroize is kept. May need a second\n"
	  "administrator ([console] dual_control).",
	  sys_zeroize },
#ifdef COFFRE_IMAGE_TEST_HOOKS
	{ "test hang", 0, 0, CON_F_AUTH, "test hang",
	  "Test builds only: the next KMIP request hangs its worker.",
	  sys_test_hang },
	{ "test fill", 0, 0, CON_F_AUTH, "test fill", "Test builds only: fill the data disk.",
	  sys_test_fill },
	{ "test unfill", 0, 0, CON_F_AUTH, "test unfill", "Test builds only: free the data disk.",
	  sys_test_unfill },
	{ "test rss", 0, 0, CON_F_UNINIT | CON_F_SEALED | CON_F_AUTH, "test rss",
	  "Test builds only: coffred's VmRSS.", sys_test_rss },
#endif
	{ 0 },
};
