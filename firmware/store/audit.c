/* The audit hash chain (docs/store.md "audit"). Rows live in the store; this file owns the
 * canonical encoding, the hashing and the verification. */
#include "firmware/store/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "board/log.h"
#include "firmware/store/commit.h"
#include "firmware/store/store_int.h"

/* Domain separation: a record hash cannot be confused with any other SHA-256 we compute. */
static const char audit_domain[] = "coffre-audit-v1";

static int put_field(EVP_MD_CTX *c, const void *p, size_t n)
{
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	if (EVP_DigestUpdate(c, len, sizeof len) != 1)
		return 0;
	return n == 0 || EVP_DigestUpdate(c, p, n) == 1;
}

static int put_u64(EVP_MD_CTX *c, uint64_t v)
{
	uint8_t b[8];
	for (size_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return put_field(c, b, sizeof b);
}

static int put_str(EVP_MD_CTX *c, const char *s)
{
	return put_field(c, s, strlen(s));
}

cf_err audit_hash(const struct store_audit_row *row, uint8_t out[static STORE_HASH_LEN])
{
	cf_err rc = CF_E_INTERNAL;
	unsigned int n = 0;
	memset(out, 0, STORE_HASH_LEN);
	if (row == NULL || row->actor == NULL || row->source == NULL || row->operation == NULL ||
	    row->uid == NULL || row->detail == NULL)
		return CF_E_INVALID_ARG;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL)
		return CF_E_NOMEM;
	/* canonical: each field = u32 big-endian length || bytes; integers as 8 bytes BE */
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    !put_str(c, audit_domain) ||
	    !put_u64(c, row->seq) ||
	    !put_u64(c, (uint64_t)row->time) ||
	    !put_str(c, row->actor) ||
	    !put_str(c, row->source) ||
	    !put_str(c, row->operation) ||
	    !put_str(c, row->uid) ||
	    !put_u64(c, (uint64_t)row->result) ||
	    !put_str(c, row->detail) ||
	    !put_field(c, row->prev_hash, STORE_HASH_LEN) ||
	    EVP_DigestFinal_ex(c, out, &n) != 1 || n != STORE_HASH_LEN) {
		memset(out, 0, STORE_HASH_LEN);
		goto out;
	}
	rc = CF_OK;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

/* Copy at most max bytes of s (NULL = "") into out[max + 1], cutting at a UTF-8 boundary. */
static const char *clip(const char *s, char *out, size_t max)
{
	if (s == NULL)
		s = "";
	size_t n = strnlen(s, max + 1);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

/* For syslog: control characters, DEL and quotes become '?' (no forged lines or fields). */
static void scrub(char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || ch == '"')
			*s = '?';
	}
}

