/* Create (symmetric keys generated in the HSM) and Register (every object type but templates,
 * its canonical form wrapped under the current KEK: docs/kmip-server.md "Object types").
 * Key material never reaches the store unwrapped; the object is Pre-Active unless an
 * Activation Date <= now makes it Active. */
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
		     const struct tmpl_out *t, uint8_t *blob, size_t blob_n, const uint8_t *digest,
		     uint32_t srv_flags, struct kmip_text *uid_out)
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
	o.srv_flags = srv_flags;
	if (digest != NULL) {
		memcpy(o.digest, digest, sizeof o.digest);
		o.has_digest = true;
	}
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
	if (t->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES && t->alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES)
		return bad(it, "only AES and 3DES keys can be created");
	if (!t->has_len)
		return bad(it, "Cryptographic Length required");
	if (t->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_AES && t->len != 128 && t->len != 192 &&
	    t->len != 256)
		return bad(it, "AES length must be 128, 192 or 256");
	/* 3DES: three-key (168 bits of key, 24 bytes with parity; 192 names the same bytes) or
	 * two-key (112 bits, 16 bytes); NIST SP 800-67 */
	if (t->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES && t->len != 112 && t->len != 168 &&
	    t->len != 192)
		return bad(it, "3DES length must be 112, 168 or 192");
	return CF_OK;
}

/* Bytes of key material for the checked template. */
static size_t create_bytes(const struct tmpl_out *t)
{
	if (t->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES)
		return t->len == 112 ? 16 : 24;
	return (size_t)t->len / 8;
}

void ops_create_prep(struct ops_req *r, struct ops_item *it)
{
	uint8_t blob[OPS_SYM_BLOB_MAX];
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
	if (hsm_dek_make(sess, NULL, create_bytes(&t), ops_srvattr_make_flags(t.alg), &b, blob,
			 sizeof blob, &blob_n, it->prep_digest) != CF_OK ||
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
	uint8_t blob[OPS_SYM_BLOB_MAX], digest[HSM_SHA256_LEN];
	char uid[STORE_UUID_LEN + 1];
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	size_t blob_n = 0;
	cf_err rc = CF_E_INTERNAL;

	TRY(create_check(r, it, &t));
	if (it->prepped) {
		rc = insert(r, it, it->prep_uid, q->object_type, &t, it->prep_blob,
			    it->prep_blob_n, it->prep_digest, STORE_SF_GENERATED, &s->uid);
		if (rc == CF_OK)
			s->object_type = q->object_type;
		return rc;
	}
	TRY(ops_sess(r, &sess));
	TRY(store_uid_new(ops_rng, r, uid));
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), KMIP_OBJECT_TYPE_SYMMETRIC_KEY };
	if ((rc = hsm_dek_make(sess, NULL, create_bytes(&t), ops_srvattr_make_flags(t.alg), &b,
			       blob, sizeof blob, &blob_n, digest)) != CF_OK)
		goto out;
	if ((rc = insert(r, it, uid, q->object_type, &t, blob, blob_n, digest, STORE_SF_GENERATED,
			 &s->uid)) != CF_OK)
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

/* The checks every Key Block of a Register passes: present, not compressed; not wrapped
 * unless `wrapped_ok` (Symmetric Key, Secret Data: unwrapped in the HSM). */
static cf_err kb_plain(struct ops_item *it, const struct kmip_key_block *kb, bool wrapped_ok)
{
	if (!kb->has_value)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"Key Value required");
	if (!wrapped_ok && (kb->value_wrapped || kb->wrapping.p != NULL))
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"wrapped key material is not accepted");
	if (kb->has_compression)
		return ops_fail(it, CF_E_BAD_OBJECT,
				KMIP_RESULT_REASON_KEY_COMPRESSION_TYPE_NOT_SUPPORTED,
				"key compression not supported");
	return CF_OK;
}

/* The Key Block's algorithm and length merged into the template's (they must agree). */
static cf_err kb_merge(struct ops_item *it, const struct kmip_key_block *kb, struct tmpl_out *t)
{
	if (kb->has_alg) {
		if (t->has_alg && t->alg != kb->alg)
			return bad(it, "Cryptographic Algorithm differs from the key block");
		t->has_alg = true;
		t->alg = kb->alg;
	}
	if (kb->has_len) {
		if (t->has_len && t->len != kb->len)
			return bad(it, "Cryptographic Length differs from the key block");
		t->has_len = true;
		t->len = kb->len;
	}
	return CF_OK;
}

