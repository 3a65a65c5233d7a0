/* Create Key Pair and Re-key Key Pair (KMIP 1.4 4.2 / 4.5, 2.0 6.1.8 / 6.1.42): RSA 2048 /
 * 3072 / 4096 and EC P-256 / P-384 pairs generated inside the HSM (hsm_kp_generate_wrapped).
 * The Private Key row holds a KWP-then-GCM blob (it opens to PKCS#8 PrivateKeyInfo DER), the
 * Public Key row a GCM blob of the SubjectPublicKeyInfo DER, each bound to its own uid and
 * object type; neither key's material is in the store or this process in plaintext at
 * creation. Attributes: single-valued ones from the Private / Public Key template take
 * precedence over the Common template; multi-valued ones are the union (1.4 4.2). */
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

#define M_SIGN KMIP_CRYPTOGRAPHIC_USAGE_MASK_SIGN
#define M_VERIFY KMIP_CRYPTOGRAPHIC_USAGE_MASK_VERIFY
#define M_ENCRYPT KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT
#define M_DECRYPT KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT
#define M_WRAP KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY
#define M_UNWRAP KMIP_CRYPTOGRAPHIC_USAGE_MASK_UNWRAP_KEY
#define M_MAC (KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE | KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY)
#define M_CERT (KMIP_CRYPTOGRAPHIC_USAGE_MASK_CERTIFICATE_SIGN | KMIP_CRYPTOGRAPHIC_USAGE_MASK_CRL_SIGN)
/* bits a half may not carry: a private key does not verify or encrypt, a public key does not
 * sign or decrypt; no asymmetric key MACs; an EC key neither encrypts nor wraps */
#define PRIV_FORBIDDEN (M_VERIFY | M_ENCRYPT | M_WRAP | M_MAC)
#define PUB_FORBIDDEN (M_SIGN | M_DECRYPT | M_UNWRAP | M_MAC | M_CERT)
#define EC_FORBIDDEN (M_ENCRYPT | M_DECRYPT | M_WRAP | M_UNWRAP)

#define ROW_LINK "Link"
#define ROW_NAME "Name"
#define KP_EXTRA_ROWS 4u /* Link x2 (Re-key), Cryptographic Domain Parameters, spare */

/* One half of the pair as the request (and, for Re-key, the existing key) describe it. */
struct kp_half {
	bool has_alg, has_len, has_mask, has_curve;
	uint32_t alg, mask, curve;
	int32_t len;
	bool has_act, has_deact;
	int64_t activation, deactivation;
	bool mask_implied, len_implied;   /* set by the server: reported in a 1.x response */
	struct store_attr *rows;
	size_t n_rows, cap_rows;
};

struct kp_plan {
	struct kp_half priv, pub;
	enum hsm_kp_type type;
	char priv_uid[STORE_UUID_LEN + 1], pub_uid[STORE_UUID_LEN + 1];
};

/* An attribute value we refuse: Invalid Field (1.x), Invalid Attribute Value (2.0). */
static cf_err bad(const struct ops_req *r, struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_ATTR, r->ver >= KMIP_V2_0 ?
			KMIP_RESULT_REASON_INVALID_ATTRIBUTE_VALUE : KMIP_RESULT_REASON_INVALID_FIELD,
			msg);
}

static uint64_t be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static bool single_valued(const struct kmip_attr *a, int ver)
{
	const struct kmip_attr_rule *rule =
		a->tag != 0 ? kmip_attr_rule_for(a->tag, ver) : kmip_attr_rule_custom();
	return a->tag != 0 && rule != NULL && (rule->flags & KMIP_AF_MULTI) == 0;
}

static bool has_row(const struct kp_half *h, const char *name)
{
	for (size_t i = 0; i < h->n_rows; i++)
		if (strcmp(h->rows[i].name, name) == 0)
			return true;
	return false;
}

static cf_err half_init(struct ops_req *r, struct kp_half *h, size_t cap)
{
	void *p;
	memset(h, 0, sizeof *h);
	h->cap_rows = cap + KP_EXTRA_ROWS;
	TRY(kmip_arena_alloc(&r->w->arena, h->cap_rows, sizeof *h->rows, &p));
	h->rows = p;
	return CF_OK;
}

