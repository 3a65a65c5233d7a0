/* Certify and Re-certify: X.509 certificates issued by the KMIP Certify CA, a key pair of its
 * own in the HSM (CA_CERTIFY_LABEL), never the appliance CA that signs the TLS identities of
 * KMIP clients (docs/security.md "Certify": a KMIP client must not be able to mint a client
 * identity). docs/kmip-server.md "Certify and Re-certify".
 *
 * The Certify CA: its key pair is generated on the token on first use (an appliance that
 * never certifies has no such key; an existing appliance gets one without re-provisioning).
 * Its self-signed certificate is a managed Certificate object of the tenant (Name "Coffre
 * KMIP Certify CA", made on the tenant's first Certify, its uid kept in the store's meta row
 * "certify-ca:<tenant>"); every certificate issued carries a Certificate Link to it (1.4
 * section 3.35: for a Certificate, its parent in the chain). No TLS trust store holds it.
 *
 *= kmip-spec-v1.4 section 4.7: For the public key, the server SHALL create a Link attribute
 *# of Link Type Certificate pointing to the generated certificate. For the generated
 *# certificate, the server SHALL create a Link attribute of Link Type Public Key pointing to
 *# the Public Key. The server SHALL copy the Unique Identifier of the generated certificate
 *# returned by this operation into the ID Placeholder variable. If the information in the
 *# Certificate Request conflicts with the attributes specified in the Template-Attribute,
 *# then the information in the Certificate Request takes precedence.
 *= kmip-spec-v1.4 section 4.8: For the existing certificate, the server SHALL create a Link
 *# attribute of Link Type Replacement pointing to the new certificate. For the new
 *# certificate, the server SHALL create a Link attribute of Link Type Replaced pointing to
 *# the existing certificate. For the public key, the server SHALL change the Link attribute
 *# of Link Type Certificate to point to the new certificate.
 *= kmip-spec-v1.4 section 11.8 Table 334: No object with the specified Unique Identifier
 *# exists: Item Not Found; Object specified is not able to be certified: Permission Denied;
 *# The Certificate Request does not contain a signed certificate request of the specified
 *# Certificate Request Type: Invalid Field; Object is archived: Object Archived. */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"
#include "firmware/pki/ca.h"
#include "firmware/pki/certpol.h"

#define META_CA "certify-ca:"          /* + tenant: the uid of its Certify CA certificate */
#define CERTIFY_DAYS 365               /* validity without a Deactivation Date */
#define CERTIFY_SKEW_S 300             /* notBefore this much before now without a date */
#define ROW_LINK "Link"
#define ROW_NAME "Name"
#define CERT_ROWS_MAX 16u              /* rows ops_cert_rows adds, with margin */
#define LINKS_MAX 4u                   /* Links a new certificate gets */

/* What the request's template says (Certify, Re-certify). */
struct ctmpl {
	X509_NAME *subject;         /* owned: Certificate Subject / X.509 Certificate Subject */
	bool has_act, has_deact;
	int64_t activation, deactivation;
	bool has_mask;
	uint32_t mask;
	struct store_attr *rows;    /* the other client-settable attributes */
	size_t n_rows;
};

static cf_err bad(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

static int64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* The subject DN of a 1.x Certificate Subject (text) or X.509 Certificate Subject (DER)
 * structure's contents; alternative names are not honoured. */
static cf_err tmpl_subject(const struct kmip_attr *a, X509_NAME **out)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct ttlv_item ti;
	ttlv_rd rd;

	if (a->type != TTLV_STRUCTURE)
		return CF_E_BAD_VALUE;
	ttlv_rd_init(&rd, a->val.p, a->val.n, &lim);
	while (!ttlv_rd_done(&rd)) {
		TRY(ttlv_rd_next(&rd, &ti));
		if (ti.tag == KMIP_TAG_CERTIFICATE_SUBJECT_DISTINGUISHED_NAME &&
		    ti.type == TTLV_TEXT_STRING)
			return certpol_dn_parse((const char *)ti.val, ti.len, out);
		if (ti.tag == KMIP_TAG_SUBJECT_DISTINGUISHED_NAME && ti.type == TTLV_BYTE_STRING) {
			const unsigned char *p = ti.val;
			X509_NAME *nm = ti.len > 0 ? d2i_X509_NAME(NULL, &p, (long)ti.len) : NULL;
			if (nm == NULL || p != ti.val + ti.len || X509_NAME_entry_count(nm) == 0) {
				X509_NAME_free(nm);
				return CF_E_BAD_VALUE;
			}
			*out = nm;
			return CF_OK;
		}
	}
	return CF_E_BAD_VALUE;
}

