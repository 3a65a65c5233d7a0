/* hsm/ private header: the client state, the session executors, the PKCS#11 call wrapper.
 * Only the hsm sources and hsm tests include this (it pulls in the PKCS#11 header).
 *
 * Layers, bottom to top. A file calls only files of lower layers (tools/archcheck.py checks
 * that the file-level call graph has no cycle):
 *   1  p11_err.c der.c blob.c       CK_RV mapping, DER, blob header: no module calls
 *   2  p11_load.c p11_object.c      module loading, token selection; object and attribute
 *      wipe.c                       helpers used inside jobs; token zeroize
 *   3  p11_exec.c                   executors, deadlines, the control executor (hsm_ctl_run),
 *                                   the jobs on an executor's own session
 *   4  p11_slot.c kek_scan.c        lifecycle (open, close, logout) and the login-session
 *                                   jobs; the KEK table scan
 *   5  recover.c                    the one recovery path: login + KEK scan, module re-init,
 *                                   pool session repair (hsm_sess_ready, hsm_sess_run)
 *   6  p11_session.c kek.c wrap.c   public operations on pool sessions (within the layer:
 *      keypair.c selftest.c         selftest.c -> wrap.c -> kek.c, keywrap.c -> wrap.c;
 *      backup.c keywrap.c kwp.c     kpgen.c -> keypair.c, kpgen.c -> wrap.c -> kwp.c)
 *      kpgen.c crypto.c             crypto.c -> wrap.c, kwp.c
 *
 * Lock order: kek_lock -> ctl_lock -> mod_lock -> lock. kek_lock: one KEK creator
 * (hsm_kek_create, held across its job). ctl_lock: one control job (hsm_ctl_run, held while
 * the caller waits). mod_lock: taken by the thread that runs a job (the executor, or the
 * caller with cfg.direct_calls), read for a job, write for an HSM_CTL_EXCL job. lock: short
 * critical sections on the state below; never held across a module call or while waiting
 * for a job (its condition waits release it). */
#ifndef COFFRE_HSM_HSM_INT_H
#define COFFRE_HSM_HSM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#include "board/err.h"
#include "hsm/hsm.h"

/* ---- executors ------------------------------------------------------------------
 * Every module call runs on an executor thread so that a call that hangs can be abandoned:
 * the caller waits for the job with a deadline and, past it, returns CF_E_HSM_TIMEOUT and
 * detaches the executor (quarantine). A job reads and writes only executor-owned memory
 * (x->io, sec_alloc'd), never the caller's buffers, so a job that finishes late cannot write
 * into memory the caller has reused. Hand-off: an atomic state word, a short spin, then a
 * futex; see p11_exec.c. */
enum hsm_ex_state {
	HSM_EX_IDLE = 0,
	HSM_EX_POSTED = 1,
	HSM_EX_DONE = 2,
	HSM_EX_ABANDONED = 3, /* caller gave up; executor frees itself after the job */
	HSM_EX_EXIT = 4,      /* owner asks the executor to stop */
};

/* what a failure left behind, decided from the CK_RV by p11_err.c */
enum hsm_fault {
	HSM_FAULT_NONE = 0,
	HSM_FAULT_SESSION = 1, /* reopen this session */
	HSM_FAULT_DEVICE = 2,  /* reopen; escalate to a module re-init if that fails */
	HSM_FAULT_MODULE = 3,  /* C_Finalize + C_Initialize + login + find KEKs */
};

/* in: a DEK or its ciphertext + tag; keywrap.c's jobs take two sealed DEKs, a nonce and an AAD */
#define HSM_IO_IN (2u * (HSM_DEK_MAX + 64u) + HSM_AAD_MAX)
#define HSM_IO_OUT (HSM_DEK_MAX + 64u)
#define HSM_AAD_MAX (16u + 4u + HSM_UID_MAX + 4u)

/* The executor's scratch, in locked memory. The caller fills it before a job and copies the
 * results out after; jobs take their arguments only from here. */
