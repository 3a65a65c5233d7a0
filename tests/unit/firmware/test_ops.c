/* KMIP operation handlers (firmware/ops*.c) end to end below TLS: real SoftHSMv2 token, real
 * SQLite store in a mkdtemp directory, identities built by hand. Requests are encoded with
 * kmip.h and responses decoded with it; the vCenter 7.0.3 capture is replayed whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "board/sec.h"
#include "firmware/store/audit.h"
#include "firmware/ops/authz.h"
#include "firmware/ops/ops.h"
#include "firmware/ops/ops_int.h"
#include "firmware/store/store.h"
#include "kmip/kmip.h"
#include "tests/unit/hsm/hsm_test_util.h"

#define VEC_VCENTER "../shared/vectors/vcenter-7.0.3/requests.txt"
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FP_RO "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define FP_ROT "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define FP_NONE "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define DN_SUBJ "CN=vcenter.example,O=Example"
#define DN_ISS "CN=Coffre CA"
#define MAX_KEYS 64

enum { C_A, C_B, C_RO, C_ROT, C_NONE, C_PINNED, C_N };

struct fx {
	struct tok_env env;
	hsm *h;
	char dir[64];
	struct config *cfg;
	struct svc svc;
	struct ops_worker *w;
	struct identity id[C_N];
	struct net_conn_info ci[C_N];
	int64_t now;
	uint8_t resp[1u << 20];
	size_t resp_len;
	uint8_t abuf[1u << 20];
	struct kmip_arena a;
	struct kmip_response rs;
	uint8_t req[1u << 16];
	uint8_t rbuf[1u << 18];
	/* every key Get returned, for the final scan */
	uint8_t keys[MAX_KEYS][64];
	size_t key_n[MAX_KEYS];
	size_t n_keys;
};

static struct fx *F;

static int64_t fake_now(void *arg)
{
	return ((struct fx *)arg)->now;
}

static void id_set(struct fx *f, int i, const char *fp, const char *subj, const char *iss, bool chain)
{
	struct identity *id = &f->id[i];
	memset(id, 0, sizeof *id);
	strcpy(id->fp_hex, fp);
	strcpy(id->subject, subj);
	strcpy(id->issuer, iss);
	strcpy(id->cn, "test");
	id->chain_ok = chain;
	snprintf(f->ci[i].peer, sizeof f->ci[i].peer, "127.0.0.1:%d", 40000 + i);
	f->ci[i].id = id;
	f->ci[i].conn_id = (uint64_t)i;
}

static void client_add(struct config *c, const char *fp, const char *subj, const char *iss,
		       const char *tenant, enum config_role role)
{
	struct config_client *cc = &c->clients[c->n_clients++];
	memset(cc, 0, sizeof *cc);
	strcpy(cc->fingerprint, fp);
	strcpy(cc->subject, subj);
	strcpy(cc->issuer, iss);
	strcpy(cc->tenant, tenant);
	cc->role = role;
}

static int group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	hsm_sess *s;
	uint32_t v;

	if (f == NULL || tok_env_setup(&f->env) != 0)
		return -1;
	if (tok_env_open(TEST_TOKEN, false, 2, 5000, &f->h) != CF_OK)
		return -1;
	if (hsm_session_acquire(f->h, 1000, &s) != CF_OK)
		return -1;
	if (hsm_kek_create(s, &v) != CF_OK || hsm_kek_make_current(f->h, v) != CF_OK)
		return -1;
	hsm_session_release(s);
	strcpy(f->dir, "/tmp/coffre-ops-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->cfg = calloc(1, sizeof *f->cfg);
	if (f->cfg == NULL)
		return -1;
	client_add(f->cfg, FP_A, "", "", "t1", CONFIG_ROLE_USER);
	client_add(f->cfg, "", DN_SUBJ, DN_ISS, "t1", CONFIG_ROLE_USER);
	client_add(f->cfg, FP_B, "", "", "t2", CONFIG_ROLE_USER);
	client_add(f->cfg, FP_RO, "", "", "t1", CONFIG_ROLE_READONLY);
	id_set(f, C_A, FP_A, "CN=a", DN_ISS, true);
	id_set(f, C_B, FP_B, "CN=b", DN_ISS, true);
	id_set(f, C_RO, FP_RO, "CN=ro", DN_ISS, true);
	id_set(f, C_ROT, FP_ROT, DN_SUBJ, DN_ISS, true);      /* rotated certificate, same DN */
	id_set(f, C_NONE, FP_NONE, "CN=nobody", DN_ISS, true);
	id_set(f, C_PINNED, FP_NONE, DN_SUBJ, DN_ISS, false); /* pinned self-signed claiming the DN */
	f->now = 1700000000;
	f->svc.cfg = f->cfg;
	f->svc.hsm = f->h;
	snprintf(f->svc.store_path, sizeof f->svc.store_path, "%s/store.db", f->dir);
	atomic_store(&f->svc.state, SVC_READY);
	f->svc.limits = KMIP_LIMITS_DEFAULT;
	f->svc.vendor_id = "Coffre test";
	f->svc.now = fake_now;
	f->svc.now_arg = f;
	if (ops_worker_new(&f->svc, 0, &f->w) != CF_OK)
		return -1;
	F = f;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	ops_worker_free(f->w);
	hsm_close(f->h);
	tok_env_teardown(&f->env);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	config_free(NULL);
	free(f->cfg);
	sec_wipe(f, sizeof *f);
	free(f);
	return 0;
}

/* ---- request building --------------------------------------------------------------- */

struct rq {
	struct kmip_request m;
	struct kmip_req_item items[8];
};

static void rq_init(struct rq *q, int major, int minor)
{
	memset(q, 0, sizeof *q);
	q->m.h.pv = (struct kmip_pv){ major, minor };
	q->m.h.version = kmip_version_from(major, minor);
	q->m.items = q->items;
}

static struct kmip_payload *rq_add(struct rq *q, uint32_t op, const char *id)
{
	struct kmip_req_item *it = &q->items[q->m.n_items++];
	memset(it, 0, sizeof *it);
	it->op = op;
	if (id != NULL)
		it->id = (struct kmip_bytes){ (const uint8_t *)id, strlen(id) };
	it->pl.op = op;
	it->pl.typed = true;
	return &it->pl;
}

static size_t rq_encode(struct fx *f, const struct kmip_request *m)
{
	ttlv_wr w;
	ttlv_wr_init(&w, f->req, sizeof f->req);
	assert_int_equal(kmip_encode_request(&w, m), CF_OK);
	return ttlv_wr_len(&w);
}

/* Send raw bytes; decode the response into f->rs. */
static struct kmip_response *send_raw(struct fx *f, int who, const uint8_t *req, size_t n)
{
	struct kmip_decode_error de;
	assert_int_equal(ops_handle(f->w, &f->ci[who], req, n, f->resp, sizeof f->resp, &f->resp_len),
			 CF_OK);
	assert_true(f->resp_len > 0);
	kmip_arena_init(&f->a, f->abuf, sizeof f->abuf);
	assert_int_equal(kmip_decode_response(f->resp, f->resp_len, NULL, &f->a, &f->rs, &de), CF_OK);
	assert_true(f->rs.h.time_stamp == f->now);
	return &f->rs;
}

static struct kmip_response *send_rq(struct fx *f, int who, struct rq *q)
{
	size_t n = rq_encode(f, &q->m);
	return send_raw(f, who, f->req, n);
}

static void assert_ok(const struct kmip_rsp_item *it)
{
	if (it->status != KMIP_RESULT_STATUS_SUCCESS)
		fail_msg("status %u reason 0x%x msg %.*s", it->status, it->reason,
			 (int)it->message.n, it->message.p != NULL ? it->message.p : "");
}

static void assert_fail(const struct kmip_rsp_item *it, uint32_t reason)
{
	if (it->status != KMIP_RESULT_STATUS_OPERATION_FAILED || !it->has_reason ||
	    it->reason != reason)
		fail_msg("want failure 0x%x, got status %u reason 0x%x (%.*s)", reason, it->status,
			 it->reason, (int)it->message.n, it->message.p != NULL ? it->message.p : "");
}

static void text_to(struct kmip_text t, char *out, size_t cap)
{
	assert_non_null(t.p);
	assert_true(t.n < cap);
	memcpy(out, t.p, t.n);
	out[t.n] = '\0';
}

static void remember_key(struct fx *f, const uint8_t *k, size_t n)
{
	for (size_t i = 0; i < f->n_keys; i++)
		if (f->key_n[i] == n && memcmp(f->keys[i], k, n) == 0)
			return;
	assert_true(f->n_keys < MAX_KEYS && n <= 64);
	memcpy(f->keys[f->n_keys], k, n);
	f->key_n[f->n_keys++] = n;
}

/* Attributes for templates. */
struct abuf {
	struct kmip_attr v[8];
	uint8_t b[8][8];
	size_t n;
};

static void ab_enum(struct abuf *a, uint32_t tag, uint32_t v)
{
	kmip_attr_set_enum(&a->v[a->n], tag, v, a->b[a->n]);
	a->n++;
}

static void ab_int(struct abuf *a, uint32_t tag, int32_t v)
{
	kmip_attr_set_int(&a->v[a->n], tag, v, a->b[a->n]);
	a->n++;
}

static void ab_text(struct abuf *a, uint32_t tag, const char *name, const char *s)
{
	kmip_attr_set_text(&a->v[a->n], tag, s, strlen(s));
	if (tag == 0)
		a->v[a->n].name = (struct kmip_text){ name, strlen(name) };
	a->n++;
}

/* Name { Name Value, Name Type = Uninterpreted Text String } */
static void ab_name(struct abuf *a, const char *s, uint8_t *buf, size_t cap)
{
	ttlv_wr w;
	ttlv_wr_init(&w, buf, cap);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_NAME_VALUE, s, strlen(s)), CF_OK);
	assert_int_equal(ttlv_wr_enum(&w, KMIP_TAG_NAME_TYPE, KMIP_NAME_TYPE_UNINTERPRETED_TEXT_STRING),
			 CF_OK);
	struct kmip_attr *x = &a->v[a->n++];
	memset(x, 0, sizeof *x);
	x->tag = KMIP_TAG_NAME;
	x->type = TTLV_STRUCTURE;
	x->val = (struct kmip_bytes){ buf, ttlv_wr_len(&w) };
}

static void create_key(struct fx *f, int who, int minor, int32_t len, struct abuf *extra,
		       char uid[static 65])
{
	struct rq q;
	struct abuf a = { .n = 0 };
	rq_init(&q, 1, minor);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, NULL);
	ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 12);
	ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, len);
	if (extra != NULL)
		for (size_t i = 0; i < extra->n; i++)
			a.v[a.n++] = extra->v[i];
	pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	pl->u.create_req.t.present = true;
	pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
	struct kmip_response *r = send_rq(f, who, &q);
	assert_int_equal(r->n_items, 1);
	assert_ok(&r->items[0]);
	text_to(r->items[0].pl.u.create_rsp.uid, uid, 65);
}