static void tmpl_free(struct ctmpl *c)
{
	X509_NAME_free(c->subject);
	c->subject = NULL;
}

static cf_err tmpl_read(struct ops_req *r, struct ops_item *it, const struct kmip_tmpl *t,
			struct ctmpl *c)
{
	void *p;

	memset(c, 0, sizeof *c);
	if (t->names.p != NULL && t->names.n > 0)
		return bad(it, "templates are not supported");
	TRY(kmip_arena_alloc(&r->w->arena, t->a.n, sizeof *c->rows, &p));
	c->rows = p;
	for (size_t i = 0; i < t->a.n; i++) {
		const struct kmip_attr *a = &t->a.v[i];
		char name[STORE_NAME_MAX + 1], *nm;
		uint32_t v;

		switch (a->tag) {
		case KMIP_TAG_CERTIFICATE_SUBJECT:
		case KMIP_TAG_X_509_CERTIFICATE_SUBJECT:
			if (c->subject != NULL)
				return bad(it, "subject given twice");
			if (tmpl_subject(a, &c->subject) != CF_OK)
				return bad(it, "Certificate Subject: a distinguished name expected");
			continue;
		case KMIP_TAG_CERTIFICATE_TYPE:
			if (kmip_attr_get_u32(a, &v) != CF_OK || v != KMIP_CERTIFICATE_TYPE_X_509)
				return bad(it, "Certificate Type: X.509 only");
			continue;
		case KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
			if (kmip_attr_get_u32(a, &c->mask) != CF_OK)
				return bad(it, "Cryptographic Usage Mask");
			c->has_mask = true;
			continue;
		case KMIP_TAG_ACTIVATION_DATE:
		case KMIP_TAG_DEACTIVATION_DATE:
			if (a->type != TTLV_DATE_TIME || a->val.n != 8 || be64(a->val.p) <= 0)
				return bad(it, "date expected");
			if (a->tag == KMIP_TAG_ACTIVATION_DATE) {
				c->has_act = true;
				c->activation = be64(a->val.p);
			} else {
				c->has_deact = true;
				c->deactivation = be64(a->val.p);
			}
			continue;
		case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
		case KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
			return bad(it, "set from the certified key");
		default:
			break;
		}
		if (kmip_attr_client_may(a, KMIP_OPERATION_REGISTER, r->ver) != CF_OK)
			return ops_fail(it, CF_E_PERMISSION, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_ATTRIBUTE_READ_ONLY :
					KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute not settable in Certify");
		if (ops_attr_name(a, name) != CF_OK)
			return bad(it, "attribute name");
		TRY(ops_cstr(r, name, strlen(name), &nm));
		if (ops_attr_to_store(r, a, nm, &c->rows[c->n_rows]) != CF_OK)
			return bad(it, "attribute value");
		c->n_rows++;
	}
	if (c->has_act && c->has_deact && c->deactivation <= c->activation)
		return bad(it, "Deactivation Date before Activation Date");
	return CF_OK;
}

/* The template read into c; on failure nothing is left to free. */
static cf_err tmpl_take(struct ops_req *r, struct ops_item *it, const struct kmip_tmpl *t,
			struct ctmpl *c)
{
	cf_err rc = tmpl_read(r, it, t, c);

	if (rc != CF_OK)
		tmpl_free(c);
	return rc;
}

/* The object's material (a Public Key's SPKI DER, a Certificate's DER: public) in the
 * arena. */
static cf_err material(struct ops_req *r, const struct store_object *o, uint8_t **out, size_t *n)
{
	struct hsm_bind b = { (const uint8_t *)o->uid, strlen(o->uid), o->object_type };
	hsm_sess *sess;
	void *p;

	TRY(ops_sess(r, &sess));
	TRY(kmip_arena_alloc(&r->w->arena, HSM_DEK_MAX, 1, &p));
	TRY(hsm_dek_unwrap(sess, o->wrapped, o->wrapped_len, &b, p, HSM_DEK_MAX, n));
	*out = p;
	return CF_OK;
}

static bool gone(const struct store_object *o)
{
	return o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED ||
	       o->wrapped == NULL;
}

/* The tenant's object uid, required to be of `type` and to hold its material. */
static cf_err load_typed(struct ops_req *r, struct ops_item *it, const char *uid, uint32_t type,
			 struct store_object *o)
{
	TRY(ops_object_load(r, uid, o));
	if (gone(o))
		return ops_fail(it, CF_E_NOT_FOUND, ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
							KMIP_RESULT_REASON_OBJECT_DESTROYED),
				"object destroyed");
	if (o->object_type != type)
		return ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
							 KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
				type == KMIP_OBJECT_TYPE_PUBLIC_KEY
					? "Certify: the object is not a Public Key"
					: "Re-certify: the object is not a Certificate");
	return CF_OK;
}

