/* The KMIP server's TLS context (tls.h; docs/tls.md).
 *
 * The ENGINE API is deprecated in OpenSSL 3 but libp11 0.4.12 (Debian 12) only ships an
 * engine, so this one file asks for the 1.1.1 API level. */
#define OPENSSL_API_COMPAT 0x10100000L

#include "firmware/net/tls.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "board/hex.h"
#include "board/log.h"
#include "board/sec.h"

/* A private key as the server and the audit sender use it (tls.h tls_key_load). */
struct tls_key {
	_Atomic int refs;
	EVP_PKEY *pkey;           /* what SSL_CTX_use_PrivateKey takes (the wrapper for EC) */
	ENGINE *engine;           /* functional reference while the key is an engine key */
	bool serial;              /* whole handshake steps serialized (tls_key_lock) */
	EVP_PKEY *engine_pkey;    /* the engine's own key behind a wrapped EC key (tls_ec_wrap) */
	EC_KEY *wrap_ec;          /* the wrapper's EC_KEY, freed with the key */
	EC_KEY_METHOD *ec_meth;   /* the wrapper's method (tls_ec_wrap), freed after wrap_ec */
	bool lock_init;
	pthread_mutex_t lock;
};

struct tls_ctx {
	SSL_CTX *ssl;
	struct tls_key *key;      /* the server key (one reference) */
	struct tls_trust *trust;  /* run-time trust (tls_config.trust, borrowed); NULL = none */
	size_t n_pinned;
	uint8_t pinned[TLS_PINNED_MAX][TLS_FP_LEN];
	int64_t ticket_lifetime_s; /* 1..TLS_SESSION_LIFETIME_S */
	/* verification results of client chains (tls_vcache_*); the CA bundle and the config
	 * pins are fixed for the context's life, so the cache lives and dies with it */
	pthread_mutex_t vc_lock;
	bool vc_lock_init;
	struct tls_vcache_ent *vc;     /* TLS_VCACHE_SLOTS entries */
	uint64_t vc_hits, vc_misses;   /* under vc_lock */
};

#define TLS_VERIFY_DEPTH 8

/* Every libp11 call of the process that may run while handshakes do: the signatures of
 * wrapped engine EC keys (tls_ec_wrap), loading an engine key and freeing one. Process-wide,
 * not a field of struct tls_ctx: libp11's sessions and the "pkcs11" ENGINE are state of the
 * process, shared by every context (a context being freed while the next one loads its key,
 * after a zeroize, calls into the same libp11). */
static pthread_mutex_t tls_engine_lock = PTHREAD_MUTEX_INITIALIZER;

/* The last OpenSSL error as text, for logs (never carries secrets). Clears the queue. */
static const char *tls_errtext(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0)
		snprintf(buf, n, "no OpenSSL error");
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

cf_err tls_fp_parse(const char *text, uint8_t fp[static TLS_FP_LEN])
{
	if (text == NULL)
		return CF_E_INVALID_ARG;
	if (strncasecmp(text, "sha256:", 7) == 0)
		text += 7;
	size_t n = 0;
	for (const char *p = text; *p != '\0';) {
		if (*p == ':') {
			p++;
			continue;
		}
		int hi = hex_digit((unsigned char)p[0]);
		int lo = hi < 0 ? -1 : hex_digit((unsigned char)p[1]);
		if (hi < 0 || lo < 0 || n >= TLS_FP_LEN)
			return CF_E_BAD_HEX;
		fp[n++] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	return n == TLS_FP_LEN ? CF_OK : CF_E_BAD_HEX;
}

bool tls_ctx_is_pinned(const struct tls_ctx *t, const uint8_t fp[static TLS_FP_LEN])
{
	bool hit = false;
	if (t == NULL)
		return false;
	for (size_t i = 0; i < t->n_pinned; i++)
		hit |= ct_memeq(t->pinned[i], fp, TLS_FP_LEN);
	return hit;
}

/* ---- run-time trust snapshot (tls.h) --------------------------------------------------- */

struct tls_fpset {
	uint8_t (*fp)[TLS_FP_LEN]; /* sorted, unique */
	size_t n;
};

struct tls_trust {
	pthread_rwlock_t lock;
	struct tls_fpset trusted, revoked; /* under lock */
	/* Bumped by every tls_trust_replace (under the write lock, with the swap): a cached
	 * verification result is used only under the generation it was computed in. */
	_Atomic uint64_t gen;
};

cf_err tls_trust_new(struct tls_trust **out)
{
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	struct tls_trust *tr = calloc(1, sizeof *tr);
	if (tr == NULL)
		return CF_E_NOMEM;
	if (pthread_rwlock_init(&tr->lock, NULL) != 0) {
		free(tr);
		return CF_E_NOMEM;
	}
	atomic_init(&tr->gen, 1);
	*out = tr;
	return CF_OK;
}

void tls_trust_free(struct tls_trust *tr)
{
	if (tr == NULL)
		return;
	pthread_rwlock_destroy(&tr->lock);
	free(tr->trusted.fp);
	free(tr->revoked.fp);
	free(tr);
}

/* The generation of tr (0 without a snapshot: nothing ever bumps it). */
static uint64_t tls_trust_gen(struct tls_trust *tr)
{
	return tr != NULL ? atomic_load(&tr->gen) : 0;
}

static int tls_fp_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TLS_FP_LEN);
}

/* A sorted, de-duplicated copy of src[n]. */
static cf_err tls_fpset_make(const uint8_t (*src)[TLS_FP_LEN], size_t n, struct tls_fpset *out)
{
	out->fp = NULL;
	out->n = 0;
	if (n == 0)
		return CF_OK;
	if (src == NULL)
		return CF_E_INVALID_ARG;
	if (n > TLS_TRUST_MAX)
		return CF_E_TOO_LARGE;
	if ((out->fp = malloc(n * TLS_FP_LEN)) == NULL)
		return CF_E_NOMEM;
	memcpy(out->fp, src, n * TLS_FP_LEN);
	qsort(out->fp, n, TLS_FP_LEN, tls_fp_cmp);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (memcmp(out->fp[i], out->fp[k - 1], TLS_FP_LEN) != 0)
			memmove(out->fp[k++], out->fp[i], TLS_FP_LEN);
	out->n = k;
	return CF_OK;
}

