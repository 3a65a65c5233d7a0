/* p11shim: a fault-injecting PKCS#11 module for tests (the HSM
 * failure patterns of docs/hsm.md). $(BUILD)/tests/libp11shim.so exports C_GetFunctionList and forwards
 * every function of the PKCS#11 2.40 function list to the real module named by the
 * environment variable COFFRE_SHIM_MODULE (default /usr/lib/softhsm/libsofthsm2.so), which it
 * dlopens on first use. Give the shim's path to the code under test as its module path.
 *
 * The test steers it through the control functions below, reached in the SAME loaded instance
 * as the code under test:
 *     struct p11shim_api api;
 *     p11shim_api_get(path, true, &api);     // dlopen(path, RTLD_NOW | RTLD_NOLOAD) + dlsym
 *     api.fault("C_Decrypt", CKR_DEVICE_ERROR, 2, 1);
 *
 * Rules. fn is a PKCS#11 function name ("C_Decrypt") or "*" (every function). A rule counts
 * the calls of its function made after it was armed: calls 1..after_n pass, calls
 * after_n+1 .. after_n+count are hit, later ones pass again. count = 0: every call after
 * after_n is hit until p11shim_clear(). Up to P11SHIM_RULES_MAX rules at once; each counts
 * independently. On one call: the hangs that fire sleep (the longest wins), then the first
 * fault that fires is returned without calling the real module; else the call is forwarded
 * and, if a lie fires, its output length is falsified.
 *   fault  return rv instead of calling the real module.
 *   hang   sleep ms, then forward the call (a slow module, the call completes late). The sleep
 *          ends early when p11shim_clear() is called (so tests do not wait for it).
 *   hang_inside  the same, but the sleep happens after the call entered the module window
 *          (a thread stuck inside the module: it counts as in flight for the misuse check
 *          below, as a real hung module call would).
 *   lie    forward, then report an output length larger than the buffer given: buffer
 *          given -> given + extra; size query (NULL buffer) -> real + extra. Applies to every
 *          function with a length output: C_GetSlotList, C_GetMechanismList,
 *          C_GetOperationState, C_GetAttributeValue (each attribute), C_FindObjects (count =
 *          max + extra), C_Encrypt/Decrypt/Digest/Sign/SignRecover/VerifyRecover (+Update,
 *          +Final, the dual-function updates), C_WrapKey. The bytes written stay within the
 *          buffer (SoftHSMv2 honours the real length): only the reported length lies.
 * Modes (checked before the rules):
 *   device removed  every call (C_Initialize and C_Finalize too) returns CKR_DEVICE_REMOVED,
 *                   until p11shim_device_removed(0) or p11shim_clear().
 *   module reset    emulates a library that lost its state: every call returns
 *                   CKR_CRYPTOKI_NOT_INITIALIZED, except C_Finalize, which really finalises
 *                   the real module and returns CKR_OK, and C_Initialize, which really
 *                   finalises (if not done yet) and re-initialises the real module and ends the
 *                   mode. So every session and object handle from before is void, as with a
 *                   module that restarted. p11shim_clear() ends the mode without a re-init.
 * Misuse check: C_Initialize / C_Finalize reaching the real module while another call is in
 * it (or a call entering it during them) is a violation of PKCS#11 2.40 section 5.4 ("an
 * application must not call C_Finalize while other threads are making Cryptoki calls"):
 * counted by p11shim_violations(), never cleared. Hung calls sleeping in the shim do not count
 * as inside the module until they are forwarded.
 * Calls are counted per function (p11shim_calls) since load or the last p11shim_clear().
 * All state is under one mutex; the real module is called outside it. */
#ifndef COFFRE_TESTS_SHIM_P11SHIM_H
#define COFFRE_TESTS_SHIM_P11SHIM_H

