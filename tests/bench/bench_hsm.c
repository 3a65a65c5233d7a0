/* make bench-hsm: the layer against the raw PKCS#11 calls under it, same run, same token.
 * Prints "hsm <operation> threads=<n> <ops/s>" lines. SoftHSMv2, throw-away token directory.
 *   generate+wrap      hsm_dek_generate (32-byte DEK)   raw: C_GenerateRandom + C_EncryptInit + C_Encrypt
 *   unwrap             hsm_dek_unwrap                   raw: C_DecryptInit + C_Decrypt
 *   raw-kwp-*          the AES key wrap with padding alternative (not used; for the record)
 *   cs-aes-gcm-4k      hsm_cs_run AES-256-GCM encrypt of 4 KiB (the key's blob opened per call)
 *                                                  raw: C_EncryptInit + C_Encrypt, key object kept
 *   cs-ecdsa-p256      hsm_cs_run ECDSA P-256 / SHA-256 sign (a KWP-then-GCM blob unwrapped per
 *                      call)                       raw: C_DigestInit + C_Digest + C_SignInit +
 *                                                  C_Sign, key object kept
 *   cs-*-cached        the same hsm_cs_run with the key object cache on (the default; the rows
 *                      above run with cfg.cs_cache_off): the first call of a run opens the key,
 *                      the others find it (docs/hsm.md "Key object cache")
 * Raw and layered runs alternate BENCH_REPEAT times (default 3) and each line is the median, so
 * that machine noise (a shared 2-core VM) hits both alike; "hsm <op> layer/raw <ratio>" lines
 * give the layer's share of the raw rate. BENCH_SECONDS (default 1) per run; BENCH_ONLY=cs runs
 * only the cs-* rows and their raw counterparts. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"
#include "tests/unit/hsm/hsm_test_util.h"

enum op { OP_GEN, OP_RAW_GEN, OP_UNWRAP, OP_RAW_DEC, OP_KWP_GEN, OP_KWP_UNWRAP, OP_CS_GCM,
	  OP_RAW_GCM, OP_CS_ECDSA, OP_RAW_ECDSA };
static const char *const op_name[] = { "generate+wrap", "raw-generate+wrap", "unwrap",
				       "raw-decrypt", "raw-kwp-generate+wrap", "raw-kwp-unwrap",
				       "cs-aes-gcm-4k", "raw-aes-gcm-4k", "cs-ecdsa-p256",
				       "raw-ecdsa-p256" };
#define CS_DATA 4096u

static bool direct;

struct bctx {
	hsm *h;
	enum op op;
	double secs;
	pthread_barrier_t *bar;
	unsigned long ops;
	int err;
};

static const struct hsm_bind bind = { (const uint8_t *)"bench-uid-0001", 14, 2 };
static const struct hsm_bind pbind = { (const uint8_t *)"bench-priv-0001", 15, 4 };
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

/* the cryptographic services rows: a managed AES-256 key (blob) / an HSM-made P-256 pair's
 * private blob, and for the raw rows the same kind of key as a session object kept */
struct cs_bench {
	uint8_t data[CS_DATA], out[CS_DATA + 64], iv[12];
	uint8_t kblob[HSM_KP_BLOB_MAX], spki[256];
	struct hsm_kw_key key;
	CK_OBJECT_HANDLE aes, pub, priv;
};