cf_err tls_trust_replace(struct tls_trust *tr, const uint8_t (*trusted)[TLS_FP_LEN],
			 size_t n_trusted, const uint8_t (*revoked)[TLS_FP_LEN], size_t n_revoked)
{
	struct tls_fpset t, r, old_t, old_r;
	cf_err rc;

	if (tr == NULL)
		return CF_E_INVALID_ARG;
	if ((rc = tls_fpset_make(trusted, n_trusted, &t)) != CF_OK)
		return rc;
	if ((rc = tls_fpset_make(revoked, n_revoked, &r)) != CF_OK) {
		free(t.fp);
		return rc;
	}
	if (pthread_rwlock_wrlock(&tr->lock) != 0) {
		free(t.fp);
		free(r.fp);
		return CF_E_INTERNAL;
	}
	old_t = tr->trusted;
	old_r = tr->revoked;
	tr->trusted = t;
	tr->revoked = r;
	atomic_fetch_add(&tr->gen, 1);
	pthread_rwlock_unlock(&tr->lock);
	free(old_t.fp);
	free(old_r.fp);
	return CF_OK;
}

static bool tls_fpset_has(struct tls_trust *tr, bool revoked, const uint8_t fp[static TLS_FP_LEN])
{
	bool hit = false;
	/* A failed read lock answers "not in the set": trusted then fails closed; for the
	 * revoked set it cannot fail in practice (EAGAIN needs 2^31 concurrent readers). */
	if (pthread_rwlock_rdlock(&tr->lock) != 0)
		return false;
	const struct tls_fpset *set = revoked ? &tr->revoked : &tr->trusted;
	if (set->n > 0)
		hit = bsearch(fp, set->fp, set->n, TLS_FP_LEN, tls_fp_cmp) != NULL;
	pthread_rwlock_unlock(&tr->lock);
	return hit;
}

bool tls_trust_is_trusted(struct tls_trust *tr, const uint8_t fp[static TLS_FP_LEN])
{
	return tr != NULL && fp != NULL && tls_fpset_has(tr, false, fp);
}

bool tls_trust_is_revoked(struct tls_trust *tr, const uint8_t fp[static TLS_FP_LEN])
{
	return tr != NULL && fp != NULL && tls_fpset_has(tr, true, fp);
}

void tls_trust_counts(struct tls_trust *tr, size_t *n_trusted, size_t *n_revoked)
{
	size_t a = 0, b = 0;
	if (tr != NULL && pthread_rwlock_rdlock(&tr->lock) == 0) {
		a = tr->trusted.n;
		b = tr->revoked.n;
		pthread_rwlock_unlock(&tr->lock);
	}
	if (n_trusted != NULL)
		*n_trusted = a;
	if (n_revoked != NULL)
		*n_revoked = b;
}

/* SHA-256 fetched once: EVP_sha256() is a legacy handle that OpenSSL 3 fetches again (a
 * locked method-store lookup) on every digest, several times per handshake. Process-wide:
 * written once under pthread_once and immutable after, and identity.c digests certificates
 * with it where no context exists (the console's `client trust`). */
static pthread_once_t tls_sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *tls_sha256_md; /* process lifetime */

static void tls_sha256_init(void)
{
	tls_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *tls_sha256(void)
{
	if (pthread_once(&tls_sha256_once, tls_sha256_init) != 0 || tls_sha256_md == NULL)
		return EVP_sha256();
	return tls_sha256_md;
}

const EVP_MD *tls_md_sha256(void)
{
	return tls_sha256();
}

static bool tls_cert_fp(X509 *x, uint8_t fp[static TLS_FP_LEN])
{
	unsigned int n = 0;
	return x != NULL && X509_digest(x, tls_sha256(), fp, &n) == 1 && n == TLS_FP_LEN;
}

static bool tls_time_error(int err)
{
	return err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID ||
	       err == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD ||
	       err == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
}

/* Called by OpenSSL for every certificate of the chain and every error. A revoked leaf is
 * refused (checked when OpenSSL reports the leaf itself, error or not). A chain error is
 * overridden only when the leaf is pinned (config or run-time snapshot), and never for a
 * time error. */
static const struct tls_ctx *tls_ctx_of(X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	return ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
}

static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t fp[TLS_FP_LEN];
	const struct tls_ctx *t;

	if (preverify_ok == 1) {
		if (X509_STORE_CTX_get_error_depth(xs) != 0)
			return 1;
		if (!tls_cert_fp(leaf, fp))
			return 0;
		t = tls_ctx_of(xs);
		if (t != NULL && tls_trust_is_revoked(t->trust, fp)) {
			X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REVOKED);
			return 0;
		}
		return 1;
	}
	int err = X509_STORE_CTX_get_error(xs);
	if (tls_time_error(err))
		return 0;
	t = tls_ctx_of(xs);
	if (t == NULL || !tls_cert_fp(leaf, fp) || tls_trust_is_revoked(t->trust, fp))
		return 0;
	return tls_ctx_is_pinned(t, fp) || tls_trust_is_trusted(t->trust, fp) ? 1 : 0;
}

/* ---- client chain verification cache (docs/tls.md "Verification cache") --------
 *
 * Most of a full handshake's verification is X509_verify_cert: building the chain and checking
 * the CA's signature on the client certificate (an ECDSA verification). vCenter reconnects with
 * the same certificate over and over, so the result is cached, keyed by the SHA-256 of the
 * exact certificates the client sent (leaf first, in order). An entry is used only
 *   - in the context it was made in (the CA bundle and the config pins are the context's);
 *   - under the trust generation it was made in: every tls_trust_replace (console trust /
 *     revoke, boot, backup merge: authz_trust_reload) empties the cache in effect;
 *   - while every certificate of the verified chain is within its validity period (the entry
 *     stores the latest notBefore and the earliest notAfter of the chain);
 *   - when the leaf is not revoked now and, for a result accepted by pin (verify result not
 *     X509_V_OK), when the leaf is still pinned or trusted now (checked on every hit).
 * Only successes are cached; a refusal is always recomputed. The CertificateVerify signature
 * (proof of possession of the private key) is not part of this: OpenSSL checks it on every
 * handshake after this callback. The table is direct-mapped and bounded (TLS_VCACHE_SLOTS). */
