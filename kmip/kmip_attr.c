/* Attributes: the policy table, the 1.x Attribute{Name, Index, Value} form with
 * custom x-/y- names of any type, and the 2.0 form (one tag per attribute inside Attributes,
 * vendor attributes as Attribute{Vendor Identification, Attribute Name, Attribute Value}).
 *
 *= kmip-spec-v1.4 section 2.1.1 (Attribute): Attribute Name, Attribute Index (optional),
 *# Attribute Value; names beginning "x-" are client custom attributes, "y-" server ones.
 *= kmip-spec-v2.0 section 4.53 (Vendor Attribute): vendor identification "x" and "y" are
 *# reserved for referencing KMIP v1.x Custom Attributes. */
#include "kmip/kmip_msg_int.h"

#include <string.h>

#define ALL KMIP_VMASK_ALL
#define V1X KMIP_VMASK_1X
#define V20 KMIP_VMASK(KMIP_V2_0)
#define X KMIP_AF_MULTI
#define C KMIP_AF_CLIENT_INIT
#define A KMIP_AF_CLIENT_ADD
#define M KMIP_AF_CLIENT_MOD
#define D KMIP_AF_CLIENT_DEL

/* Who may set what (1.4 section 3 "rules" tables, 2.0 section 4). The version mask is
 * further narrowed by the tag's own validity (kmip_tag_valid). Sorted by tag. */
static const struct kmip_attr_rule attr_rules[] = {
	{ KMIP_TAG_ACTIVATION_DATE, ALL, C | A | M },
	{ KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION, ALL, C | A | M | D | X },
	{ KMIP_TAG_ARCHIVE_DATE, ALL, 0 },
	{ KMIP_TAG_CERTIFICATE_IDENTIFIER, V1X, 0 },
	{ KMIP_TAG_CERTIFICATE_ISSUER, V1X, 0 },
	{ KMIP_TAG_CERTIFICATE_SUBJECT, V1X, 0 },
	{ KMIP_TAG_CERTIFICATE_TYPE, ALL, 0 },
	{ KMIP_TAG_COMPROMISE_DATE, ALL, 0 },
	{ KMIP_TAG_COMPROMISE_OCCURRENCE_DATE, ALL, 0 },
	{ KMIP_TAG_CONTACT_INFORMATION, ALL, C | A | M | D },
	{ KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, ALL, C },
	{ KMIP_TAG_CRYPTOGRAPHIC_DOMAIN_PARAMETERS, ALL, C },
	{ KMIP_TAG_CRYPTOGRAPHIC_LENGTH, ALL, C },
	{ KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, ALL, C | A | M | D | X },
	{ KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, ALL, C },
	{ KMIP_TAG_CUSTOM_ATTRIBUTE, V1X, C | A | M | D | X },
	{ KMIP_TAG_DEACTIVATION_DATE, ALL, C | A | M },
	{ KMIP_TAG_DESTROY_DATE, ALL, 0 },
	{ KMIP_TAG_DIGEST, ALL, X },
	{ KMIP_TAG_INITIAL_DATE, ALL, 0 },
	{ KMIP_TAG_KEY_FORMAT_TYPE, V20, 0 },
	{ KMIP_TAG_LAST_CHANGE_DATE, ALL, 0 },
	{ KMIP_TAG_LEASE_TIME, ALL, 0 },
	{ KMIP_TAG_LINK, ALL, C | A | M | D | X },
	{ KMIP_TAG_NAME, ALL, C | A | M | D | X },
	{ KMIP_TAG_OBJECT_GROUP, ALL, C | A | M | D | X },
	{ KMIP_TAG_OBJECT_TYPE, ALL, 0 },
	{ KMIP_TAG_OPAQUE_DATA_TYPE, V20, C },
	{ KMIP_TAG_OPERATION_POLICY_NAME, V1X, C | A | M | D },
	{ KMIP_TAG_PROCESS_START_DATE, ALL, C | A | M },
	{ KMIP_TAG_PROTECT_STOP_DATE, ALL, C | A | M },
	{ KMIP_TAG_REVOCATION_REASON, ALL, 0 },
	{ KMIP_TAG_STATE, ALL, 0 },
	{ KMIP_TAG_UNIQUE_IDENTIFIER, ALL, 0 },
	{ KMIP_TAG_USAGE_LIMITS, ALL, C | A | M | D },
	{ KMIP_TAG_FRESH, ALL, C | A | M },
	{ KMIP_TAG_CERTIFICATE_LENGTH, ALL, 0 },
	{ KMIP_TAG_DIGITAL_SIGNATURE_ALGORITHM, ALL, X },
	{ KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER, ALL, 0 },
	{ KMIP_TAG_X_509_CERTIFICATE_ISSUER, ALL, 0 },
	{ KMIP_TAG_X_509_CERTIFICATE_SUBJECT, ALL, 0 },
	{ KMIP_TAG_KEY_VALUE_LOCATION, ALL, C | A | X },
	{ KMIP_TAG_KEY_VALUE_PRESENT, ALL, 0 },
	{ KMIP_TAG_ORIGINAL_CREATION_DATE, ALL, C },
	{ KMIP_TAG_ALTERNATIVE_NAME, ALL, C | A | M | D | X },
	{ KMIP_TAG_RANDOM_NUMBER_GENERATOR, ALL, C },
	{ KMIP_TAG_PKCS_12_FRIENDLY_NAME, ALL, C | A | M | D },
	{ KMIP_TAG_DESCRIPTION, ALL, C | A | M | D },
	{ KMIP_TAG_COMMENT, ALL, C | A | M | D },
	{ KMIP_TAG_SENSITIVE, ALL, C | A | M },
	{ KMIP_TAG_ALWAYS_SENSITIVE, ALL, 0 },
	{ KMIP_TAG_EXTRACTABLE, ALL, C | A | M },
	{ KMIP_TAG_NEVER_EXTRACTABLE, ALL, 0 },
	{ KMIP_TAG_SHORT_UNIQUE_IDENTIFIER, V20, 0 },
	{ KMIP_TAG_NIST_KEY_TYPE, V20, C },
	{ KMIP_TAG_PROTECTION_LEVEL, V20, C | A | M },
	{ KMIP_TAG_PROTECTION_PERIOD, V20, C | A | M },
	{ KMIP_TAG_QUANTUM_SAFE, V20, C },
	{ KMIP_TAG_PROTECTION_STORAGE_MASK, V20, 0 },
};

