/* hsm/ under injected PKCS#11 faults (the HSM failure patterns of docs/hsm.md):
 * the layer's module is the fault-injecting shim (tests/shim/p11shim.h) in front of a real
 * SoftHSMv2 token in a throw-away directory.
 * For CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT,
 * CKR_CRYPTOKI_NOT_INITIALIZED and hangs, on wrap / unwrap / generate / random: a clean cf_err
 * within the configured timeout, no output (buffers zeroed, lengths 0), and once the fault
 * stops the SAME hsm handle works again: operations succeed, KEKs are found by label, blobs
 * wrapped before the fault unwrap to the same bytes. Lying lengths give CF_E_HSM_OUTPUT. A
 * chaos loop (2 threads, >= 200 injected faults) ends with 0 crashes and full recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "board/sec.h"
#include "hsm/hsm.h"
#include "tests/shim/p11shim.h"
#include "tests/unit/hsm/hsm_test_util.h"

#ifndef P11SHIM_PATH
#error "P11SHIM_PATH: the path of libp11shim.so (set by tests/unit/hsm/faults.mk)"
#endif

#define TIMEOUT_MS 300u
#define MARGIN_MS 500.0   /* scheduling slack on a shared 2-core CI VM, ASan included */
#define HANG_MS 2000u
#define DEK_N 32u
#define BLOB_CAP 128u

static struct tok_env env;
static struct p11shim_api api;

static const struct hsm_bind bind_a = { (const uint8_t *)"uid-fault-a", 11, 2 };

struct fx {
	hsm *h;
	hsm_sess *s;
	uint32_t kek;
	uint8_t dek[DEK_N];
	uint8_t blob[BLOB_CAP]; /* dek wrapped before any fault */
	size_t blob_n;
};

static cf_err open_shim(unsigned pool, hsm **out)
{
	struct hsm_config cfg = {
		.module_path = P11SHIM_PATH,
		.token = TEST_TOKEN,
		.timeout_ms = TIMEOUT_MS,
		.pool_size = pool,
	};
	cf_err rc = hsm_open(&cfg, out);
	if (rc != CF_OK)
		return rc;
	rc = hsm_login(*out, (const uint8_t *)TEST_PIN, strlen(TEST_PIN));
	if (rc != CF_OK) {
		hsm_close(*out);
		*out = NULL;
	}
	return rc;
}

static int group_setup(void **st)
{
	(void)st;
	if (tok_env_setup(&env) != 0)
		return -1;
	setenv("COFFRE_SHIM_MODULE", SOFTHSM_PATH, 1);
	/* the layer loads the shim; the test reaches that same instance with RTLD_NOLOAD and
	 * keeps a reference for the group (the shim's state outlives each hsm_close) */
	hsm *h = NULL;
	if (open_shim(2, &h) != CF_OK)
		return -1;
	int rc = p11shim_api_get(P11SHIM_PATH, true, &api);
	hsm_close(h);
	return rc;
}

static int group_teardown(void **st)
{
	(void)st;
	p11shim_api_put(&api);
	tok_env_teardown(&env);
	return 0;
}

static int fx_setup(void **st)
{
	api.clear();
	struct fx *f = calloc(1, sizeof *f);
	if (f == NULL || open_shim(4, &f->h) != CF_OK)
		return -1;
	if (hsm_session_acquire(f->h, 1000, &f->s) != CF_OK)
		return -1;
	if (hsm_kek_current(f->h) == 0) {
		uint32_t v = 0;
		if (hsm_kek_create(f->s, &v) != CF_OK || hsm_kek_make_current(f->h, v) != CF_OK)
			return -1;
	}
	f->kek = hsm_kek_current(f->h);
	for (unsigned i = 0; i < DEK_N; i++)
		f->dek[i] = (uint8_t)(0x5a ^ (i * 13));
	if (hsm_dek_wrap(f->s, f->dek, DEK_N, &bind_a, f->blob, sizeof f->blob, &f->blob_n) != CF_OK)
		return -1;
	*st = f;
	return 0;
}