/* A Public Key object's key. */
static cf_err pub_of(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		     EVP_PKEY **out)
{
	const unsigned char *p;
	uint8_t *der;
	size_t n;

	TRY(material(r, o, &der, &n));
	p = der;
	*out = d2i_PUBKEY(NULL, &p, (long)n);
	if (*out == NULL || p != der + n) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_GENERAL_FAILURE,
				"stored public key does not parse");
	}
	return CF_OK;
}

/* The Certificate Request of the payload, parsed and its signature verified. */
static cf_err csr_of(struct ops_item *it, const struct kmip_req_certify *q, X509_REQ **out)
{
	enum certpol_req_fmt fmt;
	cf_err rc;

	*out = NULL;
	if (q->req_type == KMIP_CERTIFICATE_REQUEST_TYPE_PKCS_10)
		fmt = CERTPOL_REQ_DER;
	else if (q->req_type == KMIP_CERTIFICATE_REQUEST_TYPE_PEM)
		fmt = CERTPOL_REQ_PEM;
	else
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"Certificate Request Type: PKCS#10 or PEM only");
	rc = certpol_req_parse(fmt, q->req.p, q->req.n, out);
	if (rc == CF_E_BAD_VALUE)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD,
				"certificate request signature does not verify");
	if (rc != CF_OK)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				"not a certificate request of the specified type");
	return CF_OK;
}

static cf_err key_policy(struct ops_item *it, const EVP_PKEY *k)
{
	enum certpol_key v = certpol_key_check(k);

	if (v == CERTPOL_KEY_OK)
		return CF_OK;
	/* Table 334: "Object specified is not able to be certified" */
	return ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED,
			certpol_key_why(v));
}

/* ---- the new Certificate object ------------------------------------------------------- */

static cf_err name_row(struct ops_req *r, const char *value, struct store_attr *sa)
{
	size_t n = strlen(value), cap = 16u + (n + 7u) / 8u * 8u + 16u;
	struct kmip_attr a = { .tag = KMIP_TAG_NAME, .type = TTLV_STRUCTURE };
	ttlv_wr w;
	void *p;

	TRY(kmip_arena_alloc(&r->w->arena, cap, 1, &p));
	ttlv_wr_init(&w, p, cap);
	TRY(ttlv_wr_text(&w, KMIP_TAG_NAME_VALUE, value, n));
	TRY(ttlv_wr_enum(&w, KMIP_TAG_NAME_TYPE, KMIP_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
	a.val = (struct kmip_bytes){ p, ttlv_wr_len(&w) };
	return ops_attr_to_store(r, &a, ROW_NAME, sa);
}

/* Insert x as a Certificate object: its columns from o (dates, mask), the rows ops_cert_rows
 * takes from the DER first, then rows[n_rows] (the caller's: template, links, copies). */
static cf_err cert_insert(struct ops_req *r, struct ops_item *it, X509 *x, struct store_object *o,
			  const struct store_attr *rows, size_t n_rows, char uid[STORE_UUID_LEN + 1])
{
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	unsigned char *der = NULL;
	struct store_attr *all;
	struct ops_keyinfo ki;
	struct hsm_blob_info bi;
	struct hsm_bind b;
	hsm_sess *sess;
	size_t blob_n = 0, n_all = 0;
	int der_n;
	void *p;
	cf_err rc;

	if ((der_n = i2d_X509(x, &der)) <= 0 || (size_t)der_n > HSM_DEK_MAX) {
		OPENSSL_free(der);
		return CF_E_INTERNAL;
	}
	if ((rc = kmip_arena_alloc(&r->w->arena, CERT_ROWS_MAX + n_rows, sizeof *all, &p)) != CF_OK)
		goto out;
	all = p;
	if ((rc = ops_cert_rows(r, it, der, (size_t)der_n, all, CERT_ROWS_MAX, &n_all, &ki)) !=
	    CF_OK)
		goto out;
	for (size_t i = 0; i < n_rows; i++)
		all[n_all++] = rows[i];
	if ((rc = ops_sess(r, &sess)) != CF_OK || (rc = store_uid_new(ops_rng, r, uid)) != CF_OK)
		goto out;
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), KMIP_OBJECT_TYPE_CERTIFICATE };
	if ((rc = hsm_dek_make(sess, der, (size_t)der_n, HSM_DEK_DIGEST, &b, blob, sizeof blob,
			       &blob_n, o->digest)) != CF_OK ||
	    (rc = hsm_blob_info_get(blob, blob_n, &bi)) != CF_OK)
		goto out;
	strcpy(o->uid, uid);
	o->object_type = KMIP_OBJECT_TYPE_CERTIFICATE;
	strcpy(o->tenant, r->who.tenant);
	strcpy(o->owner, r->who.actor);
	o->kek_version = bi.kek_version;
	o->wrapped = blob;
	o->wrapped_len = blob_n;
	o->has_digest = true;
	o->crypto_alg = ki.alg;
	o->crypto_len = ki.len;
	o->state = o->activation == 0 || o->activation > r->now ? STORE_STATE_PRE_ACTIVE
		   : o->deactivation != 0 && o->deactivation <= r->now ? STORE_STATE_DEACTIVATED
								       : STORE_STATE_ACTIVE;
	o->created = o->last_change = r->now;
	rc = store_object_insert(r->w->st, o, all, n_all);
	o->wrapped = NULL;
out:
	sec_wipe(blob, sizeof blob);
	OPENSSL_free(der);
	return rc;
}

