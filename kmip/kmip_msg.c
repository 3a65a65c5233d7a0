/* KMIP messages: Request / Response Message, headers, batch items.
 *
 *= kmip-spec-v1.4 section 7.2 (Message Format): Request Message = Request Header, Batch
 *# Item (MAY be repeated); Response Message = Response Header, Batch Item (repeated).
 *= kmip-spec-v2.0 section 8: "All fields SHALL appear in the order specified."
 * Header fields are accepted in any order (clients in the field reorder them); a repeated
 * single-valued header field is CF_E_DUPLICATE. Batch items follow the spec order. */
#include "kmip/kmip_msg_int.h"

#include <string.h>

#define T(name) KMIP_TAG_##name

static void err_init(struct kmip_decode_error *e)
{
	memset(e, 0, sizeof *e);
	e->version = -1;
	e->item = -1;
}

/* Fail with an error about a specific header field (reader position = after it). */
static cf_err dup_or_bad(struct kd *c, const ttlv_rd *r, size_t at, uint32_t *seen, unsigned bit)
{
	if (*seen & (1u << bit))
		return kd_fail(c, r, at, CF_E_DUPLICATE);
	*seen |= 1u << bit;
	return CF_OK;
}

/* Protocol Version structure anywhere in the header (liberal order): parse it first so
 * every other field can be checked against the version. */
static cf_err kd_header_pv(struct kd *c, const ttlv_rd *hdr, struct kmip_pv *pv, int *ver)
{
	ttlv_rd t = *hdr, ch;
	struct ttlv_item it;
	cf_err rc;

	while (!ttlv_rd_done(&t)) {
		size_t at = t.off;
		if ((rc = ttlv_rd_peek(&t, &it)) != CF_OK)
			return kd_fail(c, &t, at, rc);
		if (it.tag != T(PROTOCOL_VERSION)) {
			t.off += TTLV_HDR_LEN + (((size_t)it.len + 7u) & ~(size_t)7u);
			continue;
		}
		TRY(kd_open(c, &t, T(PROTOCOL_VERSION), &ch));
		TRY(kd_int(c, &ch, T(PROTOCOL_VERSION_MAJOR), true, NULL, &pv->major));
		TRY(kd_int(c, &ch, T(PROTOCOL_VERSION_MINOR), true, NULL, &pv->minor));
		TRY(kd_end(c, &ch));
		c->err->has_pv = true;
		c->err->pv = *pv;
		*ver = kmip_version_from(pv->major, pv->minor);
		/*= kmip-spec-v1.4 section 11.1: protocol major version mismatch -> Invalid Message;
		 *# 2.0: Unsupported Protocol Version. */
		if (*ver < 0)
			return kd_fail(c, hdr, at, CF_E_BAD_VERSION);
		c->ver = *ver;
		c->err->version = *ver;
		return CF_OK;
	}
	return kd_fail(c, hdr, 0, CF_E_MISSING);
}

static cf_err skip_item(struct kd *c, ttlv_rd *r)
{
	ttlv_rd ch;
	return kd_open(c, r, 0, &ch);
}

static cf_err kd_attest(struct kd *c, ttlv_rd *r, uint32_t *types, size_t *n)
{
	size_t at = r->off;
	if (*n >= KMIP_MAX_ATTEST_TYPES)
		return kd_fail(c, r, at, CF_E_TOO_MANY);
	TRY(kd_enum(c, r, T(ATTESTATION_TYPE), true, NULL, &types[*n]));
	(*n)++;
	return CF_OK;
}

static cf_err kd_auth(struct kd *c, ttlv_rd *r, struct kmip_req_header *h)
{
	ttlv_rd ch;
	size_t n;

	TRY(kd_open(c, r, T(AUTHENTICATION), &ch));
	n = kd_count(&ch, T(CREDENTIAL));
	if (n == 0)
		return kd_fail(c, &ch, 0, CF_E_MISSING);
	if (n > KMIP_MAX_CREDENTIALS)
		return kd_fail(c, &ch, 0, CF_E_TOO_MANY);
	for (size_t i = 0; i < n; i++) {
		struct kmip_credential *cr = &h->creds[i];
		ttlv_rd cc, cv;
		TRY(kd_open(c, &ch, T(CREDENTIAL), &cc));
		TRY(kd_enum(c, &cc, T(CREDENTIAL_TYPE), true, NULL, &cr->type));
		if (cr->type == KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD) {
			TRY(kd_open(c, &cc, T(CREDENTIAL_VALUE), &cv));
			TRY(kd_text(c, &cv, T(USERNAME), true, &cr->username));
			TRY(kd_text(c, &cv, T(PASSWORD), false, &cr->password));
			TRY(kd_end(c, &cv));
		} else {
			size_t at = cc.off;
			TRY(kd_items(c, &cc, T(CREDENTIAL_VALUE), &cr->value));
			if (cr->value.p == NULL)
				return kd_fail(c, &cc, at, CF_E_MISSING);
		}
		TRY(kd_end(c, &cc));
	}
	h->n_creds = n;
	h->has_auth = true;
	return kd_end(c, &ch);
}