#define TLS_VCACHE_SLOTS 256u /* power of two */

struct tls_vcache_ent {
	bool used;
	uint8_t key[TLS_FP_LEN];  /* SHA-256 over the fingerprints of the sent certificates */
	uint64_t gen;             /* the trust generation when verified (tls_trust_gen) */
	int64_t not_before;       /* latest notBefore of the chain (Unix seconds) */
	int64_t not_after;        /* earliest notAfter of the chain */
	long result;              /* the final X509_STORE_CTX error: X509_V_OK or one a pin accepted */
	unsigned probe_tickets;   /* tickets sent to this chain on an undecided ClientHello */
};

/* Session tickets for a TLS 1.3 client that did not say whether it wants them (psk_dhe_ke
 * offered, but neither "session_ticket" nor "pre_shared_key": tls_client_hello_cb): the first
 * TLS_PROBE_TICKETS full handshakes of a certificate get one, so a client that resumes without
 * sending "session_ticket" (JDK 11's TLS 1.3, for one) gets its first ticket and from then on
 * offers it ("pre_shared_key": tickets as usual); a client that never resumes stops costing a
 * ticket after that. The count lives in the verification cache entry (reset with it). */
#define TLS_PROBE_TICKETS 2u

/* SSL ex_data index: non-NULL = ticket undecided. Process-wide like every ex_data index
 * (OpenSSL registers them per process and never frees one): made once, read-only after. */
static pthread_once_t tls_ssl_idx_once = PTHREAD_ONCE_INIT;
static int tls_ssl_undecided_idx = -1;

static void tls_ssl_idx_init(void)
{
	tls_ssl_undecided_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The key: SHA-256(count || fp(cert 0) || fp(cert 1) ...) of what the client sent. */
static bool tls_vcache_key(STACK_OF(X509) *sent, X509 *leaf, uint8_t leaf_fp[static TLS_FP_LEN],
			   uint8_t key[static TLS_FP_LEN])
{
	int n = sent != NULL ? sk_X509_num(sent) : 0;
	if (!tls_cert_fp(leaf, leaf_fp) || n < 1 || n > 16 || sk_X509_value(sent, 0) != leaf)
		return false;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t cnt = (uint8_t)n, fp[TLS_FP_LEN];
	unsigned int len = 0;
	bool ok = m != NULL && EVP_DigestInit_ex(m, tls_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(m, &cnt, 1) == 1 &&
		  EVP_DigestUpdate(m, leaf_fp, TLS_FP_LEN) == 1;
	for (int i = 1; ok && i < n; i++)
		ok = tls_cert_fp(sk_X509_value(sent, i), fp) &&
		     EVP_DigestUpdate(m, fp, TLS_FP_LEN) == 1;
	ok = ok && EVP_DigestFinal_ex(m, key, &len) == 1 && len == TLS_FP_LEN;
	EVP_MD_CTX_free(m);
	return ok;
}

static struct tls_vcache_ent *tls_vcache_slot(struct tls_ctx *t, const uint8_t key[TLS_FP_LEN])
{
	uint32_t h = (uint32_t)key[0] | (uint32_t)key[1] << 8; /* a SHA-256: any bits will do */
	return &t->vc[h & (TLS_VCACHE_SLOTS - 1)];
}

/* Validity window of the chain X509_verify_cert checked: [max notBefore, min notAfter]. */
static bool tls_chain_window(STACK_OF(X509) *chain, int64_t *nb, int64_t *na)
{
	int n = chain != NULL ? sk_X509_num(chain) : 0;
	*nb = INT64_MIN;
	*na = INT64_MAX;
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);
		struct tm a, b;
		if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) != 1 ||
		    ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) != 1)
			return false;
		int64_t tb = (int64_t)timegm(&a), ta = (int64_t)timegm(&b);
		*nb = tb > *nb ? tb : *nb;
		*na = ta < *na ? ta : *na;
	}
	return n > 0;
}

/* An accepted chain on a handshake whose ClientHello left the ticket undecided: one ticket
 * for each of the first TLS_PROBE_TICKETS handshakes of the entry, none after. Without an entry
 * (not cached) the ticket is sent. */
static void tls_probe_ticket(struct tls_ctx *t, X509_STORE_CTX *xs, const uint8_t key[TLS_FP_LEN],
			     uint64_t gen)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || tls_ssl_undecided_idx < 0 ||
	    SSL_get_ex_data(ssl, tls_ssl_undecided_idx) == NULL)
		return;
	SSL_set_ex_data(ssl, tls_ssl_undecided_idx, NULL);
	if (pthread_mutex_lock(&t->vc_lock) != 0)
		return;
	struct tls_vcache_ent *e = tls_vcache_slot(t, key);
	if (e->used && e->gen == gen && memcmp(e->key, key, TLS_FP_LEN) == 0) {
		if (e->probe_tickets >= TLS_PROBE_TICKETS)
			SSL_set_num_tickets(ssl, 0);
		else
			e->probe_tickets++;
	}
	pthread_mutex_unlock(&t->vc_lock);
}

/* SSL_CTX_set_cert_verify_callback: stands in for X509_verify_cert (which runs tls_verify_cb
 * on a miss). 1 = accepted, with the verify result set in xs as X509_verify_cert leaves it. */
