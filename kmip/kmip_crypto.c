/* Cryptographic services payloads: Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify,
 * Hash (struct kmip_crypt), RNG Retrieve, RNG Seed (struct kmip_rng) and the Derive Key
 * request (struct kmip_req_derive; its response is Register's, kmip_payload.c).
 *
 *= kmip-spec-v1.4 sections 4.29-4.37 Tables 229-246 (Encrypt ... Hash), section 4.6 Tables
 *# 180-183 (Derive Key, Derivation Parameters); 2.0 sections 6.1.11, 6.1.14, 6.1.17, 6.1.23,
 *# 6.1.31, 6.1.32, 6.1.45, 6.1.46, 6.1.49, 6.1.50 and 7.8 (Derivation Parameters).
 *
 * The seven cryptographic operations are data: each lists its request and response fields in
 * the specification's order (the same order in 1.x and 2.0); one reader and one writer walk
 * the list. A field the version lacks (Correlation Value, Init / Final Indicator: 1.3;
 * Digested Data, Authenticated Encryption Additional Data / Tag: 1.4) is not read, so it is
 * refused where it stands (kd_end: CF_E_UNEXPECTED_TAG), and not written.
 *
 * Required fields. Requests: "Yes for single-part" fields (Data; Sign: Data or Digested Data;
 * Signature Verify: Signature Data; MAC Verify: MAC Data) are required unless the request is
 * a multi-part one (it carries a Correlation Value, Init Indicator or Final Indicator); Hash's
 * Cryptographic Parameters always. Responses: the Unique Identifier (all but Hash) and, in
 * 1.x, the Validity Indicator (2.0 requires it for single-part only). A response does not say
 * whether it ends a multi-part operation, so its "Yes for single-part" fields (Data, Signature
 * Data, MAC Data) are the server's to honour and not checked here (2.0 makes Encrypt's and
 * Decrypt's response Data optional anyway). A missing field is CF_E_MISSING, on decode and on
 * encode alike.
 *
 * Cryptographic Parameters are kept as validated contents (kmip_wrap.h decodes them): the
 * generic walk checks tags, types and enumerations for the version, then only Cryptographic
 * Parameters fields may appear, each once (in any order, as the attribute of the same name). */
#include "kmip/kmip_msg_int.h"
#include "kmip/kmip_wrap.h"

#include <stddef.h>
#include <string.h>

#define T(name) KMIP_TAG_##name

enum cfield {
	F_END, F_UID, F_PARAMS, F_DATA, F_DIGESTED, F_IV, F_SIG, F_MAC, F_CORR, F_INIT, F_FINAL,
	F_AAD, F_TAG, F_VALIDITY,
};

/* Each field's tag, the first version that has it, and (Byte Strings) where it lives. */
static const struct {
	uint32_t tag;
	int since;
	size_t off;     /* offsetof a struct kmip_bytes in struct kmip_crypt; 0: not a Byte String */
} fields[] = {
	[F_UID] = { T(UNIQUE_IDENTIFIER), KMIP_V1_0, 0 },
	[F_PARAMS] = { T(CRYPTOGRAPHIC_PARAMETERS), KMIP_V1_0, 0 },
	[F_DATA] = { T(DATA), KMIP_V1_2, offsetof(struct kmip_crypt, data) },
	[F_DIGESTED] = { T(DIGESTED_DATA), KMIP_V1_4, offsetof(struct kmip_crypt, digested) },
	[F_IV] = { T(IV_COUNTER_NONCE), KMIP_V1_0, offsetof(struct kmip_crypt, iv) },
	[F_SIG] = { T(SIGNATURE_DATA), KMIP_V1_2, offsetof(struct kmip_crypt, sig) },
	[F_MAC] = { T(MAC_DATA), KMIP_V1_2, offsetof(struct kmip_crypt, mac) },
	[F_CORR] = { T(CORRELATION_VALUE), KMIP_V1_3, offsetof(struct kmip_crypt, corr) },
	[F_INIT] = { T(INIT_INDICATOR), KMIP_V1_3, 0 },
	[F_FINAL] = { T(FINAL_INDICATOR), KMIP_V1_3, 0 },
	[F_AAD] = { T(AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA), KMIP_V1_4,
		    offsetof(struct kmip_crypt, aad) },
	[F_TAG] = { T(AUTHENTICATED_ENCRYPTION_TAG), KMIP_V1_4, offsetof(struct kmip_crypt, tag) },
	[F_VALIDITY] = { T(VALIDITY_INDICATOR), KMIP_V1_0, 0 },
};

