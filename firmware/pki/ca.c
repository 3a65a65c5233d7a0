/* The appliance CA: certificates signed by a key pair in the HSM (see ca.h for the method). */
#include "firmware/pki/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "board/log.h"
#include "board/sec.h"

#define CA_DAYS_MAX 36500u
#define CA_DER_MAX 16384u

/* How the CA key signs: digest, HSM mechanism, certificate signature algorithm. */
struct ca_sigalg {
	int md_nid;           /* NID_sha256 / NID_sha384 */
	enum hsm_sig_mech mech;
	int sig_nid;          /* NID_ecdsa_with_SHA256, NID_sha256WithRSAEncryption, ... */
	bool ecdsa;
};

static cf_err ca_sigalg_for(const struct hsm_kp_info *info, struct ca_sigalg *out)
{
	switch (info->type) {
	case HSM_KP_EC_P256:
		*out = (struct ca_sigalg){ NID_sha256, HSM_SIG_ECDSA, NID_ecdsa_with_SHA256, true };
		return CF_OK;
	case HSM_KP_EC_P384:
		*out = (struct ca_sigalg){ NID_sha384, HSM_SIG_ECDSA, NID_ecdsa_with_SHA384, true };
		return CF_OK;
	case HSM_KP_RSA_2048:
	case HSM_KP_RSA_3072:
	case HSM_KP_RSA_4096:
		*out = (struct ca_sigalg){ NID_sha256, HSM_SIG_RSA_PKCS1_SHA256,
					   NID_sha256WithRSAEncryption, false };
		return CF_OK;
	}
	return CF_E_HSM_MECH;
}

cf_err ca_hsm_pubkey(hsm_sess *s, const char *label, EVP_PKEY **out)
{
	cf_err rc = CF_E_INTERNAL;
	struct hsm_kp_info info;
	uint8_t spki[HSM_SPKI_MAX];
	size_t spki_n = 0;
	const uint8_t *p;
	EVP_PKEY *k;

	*out = NULL;
	if ((rc = hsm_keypair_find(s, label, &info, spki, sizeof spki, &spki_n)) != CF_OK) {
		log_err_r(rc, "ca: key pair \"%s\" not usable", label);
		return rc;
	}
	p = spki;
	k = d2i_PUBKEY(NULL, &p, (long)spki_n);
	if (k == NULL || p != spki + spki_n) {
		EVP_PKEY_free(k);
		log_err("ca: public key of \"%s\" does not parse", label);
		return CF_E_HSM_OUTPUT;
	}
	*out = k;
	return CF_OK;
}

/* DER length octets for n into b (up to 4 bytes); returns how many. */
static size_t der_len(size_t n, uint8_t b[static 4])
{
	if (n < 0x80) {
		b[0] = (uint8_t)n;
		return 1;
	}
	if (n <= 0xff) {
		b[0] = 0x81;
		b[1] = (uint8_t)n;
		return 2;
	}
	b[0] = 0x82;
	b[1] = (uint8_t)(n >> 8);
	b[2] = (uint8_t)n;
	return 3;
}

/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, BIT STRING }, assembled from
 * its DER parts and parsed back into *out. */
static cf_err ca_cert_assemble(const uint8_t *tbs, size_t tbs_n, const uint8_t *algder,
			       size_t alg_n, const uint8_t *sig, size_t sig_n, X509 **out)
{
	uint8_t lb[4], lb2[4];
	size_t lb_n, lb2_n, body_n, cert_n, k = 0;
	uint8_t *cert;
	const uint8_t *p;

	*out = NULL;
	lb2_n = der_len(sig_n + 1, lb2);
	body_n = tbs_n + alg_n + 1 + lb2_n + 1 + sig_n;
	if (body_n > CA_DER_MAX)
		return CF_E_INTERNAL;
	lb_n = der_len(body_n, lb);
	cert_n = 1 + lb_n + body_n;
	if ((cert = malloc(cert_n)) == NULL)
		return CF_E_NOMEM;
	cert[k++] = 0x30;
	memcpy(cert + k, lb, lb_n);
	k += lb_n;
	memcpy(cert + k, tbs, tbs_n);
	k += tbs_n;
	memcpy(cert + k, algder, alg_n);
	k += alg_n;
	cert[k++] = 0x03;
	memcpy(cert + k, lb2, lb2_n);
	k += lb2_n;
	cert[k++] = 0x00; /* no unused bits */
	memcpy(cert + k, sig, sig_n);
	k += sig_n;
	if (k != cert_n)
		abort(); /* internal invariant */
	p = cert;
	*out = d2i_X509(NULL, &p, (long)cert_n);
	if (*out != NULL && p != cert + cert_n) {
		X509_free(*out);
		*out = NULL;
	}
	free(cert);
	if (*out == NULL) {
		log_err("ca: assembled certificate does not parse");
		return CF_E_INTERNAL;
	}
	return CF_OK;
}