static const struct kmip_rsp_item *one_uid(struct fx *f, int who, int minor, uint32_t op,
					   const char *uid)
{
	struct rq q;
	rq_init(&q, minor == 0 ? 2 : 1, minor == 0 ? 0 : minor);
	struct kmip_payload *pl = rq_add(&q, op, NULL);
	struct kmip_text t = { uid, strlen(uid) };
	switch (op) {
	case KMIP_OPERATION_GET:
		pl->u.get_req.uid = t;
		break;
	case KMIP_OPERATION_GET_ATTRIBUTES:
		pl->u.get_attrs_req.uid = t;
		break;
	default:
		pl->u.uid_req.uid = t;
		break;
	}
	struct kmip_response *r = send_rq(f, who, &q);
	assert_int_equal(r->n_items, 1);
	return &r->items[0];
}

/* Get; returns the key bytes (copied into out) and their length, or 0 on failure. */
static size_t get_key(struct fx *f, int who, const char *uid, uint8_t out[64])
{
	const struct kmip_rsp_item *it = one_uid(f, who, 4, KMIP_OPERATION_GET, uid);
	if (it->status != KMIP_RESULT_STATUS_SUCCESS)
		return 0;
	const struct kmip_object *o = &it->pl.u.get_rsp.obj;
	const struct kmip_bytes *m = o->type == KMIP_OBJECT_TYPE_OPAQUE_OBJECT ? &o->opaque
									      : &o->kb.material;
	assert_true(m->n <= 64);
	memcpy(out, m->p, m->n);
	remember_key(f, m->p, m->n);
	return m->n;
}

/* Value of the first attribute named `name` in a Get Attributes response (NULL if none). */
static const struct kmip_attr *rsp_attr(const struct kmip_rsp_item *it, uint32_t tag, const char *name)
{
	const struct kmip_attrs *as = &it->pl.u.get_attrs_rsp.t.a;
	for (size_t i = 0; i < as->n; i++) {
		const struct kmip_attr *a = &as->v[i];
		if (tag != 0 && a->tag == tag)
			return a;
		if (tag == 0 && a->tag == 0 && a->name.n == strlen(name) &&
		    memcmp(a->name.p, name, a->name.n) == 0)
			return a;
	}
	return NULL;
}

static uint32_t state_of(struct fx *f, int who, const char *uid)
{
	const struct kmip_rsp_item *it = one_uid(f, who, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	uint32_t v = 0;
	assert_ok(it);
	const struct kmip_attr *a = rsp_attr(it, KMIP_TAG_STATE, NULL);
	assert_non_null(a);
	assert_int_equal(kmip_attr_get_u32(a, &v), CF_OK);
	return v;
}

static bool text_eq(const struct kmip_attr *a, const char *s)
{
	return a != NULL && a->type == TTLV_TEXT_STRING && a->val.n == strlen(s) &&
	       memcmp(a->val.p, s, a->val.n) == 0;
}

/* ---- vCenter 7.0.3 replay ------------------------------------------------------------ */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct kmip_text *req_uid(struct kmip_req_item *it)
{
	switch (it->op) {
	case KMIP_OPERATION_GET:
		return &it->pl.u.get_req.uid;
	case KMIP_OPERATION_GET_ATTRIBUTES:
		return &it->pl.u.get_attrs_req.uid;
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
		return &it->pl.u.attr_req.uid;
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
		return &it->pl.u.uid_req.uid;
	case KMIP_OPERATION_REVOKE:
		return &it->pl.u.revoke_req.uid;
	default:
		return NULL;
	}
}

static void test_vcenter_replay(void **state)
{
	struct fx *f = *state;
	FILE *fp = fopen(VEC_VCENTER, "r");
	static char line[16384];
	static uint8_t raw[8192], arena_buf[1u << 18];
	char uids[2][65] = { "", "" };
	uint8_t key[2][64];
	size_t key_n[2] = { 0, 0 };
	size_t n_lines = 0, n_creates = 0, n_gets = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof line, fp) != NULL) {
		struct kmip_arena a;
		struct kmip_request rq;
		struct kmip_decode_error de;
		const uint8_t *req = raw;
		size_t n, len = strlen(line);
		bool rewritten = false;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		char *hex = strrchr(line, ' ');
		assert_non_null(hex);
		n = unhex(hex + 1, raw, sizeof raw);
		kmip_arena_init(&a, arena_buf, sizeof arena_buf);
		assert_int_equal(kmip_decode_request(raw, n, NULL, &a, &rq, &de), CF_OK);
		for (size_t i = 0; i < rq.n_items; i++) {
			struct kmip_text *u = req_uid(&rq.items[i]);
			if (u == NULL || u->p == NULL)
				continue;
			assert_true(u->n == 1 && (u->p[0] == '1' || u->p[0] == '2'));
			int k = u->p[0] - '1';
			assert_true(uids[k][0] != '\0'); /* Create came first */
			*u = (struct kmip_text){ uids[k], strlen(uids[k]) };
			rewritten = true;
		}
		if (rewritten) {
			n = rq_encode(f, &rq);
			req = f->req;
		}
		/* the ids of the items, before the response overwrites nothing of raw/arena */
		struct kmip_response *r = send_raw(f, C_A, req, n);
		n_lines++;
		assert_int_equal(r->h.pv.major, 1);
		assert_int_equal(r->h.pv.minor, 1);
		assert_int_equal(r->n_items, rq.n_items);
		for (size_t i = 0; i < r->n_items; i++) {
			const struct kmip_rsp_item *it = &r->items[i];
			assert_ok(it);
			assert_int_equal(it->op, rq.items[i].op);
			assert_int_equal(it->id.n, rq.items[i].id.n);
			if (it->id.n > 0)
				assert_memory_equal(it->id.p, rq.items[i].id.p, it->id.n);
			if (it->op == KMIP_OPERATION_CREATE) {
				assert_true(n_creates < 2);
				text_to(it->pl.u.create_rsp.uid, uids[n_creates], 65);
				n_creates++;
			}
			if (it->op == KMIP_OPERATION_GET) {
				const struct kmip_key_block *kb = &it->pl.u.get_rsp.obj.kb;
				char u[65];
				text_to(it->pl.u.get_rsp.uid, u, sizeof u);
				int k = strcmp(u, uids[0]) == 0 ? 0 : 1;
				assert_int_equal(kb->format, KMIP_KEY_FORMAT_TYPE_RAW);
				assert_int_equal(kb->material.n, 32);
				assert_int_equal(kb->alg, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
				assert_int_equal(kb->len, 256);
				if (key_n[k] == 0) {
					memcpy(key[k], kb->material.p, 32);
					key_n[k] = 32;
				} else {
					assert_memory_equal(key[k], kb->material.p, 32);
				}
				remember_key(f, kb->material.p, 32);
				n_gets++;
			}
		}
	}
	fclose(fp);
	assert_int_equal(n_lines, 102);
	assert_int_equal(n_creates, 2);
	assert_true(n_gets >= 2);

	/* both keys Active, tagged as vCenter tagged them, same material on a new Get */
	static const char *const comp[2] = { "Virtual Machine", "ESXi Server" };
	for (int k = 0; k < 2; k++) {
		uint8_t again[64];
		assert_int_equal(state_of(f, C_A, uids[k]), KMIP_STATE_ACTIVE);
		const struct kmip_rsp_item *it = one_uid(f, C_A, 1, KMIP_OPERATION_GET_ATTRIBUTES,
							 uids[k]);
		assert_ok(it);
		assert_true(text_eq(rsp_attr(it, 0, "x-Vendor"), "VMware, Inc."));
		assert_true(text_eq(rsp_attr(it, 0, "x-Product"), "VMware vSphere"));
		assert_true(text_eq(rsp_attr(it, 0, "x-Product_Version"), "7.0.3 build-19480866"));
		assert_true(text_eq(rsp_attr(it, 0, "x-Component"), comp[k]));
		assert_non_null(rsp_attr(it, 0, "x-Identifier"));
		assert_non_null(rsp_attr(it, 0, "x-Name"));
		assert_int_equal(get_key(f, C_A, uids[k], again), 32);
		assert_memory_equal(again, key[k], 32);
	}
	assert_memory_not_equal(key[0], key[1], 32);
}

/* ---- life cycle ----------------------------------------------------------------------- */

static const struct kmip_rsp_item *attr_change(struct fx *f, uint32_t op, const char *uid,
					       const struct kmip_attr *a, bool has_index, int32_t index)
{
	struct rq q;
	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, op, NULL);
	pl->u.attr_req.uid = (struct kmip_text){ uid, strlen(uid) };
	if (op == KMIP_OPERATION_DELETE_ATTRIBUTE) {
		pl->u.attr_req.has_ref = true;
		pl->u.attr_req.ref = (struct kmip_attr_ref){ .tag = a->tag, .name = a->name };
		pl->u.attr_req.has_index = has_index;
		pl->u.attr_req.index = index;
	} else {
		pl->u.attr_req.has_new = true;
		pl->u.attr_req.attr = *a;
		pl->u.attr_req.attr.has_index = has_index;
		pl->u.attr_req.attr.index = index;
	}
	struct kmip_response *r = send_rq(f, C_A, &q);
	assert_int_equal(r->n_items, 1);
	return &r->items[0];
}

static size_t locate(struct fx *f, int who, struct abuf *a, int32_t max, int32_t offset,
		     char uids[][65], int32_t *located)
{
	struct rq q;
	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_LOCATE, NULL);
	pl->u.locate_req.t.present = a->n > 0;
	pl->u.locate_req.t.a = (struct kmip_attrs){ a->v, a->n };
	if (max >= 0) {
		pl->u.locate_req.has_max = true;
		pl->u.locate_req.max_items = max;
	}
	if (offset >= 0) {
		pl->u.locate_req.has_offset = true;
		pl->u.locate_req.offset_items = offset;
	}
	struct kmip_response *r = send_rq(f, who, &q);
	assert_int_equal(r->n_items, 1);
	assert_ok(&r->items[0]);
	const struct kmip_rsp_locate *l = &r->items[0].pl.u.locate_rsp;
	if (located != NULL) {
		assert_true(l->has_located);
		*located = l->located_items;
	}
	for (size_t i = 0; uids != NULL && i < l->n; i++)
		text_to(l->uids[i], uids[i], 65);
	return l->n;
}

static void ab_date(struct abuf *a, uint32_t tag, int64_t d)
{
	struct kmip_attr *x = &a->v[a->n];
	memset(x, 0, sizeof *x);
	x->tag = tag;
	x->type = TTLV_DATE_TIME;
	for (int k = 0; k < 8; k++)
		a->b[a->n][k] = (uint8_t)((uint64_t)d >> (56 - 8 * k));
	x->val = (struct kmip_bytes){ a->b[a->n], 8 };
	a->n++;
}

/* Locate by the dates kept as columns (KMIP 1.4 section 4.9): one instance = that date, two
 * = an inclusive range (in either order), a third = Invalid Field. */