/* What a Register stores: the material (canonical form) to wrap. */
struct reg_mat {
	const uint8_t *p;
	size_t n;
	uint8_t *locked;     /* keybuf block holding a converted key (wiped after the wrap) */
	size_t locked_cap;
	bool wrapped;        /* Key Wrapping Data: p is the wrapped value, unwrapped in the HSM */
	bool has_digest;     /* digest taken already (a Public / Private Key's, ops_keyfmt.c) */
	uint8_t digest[HSM_SHA256_LEN]; /* the Digest Value (objects.digest, ops_srvattr.c) */
	uint32_t digest_fmt; /* Key Format Type it was taken over when not the type's default */
};

/* The objects whose Digest is the SHA-256 of the bytes wrapped, taken by the HSM in the wrap's
 * job: Symmetric Key (Raw), Certificate (its DER). Secret Data, Opaque Objects and Split Keys
 * get none: a SHA-256 of a low-entropy secret (a password) in the store would allow an offline
 * guess (KMIP 1.4 section 3.17 asks for one "provided that the server has access" to the
 * material; docs/kmip-server.md "Object types"). A Public / Private Key's, and a Transparent
 * Symmetric Key's, is taken in the registered Key Format Type (3.17) by ops_keyfmt_digest_reg. */
static bool reg_digested(uint32_t type)
{
	return type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY || type == KMIP_OBJECT_TYPE_CERTIFICATE;
}

static cf_err reg_symmetric(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
			    struct tmpl_out *t, struct reg_mat *m)
{
	const struct kmip_key_block *kb = &obj->kb;

	TRY(kb_plain(it, kb, true));
	if (obj->type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY) {
		if (kb->format != KMIP_KEY_FORMAT_TYPE_RAW &&
		    kb->format != KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY)
			return ops_fail(it, CF_E_BAD_OBJECT,
					KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
					"symmetric keys: Raw or Transparent Symmetric Key");
	} else if (!kb->value_wrapped && kb->material_type != TTLV_BYTE_STRING) {
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				"secret data: byte string key material");
	}
	m->wrapped = kb->wrapping.p != NULL;
	m->p = kb->value_wrapped ? kb->wrapped_value.p : kb->material.p;
	m->n = kb->value_wrapped ? kb->wrapped_value.n : kb->material.n;
	TRY(kb_merge(it, kb, t));
	if (obj->type == KMIP_OBJECT_TYPE_SECRET_DATA) {
		TRY(add_row_int(t, ROW_SECRET_TYPE, TTLV_ENUMERATION, obj->secret_type));
		return add_row_int(t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
				   kb->format);
	}
	if (m->wrapped)
		return CF_OK; /* the length is checked once unwrapped; no Digest (no plaintext here) */
	if (obj->type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    kb->format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY) {
		/* the Digest of the registered format: the TTLV Key Material structure (3.17) */
		TRY(ops_keyfmt_digest_reg(kb, m->digest));
		m->has_digest = true;
		m->digest_fmt = kb->format;
	}
	if (!t->has_len) {
		t->has_len = true;
		t->len = (int32_t)(m->n * 8);
		if (t->has_alg && t->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES && m->n % 8 == 0)
			t->len = (int32_t)(m->n * 7); /* parity bits do not count */
	}
	if ((size_t)t->len != m->n * 8 &&
	    !(t->has_alg && t->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES && (size_t)t->len == m->n * 7))
		return bad(it, "Cryptographic Length does not match the key");
	return CF_OK;
}

/* Public / Private Key: converted to its canonical DER (ops_keyfmt.c), registered format
 * kept, Digest of the material in the registered Key Format Type (KMIP 1.4 section 3.17). */
static cf_err reg_asym(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
		       struct tmpl_out *t, struct reg_mat *m)
{
	struct kmip_key_block kb = obj->kb;
	struct ops_keyinfo ki;

