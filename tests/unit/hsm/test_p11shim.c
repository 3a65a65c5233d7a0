/* The fault-injecting PKCS#11 shim (tests/shim/p11shim.h) on its own: it forwards to a real
 * SoftHSMv2 token in a throw-away directory, and every fault mode hits exactly the calls it
 * names and stops after `count`. Raw PKCS#11 here, no hsm/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/shim/p11shim.h"

#ifndef P11SHIM_PATH
#error "P11SHIM_PATH: the path of libp11shim.so (set by tests/unit/hsm/faults.mk)"
#endif
#define SOFTHSM_PATH "/usr/lib/softhsm/libsofthsm2.so"
#define LABEL "shim-test"
#define SO_PIN "87654321"
#define PIN "12345678"

static char dir[64];
static struct p11shim_api api;
static CK_FUNCTION_LIST *fl;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE sess;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static CK_RV init_module(void)
{
	CK_C_INITIALIZE_ARGS ia;
	memset(&ia, 0, sizeof ia);
	ia.flags = CKF_OS_LOCKING_OK;
	return fl->C_Initialize(&ia);
}

/* the slot whose token is labelled LABEL (CKR_OK and *out), or an error */
static CK_RV find_slot(CK_SLOT_ID *out)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_RV rv = fl->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n && i < 16; i++) {
		CK_TOKEN_INFO ti;
		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && memcmp(ti.label, LABEL, strlen(LABEL)) == 0 &&
		    ti.label[strlen(LABEL)] == ' ') {
			*out = slots[i];
			return CKR_OK;
		}
	}
	return CKR_TOKEN_NOT_PRESENT;
}

static CK_RV open_login(CK_SESSION_HANDLE *s)
{
	CK_RV rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN));
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

static int group_setup(void **st)
{
	(void)st;
	strcpy(dir, "/tmp/coffre-shim-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	char tokens[128], conf[128];
	snprintf(tokens, sizeof tokens, "%s/tokens", dir);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
	if (mkdir(tokens, 0700) != 0)
		return -1;
	FILE *f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	setenv("COFFRE_SHIM_MODULE", SOFTHSM_PATH, 1);
	/* not loaded yet: RTLD_NOLOAD fails; then load it */
	if (p11shim_api_get(P11SHIM_PATH, true, &api) == 0)
		return -1;
	if (p11shim_api_get(P11SHIM_PATH, false, &api) != 0)
		return -1;
	if (api.get_function_list(&fl) != CKR_OK || fl == NULL)
		return -1;
	if (init_module() != CKR_OK)
		return -1;
	/* C_InitToken through the shim in the first uninitialised slot */
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	if (fl->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK || n == 0)
		return -1;
	CK_UTF8CHAR lab[32];
	memset(lab, ' ', sizeof lab);
	memcpy(lab, LABEL, strlen(LABEL));
	if (fl->C_InitToken(slots[0], (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), lab) != CKR_OK)
		return -1;
	/* SoftHSMv2 renumbers an initialised token at the next C_Initialize: find it by label */
	(void)fl->C_Finalize(NULL);
	if (init_module() != CKR_OK || find_slot(&slot) != CKR_OK)
		return -1;
	CK_SESSION_HANDLE so;
	if (fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &so) != CKR_OK)
		return -1;
	if (fl->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN)) != CKR_OK ||
	    fl->C_InitPIN(so, (CK_UTF8CHAR_PTR)PIN, strlen(PIN)) != CKR_OK ||
	    fl->C_Logout(so) != CKR_OK || fl->C_CloseSession(so) != CKR_OK)
		return -1;
	if (open_login(&sess) != CKR_OK)
		return -1;
	api.clear();
	return 0;
}