static void test_locate_dates(void **state)
{
	struct fx *f = *state;
	int64_t saved = f->now, t0 = 1800000000;
	char u[3][65], found[8][65];
	struct abuf g = { .n = 0 }, flt;

	ab_text(&g, KMIP_TAG_OBJECT_GROUP, NULL, "ld-dates");
	for (int i = 0; i < 3; i++) {
		f->now = t0 + 100 * i;
		create_key(f, C_A, 4, 128, &g, u[i]);
	}
	f->now = t0 + 500;
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_ACTIVATE, u[1]));
	flt = g;
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 100);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], u[1]);
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0); /* [t0, t0 + 100], given end first */
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 2);
	assert_string_equal(found[0], u[0]);
	assert_string_equal(found[1], u[1]);
	flt = g;
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 100);
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 200);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 2);
	assert_string_equal(found[0], u[1]);
	assert_string_equal(found[1], u[2]);
	flt = g;
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 1);
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 99);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, NULL, NULL), 0);
	/* another tenant sees none of them */
	flt = (struct abuf){ .n = 0 };
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0);
	ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + 200);
	assert_int_equal(locate(f, C_B, &flt, -1, -1, NULL, NULL), 0);
	/* Activation Date: only the activated key has one */
	flt = g;
	ab_date(&flt, KMIP_TAG_ACTIVATION_DATE, 0);
	ab_date(&flt, KMIP_TAG_ACTIVATION_DATE, t0 + 1000);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], u[1]);
	/* a third instance, or a date that is not a Date-Time: Invalid Field */
	flt = g;
	for (int i = 0; i < 3; i++)
		ab_date(&flt, KMIP_TAG_INITIAL_DATE, t0 + i);
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_LOCATE, NULL);
		pl->u.locate_req.t.present = true;
		pl->u.locate_req.t.a = (struct kmip_attrs){ flt.v, flt.n };
		assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_INVALID_FIELD);
	}
	f->now = saved;
}

static void test_lifecycle(void **state)
{
	struct fx *f = *state;
	char uid[65], u2[65], u3[65], found[8][65];
	uint8_t k1[64], k2[64], nbuf[64];
	struct abuf ex = { .n = 0 }, flt;
	int32_t located;

	ab_name(&ex, "lc-key-1", nbuf, sizeof nbuf);
	ab_text(&ex, KMIP_TAG_OBJECT_GROUP, NULL, "lc-group");
	ab_text(&ex, 0, "x-Owner", "team-a");
	create_key(f, C_A, 4, 128, &ex, uid);
	assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_PRE_ACTIVE);

	/* Get works on a Pre-Active key, Raw and Transparent give the same bytes */
	assert_int_equal(get_key(f, C_A, uid, k1), 16);
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_GET, NULL);
		pl->u.get_req.uid = (struct kmip_text){ uid, strlen(uid) };
		pl->u.get_req.has_format = true;
		pl->u.get_req.format = KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY;
		struct kmip_response *r = send_rq(f, C_A, &q);
		assert_ok(&r->items[0]);
		const struct kmip_key_block *kb = &r->items[0].pl.u.get_rsp.obj.kb;
		assert_int_equal(kb->format, KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY);
		assert_int_equal(kb->material.n, 16);
		assert_memory_equal(kb->material.p, k1, 16);
		pl->u.get_req.format = KMIP_KEY_FORMAT_TYPE_PKCS_1;
		r = send_rq(f, C_A, &q);
		assert_fail(&r->items[0], KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED);
	}

	/* absent attribute: success with no attribute */
	{
		struct rq q;
		rq_init(&q, 1, 1);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_GET_ATTRIBUTES, NULL);
		struct kmip_attr_ref ref = { .name = { "x-Absent", 8 } };
		pl->u.get_attrs_req.uid = (struct kmip_text){ uid, strlen(uid) };
		pl->u.get_attrs_req.refs = (struct kmip_attr_refs){ &ref, 1 };
		struct kmip_response *r = send_rq(f, C_A, &q);
		assert_ok(&r->items[0]);
		assert_int_equal(r->items[0].pl.u.get_attrs_rsp.t.a.n, 0);
	}

	/* custom attributes: several instances, modify, delete */
	struct kmip_attr xa;
	kmip_attr_set_text(&xa, 0, "v0", 2);
	xa.name = (struct kmip_text){ "x-Multi", 7 };
	assert_ok(attr_change(f, KMIP_OPERATION_ADD_ATTRIBUTE, uid, &xa, false, 0));
	kmip_attr_set_text(&xa, 0, "v1", 2);
	xa.name = (struct kmip_text){ "x-Multi", 7 };
	const struct kmip_rsp_item *it = attr_change(f, KMIP_OPERATION_ADD_ATTRIBUTE, uid, &xa, false, 0);
	assert_ok(it);
	assert_true(it->pl.u.attr_rsp.has_attr && it->pl.u.attr_rsp.attr.index == 1);
	uint8_t ib[8];
	struct kmip_attr ia;
	kmip_attr_set_int(&ia, 0, 42, ib);
	ia.name = (struct kmip_text){ "x-Number", 8 };
	assert_ok(attr_change(f, KMIP_OPERATION_ADD_ATTRIBUTE, uid, &ia, false, 0));
	kmip_attr_set_text(&xa, 0, "v1-new", 6);
	xa.name = (struct kmip_text){ "x-Multi", 7 };
	assert_ok(attr_change(f, KMIP_OPERATION_MODIFY_ATTRIBUTE, uid, &xa, true, 1));
	assert_fail(attr_change(f, KMIP_OPERATION_MODIFY_ATTRIBUTE, uid, &xa, true, 7),
		    KMIP_RESULT_REASON_INVALID_FIELD);
	assert_ok(attr_change(f, KMIP_OPERATION_DELETE_ATTRIBUTE, uid, &xa, true, 0));
	/* server-kept attributes cannot be changed */
	{
		uint8_t sb[8];
		struct kmip_attr sa;
		kmip_attr_set_enum(&sa, KMIP_TAG_STATE, KMIP_STATE_ACTIVE, sb);
		assert_fail(attr_change(f, KMIP_OPERATION_ADD_ATTRIBUTE, uid, &sa, false, 0),
			    KMIP_RESULT_REASON_PERMISSION_DENIED);
	}
	it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	assert_ok(it);
	assert_true(text_eq(rsp_attr(it, 0, "x-Multi"), "v1-new"));
	assert_int_equal(rsp_attr(it, 0, "x-Multi")->index, 1);
	assert_true(text_eq(rsp_attr(it, 0, "x-Owner"), "team-a"));
	assert_true(text_eq(rsp_attr(it, KMIP_TAG_OBJECT_GROUP, NULL), "lc-group"));
	assert_non_null(rsp_attr(it, KMIP_TAG_NAME, NULL));
	assert_non_null(rsp_attr(it, KMIP_TAG_INITIAL_DATE, NULL));
	{
		uint32_t v;
		assert_int_equal(kmip_attr_get_u32(rsp_attr(it, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, NULL), &v),
				 CF_OK);
		assert_int_equal(v, 128);
	}
	/* Get Attribute List names them */
	it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTE_LIST, uid);
	assert_ok(it);
	{
		const struct kmip_attr_refs *refs = &it->pl.u.get_attr_list_rsp.refs;
		bool multi = false, state_seen = false;
		for (size_t i = 0; i < refs->n; i++) {
			if (refs->v[i].tag == KMIP_TAG_STATE)
				state_seen = true;
			if (refs->v[i].tag == 0 && refs->v[i].name.n == 7 &&
			    memcmp(refs->v[i].name.p, "x-Multi", 7) == 0)
				multi = true;
		}
		assert_true(multi && state_seen);
	}

	/* Locate: three keys in a group; filters, max, offset */
	struct abuf g = { .n = 0 };
	ab_text(&g, KMIP_TAG_OBJECT_GROUP, NULL, "lc-pages");
	create_key(f, C_A, 4, 256, &g, u2);
	create_key(f, C_A, 4, 192, &g, u3);
	{
		char u4[65];
		create_key(f, C_A, 4, 256, &g, u4);
	}
	flt = (struct abuf){ .n = 0 };
	ab_text(&flt, KMIP_TAG_OBJECT_GROUP, NULL, "lc-pages");
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, &located), 3);
	assert_int_equal(located, 3);
	assert_string_equal(found[0], u2);
	assert_int_equal(locate(f, C_A, &flt, 2, -1, found, &located), 2);
	assert_int_equal(located, 3);
	assert_int_equal(locate(f, C_A, &flt, 2, 1, found, NULL), 2);
	assert_string_equal(found[0], u3);
	assert_int_equal(locate(f, C_A, &flt, -1, 5, NULL, NULL), 0);
	ab_int(&flt, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 192);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], u3);
	flt = (struct abuf){ .n = 0 };
	ab_name(&flt, "lc-key-1", nbuf, sizeof nbuf);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], uid);
	flt = (struct abuf){ .n = 0 };
	ab_text(&flt, 0, "x-Owner", "team-a");
	ab_enum(&flt, KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
	ab_enum(&flt, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], uid);
	flt = (struct abuf){ .n = 0 };
	ab_int(&flt, 0, 42); /* x-Number = 42 (integer) */
	flt.v[0].name = (struct kmip_text){ "x-Number", 8 };
	assert_int_equal(locate(f, C_A, &flt, -1, -1, found, NULL), 1);

	/* activate, then the forbidden transitions */
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_ACTIVATE, uid));
	assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_ACTIVE);
	it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	assert_non_null(rsp_attr(it, KMIP_TAG_ACTIVATION_DATE, NULL));
	flt = (struct abuf){ .n = 0 };
	ab_enum(&flt, KMIP_TAG_STATE, KMIP_STATE_ACTIVE);
	ab_text(&flt, 0, "x-Owner", "team-a");
	assert_int_equal(locate(f, C_A, &flt, -1, -1, NULL, NULL), 1);
	assert_fail(one_uid(f, C_A, 4, KMIP_OPERATION_ACTIVATE, uid), KMIP_RESULT_REASON_PERMISSION_DENIED);
	assert_fail(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, uid), KMIP_RESULT_REASON_PERMISSION_DENIED);
	assert_int_equal(get_key(f, C_A, uid, k2), 16);
	assert_memory_equal(k1, k2, 16);

	/* revoke -> Deactivated, destroy, destroyed Get refused, metadata stays */
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_REVOKE, NULL);
		pl->u.revoke_req.uid = (struct kmip_text){ uid, strlen(uid) };
		pl->u.revoke_req.reason_code = KMIP_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION;
		pl->u.revoke_req.reason_msg = (struct kmip_text){ "retired", 7 };
		assert_ok(&send_rq(f, C_A, &q)->items[0]);
	}
	assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_DEACTIVATED);
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, uid));
	assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_DESTROYED);
	assert_fail(one_uid(f, C_A, 4, KMIP_OPERATION_GET, uid), KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	assert_fail(one_uid(f, C_A, 0, KMIP_OPERATION_GET, uid), KMIP_RESULT_REASON_OBJECT_DESTROYED);
	assert_fail(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, uid), KMIP_RESULT_REASON_PERMISSION_DENIED);
	it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	assert_non_null(rsp_attr(it, KMIP_TAG_DESTROY_DATE, NULL));
	assert_non_null(rsp_attr(it, KMIP_TAG_REVOCATION_REASON, NULL));
	/* compromise */
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_REVOKE, NULL);
		pl->u.revoke_req.uid = (struct kmip_text){ u2, strlen(u2) };
		pl->u.revoke_req.reason_code = KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE;
		assert_ok(&send_rq(f, C_A, &q)->items[0]);
	}
	assert_int_equal(state_of(f, C_A, u2), KMIP_STATE_COMPROMISED);
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, u2));
	assert_int_equal(state_of(f, C_A, u2), KMIP_STATE_DESTROYED_COMPROMISED);
	/* a Pre-Active key can be destroyed without revocation */
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, u3));
	/* unknown uid */
	assert_fail(one_uid(f, C_A, 4, KMIP_OPERATION_GET, "no-such-uid"), KMIP_RESULT_REASON_ITEM_NOT_FOUND);
}