/* ---- the Certify CA ------------------------------------------------------------------- */

/* Serialises the find-then-generate of the CA key pair between the workers (threads of this
 * process; each has its own HSM session): two first Certifies at once must not make two pairs
 * with the label, which hsm_keypair_find would then refuse as ambiguous for ever. */
static pthread_mutex_t ca_key_lock = PTHREAD_MUTEX_INITIALIZER;

/* The CA key pair on the token, generated the first time. */
static cf_err ca_key_ensure(hsm_sess *sess)
{
	static const uint8_t id[] = { CA_CERTIFY_ID };
	struct hsm_kp_info info;
	char uri[HSM_URI_MAX];
	size_t n = 0;
	cf_err rc;

	pthread_mutex_lock(&ca_key_lock);
	rc = hsm_keypair_find(sess, CA_CERTIFY_LABEL, &info, NULL, 0, &n);
	if (rc == CF_OK || rc == CF_E_NO_SPACE)
		rc = CF_OK;
	else if (rc == CF_E_HSM_NOT_FOUND)
		rc = hsm_keypair_generate(sess, HSM_KP_EC_P384, CA_CERTIFY_LABEL, id, sizeof id, uri,
					  sizeof uri);
	pthread_mutex_unlock(&ca_key_lock);
	return rc;
}

/* The tenant's Certify CA certificate (made and kept as a Certificate object the first time,
 * or again if the tenant destroyed or archived it): *out (X509_free), its uid. */
static cf_err ca_ensure(struct ops_req *r, struct ops_item *it, X509 **out,
			char ca_uid[static STORE_UID_MAX + 1])
{
	char key[sizeof META_CA + STORE_TENANT_MAX];
	struct store_object o = { 0 };
	struct store_attr row;
	EVP_PKEY *ca_pub = NULL;
	X509 *x = NULL;
	hsm_sess *sess;
	cf_err rc;

	*out = NULL;
	(void)snprintf(key, sizeof key, "%s%s", META_CA, r->who.tenant);
	TRY(ops_sess(r, &sess));
	if ((rc = ca_key_ensure(sess)) != CF_OK || (rc = ca_hsm_pubkey(sess, CA_CERTIFY_LABEL,
								       &ca_pub)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
				"Certify CA key unavailable");
	rc = store_meta_get(r->w->st, key, ca_uid, STORE_UID_MAX + 1);
	if (rc == CF_OK && store_object_get(r->w->st, r->who.tenant, ca_uid, &o) == CF_OK &&
	    !gone(&o) && (o.srv_flags & STORE_SF_ARCHIVED) == 0 &&
	    o.object_type == KMIP_OBJECT_TYPE_CERTIFICATE) {
		uint8_t *der;
		size_t n;
		if ((rc = material(r, &o, &der, &n)) != CF_OK)
			goto out;
		const unsigned char *p = der;
		x = d2i_X509(NULL, &p, (long)n);
		if (x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), ca_pub) == 1)
			goto done;
		X509_free(x); /* not this key's (the token was re-provisioned): a new one */
		x = NULL;
	}
	store_object_free(&o);
	memset(&o, 0, sizeof o);
	if ((rc = ca_root_create(sess, CA_CERTIFY_LABEL, CA_CERTIFY_CN, "Coffre", CA_CERTIFY_DAYS,
				 &x)) != CF_OK) {
		rc = ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
			      "Certify CA certificate could not be made");
		goto out;
	}
	o.activation = r->now;
	if ((rc = name_row(r, CA_CERTIFY_CN, &row)) != CF_OK ||
	    (rc = cert_insert(r, it, x, &o, &row, 1, ca_uid)) != CF_OK ||
	    (rc = store_meta_set(r->w->st, key, ca_uid)) != CF_OK ||
	    (rc = ops_audit(r, it->rq->op, ca_uid, KMIP_RESULT_STATUS_SUCCESS,
			    "Certify CA certificate made")) != CF_OK)
		goto out;
