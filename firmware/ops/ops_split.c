/* Create Split Key and Join Split Key (KMIP 1.4 sections 4.38 / 4.39, 2.0 6.1.10 / 6.1.26):
 * a symmetric key (new, or a managed Symmetric Key / Secret Data) split into Split Key objects
 * by XOR or by Shamir's polynomial sharing over GF(2^8) (split_gf.c), and parts joined back
 * into a new Symmetric Key or Secret Data. docs/kmip-server.md "Split keys".
 *
 * Plaintext. No PKCS#11 mechanism splits or joins a key, so the arithmetic runs here, on the
 * worker's locked key buffer (sec_alloc: mlock'd, out of core dumps): the key (random bytes
 * of the HSM, or a managed key unwrapped by the HSM), the polynomial coefficients and each
 * share exist only there, and each is wiped as soon as it is wrapped (every part, and the
 * joined key, is sealed under the current KEK by ops_create_obj as a Register's material).
 *
 *= kmip-spec-v1.4 section 4.38: The response contains the Unique Identifiers of all created
 *# objects. The ID Placeholder value SHALL be set to the Unique Identifier of the split whose
 *# Key Part Identifier is 1.
 *= kmip-spec-v1.4 section 4.39: The number of Unique Identifiers in the request SHALL be at
 *# least the value of the Split Key Threshold defined in the Split Keys. */
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"
#include "firmware/ops/split_gf.h"

/* Internal row (no attribute in any version): the Unique Identifier of part 1 of the split a
 * created part belongs to, so that Join refuses parts of different splits. */
#define ROW_SPLIT_SET "Split Key Set"
#define ROW_SECRET_TYPE "Secret Data Type"
#define SPLIT_ROWS_MAX 9u  /* rows a part gets beside the template's */

/* 1.x Invalid Field, 2.0 Invalid Object Type. */
static cf_err bad_type(struct ops_req *r, struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_INVALID_FIELD,
					     KMIP_RESULT_REASON_INVALID_OBJECT_TYPE), msg);
}

static cf_err bad_field(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

/* A key whose material may be split or joined: not destroyed (its material is gone: Item Not
 * Found, 2.0 Object Destroyed), not Compromised (a compromised secret is not spread into new
 * objects: Permission Denied, 2.0 Wrong Key Lifecycle State). Pre-Active, Active and
 * Deactivated keys may be split (a split is a custody step, not a use of the key). */
static cf_err usable(struct ops_req *r, struct ops_item *it, const struct store_object *o)
{
	if (o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED ||
	    o->wrapped == NULL)
		return ops_fail(it, CF_E_NOT_FOUND, ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
							KMIP_RESULT_REASON_OBJECT_DESTROYED),
				"object destroyed");
	if (o->state == STORE_STATE_COMPROMISED)
		return ops_fail(it, CF_E_STATE,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE),
				"object compromised");
	return CF_OK;
}

/* Unwrap o's material into a block of the locked key buffer (*k, *kn). */
static cf_err unwrap(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		     uint8_t **k, size_t *kn)
{
	struct hsm_bind b = { (const uint8_t *)o->uid, strlen(o->uid), o->object_type };
	hsm_sess *sess;
	cf_err rc;

	*k = NULL;
	*kn = 0;
	TRY(ops_sess(r, &sess));
	if (ops_keybuf(r, HSM_DEK_MAX, k) != CF_OK) {
		*k = NULL;
		return ops_fail(it, CF_E_NO_SPACE, KMIP_RESULT_REASON_GENERAL_FAILURE,
				"too many key parts in one request");
	}
	rc = hsm_dek_unwrap(sess, o->wrapped, o->wrapped_len, &b, *k, HSM_DEK_MAX, kn);
	ops_keybuf_trim(r, *k, HSM_DEK_MAX, rc == CF_OK ? *kn : 0);
	if (rc != CF_OK)
		*kn = 0;
	return rc;
}

/* An integer row of l, or -1. */
static int64_t row_int(const struct store_attr_list *l, uint32_t tag)
{
	const char *name = kmip_tag_name(tag);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->a[i].name, name) == 0 && l->a[i].has_int)
			return l->a[i].v_int;
	return -1;
}