/* One operation: its request and response fields in order (F_END ends a list), and the field
 * a single-part request must carry (or its alternative). */
struct crypt_op {
	uint32_t op;
	uint8_t req[10];
	uint8_t rsp[6];
	uint8_t single, single_alt;
};

static const struct crypt_op crypt_ops[] = {
	{ KMIP_OPERATION_ENCRYPT,
	  { F_UID, F_PARAMS, F_DATA, F_IV, F_CORR, F_INIT, F_FINAL, F_AAD },
	  { F_UID, F_DATA, F_IV, F_CORR, F_TAG }, F_DATA, F_END },
	{ KMIP_OPERATION_DECRYPT,
	  { F_UID, F_PARAMS, F_DATA, F_IV, F_CORR, F_INIT, F_FINAL, F_AAD, F_TAG },
	  { F_UID, F_DATA, F_CORR }, F_DATA, F_END },
	{ KMIP_OPERATION_SIGN,
	  { F_UID, F_PARAMS, F_DATA, F_DIGESTED, F_CORR, F_INIT, F_FINAL },
	  { F_UID, F_SIG, F_CORR }, F_DATA, F_DIGESTED },
	{ KMIP_OPERATION_SIGNATURE_VERIFY,
	  { F_UID, F_PARAMS, F_DATA, F_DIGESTED, F_SIG, F_CORR, F_INIT, F_FINAL },
	  { F_UID, F_VALIDITY, F_DATA, F_CORR }, F_SIG, F_END },
	{ KMIP_OPERATION_MAC,
	  { F_UID, F_PARAMS, F_DATA, F_CORR, F_INIT, F_FINAL },
	  { F_UID, F_MAC, F_CORR }, F_DATA, F_END },
	{ KMIP_OPERATION_MAC_VERIFY,
	  { F_UID, F_PARAMS, F_DATA, F_MAC, F_CORR, F_INIT, F_FINAL },
	  { F_UID, F_VALIDITY, F_CORR }, F_MAC, F_END },
	{ KMIP_OPERATION_HASH,
	  { F_PARAMS, F_DATA, F_CORR, F_INIT, F_FINAL },
	  { F_DATA, F_CORR }, F_DATA, F_END },
};

/* The Cryptographic Parameters fields (1.4 section 3.6 Table 65, 2.0 section 4.16). */
static const uint32_t param_tags[] = {
	T(BLOCK_CIPHER_MODE), T(PADDING_METHOD), T(HASHING_ALGORITHM), T(KEY_ROLE_TYPE),
	T(DIGITAL_SIGNATURE_ALGORITHM), T(CRYPTOGRAPHIC_ALGORITHM), T(RANDOM_IV), T(IV_LENGTH),
	T(TAG_LENGTH), T(FIXED_FIELD_LENGTH), T(INVOCATION_FIELD_LENGTH), T(COUNTER_LENGTH),
	T(INITIAL_COUNTER_VALUE), T(SALT_LENGTH), T(MASK_GENERATOR),
	T(MASK_GENERATOR_HASHING_ALGORITHM), T(P_SOURCE), T(TRAILER_FIELD),
};

static const struct crypt_op *crypt_op_for(uint32_t op)
{
	for (size_t i = 0; i < sizeof crypt_ops / sizeof crypt_ops[0]; i++)
		if (crypt_ops[i].op == op)
			return &crypt_ops[i];
	return NULL;
}

bool kmip_op_crypto(uint32_t op)
{
	return crypt_op_for(op) != NULL || op == KMIP_OPERATION_RNG_RETRIEVE ||
	       op == KMIP_OPERATION_RNG_SEED || op == KMIP_OPERATION_DERIVE_KEY;
}