struct hsm_io {
	uint8_t in[HSM_IO_IN];
	size_t in_n;
	uint8_t out[HSM_IO_OUT];
	size_t out_n;
	uint8_t aad[HSM_AAD_MAX];
	size_t aad_n;
	uint8_t nonce[12];
	uint8_t pin[HSM_PIN_MAX];
	size_t pin_n;
	CK_OBJECT_HANDLE key;     /* key a job uses */
	CK_OBJECT_HANDLE obj;     /* object a job made / found */
	CK_OBJECT_HANDLE objs[HSM_KEK_MAX + 8];
	size_t objs_n;
	CK_ULONG ul[8];           /* small scalar arguments / results */
	char label[HSM_LABEL_MAX + 16];
	uint8_t id[64];
	size_t id_n;
	int kind;                 /* job-specific selector */
	unsigned dek_flags;       /* wrap jobs: HSM_DEK_* (0 unless hsm_dek_make sets them) */
	uint8_t digest[32];       /* wrap jobs: SHA-256 of the plaintext (HSM_DEK_DIGEST) */
	CK_TOKEN_INFO tinfo;
	CK_SLOT_ID slot;
	/* transparent recovery (hsm_sess_run): attempt = 0 on the first run of a job, 1 on the
	 * one retry after a recovered fault; step = how far a non-idempotent job got (reset to 0
	 * before the first attempt), so that the retry can look for what the first attempt may
	 * have created instead of creating it twice */
	unsigned attempt;
	unsigned step;
};

struct hsm;
struct hsm_exec;
typedef cf_err (*hsm_job_fn)(struct hsm_exec *x);

#define HSM_REAP_MAX 160u /* > HSM_POOL_MAX + control + quarantined */

#define HSM_KCOPY_MAX 4

struct hsm_exec {
	struct hsm *h;
	bool ctl;                       /* the control executor: module-level calls, login session */
	pthread_t thr;
	_Atomic uint32_t state;         /* futex word, enum hsm_ex_state */
	_Atomic uint32_t exec_waiting;  /* executor is (about to be) in futex_wait */
	_Atomic uint32_t caller_waiting;
	hsm_job_fn job;
	cf_err job_rc;
	CK_RV last_rv;                  /* first failing CK_RV of the job (for classification) */
	enum hsm_fault fault;
	CK_SESSION_HANDLE sh;
	bool sh_open;
	bool broken;                    /* a job failed with a fault: repair before next use */
	bool excl;                      /* set by hsm_ctl_run(HSM_CTL_EXCL) for one job: the
	                                   executor itself takes mod_lock for writing (bounded by
	                                   `deadline`) and holds it until the job returns, even
	                                   when its caller gave up on it (see hsm->mod_hung) */
	struct timespec deadline;       /* the caller's deadline for the posted job */
	unsigned long gen;              /* module generation the session belongs to */
	struct hsm_io *io;              /* sec_alloc'd */
	/* warm KEKs (wrap.c): session-object copies of the token KEKs in this session, so a
	 * module that re-reads token objects from disk on every use (SoftHSMv2) does not. Valid
	 * only while the session is; emptied whenever it is opened or closed. */
	struct hsm_kcopy {
		uint32_t version;
		CK_OBJECT_HANDLE tok, copy;
	} kcopy[HSM_KCOPY_MAX];
	unsigned kcopy_n;
	bool kcopy_off;                 /* the module refused C_CopyObject: use the token KEK */
	/* crypto.c: the cryptographic services' arguments and client data (not key material:
	 * that stays in io), too large for io. Executor-owned like io, so that a job finishing
	 * after its caller gave up writes only here; grown by the caller while the executor is
	 * idle, freed (wiped) with the executor. */
	uint8_t *cs_buf;
	size_t cs_cap;
	/* crypto.c: the key object cache (hsm.h HSM_CS_CACHE_MAX). Objects of this executor's
	 * session: touched by its jobs, read by its caller while it is idle; forgotten (without
	 * C_DestroyObject) when the session is (re)opened, see hsm_cs_cache_forget. */
	struct hsm_cs_cache {
		struct hsm_cs_ent {
			uint8_t *id;           /* malloc'd: what identifies the key (crypto.c):
			                          ciphertext and names, no key material */
			size_t id_n;
			CK_OBJECT_HANDLE o;
			size_t mod_n, field;   /* struct kobj */
			uint64_t used_ms;      /* CLOCK_MONOTONIC, last use (the idle limit) */
			uint64_t used_seq;     /* last use, for the LRU order */
		} ent[HSM_CS_CACHE_MAX];
		unsigned n;
		uint64_t seq;
		unsigned long seen_gen;        /* h->cs_gen the entries are valid for */
		unsigned long want_gen;        /* sweep job: the generation to apply */
		bool drop_all;                 /* sweep job: destroy every entry */
	} csc;
};