static const char *row_text(const struct store_attr_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->a[i].name, name) == 0)
			return l->a[i].v_text;
	return NULL;
}

static void row_int_set(struct store_attr *sa, const char *name, uint8_t type, int64_t v)
{
	memset(sa, 0, sizeof *sa);
	sa->name = name;
	sa->value_type = type;
	sa->has_int = true;
	sa->v_int = v;
}

/* ---- Create Split Key ---------------------------------------------------------------- */

struct split_plan {
	uint32_t method;
	unsigned parts, threshold;
	struct ops_new_obj nw;       /* what every part shares (algorithm, length, mask) */
	const char *key_uid;         /* the key split, NULL for a new one */
	uint8_t *secret;             /* locked */
	size_t n;
	uint8_t *coef;               /* locked, (threshold - 1) * n (GF(2^8)) */
	uint8_t *acc;                /* locked, n (XOR: secret ^ the shares so far) */
	uint8_t *share;              /* locked, n */
	char (*uids)[STORE_UUID_LEN + 1];
};

static cf_err split_check(struct ops_req *r, struct ops_item *it,
			  const struct kmip_req_create_split *q, struct split_plan *p)
{
	if (q->object_type != KMIP_OBJECT_TYPE_SPLIT_KEY &&
	    q->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    q->object_type != KMIP_OBJECT_TYPE_SECRET_DATA)
		return bad_type(r, it, "Create Split Key makes Split Keys of a Symmetric Key or "
				       "Secret Data");
	/*= kmip-spec-v1.4 section 11.39 Table 362: Split Key Method not supported: Operation
	 *# Failed, Invalid Field. */
	if (q->method != KMIP_SPLIT_KEY_METHOD_XOR &&
	    q->method != KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_GF_28)
		return bad_field(it, "Split Key Method not supported: XOR and Polynomial Sharing "
				     "GF(2^8) only");
	if (q->prime.p != NULL)
		return bad_field(it, "Prime Field Size applies to Polynomial Sharing Prime Field "
				     "only");
	if (q->parts < 1 || q->threshold < 1 || q->threshold > q->parts)
		return bad_field(it, "Split Key Threshold must be 1..Split Key Parts");
	if ((unsigned)q->parts > SPLIT_PARTS_MAX)
		return bad_field(it, "Split Key Parts: at most 255");
	/*= kmip-spec-v1.4 section 2.2.5: The number of split keys is Split Key Parts (identical
	 *# to Split Key Threshold) */
	if (q->method == KMIP_SPLIT_KEY_METHOD_XOR && q->threshold != q->parts)
		return bad_field(it, "XOR: Split Key Threshold must equal Split Key Parts");
	if (q->method == KMIP_SPLIT_KEY_METHOD_XOR && q->parts < 2)
		return bad_field(it, "XOR: at least 2 parts");
	p->method = q->method;
	p->parts = (unsigned)q->parts;
	p->threshold = (unsigned)q->threshold;
	return CF_OK;
}

/* The key to split: the managed one (its algorithm, length and usage mask take precedence over
 * the template's, 1.4 section 4.38), or new random bytes of the HSM for the template's AES
 * key. */
