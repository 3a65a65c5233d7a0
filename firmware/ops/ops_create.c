/* Create (symmetric keys generated in the HSM) and Register (symmetric key, secret data,
 * opaque object wrapped under the current KEK). Key material never reaches the store
 * unwrapped; the object is Pre-Active unless an Activation Date <= now makes it Active. */
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

/* Internal rows (not attributes in 1.x; "Key Format Type" and "Opaque Data Type" are 2.0
 * attributes and show there). */
#define ROW_SECRET_TYPE "Secret Data Type"

struct tmpl_out {
	bool has_alg, has_len;
	uint32_t alg;
	int32_t len;
	uint32_t mask;
	int64_t activation, deactivation;
	struct store_attr *rows;
	size_t n_rows;
	size_t cap_rows;
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static cf_err bad(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

static cf_err tmpl_take(struct ops_req *r, struct ops_item *it, uint32_t op,
			const struct kmip_tmpl *t, size_t extra_rows, struct tmpl_out *out)
{
	void *p;
	cf_err rc;

	memset(out, 0, sizeof *out);
	out->cap_rows = t->a.n + extra_rows;
	TRY(kmip_arena_alloc(&r->w->arena, out->cap_rows, sizeof *out->rows, &p));
	out->rows = p;
	if (t->names.p != NULL && t->names.n > 0)
		return bad(it, "templates are not supported");
	for (size_t i = 0; i < t->a.n; i++) {
		const struct kmip_attr *a = &t->a.v[i];
		const struct kmip_attr_rule *rule;
		char name[STORE_NAME_MAX + 1], *nm;

		rc = kmip_attr_client_may(a, op, r->ver);
		if (rc == CF_E_PERMISSION)
			return ops_fail(it, CF_E_PERMISSION, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_ATTRIBUTE_READ_ONLY :
					KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute is set by the server");
		if (rc != CF_OK)
			return bad(it, "not an attribute in this version");
		rule = a->tag != 0 ? kmip_attr_rule_for(a->tag, r->ver) : kmip_attr_rule_custom();
		if (a->tag != 0 && rule != NULL && (rule->flags & KMIP_AF_MULTI) == 0)
			for (size_t j = 0; j < i; j++)
				if (t->a.v[j].tag == a->tag)
					return bad(it, "single-valued attribute given twice");
		switch (a->tag) {
		case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
			if (kmip_attr_get_u32(a, &out->alg) != CF_OK)
				return bad(it, "Cryptographic Algorithm");
			out->has_alg = true;
			continue;
		case KMIP_TAG_CRYPTOGRAPHIC_LENGTH: {
			uint32_t v;
			if (kmip_attr_get_u32(a, &v) != CF_OK || v == 0 || v > 0x7fffffffu)
				return bad(it, "Cryptographic Length");
			out->len = (int32_t)v;
			out->has_len = true;
			continue;
		}
		case KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
			if (kmip_attr_get_u32(a, &out->mask) != CF_OK)
				return bad(it, "Cryptographic Usage Mask");
			continue;
		case KMIP_TAG_ACTIVATION_DATE:
		case KMIP_TAG_DEACTIVATION_DATE: {
			if (a->type != TTLV_DATE_TIME || a->val.n != 8)
				return bad(it, "date expected");
			int64_t d = (int64_t)be64(a->val.p);
			if (d <= 0)
				return bad(it, "date out of range");
			if (a->tag == KMIP_TAG_ACTIVATION_DATE)
				out->activation = d;
			else
				out->deactivation = d;
			continue;
		}
		default:
			break;
		}
		if ((rc = ops_attr_name(a, name)) != CF_OK)
			return bad(it, "attribute name");
		TRY(ops_cstr(r, name, strlen(name), &nm));
		if ((rc = ops_attr_to_store(r, a, nm, &out->rows[out->n_rows])) != CF_OK)
			return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute value");
		out->n_rows++;
	}
	return CF_OK;
}

static cf_err add_row_int(struct tmpl_out *t, const char *name, uint8_t type, int64_t v)
{
	if (t->n_rows >= t->cap_rows)
		return CF_E_INTERNAL;
	struct store_attr *sa = &t->rows[t->n_rows++];
	memset(sa, 0, sizeof *sa);
	sa->name = name;
	sa->value_type = type;
	sa->has_int = true;
	sa->v_int = v;
	return CF_OK;
}

/* Insert the object with the wrapped blob; answer the uid. */
static cf_err insert(struct ops_req *r, struct ops_item *it, const char *uid, uint32_t type,
		     const struct tmpl_out *t, uint8_t *blob, size_t blob_n, struct kmip_text *uid_out)
{
	struct store_object o;
	struct hsm_blob_info bi;

	TRY(hsm_blob_info_get(blob, blob_n, &bi));
	memset(&o, 0, sizeof o);
	strcpy(o.uid, uid);
	o.object_type = type;
	o.state = (t->activation != 0 && t->activation <= r->now) ? STORE_STATE_ACTIVE
								   : STORE_STATE_PRE_ACTIVE;
	strcpy(o.tenant, r->who.tenant);
	strcpy(o.owner, r->who.actor);
	o.kek_version = bi.kek_version;
	o.wrapped = blob;
	o.wrapped_len = blob_n;
	o.crypto_alg = t->has_alg ? t->alg : 0;
	o.crypto_len = t->has_len ? t->len : 0;
	o.usage_mask = t->mask;
	o.created = r->now;
	o.activation = t->activation;
	o.deactivation = t->deactivation;
	o.last_change = r->now;
	TRY(store_object_insert(r->w->st, &o, t->rows, t->n_rows));
	memcpy(r->placeholder, uid, strlen(uid) + 1);
	memcpy(it->uid, uid, strlen(uid) + 1);
	return ops_text(r, uid, uid_out);
}

/* The checks of ops_create that need no store, with the template parsed into *t. */
static cf_err create_check(struct ops_req *r, struct ops_item *it, struct tmpl_out *t)
{
	const struct kmip_req_create *q = &it->rq->pl.u.create_req;
	if (q->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"only symmetric keys can be created");
	TRY(tmpl_take(r, it, KMIP_OPERATION_CREATE, &q->t, 0, t));
	if (!t->has_alg)
		return bad(it, "Cryptographic Algorithm required");
	if (t->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES)
		return bad(it, "only AES keys can be created");
	if (!t->has_len)
		return bad(it, "Cryptographic Length required");
	if (t->len != 128 && t->len != 192 && t->len != 256)
		return bad(it, "AES length must be 128, 192 or 256");
	return CF_OK;
}

void ops_create_prep(struct ops_req *r, struct ops_item *it)
{
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	size_t blob_n = 0;
	void *p = NULL;

	it->prepped = false;
	if (create_check(r, it, &t) != CF_OK || ops_sess(r, &sess) != CF_OK ||
	    store_uid_new(ops_rng, r, it->prep_uid) != CF_OK)
		goto out;
	b = (struct hsm_bind){ (const uint8_t *)it->prep_uid, strlen(it->prep_uid),
			       KMIP_OBJECT_TYPE_SYMMETRIC_KEY };
	if (hsm_dek_generate(sess, (size_t)t.len / 8, &b, blob, sizeof blob, &blob_n) != CF_OK ||
	    ops_dup(r, blob, blob_n, &p) != CF_OK)
		goto out;
	it->prep_blob = p;
	it->prep_blob_n = blob_n;
	it->prepped = true;
out:
	sec_wipe(blob, sizeof blob);
	/* nothing of a failed preparation shows: ops_create redoes it and reports */
	it->msg = NULL;
	it->reason = 0;
}

cf_err ops_create(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_create *q = &it->rq->pl.u.create_req;
	struct kmip_rsp_create *s = &it->rs->pl.u.create_rsp;
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	char uid[STORE_UUID_LEN + 1];
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	size_t blob_n = 0;
	cf_err rc = CF_E_INTERNAL;

	TRY(create_check(r, it, &t));
	if (it->prepped) {
		rc = insert(r, it, it->prep_uid, q->object_type, &t, it->prep_blob,
			    it->prep_blob_n, &s->uid);
		if (rc == CF_OK)
			s->object_type = q->object_type;
		return rc;
	}
	TRY(ops_sess(r, &sess));
	TRY(store_uid_new(ops_rng, r, uid));
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), KMIP_OBJECT_TYPE_SYMMETRIC_KEY };
	if ((rc = hsm_dek_generate(sess, (size_t)t.len / 8, &b, blob, sizeof blob, &blob_n)) != CF_OK)
		goto out;
	if ((rc = insert(r, it, uid, q->object_type, &t, blob, blob_n, &s->uid)) != CF_OK)
		goto out;
	s->object_type = q->object_type;
	rc = CF_OK;
out:
	sec_wipe(blob, sizeof blob);
	return rc;
}

/* Key Wrapping Data: unwrapped in the HSM, sealed under the KEK bound to b (ops_wrap.c); a
 * symmetric key's Cryptographic Length, if given, must match the unwrapped key, else is set. */
static cf_err register_wrapped(struct ops_req *r, struct ops_item *it, uint32_t type,
			       const struct kmip_key_block *kb, struct tmpl_out *t,
			       const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n)
{
	size_t dn = 0;
	TRY(ops_wrap_register(r, it, kb, b, blob, cap, blob_n, &dn));
	if (type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY)
		return CF_OK;
	if (t->has_len && (size_t)t->len != dn * 8)
		return bad(it, "Cryptographic Length does not match the key");
	t->has_len = true;
	t->len = (int32_t)(dn * 8);
	return CF_OK;
}

cf_err ops_register(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_register *q = &it->rq->pl.u.register_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.register_rsp;
	const struct kmip_key_block *kb = &q->obj.kb;
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	char uid[STORE_UUID_LEN + 1];
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	const uint8_t *mat = NULL;
	size_t mat_n = 0, blob_n = 0;
	cf_err rc = CF_E_INTERNAL;

	TRY(tmpl_take(r, it, KMIP_OPERATION_REGISTER, &q->t, 2, &t));
	if (q->obj.type != q->object_type)
		return bad(it, "object does not match Object Type");
	switch (q->object_type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
	case KMIP_OBJECT_TYPE_SECRET_DATA:
		if (!kb->has_value)
			return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
					"Key Value required");
		if (kb->has_compression)
			return ops_fail(it, CF_E_BAD_OBJECT,
					KMIP_RESULT_REASON_KEY_COMPRESSION_TYPE_NOT_SUPPORTED,
					"key compression not supported");
		if (q->object_type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY) {
			if (kb->format != KMIP_KEY_FORMAT_TYPE_RAW &&
			    kb->format != KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY)
				return ops_fail(it, CF_E_BAD_OBJECT,
						KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
						"symmetric keys: Raw or Transparent Symmetric Key");
		} else if (!kb->value_wrapped && kb->material_type != TTLV_BYTE_STRING) {
			return ops_fail(it, CF_E_BAD_OBJECT,
					KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
					"secret data: byte string key material");
		}
		mat = kb->value_wrapped ? kb->wrapped_value.p : kb->material.p;
		mat_n = kb->value_wrapped ? kb->wrapped_value.n : kb->material.n;
		if (kb->has_alg) {
			if (t.has_alg && t.alg != kb->alg)
				return bad(it, "Cryptographic Algorithm differs from the key block");
			t.has_alg = true;
			t.alg = kb->alg;
		}
		if (kb->has_len) {
			if (t.has_len && t.len != kb->len)
				return bad(it, "Cryptographic Length differs from the key block");
			t.has_len = true;
			t.len = kb->len;
		}
		if (q->object_type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY && kb->wrapping.p != NULL) {
			/* wrapped: the length is checked once unwrapped */
		} else if (q->object_type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY) {
			if (!t.has_len) {
				t.has_len = true;
				t.len = (int32_t)(mat_n * 8);
			}
			if ((size_t)t.len != mat_n * 8)
				return bad(it, "Cryptographic Length does not match the key");
		} else {
			TRY(add_row_int(&t, ROW_SECRET_TYPE, TTLV_ENUMERATION, q->obj.secret_type));
			TRY(add_row_int(&t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
					kb->format));
		}
		break;
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT:
		mat = q->obj.opaque.p;
		mat_n = q->obj.opaque.n;
		TRY(add_row_int(&t, kmip_tag_name(KMIP_TAG_OPAQUE_DATA_TYPE), TTLV_ENUMERATION,
				q->obj.opaque_type));
		break;
	default:
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"object type not supported");
	}
	if (mat == NULL || mat_n == 0 || mat_n > HSM_DEK_MAX)
		return bad(it, "object value empty or too large");
	TRY(ops_sess(r, &sess));
	TRY(store_uid_new(ops_rng, r, uid));
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), q->object_type };
	if (kb->wrapping.p != NULL && q->object_type != KMIP_OBJECT_TYPE_OPAQUE_OBJECT)
		rc = register_wrapped(r, it, q->object_type, kb, &t, &b, blob, sizeof blob, &blob_n);
	else
		rc = hsm_dek_wrap(sess, mat, mat_n, &b, blob, sizeof blob, &blob_n);
	if (rc != CF_OK)
		goto out;
	rc = insert(r, it, uid, q->object_type, &t, blob, blob_n, &s->uid);
out:
	sec_wipe(blob, sizeof blob);
	return rc;
}