done:
	*out = x;
	x = NULL;
	rc = CF_OK;
out:
	X509_free(x);
	EVP_PKEY_free(ca_pub);
	store_object_free(&o);
	return rc;
}

/* Issue the certificate for pub / subject over [nb, na] with the Certify CA; *ca_uid. */
static cf_err issue(struct ops_req *r, struct ops_item *it, const X509_NAME *subject,
		    EVP_PKEY *pub, int64_t nb, int64_t na, X509 **out,
		    char ca_uid[static STORE_UID_MAX + 1])
{
	struct ca_signer signer;
	X509 *ca = NULL;
	hsm_sess *sess;
	cf_err rc;

	if (na <= nb)
		return bad(it, "validity ends before it starts");
	TRY(ops_sess(r, &sess));
	TRY(ca_ensure(r, it, &ca, ca_uid));
	signer = (struct ca_signer){ .sess = sess, .key_label = CA_CERTIFY_LABEL, .cert = ca };
	rc = ca_cert_issue_name(&signer, subject, pub, nb, na, out);
	X509_free(ca);
	if (rc != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
				"the Certify CA could not sign");
	return CF_OK;
}

/* Add a Link of `type` to `to` on object uid. */
static cf_err link_add(struct ops_req *r, const char *uid, uint32_t type, const char *to)
{
	struct store_attr sa;
	uint32_t idx;

	TRY(ops_link_row(r, type, to, &sa));
	return store_attr_add(r->w->st, r->who.tenant, uid, &sa, &idx);
}

/* A Link row's type and target (a view into the row), false when it does not parse. */
static bool link_parse(const struct store_attr *sa, uint32_t *type, const char **to, size_t *n)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd rd;

	if (strcmp(sa->name, ROW_LINK) != 0 || sa->v_blob == NULL)
		return false;
	ttlv_rd_init(&rd, sa->v_blob, sa->v_blob_len, &lim);
	return ttlv_rd_enum(&rd, KMIP_TAG_LINK_TYPE, type) == CF_OK &&
	       ttlv_rd_text(&rd, KMIP_TAG_LINKED_OBJECT_IDENTIFIER, to, n) == CF_OK;
}

/* The public key pub_uid now certified by cert_uid: its Certificate Link (the one to `old`,
 * Re-certify, changed; else one added), Last Change Date now. A public key gone meanwhile
 * is left alone. */
static cf_err pub_link(struct ops_req *r, const char *pub_uid, const char *old,
		       const char *cert_uid)
{
	struct store_attr_list l = { 0 };
	struct store_object o = { 0 };
	const char *names[1] = { ROW_LINK };
	bool done = false;
	cf_err rc;

	if (store_object_get(r->w->st, r->who.tenant, pub_uid, &o) != CF_OK)
		return CF_OK;
	if ((rc = store_attr_get(r->w->st, r->who.tenant, pub_uid, names, 1, &l)) != CF_OK)
		goto out;
	for (size_t i = 0; i < l.n && !done; i++) {
		struct store_attr sa;
		uint32_t type;
		const char *to;
		size_t n;
		if (!link_parse(&l.a[i], &type, &to, &n) || type != KMIP_LINK_TYPE_CERTIFICATE_LINK)
			continue;
		if (n == strlen(cert_uid) && memcmp(to, cert_uid, n) == 0) {
			done = true;
		} else if (old != NULL && n == strlen(old) && memcmp(to, old, n) == 0) {
			if ((rc = ops_link_row(r, KMIP_LINK_TYPE_CERTIFICATE_LINK, cert_uid, &sa)) !=
				    CF_OK ||
			    (rc = store_attr_modify(r->w->st, r->who.tenant, pub_uid, ROW_LINK,
						    l.a[i].index, &sa)) != CF_OK)
				goto out;
			done = true;
		}
	}
	if (!done && (rc = link_add(r, pub_uid, KMIP_LINK_TYPE_CERTIFICATE_LINK, cert_uid)) != CF_OK)
		goto out;
	o.last_change = r->now;
	rc = store_object_update_state(r->w->st, &o);
out:
	store_attr_list_free(&l);
	store_object_free(&o);
	return rc;
}