static int group_teardown(void **st)
{
	(void)st;
	if (api.dl != NULL) {
		api.clear();
		(void)fl->C_Finalize(NULL);
		dlclose(api.dl);
	}
	char cmd[128];
	if (strncmp(dir, "/tmp/coffre-shim-", 17) == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}

static int t_setup(void **st)
{
	(void)st;
	api.clear();
	return 0;
}

static CK_RV rnd(void)
{
	CK_BYTE b[16];
	return fl->C_GenerateRandom(sess, b, sizeof b);
}

/* ---- forwarding ------------------------------------------------------------------------ */

static void t_forwards(void **st)
{
	(void)st;
	/* the function list: 2.40, every entry present */
	assert_int_equal(fl->version.major, 2);
	assert_int_equal(fl->version.minor, 40);
	void (*const *fp)(void) = (void (*const *)(void))&fl->C_Initialize;
	size_t nfn = (sizeof *fl - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void (*)(void));
	assert_int_equal(nfn, 68);
	for (size_t i = 0; i < nfn; i++)
		assert_non_null(fp[i]);
	/* answers come from SoftHSMv2 */
	CK_INFO info;
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_memory_equal(info.manufacturerID, "SoftHSM", 7);
	CK_TOKEN_INFO ti;
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_memory_equal(ti.label, LABEL, strlen(LABEL));
	CK_SESSION_INFO si;
	assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
	assert_int_equal(si.slotID, slot);
	/* SHA-256("abc") through the shim */
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_BYTE d[32];
	CK_ULONG dn = sizeof d;
	static const CK_BYTE abc_sha[4] = { 0xba, 0x78, 0x16, 0xbf };
	assert_int_equal(fl->C_DigestInit(sess, &m), CKR_OK);
	assert_int_equal(fl->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, d, &dn), CKR_OK);
	assert_int_equal(dn, 32);
	assert_memory_equal(d, abc_sha, 4);
	/* an unsupported entry is forwarded too (SoftHSMv2 answers, not the shim) */
	assert_int_equal(fl->C_GetFunctionStatus(sess), CKR_FUNCTION_NOT_PARALLEL);
	/* call counters */
	assert_int_equal(api.calls("C_GetInfo"), 1);
	assert_int_equal(api.calls("C_Digest"), 1);
	assert_int_equal(api.calls("*"), 6);
	assert_int_equal(api.calls("C_NoSuchThing"), 0);
	assert_int_equal(api.injected(), 0);
	/* unknown names are refused */
	assert_int_equal(api.fault("C_NoSuchThing", CKR_DEVICE_ERROR, 0, 1), -1);
	assert_int_equal(api.hang(NULL, 10, 0, 1), -1);
	/* the same instance answers RTLD_NOLOAD */
	struct p11shim_api again;
	assert_int_equal(p11shim_api_get(P11SHIM_PATH, true, &again), 0);
	assert_ptr_equal(again.clear, api.clear);
	CK_FUNCTION_LIST *fl2 = NULL;
	assert_int_equal(again.get_function_list(&fl2), CKR_OK);
	assert_ptr_equal(fl2, fl);
	dlclose(again.dl);
}

/* ---- faults ------------------------------------------------------------------------------ */

static void t_fault_nth(void **st)
{
	(void)st;
	/* calls 3, 4, 5 of C_GenerateRandom fail, 1-2 and 6-7 pass */
	assert_int_equal(api.fault("C_GenerateRandom", CKR_DEVICE_ERROR, 2, 3), 0);
	CK_RV want[7] = { CKR_OK, CKR_OK, CKR_DEVICE_ERROR, CKR_DEVICE_ERROR, CKR_DEVICE_ERROR,
			  CKR_OK, CKR_OK };
	for (int i = 0; i < 7; i++) {
		/* other functions are not counted by the rule */
		CK_SESSION_INFO si;
		assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_OK);
		assert_int_equal(rnd(), want[i]);
	}
	assert_int_equal(api.calls("C_GenerateRandom"), 7);
	assert_int_equal(api.injected(), 3);
	/* the session survived (the real module never saw the failed calls) */
	assert_int_equal(rnd(), CKR_OK);
}

static void t_fault_each_rv(void **st)
{
	(void)st;
	const CK_RV rvs[] = { CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
			      CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED };
	for (size_t k = 0; k < sizeof rvs / sizeof rvs[0]; k++) {
		api.clear();
		assert_int_equal(api.fault("C_Decrypt", rvs[k], 0, 1), 0);
		CK_BYTE in[32] = { 0 }, out[32];
		CK_ULONG on = sizeof out;
		assert_int_equal(fl->C_Decrypt(sess, in, sizeof in, out, &on), rvs[k]);
		/* the next call goes to SoftHSMv2: no operation was started */
		on = sizeof out;
		assert_int_equal(fl->C_Decrypt(sess, in, sizeof in, out, &on),
				 CKR_OPERATION_NOT_INITIALIZED);
	}
}

