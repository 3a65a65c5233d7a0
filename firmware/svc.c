/* coffred's boot sequence and states (ARCHITECTURE "Process shape").
 *
 *   sec_harden_process (no core dumps, before anything secret is read)
 *   -> config_load -> board_init(data_dir) -> console (optional)
 *   -> hsm_open -> login with [hsm] pin_file (absent: SEALED)
 *   -> power-up self-tests on a pooled session (they need a logged-in session)
 *   -> store_open + store_check (PRAGMA quick_check)
 *   -> a current KEK? (none: UNINITIALIZED) -> TLS context + KMIP workers -> READY
 *
 * A failure after the config is loaded latches ERROR: the reason goes to stderr, the console
 * and DIR/state/error.log, KMIP is not served, and the process waits for SIGTERM (exit 3).
 * A config that does not load is an immediate exit 1 (the loader printed FILE:LINE).
 * SIGTERM / SIGINT set one volatile sig_atomic_t flag; the main thread sleeps in ppoll with
 * the signals unblocked only there (worker threads inherit a mask that blocks them), then
 * stops the workers with net_server_stop and releases everything in reverse order. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/audit.h"
#include "firmware/coffred.h"
#include "firmware/net.h"
#include "firmware/ops.h"
#include "firmware/store.h"
#include "firmware/tls.h"

/* The one mutable global STYLE 2.7 allows: the signal flag. */
static volatile sig_atomic_t svc_stop_flag;

static void svc_on_signal(int sig)
{
	(void)sig;
	svc_stop_flag = 1;
}

const char *svc_state_name(enum svc_state s)
{
	switch (s) {
	case SVC_UNINITIALIZED: return "UNINITIALIZED";
	case SVC_SEALED: return "SEALED";
	case SVC_READY: return "READY";
	case SVC_ERROR: return "ERROR";
	}
	return "?";
}

static int64_t svc_clock(void *arg)
{
	(void)arg;
	return (int64_t)time(NULL);
}

/* Everything the running service holds, released by svc_teardown. */
struct svc_rt {
	struct svc svc;
	bool board_ok;
	struct board_console con;
	bool con_ok;
	struct store *st;          /* the main thread's own connection (audit of state changes) */
	struct tls_ctx *tls;
	struct net_server *net;
	uint8_t *pin;              /* sec_alloc, pin_cap bytes */
	size_t pin_cap, pin_n;
};