/* Unknown tag, or a known tag that does not belong here / in this version. */
static cf_err bad_field(struct kd *c, const ttlv_rd *r, size_t at, uint32_t tag)
{
	if (kmip_tag_lookup(tag) == NULL && !kmip_tag_is_extension(tag))
		return kd_fail(c, r, at, CF_E_UNKNOWN_TAG);
	return kd_fail(c, r, at, CF_E_UNEXPECTED_TAG);
}

static cf_err kd_req_header(struct kd *c, ttlv_rd *m, struct kmip_req_header *h)
{
	ttlv_rd r;
	uint32_t seen = 0;
	struct ttlv_item it;
	bool has_count = false;
	cf_err rc;

	TRY(kd_open(c, m, T(REQUEST_HEADER), &r));
	TRY(kd_header_pv(c, &r, &h->pv, &h->version));
	while (!ttlv_rd_done(&r)) {
		size_t at = r.off;
		if ((rc = ttlv_rd_peek(&r, &it)) != CF_OK)
			return kd_fail(c, &r, at, rc);
		if (kmip_tag_lookup(it.tag) != NULL && !kmip_tag_valid(it.tag, c->ver))
			return kd_fail(c, &r, at, CF_E_UNEXPECTED_TAG);
		switch (it.tag) {
		case T(PROTOCOL_VERSION):
			TRY(dup_or_bad(c, &r, at, &seen, 0));
			TRY(skip_item(c, &r)); /* parsed by kd_header_pv */
			break;
		case T(MAXIMUM_RESPONSE_SIZE):
			TRY(dup_or_bad(c, &r, at, &seen, 1));
			TRY(kd_int(c, &r, it.tag, true, &h->has_max_response_size,
				   &h->max_response_size));
			if (h->max_response_size < 0)
				return kd_fail(c, &r, at, CF_E_BAD_VALUE);
			break;
		case T(CLIENT_CORRELATION_VALUE):
			TRY(dup_or_bad(c, &r, at, &seen, 2));
			TRY(kd_text(c, &r, it.tag, true, &h->client_corr));
			break;
		case T(SERVER_CORRELATION_VALUE):
			TRY(dup_or_bad(c, &r, at, &seen, 3));
			TRY(kd_text(c, &r, it.tag, true, &h->server_corr));
			break;
		case T(ASYNCHRONOUS_INDICATOR):
			TRY(dup_or_bad(c, &r, at, &seen, 4));
			TRY(kd_bool(c, &r, it.tag, true, &h->has_async, &h->async));
			break;
		case T(ATTESTATION_CAPABLE_INDICATOR):
			TRY(dup_or_bad(c, &r, at, &seen, 5));
			TRY(kd_bool(c, &r, it.tag, true, &h->has_attest_capable, &h->attest_capable));
			break;
		case T(ATTESTATION_TYPE):
			TRY(kd_attest(c, &r, h->attest_types, &h->n_attest_types));
			break;
		case T(AUTHENTICATION):
			TRY(dup_or_bad(c, &r, at, &seen, 6));
			TRY(kd_auth(c, &r, h));
			break;
		case T(BATCH_ERROR_CONTINUATION_OPTION):
			TRY(dup_or_bad(c, &r, at, &seen, 7));
			TRY(kd_enum(c, &r, it.tag, true, &h->has_bec, &h->bec));
			break;
		case T(BATCH_ORDER_OPTION):
			TRY(dup_or_bad(c, &r, at, &seen, 8));
			TRY(kd_bool(c, &r, it.tag, true, &h->has_boo, &h->boo));
			break;
		case T(TIME_STAMP):
			TRY(dup_or_bad(c, &r, at, &seen, 9));
			TRY(kd_datetime(c, &r, it.tag, true, &h->has_time_stamp, &h->time_stamp));
			break;
		case T(BATCH_COUNT):
			TRY(dup_or_bad(c, &r, at, &seen, 10));
			TRY(kd_int(c, &r, it.tag, true, &has_count, &h->batch_count));
			break;
		default:
			return bad_field(c, &r, at, it.tag);
		}
	}
	if (!has_count)
		return kd_fail(c, &r, r.off, CF_E_MISSING);
	return CF_OK;
}