static void t_fault_wildcard(void **st)
{
	(void)st;
	/* "*": the 2nd call of any function, once */
	assert_int_equal(api.fault("*", CKR_TOKEN_NOT_PRESENT, 1, 1), 0);
	CK_INFO info;
	CK_TOKEN_INFO ti;
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_TOKEN_NOT_PRESENT);
	assert_int_equal(rnd(), CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	/* count 0: until cleared */
	assert_int_equal(api.fault("C_GetInfo", CKR_DEVICE_ERROR, 0, 0), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(fl->C_GetInfo(&info), CKR_DEVICE_ERROR);
	assert_int_equal(rnd(), CKR_OK);
	api.clear();
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	/* two rules count independently: the first that fires wins */
	assert_int_equal(api.fault("C_GenerateRandom", CKR_DEVICE_ERROR, 1, 1), 0);
	assert_int_equal(api.fault("*", CKR_SESSION_HANDLE_INVALID, 1, 2), 0);
	assert_int_equal(rnd(), CKR_OK);                   /* both: seen 1 */
	assert_int_equal(rnd(), CKR_DEVICE_ERROR);         /* both fire; the first rule wins */
	assert_int_equal(rnd(), CKR_SESSION_HANDLE_INVALID); /* the 2nd firing of "*" */
	assert_int_equal(rnd(), CKR_OK);
	/* the table is bounded */
	api.clear();
	for (int i = 0; i < P11SHIM_RULES_MAX; i++)
		assert_int_equal(api.fault("C_GetInfo", CKR_DEVICE_ERROR, 1000, 1), 0);
	assert_int_equal(api.fault("C_GetInfo", CKR_DEVICE_ERROR, 1000, 1), -1);
}

static void t_hang(void **st)
{
	(void)st;
	/* the 2nd call sleeps 300 ms, then is forwarded (and succeeds) */
	assert_int_equal(api.hang("C_GenerateRandom", 300, 1, 1), 0);
	double t0 = now_ms();
	assert_int_equal(rnd(), CKR_OK);
	double t1 = now_ms();
	assert_int_equal(rnd(), CKR_OK);
	double t2 = now_ms();
	assert_int_equal(rnd(), CKR_OK);
	double t3 = now_ms();
	assert_true(t1 - t0 < 100);
	assert_true(t2 - t1 >= 295 && t2 - t1 < 1500);
	assert_true(t3 - t2 < 100);
	/* a hang with a fault: sleeps, then fails */
	assert_int_equal(api.hang("C_GetInfo", 100, 0, 1), 0);
	assert_int_equal(api.fault("C_GetInfo", CKR_DEVICE_ERROR, 0, 1), 0);
	CK_INFO info;
	t0 = now_ms();
	assert_int_equal(fl->C_GetInfo(&info), CKR_DEVICE_ERROR);
	assert_true(now_ms() - t0 >= 95);
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
}

static void *hang_thread(void *arg)
{
	double *dt = arg;
	double t0 = now_ms();
	CK_RV rv = rnd();
	*dt = now_ms() - t0;
	return (void *)(uintptr_t)rv;
}

/* p11shim_clear wakes a hung call at once */
static void t_hang_clear_wakes(void **st)
{
	(void)st;
	assert_int_equal(api.hang("C_GenerateRandom", 20000, 0, 0), 0);
	pthread_t th;
	double dt = 0;
	assert_int_equal(pthread_create(&th, NULL, hang_thread, &dt), 0);
	usleep(150000);
	api.clear();
	void *res = NULL;
	assert_int_equal(pthread_join(th, &res), 0);
	assert_int_equal((CK_RV)(uintptr_t)res, CKR_OK);
	assert_true(dt >= 140 && dt < 2000);
}

static void t_device_removed(void **st)
{
	(void)st;
	api.device_removed(1);
	CK_INFO info;
	CK_ULONG n = 0;
	CK_SESSION_INFO si;
	assert_int_equal(fl->C_GetInfo(&info), CKR_DEVICE_REMOVED);
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_DEVICE_REMOVED);
	assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_DEVICE_REMOVED);
	assert_int_equal(rnd(), CKR_DEVICE_REMOVED);
	assert_int_equal(init_module(), CKR_DEVICE_REMOVED);
	assert_int_equal(fl->C_Finalize(NULL), CKR_DEVICE_REMOVED);
	assert_int_equal(api.injected(), 6);
	/* back: nothing reached the module, the session is still there */
	api.device_removed(0);
	assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_OK);
	assert_int_equal(rnd(), CKR_OK);
	/* clear ends the mode too */
	api.device_removed(1);
	assert_int_equal(rnd(), CKR_DEVICE_REMOVED);
	api.clear();
	assert_int_equal(rnd(), CKR_OK);
}