/* Recommended Curve inside a Cryptographic Domain Parameters structure (0 if absent). */
static cf_err domain_curve(const struct kmip_attr *a, uint32_t *curve)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd rd;
	*curve = 0;
	if (a->type != TTLV_STRUCTURE)
		return CF_E_BAD_ATTR;
	ttlv_rd_init(&rd, a->val.p, a->val.n, &lim);
	while (!ttlv_rd_done(&rd)) {
		struct ttlv_item it;
		TRY(ttlv_rd_next(&rd, &it));
		if (it.tag == KMIP_TAG_RECOMMENDED_CURVE) {
			if (it.type != TTLV_ENUMERATION)
				return CF_E_BAD_ATTR;
			*curve = ttlv_item_u32(&it);
		}
	}
	return CF_OK;
}

/* The fields kept as object columns (and the curve): set unless a template of higher
 * precedence already did (low = Common template / existing key). 1 = consumed. */
static int take_field(const struct ops_req *r, struct ops_item *it, const struct kmip_attr *a, bool low, struct kp_half *h,
		      cf_err *rc)
{
	uint32_t v = 0;
	*rc = CF_OK;
	switch (a->tag) {
	case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
		if (kmip_attr_get_u32(a, &v) != CF_OK)
			*rc = bad(r, it, "Cryptographic Algorithm");
		else if (!(low && h->has_alg))
			h->has_alg = true, h->alg = v;
		return 1;
	case KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
		if (kmip_attr_get_u32(a, &v) != CF_OK || v == 0 || v > 0x7fffffffu)
			*rc = bad(r, it, "Cryptographic Length");
		else if (!(low && h->has_len))
			h->has_len = true, h->len = (int32_t)v;
		return 1;
	case KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
		if (kmip_attr_get_u32(a, &v) != CF_OK)
			*rc = bad(r, it, "Cryptographic Usage Mask");
		else if (!(low && h->has_mask))
			h->has_mask = true, h->mask = v;
		return 1;
	case KMIP_TAG_ACTIVATION_DATE:
	case KMIP_TAG_DEACTIVATION_DATE: {
		bool act = a->tag == KMIP_TAG_ACTIVATION_DATE;
		int64_t d = a->type == TTLV_DATE_TIME && a->val.n == 8 ? (int64_t)be_get(a->val.p, 8) : 0;
		if (d <= 0)
			*rc = bad(r, it, "date expected");
		else if (act && !(low && h->has_act))
			h->has_act = true, h->activation = d;
		else if (!act && !(low && h->has_deact))
			h->has_deact = true, h->deactivation = d;
		return 1;
	}
	case KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS:
		if (domain_curve(a, &v) != CF_OK)
			*rc = bad(r, it, "Cryptographic Domain Parameters");
		else if (v != 0 && !(low && h->has_curve))
			h->has_curve = true, h->curve = v;
		return 0; /* also kept as a row */
	default:
		return 0;
	}
}