static cf_err kd_rsp_header(struct kd *c, ttlv_rd *m, struct kmip_rsp_header *h)
{
	ttlv_rd r;
	uint32_t seen = 0;
	struct ttlv_item it;
	bool has_count = false, has_ts = false;
	cf_err rc;

	TRY(kd_open(c, m, T(RESPONSE_HEADER), &r));
	TRY(kd_header_pv(c, &r, &h->pv, &h->version));
	while (!ttlv_rd_done(&r)) {
		size_t at = r.off;
		if ((rc = ttlv_rd_peek(&r, &it)) != CF_OK)
			return kd_fail(c, &r, at, rc);
		if (kmip_tag_lookup(it.tag) != NULL && !kmip_tag_valid(it.tag, c->ver))
			return kd_fail(c, &r, at, CF_E_UNEXPECTED_TAG);
		switch (it.tag) {
		case T(PROTOCOL_VERSION):
			TRY(dup_or_bad(c, &r, at, &seen, 0));
			TRY(skip_item(c, &r));
			break;
		case T(TIME_STAMP):
			TRY(dup_or_bad(c, &r, at, &seen, 1));
			TRY(kd_datetime(c, &r, it.tag, true, &has_ts, &h->time_stamp));
			break;
		case T(NONCE):
			TRY(dup_or_bad(c, &r, at, &seen, 2));
			TRY(kd_struct(c, &r, it.tag, true, &h->nonce));
			break;
		case T(SERVER_HASHED_PASSWORD):
			TRY(dup_or_bad(c, &r, at, &seen, 3));
			TRY(kd_bytes(c, &r, it.tag, true, &h->server_hashed_password));
			break;
		case T(ATTESTATION_TYPE):
			TRY(kd_attest(c, &r, h->attest_types, &h->n_attest_types));
			break;
		case T(CLIENT_CORRELATION_VALUE):
			TRY(dup_or_bad(c, &r, at, &seen, 4));
			TRY(kd_text(c, &r, it.tag, true, &h->client_corr));
			break;
		case T(SERVER_CORRELATION_VALUE):
			TRY(dup_or_bad(c, &r, at, &seen, 5));
			TRY(kd_text(c, &r, it.tag, true, &h->server_corr));
			break;
		case T(BATCH_COUNT):
			TRY(dup_or_bad(c, &r, at, &seen, 6));
			TRY(kd_int(c, &r, it.tag, true, &has_count, &h->batch_count));
			break;
		default:
			return bad_field(c, &r, at, it.tag);
		}
	}
	if (!has_count || !has_ts)
		return kd_fail(c, &r, r.off, CF_E_MISSING);
	return CF_OK;
}

/* Operation: read it (kept for the error report even when invalid); validity is checked
 * by the caller once the Unique Batch Item ID has been read too. */
static cf_err kd_op(struct kd *c, ttlv_rd *r, bool req, bool *has, uint32_t *op)
{
	size_t at = r->off;
	cf_err rc;

	*has = false;
	*op = 0;
	if (!ttlv_rd_next_is(r, T(OPERATION))) {
		if (!req)
			return CF_OK;
		return kd_fail(c, r, at, CF_E_MISSING);
	}
	if ((rc = ttlv_rd_enum(r, T(OPERATION), op)) != CF_OK)
		return kd_fail(c, r, at, rc);
	*has = true;
	c->err->has_op = true;
	c->err->op = *op;
	return CF_OK;
}

static cf_err kd_batch_id(struct kd *c, ttlv_rd *r, struct kmip_bytes *id)
{
	TRY(kd_bytes(c, r, T(UNIQUE_BATCH_ITEM_ID), false, id));
	c->err->item_id = *id;
	return CF_OK;
}

