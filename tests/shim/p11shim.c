/* p11shim: fault-injecting PKCS#11 module forwarding to a real one (see p11shim.h).
 * Test code only (tests/): the one mutable global state here is the fault table, under `mu`. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/shim/p11shim.h"

#define EXPORT __attribute__((visibility("default")))

/* every function of the PKCS#11 2.40 function list, in list order */
#define SHIM_FUNCS(X)                                                                              \
	X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetFunctionList) X(C_GetSlotList)           \
	X(C_GetSlotInfo) X(C_GetTokenInfo) X(C_GetMechanismList) X(C_GetMechanismInfo)             \
	X(C_InitToken) X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)                 \
	X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState)    \
	X(C_Login) X(C_Logout) X(C_CreateObject) X(C_CopyObject) X(C_DestroyObject)                \
	X(C_GetObjectSize) X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit)      \
	X(C_FindObjects) X(C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate)    \
	X(C_EncryptFinal) X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal)       \
	X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal)              \
	X(C_SignInit) X(C_Sign) X(C_SignUpdate) X(C_SignFinal) X(C_SignRecoverInit)                \
	X(C_SignRecover) X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)            \
	X(C_VerifyRecoverInit) X(C_VerifyRecover) X(C_DigestEncryptUpdate)                         \
	X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey)  \
	X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) X(C_SeedRandom)            \
	X(C_GenerateRandom) X(C_GetFunctionStatus) X(C_CancelFunction) X(C_WaitForSlotEvent)

#define X_ENUM(n) F_##n,
enum shim_fn { SHIM_FUNCS(X_ENUM) F_COUNT_ };
#undef X_ENUM
#define X_NAME(n) #n,
static const char *const fn_names[F_COUNT_] = { SHIM_FUNCS(X_NAME) };
#undef X_NAME

#define FN_ANY (-1)

enum rule_kind { R_FAULT = 1, R_HANG = 2, R_LIE = 3 };

struct rule {
	enum rule_kind kind; /* 0 = free slot */
	int fn;              /* enum shim_fn or FN_ANY */
	CK_RV rv;
	unsigned ms;
	bool inside; /* R_HANG: sleep inside the module window (after real_enter) */
	unsigned long extra;
	unsigned after_n, count;
	unsigned long seen, fired;
};

/* what the rules decided for one call */
struct verdict {
	bool fail;
	CK_RV rv;
	unsigned hang_ms;
	unsigned hang_in_ms;
	bool lie;
	unsigned long extra;
	unsigned long clear_gen;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv; /* CLOCK_MONOTONIC; broadcast by p11shim_clear */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void *real_dl;
static CK_FUNCTION_LIST *real;
static struct rule rules[P11SHIM_RULES_MAX];
static unsigned long ncalls[F_COUNT_];
static unsigned long ninjected;
static unsigned long clear_gen;
static bool removed;
static bool reset_mode;
static bool reset_finalized;
static unsigned long nreinits;
/* PKCS#11 2.40 5.4: C_Finalize (and C_Initialize) must not run while other threads are
 * inside the module. Calls forwarded to the real module are tracked to catch that. */
static unsigned in_flight;
static unsigned finalizing;
static unsigned long nviolations;

static void hang_wait(unsigned ms, unsigned long gen);

/* around every forwarded call; lifecycle = C_Initialize / C_Finalize. A "hang inside" sleeps
 * here, counted as inside the module. */
static void real_enter(bool lifecycle, const struct verdict *v)
{
	pthread_mutex_lock(&mu);
	if (finalizing > 0 || (lifecycle && in_flight > 0))
		nviolations++;
	if (lifecycle)
		finalizing++;
	else
		in_flight++;
	pthread_mutex_unlock(&mu);
	if (v->hang_in_ms > 0)
		hang_wait(v->hang_in_ms, v->clear_gen);
}

static void real_leave(bool lifecycle)
{
	pthread_mutex_lock(&mu);
	if (lifecycle)
		finalizing--;
	else
		in_flight--;
	pthread_mutex_unlock(&mu);
}

static void shim_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wake_cv, &ca);
	pthread_condattr_destroy(&ca);
	const char *path = getenv("COFFRE_SHIM_MODULE");
	if (path == NULL || path[0] == '\0')
		path = P11SHIM_DEFAULT_MODULE;
	void *d = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (d == NULL)
		return;
	CK_C_GetFunctionList gfl;
	*(void **)&gfl = dlsym(d, "C_GetFunctionList");
	CK_FUNCTION_LIST *fl = NULL;
	if (gfl == NULL || gfl(&fl) != CKR_OK || fl == NULL) {
		dlclose(d);
		return;
	}
	real_dl = d;
	real = fl;
}