/* ---- the life cycle, transition by transition (KMIP 1.4 section 3.22) ----------------- */

#define OP_REVOKE_CO 0x10000u /* Revoke, Cessation of Operation */
#define OP_REVOKE_KC 0x20000u /* Revoke, Key Compromise */

static const struct kmip_rsp_item *lc_op(struct fx *f, int minor, uint32_t op, const char *uid)
{
	if (op != OP_REVOKE_CO && op != OP_REVOKE_KC)
		return one_uid(f, C_A, minor, op, uid);
	struct rq q;
	rq_init(&q, minor == 0 ? 2 : 1, minor);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_REVOKE, NULL);
	pl->u.revoke_req.uid = (struct kmip_text){ uid, strlen(uid) };
	pl->u.revoke_req.reason_code = op == OP_REVOKE_KC
					       ? KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE
					       : KMIP_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION;
	struct kmip_response *r = send_rq(f, C_A, &q);
	assert_int_equal(r->n_items, 1);
	return &r->items[0];
}

/* A new key in state st, by the operations a client would use. */
static void lc_reach(struct fx *f, uint32_t st, char uid[static 65])
{
	static const uint32_t path[7][3] = {
		[KMIP_STATE_PRE_ACTIVE] = { 0 },
		[KMIP_STATE_ACTIVE] = { KMIP_OPERATION_ACTIVATE },
		[KMIP_STATE_DEACTIVATED] = { KMIP_OPERATION_ACTIVATE, OP_REVOKE_CO },
		[KMIP_STATE_COMPROMISED] = { OP_REVOKE_KC },
		[KMIP_STATE_DESTROYED] = { KMIP_OPERATION_DESTROY },
		[KMIP_STATE_DESTROYED_COMPROMISED] = { OP_REVOKE_KC, KMIP_OPERATION_DESTROY },
	};
	create_key(f, C_A, 4, 128, NULL, uid);
	for (size_t i = 0; i < 3 && path[st][i] != 0; i++)
		assert_ok(lc_op(f, 4, path[st][i], uid));
	assert_int_equal(state_of(f, C_A, uid), st);
}

static int64_t date_of(struct fx *f, const char *uid, uint32_t tag)
{
	const struct kmip_rsp_item *it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	const struct kmip_attr *a = rsp_attr(it, tag, NULL);
	int64_t v = 0;
	if (a == NULL)
		return 0;
	assert_int_equal(a->type, TTLV_DATE_TIME);
	for (size_t i = 0; i < a->val.n; i++)
		v = v << 8 | a->val.p[i];
	return v;
}

/* Every operation that changes the state, from every state, in 1.4 and 2.0: the new state or
 * the refusal with its exact Result Reason (PD = Permission Denied, WKLS = Wrong Key
 * Lifecycle State, OD = Object Destroyed, INF = Item Not Found). */
static void test_state_table(void **state)
{
	struct fx *f = *state;
	enum { PA = KMIP_STATE_PRE_ACTIVE, AC = KMIP_STATE_ACTIVE, DE = KMIP_STATE_DEACTIVATED,
	       CO = KMIP_STATE_COMPROMISED, DS = KMIP_STATE_DESTROYED,
	       DC = KMIP_STATE_DESTROYED_COMPROMISED };
	const uint32_t PD = KMIP_RESULT_REASON_PERMISSION_DENIED;
	const uint32_t WKLS = KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE;
	const uint32_t OD = KMIP_RESULT_REASON_OBJECT_DESTROYED;
	const uint32_t INF = KMIP_RESULT_REASON_ITEM_NOT_FOUND;
	const uint32_t ACT = KMIP_OPERATION_ACTIVATE, DST = KMIP_OPERATION_DESTROY;
	const uint32_t GET = KMIP_OPERATION_GET, GA = KMIP_OPERATION_GET_ATTRIBUTES;
	const struct {
		uint32_t from, op, to; /* to: the state after (== from when refused) */
		uint32_t r14, r20;     /* 0: success */
	} rows[] = {
		{ PA, ACT, AC, 0, 0 },                /* transition 4 */
		{ PA, OP_REVOKE_CO, PA, PD, WKLS },   /* no Pre-Active -> Deactivated */
		{ PA, OP_REVOKE_KC, CO, 0, 0 },       /* 3 */
		{ PA, DST, DS, 0, 0 },                /* 2 */
		{ PA, GET, PA, 0, 0 },
		{ AC, ACT, AC, PD, WKLS },
		{ AC, OP_REVOKE_CO, DE, 0, 0 },       /* 6 */
		{ AC, OP_REVOKE_KC, CO, 0, 0 },       /* 5 */
		{ AC, DST, AC, PD, WKLS },            /* 1.4 4.21: Pre-Active or Deactivated only */
		{ DE, ACT, DE, PD, WKLS },
		{ DE, OP_REVOKE_CO, DE, PD, WKLS },
		{ DE, OP_REVOKE_KC, CO, 0, 0 },       /* 8 */
		{ DE, DST, DS, 0, 0 },                /* 7 */
		{ DE, GET, DE, 0, 0 },
		{ CO, ACT, CO, PD, WKLS },
		{ CO, OP_REVOKE_CO, CO, PD, WKLS },
		{ CO, OP_REVOKE_KC, CO, PD, WKLS },
		{ CO, DST, DC, 0, 0 },                /* 9 */
		{ CO, GET, CO, 0, 0 },
		{ DS, ACT, DS, PD, OD },
		{ DS, OP_REVOKE_CO, DS, PD, OD },
		{ DS, OP_REVOKE_KC, DC, 0, 0 },       /* 10 */
		{ DS, DST, DS, PD, OD },              /* 1.4 Table 348: Permission Denied */
		{ DS, GET, DS, INF, OD },
		{ DS, GA, DS, 0, 0 },                 /* its attributes stay readable */
		{ DC, ACT, DC, PD, OD },
		{ DC, OP_REVOKE_CO, DC, PD, OD },
		{ DC, OP_REVOKE_KC, DC, PD, OD },
		{ DC, DST, DC, PD, OD },
		{ DC, GET, DC, INF, OD },
		{ DC, GA, DC, 0, 0 },
	};
	char uid[65];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		for (int minor = 4; minor >= 0; minor -= 4) { /* 1.4, then 2.0 */
			uint32_t want = minor == 4 ? rows[i].r14 : rows[i].r20;
			lc_reach(f, rows[i].from, uid);
			const struct kmip_rsp_item *it = lc_op(f, minor, rows[i].op, uid);
			if (want == 0)
				assert_ok(it);
			else
				assert_fail(it, want);
			if (state_of(f, C_A, uid) != rows[i].to)
				fail_msg("row %zu (version %s): state %u, want %u", i,
					 minor == 4 ? "1.4" : "2.0", state_of(f, C_A, uid), rows[i].to);
		}
	}

	/* the dates each transition sets (the clock moves between steps) */
	char u[65];
	f->now = 1700100000;
	create_key(f, C_A, 4, 128, NULL, u);
	int64_t created = f->now;
	f->now += 10;
	assert_ok(lc_op(f, 4, ACT, u));
	assert_int_equal(date_of(f, u, KMIP_TAG_ACTIVATION_DATE), f->now);
	f->now += 10;
	assert_ok(lc_op(f, 4, OP_REVOKE_CO, u));
	assert_int_equal(date_of(f, u, KMIP_TAG_DEACTIVATION_DATE), f->now);
	assert_int_equal(date_of(f, u, KMIP_TAG_COMPROMISE_DATE), 0);
	f->now += 10;
	assert_ok(lc_op(f, 4, OP_REVOKE_KC, u));
	assert_int_equal(date_of(f, u, KMIP_TAG_COMPROMISE_DATE), f->now);
	/* no Compromise Occurrence Date in the request: the Initial Date (1.4 4.20) */
	assert_int_equal(date_of(f, u, KMIP_TAG_COMPROMISE_OCCURRENCE_DATE), created);
	assert_int_equal(date_of(f, u, KMIP_TAG_DEACTIVATION_DATE), f->now - 10);
	f->now += 10;
	assert_ok(lc_op(f, 4, DST, u));
	assert_int_equal(date_of(f, u, KMIP_TAG_DESTROY_DATE), f->now);
	assert_int_equal(state_of(f, C_A, u), KMIP_STATE_DESTROYED_COMPROMISED);
	/* Destroyed -> Destroyed Compromised keeps the Destroy Date, sets the Compromise Date */
	create_key(f, C_A, 4, 128, NULL, u);
	f->now += 10;
	assert_ok(lc_op(f, 4, DST, u));
	f->now += 10;
	assert_ok(lc_op(f, 0, OP_REVOKE_KC, u));
	assert_int_equal(date_of(f, u, KMIP_TAG_DESTROY_DATE), f->now - 10);
	assert_int_equal(date_of(f, u, KMIP_TAG_COMPROMISE_DATE), f->now);
	/* a template Activation Date in the past makes the new key Active (transition 1) */
	{
		struct abuf ex = { .n = 0 };
		int64_t past = f->now - 5;
		ex.v[0].tag = KMIP_TAG_ACTIVATION_DATE;
		ex.v[0].type = TTLV_DATE_TIME;
		for (int k = 0; k < 8; k++)
			ex.b[0][k] = (uint8_t)((uint64_t)past >> (56 - 8 * k));
		ex.v[0].val = (struct kmip_bytes){ ex.b[0], 8 };
		ex.n = 1;
		create_key(f, C_A, 4, 128, &ex, u);
		assert_int_equal(state_of(f, C_A, u), KMIP_STATE_ACTIVE);
		assert_int_equal(date_of(f, u, KMIP_TAG_ACTIVATION_DATE), past);
		uint64_t future = (uint64_t)f->now + 3600;
		for (int k = 0; k < 8; k++)
			ex.b[0][k] = (uint8_t)(future >> (56 - 8 * k));
		create_key(f, C_A, 4, 128, &ex, u);
		assert_int_equal(state_of(f, C_A, u), KMIP_STATE_PRE_ACTIVE);
	}
	f->now = 1700000000;
}

