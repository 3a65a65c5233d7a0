/* The KMIP server's TLS context (OpenSSL 3): TLS 1.2 and 1.3 only, client certificate
 * required and verified against the appliance CA bundle or accepted by pinned SHA-256
 * fingerprint, server key from a PEM file or from a PKCS#11 URI through libp11's "pkcs11"
 * engine. docs/tls.md explains every choice.
 *
 * Verification rule (tls_verify_cb):
 *   - a certificate that chains to ca_file (purpose sslclient, times valid) is accepted;
 *   - otherwise the leaf is accepted when its SHA-256 fingerprint is pinned, whatever the
 *     chain error (self-signed, unknown issuer, wrong EKU), EXCEPT time errors: an expired or
 *     not-yet-valid certificate anywhere in the chain is refused even when pinned;
 *   - the same for a leaf whose fingerprint is trusted in the context's run-time trust
 *     snapshot (struct tls_trust, below);
 *   - a leaf whose fingerprint is revoked in that snapshot is refused, whatever else would
 *     accept it;
 *   - no certificate: the handshake fails (SSL_VERIFY_FAIL_IF_NO_PEER_CERT). */
#ifndef COFFRE_FIRMWARE_TLS_H
#define COFFRE_FIRMWARE_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct ssl_ctx_st; /* OpenSSL SSL_CTX */
struct tls_trust;  /* the run-time trust snapshot (below) */
struct evp_md_st;  /* OpenSSL EVP_MD */

#define TLS_FP_LEN 32 /* SHA-256 */
#define TLS_PINNED_MAX 64

/* TLS 1.2 suites vCenter 6.7-8.x offers: forward-secret AES-GCM only (docs/tls.md). */
#define TLS_CTX_DEFAULT_CIPHERS12 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
/* TLS 1.3: OpenSSL's defaults, AES-256 first. */
#define TLS_CTX_DEFAULT_SUITES13 \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

/* Longest a session ticket is honoured after its full handshake (docs/tls.md). */
#define TLS_TICKET_LIFETIME_MAX_S 300

enum tls_version { TLS_V1_2 = 0x0303, TLS_V1_3 = 0x0304 };

struct tls_config {
	const char *cert_file;       /* PEM: server certificate first, then intermediates */
	const char *key_file;        /* PEM private key (tests, development); NULL with key_uri */
	const char *key_uri;         /* "pkcs11:..." (RFC 7512): the key stays in the HSM */
	const char *engine_module;   /* PKCS#11 module for the engine (MODULE_PATH); NULL = p11-kit default */
	const uint8_t *pin;          /* user PIN for key_uri; copied to locked memory, wiped after use */
	size_t pin_len;
	const char *ca_file;         /* PEM bundle client certificates chain to; NULL when only pins */
	const char *ciphers;         /* TLS 1.2 list (OpenSSL syntax); NULL = TLS_CTX_DEFAULT_CIPHERS12 */
	const char *ciphersuites;    /* TLS 1.3 list; NULL = TLS_CTX_DEFAULT_SUITES13 */
	enum tls_version min_version; /* 0 = TLS 1.2; anything below 1.2 is CF_E_CONFIG */
	const char *const *pinned;   /* SHA-256 fingerprints: 64 hex digits, optional ':' and
				      * "sha256:" prefix, any case */
	size_t n_pinned;
	unsigned ticket_lifetime_s;  /* session tickets are refused this long after the full
				      * handshake; 0 = TLS_TICKET_LIFETIME_MAX_S, above it CF_E_CONFIG */
	struct tls_trust *trust;     /* run-time trust the verify rule consults (borrowed: it
				      * outlives the context); NULL = none */
};

struct tls_ctx;

/* ---- a private key, shared by the server context and the audit sender --------------------
 *
 * One loader for both (docs/security.md "Remote audit"): a PEM file, or a "pkcs11:" URI
 * through libp11's "pkcs11" engine given the module path and the user PIN (the PIN is needed
 * only while loading: the engine keeps its login). Engine EC keys are wrapped so that only
 * their signatures are serialized; other engine keys need whole handshake steps serialized
 * (tls_key_lock). Reference counted: the server context holds one reference, a sender using
 * the same key another. */
struct tls_key;
struct evp_pkey_st; /* OpenSSL EVP_PKEY */

struct tls_key_spec {
	const char *key_file;        /* PEM private key; NULL with key_uri */
	const char *key_uri;         /* "pkcs11:..." */
	const char *engine_module;   /* PKCS#11 module (MODULE_PATH); NULL = p11-kit default */
	const uint8_t *pin;          /* user PIN for key_uri (copied to locked memory, wiped) */
	size_t pin_len;
};

/* Errors: CF_E_CONFIG (URI not pkcs11:), CF_E_IO (file), CF_E_HSM (engine or key; the reason
 * is logged, the PIN never), CF_E_NOMEM. */
MUST_USE cf_err tls_key_load(const struct tls_key_spec *spec, struct tls_key **out);
/* Another reference (returns k; NULL is NULL). */
struct tls_key *tls_key_ref(struct tls_key *k);
/* Drop a reference; the last one frees the key (and the engine's). NULL is a no-op. */
void tls_key_free(struct tls_key *k);
/* The EVP_PKEY for SSL_CTX_use_PrivateKey (borrowed while a reference is held). */
struct evp_pkey_st *tls_key_pkey(struct tls_key *k);
/* Non-NULL when every handshake step that may sign with k must hold it (see
 * tls_ctx_key_lock). */