static cf_err split_secret(struct ops_req *r, struct ops_item *it,
			   const struct kmip_req_create_split *q, struct split_plan *p)
{
	if (q->uid.p != NULL) {
		struct store_object o = { 0 };
		char uid[STORE_UID_MAX + 1], *keep;
		cf_err rc;

		TRY(ops_uid(r, it, q->uid, uid));
		TRY(ops_object_load(r, uid, &o));
		if ((rc = usable(r, it, &o)) != CF_OK)
			goto out;
		if (o.object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
		    o.object_type != KMIP_OBJECT_TYPE_SECRET_DATA) {
			rc = bad_type(r, it, "only a Symmetric Key or Secret Data can be split");
			goto out;
		}
		if (q->object_type != KMIP_OBJECT_TYPE_SPLIT_KEY && q->object_type != o.object_type) {
			rc = bad_type(r, it, "Object Type differs from the key's");
			goto out;
		}
		p->nw.has_alg = o.crypto_alg != 0;
		p->nw.alg = o.crypto_alg;
		p->nw.has_len = o.crypto_len != 0;
		p->nw.len = o.crypto_len;
		p->nw.has_mask = o.usage_mask != 0;
		p->nw.mask = o.usage_mask;
		if ((rc = ops_cstr(r, uid, strlen(uid), &keep)) == CF_OK &&
		    (rc = unwrap(r, it, &o, &p->secret, &p->n)) == CF_OK)
			p->key_uid = keep;
	out:
		store_object_free(&o);
		return rc;
	}
	if (q->object_type == KMIP_OBJECT_TYPE_SECRET_DATA)
		return bad_type(r, it, "a new key is a Symmetric Key: name the Secret Data to split");
	const struct kmip_attr *alg = kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM);
	const struct kmip_attr *len = kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH);
	uint32_t a = 0, l = 0;
	if (alg == NULL || kmip_attr_get_u32(alg, &a) != CF_OK ||
	    a != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES)
		return bad_field(it, "a new split key: Cryptographic Algorithm AES required");
	if (len == NULL || kmip_attr_get_u32(len, &l) != CF_OK || (l != 128 && l != 192 && l != 256))
		return bad_field(it, "AES length must be 128, 192 or 256");
	hsm_sess *sess;
	TRY(ops_sess(r, &sess));
	p->n = l / 8;
	TRY(ops_keybuf(r, p->n, &p->secret));
	return hsm_random(sess, p->secret, p->n);
}

/* Part i (0-based) into p->share; XOR: the last part is what is left in p->acc. */
static cf_err split_share(struct ops_req *r, struct split_plan *p, unsigned i)
{
	if (p->method == KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_GF_28)
		return split_gf256_share(p->secret, p->n, p->threshold, p->coef, i + 1, p->share);
	if (i + 1 == p->parts) {
		memcpy(p->share, p->acc, p->n);
		return CF_OK;
	}
	hsm_sess *sess;
	TRY(ops_sess(r, &sess));
	TRY(hsm_random(sess, p->share, p->n));
	for (size_t b = 0; b < p->n; b++)
		p->acc[b] ^= p->share[b];
	return CF_OK;
}

/* The rows of part i: the Split Key fields, Key Format Type Raw, the split's set, Links to
 * the previous and next parts, and to the key split (Parent Link). */
static cf_err split_rows(struct ops_req *r, const struct split_plan *p, unsigned i,
			 struct store_attr *rows, size_t *n)
{
	size_t k = 0;
	row_int_set(&rows[k++], kmip_tag_name(KMIP_TAG_SPLIT_KEY_PARTS), TTLV_INTEGER, p->parts);
	row_int_set(&rows[k++], kmip_tag_name(KMIP_TAG_KEY_PART_IDENTIFIER), TTLV_INTEGER, i + 1);
	row_int_set(&rows[k++], kmip_tag_name(KMIP_TAG_SPLIT_KEY_THRESHOLD), TTLV_INTEGER,
		    p->threshold);
	row_int_set(&rows[k++], kmip_tag_name(KMIP_TAG_SPLIT_KEY_METHOD), TTLV_ENUMERATION,
		    p->method);
	row_int_set(&rows[k++], kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
		    KMIP_KEY_FORMAT_TYPE_RAW);
	memset(&rows[k], 0, sizeof rows[k]);
	rows[k].name = ROW_SPLIT_SET;
	rows[k].value_type = TTLV_TEXT_STRING;
	rows[k++].v_text = p->uids[0];
	if (i > 0)
		TRY(ops_link_row(r, KMIP_LINK_TYPE_PREVIOUS_LINK, p->uids[i - 1], &rows[k++]));
	if (i + 1 < p->parts)
		TRY(ops_link_row(r, KMIP_LINK_TYPE_NEXT_LINK, p->uids[i + 1], &rows[k++]));
	if (p->key_uid != NULL)
		TRY(ops_link_row(r, KMIP_LINK_TYPE_PARENT_LINK, p->key_uid, &rows[k++]));
	*n = k;
	return CF_OK;
}

