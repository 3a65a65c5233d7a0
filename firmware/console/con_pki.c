/* Console PKI commands (con.h; docs/console/pki.md): `cert show` and `client sign-csr |
 * issue | trust | list | revoke`: how vCenter and the appliance come to trust each other.
 *
 * Clients live in the store's clients table (store_clients.h). Certificates the appliance CA
 * issues (sign-csr, issue) chain to [tls] ca and are mapped by fingerprint; pasted
 * certificates (trust) are pinned by SHA-256 fingerprint in the TLS layer's run-time trust
 * snapshot, rebuilt from the table after every change (authz_trust_reload). A revoke keeps
 * the row with role "revoked": the snapshot then refuses the fingerprint at the handshake
 * (and on ticket resumption), and authz refuses its requests before any other rule. */
#include "firmware/console/con.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "board/cidr.h"
#include "board/hex.h"
#include "board/sec.h"
#include "firmware/ops/authz.h"
#include "firmware/pki/ca.h"
#include "firmware/net/identity.h"
#include "firmware/store/store_clients.h"
#include "firmware/net/tls.h"

#define PKI_NAME_MAX 63
#define PKI_DAYS_DEFAULT 730u
#define PKI_DAYS_MAX 3650u
#define PKI_HSM_WAIT_MS 5000u
#define PKI_ROLE_USER "user"

/* ---- small helpers ----------------------------------------------------------------------- */

/* [A-Za-z0-9._-]{1,63}: client names and tenants (they appear in audit records and in the
 * list; nothing that needs quoting). */
static bool pki_name_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* "AB:CD:..." upper-case, colon-separated (what vCenter shows as the SSL thumbprint). */
static void pki_hex_colon(const uint8_t *b, size_t n, char *out)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (hex_encode(b + i, 1, HEX_UPPER, out + 3 * i, 3) != CF_OK) {
			out[0] = '\0';
			return;
		}
		out[3 * i + 2] = i + 1 < n ? ':' : '\0';
	}
}

static bool pki_digest(X509 *x, const EVP_MD *md, uint8_t *out, unsigned want)
{
	unsigned n = 0;
	return X509_digest(x, md, out, &n) == 1 && n == want;
}

static void pki_time_fmt(int64_t t, char *out, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* An ASN1_TIME as seconds since the epoch; 0 when it cannot be read. */
static int64_t pki_asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Take the common options: --tenant T, --days N (want_days). false after printing why. */
static bool pki_opts(struct con *c, int *argc, char **argv, bool want_days, const char **tenant,
		     unsigned *days)
{
	bool bad = false;
	const char *d = NULL;

	*tenant = con_opt_take(argc, argv, "tenant", &bad);
	if (bad) {
		con_printf(c, "--tenant needs a value\n");
		return false;
	}
	if (want_days) {
		d = con_opt_take(argc, argv, "days", &bad);
		if (bad) {
			con_printf(c, "--days needs a value\n");
			return false;
		}
		*days = PKI_DAYS_DEFAULT;
		if (d != NULL) {
			char *end = NULL;
			unsigned long v = strtoul(d, &end, 10);
			if (d[0] < '0' || d[0] > '9' || *end != '\0' || v == 0 || v > PKI_DAYS_MAX) {
				con_printf(c, "bad --days \"%s\": a number of days from 1 to %u\n", d,
					   PKI_DAYS_MAX);
				return false;
			}
			*days = (unsigned)v;
		}
	}
	return true;
}

/* After the options: exactly NAME is left; the tenant defaults to it. */
static bool pki_name_tenant(struct con *c, int argc, char **argv, const char *usage,
			    const char **name, const char **tenant)
{
	if (argc != 1 || argv[0][0] == '-') {
		con_printf(c, "usage: %s\n", usage);
		return false;
	}
	*name = argv[0];
	if (*tenant == NULL)
		*tenant = *name;
	if (!pki_name_ok(*tenant, STORE_TENANT_MAX < PKI_NAME_MAX ? STORE_TENANT_MAX : PKI_NAME_MAX)) {
		con_printf(c, "bad tenant \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -\n",
			   *tenant, PKI_NAME_MAX);
		return false;
	}
	return true;
}

static struct store *pki_store(struct con *c)
{
	struct store *st = con_store(c);
	if (st == NULL)
		con_printf(c, "no store yet: initialise the appliance first (init)\n");
	return st;
}

/* The name must be valid and not used by a client that is not revoked. */
static bool pki_name_free(struct con *c, struct store *st, const char *name)
{
	struct store_client sc;
	cf_err rc;

	if (!pki_name_ok(name, PKI_NAME_MAX)) {
		con_printf(c, "bad client name \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -\n",
			   name, PKI_NAME_MAX);
		return false;
	}
	rc = store_client_by_name(st, name, &sc);
	if (rc == CF_OK) {
		con_printf(c, "client \"%s\" already exists (%s, %s): choose another name, or "
			      "`client revoke %s` first\n", name, sc.kind, sc.fingerprint, name);
		return false;
	}
	if (rc != CF_E_NOT_FOUND) {
		con_printf(c, "cannot read the clients table (%s)\n", cf_err_name(rc));
		return false;
	}
	return true;
}

static void pki_print_fps(struct con *c, X509 *x)
{
	uint8_t d1[20], d256[32];
	char h1[3 * sizeof d1], h256[3 * sizeof d256];

	if (!pki_digest(x, EVP_sha1(), d1, sizeof d1) ||
	    !pki_digest(x, EVP_sha256(), d256, sizeof d256)) {
		con_printf(c, "  (fingerprints unavailable)\n");
		return;
	}
	pki_hex_colon(d1, sizeof d1, h1);
	pki_hex_colon(d256, sizeof d256, h256);
	con_printf(c, "  SHA-1 fingerprint:   %s\n", h1);
	con_printf(c, "  SHA-256 fingerprint: %s\n", h256);
}

static void pki_print_pem(struct con *c, X509 *x)
{
	char *pem = NULL;

	if (ca_cert_to_pem(x, &pem) != CF_OK) {
		con_printf(c, "(cannot encode the certificate as PEM)\n");
		return;
	}
	con_write(c, pem, strlen(pem));
	free(pem);
}

/* The certificate's subjectAltNames, comma-separated; "-" when none. */
static void pki_print_sans(struct con *c, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

	con_printf(c, "  SANs:                ");
	if (n <= 0)
		con_printf(c, "-");
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *sep = i > 0 ? ", " : "";
		const ASN1_STRING *s;

		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = g->d.ia5;
			con_printf(c, "%s%s:%.*s", sep,
				   g->type == GEN_DNS ? "DNS" : g->type == GEN_EMAIL ? "email" : "URI",
				   ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
			break;
		case GEN_IPADD: {
			const unsigned char *p = ASN1_STRING_get0_data(g->d.ip);
			int len = ASN1_STRING_length(g->d.ip);
			if (len == 4) {
				con_printf(c, "%sIP:%u.%u.%u.%u", sep, p[0], p[1], p[2], p[3]);
			} else if (len == 16) {
				con_printf(c, "%sIP:", sep);
				for (int k = 0; k < 16; k += 2)
					con_printf(c, "%s%x", k ? ":" : "", (unsigned)(p[k] << 8 | p[k + 1]));
			} else {
				con_printf(c, "%sIP:?", sep);
			}
			break;
		}
		default:
			con_printf(c, "%sother", sep);
			break;
		}
	}
	con_printf(c, "\n");
	GENERAL_NAMES_free(gens);
}