static cf_err kd_req_item(struct kd *c, ttlv_rd *m, struct kmip_req_item *it)
{
	ttlv_rd r, p;
	size_t op_at;
	bool has;

	TRY(kd_open(c, m, T(BATCH_ITEM), &r));
	op_at = r.off;
	TRY(kd_op(c, &r, true, &has, &it->op));
	if (c->ver >= KMIP_V2_0)
		TRY(kd_bool(c, &r, T(EPHEMERAL), false, &it->has_ephemeral, &it->ephemeral));
	TRY(kd_batch_id(c, &r, &it->id));
	/*= kmip-spec-v1.4 section 11.1: server does not support operation -> Operation Not
	 *# Supported. An Operation value the version lacks is not supported either. */
	if (!kmip_enum_valid(T(OPERATION), it->op, c->ver))
		return kd_fail(c, &r, op_at, CF_E_UNSUPPORTED_OP);
	TRY(kd_open(c, &r, T(REQUEST_PAYLOAD), &p));
	TRY(kd_payload(c, &p, it->op, false, &it->pl));
	TRY(kd_items(c, &r, T(MESSAGE_EXTENSION), &it->ext));
	return kd_end(c, &r);
}

static cf_err kd_rsp_item(struct kd *c, ttlv_rd *m, struct kmip_rsp_item *it)
{
	ttlv_rd r, p;
	size_t at;

	TRY(kd_open(c, m, T(BATCH_ITEM), &r));
	at = r.off;
	TRY(kd_op(c, &r, false, &it->has_op, &it->op));
	TRY(kd_batch_id(c, &r, &it->id));
	if (it->has_op && !kmip_enum_valid(T(OPERATION), it->op, c->ver))
		return kd_fail(c, &r, at, CF_E_UNSUPPORTED_OP);
	TRY(kd_enum(c, &r, T(RESULT_STATUS), true, NULL, &it->status));
	at = r.off;
	TRY(kd_enum(c, &r, T(RESULT_REASON), false, &it->has_reason, &it->reason));
	/*= kmip-spec-v1.4 section 7.2: Result Reason REQUIRED if Result Status is Failure. */
	if (it->status == KMIP_RESULT_STATUS_OPERATION_FAILED && !it->has_reason)
		return kd_fail(c, &r, at, CF_E_MISSING);
	TRY(kd_text(c, &r, T(RESULT_MESSAGE), false, &it->message));
	TRY(kd_bytes(c, &r, T(ASYNCHRONOUS_CORRELATION_VALUE), false, &it->async_corr));
	if (ttlv_rd_next_is(&r, T(RESPONSE_PAYLOAD))) {
		TRY(kd_open(c, &r, T(RESPONSE_PAYLOAD), &p));
		TRY(kd_payload(c, &p, it->has_op ? it->op : 0, true, &it->pl));
		it->has_payload = true;
	}
	TRY(kd_items(c, &r, T(MESSAGE_EXTENSION), &it->ext));
	return kd_end(c, &r);
}

/* Outer framing shared by requests and responses: exact length, then the message reader. */
static cf_err kd_message(struct kd *c, const uint8_t *buf, size_t n, uint32_t tag, ttlv_rd *top,
			 ttlv_rd *m)
{
	size_t total = 0;
	cf_err rc;

	ttlv_rd_init(top, buf, n, c->lim);
	rc = ttlv_msg_len(buf, n, tag, c->lim, &total);
	if (rc == CF_OK && total != n)
		rc = total > n ? CF_E_TRUNCATED : CF_E_TRAILING;
	if (rc != CF_OK)
		return kd_fail(c, top, 0, rc);
	TRY(kd_open(c, top, tag, m));
	if (ttlv_rd_done(m)) /* a message with no header at all: cut short */
		return kd_fail(c, m, 0, CF_E_TRUNCATED);
	return CF_OK;
}

static cf_err check_count(struct kd *c, const ttlv_rd *m, int32_t count, size_t n)
{
	if (n > c->lim->max_batch_items)
		return kd_fail(c, m, m->off, CF_E_TOO_MANY);
	/*= kmip-spec-v1.4 section 6.14 (Batch Count): the number of Batch Items in the message. */
	if (count < 1 || (size_t)count != n)
		return kd_fail(c, m, m->off, CF_E_BATCH_COUNT);
	return CF_OK;
}

static void finish_err(struct kmip_decode_error *e, cf_err rc)
{
	e->rc = rc;
	kmip_result_for_version(rc, e->version, &e->status, &e->reason);
}