static cf_err split_run(struct ops_req *r, struct ops_item *it,
			const struct kmip_req_create_split *q, struct split_plan *p,
			struct kmip_rsp_create_split *s)
{
	struct store_attr rows[SPLIT_ROWS_MAX];
	hsm_sess *sess;
	void *v;

	TRY(kmip_arena_alloc(&r->w->arena, p->parts, sizeof *p->uids, &v));
	p->uids = v;
	TRY(kmip_arena_alloc(&r->w->arena, p->parts, sizeof *s->uids, &v));
	s->uids = v;
	for (unsigned i = 0; i < p->parts; i++)
		TRY(store_uid_new(ops_rng, r, p->uids[i]));
	TRY(ops_sess(r, &sess));
	if (ops_keybuf(r, p->n, &p->share) != CF_OK ||
	    (p->method == KMIP_SPLIT_KEY_METHOD_XOR && ops_keybuf(r, p->n, &p->acc) != CF_OK) ||
	    (p->threshold > 1 && ops_keybuf(r, (p->threshold - 1) * p->n, &p->coef) != CF_OK))
		return ops_fail(it, CF_E_NO_SPACE, KMIP_RESULT_REASON_GENERAL_FAILURE,
				"key too large for this threshold");
	if (p->acc != NULL)
		memcpy(p->acc, p->secret, p->n);
	if (p->coef != NULL)
		TRY(hsm_random(sess, p->coef, (p->threshold - 1) * p->n));
	p->nw.type = KMIP_OBJECT_TYPE_SPLIT_KEY;
	p->nw.tmpl = &q->t;
	p->nw.extra = rows;
	p->nw.n = p->n;
	for (unsigned i = 0; i < p->parts; i++) {
		cf_err rc = split_share(r, p, i);
		if (rc == CF_OK)
			rc = split_rows(r, p, i, rows, &p->nw.n_extra);
		p->nw.material = p->share;
		if (rc == CF_OK)
			rc = ops_create_obj(r, it, &p->nw, p->uids[i], &s->uids[i]);
		sec_wipe(p->share, p->n);
		if (rc != CF_OK)
			return rc;
		s->n_uids = i + 1;
		/* every part created has its audit record; part 1's is the item's */
		if (i > 0)
			TRY(ops_audit(r, it->rq->op, p->uids[i], 0, "split key part"));
	}
	if (p->key_uid != NULL) {
		for (unsigned i = 0; i < p->parts; i++) {
			struct store_attr child;
			TRY(ops_link_row(r, KMIP_LINK_TYPE_CHILD_LINK, p->uids[i], &child));
			TRY(store_attr_add(r->w->st, r->who.tenant, p->key_uid, &child, NULL));
		}
	}
	/* the ID Placeholder and the audit record name part 1 (1.4 section 4.38) */
	memcpy(r->placeholder, p->uids[0], strlen(p->uids[0]) + 1);
	memcpy(it->uid, p->uids[0], strlen(p->uids[0]) + 1);
	return CF_OK;
}

static void plan_wipe(struct split_plan *p)
{
	if (p->secret != NULL)
		sec_wipe(p->secret, p->n);
	if (p->acc != NULL)
		sec_wipe(p->acc, p->n);
	if (p->share != NULL)
		sec_wipe(p->share, p->n);
	if (p->coef != NULL)
		sec_wipe(p->coef, (p->threshold - 1) * p->n);
}

cf_err ops_create_split_key(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_create_split *q = &it->rq->pl.u.split_req;
	struct kmip_rsp_create_split *s = &it->rs->pl.u.split_rsp;
	struct split_plan p;
	cf_err rc;

	memset(&p, 0, sizeof p);
	if ((rc = split_check(r, it, q, &p)) == CF_OK && (rc = split_secret(r, it, q, &p)) == CF_OK)
		rc = split_run(r, it, q, &p, s);
	plan_wipe(&p);
	return rc;
}

/* ---- Join Split Key ------------------------------------------------------------------ */

/* What the parts of one split share. */
struct join_split {
	int64_t parts, threshold, method;
	const char *set;             /* ROW_SPLIT_SET, NULL for registered parts */
	uint32_t alg, mask;
	int32_t len;
};

/* Part uid: checked against the first part's split (*js, filled by the first), its share
 * unwrapped into the locked key buffer (*k, *kn) and its Key Part Identifier in *x. */