pthread_mutex_t *tls_key_lock(struct tls_key *k);

/* Build the server context. Errors: CF_E_CONFIG (bad version, cipher list, pin format, no
 * CA and no pins, key does not match certificate), CF_E_IO (file unreadable), CF_E_HSM (engine
 * or key load failed; the reason is logged, the PIN never), CF_E_NOMEM, CF_E_TLS. */
MUST_USE cf_err tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out);
/* NULL is a no-op. Only after every connection using the context is gone. */
void tls_ctx_free(struct tls_ctx *t);

/* The SSL_CTX to create connections from (borrowed). */
struct ssl_ctx_st *tls_ctx_ssl(struct tls_ctx *t);

/* Non-NULL when handshake steps must be serialized: engine keys other than EC (libp11 0.4.12
 * is not thread-safe in its session handling). The network layer holds it around
 * SSL_do_handshake, the only place the server key signs. NULL for file keys and for engine EC
 * keys, whose signatures tls.c serializes itself (only the C_Sign, not the whole handshake
 * step; docs/tls.md "Thread safety"). */
pthread_mutex_t *tls_ctx_key_lock(struct tls_ctx *t);

/* The context's server key (borrowed; tls_key_ref to keep it beyond the context). */
struct tls_key *tls_ctx_key(struct tls_ctx *t);

/* Verification cache of the context (tls.c, docs/tls.md "Verification cache"): how many
 * client chains were accepted from the cache and how many were verified in full. Tests, status. */
void tls_ctx_vcache_stats(struct tls_ctx *t, uint64_t *hits, uint64_t *misses);

/* SHA-256 fetched once for the process (EVP_sha256() is fetched again by OpenSSL 3 on every
 * use: a locked method-store lookup); falls back to EVP_sha256(). For certificate fingerprints
 * on the handshake path (identity.c). */
const struct evp_md_st *tls_md_sha256(void);

/* Parse a fingerprint text (64 hex digits, optional ':' separators, optional "sha256:"
 * prefix, any case) into 32 bytes. CF_E_BAD_HEX when malformed. */
MUST_USE cf_err tls_fp_parse(const char *text, uint8_t fp[static TLS_FP_LEN]);

/* true when fp is in the context's pinned list (constant time in the list entries). */
bool tls_ctx_is_pinned(const struct tls_ctx *t, const uint8_t fp[static TLS_FP_LEN]);

/* ---- trust managed at run time (console `client trust` / `client revoke`) -------------
 *
 * Besides the config's [tls] pinned list, the verify rule consults the trust snapshot of
 * tls_config.trust, filled from the store's clients table (authz_trust_reload builds it; the
 * service's struct authz owns the object):
 *   trusted   SHA-256 fingerprints accepted like config pins (kind "trusted": a pasted,
 *             typically self-signed client certificate);
 *   revoked   fingerprints refused at the handshake even when the certificate chains to the
 *             CA or is pinned in the config (role "revoked": `client revoke`).
 * A snapshot is immutable; tls_trust_replace swaps it under the object's write lock, and every
 * verify callback and ticket decryption reads it under the read lock, so a change is seen by
 * the next handshake or resumption of every worker thread. Every replacement also bumps the
 * object's generation, which empties in effect the verification cache of each context using
 * it (tls_cert_verify_cb: cached chain results are used only under the generation they were
 * computed in). Lookups are binary searches over sorted arrays (fingerprints of certificates
 * are public: no secret depends on the timing).
 *
 * Session tickets record whether the full handshake accepted the certificate by chain or by
 * pin: a resumption is refused (full handshake instead) when the fingerprint has been
 * revoked since, or when it was accepted by pin and is pinned no longer. */
#define TLS_TRUST_MAX 4096

/* An empty snapshot. CF_E_NOMEM. */
MUST_USE cf_err tls_trust_new(struct tls_trust **out);
/* NULL is a no-op. Only after every context that uses it is freed. */
void tls_trust_free(struct tls_trust *tr);

/* Replace the snapshot with copies of the two lists (either may be empty; duplicates are
 * fine). CF_E_TOO_LARGE above TLS_TRUST_MAX per list (the previous snapshot stays),
 * CF_E_NOMEM, CF_E_INVALID_ARG for a NULL tr. */
MUST_USE cf_err tls_trust_replace(struct tls_trust *tr, const uint8_t (*trusted)[TLS_FP_LEN],
				  size_t n_trusted, const uint8_t (*revoked)[TLS_FP_LEN],
				  size_t n_revoked);
/* Lookups in the current snapshot (a NULL tr holds nothing). */
bool tls_trust_is_trusted(struct tls_trust *tr, const uint8_t fp[static TLS_FP_LEN]);
bool tls_trust_is_revoked(struct tls_trust *tr, const uint8_t fp[static TLS_FP_LEN]);
/* Sizes of the current snapshot (status, tests). */
void tls_trust_counts(struct tls_trust *tr, size_t *n_trusted, size_t *n_revoked);

#endif
