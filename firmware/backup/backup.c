/* Backup export / verify / restore on the appliance (firmware/backup/backup.h, docs/backup.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>


#include "board/log.h"
#include "board/sec.h"
#include "firmware/backup/backup.h"
#include "firmware/store/store_backup.h"
#include "hsm/hsm_backup.h"

#define DIAG(d, ...) do { if ((d) != NULL) snprintf((d)->msg, sizeof (d)->msg, __VA_ARGS__); } while (0)
#define FILE_CERT "tls.cert"
#define FILE_CA "tls.ca"
#define PEM_MAX (256u * 1024u)

void bk_opened_free(struct bk_opened *o)
{
	if (o == NULL)
		return;
	bk_free(o->file, o->file_n);
	bk_free(o->body, o->body_n);
	if (o->key != NULL)
		sec_free(o->key, BK_KEY_LEN);
	memset(o, 0, sizeof *o);
}

void bk_export_out_free(struct bk_export_out *o)
{
	if (o == NULL)
		return;
	bk_free(o->armor, o->armor_n);
	if (o->shares != NULL)
		sec_free(o->shares, sizeof o->shares[0] * BK_SHARES_MAX);
	memset(o, 0, sizeof *o);
}

cf_err bk_verify(const uint8_t *text, size_t n, const struct bk_secret *sec, struct bk_opened *out,
		 struct bk_diag *d)
{
	memset(out, 0, sizeof *out);
	cf_err rc = bk_file_decode(text, n, &out->file, &out->file_n, d);
	if (rc == CF_OK)
		rc = bk_header_parse(out->file, out->file_n, &out->hdr, d);
	if (rc == CF_OK)
		rc = sec_alloc(BK_KEY_LEN, (void **)&out->key);
	if (rc == CF_OK) {
		if (out->hdr.scheme == BK_SCHEME_PASSPHRASE) {
			if (sec->pass == NULL) {
				DIAG(d, "this backup is protected by a passphrase");
				rc = CF_E_MISSING;
			} else {
				rc = bk_key_from_pass(&out->hdr, sec->pass, sec->pass_n, out->key);
			}
		} else if (sec->shares == NULL) {
			DIAG(d, "this backup is protected by %u of %u shares", out->hdr.threshold,
			     out->hdr.shares);
			rc = CF_E_MISSING;
		} else {
			rc = bk_shares_combine(&out->hdr, sec->shares, sec->n_shares, out->key, d);
		}
	}
	if (rc == CF_OK)
		rc = bk_open(out->file, out->file_n, &out->hdr, out->key, &out->body, &out->body_n, d);
	struct bk_counts c;
	if (rc == CF_OK)
		rc = bk_body_walk(out->body, out->body_n, NULL, NULL, &c, &out->schema, d);
	if (rc == CF_OK && !bk_counts_equal(&c, &out->hdr.counts)) {
		DIAG(d, "the backup's contents do not match the counts in its header");
		rc = CF_E_BAD_VALUE;
	}
	if (rc != CF_OK)
		bk_opened_free(out);
	return rc;
}

/* ---- export ---------------------------------------------------------------------------------- */

static cf_err read_small(const char *path, uint8_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? CF_E_NOT_FOUND : CF_E_IO;
	uint8_t *b = malloc(PEM_MAX);
	size_t o = 0;
	cf_err rc = b != NULL ? CF_OK : CF_E_NOMEM;
	while (rc == CF_OK) {
		ssize_t r = read(fd, b + o, PEM_MAX - o);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = CF_E_IO;
		else if (r == 0)
			break;
		else if ((o += (size_t)r) == PEM_MAX)
			rc = CF_E_TOO_LARGE;
	}
	close(fd);
	if (rc != CF_OK) {
		free(b);
		return rc;
	}
	*out = b;
	*n = o;
	return CF_OK;
}

static void uuid4(char out[BK_ID_LEN + 1])
{
	uint8_t r[16] = { 0 };
	if (sec_random(r, sizeof r) != CF_OK)
		memset(r, 0x5a, sizeof r);
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	snprintf(out, BK_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
		 r[15]);
}

static cf_err appliance_id(struct store *st, char out[BK_ID_LEN + 1])
{
	cf_err rc = store_meta_get(st, "appliance.id", out, BK_ID_LEN + 1);
	if (rc != CF_E_NOT_FOUND)
		return rc;
	uuid4(out);
	return store_meta_set(st, "appliance.id", out);
}

