/* Get, Get Attributes, Get Attribute List. */
#include <stdlib.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

#define ROW_SECRET_TYPE "Secret Data Type"
#define N_COLUMNS_MAX 16

static bool destroyed(const struct store_object *o)
{
	return o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED ||
	       o->wrapped == NULL;
}

/* An integer row of the list (0 when absent). */
static uint32_t pick_int(const struct store_attr_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->a[i].name, name) == 0 && l->a[i].has_int)
			return (uint32_t)l->a[i].v_int;
	return 0;
}

static uint32_t pick_tag(const struct store_attr_list *l, uint32_t tag)
{
	return pick_int(l, kmip_tag_name(tag));
}

/* Split Key fields from the rows (Prime Field Size copied into the arena). */
static cf_err split_of(struct ops_req *r, const struct store_attr_list *l, struct kmip_split *sp)
{
	const char *prime = kmip_tag_name(KMIP_TAG_PRIME_FIELD_SIZE);
	sp->parts = (int32_t)pick_tag(l, KMIP_TAG_SPLIT_KEY_PARTS);
	sp->part_id = (int32_t)pick_tag(l, KMIP_TAG_KEY_PART_IDENTIFIER);
	sp->threshold = (int32_t)pick_tag(l, KMIP_TAG_SPLIT_KEY_THRESHOLD);
	sp->method = pick_tag(l, KMIP_TAG_SPLIT_KEY_METHOD);
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->a[i].name, prime) == 0 && l->a[i].v_blob != NULL) {
			void *p;
			TRY(ops_dup(r, l->a[i].v_blob, l->a[i].v_blob_len, &p));
			sp->prime = (struct kmip_bytes){ p, l->a[i].v_blob_len };
		}
	}
	return CF_OK;
}

static bool is_asym(uint32_t type)
{
	return type == KMIP_OBJECT_TYPE_PUBLIC_KEY || type == KMIP_OBJECT_TYPE_PRIVATE_KEY;
}

/* The answer's shape before the material: the Key Format Type (*format, 0 = no Key Block)
 * and the object's own fields, from the stored rows. */
static cf_err get_shape(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			const struct kmip_req_get *q, struct kmip_object *obj, uint32_t *format)
{
	struct store_attr_list l = { 0 };
	uint32_t kft;
	cf_err rc = CF_OK;

	*format = 0;
	/* a symmetric key needs no row (the hot path: one object read only) */
	if (o->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY)
		TRY(store_attr_get(r->w->st, r->who.tenant, o->uid, NULL, 0, &l));
	kft = pick_tag(&l, KMIP_TAG_KEY_FORMAT_TYPE);
	switch (o->object_type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
		*format = q->has_format ? q->format : KMIP_KEY_FORMAT_TYPE_RAW;
		if (*format != KMIP_KEY_FORMAT_TYPE_RAW &&
		    *format != KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY)
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				      "symmetric keys: Raw or Transparent Symmetric Key");
		break;
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		/* the registered format unless another is asked; ops_keyfmt_export decides */
		*format = q->has_format ? q->format : kft;
		break;
	case KMIP_OBJECT_TYPE_SECRET_DATA:
	case KMIP_OBJECT_TYPE_SPLIT_KEY:
	case KMIP_OBJECT_TYPE_PGP_KEY:
		*format = kft;
		if (q->has_format && q->format != kft)
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				      "kept in its registered format only");
		obj->secret_type = pick_int(&l, ROW_SECRET_TYPE);
		if (rc == CF_OK && o->object_type == KMIP_OBJECT_TYPE_SPLIT_KEY)
			rc = split_of(r, &l, &obj->split);
		obj->pgp_version = (int32_t)pick_tag(&l, KMIP_TAG_PGP_KEY_VERSION);
		break;
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT:
	case KMIP_OBJECT_TYPE_CERTIFICATE:
		if (q->has_format)
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				      "this object type has no Key Format Type");
		obj->opaque_type = pick_tag(&l, KMIP_TAG_OPAQUE_DATA_TYPE);
		obj->cert_type = pick_tag(&l, KMIP_TAG_CERTIFICATE_TYPE);
		break;
	default:
		rc = ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_GENERAL_FAILURE,
			      "object type not served");
		break;
	}
	store_attr_list_free(&l);
	return rc;
}