/* Add the attributes of template t to half h; low: the Common template (lower precedence). */
static cf_err take(struct ops_req *r, struct ops_item *it, const struct kmip_tmpl *t, bool low,
		   struct kp_half *h)
{
	cf_err rc;
	if (t->names.p != NULL && t->names.n > 0)
		return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
				"templates are not supported");
	for (size_t i = 0; i < t->a.n; i++) {
		const struct kmip_attr *a = &t->a.v[i];
		char name[STORE_NAME_MAX + 1], *nm;
		rc = kmip_attr_client_may(a, KMIP_OPERATION_CREATE, r->ver);
		if (rc == CF_E_PERMISSION)
			return ops_fail(it, CF_E_PERMISSION, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_ATTRIBUTE_READ_ONLY :
					KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute is set by the server");
		if (rc != CF_OK)
			return ops_fail(it, CF_E_BAD_ATTR, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_INVALID_ATTRIBUTE :
					KMIP_RESULT_REASON_INVALID_FIELD, "not an attribute in this version");
		bool single = single_valued(a, r->ver);
		for (size_t j = 0; single && j < i; j++)
			if (t->a.v[j].tag == a->tag)
				return ops_fail(it, CF_E_BAD_ATTR, r->ver >= KMIP_V2_0 ?
						KMIP_RESULT_REASON_ATTRIBUTE_SINGLE_VALUED :
						KMIP_RESULT_REASON_INVALID_FIELD,
						"single-valued attribute given twice");
		int used = take_field(r, it, a, low, h, &rc);
		if (rc != CF_OK)
			return rc;
		if (used)
			continue;
		if (ops_attr_name(a, name) != CF_OK)
			return bad(r, it, "attribute name");
		if (low && single && has_row(h, name))
			continue; /* the key's own template wins */
		if (h->n_rows >= h->cap_rows)
			return CF_E_INTERNAL;
		TRY(ops_cstr(r, name, strlen(name), &nm));
		if ((rc = ops_attr_to_store(r, a, nm, &h->rows[h->n_rows])) != CF_OK)
			return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute value");
		h->n_rows++;
	}
	return CF_OK;
}

/* Algorithm, length and curve: the same for both halves (1.4 Table 168), one we make. */
static cf_err plan_type(const struct ops_req *r, struct ops_item *it, struct kp_plan *p)
{
	struct kp_half *v = &p->priv, *u = &p->pub;
	if (!v->has_alg || !u->has_alg)
		return bad(r, it, "Cryptographic Algorithm required");
	if (v->alg != u->alg || v->has_len != u->has_len || (v->has_len && v->len != u->len) ||
	    v->has_curve != u->has_curve || (v->has_curve && v->curve != u->curve))
		return bad(r, it, "algorithm, length and curve must be the same for both keys");
	if (v->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA) {
		if (v->has_curve)
			return bad(r, it, "Recommended Curve given for an RSA key");
		if (!v->has_len)
			return bad(r, it, "Cryptographic Length required for RSA");
		if (v->len != 2048 && v->len != 3072 && v->len != 4096)
			return bad(r, it, "RSA length must be 2048, 3072 or 4096");
		p->type = v->len == 2048 ? HSM_KP_RSA_2048 : v->len == 3072 ? HSM_KP_RSA_3072
					 : HSM_KP_RSA_4096;
		return CF_OK;
	}
	if (v->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_EC && v->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDSA &&
	    v->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDH)
		return bad(r, it, "key pairs: RSA, EC, ECDSA or ECDH only");
	uint32_t c = v->has_curve ? v->curve : 0;
	int32_t len = v->has_len ? v->len : 0;
	if (c == 0)
		c = len == 256 ? KMIP_RECOMMENDED_CURVE_P_256 : len == 384 ? KMIP_RECOMMENDED_CURVE_P_384 : 0;
	if (c != KMIP_RECOMMENDED_CURVE_P_256 && c != KMIP_RECOMMENDED_CURVE_P_384)
		return bad(r, it, "EC keys: curve P-256 or P-384 (length 256 or 384)");
	int32_t want = c == KMIP_RECOMMENDED_CURVE_P_256 ? 256 : 384;
	if (len != 0 && len != want)
		return bad(r, it, "Cryptographic Length does not match the curve");
	p->type = want == 256 ? HSM_KP_EC_P256 : HSM_KP_EC_P384;
	for (struct kp_half *h = v; h != NULL; h = h == v ? u : NULL) {
		h->len_implied = !h->has_len;
		h->has_len = h->has_curve = true;
		h->len = want;
		h->curve = c;
	}
	return CF_OK;
}

/* Usage masks: given, or Sign / Verify; no bit the key type cannot honour. */
static cf_err plan_masks(const struct ops_req *r, struct ops_item *it, struct kp_plan *p)
{
	bool ec = p->type == HSM_KP_EC_P256 || p->type == HSM_KP_EC_P384;
	if (!p->priv.has_mask) {
		p->priv.has_mask = p->priv.mask_implied = true;
		p->priv.mask = M_SIGN;
	}
	if (!p->pub.has_mask) {
		p->pub.has_mask = p->pub.mask_implied = true;
		p->pub.mask = M_VERIFY;
	}
	if ((p->priv.mask & PRIV_FORBIDDEN) != 0 || (p->pub.mask & PUB_FORBIDDEN) != 0 ||
	    (ec && ((p->priv.mask | p->pub.mask) & EC_FORBIDDEN) != 0))
		return bad(r, it, "Cryptographic Usage Mask not possible for this key");
	return CF_OK;
}