/* Sign x's TBSCertificate with the HSM key `label` and replace x by the signed certificate.
 * The tbs signature AlgorithmIdentifier is set here too, so both copies agree. */
static cf_err ca_x509_sign_hsm(hsm_sess *s, const char *label, X509 **x)
{
	cf_err rc = CF_E_INTERNAL;
	struct hsm_kp_info info;
	struct ca_sigalg alg;
	X509_ALGOR *tbs_alg, *outer = NULL;
	uint8_t *tbs = NULL, *algder = NULL;
	int tbs_n, alg_n;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_n = 0;
	uint8_t raw[HSM_SIG_MAX], sig[HSM_SIG_MAX + 16];
	size_t raw_n = 0, sig_n = 0;
	X509 *signed_x = NULL;

	if ((rc = hsm_keypair_find(s, label, &info, NULL, 0, &sig_n)) != CF_OK &&
	    rc != CF_E_NO_SPACE)
		goto out;
	sig_n = 0;
	if ((rc = ca_sigalg_for(&info, &alg)) != CF_OK)
		goto out;
	rc = CF_E_INTERNAL;

	/* The TBSCertificate's signature field: OpenSSL has no public setter short of
	 * X509_sign, so set the object it owns in place. */
	tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(*x);
	if (X509_ALGOR_set0(tbs_alg, OBJ_nid2obj(alg.sig_nid),
			    alg.ecdsa ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) != 1)
		goto out;
	if ((outer = X509_ALGOR_new()) == NULL ||
	    X509_ALGOR_set0(outer, OBJ_nid2obj(alg.sig_nid),
			    alg.ecdsa ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) != 1)
		goto out;
	if ((tbs_n = i2d_re_X509_tbs(*x, &tbs)) <= 0 || (alg_n = i2d_X509_ALGOR(outer, &algder)) <= 0)
		goto out;
	if (EVP_Digest(tbs, (size_t)tbs_n, md, &md_n, EVP_get_digestbynid(alg.md_nid), NULL) != 1)
		goto out;

	if ((rc = hsm_sign(s, &(struct hsm_kp_ref){ .label = label }, alg.mech, md, md_n, raw,
			   sizeof raw, &raw_n)) != CF_OK) {
		log_err_r(rc, "ca: HSM signature with \"%s\" failed", label);
		goto out;
	}
	if (alg.ecdsa) {
		if ((rc = hsm_ecdsa_sig_to_der(raw, raw_n, sig, sizeof sig, &sig_n)) != CF_OK)
			goto out;
	} else {
		if (raw_n > sizeof sig) {
			rc = CF_E_HSM_OUTPUT;
			goto out;
		}
		memcpy(sig, raw, raw_n);
		sig_n = raw_n;
	}
	if ((rc = ca_cert_assemble(tbs, (size_t)tbs_n, algder, (size_t)alg_n, sig, sig_n,
				   &signed_x)) != CF_OK)
		goto out;
	X509_free(*x);
	*x = signed_x;
	signed_x = NULL;
	rc = CF_OK;
out:
	X509_free(signed_x);
	X509_ALGOR_free(outer);
	OPENSSL_free(tbs);
	OPENSSL_free(algder);
	return rc;
}

static int ca_ext_add(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (e == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static cf_err ca_name_set(X509_NAME *nm, const char *cn, const char *org)
{
	size_t n = cn != NULL ? strlen(cn) : 0;

	if (n == 0 || n > CA_CN_MAX)
		return CF_E_INVALID_ARG;
	if (org != NULL && X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8,
						      (const unsigned char *)org, -1, -1, 0) != 1)
		return CF_E_INTERNAL;
	if (X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
				       -1, 0) != 1)
		return CF_E_INTERNAL;
	return CF_OK;
}