/* The unwrapped material k[kn] (canonical form) into the answer's object. */
static cf_err get_fill(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		       uint32_t format, uint8_t *k, size_t kn, struct kmip_object *obj)
{
	struct kmip_key_block *kb = &obj->kb;

	obj->type = o->object_type;
	if (o->object_type == KMIP_OBJECT_TYPE_OPAQUE_OBJECT) {
		obj->opaque = (struct kmip_bytes){ k, kn };
		return CF_OK;
	}
	if (o->object_type == KMIP_OBJECT_TYPE_CERTIFICATE) {
		obj->cert = (struct kmip_bytes){ k, kn };
		return CF_OK;
	}
	kb->format = format;
	kb->has_value = true;
	if (is_asym(o->object_type)) {
		TRY(ops_keyfmt_export(r, it, o->object_type, k, kn, format, kb));
		if (kb->material.p != k)
			sec_wipe(k, kn); /* converted: the canonical form is not answered */
	} else {
		kb->material_type = format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY
					    ? TTLV_STRUCTURE : TTLV_BYTE_STRING;
		kb->material = (struct kmip_bytes){ k, kn };
	}
	kb->has_alg = o->crypto_alg != 0;
	kb->alg = o->crypto_alg;
	kb->has_len = o->crypto_len != 0;
	kb->len = o->crypto_len;
	return CF_OK;
}

/* The key material of a destroyed object no longer exists: 1.x has no reason for that but Item
 * Not Found (what a 1.x client expects); 2.0 says Object Destroyed. Its attributes stay
 * readable (Get Attributes). */
static cf_err get_destroyed(struct ops_req *r, struct ops_item *it)
{
	return ops_fail(it, CF_E_NOT_FOUND,
			r->ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_OBJECT_DESTROYED
					    : KMIP_RESULT_REASON_ITEM_NOT_FOUND,
			"object destroyed");
}

cf_err ops_get(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_get *q = &it->rq->pl.u.get_req;
	struct kmip_rsp_get *s = &it->rs->pl.u.get_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	uint8_t *k = NULL;
	size_t kn = 0;
	uint32_t format = 0;
	struct hsm_bind b;
	hsm_sess *sess;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (destroyed(&o)) {
		rc = get_destroyed(r, it);
		goto out;
	}
	if ((rc = ops_wrap_type_check(r, it, q)) != CF_OK)
		goto out;
	if (q->has_compression) {
		rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_COMPRESSION_TYPE_NOT_SUPPORTED,
			      "key compression not supported");
		goto out;
	}
	if ((rc = get_shape(r, it, &o, q, &s->obj, &format)) != CF_OK)
		goto out;
	if (q->wrap_spec.p != NULL) { /* Key Wrapping Specification: wrapped in the HSM */
		rc = ops_wrap_get(r, it, &o, format, s);
		goto out;
	}
	if ((rc = ops_sess(r, &sess)) != CF_OK)
		goto out;
	if ((rc = ops_keybuf(r, HSM_DEK_MAX, &k)) != CF_OK) {
		rc = ops_fail(it, CF_E_NO_SPACE, KMIP_RESULT_REASON_RESPONSE_TOO_LARGE,
			      "too many keys in one response");
		goto out;
	}
	b = (struct hsm_bind){ (const uint8_t *)o.uid, strlen(o.uid), o.object_type };
	rc = hsm_dek_unwrap(sess, o.wrapped, o.wrapped_len, &b, k, HSM_DEK_MAX, &kn);
	ops_keybuf_trim(r, k, HSM_DEK_MAX, kn);
	if (rc != CF_OK)
		goto out;
	s->object_type = s->obj.type = o.object_type;
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	rc = get_fill(r, it, &o, format, k, kn, &s->obj);
out: /* (rc is CF_OK here unless a step failed) */
	ops_srvattr_got(r, &o, rc); /* the material was returned (wrapped or not) */
	store_object_free(&o);
	return rc;
}

/* Append the converted rows of l to the response list (rows that are not attributes in this
 * version are skipped). */
static cf_err add_rows(struct ops_req *r, const struct store_attr_list *l, struct kmip_attr *v,
		       size_t cap, size_t *n)
{
	for (size_t i = 0; i < l->n; i++) {
		if (*n >= cap)
			return CF_E_TOO_MANY;
		if (ops_attr_from_store(r, &l->a[i], &v[*n]) == CF_OK)
			(*n)++;
	}
	return CF_OK;
}