static int cs_setup(struct bctx *c, hsm_sess *s, CK_SESSION_HANDLE sh, const uint8_t *blob,
		    size_t bn, struct cs_bench *b)
{
	CK_FUNCTION_LIST *f = c->h->f;
	CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
	CK_ULONG len = 32;
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 }, em = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	memset(b->data, 0x5a, sizeof b->data);
	memset(b->iv, 0x01, sizeof b->iv);
	if (c->op == OP_CS_GCM) {
		b->key = (struct hsm_kw_key){ blob, bn, bind };
	} else if (c->op == OP_CS_ECDSA) {
		size_t kn = 0, sn = 0;
		if (hsm_kp_generate_wrapped(s, HSM_KP_EC_P256, &pbind, b->kblob, sizeof b->kblob,
					    &kn, b->spki, sizeof b->spki, &sn) != CF_OK)
			return -1;
		b->key = (struct hsm_kw_key){ b->kblob, kn, pbind };
	} else if (c->op == OP_RAW_GCM) {
		CK_ATTRIBUTE kt[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fa, 1 },
				      { CKA_SENSITIVE, &t, 1 }, { CKA_ENCRYPT, &t, 1 } };
		if (f->C_GenerateKey(sh, &gm, kt, 4, &b->aes) != CKR_OK)
			return -1;
	} else if (c->op == OP_RAW_ECDSA) {
		CK_ATTRIBUTE pt[] = { { CKA_TOKEN, &fa, 1 }, { CKA_VERIFY, &t, 1 },
				      { CKA_EC_PARAMS, (void *)oid_p256, sizeof oid_p256 } };
		CK_ATTRIBUTE vt[] = { { CKA_TOKEN, &fa, 1 }, { CKA_SENSITIVE, &t, 1 },
				      { CKA_SIGN, &t, 1 } };
		if (f->C_GenerateKeyPair(sh, &em, pt, 3, vt, 3, &b->pub, &b->priv) != CKR_OK)
			return -1;
	}
	return 0;
}

static int cs_once(struct bctx *c, hsm_sess *s, CK_SESSION_HANDLE sh, struct cs_bench *b)
{
	CK_FUNCTION_LIST *f = c->h->f;
	struct hsm_cs_result r;
	CK_GCM_PARAMS gp = { b->iv, 12, 96, NULL, 0, 128 };
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof gp }, sha = { CKM_SHA256, NULL, 0 },
		     ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_ULONG on = sizeof b->out, dn = 32;
	uint8_t dg[32];
	switch (c->op) {
	case OP_CS_GCM: {
		struct hsm_cs_params p = { .mech = HSM_CS_AES_GCM, .iv = b->iv, .iv_n = 12 };
		return hsm_cs_run(s, HSM_CS_ENCRYPT, &b->key, &p, b->data, CS_DATA, b->out,
				  sizeof b->out, &r) == CF_OK && r.out_n == CS_DATA ? 0 : -1;
	}
	case OP_CS_ECDSA: {
		struct hsm_cs_params p = { .mech = HSM_CS_ECDSA, .hash = HSM_HASH_SHA256 };
		return hsm_cs_run(s, HSM_CS_SIGN, &b->key, &p, b->data, 64, b->out, sizeof b->out,
				  &r) == CF_OK ? 0 : -1;
	}
	case OP_RAW_GCM:
		return f->C_EncryptInit(sh, &gcm, b->aes) == CKR_OK &&
			       f->C_Encrypt(sh, b->data, CS_DATA, b->out, &on) == CKR_OK ? 0 : -1;
	default: /* OP_RAW_ECDSA */
		return f->C_DigestInit(sh, &sha) == CKR_OK &&
			       f->C_Digest(sh, b->data, 64, dg, &dn) == CKR_OK &&
			       f->C_SignInit(sh, &ecdsa, b->priv) == CKR_OK &&
			       f->C_Sign(sh, dg, 32, b->out, &on) == CKR_OK ? 0 : -1;
	}
}