	TRY(kb_plain(it, &kb, false));
	if (t->has_alg && kb.has_alg && t->alg != kb.alg)
		return bad(it, "Cryptographic Algorithm differs from the key block");
	if (t->has_len && kb.has_len && t->len != kb.len)
		return bad(it, "Cryptographic Length differs from the key block");
	kb.has_alg = kb.has_alg || t->has_alg;
	kb.alg = obj->kb.has_alg ? obj->kb.alg : t->alg;
	kb.has_len = kb.has_len || t->has_len;
	kb.len = obj->kb.has_len ? obj->kb.len : t->len;
	m->locked_cap = HSM_DEK_MAX;
	if (ops_keybuf(r, m->locked_cap, &m->locked) != CF_OK) {
		m->locked = NULL;
		return ops_fail(it, CF_E_NO_SPACE, KMIP_RESULT_REASON_RESPONSE_TOO_LARGE,
				"too many keys in one request");
	}
	TRY(ops_keyfmt_import(r, it, obj->type, &kb, m->locked, m->locked_cap, &m->n, &ki));
	ops_keybuf_trim(r, m->locked, m->locked_cap, m->n); /* import wiped the rest */
	m->locked_cap = m->n;
	m->p = m->locked;
	t->has_alg = ki.alg != 0;
	t->alg = ki.alg;
	t->has_len = ki.len != 0;
	t->len = ki.len;
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION, ki.format));
	TRY(ops_keyfmt_digest_reg(&kb, m->digest));
	m->has_digest = true;
	m->digest_fmt = kb.format;
	return CF_OK;
}

static cf_err reg_cert(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
		       struct tmpl_out *t, struct reg_mat *m)
{
	struct ops_keyinfo ki;

	if (obj->cert_type != KMIP_CERTIFICATE_TYPE_X_509)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"only X.509 certificates");
	TRY(ops_cert_rows(r, it, obj->cert.p, obj->cert.n, t->rows, t->cap_rows, &t->n_rows, &ki));
	if (!t->has_alg && ki.alg != 0) {
		t->has_alg = true;
		t->alg = ki.alg;
	}
	if (!t->has_len && ki.len != 0) {
		t->has_len = true;
		t->len = ki.len;
	}
	m->p = obj->cert.p;
	m->n = obj->cert.n;
	return CF_OK;
}

/* Split Key: the part's bytes wrapped; Split Key Parts / Key Part Identifier / Threshold /
 * Method (and Prime Field Size) kept as internal rows for Get. */
static cf_err reg_split(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
			struct tmpl_out *t, struct reg_mat *m)
{
	const struct kmip_split *sp = &obj->split;

	TRY(kb_plain(it, &obj->kb, false));
	if (obj->kb.material_type != TTLV_BYTE_STRING)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				"split key: byte string key material");
	if (sp->parts < 1 || sp->threshold < 1 || sp->threshold > sp->parts || sp->part_id < 1 ||
	    sp->part_id > sp->parts)
		return bad(it, "Split Key Parts / Threshold / Key Part Identifier");
	TRY(kb_merge(it, &obj->kb, t));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_SPLIT_KEY_PARTS), TTLV_INTEGER, sp->parts));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_KEY_PART_IDENTIFIER), TTLV_INTEGER, sp->part_id));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_SPLIT_KEY_THRESHOLD), TTLV_INTEGER,
			sp->threshold));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_SPLIT_KEY_METHOD), TTLV_ENUMERATION, sp->method));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
			obj->kb.format));
	if (sp->prime.p != NULL) {
		if (t->n_rows >= t->cap_rows || sp->prime.n > STORE_BLOB_MAX)
			return bad(it, "Prime Field Size");
		struct store_attr *sa = &t->rows[t->n_rows++];
		memset(sa, 0, sizeof *sa);
		sa->name = kmip_tag_name(KMIP_TAG_PRIME_FIELD_SIZE);
		sa->value_type = TTLV_BIG_INTEGER;
		sa->v_blob = sp->prime.p;
		sa->v_blob_len = sp->prime.n;
	}
	m->p = obj->kb.material.p;
	m->n = obj->kb.material.n;
	return CF_OK;
}

/* PGP Key (1.4 section 2.2.9): the Key Block's bytes (the ASCII-armored or binary export)
 * kept as an opaque blob, not parsed; PGP Key Version 3 or 4 and the Key Format Type kept as
 * internal rows for Get. A key block with a private part is as secret as any key: wrapped
 * like every object. */
