/* Server-kept KMIP 1.4 attributes (docs/kmip-server.md "Server attributes"): Digest, Original
 * Creation Date, Random Number Generator, Sensitive, Always Sensitive, Extractable, Never
 * Extractable, Fresh, Lease Time. None is an attribute row: each is derived when asked from
 * the object row (created, srv_flags, digest: one source for every object type), so a Create
 * writes nothing more than before but the digest column, and a Get ends Fresh with one UPDATE
 * in its audit transaction. */
#include <string.h>

#include "firmware/ops/ops_int.h"

static const uint32_t srv_tags[] = {
	KMIP_TAG_DIGEST,          KMIP_TAG_ORIGINAL_CREATION_DATE, KMIP_TAG_RANDOM_NUMBER_GENERATOR,
	KMIP_TAG_SENSITIVE,       KMIP_TAG_ALWAYS_SENSITIVE,       KMIP_TAG_EXTRACTABLE,
	KMIP_TAG_NEVER_EXTRACTABLE, KMIP_TAG_FRESH,                KMIP_TAG_LEASE_TIME,
};
#define N_SRV (sizeof srv_tags / sizeof srv_tags[0])

size_t ops_srvattr_max(void)
{
	return N_SRV;
}

bool ops_srvattr_is(const char *name)
{
	for (size_t i = 0; i < N_SRV; i++) {
		const char *s = kmip_tag_name(srv_tags[i]);
		if (s != NULL && strcmp(s, name) == 0)
			return true;
	}
	return false;
}

unsigned ops_srvattr_make_flags(uint32_t alg)
{
	unsigned f = HSM_DEK_DIGEST;
	if (alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES || alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_DES)
		f |= HSM_DEK_DES_PARITY;
	return f;
}

void ops_srvattr_got(struct ops_req *r, const struct store_object *o, cf_err rc)
{
	r->stale = rc == CF_OK && (o->srv_flags & STORE_SF_FRESH) != 0;
}

/* A primitive value of n bytes (4 or 8), big-endian, in the arena. */
static cf_err prim(struct ops_req *r, uint32_t tag, uint8_t type, size_t n, uint64_t v,
		   struct kmip_attr *a)
{
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, n, 1, &p));
	uint8_t *b = p;
	for (size_t i = n; i > 0; i--) {
		b[i - 1] = (uint8_t)v;
		v >>= 8;
	}
	memset(a, 0, sizeof *a);
	a->tag = tag;
	a->type = type;
	a->val = (struct kmip_bytes){ b, n };
	return CF_OK;
}

/* The Key Format Type the digest was taken over (1.4 section 3.17; the field is 1.1+): a
 * registered key's format (kept in srv_flags by Register: "the Key Format Type of the
 * registered object"); else Raw for a symmetric key, PKCS#1 for an RSA key the server made (as
 * the AKLC test cases show), PKCS#8 / X.509 for another private / public key; none for a
 * certificate (its DER). No store query. */
static void digest_format(const struct ops_req *r, const struct store_object *o, uint32_t *fmt)
{
	*fmt = 0;
	if (r->ver < KMIP_V1_1)
		return;
	*fmt = (o->srv_flags & STORE_SF_DIGEST_FMT_MASK) >> STORE_SF_DIGEST_FMT_SHIFT;
	if (*fmt != 0)
		return;
	switch (o->object_type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
		*fmt = KMIP_KEY_FORMAT_TYPE_RAW;
		return;
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		if (o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA)
			*fmt = KMIP_KEY_FORMAT_TYPE_PKCS_1;
		else
			*fmt = o->object_type == KMIP_OBJECT_TYPE_PRIVATE_KEY ? KMIP_KEY_FORMAT_TYPE_PKCS_8
									      : KMIP_KEY_FORMAT_TYPE_X_509;
		return;
	default:
		return;
	}
}

/* A structure value: the encoded items written by the caller into w (cap bytes). */
static cf_err structure(struct ops_req *r, uint32_t tag, size_t cap, ttlv_wr *w, uint8_t **buf,
			struct kmip_attr *a)
{
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, cap, 1, &p));
	*buf = p;
	ttlv_wr_init(w, *buf, cap);
	memset(a, 0, sizeof *a);
	a->tag = tag;
	a->type = TTLV_STRUCTURE;
	return CF_OK;
}

static cf_err digest_attr(struct ops_req *r, const struct store_object *o, struct kmip_attr *a)
{
	uint32_t fmt;
	uint8_t *buf;
	ttlv_wr w;
	digest_format(r, o, &fmt);
	TRY(structure(r, KMIP_TAG_DIGEST, 16 + 48 + 16, &w, &buf, a));
	TRY(ttlv_wr_enum(&w, KMIP_TAG_HASHING_ALGORITHM, KMIP_HASHING_ALGORITHM_SHA_256));
	TRY(ttlv_wr_bytes(&w, KMIP_TAG_DIGEST_VALUE, o->digest, sizeof o->digest));
	if (fmt != 0)
		TRY(ttlv_wr_enum(&w, KMIP_TAG_KEY_FORMAT_TYPE, fmt));
	a->val = (struct kmip_bytes){ buf, ttlv_wr_len(&w) };
	return CF_OK;
}