static cf_err add_file(struct bk_buf *b, const char *name, const char *path, struct bk_counts *c)
{
	if (path == NULL || path[0] == '\0')
		return CF_OK;
	uint8_t *p = NULL;
	size_t n = 0;
	cf_err rc = read_small(path, &p, &n);
	if (rc == CF_E_NOT_FOUND)
		return CF_OK;
	if (rc != CF_OK || n == 0) {
		free(p);
		return rc != CF_OK ? rc : CF_OK;
	}
	size_t at = bk_rec_begin(b, BK_REC_FILE);
	bk_buf_str(b, name);
	bk_buf_bytes(b, p, n);
	bk_rec_end(b, at);
	free(p);
	c->files++;
	return CF_OK;
}

/* Backup order of the HSM items (qsort): KEKs by version, then key pairs by label. */
static int item_order(const void *pa, const void *pb)
{
	const struct hsm_bk_item *a = pa, *b = pb;
	if (a->kind != b->kind)
		return a->kind == HSM_BK_KEK ? -1 : b->kind == HSM_BK_KEK ? 1 : 0;
	if (a->kind == HSM_BK_KEK)
		return a->version < b->version ? -1 : a->version > b->version;
	return strcmp(a->label, b->label);
}

/* The header's key fields and the backup key (passphrase: Argon2id; shares: random, split into
 * out->shares). key: BK_KEY_LEN bytes. */
static cf_err export_key(const struct bk_export_in *in, struct bk_export_out *out, uint8_t *key)
{
	struct bk_header *h = &out->hdr;
	h->scheme = (uint8_t)in->scheme;
	if (sec_random(h->set_id, sizeof h->set_id) != CF_OK)
		return CF_E_INTERNAL;
	if (in->scheme == BK_SCHEME_PASSPHRASE) {
		h->t_cost = BK_ARGON2_T;
		h->m_kib = BK_ARGON2_M_KIB;
		h->lanes = BK_ARGON2_P;
		memset(h->set_id, 0, sizeof h->set_id);
		if (sec_random(h->salt, sizeof h->salt) != CF_OK)
			return CF_E_INTERNAL;
		return bk_key_from_pass(h, in->pass, in->pass_n, key);
	}
	h->threshold = (uint8_t)in->m;
	h->shares = (uint8_t)in->n;
	if (sec_random(key, BK_KEY_LEN) != CF_OK)
		return CF_E_INTERNAL;
	TRY(sec_alloc(sizeof out->shares[0] * BK_SHARES_MAX, (void **)&out->shares));
	TRY(bk_shares_split(key, in->m, in->n, h->set_id, out->shares));
	out->n_shares = in->n;
	return CF_OK;
}

/* The HSM's items (KEKs by version, then the key pairs by label) as records. */
static void export_items(struct bk_buf *body, struct hsm_bk_set *set, struct bk_counts *c)
{
	/* the token's find order is arbitrary, and a restore names the first KEK it cannot take */
	if (set->n > 1)
		qsort(set->items, set->n, sizeof set->items[0], item_order);
	for (size_t i = 0; i < set->n; i++) {
		const struct hsm_bk_item *it = &set->items[i];
		size_t at;
		if (it->kind == HSM_BK_KEK) {
			at = bk_rec_begin(body, BK_REC_KEK);
			bk_buf_u32(body, it->version);
			bk_buf_bytes(body, it->wrapped, it->wrapped_n);
			c->keks++;
		} else {
			at = bk_rec_begin(body, BK_REC_KEYPAIR);
			bk_buf_str(body, it->label);
			bk_buf_bytes(body, it->id, it->id_n);
			bk_buf_u32(body, (uint32_t)it->key_type);
			bk_buf_bytes(body, it->wrapped, it->wrapped_n);
			bk_buf_bytes(body, it->pub_a, it->pub_a_n);
			bk_buf_bytes(body, it->pub_b, it->pub_b_n);
			c->keypairs++;
		}
		bk_rec_end(body, at);
	}
}

/* The body: the HSM's items wrapped in the helper (SO ceremony) under wk, the certificates, the
 * store's tables; the header's counts from what was written. */
