/* Re-key of a symmetric key: a replacement key generated in the HSM with the existing key's
 * attributes, linked both ways. docs/kmip-server.md "Re-key".
 *
 *= kmip-spec-v1.4 section 4.4: For the existing key, the server SHALL create a Link
 *# attribute of Link Type Replacement Object pointing to the replacement key. For the
 *# replacement key, the server SHALL create a Link attribute of Link Type Replaced Key
 *# pointing to the existing key.
 *= kmip-spec-v1.4 section 4.4 Table 173: Initial Date: current time; Destroy Date,
 *# Compromise Occurrence Date, Compromise Date, Revocation Reason: not set; Unique
 *# Identifier: new; Name: set to the name(s) of the existing key, all name attributes are
 *# removed from the existing key; State: from the dates; Link: to the existing key as the
 *# replaced key; Last Change Date: current time.
 * The replacement's state follows its dates: Pre-Active before its Activation Date, Active,
 * Deactivated once its Deactivation Date has passed.
 * The existing key's state and dates do not change (the spec asks nothing of them); only its
 * Names go, its Replacement Object Link comes and its Last Change Date is now. */
#include <string.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

#define ROW_LINK "Link"
#define ROW_NAME "Name"
#define ROW_PROCESS_START "Process Start Date"
#define ROW_PROTECT_STOP "Protect Stop Date"

static int64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* The request's attributes over the copied ones: Cryptographic Usage Mask and the
 * Activation / Deactivation Date set columns of n; any other client-settable attribute
 * replaces every copied instance of its name. Algorithm and length are the existing key's. */
static cf_err tmpl_apply(struct ops_req *r, struct ops_item *it, const struct kmip_tmpl *t,
			 struct store_object *n, struct store_attr *rows, size_t *n_rows)
{
	size_t copied = *n_rows; /* rows[0, copied) are the existing key's */
	for (size_t i = 0; i < t->a.n; i++) {
		const struct kmip_attr *a = &t->a.v[i];
		char name[STORE_NAME_MAX + 1], *nm;
		if (kmip_attr_client_may(a, KMIP_OPERATION_CREATE, r->ver) != CF_OK ||
		    a->tag == KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM ||
		    a->tag == KMIP_TAG_CRYPTOGRAPHIC_LENGTH)
			return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute not settable in Re-key");
		if (a->tag == KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK) {
			if (kmip_attr_get_u32(a, &n->usage_mask) != CF_OK)
				return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
						"Cryptographic Usage Mask");
			continue;
		}
		if (a->tag == KMIP_TAG_ACTIVATION_DATE || a->tag == KMIP_TAG_DEACTIVATION_DATE) {
			if (a->type != TTLV_DATE_TIME || a->val.n != 8 || be64(a->val.p) <= 0)
				return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
						"date expected");
			*(a->tag == KMIP_TAG_ACTIVATION_DATE ? &n->activation : &n->deactivation) =
				be64(a->val.p);
			continue;
		}
		if (ops_attr_name(a, name) != CF_OK)
			return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute name");
		TRY(ops_cstr(r, name, strlen(name), &nm));
		size_t k = 0, kept = 0;
		for (size_t j = 0; j < *n_rows; j++) { /* the request's values replace the copies */
			if (j < copied && strcmp(rows[j].name, nm) == 0)
				continue;
			kept += j < copied;
			rows[k++] = rows[j];
		}
		copied = kept;
		*n_rows = k;
		if (ops_attr_to_store(r, a, nm, &rows[(*n_rows)++]) != CF_OK)
			return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
					"attribute value");
	}
	return CF_OK;
}

/* Dates of the replacement (Table 172): without Offset as the existing key's; with Offset
 * the Activation Date is now + Offset and the other dates move by as much as it did. */
static void dates(struct ops_req *r, const struct kmip_req_rekey *q, const struct store_object *o,
		  struct store_object *n, struct store_attr *rows, size_t n_rows)
{
	n->activation = o->activation;
	n->deactivation = o->deactivation;
	if (!q->has_offset)
		return;
	n->activation = r->now + (int64_t)q->offset;
	int64_t shift = o->activation != 0 ? n->activation - o->activation : 0;
	if (n->deactivation != 0)
		n->deactivation += shift;
	for (size_t i = 0; i < n_rows; i++)
		if (rows[i].has_int && (strcmp(rows[i].name, ROW_PROCESS_START) == 0 ||
					strcmp(rows[i].name, ROW_PROTECT_STOP) == 0))
			rows[i].v_int += shift;
}

/* The existing key's rows the replacement takes (all but its Links), plus room for the
 * request's attributes and the Replaced Object Link. */
static cf_err rows_copy(struct ops_req *r, const struct store_attr_list *l, size_t extra,
			struct store_attr **out, size_t *n)
{
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, l->n + extra + 1, sizeof **out, &p));
	*out = p;
	*n = 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->a[i].name, ROW_LINK) != 0)
			(*out)[(*n)++] = l->a[i];
	return CF_OK;
}