/* Check: a refusal empties the ID Placeholder (1.4 section 4.10), so the Get that follows in
 * the batch has no object; a successful one leaves it. */
static void test_check_placeholder(void **state)
{
	struct fx *f = *state;
	struct rq q;
	struct abuf a = { .n = 0 };

	for (int denied = 0; denied < 2; denied++) {
		rq_init(&q, 1, 4);
		q.m.h.has_bec = true;
		q.m.h.bec = KMIP_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE;
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, "1");
		a.n = 0;
		ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 128);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 12);
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t = (struct kmip_tmpl){ .present = true, .a = { a.v, a.n } };
		pl = rq_add(&q, KMIP_OPERATION_CHECK, "2");
		pl->u.check_req.has_mask = denied; /* a Pre-Active key: no use at all */
		pl->u.check_req.usage_mask = 1;     /* Sign */
		rq_add(&q, KMIP_OPERATION_GET, "3");
		struct kmip_response *r = send_rq(f, C_A, &q);
		assert_int_equal(r->n_items, 3);
		assert_ok(&r->items[0]);
		if (denied) {
			/* Pre-Active: no use at all; the payload names the refused mask */
			assert_fail(&r->items[1], KMIP_RESULT_REASON_PERMISSION_DENIED);
			assert_true(r->items[1].has_payload);
			assert_true(r->items[1].pl.u.check_rsp.has_mask);
			assert_int_equal(r->items[1].pl.u.check_rsp.usage_mask, 1);
			assert_null(r->items[1].pl.u.check_rsp.uid.p);
			assert_fail(&r->items[2], KMIP_RESULT_REASON_MISSING_DATA);
		} else {
			assert_ok(&r->items[1]);
			assert_ok(&r->items[2]);
		}
	}
}

/* Create in 2.0 and 1.1: header version echoed, 2.0 attributes form. */
static void test_versions(void **state)
{
	struct fx *f = *state;
	char uid[65];
	struct rq q;

	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, NULL);
	struct kmip_pv want[3] = { { 1, 1 }, { 3, 0 }, { 1, 4 } };
	pl->u.discover_req = (struct kmip_req_discover){ want, 3 };
	struct kmip_response *r = send_rq(f, C_A, &q);
	assert_ok(&r->items[0]);
	assert_int_equal(r->items[0].pl.u.discover_rsp.n, 2);
	assert_int_equal(r->items[0].pl.u.discover_rsp.v[0].minor, 1);
	assert_int_equal(r->items[0].pl.u.discover_rsp.v[1].minor, 4);
	pl->u.discover_req = (struct kmip_req_discover){ NULL, 0 };
	r = send_rq(f, C_A, &q);
	assert_int_equal(r->items[0].pl.u.discover_rsp.n, 6);
	assert_int_equal(r->items[0].pl.u.discover_rsp.v[0].major, 2);
	assert_int_equal(r->items[0].pl.u.discover_rsp.v[5].minor, 0);
	assert_int_equal(r->h.pv.minor, 4);

	/* Query: operations, objects, vendor */
	rq_init(&q, 1, 1);
	pl = rq_add(&q, KMIP_OPERATION_QUERY, NULL);
	uint32_t fns[3] = { KMIP_QUERY_FUNCTION_QUERY_OPERATIONS, KMIP_QUERY_FUNCTION_QUERY_OBJECTS,
			    KMIP_QUERY_FUNCTION_QUERY_SERVER_INFORMATION };
	pl->u.query_req = (struct kmip_req_query){ fns, 3 };
	r = send_rq(f, C_A, &q);
	assert_ok(&r->items[0]);
	/* 38 in the table: Set and Adjust Attribute are 2.0, the cryptographic services but
	 * Derive Key and Create / Join Split Key 1.2+ (Certify and Re-certify are 1.0) */
	assert_int_equal(r->items[0].pl.u.query_rsp.n_ops, 27);
	/* every type but Template (PGP Key is 1.2+) */
	assert_int_equal(r->items[0].pl.u.query_rsp.n_types, 7);
	assert_int_equal(r->items[0].pl.u.query_rsp.vendor.n, strlen("Coffre test"));

	/* 2.0 Create + Get Attributes */
	struct abuf ex = { .n = 0 };
	ab_text(&ex, 0, "x-V2", "two");
	{
		struct rq c;
		struct abuf a = { .n = 0 };
		rq_init(&c, 2, 0);
		pl = rq_add(&c, KMIP_OPERATION_CREATE, "b1");
		ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256);
		a.v[a.n++] = ex.v[0];
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t.present = true;
		pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
		r = send_rq(f, C_A, &c);
		assert_int_equal(r->h.pv.major, 2);
		assert_ok(&r->items[0]);
		assert_int_equal(r->items[0].id.n, 2);
		text_to(r->items[0].pl.u.create_rsp.uid, uid, sizeof uid);
	}
	const struct kmip_rsp_item *it = one_uid(f, C_A, 0, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	assert_ok(it);
	uint32_t st = 0;
	assert_int_equal(kmip_attr_get_u32(rsp_attr(it, KMIP_TAG_STATE, NULL), &st), CF_OK);
	assert_int_equal(st, KMIP_STATE_PRE_ACTIVE);
	/* Activation Date in the past at Create makes it Active */
	{
		struct abuf d = { .n = 0 };
		struct kmip_attr *x = &d.v[d.n];
		uint8_t *b = d.b[d.n++];
		memset(x, 0, sizeof *x);
		int64_t when = f->now - 10;
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)((uint64_t)when >> (56 - 8 * i));
		x->tag = KMIP_TAG_ACTIVATION_DATE;
		x->type = TTLV_DATE_TIME;
		x->val = (struct kmip_bytes){ b, 8 };
		create_key(f, C_A, 1, 256, &d, uid);
		assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_ACTIVE);
	}
}

/* Register each object type; Get returns the same bytes. */
static void test_register(void **state)
{
	struct fx *f = *state;
	static const uint8_t sym[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
	static const uint8_t pw[] = "correct horse battery staple";
	static const uint8_t opq[] = "opaque blob \x00\x01\x02";
	uint8_t out[64];
	char uid[65];

	for (int kind = 0; kind < 3; kind++) {
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_REGISTER, NULL);
		struct kmip_req_register *rg = &pl->u.register_req;
		struct kmip_object *o = &rg->obj;
		const uint8_t *want;
		size_t want_n;
		if (kind == 0) {
			rg->object_type = o->type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
			o->kb.format = KMIP_KEY_FORMAT_TYPE_RAW;
			o->kb.has_value = true;
			o->kb.material_type = TTLV_BYTE_STRING;
			o->kb.material = (struct kmip_bytes){ sym, 32 };
			o->kb.has_alg = true;
			o->kb.alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_AES;
			o->kb.has_len = true;
			o->kb.len = 256;
			want = sym;
			want_n = 32;
		} else if (kind == 1) {
			rg->object_type = o->type = KMIP_OBJECT_TYPE_SECRET_DATA;
			o->secret_type = KMIP_SECRET_DATA_TYPE_PASSWORD;
			o->kb.format = KMIP_KEY_FORMAT_TYPE_OPAQUE;
			o->kb.has_value = true;
			o->kb.material_type = TTLV_BYTE_STRING;
			o->kb.material = (struct kmip_bytes){ pw, sizeof pw - 1 };
			want = pw;
			want_n = sizeof pw - 1;
		} else {
			rg->object_type = o->type = KMIP_OBJECT_TYPE_OPAQUE_OBJECT;
			o->opaque_type = 0x80000001u;
			o->opaque = (struct kmip_bytes){ opq, sizeof opq - 1 };
			want = opq;
			want_n = sizeof opq - 1;
		}
		rg->t.present = true;
		struct kmip_response *r = send_rq(f, C_A, &q);
		assert_ok(&r->items[0]);
		text_to(r->items[0].pl.u.register_rsp.uid, uid, sizeof uid);
		assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_PRE_ACTIVE);
		assert_int_equal(get_key(f, C_A, uid, out), want_n);
		assert_memory_equal(out, want, want_n);
	}
	/* a symmetric key whose length disagrees with its bytes */
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_REGISTER, NULL);
		struct kmip_object *o = &pl->u.register_req.obj;
		pl->u.register_req.object_type = o->type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		o->kb.format = KMIP_KEY_FORMAT_TYPE_RAW;
		o->kb.has_value = true;
		o->kb.material_type = TTLV_BYTE_STRING;
		o->kb.material = (struct kmip_bytes){ sym, 16 };
		o->kb.has_alg = true;
		o->kb.alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_AES;
		o->kb.has_len = true;
		o->kb.len = 256;
		pl->u.register_req.t.present = true;
		assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_INVALID_FIELD);
	}
}

