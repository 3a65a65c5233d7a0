/* make bench-hsm: the layer against the raw PKCS#11 calls under it, same run, same token.
 * Prints "hsm <operation> threads=<n> <ops/s>" lines. SoftHSMv2, throw-away token directory.
 *   generate+wrap      hsm_dek_generate (32-byte DEK)   raw: C_GenerateRandom + C_EncryptInit + C_Encrypt
 *   unwrap             hsm_dek_unwrap                   raw: C_DecryptInit + C_Decrypt
 *   raw-kwp-*          the AES key wrap with padding alternative (not used; for the record)
 * Raw and layered runs alternate BENCH_REPEAT times (default 3) and each line is the median, so
 * that machine noise (a shared 2-core VM) hits both alike; "hsm <op> layer/raw <ratio>" lines
 * give the layer's share of the raw rate. BENCH_SECONDS (default 1) per run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"
#include "tests/unit/hsm/hsm_test_util.h"

enum op { OP_GEN, OP_RAW_GEN, OP_UNWRAP, OP_RAW_DEC, OP_KWP_GEN, OP_KWP_UNWRAP };
static const char *const op_name[] = { "generate+wrap", "raw-generate+wrap", "unwrap",
				       "raw-decrypt", "raw-kwp-generate+wrap", "raw-kwp-unwrap" };

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
	bool raw = c->op != OP_GEN && c->op != OP_UNWRAP;
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
		if (run_pair(h, OP_RAW_GEN, OP_GEN, threads, secs, rep) ||
		    run_pair(h, OP_RAW_DEC, OP_UNWRAP, threads, secs, rep))
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