static int tls_cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	struct tls_ctx *t = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t fp[TLS_FP_LEN], key[TLS_FP_LEN];
	uint64_t gen = tls_trust_gen(t != NULL ? t->trust : NULL); /* before any read of the trust */
	int64_t now = (int64_t)time(NULL);
	bool keyed = t != NULL && t->vc != NULL &&
		     tls_vcache_key(X509_STORE_CTX_get0_untrusted(xs), leaf, fp, key);
	ERR_clear_error();

	if (keyed && pthread_mutex_lock(&t->vc_lock) == 0) {
		const struct tls_vcache_ent *e = tls_vcache_slot(t, key);
		bool hit = e->used && e->gen == gen && memcmp(e->key, key, TLS_FP_LEN) == 0 &&
			   now >= e->not_before && now < e->not_after;
		long result = e->result;
		if (hit)
			t->vc_hits++;
		else
			t->vc_misses++;
		pthread_mutex_unlock(&t->vc_lock);
		if (hit && !tls_trust_is_revoked(t->trust, fp) &&
		    (result == X509_V_OK || tls_ctx_is_pinned(t, fp) ||
		     tls_trust_is_trusted(t->trust, fp))) {
			X509_STORE_CTX_set_error(xs, (int)result);
			tls_probe_ticket(t, xs, key, gen);
			return 1;
		}
	}
	/* OpenSSL reads <= 0 as refused; X509_verify_cert's -1 (internal error) becomes 0 */
	int ok = X509_verify_cert(xs) == 1 ? 1 : 0;
	int64_t nb, na;
	if (ok != 1 || !keyed || !tls_chain_window(X509_STORE_CTX_get0_chain(xs), &nb, &na) ||
	    gen != tls_trust_gen(t->trust) || pthread_mutex_lock(&t->vc_lock) != 0)
		return ok;
	struct tls_vcache_ent *e = tls_vcache_slot(t, key);
	e->used = true;
	memcpy(e->key, key, TLS_FP_LEN);
	e->gen = gen;
	e->not_before = nb;
	e->not_after = na;
	e->result = X509_STORE_CTX_get_error(xs);
	e->probe_tickets = 0;
	pthread_mutex_unlock(&t->vc_lock);
	tls_probe_ticket(t, xs, key, gen);
	return ok;
}

void tls_ctx_vcache_stats(struct tls_ctx *t, uint64_t *hits, uint64_t *misses)
{
	uint64_t h = 0, m = 0;
	if (t != NULL && t->vc_lock_init && pthread_mutex_lock(&t->vc_lock) == 0) {
		h = t->vc_hits;
		m = t->vc_misses;
		pthread_mutex_unlock(&t->vc_lock);
	}
	if (hits != NULL)
		*hits = h;
	if (misses != NULL)
		*misses = m;
}

/* Load the engine, give it the module path and the PIN, and load the private key by URI. */
static cf_err tls_engine_key(struct tls_key *t, const struct tls_key_spec *cfg, EVP_PKEY **out)
{
	cf_err rc = CF_E_HSM;
	char eb[256];
	char *pin = NULL;
	size_t pin_cap = 0;
	ENGINE *e = NULL;
	bool inited = false;

	*out = NULL;
	e = ENGINE_by_id("pkcs11");
	if (e == NULL) {
		log_err("tls: OpenSSL engine \"pkcs11\" not available (libengine-pkcs11-openssl): %s",
			tls_errtext(eb, sizeof eb));
		goto out;
	}
	if (cfg->engine_module != NULL &&
	    ENGINE_ctrl_cmd_string(e, "MODULE_PATH", cfg->engine_module, 0) != 1) {
		log_err("tls: pkcs11 engine refused MODULE_PATH %s: %s", cfg->engine_module,
			tls_errtext(eb, sizeof eb));
		goto out;
	}
	if (ENGINE_init(e) != 1) {
		log_err("tls: pkcs11 engine init failed: %s", tls_errtext(eb, sizeof eb));
		goto out;
	}
	inited = true;
	if (cfg->pin != NULL && cfg->pin_len > 0) {
		/* the ctrl takes a C string: a NUL-terminated copy in locked memory */
		pin_cap = cfg->pin_len + 1;
		if ((rc = sec_alloc(pin_cap, (void **)&pin)) != CF_OK)
			goto out;
		rc = CF_E_HSM;
		memcpy(pin, cfg->pin, cfg->pin_len);
		pin[cfg->pin_len] = '\0';
		if (memchr(pin, '\0', cfg->pin_len) != NULL) {
			log_err("tls: the PIN contains a NUL byte");
			rc = CF_E_CONFIG;
			goto out;
		}
		int ok = ENGINE_ctrl_cmd_string(e, "PIN", pin, 0);
		sec_free(pin, pin_cap);
		pin = NULL;
		if (ok != 1) {
			log_err("tls: pkcs11 engine refused the PIN ctrl: %s", tls_errtext(eb, sizeof eb));
			goto out;
		}
	}
	EVP_PKEY *k = ENGINE_load_private_key(e, cfg->key_uri, NULL, NULL);
	if (k == NULL) {
		log_err("tls: pkcs11 engine could not load the key %s: %s", cfg->key_uri,
			tls_errtext(eb, sizeof eb));
		goto out;
	}
	*out = k;
	t->engine = e;
	e = NULL;
	rc = CF_OK;
out:
	if (pin != NULL)
		sec_free(pin, pin_cap);
	if (e != NULL) {
		if (inited)
			ENGINE_finish(e);
		ENGINE_free(e);
	}
	return rc;
}

/* ---- engine EC keys: only the signature is serialized ----------------------------------
 *
 * libp11 0.4.12 races in its session handling (docs/tls.md "Thread safety"), so its calls must
 * not run concurrently. Holding a lock around every SSL_do_handshake step (tls_ctx_key_lock)
 * serializes the whole handshake, certificate parsing and verification included: one core's
 * worth of handshakes. For an EC key the only libp11 call a handshake makes is the
 * ECDSA signature, so the server uses a wrapper EC_KEY instead: same group and public key, an
 * EC_KEY_METHOD whose sign operations take tls_engine_lock (process-wide: libp11's state is)
 * and sign with the engine's EC_KEY. A non-default method makes OpenSSL treat the key as
 * foreign (legacy path, never exported to a provider), exactly like the engine's own key. Other
 * key types (RSA) keep the per-step lock.
 */