static const struct kmip_bytes *bytes_at(const struct kmip_crypt *p, int f)
{
	return (const struct kmip_bytes *)(const void *)((const char *)p + fields[f].off);
}

/* Field f is present in p and exists in the version. */
static bool has(const struct kmip_crypt *p, int f, int ver)
{
	if (fields[f].since > ver)
		return false;
	switch (f) {
	case F_UID: return p->uid.p != NULL;
	case F_PARAMS: return p->has_params;
	case F_INIT: return p->has_init;
	case F_FINAL: return p->has_final;
	case F_VALIDITY: return p->has_validity;
	default: return bytes_at(p, f)->p != NULL;
	}
}

static bool in_list(const uint8_t *list, int f)
{
	for (; *list != F_END; list++)
		if (*list == f)
			return true;
	return false;
}

/* Every field the specification requires is there (see the header comment). */
static bool crypt_complete(const struct crypt_op *o, bool response, int ver,
			   const struct kmip_crypt *p)
{
	if (response) {
		if (in_list(o->rsp, F_UID) && !has(p, F_UID, ver))
			return false;
		return !in_list(o->rsp, F_VALIDITY) || ver >= KMIP_V2_0 || has(p, F_VALIDITY, ver);
	}
	if (o->op == KMIP_OPERATION_HASH && !has(p, F_PARAMS, ver))
		return false;
	if (has(p, F_CORR, ver) || has(p, F_INIT, ver) || has(p, F_FINAL, ver))
		return true; /* multi-part */
	return has(p, o->single, ver) || (o->single_alt != F_END && has(p, o->single_alt, ver));
}

/* ---- decode --------------------------------------------------------------------------- */

/* Cryptographic Parameters: validated by the walk, then only its own fields, each once. */
static cf_err kd_params(struct kd *c, ttlv_rd *r, bool *present, struct kmip_bytes *out)
{
	struct kmip_crypto_params cp;
	struct ttlv_item it;
	size_t at = r->off;
	ttlv_rd ch;

	TRY(kd_struct(c, r, T(CRYPTOGRAPHIC_PARAMETERS), false, out));
	*present = out->p != NULL;
	if (!*present)
		return CF_OK;
	ttlv_rd_init(&ch, out->p, out->n, c->lim);
	while (!ttlv_rd_done(&ch)) {
		bool known = false;
		if (ttlv_rd_next(&ch, &it) != CF_OK)
			return kd_fail(c, r, at, CF_E_INTERNAL); /* the walk read it already */
		for (size_t i = 0; i < sizeof param_tags / sizeof param_tags[0]; i++)
			known = known || it.tag == param_tags[i];
		if (!known)
			return kd_fail(c, r, at, CF_E_UNEXPECTED_TAG);
	}
	return kd_fail(c, r, at, kmip_crypto_params_decode(*out, &cp));
}

static cf_err kd_cfield(struct kd *c, ttlv_rd *r, int f, struct kmip_crypt *p)
{
	uint32_t tag = fields[f].tag;

	switch (f) {
	case F_UID: return kd_text(c, r, tag, false, &p->uid);
	case F_PARAMS: return kd_params(c, r, &p->has_params, &p->params);
	case F_INIT: return kd_bool(c, r, tag, false, &p->has_init, &p->init);
	case F_FINAL: return kd_bool(c, r, tag, false, &p->has_final, &p->final);
	case F_VALIDITY: return kd_enum(c, r, tag, false, &p->has_validity, &p->validity);
	default:
		return kd_bytes(c, r, tag, false,
				(struct kmip_bytes *)(void *)((char *)p + fields[f].off));
	}
}

static cf_err kd_crypt(struct kd *c, ttlv_rd *r, const struct crypt_op *o, bool response,
		       struct kmip_crypt *p)
{
	for (const uint8_t *f = response ? o->rsp : o->req; *f != F_END; f++)
		if (fields[*f].since <= c->ver)
			TRY(kd_cfield(c, r, *f, p));
	if (!ttlv_rd_done(r)) /* a field out of order, repeated, unknown or too new */
		return kd_end(c, r);
	if (!crypt_complete(o, response, c->ver, p))
		return kd_fail(c, r, r->off, CF_E_MISSING);
	return CF_OK;
}