/* A row with a structure value built here (Link, Cryptographic Domain Parameters). */
static cf_err add_struct_row(struct ops_req *r, struct kp_half *h, uint32_t tag, uint8_t *val,
			     size_t n)
{
	struct kmip_attr a = { .tag = tag, .type = TTLV_STRUCTURE, .val = { val, n } };
	if (h->n_rows >= h->cap_rows)
		return CF_E_INTERNAL;
	TRY(ops_attr_to_store(r, &a, kmip_tag_name(tag), &h->rows[h->n_rows]));
	h->n_rows++;
	return CF_OK;
}

static cf_err add_link(struct ops_req *r, struct kp_half *h, uint32_t type, const char *uid)
{
	uint8_t buf[16 + 8 + STORE_UID_MAX + 8];
	ttlv_wr w;
	ttlv_wr_init(&w, buf, sizeof buf);
	TRY(ttlv_wr_enum(&w, KMIP_TAG_LINK_TYPE, type));
	TRY(ttlv_wr_text(&w, KMIP_TAG_LINKED_OBJECT_IDENTIFIER, uid, strlen(uid)));
	void *p;
	TRY(ops_dup(r, buf, ttlv_wr_len(&w), &p));
	return add_struct_row(r, h, KMIP_TAG_LINK, p, ttlv_wr_len(&w));
}

static cf_err add_domain(struct ops_req *r, struct kp_half *h)
{
	if (!h->has_curve || has_row(h, kmip_tag_name(KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS)))
		return CF_OK;
	uint8_t buf[16];
	ttlv_wr w;
	ttlv_wr_init(&w, buf, sizeof buf);
	TRY(ttlv_wr_enum(&w, KMIP_TAG_RECOMMENDED_CURVE, h->curve));
	void *p;
	TRY(ops_dup(r, buf, ttlv_wr_len(&w), &p));
	return add_struct_row(r, h, KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS, p, ttlv_wr_len(&w));
}

static cf_err insert_half(struct ops_req *r, const char *uid, uint32_t type,
			  const struct kp_half *h, uint8_t *blob, size_t blob_n, const uint8_t *digest)
{
	struct store_object o;
	struct hsm_blob_info bi;
	TRY(hsm_blob_info_get(blob, blob_n, &bi));
	memset(&o, 0, sizeof o);
	strcpy(o.uid, uid);
	o.object_type = type;
	o.state = (h->has_act && h->activation <= r->now) ? STORE_STATE_ACTIVE
							   : STORE_STATE_PRE_ACTIVE;
	strcpy(o.tenant, r->who.tenant);
	strcpy(o.owner, r->who.actor);
	o.kek_version = bi.kek_version;
	o.wrapped = blob;
	o.wrapped_len = blob_n;
	o.crypto_alg = h->alg;
	o.crypto_len = h->len;
	o.usage_mask = h->mask;
	o.created = r->now;
	o.activation = h->has_act ? h->activation : 0;
	o.deactivation = h->has_deact ? h->deactivation : 0;
	o.last_change = r->now;
	o.srv_flags = STORE_SF_GENERATED; /* Random Number Generator: the HSM's */
	if (digest != NULL) {
		memcpy(o.digest, digest, sizeof o.digest);
		o.has_digest = true;
	}
	return store_object_insert(r->w->st, &o, h->rows, h->n_rows);
}

/* Generate the pair in the HSM for plan p (new uids into p): *blob (arena) = the private key's
 * blob || the public key's, split at *split, *total bytes; the public key's Digest Value. */
