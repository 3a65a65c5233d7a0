/* The KMIP server's TLS context (tls.h; docs/tls.md).
 *
 * The ENGINE API is deprecated in OpenSSL 3 but libp11 0.4.12 (Debian 12) only ships an
 * engine, so this one file asks for the 1.1.1 API level. */
#define OPENSSL_API_COMPAT 0x10100000L

#include "firmware/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "board/log.h"
#include "board/sec.h"

struct tls_ctx {
	SSL_CTX *ssl;
	ENGINE *engine;           /* functional reference while the key is an engine key */
	bool key_serial;
	bool lock_init;
	pthread_mutex_t key_lock;
	size_t n_pinned;
	uint8_t pinned[TLS_PINNED_MAX][TLS_FP_LEN];
};

#define TLS_VERIFY_DEPTH 8

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

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		int hi = hexval((unsigned char)p[0]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)p[1]);
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

static bool tls_time_error(int err)
{
	return err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID ||
	       err == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD ||
	       err == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
}

/* Called by OpenSSL for every certificate of the chain and every error. A chain error is
 * overridden only when the leaf is pinned, and never for a time error. */
static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
	if (preverify_ok == 1)
		return 1;
	int err = X509_STORE_CTX_get_error(xs);
	if (tls_time_error(err))
		return 0;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL)
		return 0;
	const struct tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	if (t == NULL || leaf == NULL || t->n_pinned == 0)
		return 0;
	uint8_t fp[TLS_FP_LEN];
	unsigned int fpn = 0;
	if (X509_digest(leaf, EVP_sha256(), fp, &fpn) != 1 || fpn != TLS_FP_LEN)
		return 0;
	return tls_ctx_is_pinned(t, fp) ? 1 : 0;
}

/* Load the engine, give it the module path and the PIN, and load the private key by URI. */
static cf_err tls_engine_key(struct tls_ctx *t, const struct tls_config *cfg, EVP_PKEY **out)
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

static cf_err tls_load_key(struct tls_ctx *t, const struct tls_config *cfg)
{
	char eb[256];
	if (cfg->key_uri != NULL) {
		EVP_PKEY *k = NULL;
		cf_err rc = tls_engine_key(t, cfg, &k);
		if (rc != CF_OK)
			return rc;
		int ok = SSL_CTX_use_PrivateKey(t->ssl, k);
		EVP_PKEY_free(k);
		if (ok != 1) {
			log_err("tls: engine key rejected: %s", tls_errtext(eb, sizeof eb));
			return CF_E_CONFIG;
		}
		t->key_serial = true;
	} else {
		if (SSL_CTX_use_PrivateKey_file(t->ssl, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
			log_err("tls: cannot load key file %s: %s", cfg->key_file,
				tls_errtext(eb, sizeof eb));
			return CF_E_IO;
		}
	}
	if (SSL_CTX_check_private_key(t->ssl) != 1) {
		log_err("tls: the private key does not match the certificate %s: %s", cfg->cert_file,
			tls_errtext(eb, sizeof eb));
		return CF_E_CONFIG;
	}
	return CF_OK;
}

static cf_err tls_set_protocol(struct tls_ctx *t, const struct tls_config *cfg)
{
	char eb[256];
	enum tls_version minv = cfg->min_version == 0 ? TLS_V1_2 : cfg->min_version;
	if (minv != TLS_V1_2 && minv != TLS_V1_3) {
		log_err("tls: minimum version 0x%04x refused (TLS 1.2 or 1.3 only)", (unsigned)minv);
		return CF_E_CONFIG;
	}
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
	 * compression, the server's suite order, no session resumption: every connection is a
	 * full handshake whose client certificate is checked against today's CA and pins.
	 * CLEANSE_PLAINTEXT: OpenSSL wipes its copy of received application data (Register
	 * requests carry key material). */
	SSL_CTX_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					    SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_CIPHER_SERVER_PREFERENCE |
					    SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(t->ssl, 0) != 1)
		return CF_E_TLS;
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
	if ((t = calloc(1, sizeof *t)) == NULL)
		return CF_E_NOMEM;
	if (pthread_mutex_init(&t->key_lock, NULL) != 0)
		goto out;
	t->lock_init = true;
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
	SSL_CTX_free(t->ssl); /* drops the key, which holds its own engine reference */
	if (t->engine != NULL) {
		ENGINE_finish(t->engine);
		ENGINE_free(t->engine);
	}
	if (t->lock_init)
		pthread_mutex_destroy(&t->key_lock);
	sec_freezero(t, sizeof *t);
}

SSL_CTX *tls_ctx_ssl(struct tls_ctx *t)
{
	return t != NULL ? t->ssl : NULL;
}

pthread_mutex_t *tls_ctx_key_lock(struct tls_ctx *t)
{
	return t != NULL && t->key_serial ? &t->key_lock : NULL;
}