#include <dlfcn.h>
#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#define P11SHIM_RULES_MAX 32
#define P11SHIM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* 0, or -1 (unknown function name, or the rule table is full) */
int p11shim_fault(const char *fn, CK_RV rv, unsigned after_n, unsigned count);
int p11shim_hang(const char *fn, unsigned ms, unsigned after_n, unsigned count);
int p11shim_hang_inside(const char *fn, unsigned ms, unsigned after_n, unsigned count);
int p11shim_lie(const char *fn, unsigned long extra, unsigned after_n, unsigned count);
void p11shim_device_removed(int on);
void p11shim_module_reset(void);
/* Drop every rule, end both modes, wake hung calls, zero the call and injection counters. */
void p11shim_clear(void);
/* Calls of fn ("*" = all functions) since load / the last clear. */
unsigned long p11shim_calls(const char *fn);
/* Faults, hangs and lies injected (mode answers included) since load / the last clear. */
unsigned long p11shim_injected(void);
/* Real finalize + initialize cycles done to leave module-reset mode (never cleared). */
unsigned long p11shim_reinits(void);
/* C_Initialize / C_Finalize that overlapped other calls in the real module (never cleared). */
unsigned long p11shim_violations(void);

struct p11shim_api {
	void *dl; /* the handle from dlopen: dlclose it when done */
	int (*fault)(const char *fn, CK_RV rv, unsigned after_n, unsigned count);
	int (*hang)(const char *fn, unsigned ms, unsigned after_n, unsigned count);
	int (*hang_inside)(const char *fn, unsigned ms, unsigned after_n, unsigned count);
	int (*lie)(const char *fn, unsigned long extra, unsigned after_n, unsigned count);
	void (*device_removed)(int on);
	void (*module_reset)(void);
	void (*clear)(void);
	unsigned long (*calls)(const char *fn);
	unsigned long (*injected)(void);
	unsigned long (*reinits)(void);
	unsigned long (*violations)(void);
	CK_RV (*get_function_list)(CK_FUNCTION_LIST **fl);
};

/* Bind the control functions of the shim at path. noload: only if it is already loaded (the
 * code under test loaded it: RTLD_NOLOAD), else load it. 0 or -1. */
static inline int p11shim_api_get(const char *path, bool noload, struct p11shim_api *api)
{
	void *d = dlopen(path, RTLD_NOW | (noload ? RTLD_NOLOAD : 0));
	if (d == NULL)
		return -1;
	api->dl = d;
#define P11SHIM_SYM(field, name) (*(void **)&api->field = dlsym(d, name))
	P11SHIM_SYM(fault, "p11shim_fault");
	P11SHIM_SYM(hang, "p11shim_hang");
	P11SHIM_SYM(hang_inside, "p11shim_hang_inside");
	P11SHIM_SYM(lie, "p11shim_lie");
	P11SHIM_SYM(device_removed, "p11shim_device_removed");
	P11SHIM_SYM(module_reset, "p11shim_module_reset");
	P11SHIM_SYM(clear, "p11shim_clear");
	P11SHIM_SYM(calls, "p11shim_calls");
	P11SHIM_SYM(injected, "p11shim_injected");
	P11SHIM_SYM(reinits, "p11shim_reinits");
	P11SHIM_SYM(violations, "p11shim_violations");
	P11SHIM_SYM(get_function_list, "C_GetFunctionList");
#undef P11SHIM_SYM
	if (api->fault == NULL || api->hang == NULL || api->hang_inside == NULL || api->lie == NULL ||
	    api->device_removed == NULL || api->module_reset == NULL || api->clear == NULL ||
	    api->calls == NULL || api->injected == NULL || api->reinits == NULL || api->violations == NULL ||
	    api->get_function_list == NULL) {
		dlclose(d);
		api->dl = NULL;
		return -1;
	}
	return 0;
}

/* Done with the shim of p11shim_api_get: its injections cleared, the handle closed. */
static inline void p11shim_api_put(struct p11shim_api *api)
{
	if (api->dl == NULL)
		return;
	api->clear();
	dlclose(api->dl);
	api->dl = NULL;
}

#endif
