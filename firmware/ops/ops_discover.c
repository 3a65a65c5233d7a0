/* Discover Versions and Query. */
#include <string.h>

#include "firmware/ops/ops_int.h"

/* Protocol versions we speak, highest first. */
static const struct kmip_pv ops_versions[] = {
	{ 2, 0 }, { 1, 4 }, { 1, 3 }, { 1, 2 }, { 1, 1 }, { 1, 0 },
};
#define N_VERSIONS (sizeof ops_versions / sizeof ops_versions[0])

static bool version_ok(struct kmip_pv v)
{
	for (size_t i = 0; i < N_VERSIONS; i++)
		if (ops_versions[i].major == v.major && ops_versions[i].minor == v.minor)
			return true;
	return false;
}

cf_err ops_discover_versions(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_discover *q = &it->rq->pl.u.discover_req;
	struct kmip_rsp_discover *s = &it->rs->pl.u.discover_rsp;
	void *p;
	size_t n = 0;

	TRY(kmip_arena_alloc(&r->w->arena, N_VERSIONS, sizeof *s->v, &p));
	s->v = p;
	if (q->n == 0) {
		memcpy(s->v, ops_versions, sizeof ops_versions);
		n = N_VERSIONS;
	} else {
		/* the client's list, in its order of preference, that we also speak */
		for (size_t i = 0; i < q->n && n < N_VERSIONS; i++) {
			bool dup = false;
			if (!version_ok(q->v[i]))
				continue;
			for (size_t j = 0; j < n; j++)
				dup |= s->v[j].major == q->v[i].major && s->v[j].minor == q->v[i].minor;
			if (!dup)
				s->v[n++] = q->v[i];
		}
	}
	s->n = n;
	return CF_OK;
}

static const uint32_t ops_object_types[] = {
	KMIP_OBJECT_TYPE_CERTIFICATE, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, KMIP_OBJECT_TYPE_PUBLIC_KEY,
	KMIP_OBJECT_TYPE_PRIVATE_KEY, KMIP_OBJECT_TYPE_SPLIT_KEY, KMIP_OBJECT_TYPE_SECRET_DATA,
	KMIP_OBJECT_TYPE_OPAQUE_OBJECT, KMIP_OBJECT_TYPE_PGP_KEY,
};
#define N_OBJECT_TYPES (sizeof ops_object_types / sizeof ops_object_types[0])

cf_err ops_query(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_query *q = &it->rq->pl.u.query_req;
	struct kmip_rsp_query *s = &it->rs->pl.u.query_rsp;
	const uint32_t *ops = r->supported;
	size_t n_ops = r->n_supported;
	void *p;

	for (size_t i = 0; i < q->n; i++) {
		switch (q->fn[i]) {
		case KMIP_QUERY_FUNCTION_QUERY_OPERATIONS:
			TRY(kmip_arena_alloc(&r->w->arena, n_ops, sizeof *s->ops, &p));
			s->ops = p;
			s->n_ops = 0;
			for (size_t k = 0; k < n_ops; k++)
				if (kmip_enum_valid(KMIP_TAG_OPERATION, ops[k], r->ver))
					s->ops[s->n_ops++] = ops[k];
			break;
		case KMIP_QUERY_FUNCTION_QUERY_OBJECTS:
			s->n_types = 0;
			TRY(kmip_arena_alloc(&r->w->arena, N_OBJECT_TYPES, sizeof *s->types, &p));
			s->types = p;
			for (size_t k = 0; k < N_OBJECT_TYPES; k++)
				if (kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, ops_object_types[k], r->ver))
					s->types[s->n_types++] = ops_object_types[k];
			break;
		case KMIP_QUERY_FUNCTION_QUERY_SERVER_INFORMATION:
			TRY(ops_text(r, r->w->svc->vendor_id != NULL ? r->w->svc->vendor_id
								      : OPS_VENDOR_DEFAULT, &s->vendor));
			/* 1.4 section 4.25: Server Information SHALL be returned when asked;
			 * its contents are vendor-specific: an empty structure. */
			s->server_info = (struct kmip_bytes){ (const uint8_t *)"", 0 };
			break;
		default:
			/* other functions: nothing to report (an empty answer is valid) */
			break;
		}
	}
	return CF_OK;
}