static void *bench_thread(void *arg)
{
	struct bctx *c = arg;
	hsm_sess *s = NULL;
	CK_FUNCTION_LIST *f = c->h->f;
	CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
	uint8_t blob[128], ct[64], out[64], nonce[12], aad[HSM_AAD_MAX], hdr[HSM_BLOB_HDR];
	size_t bn = 0, aad_n = 0;
	uint8_t *dek = NULL;
	void *p = NULL;
	if (sec_alloc(64, &p) != CF_OK) {
		c->err = 1;
		pthread_barrier_wait(c->bar);
		return NULL;
	}
	dek = p;
	if (hsm_session_acquire(c->h, 5000, &s) != CF_OK ||
	    hsm_dek_generate(s, 32, &bind, blob, sizeof blob, &bn) != CF_OK)
		c->err = 1;
	uint32_t kv = hsm_kek_current(c->h);
	CK_OBJECT_HANDLE kek = hsm_kek_handle(c->h, kv);
	bool raw = c->op != OP_GEN && c->op != OP_UNWRAP && c->op != OP_CS_GCM &&
		   c->op != OP_CS_ECDSA;
	bool cs = c->op >= OP_CS_GCM;
	struct cs_bench *csb = cs ? calloc(1, sizeof *csb) : NULL;
	if (cs && csb == NULL)
		c->err = 1;
	if (raw && f->C_OpenSession(c->h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				    &sh) != CKR_OK)
		c->err = 1;
	hsm_blob_header(hdr, kv, 32);
	if (hsm_blob_aad(hdr, &bind, aad, sizeof aad, &aad_n) != CF_OK)
		c->err = 1;
	memcpy(nonce, blob + 16, 12);
	memcpy(ct, blob + 28, 48);
	/* KWP: a session wrapping key with CKA_WRAP/UNWRAP (a KEK variant for the comparison) */
	CK_OBJECT_HANDLE kwk = CK_INVALID_HANDLE;
	uint8_t kwb[64];
	CK_ULONG kwn = 0;
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 }, kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE akt = CKK_AES;
	CK_ATTRIBUTE kt[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fa, 1 },
			      { CKA_SENSITIVE, &t, 1 }, { CKA_EXTRACTABLE, &fa, 1 },
			      { CKA_WRAP, &t, 1 }, { CKA_UNWRAP, &t, 1 } };
	CK_ATTRIBUTE dt[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fa, 1 },
			      { CKA_SENSITIVE, &fa, 1 }, { CKA_EXTRACTABLE, &t, 1 } };
	CK_ATTRIBUTE ut[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &akt, sizeof akt },
			      { CKA_TOKEN, &fa, 1 }, { CKA_SENSITIVE, &fa, 1 },
			      { CKA_EXTRACTABLE, &t, 1 } };
	if (c->op == OP_KWP_GEN || c->op == OP_KWP_UNWRAP) {
		CK_OBJECT_HANDLE dk;
		kwn = sizeof kwb;
		if (f->C_GenerateKey(sh, &gm, kt, 6, &kwk) != CKR_OK ||
		    f->C_GenerateKey(sh, &gm, dt, 4, &dk) != CKR_OK ||
		    f->C_WrapKey(sh, &kw, kwk, dk, kwb, &kwn) != CKR_OK)
			c->err = 1;
	}
	CK_GCM_PARAMS gp = { nonce, 12, 96, aad, aad_n, 128 };
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof gp };
	if (cs && !c->err && cs_setup(c, s, sh, blob, bn, csb) != 0)
		c->err = 1;
	pthread_barrier_wait(c->bar);
	double t_end = now_ms() + c->secs * 1000.0;
	unsigned long n = 0;
	while (!c->err) {
		for (int i = 0; i < 64 && !c->err; i++) {
			size_t on = 0;
			CK_ULONG cn;
			CK_OBJECT_HANDLE dk;
			switch (c->op) {
			case OP_GEN:
				if (hsm_dek_generate(s, 32, &bind, blob, sizeof blob, &bn) != CF_OK)
					c->err = 2;
				break;
			case OP_UNWRAP:
				if (hsm_dek_unwrap(s, blob, bn, &bind, dek, 64, &on) != CF_OK || on != 32)
					c->err = 3;
				break;
			case OP_RAW_GEN:
				cn = sizeof out;
				if (f->C_GenerateRandom(sh, dek, 44) != CKR_OK ||
				    f->C_EncryptInit(sh, &gcm, kek) != CKR_OK ||
				    f->C_Encrypt(sh, dek, 32, out, &cn) != CKR_OK)
					c->err = 4;
				break;
			case OP_RAW_DEC:
				cn = 64;
				if (f->C_DecryptInit(sh, &gcm, kek) != CKR_OK ||
				    f->C_Decrypt(sh, ct, 48, dek, &cn) != CKR_OK || cn != 32)
					c->err = 5;
				break;
			case OP_KWP_GEN:
				cn = sizeof out;
				if (f->C_GenerateKey(sh, &gm, dt, 4, &dk) != CKR_OK ||
				    f->C_WrapKey(sh, &kw, kwk, dk, out, &cn) != CKR_OK ||
				    f->C_DestroyObject(sh, dk) != CKR_OK)
					c->err = 6;
				break;
			case OP_CS_GCM:
			case OP_RAW_GCM:
			case OP_CS_ECDSA:
			case OP_RAW_ECDSA:
				if (cs_once(c, s, sh, csb) != 0)
					c->err = 8;
				break;
			case OP_KWP_UNWRAP: {
				CK_ATTRIBUTE va = { CKA_VALUE, dek, 64 };
				if (f->C_UnwrapKey(sh, &kw, kwk, kwb, kwn, ut, 5, &dk) != CKR_OK ||
				    f->C_GetAttributeValue(sh, dk, &va, 1) != CKR_OK ||
				    f->C_DestroyObject(sh, dk) != CKR_OK)
					c->err = 7;
				break;
			}
			}
			n++;
		}
		if (now_ms() >= t_end)
			break;
	}
	c->ops = n;
	free(csb);
	if (sh != CK_INVALID_HANDLE)
		(void)f->C_CloseSession(sh);
	sec_free(dek, 64);
	hsm_session_release(s);
	return NULL;
}

