/* coffre-bench requests and responses: encode each request once (kmip_encode_request), check
 * every response (kmip_decode_response + Result Status). No I/O here. */
#include "tools/bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_ENC_CAP 65536u

struct kmip_limits bench_limits(void)
{
	struct kmip_limits l = KMIP_LIMITS_DEFAULT;
	l.max_message = 16u << 20;       /* Locate may answer with many identifiers */
	l.max_batch_items = 8;
	l.max_attributes = 1u << 20;     /* also bounds the Locate identifier count */
	l.max_bytes = 1u << 20;
	return l;
}

/* The --attr NAME=VALUE attribute in the form of version ver: a custom x-/y- name takes a
 * Text String; a standard attribute takes its own type (Enumeration by spec name or number,
 * Integer, Text String). */
static cf_err bench_attr_make(const struct bench_cfg *cfg, int ver, struct kmip_attr *a,
			      uint8_t buf[static 8])
{
	const char *name = cfg->attr_name, *val = cfg->attr_value;
	size_t nn = strlen(name), vn = strlen(val);

	memset(a, 0, sizeof *a);
	if (nn > 2 && (name[0] == 'x' || name[0] == 'y') && name[1] == '-') {
		kmip_attr_set_text(a, 0, val, vn);
		a->name = (struct kmip_text){ name, nn };
		return CF_OK;
	}
	const struct kmip_tag_info *ti = kmip_tag_by_name(name, nn);
	if (ti == NULL || kmip_attr_rule_for(ti->tag, ver) == NULL)
		return CF_E_BAD_ATTR;
	switch (kmip_tag_type(ti->tag, ver)) {
	case TTLV_TEXT_STRING:
		kmip_attr_set_text(a, ti->tag, val, vn);
		return CF_OK;
	case TTLV_ENUMERATION: {
		uint32_t v;
		if (kmip_enum_by_name(ti->tag, val, vn, &v) != CF_OK) {
			char *end;
			errno = 0;
			unsigned long u = strtoul(val, &end, 0);
			if (errno != 0 || end == val || *end != '\0' || u > UINT32_MAX)
				return CF_E_BAD_ENUM;
			v = (uint32_t)u;
		}
		kmip_attr_set_enum(a, ti->tag, v, buf);
		return CF_OK;
	}
	case TTLV_INTEGER: {
		char *end;
		errno = 0;
		long l = strtol(val, &end, 0);
		if (errno != 0 || end == val || *end != '\0' || l < INT32_MIN || l > INT32_MAX)
			return CF_E_BAD_VALUE;
		kmip_attr_set_int(a, ti->tag, (int32_t)l, buf);
		return CF_OK;
	}
	default:
		return CF_E_BAD_ATTR;
	}
}

/* Create Key Pair EC P-256: private key Sign, public key Verify (attrs: 4 entries). */
static void bench_kp_payload(struct kmip_attr *attrs, uint8_t b0[static 8], uint8_t b1[static 8],
			     uint8_t b2[static 8], uint8_t b3[static 8], struct kmip_payload *pl)
{
	kmip_attr_set_enum(&attrs[0], KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM,
			   KMIP_CRYPTOGRAPHIC_ALGORITHM_EC, b0);
	kmip_attr_set_int(&attrs[1], KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256, b1);
	kmip_attr_set_int(&attrs[2], KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK,
			  KMIP_CRYPTOGRAPHIC_USAGE_MASK_SIGN, b2);
	kmip_attr_set_int(&attrs[3], KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK,
			  KMIP_CRYPTOGRAPHIC_USAGE_MASK_VERIFY, b3);
	pl->u.kp_req.common = (struct kmip_tmpl){ .present = true, .a = { attrs, 2 } };
	pl->u.kp_req.priv = (struct kmip_tmpl){ .present = true, .a = { &attrs[2], 1 } };
	pl->u.kp_req.pub = (struct kmip_tmpl){ .present = true, .a = { &attrs[3], 1 } };
}

/* Encrypt (AES-GCM of 4 KiB, the server makes the nonce) or Sign (ECDSA with SHA-256 of 64
 * bytes) with the key uid; the Cryptographic Parameters encoded in params[cap]. */
static cf_err bench_crypt_payload(uint32_t op, const char *uid, uint8_t *params, size_t cap,
				  struct kmip_payload *pl)
{
	static const uint8_t data[4096];
	bool is_enc = op == KMIP_OPERATION_ENCRYPT;
	ttlv_wr pw;