__attribute__((destructor)) static void shim_fini(void)
{
	if (real_dl != NULL)
		dlclose(real_dl);
	real_dl = NULL;
	real = NULL;
}

static int fn_lookup(const char *name)
{
	if (name == NULL)
		return -2;
	if (strcmp(name, "*") == 0)
		return FN_ANY;
	for (int i = 0; i < F_COUNT_; i++)
		if (strcmp(name, fn_names[i]) == 0)
			return i;
	return -2;
}

/* sleep ms, or until p11shim_clear() */
static void hang_wait(unsigned ms, unsigned long gen)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)(ms / 1000u);
	dl.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (clear_gen == gen) {
		if (pthread_cond_timedwait(&wake_cv, &mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&mu);
}

/* Count the call and decide its fate (under mu). Returns true when the call must not reach
 * the real module: *rv is the answer. */
static bool call_pre(enum shim_fn fn, struct verdict *v, CK_RV *rv)
{
	memset(v, 0, sizeof *v);
	pthread_once(&once, shim_init);
	pthread_mutex_lock(&mu);
	ncalls[fn]++;
	v->clear_gen = clear_gen;
	bool answered = false;
	if (removed) {
		*rv = CKR_DEVICE_REMOVED;
		ninjected++;
		answered = true;
	} else if (reset_mode && fn != F_C_Finalize && fn != F_C_Initialize) {
		*rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		ninjected++;
		answered = true;
	}
	if (!answered) {
		for (unsigned i = 0; i < P11SHIM_RULES_MAX; i++) {
			struct rule *r = &rules[i];
			if (r->kind == 0 || (r->fn != FN_ANY && r->fn != (int)fn))
				continue;
			r->seen++;
			if (r->seen <= r->after_n || (r->count != 0 && r->fired >= r->count))
				continue;
			r->fired++;
			ninjected++;
			switch (r->kind) {
			case R_FAULT:
				if (!v->fail) {
					v->fail = true;
					v->rv = r->rv;
				}
				break;
			case R_HANG:
				if (r->inside && r->ms > v->hang_in_ms)
					v->hang_in_ms = r->ms;
				else if (!r->inside && r->ms > v->hang_ms)
					v->hang_ms = r->ms;
				break;
			case R_LIE:
				if (!v->lie) {
					v->lie = true;
					v->extra = r->extra;
				}
				break;
			}
		}
	}
	pthread_mutex_unlock(&mu);
	if (answered)
		return true;
	if (v->hang_ms > 0)
		hang_wait(v->hang_ms, v->clear_gen);
	if (v->fail) {
		*rv = v->rv;
		return true;
	}
	if (real == NULL) {
		*rv = CKR_GENERAL_ERROR; /* the real module could not be loaded */
		return true;
	}
	return false;
}

/* ---- forwarding ------------------------------------------------------------------ */

/* plain forward */
#define FWD(name, params, args)                                                                    \
	static CK_RV shim_##name params                                                            \
	{                                                                                          \
		struct verdict v;                                                                  \
		CK_RV rv = CKR_OK;                                                                 \
		if (call_pre(F_##name, &v, &rv))                                                   \
			return rv;                                                                 \
		if (real->name == NULL)                                                            \
			return CKR_FUNCTION_NOT_SUPPORTED;                                         \
		real_enter(false, &v);                                                                 \
		rv = real->name args;                                                              \
		real_leave(false);                                                                 \
		return rv;                                                                         \
	}

/* forward a function with an output buffer `buf` and its in/out length `lenp` */
#define FWD_OUT(name, params, args, buf, lenp)                                                     \
	static CK_RV shim_##name params                                                            \
	{                                                                                          \
		struct verdict v;                                                                  \
		CK_RV rv = CKR_OK;                                                                 \
		if (call_pre(F_##name, &v, &rv))                                                   \
			return rv;                                                                 \
		if (real->name == NULL)                                                            \
			return CKR_FUNCTION_NOT_SUPPORTED;                                         \
		CK_ULONG given = (lenp) != NULL ? *(lenp) : 0;                                     \
		bool had_buf = (buf) != NULL;                                                      \
		real_enter(false, &v);                                                                 \
		rv = real->name args;                                                              \
		real_leave(false);                                                                 \
		if (v.lie && (lenp) != NULL)                                                       \
			*(lenp) = (had_buf ? given : *(lenp)) + v.extra;                           \
		return rv;                                                                         \
	}

static CK_RV shim_C_Initialize(void *init_args)
{
	struct verdict v;
	CK_RV rv = CKR_OK;
	if (call_pre(F_C_Initialize, &v, &rv))
		return rv;
	pthread_mutex_lock(&mu);
	bool leave_reset = reset_mode;
	bool fin = reset_mode && !reset_finalized;
	pthread_mutex_unlock(&mu);
	real_enter(true, &v);
	if (fin)
		(void)real->C_Finalize(NULL);
	rv = real->C_Initialize(init_args);
	real_leave(true);
	if (leave_reset) {
		pthread_mutex_lock(&mu);
		reset_mode = false;
		reset_finalized = false;
		nreinits++;
		pthread_mutex_unlock(&mu);
	}
	return rv;
}

static CK_RV shim_C_Finalize(void *reserved)
{
	struct verdict v;
	CK_RV rv = CKR_OK;
	if (call_pre(F_C_Finalize, &v, &rv))
		return rv;
	pthread_mutex_lock(&mu);
	bool in_reset = reset_mode, done = reset_finalized;
	pthread_mutex_unlock(&mu);
	if (!in_reset) {
		real_enter(true, &v);
		rv = real->C_Finalize(reserved);
		real_leave(true);
		return rv;
	}
	if (!done) {
		real_enter(true, &v);
		(void)real->C_Finalize(NULL);
		real_leave(true);
		pthread_mutex_lock(&mu);
		reset_finalized = true;
		pthread_mutex_unlock(&mu);
	}
	return CKR_OK;
}

FWD(C_GetInfo, (CK_INFO_PTR info), (info))
FWD_OUT(C_GetSlotList, (CK_BBOOL tp, CK_SLOT_ID_PTR list, CK_ULONG_PTR count),
	(tp, list, count), list, count)
FWD(C_GetSlotInfo, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info), (slot, info))
FWD(C_GetTokenInfo, (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info), (slot, info))
FWD_OUT(C_GetMechanismList, (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),
	(slot, list, count), list, count)
FWD(C_GetMechanismInfo, (CK_SLOT_ID slot, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR info),
    (slot, t, info))
FWD(C_InitToken, (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label),
    (slot, pin, pin_len, label))
FWD(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len), (s, pin, pin_len))
FWD(C_SetPIN,
    (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR n, CK_ULONG nn),
    (s, o, on, n, nn))
FWD(C_OpenSession,
    (CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s),
    (slot, flags, app, notify, s))
FWD(C_CloseSession, (CK_SESSION_HANDLE s), (s))
FWD(C_CloseAllSessions, (CK_SLOT_ID slot), (slot))
FWD(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info), (s, info))
FWD_OUT(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR st, CK_ULONG_PTR n), (s, st, n),
	st, n)
FWD(C_SetOperationState,
    (CK_SESSION_HANDLE s, CK_BYTE_PTR st, CK_ULONG n, CK_OBJECT_HANDLE ek, CK_OBJECT_HANDLE ak),
    (s, st, n, ek, ak))
FWD(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG n),
    (s, u, pin, n))