/* The session of x is new or gone: its objects are too (x idle, or being freed). */
static inline void hsm_cs_cache_forget(struct hsm_exec *x)
{
	if (x == NULL)
		return;
	for (unsigned i = 0; i < x->csc.n; i++)
		free(x->csc.ent[i].id);
	x->csc.n = 0;
}

/* A pool slot handed to a worker. Its executor can be swapped when one is quarantined. */
struct hsm_sess {
	struct hsm *h;
	unsigned idx;
	bool in_use;
	bool up;             /* session open and healthy (for stats; under h->lock) */
	struct hsm_exec *x;  /* NULL until first use or after a quarantine */
};

struct hsm_kek {
	uint32_t version;
	CK_OBJECT_HANDLE handle;
};

struct hsm_tok_sel {               /* token selection: a label or the fields of a URI */
	char token[33], manufacturer[33], serial[17], model[17];
	bool has_token, has_manufacturer, has_serial, has_model, has_slot_id;
	CK_SLOT_ID slot_id;
};

struct hsm {
	struct hsm_config cfg;
	char *module_path;                /* owned copies */
	char *token_str;
	struct hsm_tok_sel sel;
	void *dl;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	char token_label[33];             /* trimmed label of the selected token */

	pthread_mutex_t lock;             /* pool, KEK table, PIN, flags, stats */
	pthread_cond_t pool_cv;           /* CLOCK_MONOTONIC */
	pthread_cond_t quar_cv;
	pthread_rwlock_t mod_lock;        /* read: a job in the module; write: a re-init job (taken
	                                     and released by the control executor itself) */
	unsigned mod_hung;                /* exclusive control jobs abandoned by their caller and
	                                     still running (holding mod_lock for writing): module
	                                     users wait for 0, bounded by their deadline (quar_cv) */

	uint8_t *pin;                     /* sec_alloc(HSM_PIN_MAX), NULL when not held */
	size_t pin_n;
	bool logged_in;
	bool need_reinit;
	_Atomic int running;              /* executors in a job + threads spin-waiting */
	_Atomic int callers;              /* threads inside hsm_exec_run (executor path) */
	int ncpu;                         /* spin only while running < ncpu */
	unsigned exec_live;               /* executor threads alive (hsm_close waits) */
	pthread_t reap[HSM_REAP_MAX];     /* executor threads that finished, still to be joined: a
	                                     thread counts itself out of exec_live before its
	                                     thread-local destructors (OpenSSL state of the module,
	                                     glibc's dlerror buffer) have run, so hsm_close joins them
	                                     before unloading the module; hsm_exec_new reaps too */
	unsigned reap_n;
	pthread_mutex_t ctl_lock;         /* one control job at a time */
	unsigned long gen;                /* bumped by each module re-init */

	struct hsm_exec *ctl;             /* control executor (holds the login session) */
	struct hsm_sess pool[HSM_POOL_MAX];
	unsigned pool_n;

	struct hsm_kek keks[HSM_KEK_MAX];
	unsigned kek_n;
	uint32_t kek_current;