static cf_err join_part(struct ops_req *r, struct ops_item *it, struct kmip_text uid_txt,
			bool first, struct join_split *js, uint8_t **k, size_t *kn, uint8_t *x)
{
	struct store_object o = { 0 };
	struct store_attr_list l = { 0 };
	char uid[STORE_UID_MAX + 1];
	struct join_split me;
	const char *set;
	int64_t id;
	cf_err rc;

	TRY(ops_uid(r, it, uid_txt, uid));
	TRY(ops_object_load(r, uid, &o));
	if (o.object_type != KMIP_OBJECT_TYPE_SPLIT_KEY) {
		rc = bad_type(r, it, "a Unique Identifier is not a Split Key");
		goto out;
	}
	if ((rc = usable(r, it, &o)) != CF_OK ||
	    (rc = store_attr_get(r->w->st, r->who.tenant, uid, NULL, 0, &l)) != CF_OK)
		goto out;
	me = (struct join_split){ row_int(&l, KMIP_TAG_SPLIT_KEY_PARTS),
				  row_int(&l, KMIP_TAG_SPLIT_KEY_THRESHOLD),
				  row_int(&l, KMIP_TAG_SPLIT_KEY_METHOD), NULL, o.crypto_alg,
				  o.usage_mask, o.crypto_len };
	id = row_int(&l, KMIP_TAG_KEY_PART_IDENTIFIER);
	set = row_text(&l, ROW_SPLIT_SET);
	if (id < 1 || id > me.parts || me.parts > SPLIT_PARTS_MAX) {
		rc = bad_field(it, "a part's Key Part Identifier is not one we can join");
		goto out;
	}
	if (first) {
		char *keep = NULL;
		if (set != NULL && (rc = ops_cstr(r, set, strlen(set), &keep)) != CF_OK)
			goto out;
		*js = me;
		js->set = keep;
	} else if (me.parts != js->parts || me.threshold != js->threshold ||
		   me.method != js->method || me.alg != js->alg || me.len != js->len ||
		   (set == NULL) != (js->set == NULL) ||
		   (set != NULL && strcmp(set, js->set) != 0)) {
		rc = bad_field(it, "the parts are not of the same split");
		goto out;
	}
	*x = (uint8_t)id;
	rc = unwrap(r, it, &o, k, kn);
out:
	store_attr_list_free(&l);
	store_object_free(&o);
	return rc;
}

/* The joined object's rows and precedence: Secret Data keeps its Secret Data Type (the
 * request's, else Seed) and Key Format Type Opaque, as Derive Key's; a Symmetric Key takes
 * the parts' algorithm unless the template names one, and the length of the joined bytes. */
static cf_err join_new(struct ops_req *r, struct ops_item *it, const struct kmip_req_join_split *q,
		       const struct join_split *js, size_t n, struct store_attr *rows,
		       struct ops_new_obj *nw)
{
	const struct kmip_attr *len = kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH);
	uint32_t l;

	memset(nw, 0, sizeof *nw);
	nw->type = q->object_type;
	nw->tmpl = &q->t;
	nw->has_len = true;
	nw->len = (int32_t)(n * 8);
	if (len != NULL && (kmip_attr_get_u32(len, &l) != CF_OK || l != n * 8))
		return bad_field(it, "Cryptographic Length differs from the joined key");
	if (kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM) == NULL && js->alg != 0) {
		nw->has_alg = true;
		nw->alg = js->alg;
	}
	if (kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK) == NULL && js->mask != 0) {
		nw->has_mask = true;
		nw->mask = js->mask;
	}
	if (q->object_type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY) {
		if (!nw->has_alg && kmip_attrs_find(&q->t.a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM) == NULL)
			return bad_field(it, "Cryptographic Algorithm required (the parts have none)");
		if (js->len != 0 && (size_t)js->len != n * 8)
			return bad_field(it, "the parts' Cryptographic Length differs from their "
					     "material");
		nw->digest = true;
		return CF_OK;
	}
	(void)r;
	row_int_set(&rows[0], ROW_SECRET_TYPE, TTLV_ENUMERATION,
		    q->has_secret_type ? q->secret_type : KMIP_SECRET_DATA_TYPE_SEED);
	row_int_set(&rows[1], kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
		    KMIP_KEY_FORMAT_TYPE_OPAQUE);
	nw->extra = rows;
	nw->n_extra = 2;
	return CF_OK;
}