static cf_err reg_pgp(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
		      struct tmpl_out *t, struct reg_mat *m)
{
	TRY(kb_plain(it, &obj->kb, false));
	if (obj->kb.material_type != TTLV_BYTE_STRING)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				"PGP key: byte string key material");
	if (obj->pgp_version != 3 && obj->pgp_version != 4)
		return bad(it, "PGP Key Version: 3 or 4");
	TRY(kb_merge(it, &obj->kb, t));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_PGP_KEY_VERSION), TTLV_INTEGER,
			obj->pgp_version));
	TRY(add_row_int(t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
			obj->kb.format));
	m->p = obj->kb.material.p;
	m->n = obj->kb.material.n;
	return CF_OK;
}

#define REG_EXTRA_ROWS 12u /* rows a Register adds beside the template's */

static cf_err reg_material(struct ops_req *r, struct ops_item *it, const struct kmip_object *obj,
			   struct tmpl_out *t, struct reg_mat *m)
{
	switch (obj->type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
	case KMIP_OBJECT_TYPE_SECRET_DATA:
		return reg_symmetric(r, it, obj, t, m);
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		return reg_asym(r, it, obj, t, m);
	case KMIP_OBJECT_TYPE_CERTIFICATE:
		return reg_cert(r, it, obj, t, m);
	case KMIP_OBJECT_TYPE_SPLIT_KEY:
		return reg_split(r, it, obj, t, m);
	case KMIP_OBJECT_TYPE_PGP_KEY:
		return reg_pgp(r, it, obj, t, m);
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT:
		m->p = obj->opaque.p;
		m->n = obj->opaque.n;
		return add_row_int(t, kmip_tag_name(KMIP_TAG_OPAQUE_DATA_TYPE), TTLV_ENUMERATION,
				   obj->opaque_type);
	default:
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"object type not supported");
	}
}

cf_err ops_register(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_register *q = &it->rq->pl.u.register_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.register_rsp;
	uint8_t *blob = NULL;
	char uid[STORE_UUID_LEN + 1];
	struct reg_mat m = { 0 };
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	size_t blob_n = 0, blob_cap = HSM_DEK_MAX + HSM_BLOB_OVERHEAD;
	void *p;
	cf_err rc = CF_E_INTERNAL;

	TRY(tmpl_take(r, it, KMIP_OPERATION_REGISTER, &q->t, REG_EXTRA_ROWS, &t));
	if (q->obj.type != q->object_type)
		return bad(it, "object does not match Object Type");
	if ((rc = reg_material(r, it, &q->obj, &t, &m)) != CF_OK)
		goto out;
	if (m.p == NULL || m.n == 0 || m.n > HSM_DEK_MAX) {
		rc = bad(it, "object value empty or too large");
		goto out;
	}
	if ((rc = ops_sess(r, &sess)) != CF_OK || (rc = store_uid_new(ops_rng, r, uid)) != CF_OK ||
	    (rc = kmip_arena_alloc(&r->w->arena, blob_cap, 1, &p)) != CF_OK)
		goto out;
	blob = p;
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), q->object_type };
	if (m.wrapped) /* no Digest: the plaintext exists only in the HSM (ops_wrap.c) */
		rc = register_wrapped(r, it, q->object_type, &q->obj.kb, &t, &b, blob, blob_cap,
				      &blob_n);
	else if (m.has_digest || !reg_digested(q->object_type))
		rc = hsm_dek_wrap(sess, m.p, m.n, &b, blob, blob_cap, &blob_n);
	else if ((rc = hsm_dek_make(sess, m.p, m.n, HSM_DEK_DIGEST, &b, blob, blob_cap, &blob_n,
				    m.digest)) == CF_OK)
		m.has_digest = true;
	if (rc != CF_OK)
		goto out;
	rc = insert(r, it, uid, q->object_type, &t, blob, blob_n, m.has_digest ? m.digest : NULL,
		    m.digest_fmt <= 0xff ? m.digest_fmt << STORE_SF_DIGEST_FMT_SHIFT : 0, &s->uid);
out:
	if (m.locked != NULL) {
		sec_wipe(m.locked, m.locked_cap);
		ops_keybuf_trim(r, m.locked, m.locked_cap, 0);
	}
	return rc;
}