/* The existing key after the replacement exists: its Names go, the Replacement Object Link
 * comes, Last Change Date is now. */
static cf_err old_update(struct ops_req *r, struct store_object *o, const char *new_uid)
{
	struct store_attr link;
	uint32_t idx;
	cf_err rc = store_attr_delete(r->w->st, r->who.tenant, o->uid, ROW_NAME, STORE_ATTR_ALL);
	if (rc != CF_OK && rc != CF_E_NOT_FOUND)
		return rc;
	TRY(ops_link_row(r, KMIP_LINK_TYPE_REPLACEMENT_OBJECT_LINK, new_uid, &link));
	TRY(store_attr_add(r->w->st, r->who.tenant, o->uid, &link, &idx));
	o->last_change = r->now;
	ops_cs_forget(r); /* the old key's cached objects go */
	return store_object_update_state(r->w->st, o);
}

static cf_err rekey_check(struct ops_req *r, struct ops_item *it, const struct store_object *o)
{
	if (o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED ||
	    o->wrapped == NULL)
		return ops_fail(it, CF_E_NOT_FOUND, ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
							KMIP_RESULT_REASON_OBJECT_DESTROYED),
				"object destroyed");
	if (o->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY)
		return ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
							 KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
				"Re-key: symmetric keys only");
	if (o->crypto_alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES ||
	    (o->crypto_len != 128 && o->crypto_len != 192 && o->crypto_len != 256))
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"Re-key: AES 128, 192 or 256 keys only");
	return CF_OK;
}

cf_err ops_rekey(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_rekey *q = &it->rq->pl.u.rekey_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.rekey_rsp;
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	char uid[STORE_UID_MAX + 1], nuid[STORE_UUID_LEN + 1];
	struct store_object o = { 0 }, n;
	struct store_attr_list l = { 0 };
	struct store_attr *rows = NULL;
	size_t n_rows = 0, blob_n = 0;
	struct hsm_bind b;
	hsm_sess *sess;
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK || (rc = rekey_check(r, it, &o)) != CF_OK)
		goto out;
	if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, NULL, 0, &l)) != CF_OK ||
	    (rc = rows_copy(r, &l, q->t.a.n, &rows, &n_rows)) != CF_OK)
		goto out;
	n = o;
	n.wrapped = NULL;
	n.revocation_message = NULL;
	dates(r, q, &o, &n, rows, n_rows);
	if ((rc = tmpl_apply(r, it, &q->t, &n, rows, &n_rows)) != CF_OK)
		goto out;
	if ((rc = ops_sess(r, &sess)) != CF_OK || (rc = store_uid_new(ops_rng, r, nuid)) != CF_OK)
		goto out;
	b = (struct hsm_bind){ (const uint8_t *)nuid, strlen(nuid), KMIP_OBJECT_TYPE_SYMMETRIC_KEY };
	/* the new key's own Digest and generator (n = o copied the old one's: ops_srvattr.c) */
	n.has_digest = true;
	n.srv_flags = STORE_SF_GENERATED;
	if ((rc = hsm_dek_make(sess, NULL, (size_t)o.crypto_len / 8, HSM_DEK_DIGEST, &b, blob,
			       sizeof blob, &blob_n, n.digest)) != CF_OK ||
	    (rc = ops_link_row(r, KMIP_LINK_TYPE_REPLACED_OBJECT_LINK, uid, &rows[n_rows])) != CF_OK)
		goto out;
	n_rows++;
	struct hsm_blob_info bi;
	if ((rc = hsm_blob_info_get(blob, blob_n, &bi)) != CF_OK)
		goto out;
	strcpy(n.uid, nuid);
	strcpy(n.owner, r->who.actor);
	n.kek_version = bi.kek_version;
	n.wrapped = blob;
	n.wrapped_len = blob_n;
	n.state = n.activation == 0 || n.activation > r->now ? STORE_STATE_PRE_ACTIVE
	: n.deactivation != 0 && n.deactivation <= r->now ? STORE_STATE_DEACTIVATED
							   : STORE_STATE_ACTIVE;
	n.created = n.last_change = r->now;
	n.destroyed = n.compromise = n.compromise_occurrence = 0;
	n.revocation_reason = 0;
	if ((rc = store_object_insert(r->w->st, &n, rows, n_rows)) != CF_OK ||
	    (rc = old_update(r, &o, nuid)) != CF_OK)
		goto out;
	memcpy(r->placeholder, nuid, sizeof nuid); /* the ID Placeholder: the replacement */
	rc = ops_text(r, nuid, &s->uid);
out:
	sec_wipe(blob, sizeof blob);
	store_attr_list_free(&l);
	store_object_free(&o);
	return rc;
}
