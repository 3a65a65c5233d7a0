/* Test helpers for the TLS / network tests: keys and certificates made with the OpenSSL API,
 * PEM files in a mkdtemp directory, and a blocking OpenSSL client speaking TTLV-framed
 * messages over loopback. */
#ifndef COFFRE_TESTS_TLS_TESTUTIL_H
#define COFFRE_TESTS_TLS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TU_CA 1u      /* basicConstraints CA:TRUE, keyUsage keyCertSign */
#define TU_CLIENT 2u  /* EKU clientAuth */
#define TU_SERVER 4u  /* EKU serverAuth, SAN IP:127.0.0.1 */

/* mkdtemp under /tmp ("/tmp/coffre-net-XXXXXX"); 0 on success. */
int tu_dir_new(char dir[64]);
/* rm -rf a directory made by tu_dir_new. */
void tu_dir_rm(const char *dir);

EVP_PKEY *tu_key_ec(void);
EVP_PKEY *tu_key_rsa(int bits);
/* A certificate for key named CN=cn,O=Coffre Test, valid [now+nb_s, now+na_s], signed by
 * issuer/ikey, or self-signed when issuer is NULL. */
X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long nb_s, long na_s,
	      unsigned flags);
int tu_write_cert(const char *path, X509 *x);
int tu_write_key(const char *path, EVP_PKEY *k);
/* SHA-256 of the DER certificate as lower-case hex (65 bytes with NUL). */
void tu_fp_hex(X509 *x, char out[65]);

/* Client context: cert/key may be NULL (no client certificate); minv/maxv TLS1_x_VERSION
 * (0 = library default); ciphers12 NULL = default; ca non-NULL = verify the server with it.
 * Versions below 1.2 lower the client's security level so OpenSSL will offer them. */
SSL_CTX *tu_client_ctx(const char *cert, const char *key, int minv, int maxv,
		       const char *ciphers12, const char *ca);
/* In-memory handshake of cli (connect side) with srv (accept side) over a BIO pair, cli
 * offering sess for resumption when not NULL: 1 when both sides finished, 0 when one failed
 * (nothing but WANT_READ / WANT_WRITE is waited for). */
int tu_pair_handshake(SSL *cli, SSL *srv, SSL_SESSION *sess);
/* Blocking TCP connect to 127.0.0.1:port with 5 s socket timeouts; -1 on failure. */
int tu_tcp_connect(uint16_t port);
/* TCP connect + TLS handshake; NULL when either fails (the socket is then closed). */
SSL *tu_tls_connect(SSL_CTX *c, uint16_t port);
/* The same, offering sess (a client session from SSL_get1_session) for resumption. */
SSL *tu_tls_connect_sess(SSL_CTX *c, uint16_t port, SSL_SESSION *sess);
/* SSL_shutdown (best effort), close the socket, SSL_free. NULL is a no-op. */
void tu_tls_close(SSL *s);

/* Build a request-shaped message: header 42 00 78 01 <body_len> then body_len bytes of a
 * pattern seeded by seed. body_len must be a multiple of 8. Returns 8 + body_len. */
size_t tu_msg(uint8_t *buf, size_t body_len, uint32_t seed);
/* Write all n bytes / read exactly n bytes through SSL; 0 on success. */
int tu_ssl_write_all(SSL *s, const void *p, size_t n);
int tu_ssl_read_all(SSL *s, void *p, size_t n);
/* Send a message of body_len bytes and expect the same bytes back (echo); 0 on success. */
int tu_roundtrip(SSL *s, size_t body_len, uint32_t seed);

/* Wait up to ms for the peer to close fd (recv returns 0 or an error). true when it did. */
bool tu_wait_closed(int fd, unsigned ms);
/* Monotonic milliseconds. */
uint64_t tu_now_ms(void);

#endif