/* RNG Retrieve request and RNG Seed response: Data Length (>= 0); the other two: Data. */
static cf_err kd_rng(struct kd *c, ttlv_rd *r, uint32_t op, bool response, struct kmip_rng *p)
{
	size_t at = r->off;

	if ((op == KMIP_OPERATION_RNG_RETRIEVE) == response)
		return kd_bytes(c, r, T(DATA), true, &p->data);
	TRY(kd_int(c, r, T(DATA_LENGTH), true, &p->has_len, &p->len));
	return p->len < 0 ? kd_fail(c, r, at, CF_E_BAD_VALUE) : CF_OK;
}

/* Derivation Parameters: [Cryptographic Parameters] [Initialization Vector] [Derivation Data
 * (2.0: repeatable)] [Salt] [Iteration Count > 0]; PBKDF2 requires Salt and Iteration Count.
 * The other requirements (Derivation Data unless a Secret Data object is named, ...) depend
 * on the objects: the operation checks them. */
static cf_err kd_deriv_params(struct kd *c, ttlv_rd *r, uint32_t method,
			      struct kmip_deriv_params *dp)
{
	bool pbkdf2 = method == KMIP_DERIVATION_METHOD_PBKDF2;
	ttlv_rd ch;
	size_t at;

	TRY(kd_open(c, r, T(DERIVATION_PARAMETERS), &ch));
	TRY(kd_params(c, &ch, &dp->has_params, &dp->params));
	TRY(kd_bytes(c, &ch, T(INITIALIZATION_VECTOR), false, &dp->iv));
	TRY(kd_bytes(c, &ch, T(DERIVATION_DATA), false, &dp->data));
	if (c->ver >= KMIP_V2_0 && dp->data.p != NULL)
		TRY(kd_items(c, &ch, T(DERIVATION_DATA), &dp->data_more));
	TRY(kd_bytes(c, &ch, T(SALT), pbkdf2, &dp->salt));
	at = ch.off;
	TRY(kd_int(c, &ch, T(ITERATION_COUNT), pbkdf2, &dp->has_iterations, &dp->iterations));
	if (dp->has_iterations && dp->iterations <= 0)
		return kd_fail(c, &ch, at, CF_E_BAD_VALUE);
	return kd_end(c, &ch);
}

/* Derive Key request: Object Type, Unique Identifier (1 or more), Derivation Method,
 * Derivation Parameters, Template-Attribute (2.0: Attributes), all required. */
static cf_err kd_derive_req(struct kd *c, ttlv_rd *r, struct kmip_req_derive *p)
{
	size_t n;
	void *v;

	TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
	n = kd_count(r, T(UNIQUE_IDENTIFIER));
	if (n == 0) {
		struct kmip_text none;
		return kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &none); /* CF_E_MISSING */
	}
	TRY(kd_alloc(c, r, n, c->lim->max_attributes, sizeof *p->uids, &v));
	p->uids = v;
	for (size_t i = 0; i < n; i++)
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uids[i]));
	p->n_uids = n;
	TRY(kd_enum(c, r, T(DERIVATION_METHOD), true, NULL, &p->method));
	TRY(kd_deriv_params(c, r, p->method, &p->dp));
	return kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), true, &p->t);
}

cf_err kd_crypto_payload(struct kd *c, ttlv_rd *r, bool response, struct kmip_payload *pl)
{
	const struct crypt_op *o = crypt_op_for(pl->op);

	if (o != NULL)
		return kd_crypt(c, r, o, response, &pl->u.crypt);
	if (pl->op == KMIP_OPERATION_RNG_RETRIEVE || pl->op == KMIP_OPERATION_RNG_SEED)
		return kd_rng(c, r, pl->op, response, &pl->u.rng);
	if (pl->op == KMIP_OPERATION_DERIVE_KEY && !response)
		return kd_derive_req(c, r, &pl->u.derive_req);
	return CF_E_INTERNAL;
}