cf_err ops_get_attributes(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_get_attrs *q = &it->rq->pl.u.get_attrs_req;
	struct kmip_rsp_get_attrs *s = &it->rs->pl.u.get_attrs_rsp;
	struct store_object o = { 0 };
	struct store_attr_list l = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	struct kmip_attr *v = NULL;
	size_t n = 0, cap;
	void *p;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (q->refs.n == 0) {
		if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, NULL, 0, &l)) != CF_OK)
			goto out;
		cap = N_COLUMNS_MAX + ops_srvattr_max() + l.n;
		if ((rc = kmip_arena_alloc(&r->w->arena, cap, sizeof *v, &p)) != CF_OK)
			goto out;
		v = p;
		if ((rc = ops_attr_columns(r, &o, NULL, v, cap, &n)) != CF_OK)
			goto out;
		if ((rc = ops_srvattr_add(r, &o, NULL, &l, v, cap, &n)) != CF_OK)
			goto out;
		if ((rc = add_rows(r, &l, v, cap, &n)) != CF_OK)
			goto out;
	} else {
		/* one pass per reference, in the client's order; a name asked twice once */
		size_t total = 0;
		for (size_t i = 0; i < q->refs.n; i++) {
			if ((rc = ops_ref_name(&q->refs.v[i], name)) != CF_OK) {
				rc = ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
					      "attribute name");
				goto out;
			}
			if (ops_attr_is_column(name)) {
				total += 1;
				continue;
			}
			const char *names[1] = { name };
			if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l)) != CF_OK)
				goto out;
			total += l.n + (ops_srvattr_is(name) ? 1 : 0);
			store_attr_list_free(&l);
		}
		cap = total;
		if ((rc = kmip_arena_alloc(&r->w->arena, cap, sizeof *v, &p)) != CF_OK)
			goto out;
		v = p;
		for (size_t i = 0; i < q->refs.n; i++) {
			bool seen = false;
			if ((rc = ops_ref_name(&q->refs.v[i], name)) != CF_OK)
				goto out;
			for (size_t j = 0; j < i && !seen; j++) {
				char other[STORE_NAME_MAX + 1];
				seen = ops_ref_name(&q->refs.v[j], other) == CF_OK &&
				       strcmp(other, name) == 0;
			}
			if (seen)
				continue;
			if (ops_attr_is_column(name)) {
				if ((rc = ops_attr_columns(r, &o, name, v, cap, &n)) != CF_OK)
					goto out;
				continue;
			}
			const char *names[1] = { name };
			if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l)) != CF_OK)
				goto out;
			rc = add_rows(r, &l, v, cap, &n);
			if (rc == CF_OK && ops_srvattr_is(name))
				rc = ops_srvattr_add(r, &o, name, &l, v, cap, &n);
			store_attr_list_free(&l);
			if (rc != CF_OK)
				goto out;
		}
	}
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	s->t.present = r->ver >= KMIP_V2_0 || n > 0;
	s->t.a = (struct kmip_attrs){ v, n };
	rc = CF_OK;
out:
	store_attr_list_free(&l);
	store_object_free(&o);
	return rc;
}

cf_err ops_get_attribute_list(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_uid_only *q = &it->rq->pl.u.uid_req;
	struct kmip_rsp_get_attr_list *s = &it->rs->pl.u.get_attr_list_rsp;
	struct store_object o = { 0 };
	struct store_str_list names = { 0 };
	struct kmip_attr cols[N_COLUMNS_MAX];
	uint32_t srv[N_COLUMNS_MAX];
	char uid[STORE_UID_MAX + 1];
	size_t nc = 0, ns = 0, n = 0;
	struct kmip_attr_ref *v;
	void *p;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if ((rc = ops_attr_columns(r, &o, NULL, cols, N_COLUMNS_MAX, &nc)) != CF_OK)
		goto out;
	if ((rc = ops_srvattr_names(r, &o, srv, N_COLUMNS_MAX, &ns)) != CF_OK)
		goto out;
	if ((rc = store_attr_names(r->w->st, r->who.tenant, uid, &names)) != CF_OK)
		goto out;
	if ((rc = kmip_arena_alloc(&r->w->arena, nc + ns + names.n, sizeof *v, &p)) != CF_OK)
		goto out;
	v = p;
	for (size_t i = 0; i < nc; i++)
		v[n++] = (struct kmip_attr_ref){ .tag = cols[i].tag };
	for (size_t i = 0; i < ns; i++) {
		bool row = false; /* a client-set row of that name is listed below */
		for (size_t j = 0; j < names.n && !row; j++)
			row = strcmp(names.s[j], kmip_tag_name(srv[i])) == 0;
		if (!row)
			v[n++] = (struct kmip_attr_ref){ .tag = srv[i] };
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *nm = names.s[i];
		size_t len = strlen(nm);
		char *c;
		uint32_t tag = 0;
		if (!(len >= 2 && (nm[0] == 'x' || nm[0] == 'y') && nm[1] == '-')) {
			const struct kmip_tag_info *ti = kmip_tag_by_name(nm, len);
			if (ti == NULL || kmip_attr_rule_for(ti->tag, r->ver) == NULL)
				continue; /* internal row */
			tag = ti->tag;
		}
		if ((rc = ops_cstr(r, nm, len, &c)) != CF_OK)
			goto out;
		v[n++] = (struct kmip_attr_ref){ .tag = tag, .name = { c, len } };
	}
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	s->refs = (struct kmip_attr_refs){ v, n };
	rc = CF_OK;
out:
	store_str_list_free(&names);
	store_object_free(&o);
	return rc;
}
