/* Target: kmip_decode_request ops_handle authz_resolve ops_* store_* hsm_dek_* audit_append
 *         kmip_encode_response (firmware/ops*.c, firmware/ops/authz.c over kmip/, hsm/, store.c)
 *
 * The whole KMIP request path below TLS: the input is one Request Message handed to
 * ops_handle() of a READY service (real SoftHSMv2 token, real SQLite store) from a client
 * mapped by the config (tenant "t1", role user). Each input is sent three times:
 *   1. as the user,
 *   2. again as the user (a second message: it sees what the first one created, changed or
 *      destroyed),
 *   3. as a readonly client of the same tenant.
 * Every answer must be CF_OK with a Response Message that kmip_decode_response accepts,
 * stamped with our clock; when the request decodes, the response has one item per request
 * item (fewer only when a failed item stopped the batch: Stop / Undo), each echoing the
 * item's Operation and Unique Batch Item ID; readonly clients never succeed at a write; no
 * success ever names the other tenant's object "5"; Maximum Response Size is honoured.
 * When the request does not decode, the answer is one failed item. Violations: abort().
 *
 * Fixed objects with short uids the fuzzer can reach (the KMIP text "1".."6"), created once:
 *   "1" AES-256 Active (Name "k1", Object Group "g1", x-fuzz "a")   "2" AES-128 Pre-Active
 *   "3" Secret Data Pre-Active   "4" AES-256 Deactivated   "5" AES-256 Active of tenant "t2"
 *   "6" AES-128 Destroyed
 * Deterministic per input: the clock is fixed (svc.now); all three messages of a request that
 * writes run inside an outer store transaction that is rolled back afterwards (ops_handle's own
 * transactions become savepoints); one that only reads runs in ops' read snapshots and its
 * queued audit records are dropped; so every input starts from the same store and nothing is
 * fsynced.
 * Not fixed: the UUIDs of objects the input creates (HSM RNG); they steer no branch.
 * The token and store live in a mkdtemp directory removed at exit. COFFRE_FUZZ_VERBOSE=1 prints
 * every response item, COFFRE_FUZZ_LOG=1 the service's error log lines. Username/Password
 * credentials always fail (no password record: Argon2id would cost 64 MiB per try), but an
 * empty one, which the tenant without a password ignores (docs/kmip-server.md).
 * LLVMFuzzerInitialize is not called by tests/fuzz/replay.c: the first input initialises. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "firmware/core/config.h"
#include "firmware/ops/ops.h"
#include "firmware/ops/ops_int.h" /* w->st: the outer transaction around each input */
#include "firmware/store/store.h"
#include "kmip/kmip.h"
#include "tests/unit/hsm/hsm_test_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW 1700000000
#define FZ_FP_USER "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define FZ_FP_RO "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
#define FZ_FP_T2 "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
#define FZ_OTHER_UID "5"
#define FZ_RESP_CAP (1u << 20)   /* the service's default response buffer (max_message) */
#define FZ_ARENA (4u << 20)

enum { FZ_USER, FZ_RO, FZ_N };

struct fz {
	struct tok_env env;
	hsm *h;
	struct config *cfg;
	struct svc svc;
	struct ops_worker *w;
	struct identity id[FZ_N];
	struct net_conn_info ci[FZ_N];
	uint8_t *resp;
	uint8_t *abuf;                /* decode of the request (checks) */
	uint8_t *rbuf;                /* decode of the response */
	unsigned long n_err_logs;
	bool verbose;                 /* COFFRE_FUZZ_VERBOSE: print every response item */
};

static struct fz *fz_ctx;        /* the harness's one context, built once per process */

static int64_t fz_now(void *arg)
{
	(void)arg;
	return FZ_NOW;
}

/* COFFRE_FUZZ_LOG=1 prints the service's error lines; otherwise they are only counted. */
static void fz_log(void *arg, enum log_level lvl, const char *line)
{
	struct fz *z = arg;
	z->n_err_logs++;
	if (getenv("COFFRE_FUZZ_LOG") != NULL)
		fprintf(stderr, "fuzz_kmip_ops: log %d: %s\n", (int)lvl, line);
}

static void fz_die(const char *what)
{
	fprintf(stderr, "fuzz_kmip_ops: setup: %s\n", what);
	abort();
}

