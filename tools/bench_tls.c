/* coffre-bench TLS: the client SSL_CTX, error texts, and the one blocking exchange used
 * before the run (creating the key that get / get-attributes / vcenter then read). */
#include "tools/bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* The OpenSSL error queue as one line (the last, most specific reason first). */
static void bench_tls_queue(char *buf, size_t n)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last != 0)
		ERR_error_string_n(last, buf, n);
	else
		snprintf(buf, n, "no OpenSSL detail");
}

void bench_tls_error(SSL *ssl, int ret, char *buf, size_t n)
{
	char q[256];
	int e = SSL_get_error(ssl, ret);
	int saved = errno;
	long vr = SSL_get_verify_result(ssl);

	bench_tls_queue(q, sizeof q);
	if (vr != X509_V_OK)
		snprintf(buf, n, "server certificate rejected: %s (%s)",
			 X509_verify_cert_error_string(vr), q);
	else if (e == SSL_ERROR_SYSCALL && saved != 0)
		snprintf(buf, n, "%s", strerror(saved));
	else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, n, "the server closed the connection (%s)", q);
	else
		snprintf(buf, n, "%s", q);
}

cf_err bench_tls_ctx_new(const struct bench_cfg *cfg, SSL_CTX **out, char *err, size_t errn)
{
	cf_err rc = CF_E_TLS;
	char q[256];
	SSL_CTX *ctx = NULL;

	*out = NULL;
	const char *files[3][2] = { { "client certificate", cfg->cert }, { "client key", cfg->key },
				    { "CA certificates", cfg->ca } };
	for (size_t i = 0; i < 3; i++) {
		FILE *f = fopen(files[i][1], "r");
		if (f == NULL) {
			snprintf(err, errn, "cannot read %s %s: %s", files[i][0], files[i][1],
				 strerror(errno));
			goto out;
		}
		fclose(f);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		bench_tls_queue(q, sizeof q);
		snprintf(err, errn, "SSL_CTX_new: %s", q);
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errn, "cannot require TLS 1.2");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
		bench_tls_queue(q, sizeof q);
		snprintf(err, errn, "cannot load client certificate %s: %s", cfg->cert, q);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
		bench_tls_queue(q, sizeof q);
		snprintf(err, errn, "cannot load client key %s: %s", cfg->key, q);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		bench_tls_queue(q, sizeof q);
		snprintf(err, errn, "client key %s does not match certificate %s: %s", cfg->key,
			 cfg->cert, q);
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
		bench_tls_queue(q, sizeof q);
		snprintf(err, errn, "cannot load CA certificates %s: %s", cfg->ca, q);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cfg->name_check) {
		X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
		struct in6_addr a6;
		int ok;
		if (inet_pton(AF_INET, cfg->host, &a6) == 1 || inet_pton(AF_INET6, cfg->host, &a6) == 1)
			ok = X509_VERIFY_PARAM_set1_ip_asc(vp, cfg->host);
		else
			ok = X509_VERIFY_PARAM_set1_host(vp, cfg->host, 0);
		if (ok != 1) {
			snprintf(err, errn, "cannot set the name to verify: %s", cfg->host);
			goto out;
		}
	}
	/* Sessions are only ever resumed when we hand one to SSL_set_session (vcenter
	 * --resume); without --resume ask for no tickets either, so every handshake is full. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!cfg->resume)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	*out = ctx;
	ctx = NULL;
	rc = CF_OK;
out:
	SSL_CTX_free(ctx);
	return rc;
}

/* Read one whole Response Message (framing per ttlv_msg_len) into a heap buffer. */
static cf_err bench_tls_read_msg(SSL *ssl, uint8_t **out, size_t *outn, char *err, size_t errn)
{
	cf_err rc = CF_E_IO;
	struct kmip_limits lim = bench_limits();
	uint8_t hdr[TTLV_HDR_LEN];
	uint8_t *buf = NULL;
	size_t have = 0, total = 0;

	*out = NULL;
	*outn = 0;
	while (have < sizeof hdr) {
		int r = SSL_read(ssl, hdr + have, (int)(sizeof hdr - have));
		if (r <= 0) {
			bench_tls_error(ssl, r, err, errn);
			goto out;
		}
		have += (size_t)r;
	}
	if ((rc = ttlv_msg_len(hdr, sizeof hdr, KMIP_TAG_RESPONSE_MESSAGE, &lim, &total)) != CF_OK) {
		snprintf(err, errn, "response framing: %s", cf_err_str(rc));
		goto out;
	}
	buf = malloc(total);
	if (buf == NULL) {
		rc = CF_E_NOMEM;
		snprintf(err, errn, "out of memory");
		goto out;
	}
	memcpy(buf, hdr, sizeof hdr);
	while (have < total) {
		size_t want = total - have;
		int r = SSL_read(ssl, buf + have, want > INT32_MAX ? INT32_MAX : (int)want);
		if (r <= 0) {
			rc = CF_E_IO;
			bench_tls_error(ssl, r, err, errn);
			goto out;
		}
		have += (size_t)r;
	}
	*out = buf;
	*outn = total;
	buf = NULL;
	rc = CF_OK;
out:
	free(buf);
	return rc;
}