static void svc_console_print(struct svc_rt *rt, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void svc_console_print(struct svc_rt *rt, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (!rt->con_ok)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = (int)sizeof line - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(rt->con.fd_out, line + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (int)w;
	}
}

static void svc_audit_state(struct svc_rt *rt, const char *what, cf_err result, const char *detail)
{
	struct audit_record r = {
		.time = svc_clock(NULL), .actor = "coffred", .source = "local",
		.operation = what, .uid = NULL, .result = result, .detail = detail,
	};

	if (rt->st == NULL)
		return;
	if (audit_append(rt->st, &r, NULL) != CF_OK)
		log_warn("svc: could not audit %s", what);
}

static void svc_state_set(struct svc_rt *rt, enum svc_state s)
{
	atomic_store(&rt->svc.state, (int)s);
	log_info("svc: state %s", svc_state_name(s));
	svc_console_print(rt, "coffre: state %s\r\n", svc_state_name(s));
}

/* Latch ERROR with a reason (no secrets): stderr, console, persistent error log. */
static void svc_error_latch(struct svc_rt *rt, cf_err rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void svc_error_latch(struct svc_rt *rt, cf_err rc, const char *fmt, ...)
{
	char why[200];
	va_list ap;
	char path[PATH_MAX];
	const struct config *cfg = rt->svc.cfg;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	(void)snprintf(rt->svc.error, sizeof rt->svc.error, "%s: %s", why, cf_err_str(rc));
	atomic_store(&rt->svc.state, (int)SVC_ERROR);
	fprintf(stderr, "coffred: ERROR: %s\n", rt->svc.error);
	svc_console_print(rt, "coffre: state ERROR: %s\r\n", rt->svc.error);
	svc_audit_state(rt, "state:ERROR", rc, why);
	if (cfg != NULL) {
		const char *dir = cfg->service.state[0] != '\0' ? cfg->service.state : cfg->service.data_dir;
		int fd;

		if (snprintf(path, sizeof path, "%s/error.log", dir) < (int)sizeof path &&
		    (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0) {
			char line[400];
			int n = snprintf(line, sizeof line, "%lld ERROR %s\n", (long long)svc_clock(NULL),
					 rt->svc.error);

			if (n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) < 0)
				log_warn("svc: cannot append to %s", path);
			(void)fsync(fd);
			close(fd);
		}
	}
}

/* Read the user PIN from [hsm] pin_file into locked memory (trailing newline stripped). The
 * config loader already checked type, owner and mode; O_NOFOLLOW re-checks the symlink. */
static cf_err svc_pin_read(struct svc_rt *rt, const char *path)
{
	cf_err rc = CF_E_INTERNAL;
	int fd = -1;
	struct stat sb;
	ssize_t got;

	rt->pin_cap = HSM_PIN_MAX + 2;
	if ((rc = sec_alloc(rt->pin_cap, (void **)&rt->pin)) != CF_OK) {
		rt->pin_cap = 0;
		return rc;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		log_err("svc: cannot use pin_file %s", path);
		rc = CF_E_PERM_FILE;
		goto out;
	}
	do {
		got = read(fd, rt->pin, rt->pin_cap);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		rc = CF_E_IO;
		goto out;
	}
	rt->pin_n = (size_t)got;
	while (rt->pin_n > 0 && (rt->pin[rt->pin_n - 1] == '\n' || rt->pin[rt->pin_n - 1] == '\r'))
		rt->pin_n--;
	if (rt->pin_n == 0 || rt->pin_n > HSM_PIN_MAX) {
		log_err("svc: pin_file %s is empty or longer than %u bytes", path, HSM_PIN_MAX);
		rc = CF_E_CONFIG;
		goto out;
	}
	rc = CF_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != CF_OK) {
		sec_free(rt->pin, rt->pin_cap);
		rt->pin = NULL;
		rt->pin_cap = rt->pin_n = 0;
	}
	return rc;
}

static void svc_pin_wipe(struct svc_rt *rt)
{
	if (rt->pin != NULL)
		sec_free(rt->pin, rt->pin_cap);
	rt->pin = NULL;
	rt->pin_cap = rt->pin_n = 0;
}

/* ---- KMIP handler glue (net -> ops) --------------------------------------------------- */

static void *svc_worker_new(void *arg, unsigned worker)
{
	struct ops_worker *w = NULL;
	cf_err rc = ops_worker_new(arg, worker, &w);

	if (rc != CF_OK) {
		log_err_r(rc, "svc: KMIP worker %u could not start", worker);
		return NULL;
	}
	return w;
}

static void svc_worker_free(void *worker_arg)
{
	ops_worker_free(worker_arg);
}

static cf_err svc_handle(void *arg, struct net_conn_info *ci, const uint8_t *req, size_t n,
			 uint8_t *resp, size_t cap, size_t *resp_len)
{
	return ops_handle(arg, ci, req, n, resp, cap, resp_len);
}

/* ---- boot steps ------------------------------------------------------------------------ */

/* QA instances keep their SoftHSMv2 config next to coffred.conf: use it unless the caller
 * already chose one. */
static void svc_softhsm_conf(const struct config *cfg)
{
	char path[PATH_MAX];
	struct stat sb;

	if (getenv("SOFTHSM2_CONF") != NULL)
		return;
	if (snprintf(path, sizeof path, "%s/softhsm2.conf", cfg->dir) >= (int)sizeof path)
		return;
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if (setenv("SOFTHSM2_CONF", path, 0) == 0)
			log_info("svc: SOFTHSM2_CONF=%s", path);
	}
}