static void fz_client(struct config *c, const char *fp, const char *tenant, enum config_role role)
{
	struct config_client *cc = &c->clients[c->n_clients++];
	memset(cc, 0, sizeof *cc);
	snprintf(cc->fingerprint, sizeof cc->fingerprint, "%s", fp);
	snprintf(cc->tenant, sizeof cc->tenant, "%s", tenant);
	cc->role = role;
}

static void fz_identity(struct fz *z, int i, const char *fp, const char *cn)
{
	struct identity *id = &z->id[i];
	memset(id, 0, sizeof *id);
	snprintf(id->fp_hex, sizeof id->fp_hex, "%s", fp);
	snprintf(id->subject, sizeof id->subject, "CN=%s", cn);
	snprintf(id->issuer, sizeof id->issuer, "CN=Coffre CA");
	snprintf(id->cn, sizeof id->cn, "%s", cn);
	id->chain_ok = true;
	snprintf(z->ci[i].peer, sizeof z->ci[i].peer, "127.0.0.1:%d", 40000 + i);
	z->ci[i].id = id;
	z->ci[i].conn_id = (uint64_t)i + 1;
}

/* Name structure contents: Name Value (Text String) + Name Type Uninterpreted Text String. */
static size_t fz_name_contents(const char *v, uint8_t out[static 32])
{
	size_t n = strlen(v); /* <= 8 */
	memset(out, 0, 32);
	memcpy(out, "\x42\x00\x55\x07\x00\x00\x00", 7);
	out[7] = (uint8_t)n;
	memcpy(out + 8, v, n);
	memcpy(out + 16, "\x42\x00\x54\x05\x00\x00\x00\x04\x00\x00\x00\x01", 12);
	return 32;
}

struct fz_fixture {
	const char *uid;
	const char *tenant;
	const char *owner_fp;
	uint32_t type;
	uint32_t state;       /* STORE_STATE_DESTROYED: inserted Pre-Active, then destroyed */
	size_t key_n;
	const char *name;     /* NULL = none */
};

static const struct fz_fixture fz_fixtures[] = {
	{ "1", "t1", FZ_FP_USER, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, STORE_STATE_ACTIVE, 32, "k1" },
	{ "2", "t1", FZ_FP_USER, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, STORE_STATE_PRE_ACTIVE, 16, "k2" },
	{ "3", "t1", FZ_FP_USER, KMIP_OBJECT_TYPE_SECRET_DATA, STORE_STATE_PRE_ACTIVE, 24, NULL },
	{ "4", "t1", FZ_FP_USER, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, STORE_STATE_DEACTIVATED, 32, "k4" },
	{ FZ_OTHER_UID, "t2", FZ_FP_T2, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, STORE_STATE_ACTIVE, 32, "k1" },
	{ "6", "t1", FZ_FP_USER, KMIP_OBJECT_TYPE_SYMMETRIC_KEY, STORE_STATE_DESTROYED, 16, NULL },
};