static int run_rate(hsm *h, enum op op, int threads, double secs, double *rate)
{
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
	struct bctx c[2];
	pthread_t th[2];
	for (int i = 0; i < threads; i++) {
		c[i] = (struct bctx){ h, op, secs, &bar, 0, 0 };
		pthread_create(&th[i], NULL, bench_thread, &c[i]);
	}
	pthread_barrier_wait(&bar);
	double t0 = now_ms();
	unsigned long total = 0;
	int err = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += c[i].ops;
		err |= c[i].err;
	}
	double dt = (now_ms() - t0) / 1000.0;
	pthread_barrier_destroy(&bar);
	if (err) {
		fprintf(stderr, "bench %s failed (%d)\n", op_name[op], err);
		return -1;
	}
	*rate = (double)total / dt;
	return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define REPEAT_MAX 15

/* alternate raw and layered runs `rep` times; print both medians and the ratio */
static int run_pair(hsm *h, enum op raw, enum op lay, int threads, double secs, int rep)
{
	double r[REPEAT_MAX], l[REPEAT_MAX];
	for (int i = 0; i < rep; i++)
		if (run_rate(h, raw, threads, secs, &r[i]) || run_rate(h, lay, threads, secs, &l[i]))
			return -1;
	qsort(r, (size_t)rep, sizeof r[0], dbl_cmp);
	qsort(l, (size_t)rep, sizeof l[0], dbl_cmp);
	double rm = r[rep / 2], lm = l[rep / 2];
	printf("hsm %s threads=%d %.0f\n", op_name[raw], threads, rm);
	printf("hsm %s threads=%d %.0f\n", op_name[lay], threads, lm);
	printf("hsm %s layer/raw threads=%d %.2f\n", op_name[lay], threads, lm / rm);
	fflush(stdout);
	return 0;
}

/* the cs rows: raw, hsm_cs_run per call (cache off) and cached, alternating `rep` times
 * (cfg.cs_cache_off flipped between runs, when no thread uses the client) */