static cf_err kp_generate(struct ops_req *r, struct kp_plan *p, uint8_t **blob, size_t *split,
			  size_t *total, uint8_t pub_digest[static HSM_SHA256_LEN])
{
	uint8_t vb[HSM_KP_BLOB_MAX], ub[HSM_SPKI_MAX + HSM_BLOB_OVERHEAD], spki[HSM_SPKI_MAX];
	size_t vn = 0, un = 0, sn = 0;
	hsm_sess *sess;
	void *out = NULL;
	cf_err rc;

	TRY(ops_sess(r, &sess));
	TRY(store_uid_new(ops_rng, r, p->priv_uid));
	TRY(store_uid_new(ops_rng, r, p->pub_uid));
	struct hsm_bind bv = { (const uint8_t *)p->priv_uid, strlen(p->priv_uid),
			       KMIP_OBJECT_TYPE_PRIVATE_KEY };
	struct hsm_bind bu = { (const uint8_t *)p->pub_uid, strlen(p->pub_uid),
			       KMIP_OBJECT_TYPE_PUBLIC_KEY };
	rc = hsm_kp_generate_wrapped(sess, p->type, &bv, vb, sizeof vb, &vn, spki, sizeof spki, &sn);
	if (rc == CF_OK)
		rc = hsm_dek_wrap(sess, spki, sn, &bu, ub, sizeof ub, &un);
	if (rc == CF_OK) /* the public key's Digest (its plaintext is here; the private key's is not) */
		rc = ops_keyfmt_digest(r, KMIP_OBJECT_TYPE_PUBLIC_KEY, spki, sn, pub_digest);
	if (rc == CF_OK)
		rc = kmip_arena_alloc(&r->w->arena, vn + un, 1, &out);
	if (rc == CF_OK) {
		memcpy(out, vb, vn);
		memcpy((uint8_t *)out + vn, ub, un);
		*blob = out;
		*split = vn;
		*total = vn + un;
	}
	sec_wipe(vb, sizeof vb);
	return rc;
}

/* The pair (prepared ahead of the transaction when it was made for this type, else made now)
 * and both objects with their links. */
static cf_err plan_run(struct ops_req *r, struct ops_item *it, struct kp_plan *p)
{
	uint8_t *blob = NULL, digest[HSM_SHA256_LEN];
	size_t split = 0, total = 0;

	if (it->prepped && it->prep_kind == (uint32_t)p->type && it->prep_split > 0 &&
	    it->prep_split < it->prep_blob_n) {
		memcpy(p->priv_uid, it->prep_uid, sizeof p->priv_uid);
		memcpy(p->pub_uid, it->prep_uid2, sizeof p->pub_uid);
		blob = it->prep_blob;
		split = it->prep_split;
		total = it->prep_blob_n;
		memcpy(digest, it->prep_digest, sizeof digest);
	} else {
		cf_err rc = kp_generate(r, p, &blob, &split, &total, digest);
		if (rc != CF_OK)
			return ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
					"key pair generation failed");
	}
	TRY(add_link(r, &p->priv, KMIP_LINK_TYPE_PUBLIC_KEY_LINK, p->pub_uid));
	TRY(add_link(r, &p->pub, KMIP_LINK_TYPE_PRIVATE_KEY_LINK, p->priv_uid));
	TRY(add_domain(r, &p->priv));
	TRY(add_domain(r, &p->pub));
	TRY(insert_half(r, p->priv_uid, KMIP_OBJECT_TYPE_PRIVATE_KEY, &p->priv, blob, split, NULL));
	TRY(insert_half(r, p->pub_uid, KMIP_OBJECT_TYPE_PUBLIC_KEY, &p->pub, blob + split,
			total - split, digest));
	memcpy(r->placeholder, p->priv_uid, sizeof p->priv_uid);
	memcpy(it->uid, p->priv_uid, sizeof p->priv_uid);
	return CF_OK;
}