/* ---- Certify -------------------------------------------------------------------------- */

/* The new certificate's Certificate Link to the Certify CA's certificate and, when a public key
 * was named, its Public Key Link, appended to rows[*n]. */
static cf_err cert_links(struct ops_req *r, const char *ca_uid, const char *pub_uid,
			 struct store_attr *rows, size_t *n)
{
	cf_err rc = ops_link_row(r, KMIP_LINK_TYPE_CERTIFICATE_LINK, ca_uid, &rows[(*n)++]);

	if (rc == CF_OK && pub_uid[0] != '\0')
		rc = ops_link_row(r, KMIP_LINK_TYPE_PUBLIC_KEY_LINK, pub_uid, &rows[(*n)++]);
	return rc;
}

/* The answer: the new certificate's uid, also the ID Placeholder's and the audit record's. */
static cf_err cert_answer(struct ops_req *r, struct ops_item *it, const char *uid,
			  struct kmip_rsp_register *s)
{
	(void)snprintf(r->placeholder, sizeof r->placeholder, "%s", uid);
	(void)snprintf(it->uid, sizeof it->uid, "%s", uid);
	return ops_text(r, uid, &s->uid);
}

cf_err ops_certify(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_certify *q = &it->rq->pl.u.certify_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.rekey_rsp;
	char pub_uid[STORE_UID_MAX + 1] = "", ca_uid[STORE_UID_MAX + 1], uid[STORE_UUID_LEN + 1];
	struct store_object po = { 0 }, o = { 0 };
	struct store_attr *rows;
	struct ctmpl c;
	X509_REQ *csr = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	const X509_NAME *subject;
	size_t n_rows;
	void *p;
	cf_err rc;

	TRY(tmpl_take(r, it, &q->t, &c));
	/* the public key: named (or the ID Placeholder) when there is no request; with a
	 * request, only when named, and then it must be the request's key */
	if (q->req.p == NULL || q->uid.p != NULL) {
		if ((rc = ops_uid(r, it, q->uid, pub_uid)) != CF_OK ||
		    (rc = load_typed(r, it, pub_uid, KMIP_OBJECT_TYPE_PUBLIC_KEY, &po)) != CF_OK ||
		    (rc = pub_of(r, it, &po, &pub)) != CF_OK)
			goto out;
	}
	if (q->req.p != NULL) {
		if ((rc = csr_of(it, q, &csr)) != CF_OK)
			goto out;
		if (pub != NULL && EVP_PKEY_eq(pub, X509_REQ_get0_pubkey(csr)) != 1) {
			rc = bad(it, "the request's key is not the Public Key named");
			goto out;
		}
		if (pub == NULL && (pub = X509_REQ_get_pubkey(csr)) == NULL) {
			rc = bad(it, "certificate request without a key");
			goto out;
		}
	}
	if ((rc = key_policy(it, pub)) != CF_OK)
		goto out;
	/* the request's subject takes precedence over the template's (4.7) */
	subject = csr != NULL ? X509_REQ_get_subject_name(csr) : c.subject;
	if (subject == NULL || X509_NAME_entry_count(subject) == 0) {
		rc = bad(it, csr != NULL ? "certificate request without a subject"
					 : "Certificate Subject or X.509 Certificate Subject required");
		goto out;
	}
	o.activation = c.has_act ? c.activation : 0;
	o.deactivation = c.has_deact ? c.deactivation : 0;
	o.usage_mask = c.has_mask ? c.mask : 0;
	int64_t nb = c.has_act ? c.activation : r->now - CERTIFY_SKEW_S;
	int64_t na = c.has_deact ? c.deactivation : nb + (int64_t)CERTIFY_DAYS * 86400;
	if ((rc = issue(r, it, subject, pub, nb, na, &x, ca_uid)) != CF_OK)
		goto out;
	if ((rc = kmip_arena_alloc(&r->w->arena, c.n_rows + LINKS_MAX, sizeof *rows, &p)) != CF_OK)
		goto out;
	rows = p;
	n_rows = 0;
	for (size_t i = 0; i < c.n_rows; i++)
		rows[n_rows++] = c.rows[i];
	if ((rc = cert_links(r, ca_uid, pub_uid, rows, &n_rows)) != CF_OK ||
	    (rc = cert_insert(r, it, x, &o, rows, n_rows, uid)) != CF_OK)
		goto out;
	if (pub_uid[0] != '\0' && (rc = pub_link(r, pub_uid, NULL, uid)) != CF_OK)
		goto out;
	rc = cert_answer(r, it, uid, s);
out:
	X509_free(x);
	X509_REQ_free(csr);
	EVP_PKEY_free(pub);
	tmpl_free(&c);
	store_object_free(&po);
	return rc;
}