cf_err kmip_decode_request(const uint8_t *buf, size_t n, const struct kmip_limits *lim,
			   struct kmip_arena *a, struct kmip_request *out,
			   struct kmip_decode_error *err)
{
	struct kmip_limits dl = KMIP_LIMITS_DEFAULT;
	struct kmip_decode_error local = { .version = -1, .item = -1 };
	struct kmip_decode_error *e = err != NULL ? err : &local;
	struct kd c = { .ver = KMIP_V1_0, .lim = lim != NULL ? lim : &dl, .a = a, .err = e };
	ttlv_rd top, m;
	void *p;
	size_t cnt;
	cf_err rc = CF_E_INTERNAL;

	err_init(e);
	if (out != NULL)
		memset(out, 0, sizeof *out);
	if (buf == NULL || out == NULL || a == NULL) {
		rc = CF_E_INVALID_ARG;
		goto out;
	}
	if ((rc = kd_message(&c, buf, n, T(REQUEST_MESSAGE), &top, &m)) != CF_OK)
		goto out;
	if ((rc = kd_req_header(&c, &m, &out->h)) != CF_OK)
		goto out;
	cnt = kd_count(&m, T(BATCH_ITEM));
	if ((rc = check_count(&c, &m, out->h.batch_count, cnt)) != CF_OK)
		goto out;
	if ((rc = kd_alloc(&c, &m, cnt, c.lim->max_batch_items, sizeof(struct kmip_req_item), &p)) !=
	    CF_OK)
		goto out;
	out->items = p;
	for (size_t i = 0; i < cnt; i++) {
		e->item = (long)i;
		e->has_op = false;
		e->item_id = (struct kmip_bytes){ 0 };
		size_t at = m.off;
		if ((rc = kd_req_item(&c, &m, &out->items[i])) != CF_OK)
			goto out;
		/*= kmip-spec-v1.4 section 7.2: Unique Batch Item ID REQUIRED if Batch Count > 1. */
		if (cnt > 1 && out->items[i].id.p == NULL) {
			rc = kd_fail(&c, &m, at, CF_E_MISSING);
			goto out;
		}
	}
	out->n_items = cnt;
	e->item = -1;
	e->has_op = false;
	e->item_id = (struct kmip_bytes){ 0 };
	if ((rc = kd_end(&c, &m)) != CF_OK)
		goto out;
	rc = kd_fail(&c, &top, top.off, ttlv_rd_close(&top));
out:
	if (rc != CF_OK && out != NULL)
		memset(out, 0, sizeof *out);
	finish_err(e, rc);
	return rc;
}

cf_err kmip_decode_response(const uint8_t *buf, size_t n, const struct kmip_limits *lim,
			    struct kmip_arena *a, struct kmip_response *out,
			    struct kmip_decode_error *err)
{
	struct kmip_limits dl = KMIP_LIMITS_DEFAULT;
	struct kmip_decode_error local = { .version = -1, .item = -1 };
	struct kmip_decode_error *e = err != NULL ? err : &local;
	struct kd c = { .ver = KMIP_V1_0, .lim = lim != NULL ? lim : &dl, .a = a, .err = e };
	ttlv_rd top, m;
	void *p;
	size_t cnt;
	cf_err rc = CF_E_INTERNAL;

	err_init(e);
	if (out != NULL)
		memset(out, 0, sizeof *out);
	if (buf == NULL || out == NULL || a == NULL) {
		rc = CF_E_INVALID_ARG;
		goto out;
	}
	if ((rc = kd_message(&c, buf, n, T(RESPONSE_MESSAGE), &top, &m)) != CF_OK)
		goto out;
	if ((rc = kd_rsp_header(&c, &m, &out->h)) != CF_OK)
		goto out;
	cnt = kd_count(&m, T(BATCH_ITEM));
	if ((rc = check_count(&c, &m, out->h.batch_count, cnt)) != CF_OK)
		goto out;
	if ((rc = kd_alloc(&c, &m, cnt, c.lim->max_batch_items, sizeof(struct kmip_rsp_item), &p)) !=
	    CF_OK)
		goto out;
	out->items = p;
	for (size_t i = 0; i < cnt; i++) {
		e->item = (long)i;
		e->has_op = false;
		e->item_id = (struct kmip_bytes){ 0 };
		if ((rc = kd_rsp_item(&c, &m, &out->items[i])) != CF_OK)
			goto out;
	}
	out->n_items = cnt;
	e->item = -1;
	e->has_op = false;
	e->item_id = (struct kmip_bytes){ 0 };
	if ((rc = kd_end(&c, &m)) != CF_OK)
		goto out;
	rc = kd_fail(&c, &top, top.off, ttlv_rd_close(&top));
out:
	if (rc != CF_OK && out != NULL)
		memset(out, 0, sizeof *out);
	finish_err(e, rc);
	return rc;
}