static void test_tenants_and_roles(void **state)
{
	struct fx *f = *state;
	char uid[65], found[4][65];
	uint8_t k[64], k2[64];
	struct abuf g = { .n = 0 };

	ab_text(&g, 0, "x-Tenant-Test", "iso");
	create_key(f, C_A, 4, 256, &g, uid);
	assert_int_equal(get_key(f, C_A, uid, k), 32);
	/* another tenant: the object does not exist for it */
	assert_fail(one_uid(f, C_B, 4, KMIP_OPERATION_GET, uid), KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	assert_fail(one_uid(f, C_B, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid),
		    KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	assert_fail(one_uid(f, C_B, 4, KMIP_OPERATION_DESTROY, uid), KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	assert_int_equal(locate(f, C_B, &g, -1, -1, NULL, NULL), 0);
	assert_int_equal(locate(f, C_A, &g, -1, -1, found, NULL), 1);
	/* a rotated certificate with the mapped subject + issuer keeps access */
	assert_int_equal(get_key(f, C_ROT, uid, k2), 32);
	assert_memory_equal(k, k2, 32);
	/* a pinned self-signed certificate claiming that DN does not */
	assert_fail(one_uid(f, C_PINNED, 4, KMIP_OPERATION_GET, uid),
		    KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL);
	assert_fail(one_uid(f, C_NONE, 4, KMIP_OPERATION_GET, uid),
		    KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL);
	/* readonly: reads yes, writes no */
	assert_int_equal(get_key(f, C_RO, uid, k2), 32);
	assert_fail(one_uid(f, C_RO, 4, KMIP_OPERATION_ACTIVATE, uid), KMIP_RESULT_REASON_PERMISSION_DENIED);
	{
		struct rq q;
		rq_init(&q, 1, 4);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, NULL);
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t.present = true;
		assert_fail(&send_rq(f, C_RO, &q)->items[0], KMIP_RESULT_REASON_PERMISSION_DENIED);
	}
	assert_int_equal(state_of(f, C_A, uid), KMIP_STATE_PRE_ACTIVE);
	/* clients table in the store: tenant t2 by fingerprint */
	{
		struct store *st;
		struct store_client c = { 0 };
		assert_int_equal(store_open(f->svc.store_path, NULL, &st), CF_OK);
		snprintf(c.fingerprint, sizeof c.fingerprint, "sha256:%s", FP_NONE);
		strcpy(c.subject, "CN=nobody");
		strcpy(c.issuer, DN_ISS);
		strcpy(c.tenant, "t2");
		strcpy(c.role, "user");
		assert_int_equal(store_client_put(st, &c), CF_OK);
		store_close(st);
		assert_fail(one_uid(f, C_NONE, 4, KMIP_OPERATION_GET, uid),
			    KMIP_RESULT_REASON_ITEM_NOT_FOUND);
		assert_int_equal(store_open(f->svc.store_path, NULL, &st), CF_OK);
		assert_int_equal(store_client_delete(st, c.fingerprint), CF_OK);
		store_close(st);
	}
}

static cf_err test_rng(void *arg, void *buf, size_t n)
{
	(void)arg;
	memset(buf, 0x5a, n);
	return CF_OK;
}

static void test_password(void **state)
{
	struct fx *f = *state;
	struct store *st;
	struct rq q;

	assert_int_equal(store_open(f->svc.store_path, NULL, &st), CF_OK);
	assert_int_equal(authz_password_set(st, "vcenter", "t1", (const uint8_t *)"s3cret", 6,
					    test_rng, NULL), CF_OK);
	store_close(st);
	for (int k = 0; k < 4; k++) {
		static const char *const pw[4] = { "s3cret", "wrong", "s3cret", "s3cret" };
		static const char *const user[4] = { "vcenter", "vcenter", "nobody", "vcenter" };
		int who = k == 3 ? C_B : C_A; /* the record belongs to t1 */
		rq_init(&q, 1, 1);
		q.m.h.has_auth = true;
		q.m.h.n_creds = 1;
		q.m.h.creds[0].type = KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD;
		q.m.h.creds[0].username = (struct kmip_text){ user[k], strlen(user[k]) };
		q.m.h.creds[0].password = (struct kmip_text){ pw[k], strlen(pw[k]) };
		rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, NULL);
		struct kmip_response *r = send_rq(f, who, &q);
		if (k == 0)
			assert_ok(&r->items[0]);
		else
			assert_fail(&r->items[0], KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL);
	}
	/* an empty credential (PyKMIP with username = password = ""): ignored for t2, which has
	 * no password; refused for t1, which has one; an empty username with a password, or a
	 * user that is not configured, refused for both */
	for (int k = 0; k < 5; k++) {
		static const char *const pw[5] = { "", "", "", "x", "x" };
		static const int who[5] = { C_B, C_A, C_B, C_B, C_B };
		static const char *const user[5] = { "", "", "", "", "nobody" };
		rq_init(&q, 1, 4);
		q.m.h.has_auth = true;
		q.m.h.n_creds = 1;
		q.m.h.creds[0].type = KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD;
		q.m.h.creds[0].username = (struct kmip_text){ user[k], strlen(user[k]) };
		if (k != 2) /* k == 2: no Password at all */
			q.m.h.creds[0].password = (struct kmip_text){ pw[k], strlen(pw[k]) };
		rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, NULL);
		struct kmip_response *r = send_rq(f, who[k], &q);
		if (k == 0 || k == 2)
			assert_ok(&r->items[0]);
		else
			assert_fail(&r->items[0], KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL);
	}
	/* t1 has a password: a request without a credential is refused, t2 still serves */
	rq_init(&q, 1, 4);
	rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, NULL);
	assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL);
	assert_ok(&send_rq(f, C_B, &q)->items[0]);
	/* the tenant's marker withdrawn (the next tests run t1 without a credential) */
	assert_int_equal(store_open(f->svc.store_path, NULL, &st), CF_OK);
	assert_int_equal(store_meta_set(st, "kmip_password_tenant:t1", "0"), CF_OK);
	store_close(st);
	assert_ok(&send_rq(f, C_A, &q)->items[0]);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct rq q;
	struct kmip_response *r;
	size_t n;

	/* an operation we do not serve */
	rq_init(&q, 1, 4);
	rq_add(&q, KMIP_OPERATION_VALIDATE, "x");
	q.items[0].pl.typed = false;
	q.items[0].pl.raw = (struct kmip_bytes){ (const uint8_t *)"", 0 };
	r = send_rq(f, C_A, &q);
	assert_fail(&r->items[0], KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED);
	assert_int_equal(r->items[0].id.n, 1);

	/* Create of a type we do not create; wrong algorithm; wrong length */
	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, NULL);
	pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SECRET_DATA;
	pl->u.create_req.t.present = true;
	assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_INVALID_FIELD);
	{
		struct abuf a = { .n = 0 };
		ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 100);
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
		assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_INVALID_FIELD);
		uint8_t sb[8];
		kmip_attr_set_enum(&a.v[1], KMIP_TAG_STATE, KMIP_STATE_ACTIVE, sb);
		assert_fail(&send_rq(f, C_A, &q)->items[0], KMIP_RESULT_REASON_INVALID_FIELD);
	}

	/* undecodable: truncated, bad batch count, garbage after a valid header */
	rq_init(&q, 1, 1);
	rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, NULL);
	n = rq_encode(f, &q.m);
	memcpy(f->rbuf, f->req, n);
	f->rbuf[n - 1] ^= 0x55;      /* corrupt the padding/length region at the end */
	f->rbuf[3 + 0] = f->rbuf[3]; /* keep the header */
	{
		uint8_t bad[16] = { 0x42, 0x00, 0x78, 0x01, 0, 0, 0, 8, 0x42, 0x00, 0x77, 0x01, 0, 0, 0, 0 };
		r = send_raw(f, C_A, bad, sizeof bad);
		assert_int_equal(r->n_items, 1);
		assert_fail(&r->items[0], KMIP_RESULT_REASON_INVALID_MESSAGE);
	}
	/* Batch Count 2 with one item: the version that parsed is used */
	{
		/* locate the Batch Count value: 42000d 02 00000004 <value> */
		size_t i;
		for (i = 0; i + 12 <= n; i++)
			if (f->req[i] == 0x42 && f->req[i + 1] == 0x00 && f->req[i + 2] == 0x0d)
				break;
		assert_true(i + 12 <= n);
		memcpy(f->rbuf, f->req, n);
		f->rbuf[i + 11] = 2;
		r = send_raw(f, C_A, f->rbuf, n);
		assert_int_equal(r->h.pv.minor, 1);
		assert_fail(&r->items[0], KMIP_RESULT_REASON_INVALID_MESSAGE);
	}
	/* an unknown protocol version */
	{
		memcpy(f->rbuf, f->req, n);
		/* 420069 Protocol Version { 42006a major, 42006b minor }: minor at offset 16+8+16+4 */
		size_t i;
		for (i = 0; i + 12 <= n; i++)
			if (f->req[i] == 0x42 && f->req[i + 1] == 0x00 && f->req[i + 2] == 0x6a)
				break;
		f->rbuf[i + 11] = 9; /* major 9 */
		r = send_raw(f, C_A, f->rbuf, n);
		assert_int_equal(r->items[0].status, KMIP_RESULT_STATUS_OPERATION_FAILED);
	}
}

static void test_not_ready(void **state)
{
	struct fx *f = *state;
	static const int states[3] = { SVC_SEALED, SVC_ERROR, SVC_UNINITIALIZED };
	struct rq q;

	for (int i = 0; i < 3; i++) {
		atomic_store(&f->svc.state, states[i]);
		rq_init(&q, 1, 1);
		static uint32_t fn = KMIP_QUERY_FUNCTION_QUERY_SERVER_INFORMATION;
		rq_add(&q, KMIP_OPERATION_DISCOVER_VERSIONS, "d");
		rq_add(&q, KMIP_OPERATION_QUERY, "q")->u.query_req = (struct kmip_req_query){ &fn, 1 };
		struct kmip_response *r = send_rq(f, C_A, &q);
		atomic_store(&f->svc.state, SVC_READY); /* before any assertion can fail */
		assert_int_equal(r->n_items, 2);
		assert_fail(&r->items[0], KMIP_RESULT_REASON_GENERAL_FAILURE);
		assert_fail(&r->items[1], KMIP_RESULT_REASON_GENERAL_FAILURE);
		if (states[i] == SVC_SEALED)
			assert_true(r->items[0].message.n == strlen("appliance sealed") &&
				    memcmp(r->items[0].message.p, "appliance sealed", 16) == 0);
	}
	atomic_store(&f->svc.state, SVC_READY);
}

static void test_batch(void **state)
{
	struct fx *f = *state;
	char uid[65];
	struct rq q;
	struct kmip_response *r;
	int32_t before, after;
	struct abuf g = { .n = 0 };

	create_key(f, C_A, 4, 256, NULL, uid);
	for (int mode = 0; mode < 3; mode++) {
		static const uint32_t bec[3] = { 0, KMIP_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE,
						 KMIP_BATCH_ERROR_CONTINUATION_OPTION_STOP };
		rq_init(&q, 1, 1);
		if (bec[mode] != 0) {
			q.m.h.has_bec = true;
			q.m.h.bec = bec[mode];
		}
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_GET, "1");
		pl->u.get_req.uid = (struct kmip_text){ uid, strlen(uid) };
		pl = rq_add(&q, KMIP_OPERATION_GET, "2");
		pl->u.get_req.uid = (struct kmip_text){ "missing", 7 };
		pl = rq_add(&q, KMIP_OPERATION_GET_ATTRIBUTES, "3");
		pl->u.get_attrs_req.uid = (struct kmip_text){ uid, strlen(uid) };
		r = send_rq(f, C_A, &q);
		assert_int_equal(r->n_items, mode == 1 ? 3 : 2); /* default is Stop */
		assert_ok(&r->items[0]);
		remember_key(f, r->items[0].pl.u.get_rsp.obj.kb.material.p, 32);
		assert_fail(&r->items[1], KMIP_RESULT_REASON_ITEM_NOT_FOUND);
		assert_int_equal(r->items[1].id.p[0], '2');
		if (mode == 1) {
			assert_ok(&r->items[2]);
			assert_int_equal(r->items[2].id.p[0], '3');
		}
	}
	/* Undo: a Create followed by a failing item leaves nothing behind */
	ab_text(&g, KMIP_TAG_OBJECT_GROUP, NULL, "undo-group");
	assert_int_equal(locate(f, C_A, &g, -1, -1, NULL, &before), 0);
	rq_init(&q, 1, 4);
	q.m.h.has_bec = true;
	q.m.h.bec = KMIP_BATCH_ERROR_CONTINUATION_OPTION_UNDO;
	{
		struct abuf a = { .n = 0 };
		ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256);
		a.v[a.n++] = g.v[0];
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, "c");
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t.present = true;
		pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
		pl = rq_add(&q, KMIP_OPERATION_ACTIVATE, "a"); /* ID Placeholder: the new key */
		pl = rq_add(&q, KMIP_OPERATION_ACTIVATE, "b"); /* already Active: fails */
		r = send_rq(f, C_A, &q);
	}
	assert_int_equal(r->n_items, 3);
	assert_int_equal(r->items[0].status, KMIP_RESULT_STATUS_OPERATION_UNDONE);
	assert_int_equal(r->items[1].status, KMIP_RESULT_STATUS_OPERATION_UNDONE);
	assert_fail(&r->items[2], KMIP_RESULT_REASON_PERMISSION_DENIED);
	assert_int_equal(locate(f, C_A, &g, -1, -1, NULL, &after), 0);
	assert_int_equal(after, 0);
}