/* Subject, issuer, validity, SANs and fingerprints of x (identity.c's RFC 2253 form). */
static void pki_print_info(struct con *c, X509 *x)
{
	struct identity id;
	char nb[40], na[40];

	if (identity_from_cert(x, true, &id) == CF_OK) {
		con_printf(c, "  subject:             %s\n", id.subject);
		con_printf(c, "  issuer:              %s\n", id.issuer);
	}
	pki_time_fmt(pki_asn1_time(X509_get0_notBefore(x)), nb, sizeof nb);
	pki_time_fmt(pki_asn1_time(X509_get0_notAfter(x)), na, sizeof na);
	con_printf(c, "  not before:          %s\n", nb);
	con_printf(c, "  not after:           %s\n", na);
	pki_print_sans(c, x);
	pki_print_fps(c, x);
}

/* Record a client row for certificate x. */
static cf_err pki_record(struct con *c, struct store *st, X509 *x, const char *name,
			 const char *tenant, const char *kind, struct identity *id)
{
	struct store_client sc;

	memset(&sc, 0, sizeof sc);
	TRY(identity_from_cert(x, true, id));
	snprintf(sc.fingerprint, sizeof sc.fingerprint, "sha256:%s", id->fp_hex);
	snprintf(sc.subject, sizeof sc.subject, "%s", id->subject);
	snprintf(sc.issuer, sizeof sc.issuer, "%s", id->issuer);
	snprintf(sc.tenant, sizeof sc.tenant, "%s", tenant);
	snprintf(sc.role, sizeof sc.role, "%s", PKI_ROLE_USER);
	snprintf(sc.name, sizeof sc.name, "%s", name);
	snprintf(sc.kind, sizeof sc.kind, "%s", kind);
	sc.created = con_now(c);
	sc.not_after = pki_asn1_time(X509_get0_notAfter(x));
	return store_client_put(st, &sc);
}

/* The CA signer: the CA certificate from [tls] ca and the key "coffre-ca" in the HSM. */
static cf_err pki_signer(struct con *c, struct ca_signer *ca, hsm_sess **sess)
{
	const struct config *cfg = c->svc->cfg;
	cf_err rc;

	memset(ca, 0, sizeof *ca);
	*sess = NULL;
	if (c->svc->hsm == NULL) {
		con_printf(c, "the HSM is not open: the CA cannot sign now\n");
		return CF_E_STATE;
	}
	if (cfg->tls.ca[0] == '\0') {
		con_printf(c, "no [tls] ca in the configuration: there is no appliance CA\n");
		return CF_E_CONFIG;
	}
	if ((rc = ca_cert_read(cfg->tls.ca, &ca->cert)) != CF_OK) {
		con_printf(c, "cannot read the CA certificate %s (%s)\n", cfg->tls.ca, cf_err_name(rc));
		return rc;
	}
	if ((rc = hsm_session_acquire(c->svc->hsm, PKI_HSM_WAIT_MS, sess)) != CF_OK) {
		con_printf(c, "no HSM session available (%s); try again\n", cf_err_name(rc));
		X509_free(ca->cert);
		ca->cert = NULL;
		return rc;
	}
	ca->sess = *sess;
	ca->key_label = CA_KEY_LABEL;
	return CF_OK;
}

static void pki_signer_done(struct ca_signer *ca, hsm_sess *sess)
{
	X509_free(ca->cert);
	ca->cert = NULL;
	if (sess != NULL)
		hsm_session_release(sess);
}