/* Custom (1.x x-) and vendor (2.0 "x") attributes: client-defined values, treated as
 * sensitive (never logged). */
static const struct kmip_attr_rule custom_rule = { 0, ALL, C | A | M | D | X | KMIP_AF_SENSITIVE };

#undef X
#undef C
#undef A
#undef M
#undef D

const struct kmip_attr_rule *kmip_attr_rules(size_t *n)
{
	*n = sizeof attr_rules / sizeof attr_rules[0];
	return attr_rules;
}

const struct kmip_attr_rule *kmip_attr_rule_custom(void)
{
	return &custom_rule;
}

const struct kmip_attr_rule *kmip_attr_rule_for(uint32_t tag, int version)
{
	size_t lo = 0, hi = sizeof attr_rules / sizeof attr_rules[0];

	if (version < 0 || version >= KMIP_V_COUNT)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (attr_rules[mid].tag == tag) {
			const struct kmip_attr_rule *r = &attr_rules[mid];
			if ((r->versions & KMIP_VMASK(version)) == 0 || !kmip_tag_valid(tag, version))
				return NULL;
			return r;
		}
		if (attr_rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool is_custom_name(struct kmip_text n)
{
	return n.p != NULL && n.n >= 2 && (n.p[0] == 'x' || n.p[0] == 'y') && n.p[1] == '-';
}

static bool is_xy(struct kmip_text v)
{
	return v.p != NULL && v.n == 1 && (v.p[0] == 'x' || v.p[0] == 'y');
}

cf_err kmip_attr_client_may(const struct kmip_attr *a, uint32_t op, int version)
{
	const struct kmip_attr_rule *r;
	uint16_t need;

	if (a == NULL)
		return CF_E_INVALID_ARG;
	if (a->tag == 0) {
		/* y- / vendor "y" belong to the server */
		if ((a->vendor.p != NULL && a->vendor.n == 1 && a->vendor.p[0] == 'y') ||
		    (a->vendor.p == NULL && a->name.p != NULL && a->name.n >= 1 && a->name.p[0] == 'y'))
			return CF_E_PERMISSION;
		r = &custom_rule;
	} else {
		r = kmip_attr_rule_for(a->tag, version);
		if (r == NULL)
			return CF_E_BAD_ATTR;
	}
	switch (op) {
	case KMIP_OPERATION_CREATE:
	case KMIP_OPERATION_REGISTER:
		need = KMIP_AF_CLIENT_INIT;
		break;
	case KMIP_OPERATION_ADD_ATTRIBUTE:
		need = KMIP_AF_CLIENT_ADD;
		break;
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
		need = KMIP_AF_CLIENT_MOD;
		break;
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
		need = KMIP_AF_CLIENT_DEL;
		break;
	default:
		return CF_E_INVALID_ARG;
	}
	return (r->flags & need) != 0 ? CF_OK : CF_E_PERMISSION;
}

const struct kmip_attr *kmip_attrs_find(const struct kmip_attrs *as, uint32_t tag)
{
	if (as == NULL || tag == 0)
		return NULL;
	for (size_t i = 0; i < as->n; i++)
		if (as->v[i].tag == tag)
			return &as->v[i];
	return NULL;
}

cf_err kmip_attr_get_u32(const struct kmip_attr *a, uint32_t *v)
{
	*v = 0;
	if ((a->type != TTLV_ENUMERATION && a->type != TTLV_INTEGER) || a->val.n != 4 ||
	    a->val.p == NULL)
		return CF_E_BAD_ATTR;
	struct ttlv_item it = { .type = a->type, .len = 4, .val = a->val.p };
	*v = ttlv_item_u32(&it);
	return CF_OK;
}

static void set_u32(struct kmip_attr *a, uint32_t tag, uint8_t type, uint32_t v, uint8_t buf[8])
{
	memset(a, 0, sizeof *a);
	buf[0] = (uint8_t)(v >> 24);
	buf[1] = (uint8_t)(v >> 16);
	buf[2] = (uint8_t)(v >> 8);
	buf[3] = (uint8_t)v;
	a->tag = tag;
	a->type = type;
	a->val = (struct kmip_bytes){ buf, 4 };
}

void kmip_attr_set_enum(struct kmip_attr *a, uint32_t tag, uint32_t v, uint8_t buf[static 8])
{
	set_u32(a, tag, TTLV_ENUMERATION, v, buf);
}

void kmip_attr_set_int(struct kmip_attr *a, uint32_t tag, int32_t v, uint8_t buf[static 8])
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	set_u32(a, tag, TTLV_INTEGER, u, buf);
}

void kmip_attr_set_text(struct kmip_attr *a, uint32_t tag, const char *s, size_t n)
{
	memset(a, 0, sizeof *a);
	a->tag = tag;
	a->type = TTLV_TEXT_STRING;
	a->val = (struct kmip_bytes){ (const uint8_t *)s, n };
}

/* ---- decode --------------------------------------------------------------------------- */

/* The value item (wire tag `wtag`) of attribute `atag` (0: custom, any type). */
static cf_err kd_value(struct kd *c, ttlv_rd *r, uint32_t wtag, uint32_t atag, struct kmip_attr *a)
{
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc;

	if (ttlv_rd_done(r))
		return kd_fail(c, r, at, CF_E_MISSING);
	if ((rc = ttlv_rd_peek(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (it.tag != wtag)
		return kd_fail(c, r, at, CF_E_UNEXPECTED_TAG);
	if (it.type == TTLV_STRUCTURE) {
		ttlv_rd ch;
		if (atag != 0 && (rc = kd_check_value(c, atag, &it)) != CF_OK)
			return kd_fail(c, r, at, rc);
		TRY(kd_open(c, r, wtag, &ch));
		TRY(kd_walk(c, &ch));
		a->type = TTLV_STRUCTURE;
		a->val = (struct kmip_bytes){ ch.p != NULL ? ch.p : (const uint8_t *)"", ch.len };
		return CF_OK;
	}
	if ((rc = ttlv_rd_next(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (atag != 0 && (rc = kd_check_value(c, atag, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	a->type = it.type;
	a->val = (struct kmip_bytes){ it.val != NULL ? it.val : (const uint8_t *)"", it.len };
	return CF_OK;
}

/* 1.x name -> tag (0 for custom); CF_E_BAD_ATTR for names that are not attributes. */
static cf_err resolve_name(struct kd *c, struct kmip_text name, uint32_t *tag)
{
	const struct kmip_tag_info *ti;

	*tag = 0;
	if (is_custom_name(name))
		return CF_OK;
	ti = kmip_tag_by_name(name.p, name.n);
	if (ti == NULL || kmip_attr_rule_for(ti->tag, c->ver) == NULL)
		return CF_E_BAD_ATTR;
	*tag = ti->tag;
	return CF_OK;
}

cf_err kd_attr_v1(struct kd *c, ttlv_rd *r, struct kmip_attr *a)
{
	ttlv_rd ch;
	size_t at;
	cf_err rc;

	memset(a, 0, sizeof *a);
	TRY(kd_open(c, r, KMIP_TAG_ATTRIBUTE, &ch));
	at = ch.off;
	TRY(kd_text(c, &ch, KMIP_TAG_ATTRIBUTE_NAME, true, &a->name));
	if ((rc = resolve_name(c, a->name, &a->tag)) != CF_OK)
		return kd_fail(c, &ch, at, rc);
	at = ch.off;
	TRY(kd_int(c, &ch, KMIP_TAG_ATTRIBUTE_INDEX, false, &a->has_index, &a->index));
	if (a->has_index && a->index < 0)
		return kd_fail(c, &ch, at, CF_E_BAD_VALUE);
	TRY(kd_value(c, &ch, KMIP_TAG_ATTRIBUTE_VALUE, a->tag, a));
	return kd_end(c, &ch);
}

cf_err kd_attr_v2(struct kd *c, ttlv_rd *r, struct kmip_attr *a)
{
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc;

	memset(a, 0, sizeof *a);
	if ((rc = ttlv_rd_peek(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (it.tag == KMIP_TAG_ATTRIBUTE) {
		ttlv_rd ch;
		TRY(kd_open(c, r, KMIP_TAG_ATTRIBUTE, &ch));
		TRY(kd_text(c, &ch, KMIP_TAG_VENDOR_IDENTIFICATION, true, &a->vendor));
		TRY(kd_text(c, &ch, KMIP_TAG_ATTRIBUTE_NAME, true, &a->name));
		TRY(kd_value(c, &ch, KMIP_TAG_ATTRIBUTE_VALUE, 0, a));
		return kd_end(c, &ch);
	}
	if (kmip_attr_rule_for(it.tag, c->ver) == NULL && !kmip_tag_is_extension(it.tag))
		return kd_fail(c, r, at, kmip_tag_lookup(it.tag) == NULL ? CF_E_UNKNOWN_TAG
									 : CF_E_BAD_ATTR);
	a->tag = it.tag;
	return kd_value(c, r, it.tag, kmip_tag_is_extension(it.tag) ? 0 : it.tag, a);
}

cf_err kd_attr_list_v1(struct kd *c, ttlv_rd *r, struct kmip_attrs *as)
{
	size_t n = kd_count(r, KMIP_TAG_ATTRIBUTE);
	void *p;

	*as = (struct kmip_attrs){ 0 };
	TRY(kd_alloc(c, r, n, c->lim->max_attributes, sizeof(struct kmip_attr), &p));
	as->v = p;
	for (size_t i = 0; i < n; i++)
		TRY(kd_attr_v1(c, r, &as->v[i]));
	as->n = n;
	return CF_OK;
}

cf_err kd_attrs_v2(struct kd *c, ttlv_rd *r, struct kmip_attrs *as)
{
	size_t n = 0;
	ttlv_rd t = *r;
	struct ttlv_item it;
	void *p;

	*as = (struct kmip_attrs){ 0 };
	/* count headers first (kd_count with any tag) */
	while (ttlv_rd_peek(&t, &it) == CF_OK) {
		n++;
		t.off += TTLV_HDR_LEN + (((size_t)it.len + 7u) & ~(size_t)7u);
	}
	TRY(kd_alloc(c, r, n, c->lim->max_attributes, sizeof(struct kmip_attr), &p));
	as->v = p;
	for (size_t i = 0; i < n; i++)
		TRY(kd_attr_v2(c, r, &as->v[i]));
	as->n = n;
	return kd_end(c, r);
}

cf_err kd_tmpl(struct kd *c, ttlv_rd *r, uint32_t tag1x, bool req, struct kmip_tmpl *t)
{
	ttlv_rd ch;
	uint32_t tag = c->ver >= KMIP_V2_0 ? KMIP_TAG_ATTRIBUTES : tag1x;

	memset(t, 0, sizeof *t);
	if (tag == 0) { /* 1.x bare Attribute list (Locate, Get Attributes response) */
		TRY(kd_attr_list_v1(c, r, &t->a));
		t->present = t->a.n > 0;
		return CF_OK;
	}
	if (!ttlv_rd_next_is(r, tag)) {
		if (req)
			return kd_open(c, r, tag, &ch); /* reports CF_E_MISSING or the item's error */
		return CF_OK;
	}
	TRY(kd_open(c, r, tag, &ch));
	t->present = true;
	if (tag == KMIP_TAG_ATTRIBUTES)
		return kd_attrs_v2(c, &ch, &t->a);
	TRY(kd_items(c, &ch, KMIP_TAG_NAME, &t->names));
	TRY(kd_attr_list_v1(c, &ch, &t->a));
	return kd_end(c, &ch);
}

cf_err kd_ref(struct kd *c, ttlv_rd *r, struct kmip_attr_ref *ref)
{
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc;

	memset(ref, 0, sizeof *ref);
	if (c->ver < KMIP_V2_0) {
		TRY(kd_text(c, r, KMIP_TAG_ATTRIBUTE_NAME, true, &ref->name));
		if ((rc = resolve_name(c, ref->name, &ref->tag)) != CF_OK)
			return kd_fail(c, r, at, rc);
		return CF_OK;
	}
	if ((rc = ttlv_rd_peek(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (it.tag != KMIP_TAG_ATTRIBUTE_REFERENCE)
		return kd_fail(c, r, at, CF_E_MISSING);
	if (it.type == TTLV_STRUCTURE) {
		ttlv_rd ch;
		TRY(kd_open(c, r, KMIP_TAG_ATTRIBUTE_REFERENCE, &ch));
		TRY(kd_text(c, &ch, KMIP_TAG_VENDOR_IDENTIFICATION, true, &ref->vendor));
		TRY(kd_text(c, &ch, KMIP_TAG_ATTRIBUTE_NAME, true, &ref->name));
		TRY(kd_end(c, &ch));
		if (ref->vendor.n == 0) {
			/* an empty Vendor Identification (PyKMIP's form) names a standard
			 * attribute, or a custom one by its 1.x name: as the enumeration form */
			ref->vendor = (struct kmip_text){ 0 };
			if ((rc = resolve_name(c, ref->name, &ref->tag)) != CF_OK)
				return kd_fail(c, r, at, rc);
		}
		return CF_OK;
	}
	if (it.type != TTLV_ENUMERATION)
		return kd_fail(c, r, at, CF_E_BAD_TYPE);
	if ((rc = ttlv_rd_next(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	ref->tag = ttlv_item_u32(&it);
	if (kmip_attr_rule_for(ref->tag, c->ver) == NULL)
		return kd_fail(c, r, at, CF_E_BAD_ATTR);
	return CF_OK;
}

cf_err kd_refs(struct kd *c, ttlv_rd *r, struct kmip_attr_refs *refs)
{
	uint32_t tag = c->ver >= KMIP_V2_0 ? KMIP_TAG_ATTRIBUTE_REFERENCE : KMIP_TAG_ATTRIBUTE_NAME;
	size_t n = kd_count(r, tag);
	void *p;

	*refs = (struct kmip_attr_refs){ 0 };
	TRY(kd_alloc(c, r, n, c->lim->max_attributes, sizeof(struct kmip_attr_ref), &p));
	refs->v = p;
	for (size_t i = 0; i < n; i++)
		TRY(kd_ref(c, r, &refs->v[i]));
	refs->n = n;
	return CF_OK;
}

cf_err kd_attr_wrapped(struct kd *c, ttlv_rd *r, uint32_t tag, struct kmip_attr *a)
{
	ttlv_rd ch;

	TRY(kd_open(c, r, tag, &ch));
	if (ttlv_rd_done(&ch))
		return kd_fail(c, &ch, 0, CF_E_MISSING);
	TRY(kd_attr_v2(c, &ch, a));
	return kd_end(c, &ch);
}

/* ---- encode --------------------------------------------------------------------------- */

#define NAME_MAX_CUSTOM 256

/* Text of the 1.x name into buf if it must be built ("x-" + vendor name). */
static cf_err v1_name(const struct kmip_text *vendor, const struct kmip_text *name, uint32_t tag,
		      int ver, char buf[NAME_MAX_CUSTOM], struct kmip_text *out)
{
	*out = (struct kmip_text){ 0 };
	if (tag != 0) {
		if (name->p != NULL && name->n > 0 && vendor->p == NULL) {
			*out = *name;
			return CF_OK;
		}
		if (kmip_attr_rule_for(tag, ver) == NULL)
			return CF_E_BAD_ATTR;
		const char *s = kmip_tag_name(tag);
		if (s == NULL)
			return CF_E_BAD_ATTR;
		*out = (struct kmip_text){ s, strlen(s) };
		return CF_OK;
	}
	if (vendor->p == NULL) {
		if (!is_custom_name(*name))
			return CF_E_BAD_ATTR;
		*out = *name;
		return CF_OK;
	}
	if (!is_xy(*vendor) || name->p == NULL || name->n > NAME_MAX_CUSTOM - 2)
		return CF_E_BAD_ATTR; /* vendor attributes other than x / y have no 1.x form */
	buf[0] = vendor->p[0];
	buf[1] = '-';
	memcpy(buf + 2, name->p, name->n);
	*out = (struct kmip_text){ buf, name->n + 2 };
	return CF_OK;
}

/* 2.0 vendor / name from a 1.x custom name. */
static cf_err v2_vendor(const struct kmip_text *vendor, const struct kmip_text *name,
			struct kmip_text *v, struct kmip_text *nm)
{
	if (vendor->p != NULL) {
		*v = *vendor;
		*nm = *name;
		return CF_OK;
	}
	if (!is_custom_name(*name))
		return CF_E_BAD_ATTR;
	*v = (struct kmip_text){ name->p, 1 };
	*nm = (struct kmip_text){ name->p + 2, name->n - 2 };
	return CF_OK;
}

cf_err ke_attr_v1(ttlv_wr *w, const struct kmip_attr *a, int ver)
{
	char buf[NAME_MAX_CUSTOM];
	struct kmip_text name;
	size_t m;

	TRY(v1_name(&a->vendor, &a->name, a->tag, ver, buf, &name));
	TRY(ttlv_wr_begin(w, KMIP_TAG_ATTRIBUTE, &m));
	TRY(ke_text(w, KMIP_TAG_ATTRIBUTE_NAME, name));
	if (a->has_index)
		TRY(ttlv_wr_int(w, KMIP_TAG_ATTRIBUTE_INDEX, a->index));
	TRY(ke_value(w, KMIP_TAG_ATTRIBUTE_VALUE, a->type, a->val));
	return ttlv_wr_end(w, m);
}

cf_err ke_attr_v2(ttlv_wr *w, const struct kmip_attr *a, int ver)
{
	struct kmip_text v, nm;
	size_t m;

	if (a->tag != 0) {
		if (kmip_attr_rule_for(a->tag, ver) == NULL && !kmip_tag_is_extension(a->tag))
			return CF_E_BAD_ATTR;
		return ke_value(w, a->tag, a->type, a->val);
	}
	TRY(v2_vendor(&a->vendor, &a->name, &v, &nm));
	TRY(ttlv_wr_begin(w, KMIP_TAG_ATTRIBUTE, &m));
	TRY(ke_text(w, KMIP_TAG_VENDOR_IDENTIFICATION, v));
	TRY(ke_text(w, KMIP_TAG_ATTRIBUTE_NAME, nm));
	TRY(ke_value(w, KMIP_TAG_ATTRIBUTE_VALUE, a->type, a->val));
	return ttlv_wr_end(w, m);
}

cf_err ke_attrs_v2(ttlv_wr *w, uint32_t tag, const struct kmip_attrs *as, int ver)
{
	size_t m;

	TRY(ttlv_wr_begin(w, tag, &m));
	for (size_t i = 0; i < as->n; i++)
		TRY(ke_attr_v2(w, &as->v[i], ver));
	return ttlv_wr_end(w, m);
}

cf_err ke_tmpl(ttlv_wr *w, uint32_t tag1x, const struct kmip_tmpl *t, int ver)
{
	size_t m;

	if (!t->present)
		return CF_OK;
	if (ver >= KMIP_V2_0)
		return ke_attrs_v2(w, KMIP_TAG_ATTRIBUTES, &t->a, ver);
	if (tag1x != 0) {
		TRY(ttlv_wr_begin(w, tag1x, &m));
		TRY(ke_items(w, t->names));
	}
	for (size_t i = 0; i < t->a.n; i++)
		TRY(ke_attr_v1(w, &t->a.v[i], ver));
	if (tag1x != 0)
		TRY(ttlv_wr_end(w, m));
	return CF_OK;
}

cf_err ke_ref(ttlv_wr *w, const struct kmip_attr_ref *ref, int ver)
{
	char buf[NAME_MAX_CUSTOM];
	struct kmip_text name, v, nm;
	size_t m;

	if (ver < KMIP_V2_0) {
		TRY(v1_name(&ref->vendor, &ref->name, ref->tag, ver, buf, &name));
		return ke_text(w, KMIP_TAG_ATTRIBUTE_NAME, name);
	}
	if (ref->tag != 0) {
		if (kmip_attr_rule_for(ref->tag, ver) == NULL)
			return CF_E_BAD_ATTR;
		return ttlv_wr_enum(w, KMIP_TAG_ATTRIBUTE_REFERENCE, ref->tag);
	}
	TRY(v2_vendor(&ref->vendor, &ref->name, &v, &nm));
	TRY(ttlv_wr_begin(w, KMIP_TAG_ATTRIBUTE_REFERENCE, &m));
	TRY(ke_text(w, KMIP_TAG_VENDOR_IDENTIFICATION, v));
	TRY(ke_text(w, KMIP_TAG_ATTRIBUTE_NAME, nm));
	return ttlv_wr_end(w, m);
}

cf_err ke_attr_wrapped(ttlv_wr *w, uint32_t tag, const struct kmip_attr *a, int ver)
{
	size_t m;

	TRY(ttlv_wr_begin(w, tag, &m));
	TRY(ke_attr_v2(w, a, ver));
	return ttlv_wr_end(w, m);
}