#ifdef COFFRE_TEST_HOOKS
/* COFFRE_TEST_SELFTEST_FAIL=<name or number>: corrupt that self-test's expected vector. */
static void svc_test_hooks(hsm *h)
{
	const char *v = getenv("COFFRE_TEST_SELFTEST_FAIL");

	if (v == NULL || v[0] == '\0')
		return;
	for (int id = 1; id < HSM_ST_COUNT_; id++) {
		if (strcmp(v, hsm_selftest_name((enum hsm_selftest_id)id)) == 0 || atoi(v) == id) {
			log_warn("svc: test hook: self-test %s will fail", hsm_selftest_name((enum hsm_selftest_id)id));
			hsm_test_selftest_corrupt(h, (enum hsm_selftest_id)id);
		}
	}
}
#endif

/* HSM up to the self-tests. Returns the state to enter (SEALED / READY candidate) or latches
 * ERROR itself (returns SVC_ERROR). */
static enum svc_state svc_boot_hsm(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	struct hsm_config hc = {
		.module_path = cfg->hsm.module, .token = cfg->hsm.token,
		.timeout_ms = cfg->hsm.timeout_ms,
	};
	hsm_sess *s = NULL;
	enum hsm_selftest_id failed = HSM_ST_NONE;
	cf_err rc;

	if (cfg->hsm.module[0] == '\0' || cfg->hsm.token[0] == '\0') {
		svc_error_latch(rt, CF_E_CONFIG, "[hsm] module and token are required (%s)", cfg->path);
		return SVC_ERROR;
	}
	svc_softhsm_conf(cfg);
	if ((rc = hsm_open(&hc, &rt->svc.hsm)) != CF_OK) {
		svc_error_latch(rt, rc, "HSM module %s, token %s unavailable", cfg->hsm.module,
				cfg->hsm.token);
		return SVC_ERROR;
	}
#ifdef COFFRE_TEST_HOOKS
	svc_test_hooks(rt->svc.hsm);
#endif
	if (cfg->hsm.pin_file[0] == '\0')
		return SVC_SEALED;
	if ((rc = svc_pin_read(rt, cfg->hsm.pin_file)) != CF_OK) {
		svc_error_latch(rt, rc, "cannot read the HSM PIN from %s", cfg->hsm.pin_file);
		return SVC_ERROR;
	}
	if ((rc = hsm_login(rt->svc.hsm, rt->pin, rt->pin_n)) != CF_OK) {
		svc_error_latch(rt, rc, "HSM login with %s failed", cfg->hsm.pin_file);
		return SVC_ERROR;
	}
	if ((rc = hsm_session_acquire(rt->svc.hsm, 5000, &s)) != CF_OK) {
		svc_error_latch(rt, rc, "no HSM session for the self-tests");
		return SVC_ERROR;
	}
	rc = hsm_selftest_run(s, &failed);
	hsm_session_release(s);
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "power-up self-test %s failed; KMIP refused",
				failed != HSM_ST_NONE ? hsm_selftest_name(failed) : "(setup)");
		return SVC_ERROR;
	}
	log_info("svc: power-up self-tests passed");
	return SVC_READY;
}

static enum svc_state svc_boot_store(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	struct store_opts so = { .busy_timeout_ms = cfg->store.busy_timeout_ms,
				 .audit_syslog = cfg->audit.syslog };
	cf_err rc;

	if (snprintf(rt->svc.store_path, sizeof rt->svc.store_path, "%s/store.db",
		     cfg->service.data_dir) >= (int)sizeof rt->svc.store_path) {
		svc_error_latch(rt, CF_E_CONFIG, "data_dir path too long");
		return SVC_ERROR;
	}
	if (cfg->audit.syslog)
		audit_syslog_open();
	if ((rc = store_open(rt->svc.store_path, &so, &rt->st)) != CF_OK) {
		svc_error_latch(rt, rc, "store %s cannot be opened", rt->svc.store_path);
		return SVC_ERROR;
	}
	if ((rc = store_check(rt->st)) != CF_OK) {
		svc_error_latch(rt, rc, "store %s failed its integrity check", rt->svc.store_path);
		return SVC_ERROR;
	}
	return SVC_READY;
}

static enum svc_state svc_boot_kmip(struct svc_rt *rt, const struct svc_run_opts *o)
{
	const struct config *cfg = rt->svc.cfg;
	const char *pins[CONFIG_PINNED_MAX];
	struct tls_config tc = { 0 };
	struct net_config nc = { 0 };
	struct net_handler nh = { 0 };
	bool v6;
	cf_err rc;

