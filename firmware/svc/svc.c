/* coffred's boot sequence and states (docs/architecture.md "Process shape"; docs/console/ceremony.md).
 *
 *   (main.c: sec_harden_process, no core dumps, before anything secret is read; signals)
 *   svc_open: config_load -> [service] user (a root start becomes it) -> board_init(data_dir)
 *   (main.c: the NTP thread, the console's TTY opened)
 *   svc_boot: the sandbox on every thread (board_sandbox_enter; docs/security.md "Sandbox")
 *   -> hsm_open: no initialised token with the configured label: UNINITIALIZED
 *   -> login with [hsm] pin_file; without one: SEALED (the console's `unseal` types the PIN),
 *      or UNINITIALIZED when the store says the appliance was zeroized / never initialised
 *   -> power-up self-tests on a pooled session (they need a logged-in session)
 *   -> store_open + store_check (PRAGMA quick_check)
 *   -> a current KEK? (none: UNINITIALIZED) -> TLS context + KMIP workers + KEK job -> READY
 *   -> (main.c: the console thread, once the state is decided)
 *
 * UNINITIALIZED and SEALED are not errors: the console runs `init` (svc_init_token, then
 * svc_start_serving) or `unseal` (svc_unseal), which continue the same boot from the console
 * thread. `zeroize` (svc_zeroize_as) goes back to UNINITIALIZED. Those control calls and the boot
 * itself hold rt->ctl, so state changes never interleave.
 *
 * A failure after the config is loaded latches ERROR: the reason goes to stderr, the console
 * (through the notify hook) and DIR/state/error.log, KMIP is not served, and the process waits
 * for SIGTERM (exit 3). A config that does not load is an immediate exit 1 (the loader printed
 * FILE:LINE).
 *
 * The process around it is firmware/main.c's (svc/run.h): signals, the console thread, the
 * wait for the stop signal and the restart after a zeroize. The service never calls the
 * console: it announces its state changes through the hook main.c registers (svc_set_notify),
 * always with rt->ctl held. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


#include "board/board.h"
#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/audit.h"
#include "firmware/ops/authz.h"
#include "firmware/pki/appliance.h"
#include "firmware/svc/run.h"
#include "firmware/svc/svc.h"
#include "firmware/svc/auditfwd.h"
#include "firmware/svc/kekjob.h"
#include "firmware/net/net.h"
#include "firmware/ops/ops.h"
#include "firmware/store/store.h"
#include "firmware/net/tls.h"

/* store meta "appliance.state": "uninitialized" from the start of `init` (and after a
 * zeroize) until the appliance first serves, then "initialized". Without a pin_file it tells
 * SEALED (initialised token, waiting for its PIN) from UNINITIALIZED (a token left over from
 * a zeroize or an interrupted `init`: `init` re-initialises it). */
#define SVC_META_STATE "appliance.state"
#define SVC_META_INITIALIZED "appliance.initialized"

#define SVC_VENDOR "Coffre KMIP appliance"

/* A notice longer than this is cut (the console keeps 256 bytes of it anyway). */
#define SVC_NOTE_MAX 320

static int64_t svc_clock(void *arg)
{
	(void)arg;
	return (int64_t)time(NULL);
}

#ifdef COFFRE_TEST_HOOKS
/* COFFRE_TEST_CLOCK=FILE: the clock runs FILE's integer seconds ahead (re-read at every call,
 * so a test can jump forward while the service runs, e.g. past a dual-control expiry). */
static int64_t svc_test_clock(void *arg)
{
	const char *path = arg;
	char buf[32];
	long long off = 0;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	if (n > 0) {
		buf[n] = '\0';
		off = strtoll(buf, NULL, 10);
	}
	return (int64_t)time(NULL) + (int64_t)off;
}
#endif

/* Everything the running service holds, released by svc_teardown. */
struct svc_rt {
	struct svc svc;            /* first: the control API gets &rt->svc back (svc_rt_of) */
	struct svc_run_opts opts;
	pthread_mutex_t ctl;       /* boot steps, init, unseal, zeroize, self-tests, stats */
	int64_t started;
	bool board_ok;
	svc_notify_fn *notify;     /* state changes are announced here (main.c: the console) */
	void *notify_arg;
	struct store *st;          /* the main thread's own connection (audit of state changes) */
	struct tls_ctx *tls;
	struct tls_key *audit_key; /* [audit] remote_key when set (loaded with the PIN at boot) */
	struct net_server *net;
	uint8_t *pin;              /* sec_alloc, pin_cap bytes */
	size_t pin_cap, pin_n;
	/* svc_health_tick's (main thread only) */
	bool disk_full_said;       /* the console was told the data disk is full */
	bool audit_full_said;      /* ... the remote audit backlog is full */
	unsigned stalled;          /* worker index + 1 found stalled, 0 = none */
};

static struct svc_rt *svc_rt_of(struct svc *s)
{
	return (struct svc_rt *)(void *)s;
}

static int64_t svc_time(const struct svc_rt *rt)
{
	return rt->svc.now(rt->svc.now_arg);
}

static void svc_audit_as(struct svc_rt *rt, const char *actor, const char *what, cf_err result,
			 const char *detail)
{
	struct audit_record r = {
		.time = svc_time(rt), .actor = actor, .source = "local",
		.operation = what, .uid = NULL, .result = result, .detail = detail,
	};

	if (rt->st == NULL)
		return;
	if (audit_append(rt->st, &r, NULL) != CF_OK)
		log_warn("svc: could not audit %s", what);
}

static void svc_audit_state(struct svc_rt *rt, const char *what, cf_err result, const char *detail)
{
	svc_audit_as(rt, "coffred", what, result, detail);
}

/* The appliance's restart counter (board_restarts: kept by its init) with each READY, when
 * there is one and it is not 0. */
static void svc_audit_restarts(struct svc_rt *rt)
{
	uint64_t n;
	char detail[32];

	if (!board_restarts(rt->svc.cfg->dir, &n) || n == 0)
		return;
	(void)snprintf(detail, sizeof detail, "restarts %llu", (unsigned long long)n);
	svc_audit_state(rt, "board:restarts", CF_OK, detail);
}