	/* in the specification's order; the Cryptographic Algorithm and the Tag Length too:
	 * PyKMIP's server requires them */
	ttlv_wr_init(&pw, params, cap);
	if (is_enc)
		TRY(ttlv_wr_enum(&pw, KMIP_TAG_BLOCK_CIPHER_MODE, KMIP_BLOCK_CIPHER_MODE_GCM));
	else
		TRY(ttlv_wr_enum(&pw, KMIP_TAG_DIGITAL_SIGNATURE_ALGORITHM,
				 KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256));
	TRY(ttlv_wr_enum(&pw, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM,
			 is_enc ? KMIP_CRYPTOGRAPHIC_ALGORITHM_AES : KMIP_CRYPTOGRAPHIC_ALGORITHM_EC));
	if (is_enc)
		TRY(ttlv_wr_int(&pw, KMIP_TAG_TAG_LENGTH, 16));
	pl->u.crypt.uid = (struct kmip_text){ uid, strlen(uid) };
	pl->u.crypt.has_params = true;
	pl->u.crypt.params = (struct kmip_bytes){ params, ttlv_wr_len(&pw) };
	pl->u.crypt.data = (struct kmip_bytes){ data, is_enc ? sizeof data : 64u };
	return CF_OK;
}

/* Activate, Create Key Pair (EC P-256), Encrypt, Sign; CF_E_UNSUPPORTED_OP for another op. */
static cf_err bench_crypto_payload(uint32_t op, const char *uid, struct kmip_attr *attrs,
				   uint8_t b0[static 8], uint8_t b1[static 8], uint8_t b2[static 8],
				   uint8_t b3[static 8], uint8_t *params, size_t cap,
				   struct kmip_payload *pl)
{
	switch (op) {
	case KMIP_OPERATION_ACTIVATE:
		pl->u.uid_req.uid = (struct kmip_text){ uid, strlen(uid) };
		return CF_OK;
	case KMIP_OPERATION_CREATE_KEY_PAIR:
		bench_kp_payload(attrs, b0, b1, b2, b3, pl);
		return CF_OK;
	case KMIP_OPERATION_ENCRYPT:
	case KMIP_OPERATION_SIGN:
		return bench_crypt_payload(op, uid, params, cap, pl);
	default:
		return CF_E_UNSUPPORTED_OP;
	}
}

cf_err bench_msg_make(const struct bench_cfg *cfg, uint32_t op, const char *uid,
		      struct bench_msg *out)
{
	cf_err rc = CF_E_INTERNAL;
	uint8_t *enc = NULL;
	struct kmip_attr attrs[4];
	struct kmip_attr_ref refs[2];
	uint8_t b0[8], b1[8], b2[8], b3[8], params[64];
	struct kmip_req_item it;
	struct kmip_request rq;
	ttlv_wr w;
	int ver = kmip_version_from(cfg->pv.major, cfg->pv.minor);
	bool has_attr = cfg->attr_name[0] != '\0';

	*out = (struct bench_msg){ 0 };
	if (ver < 0)
		return CF_E_BAD_VERSION;
	memset(&it, 0, sizeof it);
	memset(&rq, 0, sizeof rq);
	it.op = op;
	it.pl.typed = true;
	switch (op) {
	case KMIP_OPERATION_CREATE: {
		size_t na = 3;
		/* like vCenter: AES-256, usage mask Encrypt | Decrypt (12) */
		kmip_attr_set_enum(&attrs[0], KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM,
				   KMIP_CRYPTOGRAPHIC_ALGORITHM_AES, b0);
		kmip_attr_set_int(&attrs[1], KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256, b1);
		kmip_attr_set_int(&attrs[2], KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK,
				  KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT |
				  KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT, b2);
		if (has_attr) {
			if ((rc = bench_attr_make(cfg, ver, &attrs[3], b3)) != CF_OK)
				goto out;
			na = 4;
		}
		it.pl.u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		it.pl.u.create_req.t = (struct kmip_tmpl){ .present = true, .a = { attrs, na } };
		break;
	}
	case KMIP_OPERATION_GET:
		it.pl.u.get_req.uid = (struct kmip_text){ uid, strlen(uid) };
		break;
	case KMIP_OPERATION_GET_ATTRIBUTES: {
		bool custom = has_attr && cfg->attr_name[1] == '-' &&
			      (cfg->attr_name[0] == 'x' || cfg->attr_name[0] == 'y');
		const char *cn = custom ? cfg->attr_name : "x-Vendor";
		memset(refs, 0, sizeof refs);
		refs[0].tag = KMIP_TAG_STATE;
		refs[1].name = (struct kmip_text){ cn, strlen(cn) };
		it.pl.u.get_attrs_req.uid = (struct kmip_text){ uid, strlen(uid) };
		it.pl.u.get_attrs_req.refs = (struct kmip_attr_refs){ refs, 2 };
		break;
	}
	case KMIP_OPERATION_LOCATE:
		if (!has_attr) {
			rc = CF_E_MISSING;
			goto out;
		}
		if ((rc = bench_attr_make(cfg, ver, &attrs[0], b0)) != CF_OK)
			goto out;
		if (cfg->max_items > 0) {
			it.pl.u.locate_req.has_max = true;
			it.pl.u.locate_req.max_items = cfg->max_items;
		}
		it.pl.u.locate_req.t = (struct kmip_tmpl){ .present = true, .a = { attrs, 1 } };
		break;
	case KMIP_OPERATION_DISCOVER_VERSIONS:
		break;                                 /* empty list: "all you support" */
	default:   /* the cryptographic services' set-up and requests, or not supported */
		if ((rc = bench_crypto_payload(op, uid, attrs, b0, b1, b2, b3, params, sizeof params,
					       &it.pl)) != CF_OK)
			goto out;
	}
	rq.h.pv = cfg->pv;
	rq.items = &it;
	rq.n_items = 1;