/* A random positive 16-byte serial number. */
static cf_err ca_serial_set(X509 *x)
{
	uint8_t serial[16];
	BIGNUM *bn;
	cf_err rc = CF_E_INTERNAL;

	if (RAND_bytes(serial, sizeof serial) != 1)
		return CF_E_INTERNAL;
	serial[0] &= 0x7f;
	serial[0] |= 0x01; /* positive, 16 bytes */
	if ((bn = BN_bin2bn(serial, sizeof serial, NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = CF_OK;
	BN_free(bn);
	return rc;
}

/* A new X509 with version 3, a random 127-bit serial, validity, subject and public key. */
static cf_err ca_x509_base(const char *cn, const char *org, EVP_PKEY *pub, unsigned days,
			   X509 **out)
{
	cf_err rc = CF_E_INTERNAL;
	X509 *x = NULL;

	*out = NULL;
	if (days == 0 || days > CA_DAYS_MAX || pub == NULL)
		return CF_E_INVALID_ARG;
	if ((x = X509_new()) == NULL)
		return CF_E_NOMEM;
	if (ca_serial_set(x) != CF_OK)
		goto out;
	if (X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, pub) != 1)
		goto out;
	if ((rc = ca_name_set(X509_get_subject_name(x), cn, org)) != CF_OK)
		goto out;
	*out = x;
	x = NULL;
	rc = CF_OK;
out:
	X509_free(x);
	return rc;
}

/* Sign *x in the HSM with the key pair `label`, check the signature with its public key
 * ca_pub, and hand the certificate to *out (*x is then NULL). */
static cf_err ca_sign_checked(hsm_sess *s, const char *label, EVP_PKEY *ca_pub, X509 **x,
			      X509 **out)
{
	cf_err rc;

	if ((rc = ca_x509_sign_hsm(s, label, x)) != CF_OK)
		return rc;
	if (X509_verify(*x, ca_pub) != 1) {
		log_err("ca: the new certificate does not verify with the CA key");
		return CF_E_HSM_OUTPUT;
	}
	*out = *x;
	*x = NULL;
	return CF_OK;
}

/* The public key of the signer's key pair, which must be its certificate's. */
static cf_err ca_signer_pub(const struct ca_signer *ca, EVP_PKEY **ca_pub)
{
	cf_err rc;

	if ((rc = ca_hsm_pubkey(ca->sess, ca->key_label, ca_pub)) != CF_OK)
		return rc;
	if (EVP_PKEY_eq(X509_get0_pubkey(ca->cert), *ca_pub) != 1) {
		log_err("ca: the CA certificate does not belong to the key \"%s\"", ca->key_label);
		return CF_E_CONFIG;
	}
	return CF_OK;
}

cf_err ca_root_create(hsm_sess *s, const char *key_label, const char *cn, const char *org,
		      unsigned days, X509 **out)
{
	cf_err rc = CF_E_INTERNAL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;

	*out = NULL;
	if ((rc = ca_hsm_pubkey(s, key_label, &pub)) != CF_OK)
		goto out;
	if ((rc = ca_x509_base(cn, org, pub, days, &x)) != CF_OK)
		goto out;
	rc = CF_E_INTERNAL;
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!ca_ext_add(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
	    !ca_ext_add(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !ca_ext_add(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	rc = ca_sign_checked(s, key_label, pub, &x, out);
out:
	X509_free(x);
	EVP_PKEY_free(pub);
	return rc;
}

cf_err ca_cert_issue(const struct ca_signer *ca, const struct ca_issue *req, X509 **out)
{
	cf_err rc = CF_E_INTERNAL;
	EVP_PKEY *ca_pub = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;
	char san[1024];
	size_t used = 0;
	bool rsa;
	const char *ku;

	*out = NULL;
	if (ca == NULL || ca->cert == NULL || req == NULL || req->pub == NULL ||
	    req->n_dns > CA_SAN_MAX || req->n_ip > CA_SAN_MAX)
		return CF_E_INVALID_ARG;
	if (req->profile != CA_PROFILE_SERVER && req->profile != CA_PROFILE_CLIENT)
		return CF_E_INVALID_ARG;
	if ((rc = ca_signer_pub(ca, &ca_pub)) != CF_OK)
		goto out;
	if ((rc = ca_x509_base(req->cn, req->org, req->pub, req->days, &x)) != CF_OK)
		goto out;
	rc = CF_E_INTERNAL;
	if (X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1)
		goto out;
	rsa = EVP_PKEY_get_base_id(req->pub) == EVP_PKEY_RSA;
	ku = rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (!ca_ext_add(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ca_ext_add(x, &ctx, NID_key_usage, ku) ||
	    !ca_ext_add(x, &ctx, NID_ext_key_usage,
			req->profile == CA_PROFILE_SERVER ? "serverAuth,clientAuth"
							  : "clientAuth,serverAuth") ||
	    !ca_ext_add(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	san[0] = '\0';
	for (size_t i = 0; i < req->n_dns + req->n_ip; i++) {
		bool dns = i < req->n_dns;
		const char *v = dns ? req->dns[i] : req->ip[i - req->n_dns];
		int w;

		if (v == NULL || v[0] == '\0' || strpbrk(v, ",\n") != NULL) {
			rc = CF_E_INVALID_ARG;
			goto out;
		}
		w = snprintf(san + used, sizeof san - used, "%s%s:%s", used > 0 ? "," : "",
			     dns ? "DNS" : "IP", v);
		if (w < 0 || (size_t)w >= sizeof san - used) {
			rc = CF_E_TOO_LARGE;
			goto out;
		}
		used += (size_t)w;
	}
	if (used > 0 && !ca_ext_add(x, &ctx, NID_subject_alt_name, san))
		goto out;
	rc = ca_sign_checked(ca->sess, ca->key_label, ca_pub, &x, out);
out:
	X509_free(x);
	EVP_PKEY_free(ca_pub);
	return rc;
}

cf_err ca_cert_issue_name(const struct ca_signer *ca, const X509_NAME *subject, EVP_PKEY *pub,
			  int64_t not_before, int64_t not_after, X509 **out)
{
	cf_err rc = CF_E_INTERNAL;
	EVP_PKEY *ca_pub = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;

	*out = NULL;
	if (ca == NULL || ca->cert == NULL || subject == NULL || pub == NULL || not_before <= 0 ||
	    not_after <= not_before)
		return CF_E_INVALID_ARG;
	if ((rc = ca_signer_pub(ca, &ca_pub)) != CF_OK)
		goto out;
	rc = CF_E_INTERNAL;
	if ((x = X509_new()) == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	if (ca_serial_set(x) != CF_OK || X509_set_version(x, 2) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL ||
	    X509_set_pubkey(x, pub) != 1 || X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1)
		goto out;
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (!ca_ext_add(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ca_ext_add(x, &ctx, NID_key_usage,
			EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA
				? "critical,digitalSignature,keyEncipherment"
				: "critical,digitalSignature") ||
	    !ca_ext_add(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ca_ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	rc = ca_sign_checked(ca->sess, ca->key_label, ca_pub, &x, out);
out:
	X509_free(x);
	EVP_PKEY_free(ca_pub);
	return rc;
}

cf_err ca_csr_sign(const struct ca_signer *ca, const char *pem, size_t n, enum ca_profile profile,
		   unsigned days, X509 **out)
{
	cf_err rc = CF_E_BAD_VALUE;
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	char cn[CA_CN_MAX + 1];
	int cn_n;
	struct ca_issue is = { 0 };

	*out = NULL;
	if (pem == NULL || n == 0 || n > CA_DER_MAX * 2)
		return CF_E_INVALID_ARG;
	if ((b = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return CF_E_NOMEM;
	if ((req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL)
		goto out;
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL || X509_REQ_verify(req, pub) != 1) {
		log_warn("ca: CSR signature does not verify");
		goto out;
	}
	cn_n = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
					 sizeof cn);
	if (cn_n <= 0 || (size_t)cn_n >= sizeof cn || memchr(cn, '\0', (size_t)cn_n) != NULL)
		goto out;
	is.profile = profile;
	is.cn = cn;
	is.pub = pub;
	is.days = days;
	rc = ca_cert_issue(ca, &is, out);
out:
	X509_REQ_free(req);
	BIO_free(b);
	return rc;
}

cf_err ca_client_key_new(bool p384, EVP_PKEY **out)
{
	*out = EVP_EC_gen(p384 ? "P-384" : "P-256");
	return *out != NULL ? CF_OK : CF_E_INTERNAL;
}

static cf_err ca_file_create(const char *path, mode_t mode, FILE **out)
{
	int fd;

	*out = NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		log_err("ca: cannot create %s: %s", path, strerror(errno));
		return errno == EEXIST ? CF_E_EXISTS : CF_E_IO;
	}
	if (fchmod(fd, mode) != 0 || (*out = fdopen(fd, "w")) == NULL) {
		close(fd);
		(void)unlink(path);
		return CF_E_IO;
	}
	return CF_OK;
}

static cf_err ca_file_close(const char *path, FILE *f, bool ok)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = false;
	if (fclose(f) != 0)
		ok = false;
	if (!ok) {
		log_err("ca: cannot write %s", path);
		(void)unlink(path);
		return CF_E_IO;
	}
	return CF_OK;
}

cf_err ca_cert_write(const char *path, X509 *x)
{
	FILE *f;

	TRY(ca_file_create(path, 0644, &f));
	return ca_file_close(path, f, PEM_write_X509(f, x) == 1);
}

cf_err ca_key_write(const char *path, EVP_PKEY *k)
{
	FILE *f;

	TRY(ca_file_create(path, 0600, &f));
	return ca_file_close(path, f, PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
}

cf_err ca_cert_read(const char *path, X509 **out)
{
	FILE *f = fopen(path, "re");

	*out = NULL;
	if (f == NULL)
		return CF_E_IO;
	*out = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return *out != NULL ? CF_OK : CF_E_BAD_VALUE;
}

cf_err ca_csr_check(const char *pem, size_t n, char cn[static CA_CN_MAX + 1])
{
	cf_err rc = CF_E_BAD_MESSAGE;
	BIO *b = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	char tmp[CA_CN_MAX + 2];
	int cn_n;

	if (cn != NULL)
		cn[0] = '\0';
	if (pem == NULL || n == 0 || n > CA_DER_MAX * 2)
		return CF_E_BAD_MESSAGE;
	if ((b = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return CF_E_NOMEM;
	if ((req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL)
		goto out;
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL) {
		rc = CF_E_BAD_MESSAGE;
		goto out;
	}
	if (X509_REQ_verify(req, pub) != 1) {
		rc = CF_E_BAD_VALUE;
		goto out;
	}
	rc = CF_E_MISSING;
	cn_n = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, tmp,
					 sizeof tmp);
	if (cn_n <= 0 || (size_t)cn_n > CA_CN_MAX || memchr(tmp, '\0', (size_t)cn_n) != NULL)
		goto out;
	if (cn != NULL)
		memcpy(cn, tmp, (size_t)cn_n + 1);
	rc = CF_OK;
out:
	X509_REQ_free(req);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

cf_err ca_cert_from_pem(const char *pem, size_t n, X509 **out)
{
	BIO *b;

	*out = NULL;
	if (pem == NULL || n == 0 || n > INT32_MAX)
		return CF_E_BAD_MESSAGE;
	if ((b = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return CF_E_NOMEM;
	*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	return *out != NULL ? CF_OK : CF_E_BAD_MESSAGE;
}

/* The contents of a memory BIO as a NUL-terminated copy, in malloc or sec_alloc memory. */
static cf_err ca_bio_text(BIO *b, bool secret, char **out, size_t *cap)
{
	char *p = NULL, *t;
	long n = BIO_get_mem_data(b, &p);

	*out = NULL;
	if (n <= 0 || p == NULL)
		return CF_E_INTERNAL;
	if (secret) {
		TRY(sec_alloc((size_t)n + 1, (void **)&t));
	} else if ((t = malloc((size_t)n + 1)) == NULL) {
		return CF_E_NOMEM;
	}
	memcpy(t, p, (size_t)n);
	t[n] = '\0';
	*out = t;
	if (cap != NULL)
		*cap = (size_t)n + 1;
	return CF_OK;
}

cf_err ca_cert_to_pem(X509 *x, char **out)
{
	cf_err rc = CF_E_INTERNAL;
	BIO *b;

	*out = NULL;
	if (x == NULL)
		return CF_E_INVALID_ARG;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return CF_E_NOMEM;
	if (PEM_write_bio_X509(b, x) == 1)
		rc = ca_bio_text(b, false, out, NULL);
	BIO_free(b);
	return rc;
}

cf_err ca_key_to_pem(EVP_PKEY *k, char **out, size_t *cap)
{
	cf_err rc = CF_E_INTERNAL;
	BIO *b;
	char *p = NULL;
	long n;

	*out = NULL;
	*cap = 0;
	if (k == NULL)
		return CF_E_INVALID_ARG;
	/* secure-heap memory BIO: its buffer is cleansed when it grows or is freed */
	if ((b = BIO_new(BIO_s_secmem())) == NULL)
		return CF_E_NOMEM;
	if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
		rc = ca_bio_text(b, true, out, cap);
	/* the BIO's buffer held the key: wipe it before it is freed */
	n = BIO_get_mem_data(b, &p);
	if (n > 0 && p != NULL)
		sec_wipe(p, (size_t)n);
	BIO_free(b);
	return rc;
}
