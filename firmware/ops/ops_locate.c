/* Locate: filters on Unique Identifier, object type, state, algorithm, length, Name, Object
 * Group, the dates kept as columns (one value or a range), custom attributes and the attributes
 * kept as rows (Certificate Type, Application Specific Information, ...); Maximum Items and
 * Offset Items; Located Items (1.3+) counts every match. */
#include <string.h>

#include "firmware/ops/ops_int.h"

static cf_err bad(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

/* A Name filter: a Text String, or a Name structure's Name Value. */
static MUST_USE cf_err filter_name(struct ops_req *r, struct ops_item *it,
				   const struct kmip_attr *a, struct store_locate *f)
{
	struct kmip_text nv;
	char *c;
	if (a->type == TTLV_TEXT_STRING) {
		nv = (struct kmip_text){ (const char *)a->val.p, a->val.n };
	} else if (ops_name_value(&a->val, &nv) != CF_OK) {
		return bad(it, "Name");
	}
	TRY(ops_cstr(r, nv.p, nv.n, &c));
	f->name = c;
	return CF_OK;
}

/* A custom attribute filter, appended to match[f->n_match]. */
static MUST_USE cf_err filter_custom(struct ops_req *r, struct ops_item *it,
				     const struct kmip_attr *a, struct store_locate *f,
				     struct store_match *match)
{
	char name[STORE_NAME_MAX + 1], *nm;
	struct store_attr sa;
	if (f->n_match >= STORE_LOCATE_MAX_MATCH)
		return bad(it, "too many attribute filters");
	if (ops_attr_name(a, name) != CF_OK)
		return bad(it, "attribute name");
	TRY(ops_cstr(r, name, strlen(name), &nm));
	if (ops_attr_to_store(r, a, nm, &sa) != CF_OK || (!sa.has_int && sa.v_text == NULL))
		return bad(it, "custom filters compare text or integer values");
	match[f->n_match++] = (struct store_match){ .name = nm, .is_int = sa.has_int,
						    .v_int = sa.v_int, .v_text = sa.v_text };
	return CF_OK;
}

/* The object row's date columns, by enum store_date. */
static const uint32_t date_tags[STORE_DATE_N] = {
	[STORE_DATE_INITIAL] = KMIP_TAG_INITIAL_DATE,
	[STORE_DATE_ACTIVATION] = KMIP_TAG_ACTIVATION_DATE,
	[STORE_DATE_DEACTIVATION] = KMIP_TAG_DEACTIVATION_DATE,
	[STORE_DATE_DESTROY] = KMIP_TAG_DESTROY_DATE,
	[STORE_DATE_COMPROMISE] = KMIP_TAG_COMPROMISE_DATE,
	[STORE_DATE_COMPROMISE_OCCURRENCE] = KMIP_TAG_COMPROMISE_OCCURRENCE_DATE,
	[STORE_DATE_LAST_CHANGE] = KMIP_TAG_LAST_CHANGE_DATE,
};

/* A date filter (1.4 section 4.9): the first instance of a date attribute matches that date;
 * a second makes the two an inclusive range (in either order); a third is Invalid Field.
 * n[] counts the instances seen per column; *done is false if a is not a column date. */
static MUST_USE cf_err filter_date(struct ops_item *it, const struct kmip_attr *a,
				   struct store_locate *f, uint8_t n[STORE_DATE_N], bool *done)
{
	int64_t d = 0;
	size_t i;

	*done = false;
	for (i = 0; i < STORE_DATE_N && date_tags[i] != a->tag; i++)
		;
	if (i == STORE_DATE_N)
		return CF_OK;
	*done = true;
	if (a->type != TTLV_DATE_TIME || a->val.n != 8)
		return bad(it, "date expected");
	for (size_t k = 0; k < 8; k++)
		d = (int64_t)(((uint64_t)d << 8) | a->val.p[k]);
	struct store_date_range *rg = &f->date[i];
	if (n[i] >= 2)
		return bad(it, "a date attribute at most twice (a range)");
	if (n[i]++ == 0) {
		*rg = (struct store_date_range){ .set = true, .lo = d, .hi = d };
	} else if (d < rg->lo) {
		rg->lo = d;
	} else {
		rg->hi = d;
	}
	return CF_OK;
}

/* One attribute of the request's template as a filter of f. */
static MUST_USE cf_err filter_attr(struct ops_req *r, struct ops_item *it,
				   const struct kmip_attr *a, struct store_locate *f,
				   struct store_match *match, uint8_t n_date[STORE_DATE_N])
{
	uint32_t u;
	char *c;
	bool done;

	TRY(filter_date(it, a, f, n_date, &done));
	if (done)
		return CF_OK;
	switch (a->tag) {
	case KMIP_TAG_UNIQUE_IDENTIFIER:
		if (a->type != TTLV_TEXT_STRING || a->val.n == 0 || a->val.n > STORE_UID_MAX)
			return bad(it, "Unique Identifier");
		TRY(ops_cstr(r, (const char *)a->val.p, a->val.n, &c));
		f->uid = c;
		return CF_OK;
	case KMIP_TAG_OBJECT_TYPE:
		if (kmip_attr_get_u32(a, &u) != CF_OK)
			return bad(it, "Object Type");
		f->object_type = u;
		return CF_OK;
	case KMIP_TAG_STATE:
		if (kmip_attr_get_u32(a, &u) != CF_OK)
			return bad(it, "State");
		f->state = u;
		return CF_OK;
	case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
		if (kmip_attr_get_u32(a, &u) != CF_OK)
			return bad(it, "Cryptographic Algorithm");
		f->crypto_alg = u;
		return CF_OK;
	case KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
		if (kmip_attr_get_u32(a, &u) != CF_OK || u == 0 || u > 0x7fffffffu)
			return bad(it, "Cryptographic Length");
		f->crypto_len = (int32_t)u;
		return CF_OK;
	case KMIP_TAG_NAME:
		return filter_name(r, it, a, f);
	case KMIP_TAG_OBJECT_GROUP:
		if (a->type != TTLV_TEXT_STRING)
			return bad(it, "Object Group");
		TRY(ops_cstr(r, (const char *)a->val.p, a->val.n, &c));
		f->object_group = c;
		return CF_OK;
	case 0:
		return filter_custom(r, it, a, f, match);
	default:
		break;
	}
	/* an attribute kept as a row (Certificate Type, Digital Signature Algorithm, Certificate
	 * Length, Opaque Data Type, Key Format Type, ...): matched like a custom attribute,
	 * through the same index; a structure (Application Specific Information, Link, ...)
	 * by its encoding, kept in hex beside it (ops_attr_to_store) */
	if (kmip_attr_rule_for(a->tag, r->ver) != NULL && kmip_tag_name(a->tag) != NULL &&
	    !ops_attr_is_column(kmip_tag_name(a->tag)))
		return filter_custom(r, it, a, f, match);
	return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
			"Locate does not filter on this attribute");
}