	enc = malloc(BENCH_ENC_CAP);
	if (enc == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	ttlv_wr_init(&w, enc, BENCH_ENC_CAP);
	if ((rc = kmip_encode_request(&w, &rq)) != CF_OK)
		goto out;
	size_t n = ttlv_wr_len(&w);
	uint8_t *p = realloc(enc, n);
	if (p == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	enc = NULL;
	*out = (struct bench_msg){ .p = p, .n = n, .op = op };
	rc = CF_OK;
out:
	free(enc);
	return rc;
}

void bench_msg_free(struct bench_msg *m)
{
	if (m == NULL)
		return;
	free(m->p);
	*m = (struct bench_msg){ 0 };
}

/* Copy a view as printable ASCII (anything else becomes '?'), NUL-terminated. */
static void bench_copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i;

	if (cap == 0)
		return;
	if (src == NULL)
		n = 0;
	for (i = 0; i < n && i < cap - 1u; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[i] = '\0';
}

cf_err bench_rsp_check(const uint8_t *p, size_t n, uint32_t want_op, struct kmip_arena *a,
		       struct bench_rsp_info *info)
{
	struct kmip_limits lim = bench_limits();
	struct kmip_response rsp;
	struct kmip_decode_error derr;
	cf_err rc;

	memset(info, 0, sizeof *info);
	kmip_arena_reset(a);
	if ((rc = kmip_decode_response(p, n, &lim, a, &rsp, &derr)) != CF_OK)
		return rc;
	if (rsp.n_items != 1)
		return CF_E_BATCH_COUNT;
	const struct kmip_rsp_item *it = &rsp.items[0];
	info->status = it->status;
	info->has_reason = it->has_reason;
	info->reason = it->reason;
	bench_copy_printable(info->message, sizeof info->message, it->message.p, it->message.n);
	if (it->status != KMIP_RESULT_STATUS_SUCCESS)
		return CF_E_STATE;
	if (it->has_op && it->op != want_op)
		return CF_E_BAD_VALUE;
	if (it->has_payload && it->pl.typed) {
		if (want_op == KMIP_OPERATION_CREATE && it->pl.op == KMIP_OPERATION_CREATE)
			bench_copy_printable(info->uid, sizeof info->uid,
					     it->pl.u.create_rsp.uid.p, it->pl.u.create_rsp.uid.n);
		else if (want_op == KMIP_OPERATION_CREATE_KEY_PAIR &&
			 it->pl.op == KMIP_OPERATION_CREATE_KEY_PAIR)
			bench_copy_printable(info->uid, sizeof info->uid,
					     it->pl.u.kp_rsp.priv_uid.p, it->pl.u.kp_rsp.priv_uid.n);
		else if (want_op == KMIP_OPERATION_GET && it->pl.op == KMIP_OPERATION_GET)
			bench_copy_printable(info->uid, sizeof info->uid,
					     it->pl.u.get_rsp.uid.p, it->pl.u.get_rsp.uid.n);
	}
	return CF_OK;
}

static const char *bench_op_text(uint32_t op)
{
	const char *s = kmip_enum_name(KMIP_TAG_OPERATION, op);
	return s != NULL ? s : "?";
}

void bench_rsp_describe(cf_err rc, uint32_t op, const struct bench_rsp_info *info, char *buf,
			size_t n)
{
	if (rc == CF_E_STATE) {
		const char *st = kmip_enum_name(KMIP_TAG_RESULT_STATUS, info->status);
		const char *re = info->has_reason ?
				 kmip_enum_name(KMIP_TAG_RESULT_REASON, info->reason) : NULL;
		snprintf(buf, n, "%s: Result Status %s, Result Reason %s%s%s", bench_op_text(op),
			 st != NULL ? st : "?", info->has_reason ? (re != NULL ? re : "?") : "(none)",
			 info->message[0] != '\0' ? ": " : "", info->message);
	} else if (rc == CF_E_BAD_VALUE) {
		snprintf(buf, n, "%s: the response is for another operation", bench_op_text(op));
	} else {
		snprintf(buf, n, "%s: response does not decode: %s (%s)", bench_op_text(op),
			 cf_err_str(rc), cf_err_name(rc));
	}
}