/* EC_KEY ex_data index: the engine's EC_KEY (borrowed) behind a wrapper. Process-wide:
 * OpenSSL registers ex_data indexes per process and never frees one, so it is made once. */
static pthread_once_t tls_ec_once = PTHREAD_ONCE_INIT;
static int tls_ec_idx = -1;

static int tls_ec_wrap_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
			    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	EC_KEY *inner = EC_KEY_get_ex_data(ec, tls_ec_idx);
	if (inner == NULL)
		return 0;
	pthread_mutex_lock(&tls_engine_lock);
	int ok = ECDSA_sign_ex(type, dgst, dlen, sig, siglen, kinv, r, inner);
	pthread_mutex_unlock(&tls_engine_lock);
	return ok;
}

static ECDSA_SIG *tls_ec_wrap_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
				       const BIGNUM *r, EC_KEY *ec)
{
	EC_KEY *inner = EC_KEY_get_ex_data(ec, tls_ec_idx);
	if (inner == NULL)
		return NULL;
	pthread_mutex_lock(&tls_engine_lock);
	ECDSA_SIG *sig = ECDSA_do_sign_ex(dgst, dlen, kinv, r, inner);
	pthread_mutex_unlock(&tls_engine_lock);
	return sig;
}

static void tls_ec_once_init(void)
{
	tls_ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* k (an engine EC key) -> *out, the wrapper; t keeps k (and so libp11's key) alive. CF_E_NOT_FOUND
 * when k is not an EC key (the caller falls back to the per-step lock). */
static cf_err tls_ec_wrap(struct tls_key *t, EVP_PKEY *k, EVP_PKEY **out)
{
	*out = NULL;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return CF_E_NOT_FOUND;
	if (pthread_once(&tls_ec_once, tls_ec_once_init) != 0 || tls_ec_idx < 0)
		return CF_E_INTERNAL;
	if ((t->ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
		return CF_E_NOMEM;
	EC_KEY_METHOD_set_sign(t->ec_meth, tls_ec_wrap_sign, NULL, tls_ec_wrap_sign_sig);
	const EC_KEY *inner = EVP_PKEY_get0_EC_KEY(k);
	if (inner == NULL || EC_KEY_get0_group(inner) == NULL || EC_KEY_get0_public_key(inner) == NULL)
		return CF_E_NOT_FOUND;
	EC_KEY *ec = EC_KEY_new();
	EVP_PKEY *w = EVP_PKEY_new();
	/* the method first: EVP_PKEY_set1_EC_KEY decides then that the key is foreign */
	if (ec == NULL || w == NULL || EC_KEY_set_method(ec, t->ec_meth) != 1 ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(inner)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(inner)) != 1 ||
	    EC_KEY_set_ex_data(ec, tls_ec_idx, (void *)inner) != 1 || EVP_PKEY_set1_EC_KEY(w, ec) != 1) {
		EC_KEY_free(ec);
		EVP_PKEY_free(w);
		return CF_E_NOMEM;
	}
	EVP_PKEY_up_ref(k);
	t->engine_pkey = k;
	t->wrap_ec = ec;
	*out = w;
	return CF_OK;
}

void tls_key_free(struct tls_key *k)
{
	if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	bool engine = k->engine_pkey != NULL || k->engine != NULL;
	if (engine) /* an engine key's last reference calls into libp11 */
		pthread_mutex_lock(&tls_engine_lock);
	EVP_PKEY_free(k->pkey);
	EC_KEY_free(k->wrap_ec);
	if (k->ec_meth != NULL) /* OpenSSL 3.0's EC_KEY_METHOD_free does not take NULL */
		EC_KEY_METHOD_free(k->ec_meth); /* after the last EC_KEY that uses it */
	EVP_PKEY_free(k->engine_pkey); /* after the wrapper that borrows its EC_KEY */
	if (k->engine != NULL) {
		ENGINE_finish(k->engine);
		ENGINE_free(k->engine);
	}
	if (engine)
		pthread_mutex_unlock(&tls_engine_lock);
	if (k->lock_init)
		pthread_mutex_destroy(&k->lock);
	sec_freezero(k, sizeof *k);
}

struct tls_key *tls_key_ref(struct tls_key *k)
{
	if (k != NULL)
		atomic_fetch_add(&k->refs, 1);
	return k;
}

struct evp_pkey_st *tls_key_pkey(struct tls_key *k)
{
	return k != NULL ? k->pkey : NULL;
}

pthread_mutex_t *tls_key_lock(struct tls_key *k)
{
	return k != NULL && k->serial ? &k->lock : NULL;
}

/* An engine key: loaded under tls_engine_lock, EC keys wrapped (only their signatures
 * serialized), other types serialized per handshake step (k->serial). */
static cf_err tls_key_engine(struct tls_key *t, const struct tls_key_spec *spec)
{
	EVP_PKEY *k = NULL, *w = NULL;
	pthread_mutex_lock(&tls_engine_lock);
	cf_err rc = tls_engine_key(t, spec, &k);
	pthread_mutex_unlock(&tls_engine_lock);
	if (rc != CF_OK)
		return rc;
	rc = tls_ec_wrap(t, k, &w);
	if (rc != CF_OK && rc != CF_E_NOT_FOUND) {
		pthread_mutex_lock(&tls_engine_lock);
		EVP_PKEY_free(k);
		pthread_mutex_unlock(&tls_engine_lock);
		log_err("tls: cannot wrap the engine EC key");
		return rc;
	}
	t->serial = rc != CF_OK;
	if (w != NULL) {
		EVP_PKEY_free(k); /* t->engine_pkey keeps its own reference */
		t->pkey = w;
	} else {
		t->pkey = k;
	}
	return CF_OK;
}

static cf_err tls_key_file(struct tls_key *t, const char *path)
{
	char eb[256];
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		log_err("tls: cannot open key file %s: %s", path, strerror(errno));
		return CF_E_IO;
	}
	t->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (t->pkey == NULL) {
		log_err("tls: cannot load key file %s: %s", path, tls_errtext(eb, sizeof eb));
		return CF_E_IO;
	}
	return CF_OK;
}

cf_err tls_key_load(const struct tls_key_spec *spec, struct tls_key **out)
{
	struct tls_key *k;
	cf_err rc;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (spec == NULL || (spec->key_file == NULL) == (spec->key_uri == NULL))
		return CF_E_INVALID_ARG;
	if (spec->key_uri != NULL && strncmp(spec->key_uri, "pkcs11:", 7) != 0) {
		log_err("tls: key URI must start with pkcs11:");
		return CF_E_CONFIG;
	}
	if ((k = calloc(1, sizeof *k)) == NULL)
		return CF_E_NOMEM;
	atomic_init(&k->refs, 1);
	if (pthread_mutex_init(&k->lock, NULL) != 0) {
		free(k);
		return CF_E_INTERNAL;
	}
	k->lock_init = true;
	rc = spec->key_uri != NULL ? tls_key_engine(k, spec) : tls_key_file(k, spec->key_file);
	ERR_clear_error();
	if (rc != CF_OK) {
		tls_key_free(k);
		return rc;
	}
	*out = k;
	return CF_OK;
}

static cf_err tls_load_key(struct tls_ctx *t, const struct tls_config *cfg)
{
	const struct tls_key_spec spec = { .key_file = cfg->key_file, .key_uri = cfg->key_uri,
					   .engine_module = cfg->engine_module, .pin = cfg->pin,
					   .pin_len = cfg->pin_len };
	char eb[256];

	TRY(tls_key_load(&spec, &t->key));
	if (SSL_CTX_use_PrivateKey(t->ssl, t->key->pkey) != 1) {
		log_err("tls: key rejected: %s", tls_errtext(eb, sizeof eb));
		return CF_E_CONFIG;
	}
	if (SSL_CTX_check_private_key(t->ssl) != 1) {
		log_err("tls: the private key does not match the certificate %s: %s", cfg->cert_file,
			tls_errtext(eb, sizeof eb));
		return CF_E_CONFIG;
	}
	return CF_OK;
}

/* ---- session resumption --------------------------------------------------------------- */

#define TLS_SESSION_LIFETIME_S TLS_TICKET_LIFETIME_MAX_S
#define TLS_SESSION_ID_CTX "coffre-kmip"
#define TLS_AUTH_TIME_LEN 8
/* ticket app data: the 8-byte stamp, then 1 byte: 1 = the certificate was accepted by pin
 * (config or run-time snapshot), 0 = it chained to the CA */
#define TLS_TICKET_DATA_LEN (TLS_AUTH_TIME_LEN + 1)

/* Seconds on CLOCK_MONOTONIC: tickets never outlive the process (the key is per process). */
static int64_t tls_mono_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec;
}

/* Before a ticket is sent: a full handshake stamps the session with the time its client
 * certificate was verified; a resumed one keeps the stamp it came with (never refreshed, so
 * renewed tickets do not extend an identity's life). 0 fails the handshake. */
static int tls_ticket_gen_cb(SSL *ssl, void *arg)
{
	(void)arg;
	SSL_SESSION *sess = SSL_get0_session(ssl);
	void *old = NULL;
	size_t old_len = 0;
	uint8_t stamp[TLS_TICKET_DATA_LEN];
	if (sess == NULL)
		return 0;
	if (SSL_session_reused(ssl))
		return SSL_SESSION_get0_ticket_appdata(sess, &old, &old_len) == 1 &&
		       old_len == TLS_TICKET_DATA_LEN;
	int64_t now = tls_mono_s();
	if (now < 0)
		return 0;
	for (size_t i = 0; i < TLS_AUTH_TIME_LEN; i++)
		stamp[i] = (uint8_t)((uint64_t)now >> (8 * (TLS_AUTH_TIME_LEN - 1 - i)));
	stamp[TLS_AUTH_TIME_LEN] = SSL_get_verify_result(ssl) == X509_V_OK ? 0 : 1;
	return SSL_SESSION_set1_ticket_appdata(sess, stamp, sizeof stamp);
}

/* A decrypted ticket is used only when it carries a client certificate that is still within
 * its validity period and a stamp at most TLS_SESSION_LIFETIME_S old, whose fingerprint has
 * not been revoked since and, when the certificate was accepted by pin, is still pinned;
 * anything else is a full handshake (and a fresh ticket). */
static SSL_TICKET_RETURN tls_ticket_dec_cb(SSL *ssl, SSL_SESSION *sess, const unsigned char *name,
					   size_t name_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)ssl;
	(void)name;
	(void)name_len;
	const struct tls_ctx *t = arg;
	void *data = NULL;
	size_t len = 0;
	if (status == SSL_TICKET_EMPTY || status == SSL_TICKET_NO_DECRYPT)
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	if (t == NULL)
		return SSL_TICKET_RETURN_ABORT;
	if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
		return SSL_TICKET_RETURN_ABORT;
	if (sess == NULL ||
	    SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1 || data == NULL ||
	    len != TLS_TICKET_DATA_LEN)
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	const uint8_t *p = data;
	uint64_t stamp = 0;
	for (size_t i = 0; i < TLS_AUTH_TIME_LEN; i++)
		stamp = stamp << 8 | p[i];
	int64_t now = tls_mono_s();
	/* subtract, never add: now - stamp in [0, lifetime] */
	if (now < 0 || stamp > (uint64_t)now ||
	    (uint64_t)now - stamp > (uint64_t)t->ticket_lifetime_s)
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	X509 *peer = SSL_SESSION_get0_peer(sess);
	if (peer == NULL || X509_cmp_current_time(X509_get0_notBefore(peer)) != -1 ||
	    X509_cmp_current_time(X509_get0_notAfter(peer)) != 1)
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	uint8_t fp[TLS_FP_LEN];
	if (!tls_cert_fp(peer, fp) || tls_trust_is_revoked(t->trust, fp))
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	if (p[TLS_AUTH_TIME_LEN] != 0 && !tls_ctx_is_pinned(t, fp) &&
	    !tls_trust_is_trusted(t->trust, fp))
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	return status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW
						  : SSL_TICKET_RETURN_USE;
}