/* The window of the matches l (Offset Items, Maximum Items) as the answer; Located Items
 * counts them all. The first uid answered becomes the ID Placeholder. */
static MUST_USE cf_err answer_window(struct ops_req *r, const struct kmip_req_locate *q,
				     const struct store_str_list *l, struct kmip_rsp_locate *s)
{
	size_t first, n;
	void *p;

	first = q->has_offset ? (size_t)q->offset_items : 0;
	if (first > l->n)
		first = l->n;
	n = l->n - first;
	if (q->has_max && q->max_items > 0 && (size_t)q->max_items < n)
		n = (size_t)q->max_items;
	TRY(kmip_arena_alloc(&r->w->arena, n, sizeof *s->uids, &p));
	s->uids = p;
	for (size_t i = 0; i < n; i++)
		TRY(ops_text(r, l->s[first + i], &s->uids[i]));
	s->n = n;
	s->has_located = r->ver >= KMIP_V1_3;
	s->located_items = l->n > INT32_MAX ? INT32_MAX : (int32_t)l->n;
	/*= kmip-spec-v1.4 section 4.9: If a single Unique Identifier is returned to the client,
	 *# then the server SHALL copy [it] into the ID Placeholder variable. If the Locate
	 *# operation matches more than one object [...] the server SHALL empty the ID
	 *# Placeholder. */
	r->placeholder[0] = '\0';
	if (n == 1) {
		size_t len = strlen(l->s[first]);
		if (len <= STORE_UID_MAX)
			memcpy(r->placeholder, l->s[first], len + 1);
	}
	return CF_OK;
}

cf_err ops_locate(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_locate *q = &it->rq->pl.u.locate_req;
	struct store_match match[STORE_LOCATE_MAX_MATCH];
	struct store_locate f;
	struct store_str_list l = { 0 };
	uint8_t n_date[STORE_DATE_N] = { 0 };
	cf_err rc;

	memset(&f, 0, sizeof f);
	f.tenant = r->who.tenant;
	f.match = match;
	if (q->has_max && q->max_items < 0)
		return bad(it, "Maximum Items");
	if (q->has_offset && q->offset_items < 0)
		return bad(it, "Offset Items");
	for (size_t i = 0; i < q->t.a.n; i++)
		TRY(filter_attr(r, it, &q->t.a.v[i], &f, match, n_date));
	/* destroyed objects keep their metadata but are found only when a State asks for them */
	f.not_destroyed = true;
	/*= kmip-spec-v2.0 section 6.1.27: The server SHALL NOT return unique identifiers for
	 *# objects that are archived unless the Storage Status Mask field includes the Archived
	 *# Storage indicator. (Absent, or with neither On-line nor Archival: on-line only.) */
	_Static_assert(STORE_STORAGE_ONLINE == KMIP_STORAGE_STATUS_MASK_ON_LINE_STORAGE &&
			       STORE_STORAGE_ARCHIVAL == KMIP_STORAGE_STATUS_MASK_ARCHIVAL_STORAGE,
		       "store storage bits are the KMIP mask's");
	if (q->has_ssm)
		f.storage = (uint32_t)q->storage_status_mask &
			    (STORE_STORAGE_ONLINE | STORE_STORAGE_ARCHIVAL);
	/* every match, then the window: Located Items counts them all */
	rc = store_locate_run(r->w->st, &f, &l);
	if (rc == CF_OK)
		rc = answer_window(r, q, &l, &it->rs->pl.u.locate_rsp);
	store_str_list_free(&l);
	return rc;
}
