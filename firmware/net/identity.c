/* Client identity from the verified certificate (identity.h). */
#include "firmware/net/identity.h"

#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "board/hex.h"
#include "board/sec.h"
#include "firmware/net/tls.h"

/* RFC 2253 text of a name, exactly as `openssl x509 -nameopt RFC2253` prints it. */
static cf_err identity_dn(const X509_NAME *name, char *out, size_t cap)
{
	cf_err rc = CF_E_NOMEM;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return CF_E_NOMEM;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
		rc = CF_E_BAD_VALUE;
		goto out;
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n < 0 || (n > 0 && p == NULL)) {
		rc = CF_E_BAD_VALUE;
		goto out;
	}
	if ((size_t)n > cap - 1) {
		rc = CF_E_TOO_LARGE;
		goto out;
	}
	if (n > 0)
		memcpy(out, p, (size_t)n);
	out[n] = '\0';
	if (strlen(out) != (size_t)n) { /* an embedded NUL: never let a DN be truncated */
		rc = CF_E_BAD_VALUE;
		goto out;
	}
	rc = CF_OK;
out:
	BIO_free(b);
	return rc;
}

/* First CN as UTF-8, for logs: control bytes become '?'; truncated to the buffer. */
static void identity_cn(const X509_NAME *name, char *out, size_t cap)
{
	out[0] = '\0';
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return;
	const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
	const ASN1_STRING *s = e != NULL ? X509_NAME_ENTRY_get_data(e) : NULL;
	unsigned char *u = NULL;
	int n = s != NULL ? ASN1_STRING_to_UTF8(&u, s) : -1;
	if (n < 0)
		return;
	size_t k = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
	for (size_t j = 0; j < k; j++)
		out[j] = (u[j] < 0x20 || u[j] == 0x7f) ? '?' : (char)u[j];
	out[k] = '\0';
	OPENSSL_free(u);
}

cf_err identity_from_cert(X509 *cert, bool chain_ok, struct identity *id)
{
	cf_err rc = CF_E_INTERNAL;

	if (id == NULL)
		return CF_E_INVALID_ARG;
	memset(id, 0, sizeof *id);
	if (cert == NULL)
		return CF_E_INVALID_ARG;
	unsigned int n = 0;
	if (X509_digest(cert, tls_md_sha256(), id->fp, &n) != 1 || n != IDENTITY_FP_LEN) {
		rc = CF_E_BAD_VALUE;
		goto out;
	}
	if ((rc = hex_encode(id->fp, IDENTITY_FP_LEN, HEX_LOWER, id->fp_hex, sizeof id->fp_hex)) !=
	    CF_OK)
		goto out;
	if ((rc = identity_dn(X509_get_subject_name(cert), id->subject, sizeof id->subject)) != CF_OK)
		goto out;
	if ((rc = identity_dn(X509_get_issuer_name(cert), id->issuer, sizeof id->issuer)) != CF_OK)
		goto out;
	identity_cn(X509_get_subject_name(cert), id->cn, sizeof id->cn);
	id->chain_ok = chain_ok;
	rc = CF_OK;
out:
	if (rc != CF_OK)
		memset(id, 0, sizeof *id);
	ERR_clear_error();
	return rc;
}

cf_err identity_from_ssl(SSL *ssl, struct identity *id)
{
	if (id != NULL)
		memset(id, 0, sizeof *id);
	if (ssl == NULL || id == NULL)
		return CF_E_INVALID_ARG;
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL)
		return CF_E_AUTH;
	return identity_from_cert(peer, SSL_get_verify_result(ssl) == X509_V_OK, id);
}

/* part (not NUL-terminated) equals s exactly */
static bool span_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

bool identity_match(const struct identity *id, const char *rule)
{
	if (id == NULL || rule == NULL)
		return false;
	if (strncasecmp(rule, "sha256:", 7) == 0) {
		uint8_t fp[TLS_FP_LEN];
		if (tls_fp_parse(rule, fp) != CF_OK)
			return false;
		return ct_memeq(fp, id->fp, TLS_FP_LEN);
	}
	/* subject:/issuer: parts, split on unescaped ';' */
	bool any = false, seen_subject = false, seen_issuer = false;
	const char *p = rule;
	while (*p != '\0') {
		const char *start = p;
		while (*p != '\0' && *p != ';') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			p++;
		}
		size_t n = (size_t)(p - start);
		if (*p == ';')
			p++;
		if (n > 8 && strncmp(start, "subject:", 8) == 0 && !seen_subject) {
			seen_subject = true;
			if (!span_eq(start + 8, n - 8, id->subject))
				return false;
		} else if (n > 7 && strncmp(start, "issuer:", 7) == 0 && !seen_issuer) {
			seen_issuer = true;
			if (!span_eq(start + 7, n - 7, id->issuer))
				return false;
		} else {
			return false; /* unknown, empty-valued or repeated part: malformed */
		}
		any = true;
	}
	return any && id->chain_ok;
}