/* A loop turn of the net layer (docs/kmip-server.md "Durability and group commit"): write
 * requests are deferred, then run in one transaction, each in its own savepoint; nothing is
 * visible before ops_flush commits; a failing or undone request takes nothing of the others
 * with it. Reads: a Get waits for durability, a Locate only for the commit. */
struct turn_rq {
	uint8_t b[2048];
	size_t n;
	int who;
};

static void turn_create(struct fx *f, struct turn_rq *t, int who, struct abuf *g, bool undo)
{
	struct rq q;
	struct abuf a = { .n = 0 };
	rq_init(&q, 1, 4);
	ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256);
	a.v[a.n++] = g->v[0];
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, "c");
	pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	pl->u.create_req.t.present = true;
	pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
	if (undo) {
		q.m.h.has_bec = true;
		q.m.h.bec = KMIP_BATCH_ERROR_CONTINUATION_OPTION_UNDO;
		rq_add(&q, KMIP_OPERATION_ACTIVATE, "a");
		rq_add(&q, KMIP_OPERATION_ACTIVATE, "b"); /* already Active: fails, undoes all */
	}
	t->n = rq_encode(f, &q.m);
	assert_true(t->n <= sizeof t->b);
	memcpy(t->b, f->req, t->n);
	t->who = who;
}

static struct kmip_response *turn_run(struct fx *f, struct turn_rq *t)
{
	struct net_conn_info *ci = &f->ci[t->who];
	struct kmip_decode_error de;
	ci->can_hold = true;
	ci->run_deferred = true;
	ci->hold = 0;
	assert_int_equal(ops_handle(f->w, ci, t->b, t->n, f->resp, sizeof f->resp, &f->resp_len),
			 CF_OK);
	ci->run_deferred = false;
	ci->can_hold = false;
	assert_true(f->resp_len > 0);
	assert_true(ci->hold == NET_HOLD_FLUSH); /* inside the turn's transaction */
	assert_true(f->w->batch_open);
	kmip_arena_init(&f->a, f->abuf, sizeof f->abuf);
	assert_int_equal(kmip_decode_response(f->resp, f->resp_len, NULL, &f->a, &f->rs, &de), CF_OK);
	return &f->rs;
}

static uint64_t read_hold(struct fx *f, int who, uint32_t op, const char *uid, struct abuf *g)
{
	struct rq q;
	struct net_conn_info *ci = &f->ci[who];
	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, op, NULL);
	if (op == KMIP_OPERATION_GET) {
		pl->u.get_req.uid = (struct kmip_text){ uid, strlen(uid) };
	} else {
		pl->u.locate_req.t.present = true;
		pl->u.locate_req.t.a = (struct kmip_attrs){ g->v, g->n };
	}
	size_t n = rq_encode(f, &q.m);
	ci->can_hold = true;
	ci->hold = 0;
	assert_int_equal(ops_handle(f->w, ci, f->req, n, f->resp, sizeof f->resp, &f->resp_len),
			 CF_OK);
	ci->can_hold = false;
	assert_true(f->resp_len > 0);
	uint64_t h = ci->hold;
	ci->hold = 0;
	return h;
}

static void test_deferred_turn(void **state)
{
	struct fx *f = *state;
	struct abuf g = { .n = 0 };
	struct turn_rq t[4];
	struct kmip_response *r;
	char uid[65], uid_b[65];
	int32_t n;
	uint64_t ticket = 0;

	ab_text(&g, KMIP_TAG_OBJECT_GROUP, NULL, "turn-group");
	turn_create(f, &t[0], C_A, &g, false);
	turn_create(f, &t[1], C_ROT, &g, true); /* (one deferred request per connection) */
	turn_create(f, &t[2], C_RO, &g, false); /* read-only role: refused */
	turn_create(f, &t[3], C_B, &g, false);  /* another tenant */
	/* first call: decoded and deferred, nothing answered, nothing written */
	for (int i = 0; i < 4; i++) {
		struct net_conn_info *ci = &f->ci[t[i].who];
		ci->can_hold = true;
		ci->hold = 0;
		assert_int_equal(ops_handle(f->w, ci, t[i].b, t[i].n, f->resp, sizeof f->resp,
					    &f->resp_len), CF_OK);
		ci->can_hold = false;
		assert_int_equal(f->resp_len, 0);
		assert_true(ci->hold == NET_HOLD_DEFER);
		ci->hold = 0;
		assert_false(f->w->batch_open);
	}
	/* the Creates' keys were made at deferral (not the read-only client's) */
	assert_int_equal(f->w->prep_n, 3);
	/* end of the turn: run them */
	r = turn_run(f, &t[0]);
	assert_ok(&r->items[0]);
	text_to(r->items[0].pl.u.create_rsp.uid, uid, sizeof uid);
	r = turn_run(f, &t[1]);
	assert_int_equal(r->n_items, 3);
	assert_int_equal(r->items[0].status, KMIP_RESULT_STATUS_OPERATION_UNDONE);
	assert_fail(&r->items[2], KMIP_RESULT_REASON_PERMISSION_DENIED);
	r = turn_run(f, &t[2]);
	assert_fail(&r->items[0], KMIP_RESULT_REASON_PERMISSION_DENIED);
	r = turn_run(f, &t[3]);
	assert_ok(&r->items[0]);
	text_to(r->items[0].pl.u.create_rsp.uid, uid_b, sizeof uid_b);
	assert_int_equal(f->w->prep_n, 0); /* each run took its own */
	/* not committed yet: another connection sees none of it */
	{
		struct store *other;
		struct store_object o;
		assert_int_equal(store_open(f->svc.store_path, NULL, &other), CF_OK);
		memset(&o, 0, sizeof o);
		assert_int_equal(store_object_get(other, "t1", uid, &o), CF_E_NOT_FOUND);
		store_object_free(&o);
		store_close(other);
	}
	assert_int_equal(ops_flush(f->w, &ticket), CF_OK);
	assert_false(f->w->batch_open);
	assert_true(ticket > 0);
	assert_int_equal(store_ticket_wait(f->w->st, ticket), CF_OK);
	/* one key per tenant; the undone Create left nothing */
	assert_int_equal(locate(f, C_A, &g, -1, -1, NULL, &n), 1);
	assert_int_equal(locate(f, C_B, &g, -1, -1, NULL, &n), 1);
	uint8_t k[64];
	assert_int_equal(get_key(f, C_A, uid, k), 32);
	assert_int_equal(get_key(f, C_B, uid_b, k), 32);
	/* reads: a Get is held until durable, a Locate until committed */
	assert_true(read_hold(f, C_A, KMIP_OPERATION_GET, uid, NULL) == NET_HOLD_FLUSH);
	assert_true(read_hold(f, C_A, KMIP_OPERATION_LOCATE, NULL, &g) == NET_HOLD_COMMIT);
	assert_int_equal(ops_flush(f->w, &ticket), CF_OK);
	assert_int_equal(store_ticket_wait(f->w->st, ticket), CF_OK);
}

static void test_max_response_size(void **state)
{
	struct fx *f = *state;
	struct rq q;
	struct kmip_response *r;
	struct abuf g = { .n = 0 };
	int32_t located;

	rq_init(&q, 1, 4);
	q.m.h.has_max_response_size = true;
	q.m.h.max_response_size = 256;
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_QUERY, NULL);
	uint32_t fns[2] = { KMIP_QUERY_FUNCTION_QUERY_OPERATIONS, KMIP_QUERY_FUNCTION_QUERY_OBJECTS };
	pl->u.query_req = (struct kmip_req_query){ fns, 2 };
	r = send_rq(f, C_A, &q);
	assert_fail(&r->items[0], KMIP_RESULT_REASON_RESPONSE_TOO_LARGE);
	q.m.h.max_response_size = 4096;
	r = send_rq(f, C_A, &q);
	assert_ok(&r->items[0]);
	/* a Create whose answer does not fit is not kept */
	ab_text(&g, KMIP_TAG_OBJECT_GROUP, NULL, "mrs-group");
	rq_init(&q, 1, 4);
	q.m.h.has_max_response_size = true;
	q.m.h.max_response_size = 100;
	{
		struct abuf a = { .n = 0 };
		ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 256);
		a.v[a.n++] = g.v[0];
		pl = rq_add(&q, KMIP_OPERATION_CREATE, NULL);
		pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		pl->u.create_req.t.present = true;
		pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
		r = send_rq(f, C_A, &q);
	}
	assert_fail(&r->items[0], KMIP_RESULT_REASON_RESPONSE_TOO_LARGE);
	assert_int_equal(locate(f, C_A, &g, -1, -1, NULL, &located), 0);
}

