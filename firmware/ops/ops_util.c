/* Helpers the operation handlers share: arena copies, the item's Unique Identifier, the
 * tenant's object, the worker's HSM session and key buffer, the random source for Unique
 * Identifiers, operation names. They call nothing in the dispatch (ops.c). */
#include <errno.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

cf_err ops_dup(struct ops_req *r, const void *p, size_t n, void **out)
{
	void *q;
	*out = NULL;
	TRY(kmip_arena_alloc(&r->w->arena, n + 1, 1, &q));
	if (n > 0)
		memcpy(q, p, n);
	*out = q;
	return CF_OK;
}

cf_err ops_cstr(struct ops_req *r, const char *p, size_t n, char **out)
{
	void *q;
	*out = NULL;
	TRY(ops_dup(r, p, n, &q));
	*out = q; /* zeroed arena: NUL-terminated */
	return CF_OK;
}

cf_err ops_text(struct ops_req *r, const char *s, struct kmip_text *out)
{
	char *c;
	size_t n = strlen(s);
	*out = (struct kmip_text){ 0 };
	TRY(ops_cstr(r, s, n, &c));
	*out = (struct kmip_text){ c, n };
	return CF_OK;
}

cf_err ops_uid(struct ops_req *r, struct ops_item *it, struct kmip_text uid,
	       char out[static STORE_UID_MAX + 1])
{
	out[0] = '\0';
	if (uid.p == NULL) {
		if (r->placeholder[0] == '\0')
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_MISSING_DATA,
					"Unique Identifier required");
		memcpy(out, r->placeholder, sizeof r->placeholder);
	} else {
		if (uid.n == 0 || uid.n > STORE_UID_MAX || memchr(uid.p, '\0', uid.n) != NULL)
			return ops_fail(it, CF_E_NOT_FOUND, 0, "object not found");
		memcpy(out, uid.p, uid.n);
		out[uid.n] = '\0';
	}
	memcpy(it->uid, out, STORE_UID_MAX + 1);
	return CF_OK;
}

cf_err ops_object_load(struct ops_req *r, const char *uid, struct store_object *o)
{
	TRY(store_object_get(r->w->st, r->who.tenant, uid, o));
	if ((o->srv_flags & STORE_SF_ARCHIVED) == 0 ||
	    (r->item != NULL && ops_serves_archived(r->item->rq->op)))
		return CF_OK;
	/*= kmip-spec-v1.4 section 11 (Get, Check, Destroy, Archive, ... Errors): Object is
	 *# archived: Operation Failed, Object Archived. */
	store_object_free(o);
	if (r->item == NULL)
		return CF_E_STATE;
	return ops_fail(r->item, CF_E_STATE, KMIP_RESULT_REASON_OBJECT_ARCHIVED,
			"object archived: Recover it first");
}

cf_err ops_sess(struct ops_req *r, hsm_sess **out)
{
	struct ops_worker *w = r->w;
	hsm *h = w->svc->hsm;

	*out = NULL;
	if (h == NULL)
		return CF_E_HSM_NOT_INIT;
	if (w->sess != NULL && w->hsm_of_sess != h) {
		/* the service reopened the HSM: the old session belongs to the old client */
		w->sess = NULL;
	}
	if (w->sess == NULL) {
		TRY(hsm_session_acquire(h, OPS_HSM_WAIT_MS, &w->sess));
		w->hsm_of_sess = h;
	}
	*out = w->sess;
	return CF_OK;
}

/* Randomness for Unique Identifiers. A UUID is a public name that only has to be unique, not
 * secret: the kernel's CSPRNG serves it without an HSM round trip per Create (the key itself
 * and the wrap nonce still come from the HSM). */
cf_err ops_rng(void *arg, void *buf, size_t n)
{
	(void)arg;
	return sec_random(buf, n);
}

cf_err ops_keybuf(struct ops_req *r, size_t n, uint8_t **out)
{
	struct ops_worker *w = r->w;
	*out = NULL;
	if (n > OPS_KEYBUF_SIZE - w->keybuf_off)
		return CF_E_NO_SPACE;
	*out = w->keybuf + w->keybuf_off;
	w->keybuf_off += n;
	return CF_OK;
}

void ops_keybuf_trim(struct ops_req *r, const uint8_t *p, size_t asked, size_t used)
{
	struct ops_worker *w = r->w;
	if (p == NULL || used > asked || p + asked != w->keybuf + w->keybuf_off)
		return; /* not the last block: kept whole, wiped with the rest */
	sec_wipe(w->keybuf + w->keybuf_off - (asked - used), asked - used);
	w->keybuf_off -= asked - used;
}

const char *ops_op_name(uint32_t op)
{
	const char *s = kmip_enum_name(KMIP_TAG_OPERATION, op);
	return s != NULL ? s : "Unknown";
}

enum hsm_hash ops_hash_of(uint32_t kmip_hash)
{
	switch (kmip_hash) {
	case KMIP_HASHING_ALGORITHM_SHA_1: return HSM_HASH_SHA1;
	case KMIP_HASHING_ALGORITHM_SHA_224: return HSM_HASH_SHA224;
	case KMIP_HASHING_ALGORITHM_SHA_256: return HSM_HASH_SHA256;
	case KMIP_HASHING_ALGORITHM_SHA_384: return HSM_HASH_SHA384;
	case KMIP_HASHING_ALGORITHM_SHA_512: return HSM_HASH_SHA512;
	default: return HSM_HASH_NONE;
	}
}

enum hsm_hash ops_hmac_hash_of(uint32_t alg)
{
	switch (alg) {
	case KMIP_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA1: return HSM_HASH_SHA1;
	case KMIP_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA224: return HSM_HASH_SHA224;
	case KMIP_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA256: return HSM_HASH_SHA256;
	case KMIP_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA384: return HSM_HASH_SHA384;
	case KMIP_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA512: return HSM_HASH_SHA512;
	default: return HSM_HASH_NONE;
	}
}

cf_err ops_link_row(struct ops_req *r, uint32_t type, const char *to, struct store_attr *sa)
{
	size_t n = strlen(to), cap = 16u + 8u + (n + 7u) / 8u * 8u;
	void *p;
	ttlv_wr w;

	TRY(kmip_arena_alloc(&r->w->arena, cap, 1, &p));
	ttlv_wr_init(&w, p, cap);
	TRY(ttlv_wr_enum(&w, KMIP_TAG_LINK_TYPE, type));
	TRY(ttlv_wr_text(&w, KMIP_TAG_LINKED_OBJECT_IDENTIFIER, to, n));
	memset(sa, 0, sizeof *sa);
	sa->name = "Link";
	sa->value_type = TTLV_STRUCTURE;
	sa->v_blob = p;
	sa->v_blob_len = ttlv_wr_len(&w);
	return CF_OK;
}