/* TLS 1.3 sends its NewSessionTicket after every full handshake whatever the client wants;
 * building one costs the server about a fifth of a full handshake (OpenSSL 3.0 encodes the
 * session, decodes it again, re-parsing the client certificate, encodes and encrypts it).
 * A client that can use a ticket offers "psk_key_exchange_modes" with psk_dhe_ke, the only mode
 * this server accepts (no SSL_OP_ALLOW_NO_DHE_KEX; RFC 8446 4.2.9: no ticket the client cannot
 * use); one that wants tickets also sends "session_ticket" (OpenSSL, Go, NSS, JSSE 13+ whenever
 * they keep tickets, also when they negotiate TLS 1.3) or already offers one ("pre_shared_key").
 *   psk_dhe_ke and (session_ticket or pre_shared_key)  a ticket, as before;
 *   no psk_dhe_ke                                     no ticket;
 *   psk_dhe_ke alone                                  undecided: tls_probe_ticket decides per
 *                                                     certificate once the chain is accepted.
 * TLS 1.2 sends a ticket only for the "session_ticket" extension anyway. Nothing is refused:
 * this only chooses whether to send the ticket. */
#define TLS_PSK_DHE_KE 1 /* PskKeyExchangeMode psk_dhe_ke (RFC 8446 4.2.9) */