/* 1.x response: the attributes the server set that the request did not give. */
static cf_err implied(struct ops_req *r, const struct kp_half *h, struct kmip_tmpl *t)
{
	void *p;
	uint8_t *buf;
	if (r->ver >= KMIP_V2_0 || (!h->mask_implied && !h->len_implied))
		return CF_OK;
	TRY(kmip_arena_alloc(&r->w->arena, 2, sizeof *t->a.v, &p));
	t->a.v = p;
	TRY(kmip_arena_alloc(&r->w->arena, 16, 1, &p));
	buf = p;
	if (h->mask_implied)
		kmip_attr_set_int(&t->a.v[t->a.n++], KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK,
				  (int32_t)h->mask, buf);
	if (h->len_implied)
		kmip_attr_set_int(&t->a.v[t->a.n++], KMIP_TAG_CRYPTOGRAPHIC_LENGTH, h->len, buf + 8);
	t->present = true;
	return CF_OK;
}

static cf_err answer(struct ops_req *r, struct ops_item *it, const struct kp_plan *p)
{
	struct kmip_rsp_create_kp *s = &it->rs->pl.u.kp_rsp;
	TRY(ops_text(r, p->priv_uid, &s->priv_uid));
	TRY(ops_text(r, p->pub_uid, &s->pub_uid));
	TRY(implied(r, &p->priv, &s->priv_t));
	return implied(r, &p->pub, &s->pub_t);
}

/* ---- Re-key Key Pair ------------------------------------------------------------------- */

/* Rows of an existing key that a replacement does not take over (1.4 4.5 Table 177). */
static bool rekey_skip(const char *name)
{
	static const char *const skip[] = { ROW_LINK, "Digest", "Random Number Generator",
					    "Fresh", "Original Creation Date" };
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (strcmp(name, skip[i]) == 0)
			return true;
	return false;
}

/* The existing key's attributes, at the lowest precedence (the request's templates win). */
static cf_err rekey_inherit(struct ops_req *r, const struct store_object *o,
			   const struct store_attr_list *l, struct kp_half *h)
{
	if (!h->has_alg)
		h->has_alg = true, h->alg = o->crypto_alg;
	if (!h->has_len && o->crypto_len > 0)
		h->has_len = true, h->len = o->crypto_len;
	if (!h->has_mask)
		h->has_mask = true, h->mask = o->usage_mask;
	for (size_t i = 0; i < l->n; i++) {
		const struct store_attr *sa = &l->a[i];
		if (rekey_skip(sa->name))
			continue;
		const struct kmip_tag_info *ti = kmip_tag_by_name(sa->name, strlen(sa->name));
		const struct kmip_attr_rule *rule =
			ti != NULL ? kmip_attr_rule_for(ti->tag, r->ver) : NULL;
		if (rule != NULL && (rule->flags & KMIP_AF_MULTI) == 0 && has_row(h, sa->name))
			continue;
		if (ti != NULL && ti->tag == KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS)
			continue; /* re-made from the curve */
		if (h->n_rows >= h->cap_rows)
			return CF_E_INTERNAL;
		struct store_attr *d = &h->rows[h->n_rows++];
		*d = *sa;
		void *p;
		char *s;
		TRY(ops_cstr(r, sa->name, strlen(sa->name), &s));
		d->name = s;
		if (sa->v_text != NULL) {
			TRY(ops_cstr(r, sa->v_text, strlen(sa->v_text), &s));
			d->v_text = s;
		}
		if (sa->v_blob != NULL) {
			TRY(ops_dup(r, sa->v_blob, sa->v_blob_len, &p));
			d->v_blob = p;
		}
	}
	return CF_OK;
}

/* The uid the Link of type `type` in l points to (into out), CF_E_NOT_FOUND if none. */
static cf_err link_target(const struct store_attr_list *l, uint32_t type,
			  char out[static STORE_UID_MAX + 1])
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	for (size_t i = 0; i < l->n; i++) {
		const struct store_attr *sa = &l->a[i];
		ttlv_rd rd;
		uint32_t t = 0;
		const char *s;
		size_t n;
		if (strcmp(sa->name, ROW_LINK) != 0 || sa->v_blob == NULL)
			continue;
		ttlv_rd_init(&rd, sa->v_blob, sa->v_blob_len, &lim);
		if (ttlv_rd_enum(&rd, KMIP_TAG_LINK_TYPE, &t) != CF_OK || t != type ||
		    ttlv_rd_text(&rd, KMIP_TAG_LINKED_OBJECT_IDENTIFIER, &s, &n) != CF_OK ||
		    n == 0 || n > STORE_UID_MAX)
			continue;
		memcpy(out, s, n);
		out[n] = '\0';
		return CF_OK;
	}
	return CF_E_NOT_FOUND;
}