/* Last: the audit chain verifies, and no key bytes Get returned are in the store files. */
static void test_no_key_bytes_at_rest(void **state)
{
	struct fx *f = *state;
	static const char *const suffix[3] = { "", "-wal", "-shm" };
	struct store *st;
	uint64_t bad = 1;
	size_t hits = 0;

	assert_true(f->n_keys >= 6);
	assert_int_equal(store_open(f->svc.store_path, NULL, &st), CF_OK);
	assert_int_equal(audit_verify(st, &bad), CF_OK);
	assert_int_equal(bad, 0);
	store_close(st);
	for (int s = 0; s < 3; s++) {
		char path[600];
		snprintf(path, sizeof path, "%s%s", f->svc.store_path, suffix[s]);
		FILE *fp = fopen(path, "rb");
		if (fp == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		long len = ftell(fp);
		fseek(fp, 0, SEEK_SET);
		uint8_t *buf = malloc((size_t)len + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
		fclose(fp);
		for (size_t k = 0; k < f->n_keys; k++)
			if (f->key_n[k] >= 16 && memmem(buf, (size_t)len, f->keys[k], f->key_n[k]) != NULL)
				hits++;
		free(buf);
	}
	assert_int_equal(hits, 0);
}

/* ---- server-kept 1.4 attributes, 3DES, Locate by Unique Identifier / ASI ------------- */

static const struct kmip_attr *get_attrs_all(struct fx *f, const char *uid, uint32_t tag)
{
	const struct kmip_rsp_item *it = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTES, uid);
	assert_ok(it);
	return rsp_attr(it, tag, NULL);
}

static bool bool_of(const struct kmip_attr *a)
{
	assert_non_null(a);
	assert_int_equal(a->type, TTLV_BOOLEAN);
	assert_int_equal(a->val.n, 8);
	return a->val.p[7] != 0;
}

static void test_server_attrs(void **state)
{
	struct fx *f = *state;
	char uid[65], found[4][65];
	uint8_t key[64], md[32], asi[128];
	unsigned int mdn = 0;
	struct rq q;
	struct abuf a = { .n = 0 };

	/* 3DES, 168 bits: 24 bytes with odd parity, generated by the HSM */
	rq_init(&q, 1, 4);
	struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_CREATE, NULL);
	ab_enum(&a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_CRYPTOGRAPHIC_ALGORITHM_3DES);
	ab_int(&a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, 168);
	/* Application Specific Information { LIBRARY-LTO, 1234 } */
	ttlv_wr w;
	ttlv_wr_init(&w, asi, sizeof asi);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_APPLICATION_NAMESPACE, "LIBRARY-LTO", 11), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_APPLICATION_DATA, "1234", 4), CF_OK);
	struct kmip_attr *x = &a.v[a.n++];
	memset(x, 0, sizeof *x);
	x->tag = KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION;
	x->type = TTLV_STRUCTURE;
	x->val = (struct kmip_bytes){ asi, ttlv_wr_len(&w) };
	pl->u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	pl->u.create_req.t.present = true;
	pl->u.create_req.t.a = (struct kmip_attrs){ a.v, a.n };
	struct kmip_response *r = send_rq(f, C_A, &q);
	assert_ok(&r->items[0]);
	text_to(r->items[0].pl.u.create_rsp.uid, uid, sizeof uid);

	/* before any Get: Fresh, the HSM's generator, the flags of a key Get serves in clear */
	assert_true(bool_of(get_attrs_all(f, uid, KMIP_TAG_FRESH)));
	assert_non_null(get_attrs_all(f, uid, KMIP_TAG_RANDOM_NUMBER_GENERATOR));
	assert_false(bool_of(get_attrs_all(f, uid, KMIP_TAG_SENSITIVE)));
	assert_false(bool_of(get_attrs_all(f, uid, KMIP_TAG_NEVER_EXTRACTABLE)));
	assert_true(bool_of(get_attrs_all(f, uid, KMIP_TAG_EXTRACTABLE)));
	const struct kmip_attr *oc = get_attrs_all(f, uid, KMIP_TAG_ORIGINAL_CREATION_DATE);
	const struct kmip_attr *id = get_attrs_all(f, uid, KMIP_TAG_INITIAL_DATE);
	assert_non_null(oc);
	assert_non_null(id);
	assert_memory_equal(oc->val.p, id->val.p, 8);
	const struct kmip_attr *lt = get_attrs_all(f, uid, KMIP_TAG_LEASE_TIME);
	assert_non_null(lt);
	assert_int_equal(lt->type, TTLV_INTERVAL);

	size_t n = get_key(f, C_A, uid, key);
	assert_int_equal(n, 24);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(__builtin_popcount(key[i]) & 1, 1);
	/* the material was returned: Fresh ends */
	assert_false(bool_of(get_attrs_all(f, uid, KMIP_TAG_FRESH)));

	/* Digest = SHA-256 of the Raw key, Key Format Type Raw */
	assert_int_equal(EVP_Digest(key, n, md, &mdn, EVP_sha256(), NULL), 1);
	const struct kmip_attr *d = get_attrs_all(f, uid, KMIP_TAG_DIGEST);
	assert_non_null(d);
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd rd;
	uint32_t v;
	const uint8_t *dv;
	size_t dn;
	ttlv_rd_init(&rd, d->val.p, d->val.n, &lim);
	assert_int_equal(ttlv_rd_enum(&rd, KMIP_TAG_HASHING_ALGORITHM, &v), CF_OK);
	assert_int_equal(v, KMIP_HASHING_ALGORITHM_SHA_256);
	assert_int_equal(ttlv_rd_bytes(&rd, KMIP_TAG_DIGEST_VALUE, &dv, &dn), CF_OK);
	assert_int_equal(dn, 32);
	assert_memory_equal(dv, md, 32);
	assert_int_equal(ttlv_rd_enum(&rd, KMIP_TAG_KEY_FORMAT_TYPE, &v), CF_OK);
	assert_int_equal(v, KMIP_KEY_FORMAT_TYPE_RAW);

	/* Get Attribute List names them */
	const struct kmip_rsp_item *gl = one_uid(f, C_A, 4, KMIP_OPERATION_GET_ATTRIBUTE_LIST, uid);
	assert_ok(gl);
	bool has_digest = false, has_fresh = false;
	for (size_t i = 0; i < gl->pl.u.get_attr_list_rsp.refs.n; i++) {
		has_digest |= gl->pl.u.get_attr_list_rsp.refs.v[i].tag == KMIP_TAG_DIGEST;
		has_fresh |= gl->pl.u.get_attr_list_rsp.refs.v[i].tag == KMIP_TAG_FRESH;
	}
	assert_true(has_digest && has_fresh);

	/* Locate by Application Specific Information (same namespace, other data: none) */
	struct abuf la = { .n = 0 };
	la.v[la.n++] = *x;
	assert_int_equal(locate(f, C_A, &la, -1, -1, found, NULL), 1);
	assert_string_equal(found[0], uid);
	ttlv_wr_init(&w, asi, sizeof asi);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_APPLICATION_NAMESPACE, "LIBRARY-LTO1", 12), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_APPLICATION_DATA, "234", 3), CF_OK);
	la.v[0].val = (struct kmip_bytes){ asi, ttlv_wr_len(&w) };
	assert_int_equal(locate(f, C_A, &la, -1, -1, found, NULL), 0);

	/* Locate by Unique Identifier: found; after Destroy only when its State is asked */
	struct abuf ua = { .n = 0 };
	ab_text(&ua, KMIP_TAG_UNIQUE_IDENTIFIER, NULL, uid);
	assert_int_equal(locate(f, C_A, &ua, -1, -1, found, NULL), 1);
	assert_ok(one_uid(f, C_A, 4, KMIP_OPERATION_DESTROY, uid));
	assert_int_equal(locate(f, C_A, &ua, -1, -1, found, NULL), 0);
	ab_enum(&ua, KMIP_TAG_STATE, KMIP_STATE_DESTROYED);
	assert_int_equal(locate(f, C_A, &ua, -1, -1, found, NULL), 1);
}

/* Get with a Key Wrapping Specification naming an RSA Public Key (RSA-OAEP, SHA-1): the Public
 * Key object is put in the store by hand as the object types' Register will (its blob = the
 * SubjectPublicKeyInfo DER sealed under the KEK), the answer decrypted with OpenSSL. */
static void kws_rsa(uint8_t *buf, size_t cap, const char *wuid, uint32_t hash,
		    struct kmip_bytes *out)
{
	ttlv_wr w;
	size_t m1, m2;
	ttlv_wr_init(&w, buf, cap);
	assert_int_equal(ttlv_wr_enum(&w, KMIP_TAG_WRAPPING_METHOD, KMIP_WRAPPING_METHOD_ENCRYPT), CF_OK);
	assert_int_equal(ttlv_wr_begin(&w, KMIP_TAG_ENCRYPTION_KEY_INFORMATION, &m1), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, KMIP_TAG_UNIQUE_IDENTIFIER, wuid, strlen(wuid)), CF_OK);
	assert_int_equal(ttlv_wr_begin(&w, KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS, &m2), CF_OK);
	assert_int_equal(ttlv_wr_enum(&w, KMIP_TAG_PADDING_METHOD, KMIP_PADDING_METHOD_OAEP), CF_OK);
	assert_int_equal(ttlv_wr_enum(&w, KMIP_TAG_HASHING_ALGORITHM, hash), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m2), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m1), CF_OK);
	*out = (struct kmip_bytes){ buf, ttlv_wr_len(&w) };
}

static void test_wrap_rsa(void **state)
{
	struct fx *f = *state;
	static const char pub[] = "pub-rsa-1";
	uint8_t spki[600], blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD], key[64], plain[512], kb[256];
	size_t bn = 0, pn = sizeof plain;
	char uid[65];
	hsm_sess *s;

	EVP_PKEY *pk = EVP_RSA_gen(2048);
	assert_non_null(pk);
	uint8_t *sp = spki;
	int sn = i2d_PUBKEY(pk, &sp);
	assert_true(sn > 0 && (size_t)sn <= HSM_DEK_MAX);
	struct hsm_bind b = { (const uint8_t *)pub, strlen(pub), KMIP_OBJECT_TYPE_PUBLIC_KEY };
	assert_int_equal(hsm_session_acquire(f->h, 1000, &s), CF_OK);
	assert_int_equal(hsm_dek_wrap(s, spki, (size_t)sn, &b, blob, sizeof blob, &bn), CF_OK);
	hsm_session_release(s);
	create_key(f, C_A, 4, 256, NULL, uid); /* opens the worker's store */
	struct store_object o = { .object_type = KMIP_OBJECT_TYPE_PUBLIC_KEY,
				  .state = STORE_STATE_ACTIVE, .wrapped = blob, .wrapped_len = bn,
				  .crypto_alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA, .crypto_len = 2048,
				  .usage_mask = KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY,
				  .created = f->now, .activation = f->now, .last_change = f->now };
	strcpy(o.uid, pub);
	strcpy(o.tenant, "t1");
	strcpy(o.owner, "test");
	o.kek_version = hsm_kek_current(f->h);
	assert_int_equal(store_object_insert(f->w->st, &o, NULL, 0), CF_OK);
	size_t kn = get_key(f, C_A, uid, key);
	assert_int_equal(kn, 32);

	for (int v = 0; v < 2; v++) {
		struct rq q;
		rq_init(&q, v == 0 ? 1 : 2, v == 0 ? 4 : 0);
		struct kmip_payload *pl = rq_add(&q, KMIP_OPERATION_GET, NULL);
		pl->u.get_req.uid = (struct kmip_text){ uid, strlen(uid) };
		kws_rsa(kb, sizeof kb, pub, KMIP_HASHING_ALGORITHM_SHA_1, &pl->u.get_req.wrap_spec);
		struct kmip_response *r = send_rq(f, C_A, &q);
		assert_ok(&r->items[0]);
		const struct kmip_key_block *k = &r->items[0].pl.u.get_rsp.obj.kb;
		assert_true(k->value_wrapped && k->wrapping.p != NULL);
		assert_int_equal(k->wrapped_value.n, 256);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
		assert_non_null(c);
		assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
		pn = sizeof plain;
		assert_int_equal(EVP_PKEY_decrypt(c, plain, &pn, k->wrapped_value.p, 256), 1);
		EVP_PKEY_CTX_free(c);
		assert_int_equal(pn, kn);
		assert_memory_equal(plain, key, kn);

		/* OAEP with SHA-256: not what the HSM does */
		kws_rsa(kb, sizeof kb, pub, KMIP_HASHING_ALGORITHM_SHA_256, &pl->u.get_req.wrap_spec);
		r = send_rq(f, C_A, &q);
		assert_fail(&r->items[0], v == 0 ? KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED
						 : KMIP_RESULT_REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS);
	}
	EVP_PKEY_free(pk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcenter_replay),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_locate_dates),
		cmocka_unit_test(test_state_table),
		cmocka_unit_test(test_check_placeholder),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_tenants_and_roles),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_not_ready),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_deferred_turn),
		cmocka_unit_test(test_max_response_size),
		cmocka_unit_test(test_no_key_bytes_at_rest),
		cmocka_unit_test(test_server_attrs),
		cmocka_unit_test(test_wrap_rsa),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