	unsigned quarantined;
	unsigned long reinits, reopens, timeouts;
	/* set only by hsm_test_selftest_corrupt (test builds); present in every build so the
	 * struct layout never depends on COFFRE_TEST_HOOKS */
	enum hsm_selftest_id st_corrupt;
	/* one KEK creator at a time per client (hsm_kek_create: version = max + 1) */
	pthread_mutex_t kek_lock;
	/* set only by hsm_test_fault_set (test builds): one-shot simulated faults */
	_Atomic int test_fault;
	/* bumped by hsm_cs_cache_invalidate (and each login): sessions whose cache is of an
	 * older value destroy it (crypto.c) */
	_Atomic unsigned long cs_gen;
};

/* simulated faults at points the real module cannot be made to fail at on demand */
enum hsm_test_fault {
	HSM_TF_NONE = 0,
	HSM_TF_KEK_AFTER_CREATE = 1, /* close the session right after C_GenerateKey succeeded */
	HSM_TF_KP_AFTER_CREATE = 2,  /* close the session right after C_GenerateKeyPair */
};
/* true once if fault f is armed (and disarms it); always false outside test builds */
bool hsm_test_fault_take(struct hsm *h, enum hsm_test_fault f);

/* ---- p11_err.c ------------------------------------------------------------------ */
MUST_USE cf_err p11_rv_to_err(CK_RV rv);
enum hsm_fault p11_rv_fault(CK_RV rv);
const char *p11_rv_name(CK_RV rv);

/* Record a failing CK_RV in the executor (the first one, unless a later one is a fault and the
 * first was not) and map it. Use inside jobs. */
MUST_USE cf_err p11_fail(struct hsm_exec *x, CK_RV rv);
/* P11_CALL(x, C_Xxx, args...): call through the function list; a failure is recorded. */
#define P11_RV(x, fn, ...) ((x)->h->f->fn(__VA_ARGS__))

/* ---- p11_load.c ----------------------------------------------------------------- */
MUST_USE cf_err p11_module_load(const char *path, void **dl, CK_FUNCTION_LIST **f);
void p11_module_unload(void *dl);
MUST_USE CK_RV p11_module_initialize(CK_FUNCTION_LIST *f);
/* Parse cfg.token (label or "pkcs11:" URI) into sel. */
MUST_USE cf_err p11_tok_sel_parse(const char *s, struct hsm_tok_sel *sel);
/* Find the slot whose token matches (first match). Called on the control executor. */
MUST_USE cf_err p11_slot_find(struct hsm_exec *x, const struct hsm_tok_sel *sel,
			      CK_SLOT_ID *slot, char label[33]);
/* Copy a space-padded PKCS#11 field into a NUL-terminated trimmed string. */
void p11_field_trim(const unsigned char *fld, size_t n, char *out, size_t cap);
/* Percent-encode for a PKCS#11 URI (RFC 7512 pchar). CF_E_NO_SPACE. */
MUST_USE cf_err p11_uri_pct(const uint8_t *p, size_t n, bool all, char *out, size_t cap,
			    size_t *off);