struct rekey_old {
	struct store_object priv, pub;
	struct store_attr_list priv_a, pub_a;
};

static void rekey_old_free(struct rekey_old *o)
{
	store_object_free(&o->priv);
	store_object_free(&o->pub);
	store_attr_list_free(&o->priv_a);
	store_attr_list_free(&o->pub_a);
}

/* The existing pair: the private key named by the request, its public key by its link. */
static cf_err rekey_load(struct ops_req *r, struct ops_item *it, struct rekey_old *o)
{
	const struct kmip_req_create_kp *q = &it->rq->pl.u.kp_req;
	char uid[STORE_UID_MAX + 1], pub[STORE_UID_MAX + 1];
	TRY(ops_uid(r, it, q->priv_uid, uid));
	cf_err rc = ops_object_load(r, uid, &o->priv);
	if (rc == CF_E_NOT_FOUND)
		return ops_fail(it, rc, 0, "object not found");
	TRY(rc);
	if (o->priv.object_type != KMIP_OBJECT_TYPE_PRIVATE_KEY || o->priv.wrapped == NULL)
		return ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED,
				"only an existing private key can be re-keyed");
	TRY(store_attr_get(r->w->st, r->who.tenant, uid, NULL, 0, &o->priv_a));
	if (link_target(&o->priv_a, KMIP_LINK_TYPE_PUBLIC_KEY_LINK, pub) != CF_OK ||
	    ops_object_load(r, pub, &o->pub) != CF_OK ||
	    o->pub.object_type != KMIP_OBJECT_TYPE_PUBLIC_KEY)
		return ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED,
				"the private key has no public key to re-key with it");
	return store_attr_get(r->w->st, r->who.tenant, pub, NULL, 0, &o->pub_a);
}

/* Dates of the replacement (1.4 4.5 Table 176): copied, or moved by the Offset. */
static cf_err rekey_dates(struct ops_req *r, struct ops_item *it, const struct store_object *old,
			  struct kp_half *h)
{
	const struct kmip_req_create_kp *q = &it->rq->pl.u.kp_req;
	if (!q->has_offset) {
		if (!h->has_act && old->activation != 0)
			h->has_act = true, h->activation = old->activation;
		if (!h->has_deact && old->deactivation != 0)
			h->has_deact = true, h->deactivation = old->deactivation;
		return CF_OK;
	}
	if (h->has_act || h->has_deact)
		return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Offset and Activation / Deactivation Date together");
	if (old->activation == 0)
		return ops_fail(it, CF_E_STATE, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
				"Offset without an Activation Date on the existing key");
	h->has_act = true;
	h->activation = r->now + (int64_t)q->offset;
	if (old->deactivation != 0) {
		h->has_deact = true;
		h->deactivation = old->deactivation + (h->activation - old->activation);
	}
	return CF_OK;
}

/* The existing pair: Replacement Object links to the new keys, names taken over. */
static cf_err rekey_retire(struct ops_req *r, struct rekey_old *o, const struct kp_plan *p)
{
	struct kp_half tmp;
	uint32_t idx;
	const struct store_object *objs[2] = { &o->priv, &o->pub };
	const char *repl[2] = { p->priv_uid, p->pub_uid };
	for (int i = 0; i < 2; i++) {
		TRY(half_init(r, &tmp, 0));
		TRY(add_link(r, &tmp, KMIP_LINK_TYPE_REPLACEMENT_OBJECT_LINK, repl[i]));
		TRY(store_attr_add(r->w->st, r->who.tenant, objs[i]->uid, &tmp.rows[0], &idx));
		cf_err rc = store_attr_delete(r->w->st, r->who.tenant, objs[i]->uid, ROW_NAME,
					      STORE_ATTR_ALL);
		if (rc != CF_OK && rc != CF_E_NOT_FOUND)
			return rc;
		struct store_object u = *objs[i];
		u.last_change = r->now;
		TRY(store_object_update_state(r->w->st, &u));
	}
	return CF_OK;
}