FWD(C_Logout, (CK_SESSION_HANDLE s), (s))
FWD(C_CreateObject,
    (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o), (s, t, n, o))
FWD(C_CopyObject,
    (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
     CK_OBJECT_HANDLE_PTR no),
    (s, o, t, n, no))
FWD(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o), (s, o))
FWD(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR n), (s, o, n))

#define LIE_ATTRS 128u
static CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
				      CK_ULONG n)
{
	struct verdict v;
	CK_RV rv = CKR_OK;
	if (call_pre(F_C_GetAttributeValue, &v, &rv))
		return rv;
	CK_ULONG given[LIE_ATTRS];
	CK_ULONG k = n < LIE_ATTRS ? n : LIE_ATTRS;
	for (CK_ULONG i = 0; t != NULL && i < k; i++)
		given[i] = t[i].ulValueLen;
	real_enter(false, &v);
	rv = real->C_GetAttributeValue(s, o, t, n);
	real_leave(false);
	if (v.lie && t != NULL) {
		for (CK_ULONG i = 0; i < k; i++) {
			if (t[i].pValue != NULL)
				t[i].ulValueLen = given[i] + v.extra;
			else if (t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION)
				t[i].ulValueLen += v.extra;
		}
	}
	return rv;
}

FWD(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
    (s, o, t, n))