	for (size_t i = 0; i < cfg->tls.n_pinned && i < CONFIG_PINNED_MAX; i++)
		pins[i] = cfg->tls.pinned[i];
	tc.cert_file = cfg->tls.cert;
	if (cfg->tls.key_is_pkcs11) {
		tc.key_uri = cfg->tls.key;
		tc.engine_module = cfg->hsm.module;
		tc.pin = rt->pin;
		tc.pin_len = rt->pin_n;
	} else {
		tc.key_file = cfg->tls.key;
	}
	tc.ca_file = cfg->tls.ca[0] != '\0' ? cfg->tls.ca : NULL;
	tc.ciphers = cfg->tls.ciphers[0] != '\0' ? cfg->tls.ciphers : NULL;
	tc.ciphersuites = cfg->tls.ciphersuites[0] != '\0' ? cfg->tls.ciphersuites : NULL;
	tc.min_version = cfg->tls.min_version == CONFIG_TLS_1_3 ? TLS_V1_3 : TLS_V1_2;
	tc.pinned = pins;
	tc.n_pinned = cfg->tls.n_pinned;
	rc = tls_ctx_new(&tc, &rt->tls);
	/* The engine keeps what it needs; our copy of the PIN goes now. */
	svc_pin_wipe(rt);
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "TLS server context (cert %s, key %s) failed", cfg->tls.cert,
				cfg->tls.key);
		return SVC_ERROR;
	}

	nc.address = cfg->kmip.address;
	nc.port = o->port_override ? o->port : cfg->kmip.port;
	nc.workers = cfg->kmip.workers;
	nc.max_message = cfg->kmip.max_message;
	nc.handshake_timeout_ms = cfg->kmip.handshake_timeout_s * 1000u;
	nc.read_timeout_ms = cfg->kmip.read_timeout_s * 1000u;
	nc.idle_timeout_ms = cfg->kmip.idle_timeout_s * 1000u;
	nh.handle = svc_handle;
	nh.worker_new = svc_worker_new;
	nh.worker_free = svc_worker_free;
	nh.arg = &rt->svc;
	if ((rc = net_server_new(&nc, rt->tls, &nh, &rt->net)) != CF_OK) {
		svc_error_latch(rt, rc, "cannot listen on %s:%u", cfg->kmip.address, nc.port);
		return SVC_ERROR;
	}
	if ((rc = net_server_start(rt->net)) != CF_OK) {
		svc_error_latch(rt, rc, "KMIP workers failed to start");
		return SVC_ERROR;
	}
	v6 = strchr(cfg->kmip.address, ':') != NULL;
	svc_state_set(rt, SVC_READY);
	svc_audit_state(rt, "state:READY", CF_OK, NULL);
	fprintf(stderr, "coffred: ready kmip=%s%s%s:%u\n", v6 ? "[" : "", cfg->kmip.address,
		v6 ? "]" : "", (unsigned)net_server_port(rt->net));
	fflush(stderr);
	return SVC_READY;
}

static void svc_teardown(struct svc_rt *rt)
{
	if (rt->net != NULL)
		net_server_stop(rt->net);
	net_server_free(rt->net);
	rt->net = NULL;
	tls_ctx_free(rt->tls);
	rt->tls = NULL;
	store_close(rt->st);
	rt->st = NULL;
	svc_pin_wipe(rt);
	hsm_close(rt->svc.hsm);
	rt->svc.hsm = NULL;
	if (rt->con_ok)
		board_console_close(&rt->con);
	rt->con_ok = false;
	if (rt->board_ok)
		board_free(&rt->svc.board);
	rt->board_ok = false;
	config_free(rt->svc.cfg);
	rt->svc.cfg = NULL;
}