cf_err bench_tls_call(const struct bench_cfg *cfg, SSL_CTX *ctx,
		      const struct sockaddr_storage *sa, socklen_t salen,
		      const struct bench_msg *req, struct bench_rsp_info *info, char *err,
		      size_t errn)
{
	cf_err rc = CF_E_IO;
	int fd = -1, r, one = 1;
	SSL *ssl = NULL;
	uint8_t *rsp = NULL, *arena_buf = NULL;
	size_t rn = 0;
	struct kmip_arena a;
	const size_t arena_cap = 1u << 20;
	struct timeval tv = { .tv_sec = (time_t)cfg->timeout,
			      .tv_usec = (suseconds_t)((cfg->timeout - (double)(time_t)cfg->timeout) * 1e6) };

	memset(info, 0, sizeof *info);
	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errn, "socket: %s", strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)sa, salen) != 0) {
		snprintf(err, errn, "connect to %s:%s: %s", cfg->host, cfg->port, strerror(errno));
		goto out;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		rc = CF_E_TLS;
		snprintf(err, errn, "SSL_new failed");
		goto out;
	}
	ERR_clear_error();
	if ((r = SSL_connect(ssl)) != 1) {
		char t[384];
		rc = CF_E_TLS;
		bench_tls_error(ssl, r, t, sizeof t);
		snprintf(err, errn, "TLS handshake with %s:%s failed: %s", cfg->host, cfg->port, t);
		goto out;
	}
	if ((r = SSL_write(ssl, req->p, (int)req->n)) <= 0) {
		char t[384];
		bench_tls_error(ssl, r, t, sizeof t);
		snprintf(err, errn, "send to %s:%s: %s", cfg->host, cfg->port, t);
		goto out;
	}
	{
		char t[384];
		if ((rc = bench_tls_read_msg(ssl, &rsp, &rn, t, sizeof t)) != CF_OK) {
			snprintf(err, errn, "response from %s:%s: %s", cfg->host, cfg->port, t);
			goto out;
		}
	}
	arena_buf = malloc(arena_cap);
	if (arena_buf == NULL) {
		rc = CF_E_NOMEM;
		snprintf(err, errn, "out of memory");
		goto out;
	}
	kmip_arena_init(&a, arena_buf, arena_cap);
	if ((rc = bench_rsp_check(rsp, rn, req->op, &a, info)) != CF_OK) {
		bench_rsp_describe(rc, req->op, info, err, errn);
		goto out;
	}
	(void)SSL_shutdown(ssl);
	rc = CF_OK;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	free(rsp);
	free(arena_buf);
	return rc;
}