static cf_err export_body(const struct bk_export_in *in, const uint8_t *wk, struct bk_buf *body,
			  struct bk_counts *c, struct bk_diag *d)
{
	struct hsm_bk_set set = { 0 };
	cf_err rc = hsm_bk_wrap_all(in->h, in->helper, in->so_pin, in->so_n, wk, 60000u, &set);
	if (rc != CF_OK) {
		DIAG(d, rc == CF_E_HSM_PIN ? "the HSM refused the SO PIN"
			: rc == CF_E_HSM_POLICY ? "a key on the HSM is not exportable: it was made "
						  "before backups were enabled (rotate the KEK)"
			: "the HSM wrap failed (%s)", cf_err_name(rc));
		hsm_bk_set_free(&set);
		return rc;
	}
	bk_body_start(body, (uint32_t)store_schema_version());
	export_items(body, &set, c);
	hsm_bk_set_free(&set);
	if (c->keks == 0) {
		DIAG(d, "no KEK found on the HSM");
		return CF_E_HSM_NOT_FOUND;
	}
	if ((rc = add_file(body, FILE_CERT, in->cfg->tls.cert, c)) != CF_OK ||
	    (rc = add_file(body, FILE_CA, in->cfg->tls.ca, c)) != CF_OK) {
		DIAG(d, "cannot read the certificates (%s)", cf_err_name(rc));
		return rc;
	}
	if ((rc = bk_tables_dump(in->st, body)) != CF_OK) {
		DIAG(d, "cannot read the store (%s)", cf_err_name(rc));
		return rc;
	}
	bk_body_finish(body);
	if (body->oom)
		return CF_E_NOMEM;
	/* count the rows from what was written */
	struct bk_counts all;
	uint32_t schema;
	TRY(bk_body_walk(body->p, body->n, NULL, NULL, &all, &schema, d));
	c->objects = all.objects;
	c->attributes = all.attributes;
	c->clients = all.clients;
	c->users = all.users;
	c->meta = all.meta;
	return CF_OK;
}

cf_err bk_export(const struct bk_export_in *in, struct bk_export_out *out, struct bk_diag *d)
{
	memset(out, 0, sizeof *out);
	struct bk_header *h = &out->hdr;
	struct bk_buf body = { 0 };
	uint8_t *key = NULL, *wk = NULL, *file = NULL;
	size_t file_n = 0;
	cf_err rc;
	if (in->scheme == BK_SCHEME_PASSPHRASE) {
		if (!bk_pass_check(in->pass, in->pass_n, d))
			return CF_E_BAD_VALUE;
	} else if (in->scheme != BK_SCHEME_SHARES || in->m < 2 || in->n < in->m ||
		   in->n > BK_SHARES_MAX) {
		DIAG(d, "shares: need 2 <= threshold <= shares <= %u", BK_SHARES_MAX);
		return CF_E_INVALID_ARG;
	}
	if ((rc = sec_alloc(BK_KEY_LEN, (void **)&key)) != CF_OK ||
	    (rc = sec_alloc(HSM_BK_WRAP_KEY_LEN, (void **)&wk)) != CF_OK)
		goto out;
	h->created = in->now;
	h->kek_version = hsm_kek_current(in->h);
	if ((rc = appliance_id(in->st, h->appliance_id)) != CF_OK) {
		DIAG(d, "cannot read the appliance id from the store");
		goto out;
	}
	if ((rc = export_key(in, out, key)) != CF_OK ||
	    (rc = bk_subkey(key, BK_SUB_WRAP, wk, HSM_BK_WRAP_KEY_LEN)) != CF_OK ||
	    (rc = export_body(in, wk, &body, &h->counts, d)) != CF_OK ||
	    (rc = bk_seal(h, key, body.p, body.n, &file, &file_n)) != CF_OK)
		goto out;
	rc = bk_armor_encode(file, file_n, &out->armor, &out->armor_n);
out:
	bk_buf_free(&body);
	bk_free(file, file_n);
	if (key != NULL)
		sec_free(key, BK_KEY_LEN);
	if (wk != NULL)
		sec_free(wk, HSM_BK_WRAP_KEY_LEN);
	if (rc != CF_OK) {
		if (d != NULL && d->msg[0] == '\0')
			DIAG(d, "backup export failed (%s)", cf_err_name(rc));
		bk_export_out_free(out);
	}
	return rc;
}

cf_err bk_export_record(struct store *st, const struct bk_header *h)
{
	char v[32];
	snprintf(v, sizeof v, "%" PRId64, h->created);
	TRY(store_meta_set(st, "backup.last", v));
	snprintf(v, sizeof v, "%" PRIu32, h->kek_version);
	return store_meta_set(st, "backup.last_kek", v);
}

