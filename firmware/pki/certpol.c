/* The KMIP Certify CA's acceptance rules (firmware/pki/certpol.h). */
#include "firmware/pki/certpol.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

enum certpol_key certpol_key_check(const EVP_PKEY *k)
{
	char group[64];
	size_t gn = 0;
	int bits;

	if (k == NULL)
		return CERTPOL_KEY_TYPE;
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(k);
		if (bits < CERTPOL_RSA_MIN)
			return CERTPOL_KEY_RSA_SMALL;
		return bits > CERTPOL_RSA_MAX ? CERTPOL_KEY_RSA_LARGE : CERTPOL_KEY_OK;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &gn) != 1)
			return CERTPOL_KEY_CURVE;
		return strcmp(group, SN_X9_62_prime256v1) == 0 || strcmp(group, SN_secp384r1) == 0
			       ? CERTPOL_KEY_OK
			       : CERTPOL_KEY_CURVE;
	default:
		return CERTPOL_KEY_TYPE;
	}
}

const char *certpol_key_why(enum certpol_key v)
{
	switch (v) {
	case CERTPOL_KEY_OK: return "key accepted";
	case CERTPOL_KEY_RSA_SMALL: return "RSA key below 2048 bits is not certified";
	case CERTPOL_KEY_RSA_LARGE: return "RSA key above 4096 bits is not certified";
	case CERTPOL_KEY_CURVE: return "EC key: only P-256 and P-384 are certified";
	case CERTPOL_KEY_TYPE: return "key algorithm not certified (RSA, EC P-256 / P-384 only)";
	}
	return "key not certified";
}

cf_err certpol_req_parse(enum certpol_req_fmt fmt, const uint8_t *req, size_t n, X509_REQ **out)
{
	X509_REQ *x = NULL;
	EVP_PKEY *pub;

	*out = NULL;
	if (req == NULL || n == 0 || n > CERTPOL_REQ_MAX)
		return CF_E_BAD_MESSAGE;
	if (fmt == CERTPOL_REQ_DER) {
		const unsigned char *p = req;
		x = d2i_X509_REQ(NULL, &p, (long)n);
		if (x != NULL && p != req + n) {
			X509_REQ_free(x);
			return CF_E_BAD_MESSAGE;
		}
	} else if (fmt == CERTPOL_REQ_PEM) {
		BIO *b = BIO_new_mem_buf(req, (int)n);
		if (b == NULL)
			return CF_E_NOMEM;
		x = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (x == NULL)
		return CF_E_BAD_MESSAGE;
	if ((pub = X509_REQ_get0_pubkey(x)) == NULL || X509_REQ_verify(x, pub) != 1) {
		X509_REQ_free(x);
		return CF_E_BAD_VALUE;
	}
	*out = x;
	return CF_OK;
}

static void trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* One "type=value" component s[n] added to nm. */
static cf_err dn_add(X509_NAME *nm, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n), *v;
	char type[64];
	size_t tn, vn;
	int nid;

	if (eq == NULL)
		return CF_E_BAD_VALUE;
	tn = (size_t)(eq - s);
	v = eq + 1;
	vn = n - tn - 1;
	trim(&s, &tn);
	trim(&v, &vn);
	if (tn == 0 || tn >= sizeof type || vn == 0 || memchr(v, '+', vn) != NULL ||
	    memchr(v, '"', vn) != NULL || memchr(v, '\\', vn) != NULL ||
	    memchr(v, '\0', vn) != NULL)
		return CF_E_BAD_VALUE;
	memcpy(type, s, tn);
	type[tn] = '\0';
	if ((nid = OBJ_txt2nid(type)) == NID_undef)
		return CF_E_BAD_VALUE;
	if (X509_NAME_add_entry_by_NID(nm, nid, MBSTRING_UTF8, (const unsigned char *)v, (int)vn,
				       -1, 0) != 1)
		return CF_E_BAD_VALUE;
	return CF_OK;
}

cf_err certpol_dn_parse(const char *s, size_t n, X509_NAME **out)
{
	X509_NAME *nm;
	size_t start = 0;
	cf_err rc = CF_OK;

	*out = NULL;
	if (s == NULL || n == 0 || n > CERTPOL_DN_MAX)
		return CF_E_BAD_VALUE;
	if ((nm = X509_NAME_new()) == NULL)
		return CF_E_NOMEM;
	for (size_t i = 0; i <= n && rc == CF_OK; i++) {
		if (i < n && s[i] != ',')
			continue;
		rc = dn_add(nm, s + start, i - start);
		start = i + 1;
	}
	if (rc != CF_OK || X509_NAME_entry_count(nm) == 0) {
		X509_NAME_free(nm);
		return CF_E_BAD_VALUE;
	}
	*out = nm;
	return CF_OK;
}