FWD(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))

static CK_RV shim_C_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max,
				CK_ULONG_PTR count)
{
	struct verdict v;
	CK_RV rv = CKR_OK;
	if (call_pre(F_C_FindObjects, &v, &rv))
		return rv;
	real_enter(false, &v);
	rv = real->C_FindObjects(s, o, max, count);
	real_leave(false);
	if (v.lie && count != NULL)
		*count = max + v.extra;
	return rv;
}

FWD(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
FWD(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD_OUT(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_EncryptUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on), o, on)
FWD(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD_OUT(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_DecryptUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on), o, on)
FWD(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))
FWD_OUT(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn), (s, d, dn))
FWD(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k), (s, k))
FWD_OUT(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on), o, on)
FWD(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD_OUT(C_Sign, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn), (s, d, dn))
FWD_OUT(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR o, CK_ULONG_PTR on), (s, o, on), o, on)
FWD(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD_OUT(C_SignRecover,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR g, CK_ULONG gn),
    (s, d, dn, g, gn))
FWD(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn), (s, d, dn))
FWD(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR g, CK_ULONG gn), (s, g, gn))
FWD(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
FWD_OUT(C_VerifyRecover,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR g, CK_ULONG gn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, g, gn, o, on), o, on)
FWD_OUT(C_DigestEncryptUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_DecryptDigestUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_SignEncryptUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD_OUT(C_DecryptVerifyUpdate,
	(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, d, dn, o, on), o, on)
FWD(C_GenerateKey,
    (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),
    (s, m, t, n, k))
FWD(C_GenerateKeyPair,
    (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR kt,
     CK_ULONG kn, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),
    (s, m, pt, pn, kt, kn, pub, priv))
FWD_OUT(C_WrapKey,
	(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE k,
	 CK_BYTE_PTR o, CK_ULONG_PTR on),
	(s, m, wk, k, o, on), o, on)
FWD(C_UnwrapKey,
    (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk, CK_BYTE_PTR w, CK_ULONG wn,
     CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),
    (s, m, uk, w, wn, t, n, k))
FWD(C_DeriveKey,
    (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR t, CK_ULONG n,
     CK_OBJECT_HANDLE_PTR k),
    (s, m, b, t, n, k))
FWD(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG n), (s, d, n))
FWD(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG n), (s, d, n))
FWD(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))
FWD(C_CancelFunction, (CK_SESSION_HANDLE s), (s))
FWD(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR r), (flags, slot, r))