static void t_module_reset(void **st)
{
	(void)st;
	unsigned long r0 = api.reinits();
	api.module_reset();
	CK_INFO info;
	CK_SESSION_INFO si;
	assert_int_equal(fl->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(rnd(), CKR_CRYPTOKI_NOT_INITIALIZED);
	/* the caller re-initialises: the real module really restarts */
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(fl->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(init_module(), CKR_OK);
	assert_int_equal(api.reinits(), r0 + 1);
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	/* the old session handle is void now (SoftHSMv2 forgot it) */
	assert_int_equal(fl->C_GetSessionInfo(sess, &si), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(find_slot(&slot), CKR_OK);
	assert_int_equal(open_login(&sess), CKR_OK);
	assert_int_equal(rnd(), CKR_OK);
	/* C_Initialize alone also leaves the mode (finalising first) */
	CK_SESSION_HANDLE old = sess;
	api.module_reset();
	assert_int_equal(rnd(), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(init_module(), CKR_OK);
	assert_int_equal(api.reinits(), r0 + 2);
	assert_int_equal(fl->C_GetSessionInfo(old, &si), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(find_slot(&slot), CKR_OK);
	assert_int_equal(open_login(&sess), CKR_OK);
	assert_int_equal(rnd(), CKR_OK);
}

static void t_lie(void **st)
{
	(void)st;
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_BYTE d[64];
	CK_ULONG dn;
	/* the 2nd C_Digest lies: length > buffer; the 1st and 3rd are honest */
	assert_int_equal(api.lie("C_Digest", 1000, 1, 1), 0);
	for (int i = 0; i < 3; i++) {
		dn = sizeof d;
		assert_int_equal(fl->C_DigestInit(sess, &m), CKR_OK);
		assert_int_equal(fl->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, d, &dn), CKR_OK);
		assert_int_equal(dn, i == 1 ? sizeof d + 1000 : 32);
	}
	/* size query: real + extra */
	api.clear();
	assert_int_equal(api.lie("C_Digest", 7, 0, 1), 0);
	assert_int_equal(fl->C_DigestInit(sess, &m), CKR_OK);
	dn = 0;
	assert_int_equal(fl->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, NULL, &dn), CKR_OK);
	assert_int_equal(dn, 32 + 7);
	dn = sizeof d;
	assert_int_equal(fl->C_Digest(sess, (CK_BYTE_PTR) "abc", 3, d, &dn), CKR_OK);
	assert_int_equal(dn, 32);
	/* slot list, object count, attribute lengths */
	api.clear();
	assert_int_equal(api.lie("C_GetSlotList", 5, 0, 1), 0);
	CK_SLOT_ID slots[4];
	CK_ULONG n = 4;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	assert_int_equal(n, 4 + 5);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
				{ CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &f, sizeof f } };
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE k = 0;
	assert_int_equal(fl->C_GenerateKey(sess, &gm, tmpl, 4, &k), CKR_OK);
	assert_int_equal(api.lie("C_FindObjects", 3, 0, 1), 0);
	assert_int_equal(api.lie("C_GetAttributeValue", 100, 0, 1), 0);
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG cnt = 0;
	assert_int_equal(fl->C_FindObjectsInit(sess, tmpl, 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(sess, objs, 2, &cnt), CKR_OK);
	assert_int_equal(cnt, 2 + 3);
	assert_int_equal(fl->C_FindObjectsFinal(sess), CKR_OK);
	CK_ULONG vlen = 0;
	CK_ATTRIBUTE a[] = { { CKA_VALUE_LEN, &vlen, sizeof vlen }, { CKA_LABEL, NULL, 0 } };
	assert_int_equal(fl->C_GetAttributeValue(sess, k, a, 2), CKR_OK);
	assert_int_equal(a[0].ulValueLen, sizeof vlen + 100);
	assert_int_equal(a[1].ulValueLen, 0 + 100); /* size query: real (0) + extra */
	assert_int_equal(vlen, 32);                  /* the value itself is true */
	a[0].ulValueLen = sizeof vlen;
	a[1].ulValueLen = 0;
	assert_int_equal(fl->C_GetAttributeValue(sess, k, a, 2), CKR_OK);
	assert_int_equal(a[0].ulValueLen, sizeof vlen);
	assert_int_equal(fl->C_DestroyObject(sess, k), CKR_OK);
}

static void *rnd_inside_thread(void *arg)
{
	CK_RV *rv = arg;
	*rv = rnd();
	return NULL;
}

/* C_Finalize while another thread is inside the module is counted (PKCS#11 2.40 5.4);
 * a hang_inside counts as inside, and sequential finalize + initialize does not */
static void t_violation(void **st)
{
	(void)st;
	unsigned long v0 = api.violations();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(init_module(), CKR_OK);
	assert_int_equal(api.violations(), v0);
	assert_int_equal(find_slot(&slot), CKR_OK);
	assert_int_equal(open_login(&sess), CKR_OK);
	/* a thread "stuck inside" C_GenerateRandom for 300 ms; finalize meanwhile */
	assert_int_equal(api.hang_inside("C_GenerateRandom", 300, 0, 1), 0);
	pthread_t th;
	CK_RV trv = CKR_OK;
	double t0 = now_ms();
	assert_int_equal(pthread_create(&th, NULL, rnd_inside_thread, &trv), 0);
	usleep(100000);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(api.violations(), v0 + 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(now_ms() - t0 >= 295);
	assert_int_equal(trv, CKR_CRYPTOKI_NOT_INITIALIZED); /* the module was gone by then */
	assert_int_equal(init_module(), CKR_OK);
	assert_int_equal(find_slot(&slot), CKR_OK);
	assert_int_equal(open_login(&sess), CKR_OK);
	assert_int_equal(rnd(), CKR_OK);
}

/* ---- the state is shared by threads ---------------------------------------------------- */

struct thr_arg {
	unsigned fails;
	unsigned calls;
};

static void *rnd_thread(void *p)
{
	struct thr_arg *a = p;
	for (unsigned i = 0; i < a->calls; i++)
		if (rnd() == CKR_DEVICE_ERROR)
			a->fails++;
	return NULL;
}

static void t_threads(void **st)
{
	(void)st;
	/* 2 threads x 1000 calls: exactly calls 101..200 fail, whoever makes them */
	assert_int_equal(api.fault("C_GenerateRandom", CKR_DEVICE_ERROR, 100, 100), 0);
	struct thr_arg a[2] = { { 0, 1000 }, { 0, 1000 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, rnd_thread, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(a[0].fails + a[1].fails, 100);
	assert_int_equal(api.calls("C_GenerateRandom"), 2000);
	assert_int_equal(api.injected(), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_forwards, t_setup),
		cmocka_unit_test_setup(t_fault_nth, t_setup),
		cmocka_unit_test_setup(t_fault_each_rv, t_setup),
		cmocka_unit_test_setup(t_fault_wildcard, t_setup),
		cmocka_unit_test_setup(t_hang, t_setup),
		cmocka_unit_test_setup(t_hang_clear_wakes, t_setup),
		cmocka_unit_test_setup(t_device_removed, t_setup),
		cmocka_unit_test_setup(t_module_reset, t_setup),
		cmocka_unit_test_setup(t_lie, t_setup),
		cmocka_unit_test_setup(t_violation, t_setup),
		cmocka_unit_test_setup(t_threads, t_setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