static bool tls_hello_has_dhe_psk(SSL *ssl)
{
	const unsigned char *p = NULL;
	size_t n = 0;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk_kex_modes, &p, &n) != 1 || n < 1 ||
	    p[0] != n - 1)
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] == TLS_PSK_DHE_KE)
			return true;
	return false;
}

static int tls_client_hello_cb(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	(void)arg;
	const unsigned char *p = NULL;
	size_t n = 0;
	bool dhe = tls_hello_has_dhe_psk(ssl);
	bool asks = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_session_ticket, &p, &n) == 1 ||
		    SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &p, &n) == 1;
	bool undecided = dhe && !asks && tls_ssl_undecided_idx >= 0;
	/* after a HelloRetryRequest the callback runs again on the second ClientHello */
	SSL_set_num_tickets(ssl, dhe ? 1 : 0);
	if (tls_ssl_undecided_idx >= 0)
		SSL_set_ex_data(ssl, tls_ssl_undecided_idx, undecided ? (void *)ssl : NULL);
	return SSL_CLIENT_HELLO_SUCCESS;
}

static cf_err tls_set_protocol(struct tls_ctx *t, const struct tls_config *cfg)
{
	char eb[256];
	enum tls_version minv = cfg->min_version == 0 ? TLS_V1_2 : cfg->min_version;
	if (minv != TLS_V1_2 && minv != TLS_V1_3) {
		log_err("tls: minimum version 0x%04x refused (TLS 1.2 or 1.3 only)", (unsigned)minv);
		return CF_E_CONFIG;
	}
	if (cfg->ticket_lifetime_s > TLS_SESSION_LIFETIME_S) {
		log_err("tls: ticket lifetime %u s refused (at most %d s)", cfg->ticket_lifetime_s,
			TLS_SESSION_LIFETIME_S);
		return CF_E_CONFIG;
	}
	t->ticket_lifetime_s = cfg->ticket_lifetime_s == 0 ? TLS_SESSION_LIFETIME_S
							   : (int64_t)cfg->ticket_lifetime_s;
	if (SSL_CTX_set_min_proto_version(t->ssl, (int)minv) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ssl, TLS1_3_VERSION) != 1)
		return CF_E_TLS;
	const char *c12 = cfg->ciphers != NULL ? cfg->ciphers : TLS_CTX_DEFAULT_CIPHERS12;
	const char *c13 = cfg->ciphersuites != NULL ? cfg->ciphersuites : TLS_CTX_DEFAULT_SUITES13;
	if (SSL_CTX_set_cipher_list(t->ssl, c12) != 1) {
		log_err("tls: bad TLS 1.2 cipher list \"%s\": %s", c12, tls_errtext(eb, sizeof eb));
		return CF_E_CONFIG;
	}
	if (SSL_CTX_set_ciphersuites(t->ssl, c13) != 1) {
		log_err("tls: bad TLS 1.3 cipher suites \"%s\": %s", c13, tls_errtext(eb, sizeof eb));
		return CF_E_CONFIG;
	}
	/* No renegotiation (the client could make the server sign again mid-session), no
	 * compression, the server's suite order. CLEANSE_PLAINTEXT: OpenSSL wipes its copy of
	 * received application data (Register requests carry key material).
	 * Session resumption (docs/tls.md "Session resumption"): stateless tickets for
	 * TLS 1.3 and 1.2, no server-side cache, no early data. The ticket key is the one
	 * OpenSSL draws at random in SSL_CTX_new: per process start, in memory only. A ticket
	 * carries the verified client certificate and verify result (the identity), and the
	 * time of the full handshake that verified it; tls_ticket_dec_cb refuses tickets more
	 * than ticket_lifetime_s (at most TLS_SESSION_LIFETIME_S) after that handshake
	 * (renewed tickets included) and tickets whose certificate has expired since. */
	SSL_CTX_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					    SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_clear_options(t->ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(t->ssl, 1) != 1 ||
	    SSL_CTX_set_max_early_data(t->ssl, 0) != 1 ||
	    SSL_CTX_set_session_id_context(t->ssl, (const unsigned char *)TLS_SESSION_ID_CTX,
					   sizeof TLS_SESSION_ID_CTX - 1) != 1 ||
	    SSL_CTX_set_session_ticket_cb(t->ssl, tls_ticket_gen_cb, tls_ticket_dec_cb, t) != 1)
		return CF_E_TLS;
	/* OpenSSL's own session timeout (and the lifetime hint clients get) is the ceiling; it is
	 * not what bounds a ticket (TLS 1.3 renewals restart it): tls_ticket_dec_cb is. */
	SSL_CTX_set_timeout(t->ssl, TLS_SESSION_LIFETIME_S);
	SSL_CTX_set_client_hello_cb(t->ssl, tls_client_hello_cb, NULL);
	SSL_CTX_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	return CF_OK;
}