static void pki_audit_client(struct con *c, const char *op, const char *name, cf_err rc,
			     const struct identity *id, const char *tenant, const char *extra)
{
	char detail[512];

	snprintf(detail, sizeof detail, "%s%s%s%s%s%s", id != NULL ? "sha256:" : "",
		 id != NULL ? id->fp_hex : "", tenant != NULL ? " tenant=" : "",
		 tenant != NULL ? tenant : "", extra != NULL ? " " : "", extra != NULL ? extra : "");
	con_audit(c, op, name, rc, detail);
}

/* ---- cert show ----------------------------------------------------------------------------- */

static cf_err cmd_cert_show(struct con *c, int argc, char **argv)
{
	const struct config *cfg = c->svc->cfg;
	X509 *srv = NULL, *ca = NULL;
	cf_err rc;

	(void)argc;
	(void)argv;
	if ((rc = ca_cert_read(cfg->tls.cert, &srv)) != CF_OK) {
		con_printf(c, "cannot read the server certificate %s (%s)\n", cfg->tls.cert,
			   cf_err_name(rc));
		return rc;
	}
	con_printf(c, "Server certificate (%s): give vCenter this one, or the CA below\n",
		   cfg->tls.cert);
	pki_print_info(c, srv);
	pki_print_pem(c, srv);
	X509_free(srv);
	if (cfg->tls.ca[0] == '\0') {
		con_printf(c, "\nNo appliance CA configured ([tls] ca).\n");
		return CF_OK;
	}
	if ((rc = ca_cert_read(cfg->tls.ca, &ca)) != CF_OK) {
		con_printf(c, "cannot read the CA certificate %s (%s)\n", cfg->tls.ca, cf_err_name(rc));
		return rc;
	}
	con_printf(c, "\nAppliance CA certificate (%s):\n", cfg->tls.ca);
	pki_print_info(c, ca);
	pki_print_pem(c, ca);
	X509_free(ca);
	return CF_OK;
}

/* ---- client sign-csr / issue ------------------------------------------------------------- */

static cf_err cmd_client_sign_csr(struct con *c, int argc, char **argv)
{
	const char *tenant = NULL;
	unsigned days = 0;
	struct store *st;
	char *pem = NULL;
	size_t n = 0;
	char cn[CA_CN_MAX + 1];
	struct ca_signer ca;
	hsm_sess *sess = NULL;
	X509 *x = NULL;
	struct identity id;
	const char *name;
	cf_err rc;

	if (!pki_opts(c, &argc, argv, true, &tenant, &days) ||
	    !pki_name_tenant(c, argc, argv, "client sign-csr NAME [--tenant T] [--days N]", &name,
			     &tenant))
		return CF_E_INVALID_ARG;
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (!pki_name_free(c, st, name))
		return CF_E_EXISTS;
	con_printf(c, "Paste the certificate request (PEM, from -----BEGIN to -----END ...):\n");
	rc = con_read_paste(c, "", "-----BEGIN", "-----END ", CON_PASTE_MAX, &pem, &n);
	if (rc != CF_OK) {
		if (rc == CF_E_TOO_LARGE)
			con_printf(c, "the paste is too large; nothing recorded\n");
		else if (rc != CF_E_CANCELLED)
			con_printf(c, "no request read (%s); nothing recorded\n", cf_err_name(rc));
		return rc;
	}
	rc = ca_csr_check(pem, n, cn);
	if (rc != CF_OK) {
		if (rc == CF_E_BAD_VALUE)
			con_printf(c, "the request's signature does not verify (altered or corrupted "
				      "CSR); nothing recorded\n");
		else if (rc == CF_E_MISSING)
			con_printf(c, "the request has no subject CN (or one longer than %d "
				      "characters); nothing recorded\n", CA_CN_MAX);
		else
			con_printf(c, "not a PEM certificate request (-----BEGIN CERTIFICATE "
				      "REQUEST-----); nothing recorded\n");
		pki_audit_client(c, "client_sign_csr", name, rc, NULL, tenant, "bad CSR");
		goto out;
	}
	if ((rc = pki_signer(c, &ca, &sess)) != CF_OK)
		goto out;
	rc = ca_csr_sign(&ca, pem, n, CA_PROFILE_CLIENT, days, &x);
	pki_signer_done(&ca, sess);
	if (rc != CF_OK) {
		con_printf(c, "the CA could not sign the request (%s); nothing recorded\n",
			   cf_err_name(rc));
		pki_audit_client(c, "client_sign_csr", name, rc, NULL, tenant, NULL);
		goto out;
	}
	if ((rc = pki_record(c, st, x, name, tenant, STORE_CLIENT_KIND_SIGNED, &id)) != CF_OK) {
		con_printf(c, "the certificate was signed but could not be recorded (%s); it will "
			      "not be accepted\n", cf_err_name(rc));
		pki_audit_client(c, "client_sign_csr", name, rc, NULL, tenant, NULL);
		goto out;
	}
	pki_audit_client(c, "client_sign_csr", name, CF_OK, &id, tenant, NULL);
	con_printf(c, "Client \"%s\" (tenant %s), CN=%s, valid %u days:\n", name, tenant, cn, days);
	pki_print_fps(c, x);
	con_printf(c, "Give vCenter this certificate (\"KMS signed CSR\"):\n");
	pki_print_pem(c, x);
out:
	X509_free(x);
	free(pem);
	return rc;
}