static int fx_teardown(void **st)
{
	struct fx *f = *st;
	api.clear(); /* wakes hung calls so that hsm_close finds every executor idle */
	hsm_session_release(f->s);
	hsm_close(f->h);
	free(f);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- one operation, its output checked -------------------------------------------------- */

enum op { OP_WRAP, OP_UNWRAP, OP_GENERATE, OP_RANDOM, OP_COUNT_ };
static const char *const op_name[OP_COUNT_] = { "wrap", "unwrap", "generate", "random" };
/* the module call each operation depends on (targeted faults) */
static const char *const op_fn[OP_COUNT_] = { "C_Encrypt", "C_Decrypt", "C_GenerateRandom",
					       "C_GenerateRandom" };

/* the clean errors a fault may give (chaos: whichever call it hit) */
static bool fault_err_ok(cf_err rc)
{
	switch (rc) {
	case CF_E_HSM:
	case CF_E_HSM_DEVICE:
	case CF_E_HSM_TIMEOUT:
	case CF_E_HSM_SESSION:
	case CF_E_HSM_OUTPUT:
	case CF_E_HSM_NOT_INIT:
	case CF_E_HSM_NOT_FOUND:  /* no KEK table while a re-init is failing */
	case CF_E_HSM_WRONG_KEK:  /* same, for an unwrap */
		return true;
	default:
		return false;
	}
}

/* Run op on session s. On success check the result (unwrap: the reference DEK; wrap and
 * generate: the new blob unwraps), on failure check that nothing was output. *ms = elapsed;
 * *why = NULL, or what was wrong with the output. !strict (chaos): the check unwrap of a new
 * blob may itself meet a fault; only a clean fault error is accepted then. No cmocka asserts:
 * the chaos workers call it from their own threads. */
static cf_err op_exec(hsm_sess *s, const struct fx *f, enum op op, bool strict, double *ms,
		      const char **why)
{
	cf_err rc = CF_E_INTERNAL;
	uint8_t blob[BLOB_CAP];
	size_t n = 99;
	uint8_t *out = NULL;
	*why = NULL;
	if (sec_alloc(64, (void **)&out) != CF_OK) {
		*why = "sec_alloc";
		return CF_E_NOMEM;
	}
	memset(blob, 0, sizeof blob);
	/* unwrap promises to wipe out[] on error: start it dirty; the others must leave it 0 */
	memset(out, op == OP_UNWRAP ? 0xee : 0, 64);
	double t0 = now_ms();
	switch (op) {
	case OP_WRAP:
		rc = hsm_dek_wrap(s, f->dek, DEK_N, &bind_a, blob, sizeof blob, &n);
		break;
	case OP_UNWRAP:
		rc = hsm_dek_unwrap(s, f->blob, f->blob_n, &bind_a, out, 64, &n);
		break;
	case OP_GENERATE:
		rc = hsm_dek_generate(s, DEK_N, &bind_a, blob, sizeof blob, &n);
		break;
	case OP_RANDOM:
		rc = hsm_random(s, out, 64);
		n = rc == CF_OK ? 64 : 0;
		break;
	case OP_COUNT_:
		break;
	}
	*ms = now_ms() - t0;
	if (rc != CF_OK) {
		/* fail closed: no blob, no key bytes, no random bytes */
		if (n != 0)
			*why = "output length not 0 on failure";
		else if (!all_zero(blob, sizeof blob))
			*why = "blob written on failure";
		else if (!all_zero(out, 64))
			*why = "output not zero on failure";
	} else if (op == OP_UNWRAP) {
		if (n != DEK_N || memcmp(out, f->dek, DEK_N) != 0)
			*why = "unwrap gave other bytes";
	} else if (op == OP_WRAP || op == OP_GENERATE) {
		size_t on = 0;
		cf_err rc2 = CF_E_INTERNAL;
		if (n != hsm_blob_size(DEK_N))
			*why = "blob length";
		else if ((rc2 = hsm_dek_unwrap(s, blob, n, &bind_a, out, 64, &on)) != CF_OK) {
			if (strict || !fault_err_ok(rc2))
				*why = "new blob does not unwrap";
		} else if (on != DEK_N || (op == OP_WRAP && memcmp(out, f->dek, DEK_N) != 0)) {
			*why = "new blob unwraps to other bytes";
		}
	} else if (all_zero(out, 64)) {
		*why = "random bytes all zero";
	}
	sec_free(out, 64);
	return rc;
}

static cf_err op_run(hsm_sess *s, const struct fx *f, enum op op, double *ms)
{
	const char *why = NULL;
	cf_err rc = op_exec(s, f, op, true, ms, &why);
	if (why != NULL)
		fail_msg("%s (%s): %s", op_name[op], cf_err_str(rc), why);
	return rc;
}

/* After a fault stopped: the same handle and session work again, without the test reopening
 * anything: every operation, the KEK found again by label, the reference blob. */
static void check_recovered(struct fx *f, const char *what)
{
	for (int op = 0; op < OP_COUNT_; op++) {
		double ms = 0;
		cf_err rc = op_run(f->s, f, (enum op)op, &ms);
		if (rc != CF_OK)
			fail_msg("%s: %s after the fault stopped: %s", what, op_name[op], cf_err_str(rc));
	}
	assert_int_equal(hsm_kek_find(f->s, f->kek), CF_OK);
	assert_int_equal(hsm_kek_current(f->h), f->kek);
	uint32_t vs[HSM_KEK_MAX];
	size_t n = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n), CF_OK);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		seen = seen || vs[i] == f->kek;
	assert_true(seen);
	/* the other pool sessions too */
	hsm_sess *s2 = NULL;
	assert_int_equal(hsm_session_acquire(f->h, 1000, &s2), CF_OK);
	double ms = 0;
	assert_int_equal(op_run(s2, f, OP_UNWRAP, &ms), CF_OK);
	hsm_session_release(s2);
}