/* ---- encode --------------------------------------------------------------------------- */

static cf_err ke_crypt(ttlv_wr *w, const struct crypt_op *o, bool response,
		       const struct kmip_crypt *p, int ver)
{
	if (!crypt_complete(o, response, ver, p))
		return CF_E_MISSING;
	for (const uint8_t *f = response ? o->rsp : o->req; *f != F_END; f++) {
		uint32_t tag = fields[*f].tag;
		if (!has(p, *f, ver))
			continue;
		switch (*f) {
		case F_UID: TRY(ke_text(w, tag, p->uid)); break;
		case F_PARAMS: TRY(ke_struct(w, tag, p->params.p != NULL ? p->params :
					     (struct kmip_bytes){ (const uint8_t *)"", 0 })); break;
		case F_INIT: TRY(ttlv_wr_bool(w, tag, p->init)); break;
		case F_FINAL: TRY(ttlv_wr_bool(w, tag, p->final)); break;
		case F_VALIDITY: TRY(ke_enum(w, tag, p->validity, ver)); break;
		default: TRY(ke_bytes(w, tag, *bytes_at(p, *f))); break;
		}
	}
	return CF_OK;
}

static cf_err ke_rng(ttlv_wr *w, uint32_t op, bool response, const struct kmip_rng *p)
{
	if ((op == KMIP_OPERATION_RNG_RETRIEVE) == response)
		return p->data.p != NULL ? ke_bytes(w, T(DATA), p->data) : CF_E_MISSING;
	if (!p->has_len)
		return CF_E_MISSING;
	return p->len < 0 ? CF_E_BAD_VALUE : ttlv_wr_int(w, T(DATA_LENGTH), p->len);
}

static cf_err ke_deriv_params(ttlv_wr *w, const struct kmip_deriv_params *dp, int ver)
{
	size_t m;

	TRY(ttlv_wr_begin(w, T(DERIVATION_PARAMETERS), &m));
	if (dp->has_params)
		TRY(ke_struct(w, T(CRYPTOGRAPHIC_PARAMETERS), dp->params.p != NULL ? dp->params :
			      (struct kmip_bytes){ (const uint8_t *)"", 0 }));
	TRY(ke_bytes(w, T(INITIALIZATION_VECTOR), dp->iv));
	TRY(ke_bytes(w, T(DERIVATION_DATA), dp->data));
	if (ver >= KMIP_V2_0 && dp->data.p != NULL)
		TRY(ke_items(w, dp->data_more));
	TRY(ke_bytes(w, T(SALT), dp->salt));
	if (dp->has_iterations)
		TRY(ttlv_wr_int(w, T(ITERATION_COUNT), dp->iterations));
	return ttlv_wr_end(w, m);
}

static cf_err ke_derive_req(ttlv_wr *w, const struct kmip_req_derive *p, int ver)
{
	if (p->n_uids == 0 || p->uids == NULL)
		return CF_E_MISSING;
	TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
	for (size_t i = 0; i < p->n_uids; i++) {
		if (p->uids[i].p == NULL)
			return CF_E_MISSING;
		TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uids[i]));
	}
	TRY(ke_enum(w, T(DERIVATION_METHOD), p->method, ver));
	TRY(ke_deriv_params(w, &p->dp, ver));
	if (!p->t.present) { /* required in every version (may be empty) */
		struct kmip_tmpl e = { .present = true };
		return ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &e, ver);
	}
	return ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver);
}

cf_err ke_crypto_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response, int ver)
{
	const struct crypt_op *o = crypt_op_for(pl->op);

	if (o != NULL)
		return ke_crypt(w, o, response, &pl->u.crypt, ver);
	if (pl->op == KMIP_OPERATION_RNG_RETRIEVE || pl->op == KMIP_OPERATION_RNG_SEED)
		return ke_rng(w, pl->op, response, &pl->u.rng);
	if (pl->op == KMIP_OPERATION_DERIVE_KEY && !response)
		return ke_derive_req(w, &pl->u.derive_req, ver);
	return CF_E_INTERNAL;
}