/* ---- Re-certify ----------------------------------------------------------------------- */

/* The existing certificate's rows the new one takes: all but Links and the rows the new
 * certificate's own DER gives (ops_cert_rows), nor a name the request sets; plus its Public
 * Key Link target in pub_uid ("" = none). */
static cf_err rows_copy(struct ops_req *r, const struct store_attr_list *l, const struct ctmpl *c,
			struct store_attr *out, size_t *n, char pub_uid[static STORE_UID_MAX + 1])
{
	static const uint32_t from_der[] = {
		KMIP_TAG_CERTIFICATE_TYPE, KMIP_TAG_CERTIFICATE_LENGTH,
		KMIP_TAG_DIGITAL_SIGNATURE_ALGORITHM, KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER,
		KMIP_TAG_X_509_CERTIFICATE_SUBJECT, KMIP_TAG_X_509_CERTIFICATE_ISSUER,
		KMIP_TAG_CERTIFICATE_IDENTIFIER, KMIP_TAG_CERTIFICATE_SUBJECT,
		KMIP_TAG_CERTIFICATE_ISSUER,
	};

	pub_uid[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		const struct store_attr *sa = &l->a[i];
		bool skip = false;
		uint32_t type;
		const char *to;
		size_t tn;

		if (link_parse(sa, &type, &to, &tn)) {
			if (type == KMIP_LINK_TYPE_PUBLIC_KEY_LINK && tn <= STORE_UID_MAX) {
				memcpy(pub_uid, to, tn);
				pub_uid[tn] = '\0';
			}
			continue;
		}
		if (strcmp(sa->name, ROW_LINK) == 0)
			continue;
		for (size_t k = 0; k < sizeof from_der / sizeof from_der[0] && !skip; k++)
			skip = strcmp(sa->name, kmip_tag_name(from_der[k])) == 0;
		for (size_t k = 0; k < c->n_rows && !skip; k++)
			skip = strcmp(sa->name, c->rows[k].name) == 0;
		if (!skip)
			out[(*n)++] = *sa;
	}
	return CF_OK;
}

/* The existing certificate once replaced: its Names go, the Replacement Object Link comes,
 * Last Change Date is now; its state does not change (4.8 asks nothing of it). */
static cf_err old_update(struct ops_req *r, struct store_object *o, const char *new_uid)
{
	cf_err rc = store_attr_delete(r->w->st, r->who.tenant, o->uid, ROW_NAME, STORE_ATTR_ALL);

	if (rc != CF_OK && rc != CF_E_NOT_FOUND)
		return rc;
	TRY(link_add(r, o->uid, KMIP_LINK_TYPE_REPLACEMENT_OBJECT_LINK, new_uid));
	o->last_change = r->now;
	return store_object_update_state(r->w->st, o);
}

/* The new certificate's dates (Table 186): without Offset the existing certificate's; with
 * it, Activation = now + Offset and Deactivation moved by as much; the template's win. Its
 * X.509 validity [*nb, *na]: from the Activation Date (else now), to the Deactivation Date
 * (else as long as the existing certificate's). */
static void recert_dates(struct ops_req *r, const struct kmip_req_certify *q,
			 const struct ctmpl *c, const struct store_object *oo, const X509 *old,
			 struct store_object *o, int64_t *nb, int64_t *na)
{
	int day = 0, sec = 0;
	int64_t len = (int64_t)CERTIFY_DAYS * 86400;