/* ---- p11_object.c --------------------------------------------------------------- */
/* Find objects matching tmpl into x->io->objs (count checked against the array). */
MUST_USE cf_err p11_find(struct hsm_exec *x, CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* Read a CK_BBOOL attribute (length checked). */
MUST_USE cf_err p11_get_bool(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, bool *v);
MUST_USE cf_err p11_get_ulong(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
			      CK_ULONG *v);
/* Read a variable-length attribute into buf[cap] (two-call convention, length checked). */
MUST_USE cf_err p11_get_bytes(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
			      uint8_t *buf, size_t cap, size_t *n);
/* Check a KEK's attributes against the policy: CF_E_HSM_POLICY when the object is not an
 * acceptable KEK (attribute values, or an attribute missing / sensitive); any other error is a
 * fault or a lying length (CF_E_HSM_OUTPUT) and says nothing about the object. */
MUST_USE cf_err p11_kek_policy_check(struct hsm_exec *x, CK_OBJECT_HANDLE o, bool backup);

/* ---- p11_exec.c: executors and deadlines ------------------------------------------- */
void hsm_deadline(struct timespec *d, unsigned ms);
bool hsm_deadline_passed(const struct timespec *d);
unsigned hsm_timeout_ms(const struct hsm *h);
/* Join executor threads that have finished (see hsm->reap). */
void hsm_exec_reap(struct hsm *h);
MUST_USE cf_err hsm_exec_new(struct hsm *h, bool ctl, struct hsm_exec **out);
/* Stop an idle executor, close its session (if its generation is current), free it. */
void hsm_exec_free(struct hsm_exec *x);
/* Run job on x, waiting until deadline (CLOCK_MONOTONIC). On timeout the executor is
 * abandoned (the caller must drop its pointer; *xp is set to NULL). */
MUST_USE cf_err hsm_exec_run(struct hsm_exec **xp, hsm_job_fn job, const struct timespec *deadline);
/* Run a job on the control executor (replaced if it times out), under h->ctl_lock.
 *   HSM_CTL_EXCL  the job needs the module to itself (C_Finalize + C_Initialize): the executor
 *                 takes mod_lock for writing before the job and releases it when the job
 *                 returns. A caller that times out gets CF_E_HSM_TIMEOUT, but the abandoned
 *                 job keeps the lock until its hung call returns and it finishes (PKCS#11 2.40
 *                 5.4: no call may run during C_Finalize); meanwhile h->mod_hung > 0 and
 *                 module users wait for it, bounded by their own deadline.
 *   HSM_CTL_PIN   stage the held PIN into the executor's io->pin for the job (wiped after). */
#define HSM_CTL_EXCL 1u
#define HSM_CTL_PIN 2u
MUST_USE cf_err hsm_ctl_run(struct hsm *h, hsm_job_fn job, unsigned flags,
			    const struct timespec *deadline);
/* Wait until no abandoned exclusive job owns the module (h->lock held; bounded by deadline;
 * false = deadline passed, counted as a timeout). */
MUST_USE bool hsm_mod_wait_free(struct hsm *h, const struct timespec *deadline);
/* jobs on the executor's own session: (re)open it, logged in, for the current generation;
 * check that it is still open, on the selected slot and logged in */
MUST_USE cf_err hsm_job_open_session(struct hsm_exec *x);
MUST_USE cf_err hsm_job_session_info(struct hsm_exec *x);

/* ---- p11_slot.c: lifecycle, token selection, login session --------------------------- */
/* Free the held PIN (h->lock held, or h not shared yet). */
void hsm_pin_wipe(struct hsm *h);
/* control jobs: C_Initialize; find the configured token (into io->slot, io->label); open the
 * login session if needed and C_Login with the PIN in io->pin (wiped after the call) */
MUST_USE cf_err hsm_job_initialize(struct hsm_exec *x);
MUST_USE cf_err hsm_job_select(struct hsm_exec *x);
MUST_USE cf_err hsm_job_login(struct hsm_exec *x);

/* ---- kek_scan.c: the KEK table ---------------------------------------------------- */
/* On executor x: find every "coffre-kek-<n>" that passes the policy into h->keks
 * (h->lock taken inside to publish). All or nothing: on any error (fault, lying length) the
 * table and the current KEK are left as they were; the current KEK is dropped only by a
 * complete scan on a logged-in session that does not find it. */
MUST_USE cf_err hsm_kek_scan(struct hsm_exec *x);
/* Handle of KEK version v (under h->lock), 0 if unknown. */
CK_OBJECT_HANDLE hsm_kek_handle(struct hsm *h, uint32_t v);

/* ---- recover.c: login, re-init, pool session repair ---------------------------------- */
/* Re-initialise the module: one exclusive control job (HSM_CTL_EXCL) does C_Finalize +
 * C_Initialize, reselects the token, logs in and finds the KEKs; bumps h->gen. Does nothing
 * if h->need_reinit was cleared meanwhile (another thread did it). */
MUST_USE cf_err hsm_module_reinit(struct hsm *h, const struct timespec *deadline);
/* Make sure s has an executor with an open, logged-in session of the current generation,
 * repairing what is broken (reopen, re-init). */
MUST_USE cf_err hsm_sess_ready(struct hsm_sess *s, const struct timespec *deadline);
/* Run a job on a pool session: ready + run + fault bookkeeping, one retry after a repair. */
MUST_USE cf_err hsm_sess_run(struct hsm_sess *s, hsm_job_fn job, const struct timespec *deadline);
/* After a job on s failed with rc: a fault marks the session broken (and the module for a
 * re-init when the fault says so). */
void hsm_sess_note_fault(struct hsm_sess *s, cf_err rc);

/* ---- crypto.c: key object cache ------------------------------------------------------ */
/* Destroy every cached key object of s (hsm_session_release). */
void hsm_cs_cache_drop(struct hsm_sess *s);

/* ---- wrap.c --------------------------------------------------------------------- */
/* Build the blob header and AAD into x->io; used by wrap and the wrap KAT. */
#define HSM_BLOB_HDR HSM_BLOB_HDR_LEN
#define HSM_BLOB_MAGIC "CFKW"
void hsm_blob_header(uint8_t hdr[HSM_BLOB_HDR], uint32_t kek_version, uint32_t dek_len);
MUST_USE cf_err hsm_blob_aad(const uint8_t hdr[HSM_BLOB_HDR], const struct hsm_bind *b,
			     uint8_t *aad, size_t cap, size_t *n);
/* Inside a job: the handle to use for KEK version v, its warm session copy when there is one
 * (made on first use; sets io->ul[0] = v), else the token object; CK_INVALID_HANDLE if the
 * version is unknown. */
CK_OBJECT_HANDLE hsm_job_kek_warm(struct hsm_exec *x, uint32_t v);
/* jobs: GCM encrypt io->in (in_n) under io->key with io->nonce and io->aad -> io->out;
 * decrypt io->in -> io->out. */
MUST_USE cf_err hsm_job_gcm_encrypt(struct hsm_exec *x);
MUST_USE cf_err hsm_job_gcm_decrypt(struct hsm_exec *x);
/* Seal data[n] (not secret here: a KWP ciphertext) in a blob of mechanism mech under KEK kv
 * (the version the payload was made for), bound to b. Errors as hsm_dek_wrap. */
MUST_USE cf_err hsm_blob_seal(hsm_sess *s, uint8_t mech, uint32_t kv, const uint8_t *data,
			      size_t n, const struct hsm_bind *b, uint8_t *blob, size_t cap,
			      size_t *blob_n);

/* ---- kwp.c: CKM_AES_KEY_WRAP_PAD under a KEK (HSM_BLOB_MECH_KWP_GCM) ------------------ */
/* A session copy of KEK version v with CKA_WRAP and CKA_UNWRAP true (the token KEK has
 * neither; it stays as it is). *out = the copy; the caller destroys it (hsm_kwp_drop).
 * CF_E_HSM_WRONG_KEK (no such KEK), CF_E_HSM_MECH (the module refused the copy). */
MUST_USE cf_err hsm_kwp_kek(struct hsm_exec *x, uint32_t v, CK_OBJECT_HANDLE *out);
void hsm_kwp_drop(struct hsm_exec *x, CK_OBJECT_HANDLE *o);
/* C_WrapKey(CKM_AES_KEY_WRAP_PAD, kek, key) into dst (executor scratch, HSM_DEK_MAX bytes),
 * *dst_n = length (checked: a multiple of 8, 16..HSM_DEK_MAX). */
MUST_USE cf_err hsm_kwp_wrap_io(struct hsm_exec *x, CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key,
				uint8_t *dst, size_t *dst_n);
/* jobs: io->ul[0] = KEK version, io->in[in_n] = KWP ciphertext ->
 *   open:   io->out = the unwrapped bytes (PKCS#8), through a readable generic-secret session
 *           object destroyed at once;
 *   rewrap: io->out = the same key wrapped under KEK io->ul[1] (the key stays in the HSM). */
MUST_USE cf_err hsm_job_kwp_open(struct hsm_exec *x);
MUST_USE cf_err hsm_job_kwp_rewrap(struct hsm_exec *x);

/* ---- keypair.c, for kpgen.c ---------------------------------------------------------- */
/* Sign with priv and verify with pub (and a modified message must fail): CF_E_HSM_SELFTEST. */
MUST_USE cf_err hsm_kp_pairwise(struct hsm_exec *x, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
				bool rsa);
/* SubjectPublicKeyInfo of public key object o into io->out / io->out_n. */
MUST_USE cf_err hsm_kp_spki(struct hsm_exec *x, CK_OBJECT_HANDLE o);

/* ---- der.c (pure: no module calls) ----------------------------------------------- */
/* Total length (header + contents) of the DER SEQUENCE at p[0..n), definite length of up to 3
 * length bytes, not past n. CF_E_HSM_OUTPUT. */
MUST_USE cf_err der_seq_len(const uint8_t *p, size_t n, size_t *len);
/* Field size in bytes of the curve named by CKA_EC_PARAMS (P-256: 32, P-384: 48), 0 if
 * unknown. */
size_t der_ec_field_bytes(const uint8_t *params, size_t n);
/* The uncompressed point inside CKA_EC_POINT (DER OCTET STRING, or bare if its length is exact)
 * for a curve of `field` bytes: *pt -> 1 + 2 * field bytes starting 0x04. CF_E_HSM_OUTPUT. */
MUST_USE cf_err der_ec_point_unwrap(const uint8_t *p, size_t n, size_t field, const uint8_t **pt);
/* SubjectPublicKeyInfo DER; out == NULL counts only (*n = length); CF_E_NO_SPACE when the
 * length exceeds cap (*n = length needed). RSA: 2048..4096-bit odd modulus, odd exponent
 * 3..2^64-1, else CF_E_HSM_OUTPUT. EC: P-256 / P-384 (else CF_E_HSM_MECH). */
MUST_USE cf_err der_spki_rsa(const uint8_t *mod, size_t mod_n, const uint8_t *e, size_t e_n,
			     uint8_t *out, size_t cap, size_t *n);
MUST_USE cf_err der_spki_ec(const uint8_t *params, size_t params_n, const uint8_t *point,
			    size_t point_n, uint8_t *out, size_t cap, size_t *n);
/* A SubjectPublicKeyInfo (RSA 1024..4096, EC P-256 / P-384 uncompressed), pointers into der.
 * CF_E_INVALID_ARG (malformed), CF_E_HSM_MECH (another algorithm, curve or size). */
enum { DER_PUB_NONE = 0, DER_PUB_RSA = 1, DER_PUB_EC = 2 };
struct der_pub {
	int kind;                                 /* DER_PUB_* */
	const uint8_t *mod, *e; size_t mod_n, e_n; /* RSA: magnitudes */
	const uint8_t *params; size_t params_n;   /* EC: the namedCurve OID TLV */
	const uint8_t *point; size_t point_n;     /* EC: 04 || X || Y */
	size_t field;                             /* EC: field bytes */
};
MUST_USE cf_err der_spki_parse(const uint8_t *der, size_t n, struct der_pub *out);
/* The algorithm of a PKCS#8 PrivateKeyInfo: DER_PUB_RSA, DER_PUB_EC or DER_PUB_NONE. */
int der_pkcs8_kind(const uint8_t *der, size_t n);
/* DER ECDSA-Sig-Value -> r || s, each left-padded to field bytes (rs: 2 * field).
 * CF_E_INVALID_ARG when malformed or an integer is longer than field. */
MUST_USE cf_err der_ecdsa_sig_parse(const uint8_t *der, size_t n, size_t field, uint8_t *rs);

#ifdef COFFRE_TEST_HOOKS
/* Tests: arm a one-shot simulated fault (HSM_TF_NONE disarms). */
void hsm_test_fault_set(hsm *h, enum hsm_test_fault f);
/* Tests: raw access to a session's module and handle (after hsm_sess_ready). */
MUST_USE cf_err hsm_test_raw(hsm_sess *s, CK_FUNCTION_LIST **f, CK_SESSION_HANDLE *sh);
#endif

#endif