/* The plan of an item: its templates and, for Re-key Key Pair, the existing pair (*o). */
static cf_err plan_make(struct ops_req *r, struct ops_item *it, struct kp_plan *p,
			struct rekey_old *o)
{
	const struct kmip_req_create_kp *q = &it->rq->pl.u.kp_req;
	bool rekey = it->rq->op == KMIP_OPERATION_RE_KEY_KEY_PAIR;

	memset(p, 0, sizeof *p);
	if (rekey)
		TRY(rekey_load(r, it, o));
	TRY(half_init(r, &p->priv, q->common.a.n + q->priv.a.n + o->priv_a.n));
	TRY(half_init(r, &p->pub, q->common.a.n + q->pub.a.n + o->pub_a.n));
	TRY(take(r, it, &q->priv, false, &p->priv));
	TRY(take(r, it, &q->pub, false, &p->pub));
	TRY(take(r, it, &q->common, true, &p->priv));
	TRY(take(r, it, &q->common, true, &p->pub));
	if (rekey) {
		TRY(rekey_dates(r, it, &o->priv, &p->priv));
		TRY(rekey_dates(r, it, &o->pub, &p->pub));
		TRY(rekey_inherit(r, &o->priv, &o->priv_a, &p->priv));
		TRY(rekey_inherit(r, &o->pub, &o->pub_a, &p->pub));
	}
	TRY(plan_type(r, it, p));
	TRY(plan_masks(r, it, p));
	if (rekey)
		p->priv.mask_implied = p->pub.mask_implied = false; /* copied, not made up */
	return CF_OK;
}

void ops_keypair_prep(struct ops_req *r, struct ops_item *it)
{
	struct rekey_old o;
	struct kp_plan p;
	uint8_t *blob = NULL;
	size_t split = 0, total = 0;

	memset(&o, 0, sizeof o);
	it->prepped = false;
	if (plan_make(r, it, &p, &o) == CF_OK &&
	    kp_generate(r, &p, &blob, &split, &total, it->prep_digest) == CF_OK) {
		memcpy(it->prep_uid, p.priv_uid, sizeof it->prep_uid);
		memcpy(it->prep_uid2, p.pub_uid, sizeof it->prep_uid2);
		it->prep_blob = blob;
		it->prep_blob_n = total;
		it->prep_split = split;
		it->prep_kind = (uint32_t)p.type;
		it->prepped = true;
	}
	rekey_old_free(&o);
	/* nothing of a failed preparation shows: the run redoes it and reports */
	it->msg = NULL;
	it->reason = 0;
}

cf_err ops_create_key_pair(struct ops_req *r, struct ops_item *it)
{
	struct rekey_old o;
	struct kp_plan p;

	memset(&o, 0, sizeof o);
	TRY(plan_make(r, it, &p, &o));
	TRY(plan_run(r, it, &p));
	return answer(r, it, &p);
}

cf_err ops_rekey_key_pair(struct ops_req *r, struct ops_item *it)
{
	struct rekey_old o;
	struct kp_plan p;
	cf_err rc;

	memset(&o, 0, sizeof o);
	if ((rc = plan_make(r, it, &p, &o)) != CF_OK)
		goto out;
	if ((rc = add_link(r, &p.priv, KMIP_LINK_TYPE_REPLACED_OBJECT_LINK, o.priv.uid)) != CF_OK ||
	    (rc = add_link(r, &p.pub, KMIP_LINK_TYPE_REPLACED_OBJECT_LINK, o.pub.uid)) != CF_OK)
		goto out;
	if ((rc = plan_run(r, it, &p)) != CF_OK || (rc = rekey_retire(r, &o, &p)) != CF_OK)
		goto out;
	rc = answer(r, it, &p);
out:
	rekey_old_free(&o);
	return rc;
}