#define X_SET(n) .n = shim_##n,
#define shim_C_GetFunctionList C_GetFunctionList
static CK_FUNCTION_LIST shim_list = {
	.version = { 2, 40 },
	SHIM_FUNCS(X_SET)
};
#undef shim_C_GetFunctionList
#undef X_SET

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	pthread_once(&once, shim_init);
	pthread_mutex_lock(&mu);
	ncalls[F_C_GetFunctionList]++;
	pthread_mutex_unlock(&mu);
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (real == NULL)
		return CKR_GENERAL_ERROR;
	*out = &shim_list;
	return CKR_OK;
}

/* ---- control ------------------------------------------------------------------------ */

static int rule_add(const struct rule *r)
{
	pthread_once(&once, shim_init);
	int rc = -1;
	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < P11SHIM_RULES_MAX; i++) {
		if (rules[i].kind == 0) {
			rules[i] = *r;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

EXPORT int p11shim_fault(const char *fn, CK_RV rv, unsigned after_n, unsigned count)
{
	int f = fn_lookup(fn);
	if (f == -2)
		return -1;
	struct rule r = { .kind = R_FAULT, .fn = f, .rv = rv, .after_n = after_n, .count = count };
	return rule_add(&r);
}

EXPORT int p11shim_hang(const char *fn, unsigned ms, unsigned after_n, unsigned count)
{
	int f = fn_lookup(fn);
	if (f == -2)
		return -1;
	struct rule r = { .kind = R_HANG, .fn = f, .ms = ms, .after_n = after_n, .count = count };
	return rule_add(&r);
}

EXPORT int p11shim_hang_inside(const char *fn, unsigned ms, unsigned after_n, unsigned count)
{
	int f = fn_lookup(fn);
	if (f == -2)
		return -1;
	struct rule r = { .kind = R_HANG, .fn = f, .ms = ms, .inside = true, .after_n = after_n,
			  .count = count };
	return rule_add(&r);
}

EXPORT int p11shim_lie(const char *fn, unsigned long extra, unsigned after_n, unsigned count)
{
	int f = fn_lookup(fn);
	if (f == -2)
		return -1;
	struct rule r = { .kind = R_LIE, .fn = f, .extra = extra, .after_n = after_n,
			  .count = count };
	return rule_add(&r);
}

EXPORT void p11shim_device_removed(int on)
{
	pthread_once(&once, shim_init);
	pthread_mutex_lock(&mu);
	removed = on != 0;
	pthread_mutex_unlock(&mu);
}

EXPORT void p11shim_module_reset(void)
{
	pthread_once(&once, shim_init);
	pthread_mutex_lock(&mu);
	reset_mode = true;
	reset_finalized = false;
	pthread_mutex_unlock(&mu);
}

EXPORT void p11shim_clear(void)
{
	pthread_once(&once, shim_init);
	pthread_mutex_lock(&mu);
	memset(rules, 0, sizeof rules);
	memset(ncalls, 0, sizeof ncalls);
	ninjected = 0;
	removed = false;
	reset_mode = false;
	reset_finalized = false;
	clear_gen++;
	pthread_cond_broadcast(&wake_cv);
	pthread_mutex_unlock(&mu);
}

EXPORT unsigned long p11shim_calls(const char *fn)
{
	int f = fn_lookup(fn);
	unsigned long n = 0;
	pthread_mutex_lock(&mu);
	if (f == FN_ANY) {
		for (int i = 0; i < F_COUNT_; i++)
			n += ncalls[i];
	} else if (f >= 0) {
		n = ncalls[f];
	}
	pthread_mutex_unlock(&mu);
	return n;
}

EXPORT unsigned long p11shim_injected(void)
{
	pthread_mutex_lock(&mu);
	unsigned long n = ninjected;
	pthread_mutex_unlock(&mu);
	return n;
}

EXPORT unsigned long p11shim_reinits(void)
{
	pthread_mutex_lock(&mu);
	unsigned long n = nreinits;
	pthread_mutex_unlock(&mu);
	return n;
}

EXPORT unsigned long p11shim_violations(void)
{
	pthread_mutex_lock(&mu);
	unsigned long n = nviolations;
	pthread_mutex_unlock(&mu);
	return n;
}