/* ---- each fault, each operation ------------------------------------------------------- */

static cf_err expected_err(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
		return CF_E_HSM_SESSION;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
		return CF_E_HSM_DEVICE;
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return CF_E_HSM_NOT_INIT;
	default:
		return CF_E_INTERNAL;
	}
}

/* rv on the operation's own module call, then on every call ("*"), until cleared */
static void fault_matrix(struct fx *f, CK_RV rv)
{
	for (int target = 0; target < 2; target++) {
		for (int op = 0; op < OP_COUNT_; op++) {
			api.clear();
			assert_int_equal(api.fault(target == 0 ? op_fn[op] : "*", rv, 0, 0), 0);
			double ms = 0;
			cf_err rc = op_run(f->s, f, (enum op)op, &ms);
			if (rc != expected_err(rv))
				fail_msg("rv 0x%lx on %s, %s: got %s", (unsigned long)rv,
					 target == 0 ? op_fn[op] : "*", op_name[op], cf_err_str(rc));
			if (ms >= TIMEOUT_MS + MARGIN_MS)
				fail_msg("%s took %.0f ms", op_name[op], ms);
			assert_true(api.injected() >= 1);
			/* still failing while the fault lasts, still on time */
			rc = op_run(f->s, f, (enum op)op, &ms);
			assert_int_not_equal(rc, CF_OK);
			assert_true(ms < TIMEOUT_MS + MARGIN_MS);
			api.clear();
			check_recovered(f, op_name[op]);
		}
	}
}

static void t_session_handle_invalid(void **st)
{
	fault_matrix(*st, CKR_SESSION_HANDLE_INVALID);
}

static void t_device_error(void **st)
{
	fault_matrix(*st, CKR_DEVICE_ERROR);
}

static void t_device_removed(void **st)
{
	struct fx *f = *st;
	fault_matrix(f, CKR_DEVICE_REMOVED);
	/* the shim's device-removed mode: every call, C_Initialize included */
	for (int op = 0; op < OP_COUNT_; op++) {
		api.clear();
		api.device_removed(1);
		double ms = 0;
		assert_int_equal(op_run(f->s, f, (enum op)op, &ms), CF_E_HSM_DEVICE);
		assert_true(ms < TIMEOUT_MS + MARGIN_MS);
		assert_int_not_equal(hsm_recover(f->h), CF_OK);
		api.device_removed(0);
		check_recovered(f, op_name[op]);
	}
	/* hsm_recover alone brings it back (no operation failing first) */
	api.device_removed(1);
	assert_int_not_equal(hsm_recover(f->h), CF_OK);
	api.clear();
	assert_int_equal(hsm_recover(f->h), CF_OK);
	check_recovered(f, "hsm_recover");
}

