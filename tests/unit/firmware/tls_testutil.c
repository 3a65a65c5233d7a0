/* Test helpers for the TLS / network tests (tls_testutil.h). */
#include "tls_testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

int tu_dir_new(char dir[64])
{
	snprintf(dir, 64, "/tmp/coffre-net-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

void tu_dir_rm(const char *dir)
{
	char cmd[128];
	if (dir == NULL || strncmp(dir, "/tmp/coffre-net-", 16) != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

EVP_PKEY *tu_key_ec(void)
{
	return EVP_EC_gen("P-256");
}

EVP_PKEY *tu_key_rsa(int bits)
{
	return EVP_RSA_gen((unsigned)bits);
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX v;
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, val);
	if (e == NULL)
		return -1;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? 0 : -1;
}

X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long nb_s, long na_s,
	      unsigned flags)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	if (x == NULL || bn == NULL)
		goto fail;
	if (X509_set_version(x, 2) != 1 || BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	if (X509_gmtime_adj(X509_getm_notBefore(x), nb_s) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), na_s) == NULL || X509_set_pubkey(x, key) != 1)
		goto fail;
	X509_NAME *n = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Coffre Test",
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1)
		goto fail;
	if (X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n) != 1)
		goto fail;
	if (add_ext(x, issuer, NID_subject_key_identifier, "hash") != 0)
		goto fail;
	if (issuer != NULL && add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") != 0)
		goto fail;
	if (flags & TU_CA) {
		if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
			goto fail;
	} else {
		if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") != 0)
			goto fail;
	}
	if ((flags & (TU_CLIENT | TU_SERVER)) == (TU_CLIENT | TU_SERVER)) {
		if (add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth") != 0)
			goto fail;
	} else if (flags & TU_CLIENT) {
		if (add_ext(x, issuer, NID_ext_key_usage, "clientAuth") != 0)
			goto fail;
	} else if (flags & TU_SERVER) {
		if (add_ext(x, issuer, NID_ext_key_usage, "serverAuth") != 0)
			goto fail;
	}
	if ((flags & TU_SERVER) && add_ext(x, issuer, NID_subject_alt_name, "IP:127.0.0.1") != 0)
		goto fail;
	if (X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	ERR_print_errors_fp(stderr);
	BN_free(bn);
	X509_free(x);
	return NULL;
}

int tu_write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = PEM_write_X509(f, x);
	return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

int tu_write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

void tu_fp_hex(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
		return;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

SSL_CTX *tu_client_ctx(const char *cert, const char *key, int minv, int maxv,
		       const char *ciphers12, const char *ca)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL)
		return NULL;
	if (minv != 0 && minv < TLS1_2_VERSION) {
		SSL_CTX_set_security_level(c, 0);
		if (SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0") != 1)
			goto fail;
	}
	if ((minv != 0 && SSL_CTX_set_min_proto_version(c, minv) != 1) ||
	    (maxv != 0 && SSL_CTX_set_max_proto_version(c, maxv) != 1))
		goto fail;
	if (ciphers12 != NULL && SSL_CTX_set_cipher_list(c, ciphers12) != 1)
		goto fail;
	if (cert != NULL && (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
			     SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1))
		goto fail;
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	}
	return c;
fail:
	ERR_print_errors_fp(stderr);
	SSL_CTX_free(c);
	return NULL;
}

int tu_pair_handshake(SSL *cli, SSL *srv, SSL_SESSION *sess)
{
	BIO *cb = NULL, *sb = NULL;
	int rc = 0, rs = 0;

	if (BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
		return 0;
	SSL_set_bio(cli, cb, cb);
	SSL_set_bio(srv, sb, sb);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	if (sess != NULL && SSL_set_session(cli, sess) != 1)
		return 0;
	for (int i = 0; i < 50 && !(rc == 1 && rs == 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(cli);
			if (rc != 1 && SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ &&
			    SSL_get_error(cli, rc) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
		if (rs != 1) {
			rs = SSL_do_handshake(srv);
			if (rs != 1 && SSL_get_error(srv, rs) != SSL_ERROR_WANT_READ &&
			    SSL_get_error(srv, rs) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
	}
	return rc == 1 && rs == 1;
}

int tu_tcp_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

SSL *tu_tls_connect(SSL_CTX *c, uint16_t port)
{
	return tu_tls_connect_sess(c, port, NULL);
}

SSL *tu_tls_connect_sess(SSL_CTX *c, uint16_t port, SSL_SESSION *sess)
{
	int fd = tu_tcp_connect(port);
	if (fd < 0)
		return NULL;
	SSL *s = SSL_new(c);
	if (s == NULL || SSL_set_fd(s, fd) != 1 || (sess != NULL && SSL_set_session(s, sess) != 1) ||
	    SSL_connect(s) != 1) {
		ERR_clear_error();
		SSL_free(s);
		close(fd);
		return NULL;
	}
	return s;
}

void tu_tls_close(SSL *s)
{
	if (s == NULL)
		return;
	int fd = SSL_get_fd(s);
	(void)SSL_shutdown(s);
	ERR_clear_error();
	SSL_free(s);
	if (fd >= 0)
		close(fd);
}

size_t tu_msg(uint8_t *buf, size_t body_len, uint32_t seed)
{
	buf[0] = 0x42;
	buf[1] = 0x00;
	buf[2] = 0x78;
	buf[3] = 0x01;
	buf[4] = (uint8_t)(body_len >> 24);
	buf[5] = (uint8_t)(body_len >> 16);
	buf[6] = (uint8_t)(body_len >> 8);
	buf[7] = (uint8_t)body_len;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < body_len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[8 + i] = (uint8_t)x;
	}
	return 8 + body_len;
}

int tu_ssl_write_all(SSL *s, const void *p, size_t n)
{
	size_t w = 0;
	if (SSL_write_ex(s, p, n, &w) != 1 || w != n) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int tu_ssl_read_all(SSL *s, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t r = 0;
		if (SSL_read_ex(s, (uint8_t *)p + got, n - got, &r) != 1) {
			ERR_clear_error();
			return -1;
		}
		got += r;
	}
	return 0;
}

int tu_roundtrip(SSL *s, size_t body_len, uint32_t seed)
{
	int rc = -1;
	uint8_t *m = malloc(8 + body_len), *r = malloc(8 + body_len);
	if (m == NULL || r == NULL)
		goto out;
	size_t n = tu_msg(m, body_len, seed);
	if (tu_ssl_write_all(s, m, n) != 0 || tu_ssl_read_all(s, r, n) != 0)
		goto out;
	rc = memcmp(m, r, n) == 0 ? 0 : -2;
out:
	free(m);
	free(r);
	return rc;
}

bool tu_wait_closed(int fd, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	for (;;) {
		uint64_t now = tu_now_ms();
		if (now >= end)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(end - now));
		if (r < 0 && errno != EINTR)
			return false;
		if (r > 0) {
			char b[512];
			ssize_t k = recv(fd, b, sizeof b, MSG_DONTWAIT);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				return true;
			/* data (an alert or close_notify record): keep reading until EOF */
		}
	}
}

uint64_t tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