static cf_err cmd_client_issue(struct con *c, int argc, char **argv)
{
	const char *tenant = NULL;
	unsigned days = 0;
	struct store *st;
	struct ca_signer ca;
	hsm_sess *sess = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct ca_issue is;
	struct identity id;
	char *kpem = NULL;
	size_t kcap = 0;
	const char *name;
	cf_err rc;

	if (!pki_opts(c, &argc, argv, true, &tenant, &days) ||
	    !pki_name_tenant(c, argc, argv, "client issue NAME [--tenant T] [--days N]", &name,
			     &tenant))
		return CF_E_INVALID_ARG;
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (!pki_name_free(c, st, name))
		return CF_E_EXISTS;
	if ((rc = ca_client_key_new(false, &key)) != CF_OK) {
		con_printf(c, "cannot generate the client key (%s)\n", cf_err_name(rc));
		return rc;
	}
	if ((rc = pki_signer(c, &ca, &sess)) != CF_OK)
		goto out;
	memset(&is, 0, sizeof is);
	is.profile = CA_PROFILE_CLIENT;
	is.cn = name;
	is.pub = key;
	is.days = days;
	rc = ca_cert_issue(&ca, &is, &x);
	pki_signer_done(&ca, sess);
	if (rc != CF_OK) {
		con_printf(c, "the CA could not issue the certificate (%s); nothing recorded\n",
			   cf_err_name(rc));
		pki_audit_client(c, "client_issue", name, rc, NULL, tenant, NULL);
		goto out;
	}
	if ((rc = ca_key_to_pem(key, &kpem, &kcap)) != CF_OK) {
		con_printf(c, "cannot encode the private key (%s); nothing recorded\n", cf_err_name(rc));
		goto out;
	}
	if ((rc = pki_record(c, st, x, name, tenant, STORE_CLIENT_KIND_ISSUED, &id)) != CF_OK) {
		con_printf(c, "the certificate could not be recorded (%s); nothing issued\n",
			   cf_err_name(rc));
		pki_audit_client(c, "client_issue", name, rc, NULL, tenant, NULL);
		goto out;
	}
	pki_audit_client(c, "client_issue", name, CF_OK, &id, tenant, NULL);
	con_printf(c, "Client \"%s\" (tenant %s), CN=%s, valid %u days:\n", name, tenant, name, days);
	pki_print_fps(c, x);
	con_printf(c, "Give vCenter the certificate AND the private key below (\"KMS certificate "
		      "and private key\").\nThe appliance does not keep the private key: this is "
		      "the only copy. Copy it now,\nthen clear the terminal's scrollback.\n");
	pki_print_pem(c, x);
	con_write(c, kpem, strlen(kpem));
out:
	if (kpem != NULL)
		sec_free(kpem, kcap);
	EVP_PKEY_free(key); /* OpenSSL clears EC private scalars when it frees them */
	X509_free(x);
	return rc;
}

/* ---- client trust -------------------------------------------------------------------------- */

/* A certificate that may be pinned as a client's own: currently valid, not a CA certificate
 * issued by someone else, usable for signatures. Prints why not. Warnings do not refuse. */
static bool pki_trust_check(struct con *c, X509 *x)
{
	int nb = X509_cmp_current_time(X509_get0_notBefore(x));
	int na = X509_cmp_current_time(X509_get0_notAfter(x));
	uint32_t ku, xku;
	bool self = X509_self_signed(x, 1) == 1;

	if (nb == 0 || na == 0) {
		con_printf(c, "the certificate's validity dates cannot be read; not trusted\n");
		return false;
	}
	if (nb > 0) {
		con_printf(c, "the certificate is not valid yet; not trusted\n");
		return false;
	}
	if (na < 0) {
		con_printf(c, "the certificate has expired; not trusted\n");
		return false;
	}
	(void)X509_check_purpose(x, -1, 0); /* computes the extension flags */
	ku = X509_get_key_usage(x);
	xku = X509_get_extended_key_usage(x);
	/* A CA certificate issued by another CA is never a client's own certificate: the operator
	 * pasted the wrong one (pinning trusts only this exact certificate, never those it
	 * signs). A self-signed CA:TRUE certificate is what `openssl req -x509` and several
	 * tools make for a client: accepted (with a note). */
	if (X509_check_ca(x) != 0 && !self) {
		con_printf(c, "this is a CA certificate issued by another CA, not a client's own "
			      "certificate; paste the client certificate itself. Not trusted\n");
		return false;
	}
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) && !(ku & KU_DIGITAL_SIGNATURE)) {
		con_printf(c, "the certificate's key usage does not allow digitalSignature: it "
			      "cannot authenticate a TLS client. Not trusted\n");
		return false;
	}
	if (X509_check_ca(x) != 0)
		con_printf(c, "note: a self-signed CA certificate; only this exact certificate is "
			      "trusted, not certificates it signs\n");
	if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) && !(xku & XKU_SSL_CLIENT))
		con_printf(c, "warning: the certificate's extended key usage does not include "
			      "clientAuth; it is trusted anyway (pinned by fingerprint)\n");
	return true;
}

/* What `client trust` was asked: NAME, the tenant and the optional --sha256. */
struct trust_req {
	const char *name, *tenant;
	bool has_fp;
	uint8_t want[TLS_FP_LEN];
};

static cf_err trust_args(struct con *c, int argc, char **argv, struct trust_req *r)
{
	bool bad = false;
	const char *want_fp = con_opt_take(&argc, argv, "sha256", &bad);

	if (bad) {
		con_printf(c, "--sha256 needs a value\n");
		return CF_E_INVALID_ARG;
	}
	if (!pki_opts(c, &argc, argv, false, &r->tenant, NULL) ||
	    !pki_name_tenant(c, argc, argv, "client trust NAME [--tenant T] [--sha256 FINGERPRINT]",
			     &r->name, &r->tenant))
		return CF_E_INVALID_ARG;
	r->has_fp = want_fp != NULL;
	if (r->has_fp && tls_fp_parse(want_fp, r->want) != CF_OK) {
		con_printf(c, "bad --sha256: 64 hex digits (':' separators allowed)\n");
		return CF_E_INVALID_ARG;
	}
	return CF_OK;
}