static void fz_fixture_insert(struct store *st, hsm_sess *s, const struct fz_fixture *f)
{
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD], name[32];
	struct hsm_bind b = { (const uint8_t *)f->uid, strlen(f->uid), f->type };
	struct hsm_blob_info bi;
	struct store_object o;
	struct store_attr at[5];
	size_t blob_n = 0, na = 0;

	if (hsm_dek_generate(s, f->key_n, &b, blob, sizeof blob, &blob_n) != CF_OK ||
	    hsm_blob_info_get(blob, blob_n, &bi) != CF_OK)
		fz_die("fixture key");
	memset(&o, 0, sizeof o);
	memset(at, 0, sizeof at);
	snprintf(o.uid, sizeof o.uid, "%s", f->uid);
	snprintf(o.tenant, sizeof o.tenant, "%s", f->tenant);
	snprintf(o.owner, sizeof o.owner, "sha256:%s", f->owner_fp);
	o.object_type = f->type;
	o.state = f->state == STORE_STATE_DESTROYED ? STORE_STATE_PRE_ACTIVE : f->state;
	o.kek_version = bi.kek_version;
	o.wrapped = blob;
	o.wrapped_len = blob_n;
	o.created = FZ_NOW - 3600;
	o.last_change = FZ_NOW - 3600;
	if (f->type == KMIP_OBJECT_TYPE_SYMMETRIC_KEY) {
		o.crypto_alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_AES;
		o.crypto_len = (int32_t)(f->key_n * 8);
		o.usage_mask = KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT |
			       KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT;
	} else {
		/* the rows ops_register adds for Secret Data */
		at[na++] = (struct store_attr){ .name = "Secret Data Type",
			.value_type = TTLV_ENUMERATION, .has_int = true,
			.v_int = KMIP_SECRET_DATA_TYPE_PASSWORD };
		at[na++] = (struct store_attr){ .name = kmip_tag_name(KMIP_TAG_KEY_FORMAT_TYPE),
			.value_type = TTLV_ENUMERATION, .has_int = true,
			.v_int = KMIP_KEY_FORMAT_TYPE_OPAQUE };
	}
	if (f->state == STORE_STATE_ACTIVE || f->state == STORE_STATE_DEACTIVATED)
		o.activation = FZ_NOW - 1800;
	if (f->state == STORE_STATE_DEACTIVATED)
		o.deactivation = FZ_NOW - 60;
	if (f->name != NULL) {
		size_t n = fz_name_contents(f->name, name);
		at[na++] = (struct store_attr){ .name = "Name", .value_type = TTLV_STRUCTURE,
			.v_text = f->name, .v_blob = name, .v_blob_len = n };
		at[na++] = (struct store_attr){ .name = "Object Group",
			.value_type = TTLV_TEXT_STRING, .v_text = "g1" };
		at[na++] = (struct store_attr){ .name = "x-fuzz", .value_type = TTLV_TEXT_STRING,
			.v_text = "a" };
	}
	if (store_object_insert(st, &o, at, na) != CF_OK)
		fz_die("fixture insert");
	if (f->state == STORE_STATE_DESTROYED &&
	    store_object_destroy(st, f->tenant, f->uid, FZ_NOW - 10) != CF_OK)
		fz_die("fixture destroy");
	memset(blob, 0, sizeof blob);
}

static void fz_cleanup(void)
{
	struct fz *z = fz_ctx;
	if (z == NULL)
		return;
	fz_ctx = NULL;
	ops_worker_free(z->w);
	hsm_close(z->h);
	tok_env_teardown(&z->env);
	free(z->cfg);
	free(z->resp);
	free(z->abuf);
	free(z->rbuf);
	free(z);
}

static struct fz *fz_setup(void)
{
	struct fz *z;
	struct store_opts so = { 0 };
	hsm_sess *s;
	uint32_t v;

	if (fz_ctx != NULL)
		return fz_ctx;
	z = calloc(1, sizeof *z);
	if (z == NULL)
		fz_die("calloc");
	fz_ctx = z;
	z->resp = malloc(FZ_RESP_CAP);
	z->abuf = malloc(FZ_ARENA);
	z->rbuf = malloc(FZ_ARENA);
	z->cfg = calloc(1, sizeof *z->cfg);
	if (z->resp == NULL || z->abuf == NULL || z->rbuf == NULL || z->cfg == NULL)
		fz_die("malloc");
	z->verbose = getenv("COFFRE_FUZZ_VERBOSE") != NULL;
	log_set_sink(&(struct log_sink){ fz_log, z, LOG_LVL_ERR });
	if (tok_env_setup(&z->env) != 0)
		fz_die("SoftHSMv2 token (tok_env_setup)");
	if (tok_env_open(TEST_TOKEN, false, 2, 5000, &z->h) != CF_OK)
		fz_die("hsm open / login");
	if (hsm_session_acquire(z->h, 1000, &s) != CF_OK)
		fz_die("hsm session");
	if (hsm_kek_create(s, &v) != CF_OK || hsm_kek_make_current(z->h, v) != CF_OK)
		fz_die("KEK");