void audit_syslog_open(void)
{
	openlog("coffred", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	/* from now on, lines go to syslog only while /dev/log exists: without a daemon, every
	 * syslog() call would retry a socket + connect (docs/store.md "audit") */
	commit_syslog_gate(true);
}

cf_err audit_append(struct store *st, const struct audit_record *r, uint64_t *seq_out)
{
	cf_err rc = CF_E_INTERNAL;
	char actor[AUDIT_ACTOR_MAX + 1], source[AUDIT_SOURCE_MAX + 1], op[AUDIT_OP_MAX + 1];
	char uid[AUDIT_UID_MAX + 1], detail[AUDIT_DETAIL_MAX + 1];
	char line[2 * (AUDIT_ACTOR_MAX + AUDIT_SOURCE_MAX + AUDIT_OP_MAX + AUDIT_UID_MAX +
		       AUDIT_DETAIL_MAX)];
	struct store_audit_row row;
	uint64_t head = 0;

	if (seq_out != NULL)
		*seq_out = 0;
	if (st == NULL || r == NULL || r->operation == NULL || r->operation[0] == '\0')
		return CF_E_INVALID_ARG;
	memset(&row, 0, sizeof row);
	row.time = r->time;
	row.actor = clip(r->actor, actor, AUDIT_ACTOR_MAX);
	row.source = clip(r->source, source, AUDIT_SOURCE_MAX);
	row.operation = clip(r->operation, op, AUDIT_OP_MAX);
	row.uid = clip(r->uid, uid, AUDIT_UID_MAX);
	row.result = r->result;
	row.detail = clip(r->detail, detail, AUDIT_DETAIL_MAX);

	TRY(store_tx_begin(st));
	/* under the write lock: no other connection can append between head and insert */
	if ((rc = store_audit_head(st, &head, row.prev_hash)) != CF_OK)
		goto out;
	if (head == UINT64_MAX) {
		rc = CF_E_TOO_MANY;
		goto out;
	}
	row.seq = head + 1;
	if ((rc = audit_hash(&row, row.hash)) != CF_OK)
		goto out;
	if ((rc = store_audit_insert(st, &row)) != CF_OK)
		goto out;
	scrub(actor);
	scrub(source);
	scrub(op);
	scrub(uid);
	scrub(detail);
	snprintf(line, sizeof line,
		 "audit seq=%" PRIu64 " time=%" PRId64 " actor=\"%s\" source=\"%s\" op=\"%s\" "
		 "uid=\"%s\" result=%" PRId64 " detail=\"%s\"",
		 row.seq, row.time, actor, source, op, uid, row.result, detail);
	if ((rc = store_tx_syslog_on_commit(st, line)) != CF_OK)
		goto out;
	if ((rc = store_tx_commit(st)) != CF_OK)
		return rc;
	if (seq_out != NULL)
		*seq_out = row.seq;
	return CF_OK;
out:
	store_tx_rollback(st);
	log_err_r(rc, "audit: append failed");
	return rc;
}

struct verify_state {
	uint64_t expect;                 /* next seq expected */
	uint8_t prev[STORE_HASH_LEN];    /* hash of the previous row */
	uint64_t bad;
};

static cf_err verify_row(void *arg, const struct store_audit_row *row)
{
	struct verify_state *v = arg;
	uint8_t h[STORE_HASH_LEN];
	if (row->seq != v->expect) {
		/* a gap (deleted row) or a seq moved: the expected seq is the first bad one */
		v->bad = v->expect;
		return CF_E_STORE;
	}
	if (memcmp(row->prev_hash, v->prev, STORE_HASH_LEN) != 0) {
		v->bad = row->seq;
		return CF_E_STORE;
	}
	TRY(audit_hash(row, h));
	if (memcmp(h, row->hash, STORE_HASH_LEN) != 0) {
		v->bad = row->seq;
		return CF_E_STORE;
	}
	memcpy(v->prev, h, STORE_HASH_LEN);
	v->expect++;
	return CF_OK;
}

cf_err audit_verify(struct store *st, uint64_t *first_bad_seq)
{
	struct verify_state v;
	uint64_t anchor_seq = 0;
	uint8_t anchor_hash[STORE_HASH_LEN];
	if (first_bad_seq == NULL)
		return CF_E_INVALID_ARG;
	*first_bad_seq = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	memset(&v, 0, sizeof v);
	v.expect = 1;
	cf_err rc = store_audit_walk(st, verify_row, &v, &anchor_seq, anchor_hash);
	if (rc == CF_E_STORE && v.bad != 0) {
		*first_bad_seq = v.bad;
		log_err("audit: chain broken at seq %" PRIu64, v.bad);
		return CF_E_STORE;
	}
	if (rc != CF_OK)
		return rc;
	/* the recorded head catches a cut tail (rows deleted from the end) */
	uint64_t last = v.expect - 1;
	if (anchor_seq > last)
		*first_bad_seq = last + 1;
	else if (anchor_seq < last)
		*first_bad_seq = anchor_seq + 1;
	else if (last != 0 && memcmp(anchor_hash, v.prev, STORE_HASH_LEN) != 0)
		*first_bad_seq = last;
	if (*first_bad_seq != 0) {
		log_err("audit: chain head mismatch at seq %" PRIu64, *first_bad_seq);
		return CF_E_STORE;
	}
	return CF_OK;
}

/* ---- the remote copy's cursor and reader (docs/store.md "audit", firmware/svc/auditfwd.c) -- */

#define AUDIT_SENT_KEY "audit_remote_sent"
#define AUDIT_READ_SQL                                                                       \
	"SELECT seq,time,actor,source,operation,uid,result,detail,prev_hash,hash FROM audit " \
	"WHERE seq > ?1 ORDER BY seq LIMIT ?2"

cf_err audit_sent_get(struct store *st, uint64_t *seq)
{
	if (seq == NULL)
		return CF_E_INVALID_ARG;
	*seq = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	cf_err rc = st_meta_u64(st, AUDIT_SENT_KEY, seq);
	return rc == CF_E_NOT_FOUND ? CF_OK : rc;
}

cf_err audit_sent_set(struct store *st, uint64_t seq)
{
	char v[32];

	if (st == NULL)
		return CF_E_INVALID_ARG;
	snprintf(v, sizeof v, "%" PRIu64, seq);
	return store_meta_set(st, AUDIT_SENT_KEY, v);
}

/* One row of AUDIT_READ_SQL; strings point into the statement (valid until the next step). */
static void read_row(sqlite3_stmt *s, struct store_audit_row *row)
{
	memset(row, 0, sizeof *row);
	int64_t seq = sqlite3_column_int64(s, 0);
	row->seq = seq > 0 ? (uint64_t)seq : 0;
	row->time = sqlite3_column_int64(s, 1);
	row->actor = (const char *)sqlite3_column_text(s, 2);
	row->source = (const char *)sqlite3_column_text(s, 3);
	row->operation = (const char *)sqlite3_column_text(s, 4);
	row->uid = (const char *)sqlite3_column_text(s, 5);
	row->result = sqlite3_column_int64(s, 6);
	row->detail = (const char *)sqlite3_column_text(s, 7);
	const void *ph = sqlite3_column_blob(s, 8);
	const void *h = sqlite3_column_blob(s, 9);
	if (ph != NULL && sqlite3_column_bytes(s, 8) == STORE_HASH_LEN)
		memcpy(row->prev_hash, ph, STORE_HASH_LEN);
	if (h != NULL && sqlite3_column_bytes(s, 9) == STORE_HASH_LEN)
		memcpy(row->hash, h, STORE_HASH_LEN);
	row->actor = row->actor != NULL ? row->actor : "";
	row->source = row->source != NULL ? row->source : "";
	row->operation = row->operation != NULL ? row->operation : "";
	row->uid = row->uid != NULL ? row->uid : "";
	row->detail = row->detail != NULL ? row->detail : "";
}

cf_err audit_read_after(struct store *st, uint64_t after, unsigned max, store_audit_fn fn,
			void *arg, unsigned *n_out)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_E_INTERNAL;
	unsigned n = 0;
	int r;

	if (n_out != NULL)
		*n_out = 0;
	if (st == NULL || fn == NULL || max == 0 || after > (uint64_t)INT64_MAX)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, AUDIT_READ_SQL, &s));
	r = sqlite3_bind_int64(s, 1, (int64_t)after);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(s, 2, (int64_t)max);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind audit read");
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_audit_row row;
		read_row(s, &row);
		if ((rc = fn(arg, &row)) != CF_OK)
			goto out;
		n++;
	}
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "audit read");
out:
	sqlite3_finalize(s);
	if (n_out != NULL)
		*n_out = n;
	return rc;
}