static int run_cs(hsm *h, enum op raw, enum op lay, int threads, double secs, int rep)
{
	double r[REPEAT_MAX], l[REPEAT_MAX], k[REPEAT_MAX];
	for (int i = 0; i < rep; i++) {
		h->cfg.cs_cache_off = true;
		if (run_rate(h, raw, threads, secs, &r[i]) || run_rate(h, lay, threads, secs, &l[i]))
			return -1;
		h->cfg.cs_cache_off = false;
		if (run_rate(h, lay, threads, secs, &k[i]))
			return -1;
	}
	qsort(r, (size_t)rep, sizeof r[0], dbl_cmp);
	qsort(l, (size_t)rep, sizeof l[0], dbl_cmp);
	qsort(k, (size_t)rep, sizeof k[0], dbl_cmp);
	double rm = r[rep / 2], lm = l[rep / 2], km = k[rep / 2];
	printf("hsm %s threads=%d %.0f\n", op_name[raw], threads, rm);
	printf("hsm %s threads=%d %.0f\n", op_name[lay], threads, lm);
	printf("hsm %s-cached threads=%d %.0f\n", op_name[lay], threads, km);
	printf("hsm %s layer/raw threads=%d %.2f\n", op_name[lay], threads, lm / rm);
	printf("hsm %s-cached layer/raw threads=%d %.2f\n", op_name[lay], threads, km / rm);
	fflush(stdout);
	return 0;
}

static int run(hsm *h, enum op op, int threads, double secs)
{
	double rate = 0;
	if (run_rate(h, op, threads, secs, &rate))
		return -1;
	printf("hsm %s%s threads=%d %.0f\n", op_name[op], direct ? "-direct" : "", threads, rate);
	fflush(stdout);
	return 0;
}

int main(void)
{
	struct log_sink quiet = { NULL, NULL, LOG_LVL_ERR };
	log_set_sink(&quiet);
	const char *se = getenv("BENCH_SECONDS");
	double secs = se ? atof(se) : 1.0;
	if (secs <= 0)
		secs = 1.0;
	const char *re = getenv("BENCH_REPEAT");
	int rep = re ? atoi(re) : 3;
	if (rep < 1 || rep > REPEAT_MAX)
		rep = 3;
	/* BENCH_ONLY=cs: only the cryptographic services rows */
	const char *only = getenv("BENCH_ONLY");
	bool cs_only = only != NULL && strcmp(only, "cs") == 0;
	struct tok_env env;
	memset(&env, 0, sizeof env);
	int rc = 1;
	hsm *h = NULL;
	if (tok_env_setup(&env) != 0 || tok_env_open(TEST_TOKEN, false, 4, 0, &h) != CF_OK) {
		fprintf(stderr, "bench-hsm: SoftHSMv2 setup failed\n");
		goto out;
	}
	hsm_sess *s = NULL;
	uint32_t v = 0;
	if (hsm_session_acquire(h, 1000, &s) != CF_OK || hsm_kek_create(s, &v) != CF_OK) {
		fprintf(stderr, "bench-hsm: KEK setup failed\n");
		goto out;
	}
	hsm_session_release(s);
	for (int threads = 1; threads <= 2; threads++) {
		/* raw and layered back to back so that machine noise hits both alike */
		if ((!cs_only && (run_pair(h, OP_RAW_GEN, OP_GEN, threads, secs, rep) ||
				  run_pair(h, OP_RAW_DEC, OP_UNWRAP, threads, secs, rep))) ||
		    run_cs(h, OP_RAW_GCM, OP_CS_GCM, threads, secs, rep) ||
		    run_cs(h, OP_RAW_ECDSA, OP_CS_ECDSA, threads, secs, rep))
			goto out;
	}
	if (cs_only) {
		rc = 0;
		goto out;
	}
	if (run(h, OP_KWP_GEN, 1, secs) || run(h, OP_KWP_UNWRAP, 1, secs))
		goto out;
	/* the same layer with cfg.direct_calls (no executor hand-off, no hang protection) */
	hsm_close(h);
	h = NULL;
	struct hsm_config cfg = { .module_path = SOFTHSM_PATH, .token = TEST_TOKEN,
				  .pool_size = 4, .direct_calls = true };
	if (hsm_open(&cfg, &h) != CF_OK ||
	    hsm_login(h, (const uint8_t *)TEST_PIN, strlen(TEST_PIN)) != CF_OK)
		goto out;
	direct = true;
	for (int threads = 1; threads <= 2; threads++)
		if (run(h, OP_GEN, threads, secs) || run(h, OP_UNWRAP, threads, secs))
			goto out;
	rc = 0;
out:
	hsm_close(h);
	tok_env_teardown(&env);
	return rc;
}