static cf_err tls_set_verify(struct tls_ctx *t, const struct tls_config *cfg)
{
	char eb[256];
	if (cfg->n_pinned > TLS_PINNED_MAX) {
		log_err("tls: %zu pinned fingerprints, at most %d", cfg->n_pinned, TLS_PINNED_MAX);
		return CF_E_CONFIG;
	}
	for (size_t i = 0; i < cfg->n_pinned; i++) {
		if (cfg->pinned == NULL || cfg->pinned[i] == NULL ||
		    tls_fp_parse(cfg->pinned[i], t->pinned[i]) != CF_OK) {
			log_err("tls: pinned fingerprint %zu is not a SHA-256 fingerprint", i + 1);
			return CF_E_CONFIG;
		}
	}
	t->n_pinned = cfg->n_pinned;
	if (cfg->ca_file == NULL && t->n_pinned == 0) {
		log_err("tls: no client CA and no pinned certificate: no client could connect");
		return CF_E_CONFIG;
	}
	if (cfg->ca_file != NULL && SSL_CTX_load_verify_locations(t->ssl, cfg->ca_file, NULL) != 1) {
		log_err("tls: cannot load the client CA bundle %s: %s", cfg->ca_file,
			tls_errtext(eb, sizeof eb));
		return CF_E_IO;
	}
	/* No CA names in the CertificateRequest: clients that filter their certificates by the
	 * names would hide a pinned self-signed certificate (docs/tls.md). */
	SSL_CTX_set_verify(t->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
					   SSL_VERIFY_CLIENT_ONCE, tls_verify_cb);
	SSL_CTX_set_verify_depth(t->ssl, TLS_VERIFY_DEPTH);
	SSL_CTX_set_cert_verify_callback(t->ssl, tls_cert_verify_cb, t);
	return CF_OK;
}

/* When cert_file holds the server certificate alone, OpenSSL completes the chain it sends
 * from the context's verify store (the client CA bundle) on EVERY handshake: an
 * X509_verify_cert of the server's own certificate, with the CA's signature check (~8% of a
 * full handshake). The same chain is built once here instead (SSL_CTX_build_cert_chain with
 * the same store and, like the automatic chain, whatever it finds, errors ignored), so the
 * certificates on the wire do not change. A cert_file that lists intermediates is sent as
 * it is, as before. */
static cf_err tls_fix_chain(struct tls_ctx *t)
{
	char eb[256];
	STACK_OF(X509) *chain = NULL;
	if (SSL_CTX_get0_chain_certs(t->ssl, &chain) != 1)
		return CF_E_TLS;
	if (chain != NULL && sk_X509_num(chain) > 0)
		return CF_OK;
	if (SSL_CTX_build_cert_chain(t->ssl, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
						     SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0) {
		log_err("tls: cannot build the server certificate chain: %s",
			tls_errtext(eb, sizeof eb));
		return CF_E_TLS;
	}
	ERR_clear_error();
	return CF_OK;
}

cf_err tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out)
{
	cf_err rc = CF_E_INTERNAL;
	char eb[256];
	struct tls_ctx *t = NULL;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL || cfg->cert_file == NULL ||
	    (cfg->key_file == NULL) == (cfg->key_uri == NULL))
		return CF_E_INVALID_ARG;
	if (cfg->key_uri != NULL && strncmp(cfg->key_uri, "pkcs11:", 7) != 0) {
		log_err("tls: key URI must start with pkcs11:");
		return CF_E_CONFIG;
	}
	if (pthread_once(&tls_ssl_idx_once, tls_ssl_idx_init) != 0 || tls_ssl_undecided_idx < 0)
		return CF_E_TLS;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return CF_E_NOMEM;
	t->trust = cfg->trust;
	if (pthread_mutex_init(&t->vc_lock, NULL) != 0)
		goto out;
	t->vc_lock_init = true;
	if ((t->vc = calloc(TLS_VCACHE_SLOTS, sizeof *t->vc)) == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	if ((t->ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	SSL_CTX_set_app_data(t->ssl, t);
	if ((rc = tls_set_protocol(t, cfg)) != CF_OK)
		goto out;
	if (SSL_CTX_use_certificate_chain_file(t->ssl, cfg->cert_file) != 1) {
		log_err("tls: cannot load the server certificate %s: %s", cfg->cert_file,
			tls_errtext(eb, sizeof eb));
		rc = CF_E_IO;
		goto out;
	}
	if ((rc = tls_load_key(t, cfg)) != CF_OK)
		goto out;
	if ((rc = tls_set_verify(t, cfg)) != CF_OK)
		goto out;
	if ((rc = tls_fix_chain(t)) != CF_OK)
		goto out;
	*out = t;
	t = NULL;
	rc = CF_OK;
out:
	tls_ctx_free(t);
	ERR_clear_error();
	return rc;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ssl); /* drops its reference to the EVP_PKEY */
	tls_key_free(t->key); /* the engine and the wrapper, once no other user holds it */
	if (t->vc_lock_init)
		pthread_mutex_destroy(&t->vc_lock);
	free(t->vc);
	sec_freezero(t, sizeof *t);
}

SSL_CTX *tls_ctx_ssl(struct tls_ctx *t)
{
	return t != NULL ? t->ssl : NULL;
}

pthread_mutex_t *tls_ctx_key_lock(struct tls_ctx *t)
{
	return t != NULL ? tls_key_lock(t->key) : NULL;
}

struct tls_key *tls_ctx_key(struct tls_ctx *t)
{
	return t != NULL ? t->key : NULL;
}