/* Read the pasted certificate into *x and *id, show it and check it may be trusted (and is
 * the one --sha256 named). The caller frees *x, also on error. */
static cf_err trust_read_cert(struct con *c, const struct trust_req *r, X509 **x,
			      struct identity *id)
{
	char *pem = NULL;
	size_t n = 0;
	cf_err rc;

	con_printf(c, "Paste the client's certificate (PEM, from -----BEGIN CERTIFICATE----- to "
		      "-----END CERTIFICATE-----):\n");
	rc = con_read_paste(c, "", "-----BEGIN", "-----END ", CON_PASTE_MAX, &pem, &n);
	if (rc != CF_OK) {
		if (rc == CF_E_TOO_LARGE)
			con_printf(c, "the paste is too large; nothing recorded\n");
		else if (rc != CF_E_CANCELLED)
			con_printf(c, "no certificate read (%s); nothing recorded\n", cf_err_name(rc));
		return rc;
	}
	rc = ca_cert_from_pem(pem, n, x);
	free(pem);
	if (rc != CF_OK) {
		con_printf(c, "not a PEM certificate (-----BEGIN CERTIFICATE-----); nothing "
			      "recorded\n");
		pki_audit_client(c, "client_trust", r->name, rc, NULL, r->tenant, "bad PEM");
		return rc;
	}
	if ((rc = identity_from_cert(*x, false, id)) != CF_OK) {
		con_printf(c, "the certificate's names cannot be read (%s); nothing recorded\n",
			   cf_err_name(rc));
		return rc;
	}
	con_printf(c, "Certificate:\n");
	pki_print_info(c, *x);
	if (!pki_trust_check(c, *x)) {
		pki_audit_client(c, "client_trust", r->name, CF_E_BAD_VALUE, id, r->tenant, "refused");
		return CF_E_BAD_VALUE;
	}
	if (r->has_fp && !ct_memeq(r->want, id->fp, TLS_FP_LEN)) {
		con_printf(c, "the certificate's SHA-256 fingerprint is not the one given with "
			      "--sha256; not trusted\n");
		pki_audit_client(c, "client_trust", r->name, CF_E_AUTH, id, r->tenant,
				 "fingerprint mismatch");
		return CF_E_AUTH;
	}
	return CF_OK;
}

/* The store's row for this certificate: none (*readmit false), or a revoked one that trusting
 * re-admits (*readmit true, *old the row). A client that is not revoked is refused. */
static cf_err trust_prior(struct con *c, struct store *st, const struct identity *id,
			  struct store_client *old, bool *readmit)
{
	char fpk[STORE_OWNER_MAX + 1];
	cf_err rc;

	snprintf(fpk, sizeof fpk, "sha256:%s", id->fp_hex);
	rc = store_client_get(st, fpk, old);
	if (rc == CF_OK && strcmp(old->role, STORE_CLIENT_ROLE_REVOKED) != 0) {
		con_printf(c, "this certificate is already a client (\"%s\", tenant %s); nothing "
			      "recorded\n", old->name, old->tenant);
		return CF_E_EXISTS;
	}
	if (rc != CF_OK && rc != CF_E_NOT_FOUND) {
		con_printf(c, "cannot read the clients table (%s)\n", cf_err_name(rc));
		return rc;
	}
	*readmit = rc == CF_OK;
	if (*readmit)
		con_printf(c, "note: this certificate was revoked (as \"%s\"); trusting it admits it "
			      "again\n", old->name);
	return CF_OK;
}

/* Record the client and hand the new trust to the TLS layer; when the TLS layer does not take
 * it, undo the row (and restore a re-admitted one), so store and handshake agree. */
static cf_err trust_record(struct con *c, struct store *st, X509 *x, const struct trust_req *r,
			   struct identity *id, const struct store_client *old, bool readmit)
{
	cf_err rc;

	if ((rc = pki_record(c, st, x, r->name, r->tenant, STORE_CLIENT_KIND_TRUSTED, id)) !=
	    CF_OK) {
		con_printf(c, "cannot record the client (%s); not trusted\n", cf_err_name(rc));
		pki_audit_client(c, "client_trust", r->name, rc, id, r->tenant, NULL);
		return rc;
	}
	if ((rc = authz_trust_reload(c->svc->authz, st)) != CF_OK) {
		char fpk[STORE_OWNER_MAX + 1];
		snprintf(fpk, sizeof fpk, "sha256:%s", id->fp_hex);
		cf_err urc = store_client_delete(st, fpk);
		if (urc == CF_OK && readmit)
			urc = store_client_put(st, old);
		if (urc == CF_OK)
			urc = authz_trust_reload(c->svc->authz, st);
		if (urc != CF_OK)
			con_printf(c, "the undo failed too (%s): check `client list`\n",
				   cf_err_name(urc));
		con_printf(c, "the TLS layer could not be updated (%s); not trusted\n",
			   cf_err_name(rc));
		pki_audit_client(c, "client_trust", r->name, rc, id, r->tenant, NULL);
		return rc;
	}
	pki_audit_client(c, "client_trust", r->name, CF_OK, id, r->tenant,
			 readmit ? "re-admitted after revoke" : NULL);
	con_printf(c, "Client \"%s\" trusted (tenant %s): sha256:%s\nIts next connection is "
		      "accepted.\n", r->name, r->tenant, id->fp_hex);
	return CF_OK;
}