/* The HSM's generator: a PKCS#11 module does not name its algorithm, so Unspecified
 * (1.4 section 3.44 allows it). */
static cf_err rng_attr(struct ops_req *r, struct kmip_attr *a)
{
	uint8_t *buf;
	ttlv_wr w;
	TRY(structure(r, KMIP_TAG_RANDOM_NUMBER_GENERATOR, 16, &w, &buf, a));
	TRY(ttlv_wr_enum(&w, KMIP_TAG_RNG_ALGORITHM, KMIP_RNG_ALGORITHM_UNSPECIFIED));
	a->val = (struct kmip_bytes){ buf, ttlv_wr_len(&w) };
	return CF_OK;
}

/* Whether the object has tag; *b its Boolean value for the four key-protection flags. A key
 * or secret is served in plaintext by Get: never sensitive, always extractable. */
static bool srv_has(const struct store_object *o, uint32_t tag)
{
	switch (tag) {
	case KMIP_TAG_DIGEST:
		return o->has_digest;
	case KMIP_TAG_RANDOM_NUMBER_GENERATOR:
		return (o->srv_flags & STORE_SF_GENERATED) != 0;
	case KMIP_TAG_SENSITIVE:
	case KMIP_TAG_ALWAYS_SENSITIVE:
	case KMIP_TAG_EXTRACTABLE:
	case KMIP_TAG_NEVER_EXTRACTABLE:
		return o->object_type != KMIP_OBJECT_TYPE_OPAQUE_OBJECT;
	default:
		return true;
	}
}

static cf_err srv_one(struct ops_req *r, const struct store_object *o, uint32_t tag,
		      struct kmip_attr *a)
{
	switch (tag) {
	case KMIP_TAG_DIGEST:
		return digest_attr(r, o, a);
	case KMIP_TAG_ORIGINAL_CREATION_DATE:
		return prim(r, tag, TTLV_DATE_TIME, 8, (uint64_t)o->created, a);
	case KMIP_TAG_RANDOM_NUMBER_GENERATOR:
		return rng_attr(r, a);
	case KMIP_TAG_SENSITIVE:
	case KMIP_TAG_ALWAYS_SENSITIVE:
	case KMIP_TAG_NEVER_EXTRACTABLE:
		return prim(r, tag, TTLV_BOOLEAN, 8, 0, a);
	case KMIP_TAG_EXTRACTABLE:
		return prim(r, tag, TTLV_BOOLEAN, 8, 1, a);
	case KMIP_TAG_FRESH:
		return prim(r, tag, TTLV_BOOLEAN, 8, (o->srv_flags & STORE_SF_FRESH) != 0, a);
	case KMIP_TAG_LEASE_TIME:
		return prim(r, tag, TTLV_INTERVAL, 4, OPS_LEASE_SECONDS, a);
	default:
		return CF_E_INTERNAL;
	}
}

/* A name the client set as an attribute row wins over the derived value. */
static bool in_rows(const struct store_attr_list *rows, const char *name)
{
	for (size_t i = 0; rows != NULL && i < rows->n; i++)
		if (rows->a[i].name != NULL && strcmp(rows->a[i].name, name) == 0)
			return true;
	return false;
}

cf_err ops_srvattr_add(struct ops_req *r, const struct store_object *o, const char *name,
		       const struct store_attr_list *rows, struct kmip_attr *v, size_t cap,
		       size_t *n)
{
	for (size_t i = 0; i < N_SRV; i++) {
		uint32_t tag = srv_tags[i];
		const char *tn = kmip_tag_name(tag);
		if (tn == NULL || (name != NULL && strcmp(name, tn) != 0))
			continue;
		if (kmip_attr_rule_for(tag, r->ver) == NULL || !srv_has(o, tag) || in_rows(rows, tn))
			continue;
		if (*n >= cap)
			return CF_E_TOO_MANY;
		TRY(srv_one(r, o, tag, &v[*n]));
		(*n)++;
	}
	return CF_OK;
}

cf_err ops_srvattr_names(struct ops_req *r, const struct store_object *o, uint32_t *tags,
			 size_t cap, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < N_SRV; i++) {
		uint32_t tag = srv_tags[i];
		if (kmip_attr_rule_for(tag, r->ver) == NULL || !srv_has(o, tag))
			continue;
		if (*n >= cap)
			return CF_E_TOO_MANY;
		tags[(*n)++] = tag;
	}
	return CF_OK;
}