	fz_client(z->cfg, FZ_FP_USER, "t1", CONFIG_ROLE_USER);
	fz_client(z->cfg, FZ_FP_RO, "t1", CONFIG_ROLE_READONLY);
	fz_client(z->cfg, FZ_FP_T2, "t2", CONFIG_ROLE_USER);
	fz_identity(z, FZ_USER, FZ_FP_USER, "user");
	fz_identity(z, FZ_RO, FZ_FP_RO, "readonly");
	z->svc.cfg = z->cfg;
	z->svc.hsm = z->h;
	snprintf(z->svc.store_path, sizeof z->svc.store_path, "%s/store.db", z->env.dir);
	atomic_store(&z->svc.state, SVC_READY);
	z->svc.limits = KMIP_LIMITS_DEFAULT;
	z->svc.vendor_id = "Coffre fuzz";
	z->svc.now = fz_now;
	z->svc.now_arg = z;
	if (ops_worker_new(&z->svc, 0, &z->w) != CF_OK)
		fz_die("ops_worker_new");
	/* the worker opens its store lazily; open it now to insert the fixtures */
	if (store_open(z->svc.store_path, &so, &z->w->st) != CF_OK)
		fz_die("store_open");
	for (size_t i = 0; i < sizeof fz_fixtures / sizeof fz_fixtures[0]; i++)
		fz_fixture_insert(z->w->st, s, &fz_fixtures[i]);
	hsm_session_release(s);
	/* registered after SoftHSMv2 built its singletons (at hsm_open), so that it runs before
	 * their destructors: exit handlers run in reverse order of registration */
	if (atexit(fz_cleanup) != 0)
		fz_die("atexit");
	return z;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fz_setup();
	return 0;
}

/* ---- checks --------------------------------------------------------------------------- */

#define FZ_CHECK(c) do { if (!(c)) fz_fail(#c, __LINE__); } while (0)

static void fz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_kmip_ops: invariant failed (line %d): %s\n", line, what);
	abort();
}

static bool fz_bytes_eq(struct kmip_bytes a, struct kmip_bytes b)
{
	if ((a.p == NULL) != (b.p == NULL) || a.n != b.n)
		return false;
	return a.n == 0 || memcmp(a.p, b.p, a.n) == 0;
}

static bool fz_is_other(struct kmip_text t)
{
	return t.p != NULL && t.n == strlen(FZ_OTHER_UID) && memcmp(t.p, FZ_OTHER_UID, t.n) == 0;
}

static bool fz_write_op(uint32_t op)
{
	switch (op) {
	case KMIP_OPERATION_CREATE:
	case KMIP_OPERATION_REGISTER:
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_REVOKE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
	case KMIP_OPERATION_CANCEL:
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
		return true;
	default:
		return false;
	}
}

/* A successful item must never name the other tenant's object. */
static void fz_check_tenant(const struct kmip_rsp_item *it)
{
	const struct kmip_payload *pl = &it->pl;

	if (!it->has_payload || !pl->typed)
		return;
	switch (pl->op) {
	case KMIP_OPERATION_GET:
		FZ_CHECK(!fz_is_other(pl->u.get_rsp.uid));
		break;
	case KMIP_OPERATION_GET_ATTRIBUTES:
		FZ_CHECK(!fz_is_other(pl->u.get_attrs_rsp.uid));
		break;
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
		FZ_CHECK(!fz_is_other(pl->u.get_attr_list_rsp.uid));
		break;
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
		FZ_CHECK(!fz_is_other(pl->u.attr_rsp.uid));
		break;
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_REVOKE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		FZ_CHECK(!fz_is_other(pl->u.uid_rsp.uid));
		break;
	case KMIP_OPERATION_OBTAIN_LEASE:
		FZ_CHECK(!fz_is_other(pl->u.lease.uid));
		break;
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
		FZ_CHECK(!fz_is_other(pl->u.usage_alloc.uid));
		break;
	case KMIP_OPERATION_LOCATE:
		for (size_t i = 0; i < pl->u.locate_rsp.n; i++)
			FZ_CHECK(!fz_is_other(pl->u.locate_rsp.uids[i]));
		break;
	default:
		break;
	}
}

/* One message through ops_handle as client `who`; rq is the request as we decoded it
 * (NULL when it does not decode). */