/* Announce a state change through the notify hook (rt->ctl held). */
static void svc_notify(struct svc_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void svc_notify(struct svc_rt *rt, const char *fmt, ...)
{
	char line[SVC_NOTE_MAX];
	va_list ap;

	if (rt->notify == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	rt->notify(rt->notify_arg, line);
}

static void svc_state_set(struct svc_rt *rt, enum svc_state s)
{
	atomic_store(&rt->svc.state, (int)s);
	if (s != SVC_ERROR)
		rt->svc.error[0] = '\0';
	log_info("svc: state %s", svc_state_name(s));
	svc_notify(rt, "coffre: state %s", svc_state_name(s));
}

/* Latch ERROR with a reason (no secrets): stderr, the notify hook, persistent error log. */
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
	fflush(stderr);
	svc_notify(rt, "coffre: state ERROR: %s", rt->svc.error);
	svc_audit_state(rt, "state:ERROR", rc, why);
	if (cfg != NULL) {
		const char *dir = cfg->service.state[0] != '\0' ? cfg->service.state : cfg->service.data_dir;
		int fd;

		if (snprintf(path, sizeof path, "%s/error.log", dir) < (int)sizeof path &&
		    (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0) {
			char line[400];
			int n = snprintf(line, sizeof line, "%lld ERROR %s\n", (long long)svc_time(rt),
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

/* A PIN typed at the console, kept (locked) until the TLS context has taken it. */
static cf_err svc_pin_set(struct svc_rt *rt, const char *pin, size_t n)
{
	svc_pin_wipe(rt);
	if (pin == NULL || n == 0 || n > HSM_PIN_MAX)
		return CF_E_INVALID_ARG;
	rt->pin_cap = HSM_PIN_MAX + 2;
	if (sec_alloc(rt->pin_cap, (void **)&rt->pin) != CF_OK) {
		rt->pin_cap = 0;
		return CF_E_NOMEM;
	}
	memcpy(rt->pin, pin, n);
	rt->pin_n = n;
	return CF_OK;
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

#ifdef COFFRE_TEST_HOOKS
/* COFFRE_TEST_SYSCALL=execve|ptrace: the KMIP worker that handles a request first makes that
 * call, which the sandbox forbids (tests/integration/test_sandbox.py: the process ends with
 * SIGSYS and the log names the call). */
static void svc_test_syscall(void)
{
	const char *v = getenv("COFFRE_TEST_SYSCALL");

	if (v == NULL || v[0] == '\0')
		return;
	log_warn("svc: test hook: this worker calls %s", v);
	if (strcmp(v, "execve") == 0) {
		char *const argv[] = { (char *)"/bin/true", NULL };

		(void)execve("/bin/true", argv, environ);
	} else if (strcmp(v, "ptrace") == 0) {
		(void)syscall(SYS_ptrace, PTRACE_TRACEME, 0L, 0L, 0L);
	}
	log_err("svc: test hook: %s returned (%s): no sandbox", v, strerror(errno));
}
#endif

static void svc_worker_tick(void *worker_arg)
{
	ops_worker_tick(worker_arg);
}

static cf_err svc_handle(void *arg, struct net_conn_info *ci, const uint8_t *req, size_t n,
			 uint8_t *resp, size_t cap, size_t *resp_len)
{
#ifdef COFFRE_TEST_HOOKS
	svc_test_syscall();
#endif
	return ops_handle(arg, ci, req, n, resp, cap, resp_len);
}

/* ---- HSM ------------------------------------------------------------------------------- */

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

/* Sessions beyond the KMIP workers' (each worker keeps one for its life): the console, the
 * KEK re-wrap job, self-tests and a spare. With only one per worker the console's `kek
 * rotate` and the job starved as soon as every worker had touched the HSM. */
#define SVC_HSM_SESSIONS_EXTRA 4u

/* Every hsm the service opens: KEKs may be exported, but only under a trusted backup key
 * (`backup export`). */
static struct hsm_config svc_hsm_config(const struct config *cfg)
{
	unsigned pool = cfg->kmip.workers + SVC_HSM_SESSIONS_EXTRA;

	return (struct hsm_config){
		.module_path = cfg->hsm.module, .token = cfg->hsm.token,
		.timeout_ms = cfg->hsm.timeout_ms, .backup_enabled = true,
		.direct_calls = cfg->hsm.direct_calls,
		.pool_size = pool < HSM_POOL_MAX ? pool : HSM_POOL_MAX,
	};
}

static cf_err svc_hsm_open(struct svc_rt *rt)
{
	struct hsm_config hc = svc_hsm_config(rt->svc.cfg);
	cf_err rc;

	svc_softhsm_conf(rt->svc.cfg);
	if ((rc = hsm_open(&hc, &rt->svc.hsm)) != CF_OK)
		return rc;
#ifdef COFFRE_TEST_HOOKS
	svc_test_hooks(rt->svc.hsm);
#endif
	return CF_OK;
}

static void svc_hsm_close(struct svc_rt *rt)
{
	hsm_close(rt->svc.hsm);
	rt->svc.hsm = NULL;
}

/* The token label `init` gives the token: [hsm] token, or the token= part of a pkcs11: URI
 * (percent-decoded). */
cf_err svc_token_label(const struct config *cfg, char out[HSM_LABEL_MAX + 1])
{
	const char *t = cfg->hsm.token, *p, *end;
	size_t n = 0;

	if (strncmp(t, "pkcs11:", 7) != 0) {
		if (strlen(t) == 0 || strlen(t) > HSM_LABEL_MAX)
			return CF_E_CONFIG;
		memcpy(out, t, strlen(t) + 1);
		return CF_OK;
	}
	for (p = t + 7; p != NULL && *p != '\0'; p = end != NULL ? end + 1 : NULL) {
		end = strchr(p, ';');
		if (strncmp(p, "token=", 6) != 0)
			continue;
		for (p += 6; *p != '\0' && *p != ';' && *p != '?'; p++) {
			unsigned v;

			if (n >= HSM_LABEL_MAX)
				return CF_E_CONFIG;
			if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1 && p[1] != '\0' && p[2] != '\0') {
				out[n++] = (char)v;
				p += 2;
			} else {
				out[n++] = *p;
			}
		}
		out[n] = '\0';
		return n > 0 ? CF_OK : CF_E_CONFIG;
	}
	return CF_E_CONFIG;
}

/* ---- store ----------------------------------------------------------------------------- */

static cf_err svc_store_open(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	struct store_opts so = { .busy_timeout_ms = cfg->store.busy_timeout_ms,
				 .audit_syslog = cfg->audit.syslog };

	if (rt->st != NULL)
		return CF_OK;
	return store_open(rt->svc.store_path, &so, &rt->st);
}

static bool svc_store_exists(const struct svc_rt *rt)
{
	struct stat sb;

	return stat(rt->svc.store_path, &sb) == 0;
}

/* The store says `init` has not completed (after a zeroize, or an interrupted `init`). */
static bool svc_store_uninitialized(struct svc_rt *rt)
{
	char v[32];

	if (!svc_store_exists(rt) || svc_store_open(rt) != CF_OK)
		return false;
	if (store_meta_get(rt->st, SVC_META_STATE, v, sizeof v) != CF_OK)
		return false;
	return strcmp(v, "uninitialized") == 0;
}

/* ---- boot steps (rt->ctl held) ---------------------------------------------------------- */

/* The destination in effect: the console's (meta SVC_META_AUDIT_REMOTE, *text holds it) or
 * [audit] remote of coffred.conf; the identity: [audit] remote_cert/remote_key, else the
 * server's own certificate and key. */
static void svc_audit_dest(struct svc_rt *rt, struct audit_fwd_dest *d, char *text, size_t cap)
{
	const struct config *cfg = rt->svc.cfg;
	struct audit_remote_saved sv;

	memset(d, 0, sizeof *d);
	if (rt->st != NULL && store_meta_get(rt->st, SVC_META_AUDIT_REMOTE, text, cap) == CF_OK) {
		if (audit_remote_parse(text, &sv) == CF_OK) {
			d->source = "console";
			if (sv.off)
				return;
			memcpy(d->remote, sv.remote, sizeof d->remote);
			memcpy(d->host, sv.host, sizeof d->host);
			d->port = sv.port;
			memcpy(d->name, sv.name, sizeof d->name);
			d->ca_pem = sv.ca_pem;
		} else {
			log_warn("svc: the remote audit setting saved at the console is unusable: "
				 "[audit] remote of coffred.conf applies");
		}
	}
	if (d->source == NULL) {
		d->source = "coffred.conf";
		if (cfg->audit.remote[0] == '\0')
			return;
		snprintf(d->remote, sizeof d->remote, "%s", cfg->audit.remote);
		memcpy(d->host, cfg->audit.remote_host, sizeof d->host);
		d->port = cfg->audit.remote_port;
		memcpy(d->name, cfg->audit.remote_name, sizeof d->name);
		d->ca_file = cfg->audit.remote_ca;
	}
	if (cfg->audit.remote_cert[0] != '\0') {
		d->cert_file = cfg->audit.remote_cert;
		d->key = rt->audit_key;
	} else {
		d->cert_file = cfg->tls.cert;
		d->key = tls_ctx_key(rt->tls);
	}
}

/* [audit] remote_key, a file or in the HSM, loaded while the PIN is at hand (boot). A failure
 * is logged; the sender then reports that it has no key. */
static void svc_audit_key_load(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	struct tls_key_spec ks = { 0 };
	cf_err rc;

	tls_key_free(rt->audit_key);
	rt->audit_key = NULL;
	if (cfg->audit.remote_key[0] == '\0')
		return;
	if (cfg->audit.remote_key_is_pkcs11) {
		ks.key_uri = cfg->audit.remote_key;
		ks.engine_module = cfg->hsm.module;
		ks.pin = rt->pin;
		ks.pin_len = rt->pin_n;
	} else {
		ks.key_file = cfg->audit.remote_key;
	}
	if ((rc = tls_key_load(&ks, &rt->audit_key)) != CF_OK)
		log_err_r(rc, "svc: [audit] remote_key %s cannot be loaded", cfg->audit.remote_key);
}

/* The remote audit sender: runs while READY, stopped with the KEK job. */
static void svc_auditfwd_start(struct svc_rt *rt)
{
	struct audit_fwd_dest d;
	struct audit_fwd_opts o = { .cfg = rt->svc.cfg, .dest = &d,
				    .store_path = rt->svc.store_path,
				    .now = rt->svc.now, .now_arg = rt->svc.now_arg,
				    .hold = &rt->svc.audit_hold };
	char *text = NULL;
	cf_err rc;

	if (rt->svc.auditfwd != NULL)
		return;
	if ((text = malloc(AUDIT_REMOTE_SAVED_MAX)) == NULL)
		return;
	svc_audit_dest(rt, &d, text, AUDIT_REMOTE_SAVED_MAX);
	rc = audit_fwd_start(&o, &rt->svc.auditfwd);
	free(text);
	if (rc != CF_OK) {
		log_err_r(rc, "svc: the remote audit sender could not start");
		svc_notify(rt, "coffre: WARNING: the remote audit sender could not start (%s)",
			   cf_err_str(rc));
	}
}

static void svc_auditfwd_stop(struct svc_rt *rt)
{
	audit_fwd_stop(rt->svc.auditfwd);
	rt->svc.auditfwd = NULL;
}

static void svc_kekjob_start(struct svc_rt *rt)
{
	cf_err rc;

	if (rt->svc.kekjob != NULL)
		return;
	if ((rc = kek_job_start(&rt->svc, &rt->svc.kekjob)) != CF_OK) {
		rt->svc.kekjob = NULL;
		log_err_r(rc, "svc: the KEK re-wrap job could not start");
		svc_notify(rt, "coffre: WARNING: the KEK re-wrap job could not start (%s)",
			       cf_err_str(rc));
	}
}

static void svc_kekjob_stop(struct svc_rt *rt)
{
	kek_job_stop(rt->svc.kekjob);
	rt->svc.kekjob = NULL;
	svc_auditfwd_stop(rt); /* READY's other background thread: stopped at the same points */
}

static void svc_uninit_enter(struct svc_rt *rt, const char *why)
{
	svc_state_set(rt, SVC_UNINITIALIZED);
	fprintf(stderr, "coffred: UNINITIALIZED: %s; KMIP refused until `init` at the console\n", why);
	fflush(stderr);
}

/* Run the power-up self-tests on a pooled session; record the result. */
static cf_err svc_selftest_locked(struct svc_rt *rt, enum hsm_selftest_id *failed)
{
	hsm_sess *s = NULL;
	cf_err rc;

	*failed = HSM_ST_NONE;
	if ((rc = hsm_session_acquire(rt->svc.hsm, 5000, &s)) != CF_OK)
		return rc;
	rc = hsm_selftest_run(s, failed);
	hsm_session_release(s);
	atomic_store(&rt->svc.selftest_time, svc_time(rt));
	atomic_store(&rt->svc.selftest_failed, (int)*failed);
	atomic_store(&rt->svc.selftest_rc, (int)rc);
	return rc;
}

/* The list saved by `kmip allow` in place of [kmip] allow; false when none (or unreadable:
 * said in the log, the file's list stays). */
static bool svc_kmip_allow_saved(struct svc_rt *rt, struct cidr_list *out)
{
	char v[CIDR_LIST_TEXT_MAX];
	const char *why = NULL;
	if (store_meta_get(rt->st, SVC_META_KMIP_ALLOW, v, sizeof v) != CF_OK)
		return false;
	if (cidr_list_parse(strcmp(v, "any") == 0 ? "" : v, out, &why, NULL) != CF_OK) {
		log_warn("svc: the allow-list saved by kmip allow is unusable (%s): [kmip] allow "
			 "applies", why != NULL ? why : "?");
		return false;
	}
	return true;
}

static enum svc_state svc_boot_kmip(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	const struct svc_run_opts *o = &rt->opts;
	const char *pins[CONFIG_PINNED_MAX];
	struct tls_config tc = { 0 };
	struct net_config nc = { 0 };
	struct cidr_list saved_allow;
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
	tc.trust = authz_tls_trust(rt->svc.authz);
	svc_audit_key_load(rt);
	rc = tls_ctx_new(&tc, &rt->tls);
	/* The engine keeps what it needs; our copy of the PIN goes now. */
	svc_pin_wipe(rt);
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "TLS server context (cert %s, key %s) failed", cfg->tls.cert,
				cfg->tls.key);
		return SVC_ERROR;
	}
	/* Clients pinned or revoked at the console (store clients table) reach the TLS
	 * layer's trust snapshot before the first handshake. */
	if ((rc = authz_trust_reload(rt->svc.authz, rt->st)) != CF_OK) {
		svc_error_latch(rt, rc, "cannot load the trusted and revoked clients from the store");
		return SVC_ERROR;
	}

	nc.address = cfg->kmip.address;
	nc.port = o->port_override ? o->port : cfg->kmip.port;
	nc.workers = cfg->kmip.workers;
	nc.max_message = cfg->kmip.max_message;
	nc.handshake_timeout_ms = cfg->kmip.handshake_timeout_s * 1000u;
	nc.read_timeout_ms = cfg->kmip.read_timeout_s * 1000u;
	nc.idle_timeout_ms = cfg->kmip.idle_timeout_s * 1000u;
	nc.allow = svc_kmip_allow_saved(rt, &saved_allow) ? &saved_allow : &cfg->kmip.allow;
	nc.max_conns_per_source = cfg->kmip.max_conns_per_source;
	nc.handshake_rate_per_source = cfg->kmip.handshake_rate_per_source;
	nc.handshake_burst_per_source = cfg->kmip.handshake_burst_per_source;
	nc.max_handshaking = cfg->kmip.max_handshaking;
	nc.max_handshaking_per_source = cfg->kmip.max_handshaking_per_source;
	nh.handle = svc_handle;
	nh.worker_new = svc_worker_new;
	nh.worker_free = svc_worker_free;
	nh.worker_tick = svc_worker_tick;
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
	svc_audit_restarts(rt);
	svc_kekjob_start(rt);
	svc_auditfwd_start(rt);
	fprintf(stderr, "coffred: ready kmip=%s%s%s:%u\n", v6 ? "[" : "", cfg->kmip.address,
		v6 ? "]" : "", (unsigned)net_server_port(rt->net));
	fflush(stderr);
	return SVC_READY;
}

/* The HSM is logged in (and rt->pin holds the PIN for the TLS engine): self-tests, store, KEK,
 * KMIP. Returns the state entered; ERROR is latched with its reason. */
static enum svc_state svc_online(struct svc_rt *rt)
{
	enum hsm_selftest_id failed = HSM_ST_NONE;
	cf_err rc;

	if ((rc = svc_selftest_locked(rt, &failed)) != CF_OK) {
		svc_pin_wipe(rt);
		if (failed == HSM_ST_NONE)
			svc_error_latch(rt, rc, "no HSM session for the self-tests");
		else
			svc_error_latch(rt, rc, "power-up self-test %s failed; KMIP refused",
					hsm_selftest_name(failed));
		return SVC_ERROR;
	}
	log_info("svc: power-up self-tests passed");
	if ((rc = svc_store_open(rt)) != CF_OK) {
		svc_pin_wipe(rt);
		svc_error_latch(rt, rc, "store %s cannot be opened", rt->svc.store_path);
		return SVC_ERROR;
	}
	if ((rc = store_check(rt->st)) != CF_OK) {
		svc_pin_wipe(rt);
		svc_error_latch(rt, rc, "store %s failed its integrity check", rt->svc.store_path);
		return SVC_ERROR;
	}
	if (hsm_kek_current(rt->svc.hsm) == 0) {
		svc_pin_wipe(rt);
		svc_uninit_enter(rt, "no KEK on the token");
		return SVC_UNINITIALIZED;
	}
	return svc_boot_kmip(rt);
}

/* The whole boot from hsm_open (rt->ctl held). */
static enum svc_state svc_boot_hsm(struct svc_rt *rt)
{
	const struct config *cfg = rt->svc.cfg;
	cf_err rc;

	if (cfg->hsm.module[0] == '\0' || cfg->hsm.token[0] == '\0') {
		svc_error_latch(rt, CF_E_CONFIG, "[hsm] module and token are required (%s)", cfg->path);
		return SVC_ERROR;
	}
	rc = svc_hsm_open(rt);
	if (rc == CF_E_HSM_NO_TOKEN || rc == CF_E_HSM_NOT_INIT) {
		/* a new appliance: its token does not exist yet */
		if (svc_store_exists(rt) && svc_store_open(rt) != CF_OK)
			log_warn("svc: store %s cannot be opened", rt->svc.store_path);
		svc_uninit_enter(rt, "no initialised HSM token with the configured label");
		return SVC_UNINITIALIZED;
	}
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "HSM module %s, token %s unavailable", cfg->hsm.module,
				cfg->hsm.token);
		return SVC_ERROR;
	}
	if (cfg->hsm.pin_file[0] == '\0') {
		if (svc_store_uninitialized(rt)) {
			svc_hsm_close(rt);
			svc_uninit_enter(rt, "the appliance was zeroized or its init did not finish");
			return SVC_UNINITIALIZED;
		}
		svc_state_set(rt, SVC_SEALED);
		fprintf(stderr, "coffred: SEALED: no [hsm] pin_file; KMIP refused until unsealed at the console\n");
		fflush(stderr);
		return SVC_SEALED;
	}
	if ((rc = svc_pin_read(rt, cfg->hsm.pin_file)) != CF_OK) {
		svc_error_latch(rt, rc, "cannot read the HSM PIN from %s", cfg->hsm.pin_file);
		return SVC_ERROR;
	}
	if ((rc = hsm_login(rt->svc.hsm, rt->pin, rt->pin_n)) != CF_OK) {
		svc_pin_wipe(rt);
		svc_error_latch(rt, rc, "HSM login with %s failed", cfg->hsm.pin_file);
		return SVC_ERROR;
	}
	return svc_online(rt);
}

/* ---- control from the console (svc.h) --------------------------------------------------- */

static enum svc_state svc_state_get(const struct svc_rt *rt)
{
	return (enum svc_state)atomic_load(&rt->svc.state);
}

static cf_err svc_state_result(enum svc_state st)
{
	return st == SVC_READY ? CF_OK : st == SVC_UNINITIALIZED ? CF_E_NOT_FOUND : CF_E_STATE;
}

cf_err svc_unseal(struct svc *s, const char *pin, size_t n)
{
	struct svc_rt *rt = svc_rt_of(s);
	enum svc_state st;
	cf_err rc;

	if (pin == NULL || n == 0 || n > HSM_PIN_MAX)
		return CF_E_HSM_PIN;
	pthread_mutex_lock(&rt->ctl);
	if (svc_state_get(rt) != SVC_SEALED || rt->svc.hsm == NULL) {
		pthread_mutex_unlock(&rt->ctl);
		return CF_E_STATE;
	}
	rc = hsm_login(rt->svc.hsm, (const uint8_t *)pin, n);
	if (rc == CF_E_HSM_PIN) {
		/* a typing error is not a fault: stay SEALED, say so, count it in the audit */
		log_warn("svc: unseal: wrong HSM user PIN");
		svc_audit_state(rt, "unseal", rc, "wrong PIN");
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "HSM login with the PIN typed at the console failed");
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	if ((rc = svc_pin_set(rt, pin, n)) != CF_OK) {
		svc_error_latch(rt, rc, "no locked memory for the PIN");
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	svc_audit_state(rt, "unseal", CF_OK, NULL);
	st = svc_online(rt);
	pthread_mutex_unlock(&rt->ctl);
	return svc_state_result(st);
}

cf_err svc_start_serving(struct svc *s, const char *pin, size_t n)
{
	struct svc_rt *rt = svc_rt_of(s);
	enum svc_state st;
	cf_err rc;

	if (pin == NULL || n == 0 || n > HSM_PIN_MAX)
		return CF_E_HSM_PIN;
	pthread_mutex_lock(&rt->ctl);
	if (svc_state_get(rt) != SVC_UNINITIALIZED || rt->svc.hsm == NULL ||
	    hsm_kek_current(rt->svc.hsm) == 0) {
		pthread_mutex_unlock(&rt->ctl);
		return CF_E_STATE;
	}
	if ((rc = hsm_login(rt->svc.hsm, (const uint8_t *)pin, n)) != CF_OK) {
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	if ((rc = svc_pin_set(rt, pin, n)) != CF_OK) {
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	st = svc_online(rt);
	if (st == SVC_READY && rt->st != NULL) {
		char when[32];

		(void)snprintf(when, sizeof when, "%lld", (long long)svc_time(rt));
		if (store_meta_set(rt->st, SVC_META_STATE, "initialized") != CF_OK ||
		    store_meta_set(rt->st, SVC_META_INITIALIZED, when) != CF_OK)
			log_warn("svc: could not record the end of init in the store");
		svc_audit_state(rt, "init", CF_OK, "appliance initialised; serving KMIP");
	}
	pthread_mutex_unlock(&rt->ctl);
	return svc_state_result(st);
}

static void svc_fp_hex(const uint8_t fp[32], char *out, size_t cap)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < 32 && off + 3 < cap; i++)
		off += (size_t)snprintf(out + off, cap - off, "%s%02X", i ? ":" : "", fp[i]);
}

cf_err svc_token_probe(struct svc *s, bool *initialised)
{
	struct svc_rt *rt = svc_rt_of(s);
	cf_err rc = CF_OK;

	*initialised = false;
	pthread_mutex_lock(&rt->ctl);
	if (svc_state_get(rt) != SVC_UNINITIALIZED) {
		rc = CF_E_STATE;
	} else if (rt->svc.hsm != NULL) {
		*initialised = true;
	} else {
		rc = svc_hsm_open(rt);
		if (rc == CF_OK) {
			*initialised = true;
			svc_hsm_close(rt);
		} else if (rc == CF_E_HSM_NO_TOKEN || rc == CF_E_HSM_NOT_INIT) {
			rc = CF_OK;
		}
	}
	pthread_mutex_unlock(&rt->ctl);
	return rc;
}

/* The token part of `init` and of `backup import` (rt->ctl held, UNINITIALIZED): record that an
 * init is under way, (re-)initialise the token, open it and log in with the new user PIN. */
static cf_err svc_token_setup(struct svc_rt *rt, const struct svc_init_req *r)
{
	const struct config *cfg = rt->svc.cfg;
	char label[HSM_LABEL_MAX + 1];
	struct hsm_token_init_cfg tic;
	cf_err rc;

	if (r == NULL || r->so_pin == NULL || r->user_pin == NULL)
		return CF_E_INVALID_ARG;
	if (svc_state_get(rt) != SVC_UNINITIALIZED)
		return CF_E_STATE;
	if ((rc = svc_token_label(cfg, label)) != CF_OK) {
		log_err("svc: init: [hsm] token must be a label or a pkcs11: URI with token=");
		return rc;
	}
	/* the store first: it records that an init is under way (a crash from here on leaves an
	 * appliance that boots UNINITIALIZED and re-runs `init`) */
	if ((rc = svc_store_open(rt)) != CF_OK ||
	    (rc = store_meta_set(rt->st, SVC_META_STATE, "uninitialized")) != CF_OK) {
		log_err_r(rc, "svc: init: store %s", rt->svc.store_path);
		return rc;
	}
	svc_kekjob_stop(rt);
	svc_hsm_close(rt);   /* C_InitToken needs the module to itself */
	svc_softhsm_conf(cfg);
	memset(&tic, 0, sizeof tic);
	tic.module_path = cfg->hsm.module;
	tic.label = label;
	tic.so_pin = r->cur_so_pin != NULL ? r->cur_so_pin : r->so_pin;
	tic.so_n = r->cur_so_pin != NULL ? r->cur_so_n : r->so_n;
	tic.user_pin = r->user_pin;
	tic.user_n = r->user_n;
	tic.force = r->cur_so_pin != NULL;
	if ((rc = hsm_token_init_ex(&tic, NULL)) != CF_OK) {
		log_err_r(rc, "svc: init: token initialisation failed");
		svc_audit_state(rt, "init:token", rc, tic.force ? "re-initialise" : "initialise");
		return rc;
	}
	svc_audit_state(rt, "init:token", CF_OK, tic.force ? "re-initialised" : "initialised");
	if ((rc = svc_hsm_open(rt)) != CF_OK ||
	    (rc = hsm_login(rt->svc.hsm, r->user_pin, r->user_n)) != CF_OK) {
		log_err_r(rc, "svc: init: the new token cannot be used");
		svc_hsm_close(rt);
		return rc;
	}
	return CF_OK;
}

cf_err svc_token_init(struct svc *s, const struct svc_init_req *r)
{
	struct svc_rt *rt = svc_rt_of(s);
	cf_err rc;

	pthread_mutex_lock(&rt->ctl);
	rc = svc_token_setup(rt, r);
	pthread_mutex_unlock(&rt->ctl);
	return rc;
}

cf_err svc_init_token(struct svc *s, const struct svc_init_req *r, struct svc_init_result *out)
{
	struct svc_rt *rt = svc_rt_of(s);
	const struct config *cfg = rt->svc.cfg;
	char uri[HSM_URI_MAX] = "";
	hsm_sess *sess = NULL;
	struct appliance_keys k;
	cf_err rc;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&rt->ctl);
	if (cfg->tls.cert[0] == '\0' || cfg->tls.ca[0] == '\0') {
		log_err("svc: init: [tls] cert and ca must name where the certificates go");
		rc = CF_E_CONFIG;
		goto out;
	}
	if ((rc = svc_token_setup(rt, r)) != CF_OK)
		goto out;
	if ((rc = hsm_session_acquire(rt->svc.hsm, 5000, &sess)) != CF_OK) {
		log_err_r(rc, "svc: init: no session on the new token");
		goto out;
	}
	memset(&k, 0, sizeof k);
	k.rsa = false;
	k.ca_cn = APPLIANCE_CA_CN;
	k.server_names = r->server_names != NULL ? r->server_names : cfg->tls.server_names;
	k.ca_path = cfg->tls.ca;
	k.cert_path = cfg->tls.cert;
	k.server_uri = uri;
	k.uri_cap = sizeof uri;
	rc = appliance_keys_create(rt->svc.hsm, sess, &k);
	hsm_session_release(sess);
	if (rc != CF_OK) {
		svc_audit_state(rt, "init:keys", rc, NULL);
		goto out;
	}
	if (cfg->tls.key_is_pkcs11 && strcmp(cfg->tls.key, uri) != 0)
		log_warn("svc: init: [tls] key is %s but the server key is %s", cfg->tls.key, uri);
	out->kek = k.kek;
	svc_fp_hex(k.server_fp, out->server_fp, sizeof out->server_fp);
	svc_fp_hex(k.ca_fp, out->ca_fp, sizeof out->ca_fp);
	(void)snprintf(out->sans, sizeof out->sans, "%s", k.sans);
	svc_audit_state(rt, "init:keys", CF_OK, out->server_fp);
	rc = CF_OK;
out:
	if (rc != CF_OK && svc_state_get(rt) == SVC_UNINITIALIZED)
		svc_hsm_close(rt); /* the next `init` starts from the token again */
	pthread_mutex_unlock(&rt->ctl);
	return rc;
}

cf_err svc_selftest(struct svc *s, enum hsm_selftest_id *failed)
{
	struct svc_rt *rt = svc_rt_of(s);
	enum svc_state st;
	cf_err rc;

	*failed = HSM_ST_NONE;
	pthread_mutex_lock(&rt->ctl);
	st = svc_state_get(rt);
	if ((st != SVC_READY && st != SVC_ERROR) || rt->svc.hsm == NULL || !hsm_pin_held(rt->svc.hsm)) {
		pthread_mutex_unlock(&rt->ctl);
		return CF_E_STATE;
	}
	rc = svc_selftest_locked(rt, failed);
	svc_audit_state(rt, "selftest", rc, *failed != HSM_ST_NONE ? hsm_selftest_name(*failed) : NULL);
	if (rc != CF_OK && st == SVC_READY) {
		if (*failed != HSM_ST_NONE)
			svc_error_latch(rt, rc, "self-test %s failed; KMIP answers Operation Failed",
					hsm_selftest_name(*failed));
		else
			svc_error_latch(rt, rc, "the self-tests could not run");
	}
	pthread_mutex_unlock(&rt->ctl);
	return rc;
}

/* Remove path if it exists (ENOENT is fine). */
static cf_err svc_unlink(const char *path)
{
	if (path[0] == '\0' || unlink(path) == 0 || errno == ENOENT)
		return CF_OK;
	log_err("svc: zeroize: cannot delete %s: %s", path, strerror(errno));
	return CF_E_IO;
}

cf_err svc_zeroize_as(struct svc *s, const char *actor)
{
	struct svc_rt *rt = svc_rt_of(s);
	const struct config *cfg = rt->svc.cfg;
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char path[sizeof rt->svc.store_path + 16], detail[128];
	unsigned destroyed = 0;
	enum svc_state st;
	cf_err rc, frc = CF_OK;

	pthread_mutex_lock(&rt->ctl);
	st = svc_state_get(rt);
	if ((st != SVC_READY && st != SVC_ERROR) || rt->svc.hsm == NULL || !hsm_pin_held(rt->svc.hsm)) {
		/* without a logged-in HSM the keys cannot be destroyed: refuse before anything */
		pthread_mutex_unlock(&rt->ctl);
		return CF_E_STATE;
	}
	log_warn("svc: ZEROIZE requested by %s", actor != NULL ? actor : "?");
	/* nothing may use the keys or the store from here on */
	svc_kekjob_stop(rt);
	if (rt->net != NULL) {
		net_server_stop(rt->net);
		net_server_join(rt->net);
		net_server_free(rt->net);
		rt->net = NULL;
	}
	tls_ctx_free(rt->tls);
	rt->tls = NULL;
	tls_key_free(rt->audit_key);
	rt->audit_key = NULL;
	rc = hsm_token_wipe(rt->svc.hsm, &destroyed);
	svc_hsm_close(rt);
	if (rc != CF_OK) {
		svc_error_latch(rt, rc, "zeroize: the token could not be wiped (%u objects destroyed)",
				destroyed);
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	log_warn("svc: zeroize: %u objects destroyed on the token", destroyed);
	/* The store's blobs are wrapped under the KEKs just destroyed: deleting the files makes
	 * them unreadable for good, whatever the flash keeps of them. */
	store_close(rt->st);
	rt->st = NULL;
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		(void)snprintf(path, sizeof path, "%s%s", rt->svc.store_path, sfx[i]);
		if (svc_unlink(path) != CF_OK)
			frc = CF_E_IO;
	}
	if (cfg->tls.key_is_pkcs11) {
		/* the certificates of keys that no longer exist */
		if (svc_unlink(cfg->tls.cert) != CF_OK || svc_unlink(cfg->tls.ca) != CF_OK)
			frc = CF_E_IO;
	}
	/* a new, empty store keeps the record of what happened */
	if ((rc = svc_store_open(rt)) == CF_OK)
		rc = store_meta_set(rt->st, SVC_META_STATE, "uninitialized");
	if (rc != CF_OK)
		log_err_r(rc, "svc: zeroize: cannot create the new store");
	(void)snprintf(detail, sizeof detail, "%u token objects destroyed; store and certificates deleted%s",
		       destroyed, frc != CF_OK ? " (some files could not be deleted)" : "");
	svc_audit_as(rt, actor != NULL ? actor : "console", "zeroize", frc, detail);
	rt->svc.error[0] = '\0';
	atomic_store(&rt->svc.selftest_time, 0);
	svc_uninit_enter(rt, "zeroized");
	/* Then the program starts again: nothing of the old appliance stays in this process
	 * (libp11's engine keeps the PIN and sessions of the destroyed token, and cannot follow a
	 * re-initialised token; OpenSSL and the module keep their own caches). */
	if (rt->opts.restart)
		atomic_store(&rt->svc.restarting, true); /* main.c sees it and restarts */
	pthread_mutex_unlock(&rt->ctl);
	return frc;
}

void svc_stats_get(struct svc *s, struct svc_stats *out)
{
	struct svc_rt *rt = svc_rt_of(s);
	struct net_stats ns;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&rt->ctl);
	out->started = rt->started;
	if (rt->net != NULL) {
		net_server_stats(rt->net, &ns);
		out->connections = (unsigned)ns.open;
		out->requests = ns.requests;
		out->refused_source = ns.refused_source;
		out->handshakes_ok = ns.handshakes_ok;
		out->handshakes_failed = ns.handshakes_failed;
		out->refused_busy_source = ns.refused_busy_source;
		out->refused_rate = ns.refused_rate;
		out->refused_handshaking = ns.refused_handshaking;
		out->port = net_server_port(rt->net);
	}
	pthread_mutex_unlock(&rt->ctl);
}

bool svc_kmip_allow_get(struct svc *s, struct cidr_list *out)
{
	struct svc_rt *rt = svc_rt_of(s);
	pthread_mutex_lock(&rt->ctl);
	bool on = rt->net != NULL;
	if (on)
		net_server_get_allow(rt->net, out);
	pthread_mutex_unlock(&rt->ctl);
	return on;
}

bool svc_audit_remote_restart(struct svc *s)
{
	struct svc_rt *rt = svc_rt_of(s);
	pthread_mutex_lock(&rt->ctl);
	bool on = rt->net != NULL && svc_state_get(rt) == SVC_READY;
	svc_auditfwd_stop(rt);
	if (on)
		svc_auditfwd_start(rt);
	pthread_mutex_unlock(&rt->ctl);
	return on;
}

bool svc_kmip_allow_apply(struct svc *s, const struct cidr_list *l)
{
	struct svc_rt *rt = svc_rt_of(s);
	pthread_mutex_lock(&rt->ctl);
	bool on = rt->net != NULL;
	if (on)
		net_server_set_allow(rt->net, l);
	pthread_mutex_unlock(&rt->ctl);
	return on;
}

/* ---- the service's life (svc/run.h) ----------------------------------------------------- */

static void svc_teardown(struct svc_rt *rt)
{
	svc_kekjob_stop(rt);
	if (rt->net != NULL)
		net_server_stop(rt->net);
	net_server_free(rt->net);
	rt->net = NULL;
	tls_ctx_free(rt->tls);
	rt->tls = NULL;
	tls_key_free(rt->audit_key);
	rt->audit_key = NULL;
	authz_free(rt->svc.authz); /* after the TLS context that borrows its trust */
	rt->svc.authz = NULL;
	store_close(rt->st);
	rt->st = NULL;
	svc_pin_wipe(rt);
	hsm_close(rt->svc.hsm);
	rt->svc.hsm = NULL;
	if (rt->board_ok)
		board_free(&rt->svc.board);
	rt->board_ok = false;
	config_free(rt->svc.cfg);
	rt->svc.cfg = NULL;
}

/* The service clock: time(2), or under COFFRE_TEST_HOOKS COFFRE_TEST_CLOCK's offset. */
static void svc_clock_init(struct svc_rt *rt)
{
	rt->svc.now = svc_clock;
#ifdef COFFRE_TEST_HOOKS
	if (getenv("COFFRE_TEST_CLOCK") != NULL && getenv("COFFRE_TEST_CLOCK")[0] != '\0') {
		rt->svc.now = svc_test_clock;
		rt->svc.now_arg = getenv("COFFRE_TEST_CLOCK");
		log_warn("svc: test hook: clock offset from %s", (const char *)rt->svc.now_arg);
	}
#endif
}

/* Load the config; what is wrong with it goes to stderr (FILE:LINE when known). */
static cf_err svc_config_load(struct svc_rt *rt, const char *path)
{
	struct config_diag diag;
	cf_err rc;

	memset(&diag, 0, sizeof diag);
	if ((rc = config_load(path, &rt->svc.cfg, &diag)) == CF_OK)
		return CF_OK;
	if (diag.line > 0)
		fprintf(stderr, "coffred: %s:%d: %s\n", diag.file, diag.line, diag.msg);
	else if (diag.msg[0] != '\0')
		fprintf(stderr, "coffred: %s: %s\n", diag.file[0] ? diag.file : path, diag.msg);
	else
		fprintf(stderr, "coffred: %s: %s\n", path, cf_err_str(rc));
	return rc;
}

/* [service] user: a coffred started as root becomes that user before it touches anything else
 * (the data dir, the store, the HSM token, the listener, the console); one started as that
 * user already (a zeroize's restart) goes on; any other user is refused. */
static cf_err svc_user_become(const struct config *cfg)
{
	cf_err rc;

	if (cfg->service.user[0] == '\0')
		return CF_OK;
	if (geteuid() == 0 && (rc = board_user_drop(cfg->service.uid, cfg->service.gid)) != CF_OK) {
		fprintf(stderr, "coffred: cannot become [service] user %s: %s\n", cfg->service.user,
			cf_err_str(rc));
		return rc;
	}
	if (geteuid() != (uid_t)cfg->service.uid) {
		fprintf(stderr, "coffred: [service] user is %s (uid %u) but coffred runs as uid %u: "
				"start it as root or as that user\n", cfg->service.user,
			cfg->service.uid, (unsigned)geteuid());
		return CF_E_PERMISSION;
	}
	log_info("svc: running as %s (uid %u, gid %u)", cfg->service.user, cfg->service.uid,
		 cfg->service.gid);
	return CF_OK;
}

/* Config, limits, store path, board. Errors are printed on stderr. */
static cf_err svc_setup(struct svc_rt *rt, const struct svc_run_opts *o)
{
	const struct config *cfg;
	cf_err rc;

	if ((rc = svc_config_load(rt, o->config_path)) != CF_OK)
		return rc;
	cfg = rt->svc.cfg;
	if ((rc = svc_user_become(cfg)) != CF_OK)
		return rc;
	rt->svc.limits = KMIP_LIMITS_DEFAULT;
	rt->svc.limits.max_message = cfg->kmip.max_message;
	rt->svc.kmip_port = o->port_override ? o->port : cfg->kmip.port;
	if (snprintf(rt->svc.store_path, sizeof rt->svc.store_path, "%s/store.db",
		     cfg->service.data_dir) >= (int)sizeof rt->svc.store_path) {
		fprintf(stderr, "coffred: data_dir path too long\n");
		return CF_E_TOO_LARGE;
	}
	if ((rc = board_init(&rt->svc.board, cfg->service.data_dir)) != CF_OK) {
		fprintf(stderr, "coffred: board init (data_dir %s) failed: %s\n",
			cfg->service.data_dir, cf_err_str(rc));
		return rc;
	}
	rt->board_ok = true;
	if (cfg->audit.syslog)
		audit_syslog_open();
	rt->started = svc_time(rt);
	return CF_OK;
}

cf_err svc_open(const struct svc_run_opts *o, struct svc **out)
{
	struct svc_rt *rt;
	cf_err rc;

	*out = NULL;
	if ((rt = calloc(1, sizeof *rt)) == NULL) {
		fprintf(stderr, "coffred: out of memory\n");
		return CF_E_NOMEM;
	}
	rt->opts = *o;
	pthread_mutex_init(&rt->ctl, NULL);
	svc_clock_init(rt);
	rt->svc.vendor_id = SVC_VENDOR;
	atomic_store(&rt->svc.state, (int)SVC_UNINITIALIZED);
	if ((rc = authz_new(&rt->svc.authz)) != CF_OK) {
		fprintf(stderr, "coffred: out of memory\n");
		svc_close(&rt->svc);
		return rc;
	}
	if ((rc = svc_setup(rt, o)) != CF_OK) {
		svc_close(&rt->svc);
		return rc;
	}
	*out = &rt->svc;
	return CF_OK;
}

bool svc_health_tick(struct svc *s)
{
	struct svc_rt *rt = svc_rt_of(s);
	uint64_t age_ms = 0;

	if (pthread_mutex_trylock(&rt->ctl) != 0)
		return rt->stalled == 0;
	bool full = atomic_load(&s->disk_full);
	if (full != rt->disk_full_said) {
		rt->disk_full_said = full;
		if (full)
			log_err("svc: the data disk is full: KMIP writes fail");
		else
			log_info("svc: the data disk has space again");
		svc_notify(rt, full ? "coffre: DATA DISK FULL: KMIP requests that write answer "
				      "Operation Failed until space is freed"
				    : "coffre: the data disk has space again: KMIP writes succeed");
	}
	full = audit_fwd_full(s->auditfwd);
	if (s->auditfwd == NULL) {
		rt->audit_full_said = false; /* stopped: nothing to announce */
	} else if (full != rt->audit_full_said) {
		struct audit_fwd_status fs;
		audit_fwd_status_get(s->auditfwd, &fs);
		rt->audit_full_said = full;
		svc_notify(rt, full ? "coffre: AUDIT QUEUE FULL: the collector %s has not received "
				      "%u records; %s"
				    : "coffre: the audit queue to %s has drained (below %u records); %s",
			   fs.collector, full ? s->cfg->audit.queue_max
						      : s->cfg->audit.queue_max / 2,
			   !s->cfg->audit.queue_stop ? "KMIP keeps serving (on_queue_full = continue)"
			   : full ? "KMIP requests answer Operation Failed until it drains"
				  : "KMIP serves again");
	}
	unsigned wk = net_server_stalled(rt->net, (uint64_t)SVC_STALL_S * 1000u, &age_ms);
	if (wk != 0 && rt->stalled == 0) {
		log_err("svc: KMIP worker %u has made no progress for %llu s: stopping the "
			"watchdog kicks", wk - 1, (unsigned long long)(age_ms / 1000));
		svc_notify(rt, "coffre: WATCHDOG: KMIP worker %u stuck for %llu s: the watchdog "
			       "will restart the appliance", wk - 1,
			   (unsigned long long)(age_ms / 1000));
	}
	rt->stalled = wk;
	pthread_mutex_unlock(&rt->ctl);
	return wk == 0;
}

void svc_set_notify(struct svc *s, svc_notify_fn *fn, void *arg)
{
	struct svc_rt *rt = svc_rt_of(s);

	pthread_mutex_lock(&rt->ctl);
	rt->notify = fn;
	rt->notify_arg = fn != NULL ? arg : NULL;
	pthread_mutex_unlock(&rt->ctl);
}

/* The sandbox (board/sandbox.c), first thing in the boot: what needed more is done (the
 * privileges dropped, the config read, the board set up, the console's TTY opened), and every
 * thread made from now on inherits it (KMIP workers, the console, the KEK job). The programs
 * it may still exec: the zeroize's restart (main.c) and the backup export's HSM helper, the
 * `coffre` next to this coffred (firmware/console/con_backup.c). */
static cf_err svc_sandbox_enter(struct svc_rt *rt)
{
	char exe[PATH_MAX], helper[PATH_MAX + 8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash;
	cf_err rc;

	if (!rt->svc.cfg->service.sandbox) {
		log_warn("svc: [service] sandbox = off: no seccomp filter (diagnosis only)");
		return CF_OK;
	}
	if (n <= 0)
		return CF_E_IO;
	exe[n] = '\0';
	if ((rc = board_sandbox_exec_allow("/proc/self/exe")) != CF_OK)
		return rc;
	if ((slash = strrchr(exe, '/')) != NULL) {
		*slash = '\0';
		if ((size_t)snprintf(helper, sizeof helper, "%s/coffre", exe) < sizeof helper &&
		    (rc = board_sandbox_exec_allow(helper)) != CF_OK)
			return rc;
	}
	return board_sandbox_enter();
}

cf_err svc_boot(struct svc *s, cf_err (*then)(void *arg), void *arg)
{
	struct svc_rt *rt = svc_rt_of(s);
	cf_err rc = CF_OK;

	pthread_mutex_lock(&rt->ctl);
	/* first: no KMIP request is ever served, and no console command run, without it */
	if ((rc = svc_sandbox_enter(rt)) != CF_OK) {
		log_err_r(rc, "svc: the sandbox could not be entered: not serving");
		pthread_mutex_unlock(&rt->ctl);
		return rc;
	}
	(void)svc_boot_hsm(rt);
	svc_pin_wipe(rt);
	if (then != NULL)
		rc = then(arg);
	pthread_mutex_unlock(&rt->ctl);
	return rc;
}

void svc_stop(struct svc *s)
{
	struct svc_rt *rt = svc_rt_of(s);

	svc_kekjob_stop(rt);
	if (rt->net != NULL) {
		net_server_stop(rt->net);
		net_server_join(rt->net);
		svc_audit_state(rt, "state:STOPPED", CF_OK, NULL);
	}
}

void svc_close(struct svc *s)
{
	struct svc_rt *rt;

	if (s == NULL)
		return;
	rt = svc_rt_of(s);
	svc_teardown(rt);
	pthread_mutex_destroy(&rt->ctl);
	free(rt);
}