static cf_err svc_signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = svc_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return CF_E_INTERNAL;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return CF_E_INTERNAL;
	/* Block them everywhere (threads started later inherit this mask); the main thread
	 * unblocks them only inside ppoll, so the flag cannot be missed. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &block, wait_mask) != 0)
		return CF_E_INTERNAL;
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	return CF_OK;
}

int svc_run(const struct svc_run_opts *o)
{
	struct svc_rt *rt;
	struct config_diag diag;
	sigset_t wait_mask;
	enum svc_state st;
	int ret = COFFRED_EXIT_FAIL;
	cf_err rc;

	rt = calloc(1, sizeof *rt);
	if (rt == NULL) {
		fprintf(stderr, "coffred: out of memory\n");
		return COFFRED_EXIT_FAIL;
	}
	rt->svc.now = svc_clock;
	rt->svc.vendor_id = COFFRED_VENDOR;
	atomic_store(&rt->svc.state, (int)SVC_UNINITIALIZED);

	if ((rc = sec_harden_process()) != CF_OK) {
		fprintf(stderr, "coffred: cannot disable core dumps: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = svc_signals_setup(&wait_mask)) != CF_OK) {
		fprintf(stderr, "coffred: cannot install signal handlers\n");
		goto out;
	}
	memset(&diag, 0, sizeof diag);
	if ((rc = config_load(o->config_path, &rt->svc.cfg, &diag)) != CF_OK) {
		if (diag.line > 0)
			fprintf(stderr, "coffred: %s:%d: %s\n", diag.file, diag.line, diag.msg);
		else if (diag.msg[0] != '\0')
			fprintf(stderr, "coffred: %s: %s\n", diag.file[0] ? diag.file : o->config_path,
				diag.msg);
		else
			fprintf(stderr, "coffred: %s: %s\n", o->config_path, cf_err_str(rc));
		goto out;
	}
	rt->svc.limits = KMIP_LIMITS_DEFAULT;
	rt->svc.limits.max_message = rt->svc.cfg->kmip.max_message;
	if ((rc = board_init(&rt->svc.board, rt->svc.cfg->service.data_dir)) != CF_OK) {
		fprintf(stderr, "coffred: board init (data_dir %s) failed: %s\n",
			rt->svc.cfg->service.data_dir, cf_err_str(rc));
		goto out;
	}
	rt->board_ok = true;
	if (o->console) {
		if ((rc = board_console_open(&rt->svc.board, o->console_kind, o->console_path,
					     &rt->con)) != CF_OK) {
			fprintf(stderr, "coffred: cannot open the console: %s\n", cf_err_str(rc));
			goto out;
		}
		rt->con_ok = true;
		if (o->console_kind == BOARD_CONSOLE_PTY)
			fprintf(stderr, "coffred: console pty=%s\n", rt->con.path);
		svc_console_print(rt, "coffre: console not implemented yet (state and errors only)\r\n");
	}

	st = svc_boot_hsm(rt);
	if (st == SVC_READY)
		st = svc_boot_store(rt);
	if (st == SVC_READY && hsm_kek_current(rt->svc.hsm) == 0) {
		st = SVC_UNINITIALIZED;
		fprintf(stderr, "coffred: UNINITIALIZED: no KEK on the token; KMIP refused\n");
	}
	if (st == SVC_READY)
		st = svc_boot_kmip(rt, o);
	svc_pin_wipe(rt);
	if (st == SVC_SEALED) {
		svc_state_set(rt, SVC_SEALED);
		fprintf(stderr, "coffred: SEALED: no [hsm] pin_file; KMIP refused until unsealed at the console\n");
	} else if (st == SVC_UNINITIALIZED) {
		svc_state_set(rt, SVC_UNINITIALIZED);
	}
	fflush(stderr);

	while (!svc_stop_flag) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };

		(void)ppoll(NULL, 0, &ts, &wait_mask);
		board_watchdog_kick(&rt->svc.board);
	}
	log_info("svc: stopping (state %s)", svc_state_name((enum svc_state)atomic_load(&rt->svc.state)));
	ret = atomic_load(&rt->svc.state) == SVC_ERROR ? COFFRED_EXIT_ERROR_STATE : COFFRED_EXIT_OK;
	if (rt->net != NULL) {
		net_server_stop(rt->net);
		net_server_join(rt->net);
		svc_audit_state(rt, "state:STOPPED", CF_OK, NULL);
	}
out:
	svc_teardown(rt);
	free(rt);
	if (ret == COFFRED_EXIT_OK)
		fprintf(stderr, "coffred: stopped\n");
	return ret;
}