	o->activation = oo->activation;
	o->deactivation = oo->deactivation;
	if (q->has_offset) {
		o->activation = r->now + (int64_t)q->offset;
		if (o->deactivation != 0 && oo->activation != 0)
			o->deactivation += o->activation - oo->activation;
	}
	if (c->has_act)
		o->activation = c->activation;
	if (c->has_deact)
		o->deactivation = c->deactivation;
	o->usage_mask = c->has_mask ? c->mask : oo->usage_mask;
	*nb = o->activation != 0 ? o->activation : r->now - CERTIFY_SKEW_S;
	if (o->deactivation != 0) {
		*na = o->deactivation;
		return;
	}
	if (ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(old), X509_get0_notAfter(old)) == 1 &&
	    (int64_t)day * 86400 + sec > 0)
		len = (int64_t)day * 86400 + sec;
	*na = *nb + len;
}

cf_err ops_recertify(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_certify *q = &it->rq->pl.u.certify_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.rekey_rsp;
	char old_uid[STORE_UID_MAX + 1], pub_uid[STORE_UID_MAX + 1] = "";
	char ca_uid[STORE_UID_MAX + 1], uid[STORE_UUID_LEN + 1];
	struct store_object oo = { 0 }, o = { 0 };
	struct store_attr_list l = { 0 };
	struct store_attr *rows;
	struct ctmpl c;
	X509_REQ *csr = NULL;
	X509 *old = NULL, *x = NULL;
	EVP_PKEY *pub;
	const X509_NAME *subject;
	const unsigned char *cp;
	uint8_t *der;
	int64_t nb, na;
	size_t n, n_rows = 0;
	void *p;
	cf_err rc;

	TRY(tmpl_take(r, it, &q->t, &c));
	if ((rc = ops_uid(r, it, q->uid, old_uid)) != CF_OK ||
	    (rc = load_typed(r, it, old_uid, KMIP_OBJECT_TYPE_CERTIFICATE, &oo)) != CF_OK ||
	    (rc = material(r, &oo, &der, &n)) != CF_OK)
		goto out;
	cp = der;
	if ((old = d2i_X509(NULL, &cp, (long)n)) == NULL || (pub = X509_get0_pubkey(old)) == NULL) {
		rc = ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_PERMISSION_DENIED,
			      "the certificate's key cannot be read");
		goto out;
	}
	if (q->req.p != NULL) {
		if ((rc = csr_of(it, q, &csr)) != CF_OK)
			goto out;
		if (EVP_PKEY_eq(pub, X509_REQ_get0_pubkey(csr)) != 1) {
			rc = bad(it, "Re-certify: the request's key is not the certificate's");
			goto out;
		}
	}
	if ((rc = key_policy(it, pub)) != CF_OK)
		goto out;
	subject = csr != NULL ? X509_REQ_get_subject_name(csr)
		  : c.subject != NULL ? c.subject : X509_get_subject_name(old);
	if (subject == NULL || X509_NAME_entry_count(subject) == 0) {
		rc = bad(it, "no subject");
		goto out;
	}
	recert_dates(r, q, &c, &oo, old, &o, &nb, &na);
	if ((rc = issue(r, it, subject, pub, nb, na, &x, ca_uid)) != CF_OK)
		goto out;
	if ((rc = store_attr_get(r->w->st, r->who.tenant, old_uid, NULL, 0, &l)) != CF_OK ||
	    (rc = kmip_arena_alloc(&r->w->arena, l.n + c.n_rows + LINKS_MAX, sizeof *rows, &p)) !=
		    CF_OK)
		goto out;
	rows = p;
	if ((rc = rows_copy(r, &l, &c, rows, &n_rows, pub_uid)) != CF_OK)
		goto out;
	for (size_t i = 0; i < c.n_rows; i++)
		rows[n_rows++] = c.rows[i];
	if ((rc = ops_link_row(r, KMIP_LINK_TYPE_REPLACED_OBJECT_LINK, old_uid, &rows[n_rows++])) !=
		    CF_OK ||
	    (rc = cert_links(r, ca_uid, pub_uid, rows, &n_rows)) != CF_OK ||
	    (rc = cert_insert(r, it, x, &o, rows, n_rows, uid)) != CF_OK ||
	    (rc = old_update(r, &oo, uid)) != CF_OK)
		goto out;
	if (pub_uid[0] != '\0' && (rc = pub_link(r, pub_uid, old_uid, uid)) != CF_OK)
		goto out;
	rc = cert_answer(r, it, uid, s);
out:
	X509_free(x);
	X509_free(old);
	X509_REQ_free(csr);
	tmpl_free(&c);
	store_attr_list_free(&l);
	store_object_free(&oo);
	return rc;
}