static void fz_send(struct fz *z, int who, const uint8_t *data, size_t size,
		    const struct kmip_request *rq)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct kmip_decode_error de;
	struct kmip_response rs;
	struct kmip_arena a;
	size_t len = 0;
	bool any_ok = false;

	FZ_CHECK(ops_handle(z->w, &z->ci[who], data, size, z->resp, FZ_RESP_CAP, &len) == CF_OK);
	FZ_CHECK(len > 0 && len <= FZ_RESP_CAP);
	lim.max_message = FZ_RESP_CAP;
	kmip_arena_init(&a, z->rbuf, FZ_ARENA);
	FZ_CHECK(kmip_decode_response(z->resp, len, &lim, &a, &rs, &de) == CF_OK);
	FZ_CHECK(rs.h.time_stamp == FZ_NOW);
	FZ_CHECK(rs.n_items >= 1);
	for (size_t i = 0; z->verbose && i < rs.n_items; i++)
		fprintf(stderr, "fuzz_kmip_ops: client %d item %zu op %u status %u reason 0x%x: %.*s\n",
			who, i, rs.items[i].op, rs.items[i].status, rs.items[i].reason,
			(int)rs.items[i].message.n, rs.items[i].message.p ? rs.items[i].message.p : "");
	for (size_t i = 0; i < rs.n_items; i++) {
		const struct kmip_rsp_item *it = &rs.items[i];
		FZ_CHECK(it->status == KMIP_RESULT_STATUS_SUCCESS ||
			 it->status == KMIP_RESULT_STATUS_OPERATION_FAILED ||
			 it->status == KMIP_RESULT_STATUS_OPERATION_UNDONE);
		FZ_CHECK(it->status != KMIP_RESULT_STATUS_OPERATION_FAILED || it->has_reason);
		FZ_CHECK(it->status != KMIP_RESULT_STATUS_SUCCESS || it->has_op);
	}
	if (rq == NULL) {
		FZ_CHECK(rs.n_items == 1);
		FZ_CHECK(rs.items[0].status == KMIP_RESULT_STATUS_OPERATION_FAILED);
		return;
	}
	FZ_CHECK(rs.n_items <= rq->n_items);
	if (rs.n_items < rq->n_items) {
		/* only a failed item with Stop (the default) or Undo ends the batch early */
		FZ_CHECK(rs.items[rs.n_items - 1].status == KMIP_RESULT_STATUS_OPERATION_FAILED);
		FZ_CHECK(!rq->h.has_bec ||
			 rq->h.bec != KMIP_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE);
	}
	for (size_t i = 0; i < rs.n_items; i++) {
		const struct kmip_rsp_item *it = &rs.items[i];
		const struct kmip_req_item *qi = &rq->items[i];
		FZ_CHECK(!it->has_op || it->op == qi->op);
		FZ_CHECK(fz_bytes_eq(it->id, qi->id));
		if (it->status != KMIP_RESULT_STATUS_SUCCESS)
			continue;
		any_ok = true;
		FZ_CHECK(who != FZ_RO || !fz_write_op(qi->op));
		fz_check_tenant(it);
	}
	if (any_ok && rq->h.has_max_response_size && rq->h.max_response_size > 0)
		FZ_CHECK(len <= (size_t)rq->h.max_response_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *z = fz_setup();
	struct kmip_decode_error de;
	struct kmip_request rq;
	struct kmip_arena a;
	const struct kmip_request *rqp = NULL;
	struct store *st = z->w->st;

	kmip_arena_init(&a, z->abuf, FZ_ARENA);
	if (kmip_decode_request(data, size, &z->svc.limits, &a, &rq, &de) == CF_OK)
		rqp = &rq;

	/* A request that only reads runs in ops' own read snapshot, which cannot nest in an outer
	 * transaction: it changes nothing but the worker's queue of read audit records, dropped
	 * here unflushed (a Get's end of Fresh with them), so every input still starts from the
	 * same store. */
	bool writes = rqp == NULL || ops_request_writes(rqp);
	if (writes)
		FZ_CHECK(store_tx_begin(st) == CF_OK);
	fz_send(z, FZ_USER, data, size, rqp);
	fz_send(z, FZ_USER, data, size, rqp); /* sees what the first message did */
	fz_send(z, FZ_RO, data, size, rqp);
	FZ_CHECK(z->w->st == st);
	if (writes) {
		FZ_CHECK(store_tx_depth(st) == 1 || store_tx_depth(st) == 0);
		store_tx_rollback(st);
	}
	FZ_CHECK(store_tx_depth(st) == 0);
	for (size_t i = 0; i < z->w->aq_n; i++) {
		free(z->w->aq[i].detail);
		z->w->aq[i].detail = NULL;
	}
	z->w->aq_n = 0;
	return 0;
}