static cf_err cmd_client_trust(struct con *c, int argc, char **argv)
{
	struct trust_req r = { 0 };
	struct store *st;
	X509 *x = NULL;
	struct identity id;
	struct store_client old;
	bool readmit = false;
	char q[160];
	cf_err rc;

	if ((rc = trust_args(c, argc, argv, &r)) != CF_OK)
		return rc;
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (!pki_name_free(c, st, r.name))
		return CF_E_EXISTS;
	if ((rc = trust_read_cert(c, &r, &x, &id)) != CF_OK ||
	    (rc = trust_prior(c, st, &id, &old, &readmit)) != CF_OK)
		goto out;
	snprintf(q, sizeof q, "Trust this certificate as client \"%s\" (tenant %s)?", r.name,
		 r.tenant);
	if (!con_confirm(c, q)) {
		con_printf(c, "not trusted\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	rc = trust_record(c, st, x, &r, &id, &old, readmit);
out:
	X509_free(x);
	return rc;
}

/* ---- client list / revoke ------------------------------------------------------------------ */

static cf_err cmd_client_list(struct con *c, int argc, char **argv)
{
	struct store_client_list l;
	struct store *st;
	size_t active = 0;
	cf_err rc;

	(void)argc;
	(void)argv;
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if ((rc = store_client_list(st, &l)) != CF_OK) {
		con_printf(c, "cannot read the clients table (%s)\n", cf_err_name(rc));
		return rc;
	}
	if (l.n == 0) {
		con_printf(c, "no clients in the store (clients of the configuration file are not "
			      "listed)\n");
		return CF_OK;
	}
	con_printf(c, "%-20s %-16s %-8s %-8s %-23s %s\n", "NAME", "TENANT", "KIND", "STATUS",
		   "EXPIRES", "CREATED");
	for (size_t i = 0; i < l.n; i++) {
		const struct store_client *sc = &l.v[i];
		bool revoked = strcmp(sc->role, STORE_CLIENT_ROLE_REVOKED) == 0;
		char exp[40], cre[40];

		pki_time_fmt(sc->not_after, exp, sizeof exp);
		pki_time_fmt(sc->created, cre, sizeof cre);
		con_printf(c, "%-20s %-16s %-8s %-8s %-23s %s\n", sc->name[0] ? sc->name : "-",
			   sc->tenant, sc->kind[0] ? sc->kind : "-",
			   revoked ? "revoked"
				   : (sc->not_after != 0 && sc->not_after < con_now(c) ? "expired"
										       : "active"),
			   exp, cre);
		con_printf(c, "  %s\n", sc->fingerprint);
		if (sc->allow[0] != '\0')
			con_printf(c, "  allow: %s\n", sc->allow);
		active += !revoked;
	}
	con_printf(c, "%zu client(s), %zu active\n", l.n, active);
	store_client_list_free(&l);
	return CF_OK;
}

static cf_err cmd_client_revoke(struct con *c, int argc, char **argv)
{
	struct store *st;
	struct store_client sc;
	char q[360];
	cf_err rc;

	(void)argc;
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (!pki_name_ok(argv[0], PKI_NAME_MAX)) {
		con_printf(c, "bad client name \"%s\"\n", argv[0]);
		return CF_E_INVALID_ARG;
	}
	rc = store_client_by_name(st, argv[0], &sc);
	if (rc == CF_E_NOT_FOUND) {
		con_printf(c, "no active client named \"%s\" (see client list; clients of the "
			      "configuration file are changed there)\n", argv[0]);
		return rc;
	}
	if (rc != CF_OK) {
		con_printf(c, "cannot read the clients table (%s)\n", cf_err_name(rc));
		return rc;
	}
	snprintf(q, sizeof q, "Revoke client \"%s\" (tenant %s, %s)?", sc.name, sc.tenant,
		 sc.fingerprint);
	if (!con_confirm(c, q)) {
		con_printf(c, "not revoked\n");
		return CF_E_CANCELLED;
	}
	if ((rc = store_client_revoke(st, sc.fingerprint)) != CF_OK) {
		con_printf(c, "cannot revoke (%s)\n", cf_err_name(rc));
		con_audit(c, "client_revoke", sc.name, rc, sc.fingerprint);
		return rc;
	}
	rc = authz_trust_reload(c->svc->authz, st);
	con_audit(c, "client_revoke", sc.name, rc, sc.fingerprint);
	if (rc != CF_OK) {
		/* the row says revoked, so authz refuses every request; only the handshake
		 * refusal is missing until the next reload */
		con_printf(c, "client \"%s\" revoked in the store (its requests are refused), but "
			      "the TLS layer could not be updated (%s)\n", sc.name, cf_err_name(rc));
		return rc;
	}
	con_printf(c, "Client \"%s\" revoked: its connections and requests are refused from now "
		      "on.\n", sc.name);
	return CF_OK;
}

/* The words argv[0..argc) as one allow-list ("any" or CIDRs): parsed into *l, or a console
 * message and CF_E_INVALID_ARG. */
static cf_err args_allow_list(struct con *c, int argc, char **argv, struct cidr_list *l)
{
	char text[CIDR_LIST_TEXT_MAX] = "";
	const char *why = NULL;
	size_t len = 0;

	for (int i = 0; i < argc; i++) {
		int n = snprintf(text + len, sizeof text - len, "%s%s", i > 0 ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof text - len) {
			con_printf(c, "allow-list too long (at most %d entries)\n", CIDR_LIST_MAX);
			return CF_E_INVALID_ARG;
		}
		len += (size_t)n;
	}
	if (cidr_list_parse(text, l, &why, NULL) != CF_OK) {
		con_printf(c, "bad allow-list: %s\n", why);
		return CF_E_INVALID_ARG;
	}
	return CF_OK;
}

/* kmip allow [CIDR...|any]: the KMIP listener's source allow-list (docs/security.md
 * "Source-address allow-lists"). Without arguments: the list in force. Otherwise: saved in
 * the store (it replaces [kmip] allow from then on, restarts included), audited, and in
 * force at once for new connections; open connections are not closed. */
static cf_err cmd_kmip_allow(struct con *c, int argc, char **argv)
{
	char text[CIDR_LIST_TEXT_MAX] = "", canon[CIDR_LIST_TEXT_MAX], q[CIDR_LIST_TEXT_MAX + 200];
	struct cidr_list l;
	struct store *st;
	cf_err rc;

	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (argc == 0) {
		bool saved = store_meta_get(st, SVC_META_KMIP_ALLOW, text, sizeof text) == CF_OK;
		if (!svc_kmip_allow_get(c->svc, &l)) {
			con_printf(c, "kmip allow: the listener is not running; saved: %s\n",
				   saved ? text : "none ([kmip] allow of coffred.conf applies)");
			return CF_OK;
		}
		cidr_list_format(&l, canon, sizeof canon);
		con_printf(c, "kmip allow: %s (%s)\n", canon,
			   saved ? "set at the console" : "[kmip] allow of coffred.conf");
		return CF_OK;
	}
	TRY(args_allow_list(c, argc, argv, &l));
	cidr_list_format(&l, canon, sizeof canon);
	snprintf(q, sizeof q, "Serve KMIP connections from %s? A new connection from elsewhere "
		 "is closed before TLS.", l.n == 0 ? "any address" : canon);
	if (!con_confirm(c, q)) {
		con_printf(c, "not changed\n");
		return CF_E_CANCELLED;
	}
	rc = store_meta_set(st, SVC_META_KMIP_ALLOW, l.n == 0 ? "any" : canon);
	snprintf(q, sizeof q, "allow=%s", canon);
	con_audit(c, "kmip_allow", "kmip", rc, q);
	if (rc != CF_OK) {
		con_printf(c, "cannot save the allow-list (%s): not changed\n", cf_err_name(rc));
		return rc;
	}
	if (svc_kmip_allow_apply(c->svc, &l))
		con_printf(c, "KMIP listener allows %s: new connections see it now.\n", canon);
	else
		con_printf(c, "KMIP listener allows %s: saved, in force when it starts.\n", canon);
	return CF_OK;
}

/* client allow NAME CIDR...|any: the client's source allow-list (docs/security.md
 * "Source-address allow-lists"); new requests see it at once (principal cache dropped). */
static cf_err cmd_client_allow(struct con *c, int argc, char **argv)
{
	char canon[CIDR_LIST_TEXT_MAX], q[CIDR_LIST_TEXT_MAX + 200];
	struct cidr_list l;
	struct store_client sc;
	struct store *st;
	cf_err rc;

	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if (!pki_name_ok(argv[0], PKI_NAME_MAX)) {
		con_printf(c, "bad client name \"%s\"\n", argv[0]);
		return CF_E_INVALID_ARG;
	}
	TRY(args_allow_list(c, argc - 1, argv + 1, &l));
	cidr_list_format(&l, canon, sizeof canon);
	rc = store_client_by_name(st, argv[0], &sc);
	if (rc == CF_E_NOT_FOUND) {
		con_printf(c, "no active client named \"%s\" (see client list)\n", argv[0]);
		return rc;
	}
	if (rc != CF_OK) {
		con_printf(c, "cannot read the clients table (%s)\n", cf_err_name(rc));
		return rc;
	}
	snprintf(q, sizeof q, "Allow client \"%s\" (tenant %s) from %s only?", sc.name, sc.tenant,
		 l.n == 0 ? "any address, not" : canon);
	if (!con_confirm(c, q)) {
		con_printf(c, "not changed\n");
		return CF_E_CANCELLED;
	}
	rc = store_client_set_allow(st, sc.fingerprint, l.n == 0 ? "" : canon);
	authz_cache_invalidate(c->svc->authz);
	snprintf(q, sizeof q, "%s allow=%s", sc.fingerprint, canon);
	con_audit(c, "client_allow", sc.name, rc, q);
	if (rc != CF_OK) {
		con_printf(c, "cannot change the allow-list (%s)\n", cf_err_name(rc));
		return rc;
	}
	con_printf(c, "Client \"%s\" allowed from %s: new requests see it now.\n", sc.name, canon);
	return CF_OK;
}

/* ---- client password ----------------------------------------------------------------------- */

static cf_err pki_rng(void *arg, void *buf, size_t n)
{
	(void)arg;
	return sec_random(buf, n);
}

/* client password USER [--tenant T]: the KMIP Username/Password credential of tenant T's
 * clients (docs/kmip-server.md "Credential policy"). */
static cf_err cmd_client_password(struct con *c, int argc, char **argv)
{
	const char *tenant = NULL, *user;
	struct store *st;
	char *pw = NULL;
	char q[300];
	size_t n = 0;
	cf_err rc;

	if (!pki_opts(c, &argc, argv, false, &tenant, NULL) ||
	    !pki_name_tenant(c, argc, argv, "client password USER [--tenant T]", &user, &tenant))
		return CF_E_INVALID_ARG;
	if (!pki_name_ok(user, PKI_NAME_MAX)) {
		con_printf(c, "bad user name \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -\n",
			   user, PKI_NAME_MAX);
		return CF_E_INVALID_ARG;
	}
	if ((st = pki_store(c)) == NULL)
		return CF_E_STATE;
	if ((rc = sec_alloc(CON_SECRET_MAX, (void **)&pw)) != CF_OK)
		return rc;
	rc = con_read_new_password(c, user, "KMIP password: ", "Repeat the KMIP password: ", NULL,
				   0, pw, &n);
	if (rc != CF_OK)
		goto out;
	snprintf(q, sizeof q, "Set the KMIP password of \"%s\" for tenant %s? From then on every "
		 "request of that tenant's clients must carry it (Username/Password).", user,
		 tenant);
	if (!con_confirm(c, q)) {
		con_printf(c, "nothing changed\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	rc = authz_password_set(st, user, tenant, (const uint8_t *)pw, n, pki_rng, NULL);
	authz_cache_invalidate(c->svc->authz);
	con_audit(c, "client_password", user, rc, tenant);
	if (rc != CF_OK)
		con_printf(c, "cannot set the password (%s)\n", cf_err_name(rc));
	else
		con_printf(c, "KMIP password of \"%s\" set: tenant %s's requests must carry it from "
			      "now on.\n", user, tenant);
out:
	sec_free(pw, CON_SECRET_MAX);
	return rc;
}

/* ---- the table ---------------------------------------------------------------------------- */

const struct con_cmd con_cmds_pki[] = {
	{ "cert show", 0, 0, CON_F_AUTH, "cert show",
	  "Show the server certificate and the appliance CA certificate (PEM) with their\n"
	  "SHA-1 and SHA-256 fingerprints as vCenter shows them (\"SSL thumbprint\"),\n"
	  "validity, subject, issuer and SANs. vCenter trusts the appliance by either one.",
	  cmd_cert_show },
	{ "client sign-csr", 1, 5, CON_F_AUTH | CON_F_HSM,
	  "client sign-csr NAME [--tenant T] [--days N]",
	  "Sign a certificate request from vCenter (\"KMS signed CSR\"): paste the PEM CSR;\n"
	  "its signature must verify. The appliance CA (key in the HSM) issues a client\n"
	  "certificate (clientAuth + serverAuth, CN from the CSR) valid N days (default 730),\n"
	  "prints it, and maps it to tenant T (default NAME). NAME: 1-63 of A-Z a-z 0-9 . _ -.",
	  cmd_client_sign_csr },
	{ "client issue", 1, 5, CON_F_AUTH | CON_F_HSM, "client issue NAME [--tenant T] [--days N]",
	  "Make a new EC P-256 key pair and a client certificate (CN=NAME) for vCenter's\n"
	  "\"KMS certificate and private key\" option. Prints the certificate AND the private\n"
	  "key: the key leaves the appliance on the console, is not kept, and is shown once.\n"
	  "Maps the certificate to tenant T (default NAME).",
	  cmd_client_issue },
	{ "client trust", 1, 5, CON_F_AUTH | CON_F_DUAL,
	  "client trust NAME [--tenant T] [--sha256 FINGERPRINT]",
	  "Trust a client's own certificate (vCenter's self-signed \"vCenter certificate\"):\n"
	  "paste it; it must be valid now and not a CA certificate issued by another CA. It is\n"
	  "pinned by SHA-256 fingerprint (accepted at the TLS handshake without chaining to the\n"
	  "CA) and mapped to tenant T (default NAME). --sha256 makes it refuse any other\n"
	  "certificate (useful with dual control: the approver pastes what was requested).",
	  cmd_client_trust },
	{ "client list", 0, 0, CON_F_AUTH, "client list",
	  "List the store's clients: name, tenant, kind (signed/issued/trusted), status,\n"
	  "expiry, creation, SHA-256 fingerprint. Revoked clients stay listed.",
	  cmd_client_list },
	{ "client revoke", 1, 1, CON_F_AUTH, "client revoke NAME",
	  "Revoke a client: its certificate is refused from now on, at the TLS handshake, on\n"
	  "session resumption and for every request of a connection already open. The record\n"
	  "stays (status revoked) so no other rule can admit that certificate again; the name\n"
	  "can be reused.",
	  cmd_client_revoke },
	{ "client allow", 2, CON_ARGS_MAX - 2, CON_F_AUTH, "client allow NAME CIDR...|any",
	  "Restrict where client NAME may be used from: up to 16 IPv4/IPv6 prefixes\n"
	  "(192.0.2.0/24 2001:db8::/32; a bare address is one host; past 13, quote them as\n"
	  "one word); `any` clears it. A\n"
	  "request from elsewhere answers Permission Denied (the TLS handshake still\n"
	  "completes). Takes effect for the next request. Shown by client list.",
	  cmd_client_allow },
	{ "kmip allow", 0, CON_ARGS_MAX - 1, CON_F_AUTH, "kmip allow [CIDR...|any]",
	  "Show, or set, the source networks the KMIP listener serves: up to 16 IPv4/IPv6\n"
	  "prefixes; `any` serves every address. A new connection from elsewhere is closed\n"
	  "right after accept, before any TLS work. Saved (it replaces [kmip] allow of\n"
	  "coffred.conf from then on), audited, in force at once; open connections stay.",
	  cmd_kmip_allow },
	{ "client password", 1, 3, CON_F_AUTH, "client password USER [--tenant T]",
	  "Set (or replace) the KMIP password of USER for tenant T (default USER): from then\n"
	  "on every request of tenant T's clients must carry a Username/Password credential\n"
	  "that verifies (USER and this password); a tenant without one ignores an empty\n"
	  "credential (docs/kmip-server.md \"Credential policy\"). Read twice, never echoed;\n"
	  "kept as an Argon2id hash.",
	  cmd_client_password },
	{ 0 },
};