cf_err ops_join_split_key(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_join_split *q = &it->rq->pl.u.join_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.rekey_rsp;
	struct join_split js;
	struct store_attr rows[2];
	struct ops_new_obj nw;
	const uint8_t **sh = NULL;
	uint8_t *xs = NULL, *out = NULL;
	size_t *lens = NULL, n = 0;
	char uid[STORE_UUID_LEN + 1];
	void *v;
	cf_err rc;

	memset(&js, 0, sizeof js);
	if (q->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    q->object_type != KMIP_OBJECT_TYPE_SECRET_DATA)
		return bad_type(r, it, "Join Split Key makes a Symmetric Key or Secret Data");
	if (q->n_uids == 0 || q->n_uids > SPLIT_PARTS_MAX)
		return bad_field(it, "1 to 255 Split Keys");
	TRY(kmip_arena_alloc(&r->w->arena, q->n_uids, sizeof *sh, &v));
	sh = v;
	TRY(kmip_arena_alloc(&r->w->arena, q->n_uids, 1, &v));
	xs = v;
	TRY(kmip_arena_alloc(&r->w->arena, q->n_uids, sizeof *lens, &v));
	lens = v;
	for (size_t i = 0; i < q->n_uids; i++) {
		uint8_t *k = NULL;
		if ((rc = join_part(r, it, q->uids[i], i == 0, &js, &k, &lens[i], &xs[i])) != CF_OK)
			goto out;
		sh[i] = k;
		for (size_t j = 0; j < i; j++)
			if (xs[j] == xs[i]) {
				rc = bad_field(it, "the same Key Part Identifier twice");
				goto out;
			}
		if (lens[i] != lens[0]) {
			rc = bad_field(it, "the parts differ in length");
			goto out;
		}
	}
	n = lens[0];
	if (js.method != KMIP_SPLIT_KEY_METHOD_XOR &&
	    js.method != KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_GF_28) {
		rc = bad_field(it, "Split Key Method not supported: XOR and Polynomial Sharing "
				   "GF(2^8) only");
		goto out;
	}
	/*= kmip-spec-v1.4 section 11.40 Table 363: Number of Unique Identifiers given in request
	 *# is less than Split Key Threshold: Operation Failed, Cryptographic Failure */
	if ((int64_t)q->n_uids < js.threshold ||
	    (js.method == KMIP_SPLIT_KEY_METHOD_XOR && (int64_t)q->n_uids != js.parts)) {
		rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
			      "fewer parts than the Split Key Threshold");
		goto out;
	}
	if ((rc = ops_keybuf(r, n, &out)) != CF_OK) {
		out = NULL;
		rc = ops_fail(it, rc, KMIP_RESULT_REASON_GENERAL_FAILURE, "too many key parts");
		goto out;
	}
	if (js.method == KMIP_SPLIT_KEY_METHOD_XOR)
		rc = split_xor_join(sh, (unsigned)q->n_uids, n, out);
	else
		rc = split_gf256_join(sh, xs, (unsigned)q->n_uids, n, out);
	if (rc != CF_OK) {
		rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
			      "the parts do not join");
		goto out;
	}
	for (size_t i = 0; i < q->n_uids; i++) { /* the shares go before the key is sealed */
		sec_wipe((uint8_t *)sh[i], lens[i]);
		sh[i] = NULL;
	}
	if ((rc = join_new(r, it, q, &js, n, rows, &nw)) != CF_OK ||
	    (rc = store_uid_new(ops_rng, r, uid)) != CF_OK)
		goto out;
	nw.material = out;
	nw.n = n;
	rc = ops_create_obj(r, it, &nw, uid, &s->uid);
out:
	for (size_t i = 0; sh != NULL && i < q->n_uids; i++)
		if (sh[i] != NULL)
			sec_wipe((uint8_t *)sh[i], lens[i]);
	if (out != NULL)
		sec_wipe(out, n);
	return rc;
}