cf_err ops_create_derived(struct ops_req *r, struct ops_item *it, uint32_t type,
			  const struct kmip_tmpl *tmpl, const struct store_attr *extra,
			  size_t n_extra, ops_make_fn make, void *arg,
			  char uid_out[static STORE_UUID_LEN + 1], struct kmip_text *uid_txt)
{
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD], digest[HSM_SHA256_LEN];
	struct tmpl_out t;
	struct hsm_bind b;
	size_t blob_n = 0, bytes;
	cf_err rc;

	if (type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY && type != KMIP_OBJECT_TYPE_SECRET_DATA)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"Derive Key makes a Symmetric Key or Secret Data");
	TRY(tmpl_take(r, it, KMIP_OPERATION_CREATE, tmpl, n_extra + 2, &t));
	if (!t.has_len || t.len % 8 != 0 || (size_t)t.len / 8 > HSM_DEK_MAX)
		return bad(it, "Cryptographic Length (bits, a multiple of 8) required");
	if (type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY && !t.has_alg)
		return bad(it, "Cryptographic Algorithm required");
	if (type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY && t.alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_AES &&
	    t.len != 128 && t.len != 192 && t.len != 256)
		return bad(it, "AES length must be 128, 192 or 256");
	bytes = (size_t)t.len / 8;
	for (size_t i = 0; i < n_extra; i++)
		t.rows[t.n_rows++] = extra[i];
	if (type == KMIP_OBJECT_TYPE_SECRET_DATA) {
		/* what a Register of Secret Data keeps: a derived secret is a Seed, kept Opaque */
		TRY(add_row_int(&t, ROW_SECRET_TYPE, TTLV_ENUMERATION, KMIP_SECRET_DATA_TYPE_SEED));
		TRY(add_row_int(&t, kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE), TTLV_ENUMERATION,
				KMIP_KEY_FORMAT_TYPE_OPAQUE));
	}
	TRY(store_uid_new(ops_rng, r, uid_out));
	b = (struct hsm_bind){ (const uint8_t *)uid_out, strlen(uid_out), type };
	rc = make(r, it, arg, bytes, &b, blob, sizeof blob, &blob_n, digest);
	if (rc == CF_OK)
		rc = insert(r, it, uid_out, type, &t, blob, blob_n,
			    type == KMIP_OBJECT_TYPE_SECRET_DATA ? NULL : digest, STORE_SF_GENERATED,
			    uid_txt);
	sec_wipe(blob, sizeof blob);
	return rc;
}

cf_err ops_create_obj(struct ops_req *r, struct ops_item *it, const struct ops_new_obj *nw,
		      const char *uid, struct kmip_text *uid_txt)
{
	static const struct kmip_tmpl none;
	uint8_t *blob = NULL, digest[HSM_SHA256_LEN];
	size_t blob_n = 0, blob_cap = HSM_DEK_MAX + HSM_BLOB_OVERHEAD;
	struct tmpl_out t;
	struct hsm_bind b;
	hsm_sess *sess;
	void *p;
	cf_err rc;

	if (nw->material == NULL || nw->n == 0 || nw->n > HSM_DEK_MAX)
		return bad(it, "object value empty or too large");
	TRY(tmpl_take(r, it, KMIP_OPERATION_CREATE, nw->tmpl != NULL ? nw->tmpl : &none,
		      nw->n_extra, &t));
	/* the key's own algorithm and length take precedence (1.4 section 4.38) */
	if (nw->has_alg) {
		t.has_alg = true;
		t.alg = nw->alg;
	}
	if (nw->has_len) {
		t.has_len = true;
		t.len = nw->len;
	}
	if (nw->has_mask)
		t.mask = nw->mask;
	for (size_t i = 0; i < nw->n_extra; i++)
		t.rows[t.n_rows++] = nw->extra[i];
	TRY(ops_sess(r, &sess));
	TRY(kmip_arena_alloc(&r->w->arena, blob_cap, 1, &p));
	blob = p;
	b = (struct hsm_bind){ (const uint8_t *)uid, strlen(uid), nw->type };
	if (nw->digest)
		rc = hsm_dek_make(sess, nw->material, nw->n, HSM_DEK_DIGEST, &b, blob, blob_cap,
				  &blob_n, digest);
	else
		rc = hsm_dek_wrap(sess, nw->material, nw->n, &b, blob, blob_cap, &blob_n);
	if (rc == CF_OK)
		rc = insert(r, it, uid, nw->type, &t, blob, blob_n, nw->digest ? digest : NULL,
			    0, uid_txt);
	sec_wipe(digest, sizeof digest);
	return rc;
}