static void t_token_not_present(void **st)
{
	fault_matrix(*st, CKR_TOKEN_NOT_PRESENT);
}

static void t_not_initialized(void **st)
{
	fault_matrix(*st, CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* a library that lost its state (the shim really finalises and re-initialises SoftHSMv2 when
 * the layer calls C_Finalize + C_Initialize): transparent, the operation itself succeeds */
static void t_module_reset(void **st)
{
	struct fx *f = *st;
	for (int op = 0; op < OP_COUNT_; op++) {
		struct hsm_stats s0, s1;
		hsm_stats_get(f->h, &s0);
		unsigned long r0 = api.reinits();
		api.module_reset();
		double ms = 0;
		assert_int_equal(op_run(f->s, f, (enum op)op, &ms), CF_OK);
		assert_true(ms < TIMEOUT_MS + MARGIN_MS);
		assert_int_equal(api.reinits(), r0 + 1);
		hsm_stats_get(f->h, &s1);
		assert_int_equal(s1.reinits, s0.reinits + 1);
		assert_int_equal(s1.kek_current, f->kek);
		check_recovered(f, op_name[op]);
	}
}

/* a one-shot fault is absorbed by the layer's single retry: the caller sees success */
static void t_transient_retried(void **st)
{
	struct fx *f = *st;
	const CK_RV rvs[] = { CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
			      CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED };
	for (size_t k = 0; k < sizeof rvs / sizeof rvs[0]; k++) {
		for (int op = 0; op < OP_COUNT_; op++) {
			api.clear();
			assert_int_equal(api.fault(op_fn[op], rvs[k], 0, 1), 0);
			double ms = 0;
			cf_err rc = op_run(f->s, f, (enum op)op, &ms);
			if (rc != CF_OK)
				fail_msg("one-shot rv 0x%lx on %s: %s", (unsigned long)rvs[k],
					 op_name[op], cf_err_str(rc));
			assert_int_equal(api.injected(), 1);
		}
	}
	api.clear();
	check_recovered(f, "one-shot");
}

/* ---- hangs ------------------------------------------------------------------------------ */

static void t_hang(void **st)
{
	struct fx *f = *st;
	for (int target = 0; target < 2; target++) {
		for (int op = 0; op < OP_COUNT_; op++) {
			api.clear();
			assert_int_equal(api.hang(target == 0 ? op_fn[op] : "*", HANG_MS, 0, 0), 0);
			double ms = 0;
			assert_int_equal(op_run(f->s, f, (enum op)op, &ms), CF_E_HSM_TIMEOUT);
			if (ms >= TIMEOUT_MS + MARGIN_MS)
				fail_msg("hung %s returned after %.0f ms", op_name[op], ms);
			assert_true(ms >= TIMEOUT_MS - 10);
			api.clear(); /* the hung call returns now */
			check_recovered(f, op_name[op]);
		}
	}
	struct hsm_stats stt;
	hsm_stats_get(f->h, &stt);
	assert_true(stt.timeouts >= 2 * OP_COUNT_);
}

/* one call hangs for longer than the test lasts: the next operations do not wait for it */
static void t_hang_once_quarantine(void **st)
{
	struct fx *f = *st;
	assert_int_equal(api.hang("C_Decrypt", HANG_MS, 0, 1), 0);
	double ms = 0;
	assert_int_equal(op_run(f->s, f, OP_UNWRAP, &ms), CF_E_HSM_TIMEOUT);
	assert_true(ms < TIMEOUT_MS + MARGIN_MS);
	struct hsm_stats stt;
	hsm_stats_get(f->h, &stt);
	assert_int_equal(stt.sessions_quarantined, 1);
	/* the hung call is still asleep in the module; the same session works at once */
	for (int op = 0; op < OP_COUNT_; op++) {
		assert_int_equal(op_run(f->s, f, (enum op)op, &ms), CF_OK);
		assert_true(ms < TIMEOUT_MS + MARGIN_MS);
	}
	assert_int_equal(hsm_kek_find(f->s, f->kek), CF_OK);
	/* and once it returns, its executor is released */
	api.clear();
	for (int i = 0; i < 100; i++) {
		hsm_stats_get(f->h, &stt);
		if (stt.sessions_quarantined == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(stt.sessions_quarantined, 0);
	check_recovered(f, "hang once");
}

struct unwrap_loop {
	struct fx *f;
	hsm_sess *s;
	double until;
	unsigned ops, oks;
	const char *why;
	cf_err bad_rc;
};

static void *unwrap_loop_main(void *arg)
{
	struct unwrap_loop *u = arg;
	while (now_ms() < u->until) {
		double ms = 0;
		const char *why = NULL;
		cf_err rc = op_exec(u->s, u->f, OP_UNWRAP, false, &ms, &why);
		u->ops++;
		if (rc == CF_OK)
			u->oks++;
		else if (!fault_err_ok(rc) && u->bad_rc == CF_OK)
			u->bad_rc = rc;
		if (why != NULL && u->why == NULL)
			u->why = why;
	}
	return NULL;
}

/* A re-initialisation whose C_Finalize hangs past the deadline: the caller gets
 * CF_E_HSM_TIMEOUT, and the abandoned C_Finalize, when it finally runs, must not run while
 * other threads are inside the module (PKCS#11 2.40 5.4; in SoftHSMv2 that frees objects
 * under their feet: ASan saw a heap-use-after-free in C_DecryptInit in the chaos loop).
 * The shim counts any overlap (p11shim_violations). */
static void t_hang_in_reinit(void **st)
{
	struct fx *f = *st;
	unsigned long v0 = api.violations();
	struct unwrap_loop u = { .f = f, .until = now_ms() + 1500 };
	assert_int_equal(hsm_session_acquire(f->h, 1000, &u.s), CF_OK);
	/* the other thread's calls stay 20 ms inside C_Decrypt each */
	assert_int_equal(api.hang_inside("C_Decrypt", 20, 0, 0), 0);
	assert_int_equal(api.hang("C_Finalize", 800, 0, 1), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, unwrap_loop_main, &u), 0);
	usleep(50000);
	/* a module fault: the re-init's C_Finalize hangs */
	assert_int_equal(api.fault("C_GenerateRandom", CKR_DEVICE_REMOVED, 0, 1), 0);
	double ms = 0;
	cf_err rc = op_run(f->s, f, OP_RANDOM, &ms);
	assert_true(ms < TIMEOUT_MS + MARGIN_MS);
	assert_true(rc == CF_E_HSM_TIMEOUT || rc == CF_E_HSM_DEVICE);
	assert_true(api.calls("C_Finalize") >= 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (u.why != NULL)
		fail_msg("concurrent unwrap: %s", u.why);
	if (u.bad_rc != CF_OK)
		fail_msg("concurrent unwrap: %s", cf_err_str(u.bad_rc));
	unsigned long viol = api.violations() - v0;
	api.clear();
	hsm_session_release(u.s);
	if (viol != 0)
		fail_msg("C_Finalize/C_Initialize ran %lu time(s) while other calls were inside the "
			 "module (abandoned control job kept running without mod_lock)", viol);
	check_recovered(f, "hung re-init");
}

/* ---- lying lengths: module output is untrusted ------------------------------------------- */

static void t_lying_lengths(void **st)
{
	struct fx *f = *st;
	const unsigned long extras[] = { 1, 4096, 1ul << 31 };
	for (size_t k = 0; k < sizeof extras / sizeof extras[0]; k++) {
		double ms = 0;
		/* C_Decrypt says it wrote more than the buffer holds */
		api.clear();
		assert_int_equal(api.lie("C_Decrypt", extras[k], 0, 1), 0);
		assert_int_equal(op_run(f->s, f, OP_UNWRAP, &ms), CF_E_HSM_OUTPUT);
		assert_int_equal(api.injected(), 1);
		assert_int_equal(op_run(f->s, f, OP_UNWRAP, &ms), CF_OK);
		/* C_Encrypt: wrap and generate+wrap */
		api.clear();
		assert_int_equal(api.lie("C_Encrypt", extras[k], 0, 2), 0);
		assert_int_equal(op_run(f->s, f, OP_WRAP, &ms), CF_E_HSM_OUTPUT);
		assert_int_equal(op_run(f->s, f, OP_GENERATE, &ms), CF_E_HSM_OUTPUT);
		assert_int_equal(op_run(f->s, f, OP_GENERATE, &ms), CF_OK);
		/* C_FindObjects: more objects than asked for */
		api.clear();
		assert_int_equal(api.lie("C_FindObjects", extras[k], 0, 1), 0);
		uint32_t vs[HSM_KEK_MAX];
		size_t n = 0;
		assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n), CF_E_HSM_OUTPUT);
		assert_int_equal(n, 0);
		api.clear();
		check_recovered(f, "lying C_FindObjects");
	}
}

/* A lie or a fault while the KEKs are read back (C_GetAttributeValue in the KEK scan) must
 * not make the layer forget its KEKs or its current KEK once the module behaves again. */
static void t_lying_attributes(void **st)
{
	struct fx *f = *st;
	api.clear();
	/* one lie on the size query of the label: absorbed (the second answer is checked) */
	assert_int_equal(api.lie("C_GetAttributeValue", 8, 0, 1), 0);
	cf_err rc = hsm_kek_find(f->s, f->kek);
	assert_int_equal(api.injected(), 1);
	assert_int_equal(rc, CF_OK);
	/* every attribute length a lie: the KEK cannot be verified, so it is not used */
	api.clear();
	assert_int_equal(api.lie("C_GetAttributeValue", 8, 0, 0), 0);
	rc = hsm_kek_find(f->s, f->kek);
	assert_int_not_equal(rc, CF_OK);
	api.clear();
	check_recovered(f, "lying C_GetAttributeValue");
}

/* A device error in the middle of the KEK scan (one C_GetAttributeValue of the policy check):
 * a fault like any other, retried or reported, and the KEKs are still known afterwards. */
static void t_scan_fault(void **st)
{
	struct fx *f = *st;
	const CK_RV rvs[] = { CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID };
	for (size_t k = 0; k < sizeof rvs / sizeof rvs[0]; k++) {
		api.clear();
		/* call 1 reads the label size, 2 the label, 3.. the policy attributes */
		assert_int_equal(api.fault("C_GetAttributeValue", rvs[k], 3, 1), 0);
		cf_err rc = hsm_kek_find(f->s, f->kek);
		assert_int_equal(api.injected(), 1);
		if (rc != CF_OK && rc != expected_err(rvs[k]))
			fail_msg("scan fault 0x%lx: %s", (unsigned long)rvs[k], cf_err_str(rc));
		api.clear();
		check_recovered(f, "C_GetAttributeValue fault in the KEK scan");
	}
}

/* ---- chaos: random faults while two threads work ------------------------------------------ */

struct worker {
	struct fx *f;
	hsm_sess *s;
	_Atomic int *stop;
	unsigned ops, oks, errs;
	double worst_ms;
	cf_err bad_rc; /* CF_OK, or an error outside the allowed set */
	const char *why; /* NULL, or a wrong output */
	int bad_op;
};

static void *chaos_worker(void *arg)
{
	struct worker *w = arg;
	unsigned seed = (unsigned)(uintptr_t)w * 2654435761u;
	while (!atomic_load(w->stop)) {
		enum op op = (enum op)(rand_r(&seed) % OP_COUNT_);
		double ms = 0;
		const char *why = NULL;
		cf_err rc = op_exec(w->s, w->f, op, false, &ms, &why);
		w->ops++;
		if (why != NULL && w->why == NULL) {
			w->why = why;
			w->bad_op = (int)op;
		}
		if (ms > w->worst_ms)
			w->worst_ms = ms;
		if (rc == CF_OK) {
			w->oks++;
		} else {
			w->errs++;
			if (!fault_err_ok(rc) && w->bad_rc == CF_OK) {
				w->bad_rc = rc;
				w->bad_op = (int)op;
			}
		}
	}
	return NULL;
}

static void t_chaos(void **st)
{
	struct fx *f = *st;
	static const char *const fns[] = { "C_Encrypt", "C_Decrypt", "C_EncryptInit", "C_DecryptInit",
					   "C_GenerateRandom", "C_OpenSession", "C_GetSessionInfo",
					   "C_FindObjects", "C_GetAttributeValue", "C_Login", "*" };
	static const CK_RV rvs[] = { CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
				     CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED };
	unsigned long v0 = api.violations();
	_Atomic int stop = 0;
	struct worker w[2];
	pthread_t th[2];
	memset(w, 0, sizeof w);
	for (int i = 0; i < 2; i++) {
		w[i].f = f;
		w[i].stop = &stop;
		w[i].s = i == 0 ? f->s : NULL;
		if (i > 0)
			assert_int_equal(hsm_session_acquire(f->h, 1000, &w[i].s), CF_OK);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, chaos_worker, &w[i]), 0);
	unsigned seed = 12345;
	unsigned long injected = 0, armed = 0;
	double t0 = now_ms();
	while ((injected < 200 || armed < 200) && now_ms() - t0 < 15000) {
		api.clear();
		unsigned kind = rand_r(&seed) % 20;
		const char *fn = fns[rand_r(&seed) % (sizeof fns / sizeof fns[0])];
		unsigned after = rand_r(&seed) % 4, count = 1 + rand_r(&seed) % 3;
		if (kind == 0)
			api.device_removed(1);
		else if (kind == 1)
			api.module_reset();
		else if (kind == 2)
			assert_int_equal(api.hang(fn, 1000, after, 1), 0);
		else if (kind == 4)
			assert_int_equal(api.hang_inside(fn, 1000, after, 1), 0);
		else if (kind == 3)
			assert_int_equal(api.lie(fn, 1 + rand_r(&seed) % 5000, after, count), 0);
		else
			assert_int_equal(api.fault(fn, rvs[rand_r(&seed) % 5], after, count), 0);
		armed++;
		usleep(5000 + rand_r(&seed) % 20000);
		injected += api.injected();
	}
	api.clear();
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	print_message("chaos: %lu faults armed, %lu injected, %.1f s; ops %u+%u (ok %u+%u), "
		      "worst %.0f/%.0f ms\n", armed, injected, (now_ms() - t0) / 1e3, w[0].ops,
		      w[1].ops, w[0].oks, w[1].oks, w[0].worst_ms, w[1].worst_ms);
	assert_true(injected >= 200);
	if (api.violations() != v0)
		fail_msg("chaos: C_Finalize/C_Initialize overlapped other module calls %lu time(s)",
			 api.violations() - v0);
	for (int i = 0; i < 2; i++) {
		if (w[i].why != NULL)
			fail_msg("worker %d: %s: %s", i, op_name[w[i].bad_op], w[i].why);
		if (w[i].bad_rc != CF_OK)
			fail_msg("worker %d: %s gave %s", i, op_name[w[i].bad_op],
				 cf_err_str(w[i].bad_rc));
		assert_true(w[i].worst_ms < TIMEOUT_MS + MARGIN_MS);
		assert_true(w[i].oks > 0);
	}
	/* full recovery: both sessions, every operation, KEKs, the old blob */
	hsm_session_release(w[1].s);
	check_recovered(f, "chaos");
	double ms = 0;
	assert_int_equal(op_run(w[0].s, f, OP_UNWRAP, &ms), CF_OK);
	struct hsm_stats stt;
	for (int i = 0; i < 200; i++) {
		hsm_stats_get(f->h, &stt);
		if (stt.sessions_quarantined == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(stt.sessions_quarantined, 0);
	assert_int_equal(stt.kek_current, f->kek);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_session_handle_invalid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_device_error, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_device_removed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_token_not_present, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_not_initialized, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_module_reset, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_transient_retried, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_hang, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_hang_once_quarantine, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_hang_in_reinit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_lying_lengths, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_lying_attributes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_scan_fault, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_chaos, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