/* ---- files ------------------------------------------------------------------------------------ */

cf_err bk_write_atomic(const char *dir, const char *name, const void *p, size_t n)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	if (strchr(name, '/') != NULL || name[0] == '.' ||
	    (size_t)snprintf(dst, sizeof dst, "%s/%s", dir, name) >= sizeof dst ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp)
		return CF_E_INVALID_ARG;
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return CF_E_IO;
	const uint8_t *b = p;
	size_t left = n;
	cf_err rc = CF_OK;
	while (left > 0 && rc == CF_OK) {
		ssize_t w = write(fd, b, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = CF_E_IO;
		else {
			b += w;
			left -= (size_t)w;
		}
	}
	if (rc == CF_OK && fsync(fd) != 0)
		rc = CF_E_IO;
	close(fd);
	if (rc == CF_OK && rename(tmp, dst) != 0)
		rc = CF_E_IO;
	if (rc != CF_OK) {
		(void)unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			rc = CF_E_IO;
		close(dfd);
	}
	return rc;
}

static cf_err write_path(const char *path, const void *p, size_t n)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (strlen(path) >= sizeof a)
		return CF_E_INVALID_ARG;
	strcpy(a, path);
	strcpy(b, path);
	/* a fresh appliance has no certificate directory yet (`init` makes it the same way) */
	const char *dir = dirname(a);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return CF_E_IO;
	return bk_write_atomic(dir, basename(b), p, n);
}

/* ---- restore ------------------------------------------------------------------------------------ */

struct rs {
	hsm_sess *s;
	const struct config *cfg;
	const uint8_t *wk;
	bool dry;
	bool probe;                  /* a merge dry run: a KEK already here is counted, not fatal */
	unsigned keks, keypairs, files;
	uint32_t kek_max, kek_present, present_min;
	struct hsm_bk_item it;
	struct bk_diag *d;
};

static cf_err rs_kek(void *arg, const struct bk_kek *k)
{
	struct rs *r = arg;
	memset(&r->it, 0, sizeof r->it);
	r->it.kind = HSM_BK_KEK;
	r->it.version = k->version;
	if (k->wrapped_n > sizeof r->it.wrapped)
		return CF_E_TOO_LARGE;
	memcpy(r->it.wrapped, k->wrapped, k->wrapped_n);
	r->it.wrapped_n = k->wrapped_n;
	cf_err rc = r->dry ? hsm_bk_unwrap_check(r->s, r->wk, &r->it)
			   : hsm_bk_unwrap_kek(r->s, r->wk, k->version, k->wrapped, k->wrapped_n);
	if (rc == CF_E_EXISTS && r->probe) {
		/* it unwraps (proven), but a real merge would stop here: say which, go on */
		if (r->kek_present++ == 0 || k->version < r->present_min) {
			r->present_min = k->version;
			DIAG(r->d, "KEK %u exists on this HSM already", k->version);
		}
		rc = CF_OK;
	}
	if (rc != CF_OK) {
		DIAG(r->d, rc == CF_E_EXISTS ? "KEK %u exists on this HSM already"
						: "KEK %u: the HSM could not unwrap it (%s)",
		     k->version, cf_err_name(rc));
		return rc;
	}
	r->keks++;
	if (k->version > r->kek_max)
		r->kek_max = k->version;
	return CF_OK;
}

static cf_err rs_keypair(void *arg, const struct bk_keypair *k)
{
	struct rs *r = arg;
	struct hsm_bk_item *it = &r->it;
	memset(it, 0, sizeof *it);
	it->kind = HSM_BK_KEYPAIR;
	snprintf(it->label, sizeof it->label, "%s", k->label);
	if (k->id_n > sizeof it->id || k->wrapped_n > sizeof it->wrapped ||
	    k->pub_a_n > sizeof it->pub_a || k->pub_b_n > sizeof it->pub_b)
		return CF_E_TOO_LARGE;
	memcpy(it->id, k->id, k->id_n);
	it->id_n = k->id_n;
	it->key_type = k->key_type;
	memcpy(it->wrapped, k->wrapped, k->wrapped_n);
	it->wrapped_n = k->wrapped_n;
	memcpy(it->pub_a, k->pub_a, k->pub_a_n);
	it->pub_a_n = k->pub_a_n;
	memcpy(it->pub_b, k->pub_b, k->pub_b_n);
	it->pub_b_n = k->pub_b_n;
	cf_err rc = r->dry ? hsm_bk_unwrap_check(r->s, r->wk, it)
			   : hsm_bk_unwrap_keypair(r->s, r->wk, it);
	if (rc != CF_OK) {
		DIAG(r->d, rc == CF_E_EXISTS ? "key pair \"%s\" exists on this HSM already"
						: "key pair \"%s\": the HSM could not unwrap it (%s)",
		     k->label, cf_err_name(rc));
		return rc;
	}
	r->keypairs++;
	return CF_OK;
}