/* ---- encode --------------------------------------------------------------------------- */

static cf_err ke_pv(ttlv_wr *w, struct kmip_pv pv)
{
	size_t m;
	TRY(ttlv_wr_begin(w, T(PROTOCOL_VERSION), &m));
	TRY(ttlv_wr_int(w, T(PROTOCOL_VERSION_MAJOR), pv.major));
	TRY(ttlv_wr_int(w, T(PROTOCOL_VERSION_MINOR), pv.minor));
	return ttlv_wr_end(w, m);
}

static cf_err ke_auth(ttlv_wr *w, const struct kmip_req_header *h, int ver)
{
	size_t ma, mc, mv;

	if (h->n_creds == 0 || h->n_creds > KMIP_MAX_CREDENTIALS)
		return CF_E_INVALID_ARG;
	TRY(ttlv_wr_begin(w, T(AUTHENTICATION), &ma));
	for (size_t i = 0; i < h->n_creds; i++) {
		const struct kmip_credential *cr = &h->creds[i];
		TRY(ttlv_wr_begin(w, T(CREDENTIAL), &mc));
		TRY(ke_enum(w, T(CREDENTIAL_TYPE), cr->type, ver));
		if (cr->type == KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD) {
			TRY(ttlv_wr_begin(w, T(CREDENTIAL_VALUE), &mv));
			if (cr->username.p == NULL)
				return CF_E_MISSING;
			TRY(ke_text(w, T(USERNAME), cr->username));
			TRY(ke_text(w, T(PASSWORD), cr->password));
			TRY(ttlv_wr_end(w, mv));
		} else {
			if (cr->value.p == NULL)
				return CF_E_MISSING;
			TRY(ke_items(w, cr->value));
		}
		TRY(ttlv_wr_end(w, mc));
	}
	return ttlv_wr_end(w, ma);
}

static cf_err enc_version(struct kmip_pv pv, int *ver)
{
	*ver = kmip_version_from(pv.major, pv.minor);
	return *ver < 0 ? CF_E_BAD_VERSION : CF_OK;
}

static cf_err ke_attest(ttlv_wr *w, const uint32_t *types, size_t n, int ver)
{
	if (ver < KMIP_V1_2)
		return CF_OK;
	if (n > KMIP_MAX_ATTEST_TYPES)
		return CF_E_INVALID_ARG;
	for (size_t i = 0; i < n; i++)
		TRY(ke_enum(w, T(ATTESTATION_TYPE), types[i], ver));
	return CF_OK;
}