static cf_err rs_file(void *arg, const struct bk_file *f)
{
	struct rs *r = arg;
	const char *path = strcmp(f->name, FILE_CERT) == 0 ? r->cfg->tls.cert
			   : strcmp(f->name, FILE_CA) == 0 ? r->cfg->tls.ca : NULL;
	if (path == NULL || path[0] == '\0')
		return CF_OK;
	if (!r->dry) {
		cf_err rc = write_path(path, f->p, f->n);
		if (rc != CF_OK) {
			DIAG(r->d, "cannot write %.100s (%s)", path, cf_err_name(rc));
			return rc;
		}
	}
	r->files++;
	return CF_OK;
}

cf_err bk_restore(hsm_sess *s, struct store *st, const struct config *cfg, const struct bk_opened *o,
		  bool merge, bool dry_run, struct bk_counts *loaded, struct bk_diag *d)
{
	memset(loaded, 0, sizeof *loaded);
	uint8_t *wk = NULL;
	TRY(sec_alloc(HSM_BK_WRAP_KEY_LEN, (void **)&wk));
	struct rs *r = NULL;
	cf_err rc = sec_alloc(sizeof *r, (void **)&r);
	if (rc != CF_OK)
		goto out;
	if ((rc = bk_subkey(o->key, BK_SUB_WRAP, wk, HSM_BK_WRAP_KEY_LEN)) != CF_OK)
		goto out;
	if (!merge && !dry_run) {
		bool empty = false;
		if ((rc = store_backup_empty(st, &empty)) != CF_OK)
			goto out;
		if (!empty) {
			DIAG(d, "this appliance holds objects, clients or accounts: restore only onto "
				"a fresh appliance, or use --merge");
			rc = CF_E_STATE;
			goto out;
		}
	}
	r->s = s;
	r->cfg = cfg;
	r->wk = wk;
	r->dry = dry_run;
	r->probe = dry_run && merge;
	r->d = d;
	/* KEKs first (a merge keeps the KEKs this appliance has: same version = refused) */
	struct bk_body_cb cb = { .kek = rs_kek, .keypair = merge ? NULL : rs_keypair,
				 .file = merge ? NULL : rs_file };
	struct bk_counts seen;
	uint32_t schema;
	if (!dry_run) {
		/* verify before changing anything: every unwrap first into session objects */
		r->dry = true;
		struct bk_body_cb pre = { .kek = rs_kek, .keypair = merge ? NULL : rs_keypair };
		if ((rc = bk_body_walk(o->body, o->body_n, &pre, r, &seen, &schema, d)) != CF_OK)
			goto out;
		r->dry = false;
		r->keks = r->keypairs = 0;
		r->kek_max = 0;
	}
	if ((rc = bk_body_walk(o->body, o->body_n, &cb, r, &seen, &schema, d)) != CF_OK)
		goto out;
	loaded->keks = r->keks;
	loaded->keypairs = r->keypairs;
	loaded->files = r->files;
	loaded->kek_max = r->kek_max;
	loaded->kek_present = r->kek_present;
	if (dry_run) {
		loaded->objects = seen.objects;
		loaded->attributes = seen.attributes;
		loaded->clients = seen.clients;
		loaded->users = seen.users;
		loaded->meta = seen.meta;
		goto out;
	}
	struct bk_counts rows;
	if ((rc = bk_tables_load(st, o->body, o->body_n, merge, &rows, d)) != CF_OK)
		goto out;
	loaded->objects = rows.objects;
	loaded->attributes = rows.attributes;
	loaded->clients = rows.clients;
	loaded->users = rows.users;
	loaded->meta = rows.meta;
out:
	if (r != NULL)
		sec_free(r, sizeof *r);
	sec_free(wk, HSM_BK_WRAP_KEY_LEN);
	return rc;
}