cf_err kmip_encode_request(ttlv_wr *w, const struct kmip_request *req)
{
	const struct kmip_req_header *h = &req->h;
	size_t mm, mh, mi;
	int ver;

	TRY(enc_version(h->pv, &ver));
	if (req->n_items == 0 || req->n_items > INT32_MAX || (req->n_items > 0 && req->items == NULL))
		return CF_E_INVALID_ARG;
	TRY(ttlv_wr_begin(w, T(REQUEST_MESSAGE), &mm));
	TRY(ttlv_wr_begin(w, T(REQUEST_HEADER), &mh));
	TRY(ke_pv(w, h->pv));
	if (h->has_max_response_size)
		TRY(ttlv_wr_int(w, T(MAXIMUM_RESPONSE_SIZE), h->max_response_size));
	if (ver >= KMIP_V1_4) {
		TRY(ke_text(w, T(CLIENT_CORRELATION_VALUE), h->client_corr));
		TRY(ke_text(w, T(SERVER_CORRELATION_VALUE), h->server_corr));
	}
	if (h->has_async)
		TRY(ttlv_wr_bool(w, T(ASYNCHRONOUS_INDICATOR), h->async));
	if (h->has_attest_capable && ver >= KMIP_V1_2)
		TRY(ttlv_wr_bool(w, T(ATTESTATION_CAPABLE_INDICATOR), h->attest_capable));
	TRY(ke_attest(w, h->attest_types, h->n_attest_types, ver));
	if (h->has_auth)
		TRY(ke_auth(w, h, ver));
	if (h->has_bec)
		TRY(ke_enum(w, T(BATCH_ERROR_CONTINUATION_OPTION), h->bec, ver));
	if (h->has_boo)
		TRY(ttlv_wr_bool(w, T(BATCH_ORDER_OPTION), h->boo));
	if (h->has_time_stamp)
		TRY(ttlv_wr_datetime(w, T(TIME_STAMP), h->time_stamp));
	TRY(ttlv_wr_int(w, T(BATCH_COUNT), (int32_t)req->n_items));
	TRY(ttlv_wr_end(w, mh));
	for (size_t i = 0; i < req->n_items; i++) {
		const struct kmip_req_item *it = &req->items[i];
		struct kmip_payload pl = it->pl;
		pl.op = it->op;
		TRY(ttlv_wr_begin(w, T(BATCH_ITEM), &mi));
		TRY(ke_enum(w, T(OPERATION), it->op, ver));
		if (it->has_ephemeral && ver >= KMIP_V2_0)
			TRY(ttlv_wr_bool(w, T(EPHEMERAL), it->ephemeral));
		TRY(ke_bytes(w, T(UNIQUE_BATCH_ITEM_ID), it->id));
		TRY(kmip_payload_encode(w, &pl, false, ver));
		TRY(ke_items(w, it->ext));
		TRY(ttlv_wr_end(w, mi));
	}
	return ttlv_wr_end(w, mm);
}

cf_err kmip_encode_response(ttlv_wr *w, const struct kmip_response *r)
{
	const struct kmip_rsp_header *h = &r->h;
	size_t mm, mh, mi;
	int ver;

	TRY(enc_version(h->pv, &ver));
	if (r->n_items == 0 || r->n_items > INT32_MAX || r->items == NULL)
		return CF_E_INVALID_ARG;
	TRY(ttlv_wr_begin(w, T(RESPONSE_MESSAGE), &mm));
	TRY(ttlv_wr_begin(w, T(RESPONSE_HEADER), &mh));
	TRY(ke_pv(w, h->pv));
	TRY(ttlv_wr_datetime(w, T(TIME_STAMP), h->time_stamp));
	if (ver >= KMIP_V1_2)
		TRY(ke_struct(w, T(NONCE), h->nonce));
	if (ver >= KMIP_V2_0)
		TRY(ke_bytes(w, T(SERVER_HASHED_PASSWORD), h->server_hashed_password));
	TRY(ke_attest(w, h->attest_types, h->n_attest_types, ver));
	if (ver >= KMIP_V1_4) {
		TRY(ke_text(w, T(CLIENT_CORRELATION_VALUE), h->client_corr));
		TRY(ke_text(w, T(SERVER_CORRELATION_VALUE), h->server_corr));
	}
	TRY(ttlv_wr_int(w, T(BATCH_COUNT), (int32_t)r->n_items));
	TRY(ttlv_wr_end(w, mh));
	for (size_t i = 0; i < r->n_items; i++) {
		const struct kmip_rsp_item *it = &r->items[i];
		TRY(ttlv_wr_begin(w, T(BATCH_ITEM), &mi));
		if (it->has_op)
			TRY(ke_enum(w, T(OPERATION), it->op, ver));
		TRY(ke_bytes(w, T(UNIQUE_BATCH_ITEM_ID), it->id));
		TRY(ke_enum(w, T(RESULT_STATUS), it->status, ver));
		if (it->has_reason)
			TRY(ke_enum(w, T(RESULT_REASON), it->reason, ver));
		TRY(ke_text(w, T(RESULT_MESSAGE), it->message));
		TRY(ke_bytes(w, T(ASYNCHRONOUS_CORRELATION_VALUE), it->async_corr));
		if (it->has_payload) {
			struct kmip_payload pl = it->pl;
			if (it->has_op)
				pl.op = it->op;
			else if (pl.typed)
				return CF_E_INVALID_ARG; /* a typed payload needs its Operation */
			TRY(kmip_payload_encode(w, &pl, true, ver));
		}
		TRY(ke_items(w, it->ext));
		TRY(ttlv_wr_end(w, mi));
	}
	return ttlv_wr_end(w, mm);
}
