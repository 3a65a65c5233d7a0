/* firmware/store: real SQLite files in a mkdtemp directory. Insert/get and tenant isolation,
 * state changes and destroy, attributes (multi-instance, indices), Locate filters and paging,
 * transactions (batch, savepoints, busy timeout), the blob erased from the files after
 * destroy, and kill -9 durability (no acknowledged insert lost). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firmware/store/store.h"
#include "firmware/store/store_clients.h"

static char tmpdir[64];
static unsigned db_counter;

static int group_setup(void **s)
{
	(void)s;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-store-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void db_path(char *out, size_t n)
{
	snprintf(out, n, "%s/t%u.db", tmpdir, ++db_counter);
}

static cf_err rng_os(void *arg, void *buf, size_t n)
{
	(void)arg;
	return getrandom(buf, n, 0) == (ssize_t)n ? CF_OK : CF_E_IO;
}

static cf_err rng_fill(void *arg, void *buf, size_t n)
{
	memset(buf, *(const int *)arg, n);
	return CF_OK;
}

static cf_err rng_fail(void *arg, void *buf, size_t n)
{
	(void)arg;
	(void)buf;
	(void)n;
	return CF_E_HSM_DEVICE;
}

static struct store *open_new(char *path, size_t n)
{
	struct store *st = NULL;
	db_path(path, n);
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	assert_non_null(st);
	return st;
}

static void obj_init(struct store_object *o, const char *uid, const char *tenant)
{
	static const uint8_t blob[40] = { 0xa6, 0x59, 0x59, 0xa6, 1, 2, 3, 4 };
	memset(o, 0, sizeof *o);
	snprintf(o->uid, sizeof o->uid, "%s", uid);
	snprintf(o->tenant, sizeof o->tenant, "%s", tenant);
	snprintf(o->owner, sizeof o->owner, "sha256:%064d", 7);
	o->object_type = 2; /* Symmetric Key */
	o->state = STORE_STATE_PRE_ACTIVE;
	o->kek_version = 1;
	o->wrapped = (uint8_t *)blob;
	o->wrapped_len = sizeof blob;
	o->crypto_alg = 3; /* AES */
	o->crypto_len = 256;
	o->usage_mask = 12;
	o->created = 1700000000;
	o->last_change = 1700000000;
}

static void t_open_file_and_pragmas(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(store_check(st), CF_OK);
	store_close(st);

	/* persistent settings, seen from an independent connection */
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), store_schema_version());
	sqlite3_finalize(q);
	sqlite3_close(db);

	/* reopen: the schema is there, nothing re-created */
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	assert_int_equal(store_check(st), CF_OK);
	store_close(st);
	store_close(NULL);
}

static size_t locate_n(struct store *st, const struct store_locate *q, const char *expect);

/* A store made by the v2 firmware kept a Digest as an attribute row; the v3 migration moves its
 * Digest Value into objects.digest (one source for every object) and adds srv_flags. */
static void t_migrate_v2_digest(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_object o, got;
	uint8_t row[56] = { 0x42, 0x00, 0x38, 0x05, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0,
			    0x42, 0x00, 0x35, 0x08, 0, 0, 0, 0x20 };
	for (size_t i = 0; i < 32; i++)
		row[24 + i] = (uint8_t)(0xa0 + i);
	struct store_attr d = { .name = "Digest", .value_type = 1, .v_blob = row, .v_blob_len = 56 };
	obj_init(&o, "m1", "t");
	assert_int_equal(store_object_insert(st, &o, &d, 1), CF_OK);
	obj_init(&o, "m2", "t"); /* no Digest row */
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	store_close(st);

	/* back to what the v2 firmware wrote */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE clients DROP COLUMN allow;" /* v5 */
				      "DROP INDEX objects_tenant_created;" /* v4 */
				      "ALTER TABLE objects DROP COLUMN srv_flags;"
				      "ALTER TABLE objects DROP COLUMN digest;"
				      "PRAGMA user_version=2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	/* v5: clients.allow, '' for the rows before, set by store_client_set_allow */
	struct store_client sc = { .fingerprint = "sha256:00", .subject = "CN=a", .issuer = "CN=b",
				   .tenant = "t", .role = "user", .created = 1 }, sg;
	assert_int_equal(store_client_put(st, &sc), CF_OK);
	assert_int_equal(store_client_get(st, "sha256:00", &sg), CF_OK);
	assert_string_equal(sg.allow, "");
	assert_int_equal(store_client_set_allow(st, "sha256:00", "10.0.0.0/8"), CF_OK);
	assert_int_equal(store_client_get(st, "sha256:00", &sg), CF_OK);
	assert_string_equal(sg.allow, "10.0.0.0/8");
	assert_int_equal(store_client_set_allow(st, "sha256:ff", ""), CF_E_NOT_FOUND);
	assert_int_equal(store_object_get(st, "t", "m1", &got), CF_OK);
	assert_true(got.has_digest);
	assert_memory_equal(got.digest, row + 24, 32);
	assert_int_equal(got.srv_flags, 0); /* not known as Fresh or generated */
	store_object_free(&got);
	assert_int_equal(store_object_get(st, "t", "m2", &got), CF_OK);
	assert_false(got.has_digest);
	store_object_free(&got);
	struct store_attr_list l = { 0 };
	const char *names[1] = { "Digest" };
	assert_int_equal(store_attr_get(st, "t", "m1", names, 1, &l), CF_OK);
	assert_int_equal(l.n, 0); /* the row is gone: the column answers */
	store_attr_list_free(&l);
	/* v3 -> v4 made the (tenant, created) index Locate by Initial Date uses */
	struct store_locate q = { .tenant = "t" };
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, o.created, o.created };
	locate_n(st, &q, "m1,m2");
	store_close(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *ix;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='index'"
					    " AND name='objects_tenant_created'", -1, &ix, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(ix), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(ix, 0), 1);
	sqlite3_finalize(ix);
	sqlite3_close(db);
}

static void t_open_refuses_unsafe_files(void **s)
{
	(void)s;
	char path[128], link[160], wal[160];
	struct store *st = open_new(path, sizeof path);
	store_close(st);
	/* a symlink to the database */
	snprintf(link, sizeof link, "%s/link.db", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(store_open(link, NULL, &st), CF_E_PERM_FILE);
	assert_null(st);
	/* a readable-by-others database */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(store_open(path, NULL, &st), CF_E_PERM_FILE);
	assert_int_equal(chmod(path, 0600), 0);
	/* a -wal symlink planted next to it */
	snprintf(wal, sizeof wal, "%s-wal", path);
	(void)unlink(wal);
	assert_int_equal(symlink("/tmp/elsewhere", wal), 0);
	assert_int_equal(store_open(path, NULL, &st), CF_E_PERM_FILE);
	assert_int_equal(unlink(wal), 0);
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	store_close(st);
	assert_int_equal(store_open("", NULL, &st), CF_E_INVALID_ARG);
	assert_int_equal(store_open("/nonexistent-dir/x.db", NULL, &st), CF_E_IO);
}

static void t_uid_v4(void **s)
{
	(void)s;
	char u[STORE_UUID_LEN + 1];
	int ff = 0xff, zero = 0;
	assert_int_equal(store_uid_new(rng_fill, &ff, u), CF_OK);
	assert_string_equal(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
	assert_int_equal(store_uid_new(rng_fill, &zero, u), CF_OK);
	assert_string_equal(u, "00000000-0000-4000-8000-000000000000");
	assert_int_equal(store_uid_new(rng_fail, NULL, u), CF_E_HSM_DEVICE);
	assert_string_equal(u, "");
	char v[STORE_UUID_LEN + 1];
	assert_int_equal(store_uid_new(rng_os, NULL, u), CF_OK);
	assert_int_equal(store_uid_new(rng_os, NULL, v), CF_OK);
	assert_int_equal(strlen(u), 36);
	assert_int_equal(u[14], '4');
	assert_true(strchr("89ab", u[19]) != NULL);
	assert_string_not_equal(u, v);
}

static void t_insert_get_tenant(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_object o, g;
	struct store_attr a[2] = {
		{ .name = "Name", .value_type = 7, .v_text = "key-one", .has_int = true, .v_int = 1 },
		{ .name = "x-Vendor", .value_type = 7, .v_text = "v" },
	};
	obj_init(&o, "uid-1", "tenant-a");
	o.activation = 1700000100;
	o.revocation_message = "none";
	assert_int_equal(store_object_insert(st, &o, a, 2), CF_OK);
	assert_int_equal(store_object_get(st, "tenant-a", "uid-1", &g), CF_OK);
	assert_string_equal(g.uid, "uid-1");
	assert_string_equal(g.tenant, "tenant-a");
	assert_string_equal(g.owner, o.owner);
	assert_int_equal(g.object_type, 2);
	assert_int_equal(g.state, STORE_STATE_PRE_ACTIVE);
	assert_int_equal(g.kek_version, 1);
	assert_int_equal(g.wrapped_len, o.wrapped_len);
	assert_memory_equal(g.wrapped, o.wrapped, o.wrapped_len);
	assert_int_equal(g.crypto_alg, 3);
	assert_int_equal(g.crypto_len, 256);
	assert_int_equal(g.usage_mask, 12);
	assert_int_equal(g.created, 1700000000);
	assert_int_equal(g.activation, 1700000100);
	assert_int_equal(g.deactivation, 0);
	assert_string_equal(g.revocation_message, "none");
	store_object_free(&g);
	assert_null(g.wrapped);

	/* another tenant's uid is "not found", as is an unknown or overlong uid */
	assert_int_equal(store_object_get(st, "tenant-b", "uid-1", &g), CF_E_NOT_FOUND);
	assert_null(g.wrapped);
	assert_int_equal(store_object_get(st, "tenant-a", "uid-2", &g), CF_E_NOT_FOUND);
	char longuid[STORE_UID_MAX + 10];
	memset(longuid, 'u', sizeof longuid - 1);
	longuid[sizeof longuid - 1] = '\0';
	assert_int_equal(store_object_get(st, "tenant-a", longuid, &g), CF_E_NOT_FOUND);
	struct store_attr_list l;
	assert_int_equal(store_attr_get(st, "tenant-b", "uid-1", NULL, 0, &l), CF_E_NOT_FOUND);
	assert_int_equal(store_attr_add(st, "tenant-b", "uid-1", &a[1], NULL), CF_E_NOT_FOUND);
	assert_int_equal(store_attr_delete(st, "tenant-b", "uid-1", "Name", STORE_ATTR_ALL),
			 CF_E_NOT_FOUND);
	assert_int_equal(store_object_destroy(st, "tenant-b", "uid-1", 1700000200), CF_E_NOT_FOUND);

	/* the same uid again: exists, and its attributes were not added (one transaction) */
	struct store_attr extra = { .name = "x-Extra", .value_type = 7, .v_text = "e" };
	assert_int_equal(store_object_insert(st, &o, &extra, 1), CF_E_EXISTS);
	assert_int_equal(store_attr_get(st, "tenant-a", "uid-1", NULL, 0, &l), CF_OK);
	assert_int_equal(l.n, 2);
	store_attr_list_free(&l);

	/* argument checks */
	struct store_object bad;
	obj_init(&bad, "uid-x", "");
	assert_int_equal(store_object_insert(st, &bad, NULL, 0), CF_E_INVALID_ARG);
	obj_init(&bad, "uid-x", "t");
	bad.state = STORE_STATE_DESTROYED;
	assert_int_equal(store_object_insert(st, &bad, NULL, 0), CF_E_INVALID_ARG);
	obj_init(&bad, "uid-x", "t");
	bad.wrapped = NULL;
	assert_int_equal(store_object_insert(st, &bad, NULL, 0), CF_E_INVALID_ARG);
	bad.wrapped_len = 0;
	assert_int_equal(store_object_insert(st, &bad, NULL, 0), CF_OK); /* no blob: opaque/none */
	store_close(st);
}

static void t_state_and_destroy(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_object o, g;
	obj_init(&o, "k1", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	o.state = STORE_STATE_ACTIVE;
	o.activation = 1700000500;
	o.last_change = 1700000500;
	assert_int_equal(store_object_update_state(st, &o), CF_OK);
	assert_int_equal(store_object_get(st, "t", "k1", &g), CF_OK);
	assert_int_equal(g.state, STORE_STATE_ACTIVE);
	assert_int_equal(g.activation, 1700000500);
	assert_non_null(g.wrapped); /* state changes never touch the blob */
	store_object_free(&g);
	/* Destroy refused while Active */
	assert_int_equal(store_object_destroy(st, "t", "k1", 1700000600), CF_E_STATE);
	/* revoke -> Deactivated, then destroy */
	o.state = STORE_STATE_DEACTIVATED;
	o.deactivation = 1700000700;
	o.revocation_reason = 5;
	o.revocation_message = "retired";
	assert_int_equal(store_object_update_state(st, &o), CF_OK);
	assert_int_equal(store_object_destroy(st, "t", "k1", 1700000800), CF_OK);
	assert_int_equal(store_object_get(st, "t", "k1", &g), CF_OK);
	assert_int_equal(g.state, STORE_STATE_DESTROYED);
	assert_int_equal(g.destroyed, 1700000800);
	assert_int_equal(g.revocation_reason, 5);
	assert_string_equal(g.revocation_message, "retired");
	assert_null(g.wrapped);
	assert_int_equal(g.wrapped_len, 0);
	store_object_free(&g);
	/* no way back from Destroyed */
	assert_int_equal(store_object_destroy(st, "t", "k1", 1700000900), CF_E_STATE);
	o.state = STORE_STATE_ACTIVE;
	assert_int_equal(store_object_update_state(st, &o), CF_E_STATE);
	o.state = STORE_STATE_DESTROYED;
	assert_int_equal(store_object_update_state(st, &o), CF_E_STATE);
	/* Destroyed -> Destroyed Compromised (Revoke for a compromise), and nothing after it */
	o.state = STORE_STATE_DESTROYED_COMPROMISED;
	o.compromise = 1700000950;
	assert_int_equal(store_object_update_state(st, &o), CF_OK);
	assert_int_equal(store_object_get(st, "t", "k1", &g), CF_OK);
	assert_int_equal(g.state, STORE_STATE_DESTROYED_COMPROMISED);
	assert_int_equal(g.compromise, 1700000950);
	assert_null(g.wrapped);
	store_object_free(&g);
	assert_int_equal(store_object_update_state(st, &o), CF_E_STATE);
	/* Compromised -> Destroyed Compromised */
	obj_init(&o, "k2", "t");
	o.state = STORE_STATE_COMPROMISED;
	o.compromise = 1700001000;
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	assert_int_equal(store_object_destroy(st, "t", "k2", 1700001100), CF_OK);
	assert_int_equal(store_object_get(st, "t", "k2", &g), CF_OK);
	assert_int_equal(g.state, STORE_STATE_DESTROYED_COMPROMISED);
	assert_int_equal(g.compromise, 1700001000);
	store_object_free(&g);
	obj_init(&o, "k3", "t");
	assert_int_equal(store_object_update_state(st, &o), CF_E_NOT_FOUND);
	store_close(st);
}

static void t_attributes(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_object o;
	struct store_attr_list l;
	struct store_str_list names;
	uint32_t idx = 99;
	obj_init(&o, "a1", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);

	/* several instances: indices 0, 1, 2 */
	const char *vals[] = { "zero", "one", "two" };
	for (uint32_t i = 0; i < 3; i++) {
		struct store_attr a = { .name = "x-Multi", .value_type = 7, .v_text = vals[i] };
		assert_int_equal(store_attr_add(st, "t", "a1", &a, &idx), CF_OK);
		assert_int_equal(idx, i);
	}
	/* typed values round trip */
	static const uint8_t bytes[] = { 0, 1, 2, 0xff };
	struct store_attr ai = { .name = "x-Int", .value_type = 2, .has_int = true, .v_int = -42 };
	struct store_attr ab = { .name = "x-Bytes", .value_type = 8, .v_blob = bytes, .v_blob_len = 4 };
	struct store_attr aempty = { .name = "x-Empty", .value_type = 7, .v_text = "" };
	assert_int_equal(store_attr_add(st, "t", "a1", &ai, &idx), CF_OK);
	assert_int_equal(idx, 0);
	assert_int_equal(store_attr_add(st, "t", "a1", &ab, NULL), CF_OK);
	assert_int_equal(store_attr_add(st, "t", "a1", &aempty, NULL), CF_OK);

	/* delete index 1: the others keep their indices, a new one gets 3 */
	assert_int_equal(store_attr_delete(st, "t", "a1", "x-Multi", 1), CF_OK);
	assert_int_equal(store_attr_delete(st, "t", "a1", "x-Multi", 1), CF_E_NOT_FOUND);
	struct store_attr a3 = { .name = "x-Multi", .value_type = 7, .v_text = "three" };
	assert_int_equal(store_attr_add(st, "t", "a1", &a3, &idx), CF_OK);
	assert_int_equal(idx, 3);
	/* modify by index */
	struct store_attr m = { .name = "x-Multi", .value_type = 7, .v_text = "TWO" };
	assert_int_equal(store_attr_modify(st, "t", "a1", "x-Multi", 2, &m), CF_OK);
	assert_int_equal(store_attr_modify(st, "t", "a1", "x-Multi", 1, &m), CF_E_NOT_FOUND);
	assert_int_equal(store_attr_modify(st, "t", "a1", "x-None", 0, &m), CF_E_NOT_FOUND);

	const char *want[] = { "x-Multi", "x-Absent" };
	assert_int_equal(store_attr_get(st, "t", "a1", want, 2, &l), CF_OK);
	assert_int_equal(l.n, 3); /* the absent name is simply not there */
	assert_string_equal(l.a[0].name, "x-Multi");
	assert_int_equal(l.a[0].index, 0);
	assert_string_equal(l.a[0].v_text, "zero");
	assert_int_equal(l.a[1].index, 2);
	assert_string_equal(l.a[1].v_text, "TWO");
	assert_int_equal(l.a[2].index, 3);
	assert_string_equal(l.a[2].v_text, "three");
	assert_false(l.a[0].has_int);
	assert_null(l.a[0].v_blob);
	store_attr_list_free(&l);
	assert_int_equal(l.n, 0);

	assert_int_equal(store_attr_get(st, "t", "a1", NULL, 0, &l), CF_OK);
	assert_int_equal(l.n, 6); /* ordered by name, index */
	assert_string_equal(l.a[0].name, "x-Bytes");
	assert_int_equal(l.a[0].value_type, 8);
	assert_int_equal(l.a[0].v_blob_len, 4);
	assert_memory_equal(l.a[0].v_blob, bytes, 4);
	assert_string_equal(l.a[1].name, "x-Empty");
	assert_string_equal(l.a[1].v_text, "");
	assert_string_equal(l.a[2].name, "x-Int");
	assert_true(l.a[2].has_int);
	assert_int_equal(l.a[2].v_int, -42);
	assert_null(l.a[2].v_text);
	store_attr_list_free(&l);

	assert_int_equal(store_attr_names(st, "t", "a1", &names), CF_OK);
	assert_int_equal(names.n, 4);
	assert_string_equal(names.s[0], "x-Bytes");
	assert_string_equal(names.s[1], "x-Empty");
	assert_string_equal(names.s[2], "x-Int");
	assert_string_equal(names.s[3], "x-Multi");
	store_str_list_free(&names);

	/* delete every instance */
	assert_int_equal(store_attr_delete(st, "t", "a1", "x-Multi", STORE_ATTR_ALL), CF_OK);
	assert_int_equal(store_attr_delete(st, "t", "a1", "x-Multi", STORE_ATTR_ALL), CF_E_NOT_FOUND);
	assert_int_equal(store_attr_names(st, "t", "a1", &names), CF_OK);
	assert_int_equal(names.n, 3);
	store_str_list_free(&names);
	/* after all instances are gone, numbering starts at 0 again */
	assert_int_equal(store_attr_add(st, "t", "a1", &a3, &idx), CF_OK);
	assert_int_equal(idx, 0);

	/* bad arguments */
	struct store_attr noname = { .name = "", .value_type = 7, .v_text = "x" };
	assert_int_equal(store_attr_add(st, "t", "a1", &noname, NULL), CF_E_INVALID_ARG);
	struct store_attr badblob = { .name = "x", .value_type = 8, .v_blob = NULL, .v_blob_len = 3 };
	assert_int_equal(store_attr_add(st, "t", "a1", &badblob, NULL), CF_E_INVALID_ARG);
	assert_int_equal(store_attr_get(st, "t", "nope", NULL, 0, &l), CF_E_NOT_FOUND);
	assert_int_equal(store_attr_names(st, "t", "nope", &names), CF_E_NOT_FOUND);
	store_close(st);
}

static void put_obj(struct store *st, const char *uid, const char *tenant, uint32_t type,
		    uint32_t state, uint32_t alg, int32_t len, const char *name, const char *group,
		    const char *custom, int64_t custom_int)
{
	struct store_object o;
	struct store_attr a[4];
	size_t n = 0;
	obj_init(&o, uid, tenant);
	o.object_type = type;
	o.state = state;
	o.crypto_alg = alg;
	o.crypto_len = len;
	if (name)
		a[n++] = (struct store_attr){ .name = "Name", .value_type = 1, .v_text = name, .has_int = true, .v_int = 1 };
	if (group)
		a[n++] = (struct store_attr){ .name = "Object Group", .value_type = 7, .v_text = group };
	if (custom)
		a[n++] = (struct store_attr){ .name = "x-Custom", .value_type = 7, .v_text = custom };
	if (custom_int)
		a[n++] = (struct store_attr){ .name = "x-Count", .value_type = 2, .has_int = true, .v_int = custom_int };
	assert_int_equal(store_object_insert(st, &o, a, n), CF_OK);
}

static size_t locate_n(struct store *st, const struct store_locate *q, const char *expect)
{
	struct store_str_list l;
	char got[512] = "";
	assert_int_equal(store_locate_run(st, q, &l), CF_OK);
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			strcat(got, ",");
		strcat(got, l.s[i]);
	}
	assert_string_equal(got, expect);
	size_t n = l.n;
	store_str_list_free(&l);
	return n;
}

static void t_locate(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	/* tenant a: u1..u6 in insertion order; tenant b mirrors some of it */
	put_obj(st, "u1", "a", 2, 1, 3, 256, "alpha", "g1", "red", 5);
	put_obj(st, "u2", "a", 2, 2, 3, 128, "beta", "g1", "blue", 0);
	put_obj(st, "u3", "a", 7, 1, 0, 0, "gamma", NULL, NULL, 5);
	put_obj(st, "u4", "a", 2, 2, 3, 256, "alpha", "g2", "red", 6);
	put_obj(st, "u5", "a", 6, 1, 0, 0, NULL, "g2", NULL, 0);
	put_obj(st, "u6", "a", 2, 1, 2, 192, "delta", NULL, "red", 0);
	put_obj(st, "b1", "b", 2, 1, 3, 256, "alpha", "g1", "red", 5);
	put_obj(st, "b2", "b", 2, 2, 3, 256, "alpha", "g2", "red", 6);

	struct store_locate q = { .tenant = "a" };
	locate_n(st, &q, "u1,u2,u3,u4,u5,u6");
	q = (struct store_locate){ .tenant = "b" };
	locate_n(st, &q, "b1,b2");
	q = (struct store_locate){ .tenant = "c" };
	locate_n(st, &q, "");
	q = (struct store_locate){ .tenant = "a", .object_type = 2 };
	locate_n(st, &q, "u1,u2,u4,u6");
	q = (struct store_locate){ .tenant = "a", .state = 2 };
	locate_n(st, &q, "u2,u4");
	q = (struct store_locate){ .tenant = "a", .crypto_alg = 3 };
	locate_n(st, &q, "u1,u2,u4");
	q = (struct store_locate){ .tenant = "a", .crypto_len = 256 };
	locate_n(st, &q, "u1,u4");
	q = (struct store_locate){ .tenant = "a", .name = "alpha" };
	locate_n(st, &q, "u1,u4");
	q = (struct store_locate){ .tenant = "a", .name = "nope" };
	locate_n(st, &q, "");
	q = (struct store_locate){ .tenant = "a", .object_group = "g2" };
	locate_n(st, &q, "u4,u5");
	struct store_match red = { .name = "x-Custom", .v_text = "red" };
	q = (struct store_locate){ .tenant = "a", .match = &red, .n_match = 1 };
	locate_n(st, &q, "u1,u4,u6");
	struct store_match five = { .name = "x-Count", .is_int = true, .v_int = 5 };
	q = (struct store_locate){ .tenant = "a", .match = &five, .n_match = 1 };
	locate_n(st, &q, "u1,u3");
	/* the text "5" is not the integer 5 */
	struct store_match five_text = { .name = "x-Count", .v_text = "5" };
	q = (struct store_locate){ .tenant = "a", .match = &five_text, .n_match = 1 };
	locate_n(st, &q, "");
	/* every filter together (AND) */
	struct store_match both[2] = { red, { .name = "x-Count", .is_int = true, .v_int = 6 } };
	q = (struct store_locate){ .tenant = "a", .object_type = 2, .state = 2, .crypto_alg = 3,
				   .crypto_len = 256, .name = "alpha", .object_group = "g2",
				   .match = both, .n_match = 2 };
	locate_n(st, &q, "u4");
	q.tenant = "b";
	locate_n(st, &q, "b2");
	/* Maximum Items and Offset */
	q = (struct store_locate){ .tenant = "a", .max_items = 2 };
	locate_n(st, &q, "u1,u2");
	q = (struct store_locate){ .tenant = "a", .max_items = 2, .offset = 2 };
	locate_n(st, &q, "u3,u4");
	q = (struct store_locate){ .tenant = "a", .max_items = 10, .offset = 5 };
	locate_n(st, &q, "u6");
	q = (struct store_locate){ .tenant = "a", .offset = 6 };
	locate_n(st, &q, "");
	q = (struct store_locate){ .tenant = "a", .object_type = 2, .max_items = 1, .offset = 1 };
	locate_n(st, &q, "u2");
	/* destroyed objects are still found by state */
	assert_int_equal(store_object_destroy(st, "a", "u3", 1700002000), CF_OK);
	q = (struct store_locate){ .tenant = "a", .state = STORE_STATE_DESTROYED };
	locate_n(st, &q, "u3");
	/* limits and arguments */
	struct store_match many[STORE_LOCATE_MAX_MATCH + 1];
	for (size_t i = 0; i < STORE_LOCATE_MAX_MATCH + 1; i++)
		many[i] = red;
	struct store_str_list l;
	q = (struct store_locate){ .tenant = "a", .match = many, .n_match = STORE_LOCATE_MAX_MATCH };
	locate_n(st, &q, "u1,u4,u6");
	q.n_match = STORE_LOCATE_MAX_MATCH + 1;
	assert_int_equal(store_locate_run(st, &q, &l), CF_E_TOO_MANY);
	q = (struct store_locate){ .tenant = NULL };
	assert_int_equal(store_locate_run(st, &q, &l), CF_E_INVALID_ARG);
	struct store_match nul = { .name = "x-Custom", .v_text = NULL };
	q = (struct store_locate){ .tenant = "a", .match = &nul, .n_match = 1 };
	assert_int_equal(store_locate_run(st, &q, &l), CF_E_INVALID_ARG);
	store_close(st);
}

/* Which index drives Locate: the SQL store_locate_run prepares is captured with a
 * trace installed on every connection this process opens (sqlite3_auto_extension), then
 * EXPLAIN QUERY PLAN runs on it through a second, read-only connection. No timing. */
static char plan_sql[2048];

static int plan_trace(unsigned type, void *ctx, void *p, void *x)
{
	(void)ctx;
	(void)x;
	const char *sql = type == SQLITE_TRACE_STMT ? sqlite3_sql((sqlite3_stmt *)p) : NULL;
	if (sql != NULL && strncmp(sql, "SELECT o.uid FROM objects o", 27) == 0)
		snprintf(plan_sql, sizeof plan_sql, "%s", sql);
	return 0;
}

static int plan_hook(sqlite3 *db, char **err, const struct sqlite3_api_routines *api)
{
	(void)err;
	(void)api;
	return sqlite3_trace_v2(db, SQLITE_TRACE_STMT, plan_trace, NULL);
}

/* Run q, then the plan of the SQL it ran: "detail|detail|..." in out. */
static void locate_plan(struct store *st, const char *path, const struct store_locate *q,
			const char *expect, char *out, size_t n)
{
	char eqp[2200];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	plan_sql[0] = '\0';
	locate_n(st, q, expect);
	assert_true(plan_sql[0] != '\0');
	assert_true(snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", plan_sql) < (int)sizeof eqp);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &s, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(s) == SQLITE_ROW) {
		size_t len = strlen(out);
		snprintf(out + len, n - len, "%s|", (const char *)sqlite3_column_text(s, 3));
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void t_locate_plan(void **s)
{
	(void)s;
	char path[128], plan[1024];
	assert_int_equal(sqlite3_auto_extension((void (*)(void))plan_hook), SQLITE_OK);
	struct store *st = open_new(path, sizeof path);
	put_obj(st, "u1", "a", 2, 1, 3, 256, "alpha", "g1", "red", 5);
	put_obj(st, "u2", "a", 2, 2, 3, 128, "beta", "g1", "blue", 0);
	put_obj(st, "u3", "a", 7, 1, 0, 0, "gamma", NULL, NULL, 5);
	put_obj(st, "b1", "b", 2, 1, 3, 256, "alpha", "g1", "red", 5);

	/* an x- text attribute: driven by attributes_text, then the objects primary key; the
	 * tenant is still a term of the query (checked on every row), not an index */
	struct store_match red = { .name = "x-Custom", .v_text = "red" };
	struct store_locate q = { .tenant = "a", .match = &red, .n_match = 1 };
	locate_plan(st, path, &q, "u1", plan, sizeof plan);
	assert_non_null(strstr(plan_sql, "+o.tenant=?"));
	assert_non_null(strstr(plan, "attributes_text (name=? AND v_text=?)"));
	assert_non_null(strstr(plan, "SEARCH o USING INDEX sqlite_autoindex_objects_1 (uid=?)"));
	assert_null(strstr(plan, "objects_tenant"));
	q.tenant = "b";
	locate_plan(st, path, &q, "b1", plan, sizeof plan);
	assert_null(strstr(plan, "objects_tenant"));
	q.tenant = "c";
	locate_plan(st, path, &q, "", plan, sizeof plan);
	/* an integer attribute, Name, Object Group, with object filters too */
	struct store_match five = { .name = "x-Count", .is_int = true, .v_int = 5 };
	q = (struct store_locate){ .tenant = "a", .object_type = 2, .state = 1, .match = &five,
				   .n_match = 1 };
	locate_plan(st, path, &q, "u1", plan, sizeof plan);
	assert_non_null(strstr(plan, "attributes_int (name=? AND v_int=?)"));
	assert_null(strstr(plan, "objects_tenant"));
	q = (struct store_locate){ .tenant = "a", .name = "gamma" };
	locate_plan(st, path, &q, "u3", plan, sizeof plan);
	assert_non_null(strstr(plan, "attributes_text (name=? AND v_text=?)"));
	assert_null(strstr(plan, "objects_tenant"));
	q = (struct store_locate){ .tenant = "a", .object_group = "g1", .crypto_len = 128 };
	locate_plan(st, path, &q, "u2", plan, sizeof plan);
	assert_null(strstr(plan, "objects_tenant"));
	/* no attribute filter: the tenant index is the best one */
	q = (struct store_locate){ .tenant = "a", .object_type = 2 };
	locate_plan(st, path, &q, "u1,u2", plan, sizeof plan);
	assert_null(strstr(plan_sql, "+o.tenant"));
	assert_non_null(strstr(plan, "objects_tenant (tenant=? AND object_type=?)"));
	store_close(st);
	assert_int_equal(sqlite3_cancel_auto_extension((void (*)(void))plan_hook), 1);
}

/* A dated object: Initial Date created, Activation Date act (0 = none). */
static void put_dated(struct store *st, const char *uid, const char *tenant, int64_t created,
		      int64_t act)
{
	struct store_object o;
	obj_init(&o, uid, tenant);
	o.created = created;
	o.activation = act;
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
}

/* Date filters (KMIP 1.4 section 4.9): one value = that date, a range inclusive at both ends;
 * an object without the date never matches; the tenant always applies; an Initial Date
 * filter is driven by objects_tenant_created, never a scan across tenants. */
static void t_locate_dates(void **s)
{
	(void)s;
	char path[128], plan[1024];
	assert_int_equal(sqlite3_auto_extension((void (*)(void))plan_hook), SQLITE_OK);
	struct store *st = open_new(path, sizeof path);
	put_dated(st, "d1", "a", 1000, 0);
	put_dated(st, "d2", "a", 2000, 2500);
	put_dated(st, "d3", "a", 3000, 3500);
	put_dated(st, "e2", "b", 2000, 2500);
	struct store_locate q = { .tenant = "a" };
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 2000, 2000 };
	locate_plan(st, path, &q, "d2", plan, sizeof plan);
	assert_non_null(strstr(plan, "objects_tenant_created (tenant=? AND created>? AND created<?)"));
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 1000, 2000 };
	locate_n(st, &q, "d1,d2");
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 1001, 2999 };
	locate_n(st, &q, "d2");
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 4000, 5000 };
	locate_n(st, &q, "");
	q.tenant = "b";
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 0, 9999 };
	locate_n(st, &q, "e2");
	/* another column: Activation Date; d1 has none, not even in a range from 0 */
	q = (struct store_locate){ .tenant = "a" };
	q.date[STORE_DATE_ACTIVATION] = (struct store_date_range){ true, 0, 3500 };
	locate_plan(st, path, &q, "d2,d3", plan, sizeof plan);
	assert_non_null(strstr(plan, "USING INDEX objects_tenant"));
	q.date[STORE_DATE_ACTIVATION] = (struct store_date_range){ true, 3500, 3500 };
	locate_n(st, &q, "d3");
	/* two dates together, and with other filters */
	q.date[STORE_DATE_INITIAL] = (struct store_date_range){ true, 0, 2000 };
	locate_n(st, &q, "");
	q.date[STORE_DATE_ACTIVATION] = (struct store_date_range){ true, 2500, 3500 };
	q.object_type = 2;
	locate_n(st, &q, "d2");
	/* an inverted range is the caller's error */
	struct store_str_list l;
	q.date[STORE_DATE_LAST_CHANGE] = (struct store_date_range){ true, 2, 1 };
	assert_int_equal(store_locate_run(st, &q, &l), CF_E_INVALID_ARG);
	store_close(st);
	assert_int_equal(sqlite3_cancel_auto_extension((void (*)(void))plan_hook), 1);
}

/* KMIP Archive / Recover: STORE_SF_ARCHIVED set and cleared in the tenant's row only (another
 * tenant's object is CF_E_NOT_FOUND); Locate finds archived objects only when `storage` asks
 * for archival storage, on-line ones unless it asks for archival alone; other flags stay. */
static void t_archive(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_object got;
	put_dated(st, "r1", "a", 1000, 0);
	put_dated(st, "r2", "a", 2000, 0);
	put_dated(st, "r3", "b", 3000, 0);
	assert_int_equal(store_object_archive(st, "a", "r1", true), CF_OK);
	assert_int_equal(store_object_archive(st, "a", "r1", true), CF_OK); /* no-op */
	assert_int_equal(store_object_archive(st, "a", "r3", true), CF_E_NOT_FOUND);
	assert_int_equal(store_object_archive(st, "a", "nope", true), CF_E_NOT_FOUND);
	assert_int_equal(store_object_archive(st, "a", NULL, true), CF_E_INVALID_ARG);
	assert_int_equal(store_object_get(st, "a", "r1", &got), CF_OK);
	assert_int_equal(got.srv_flags, STORE_SF_FRESH | STORE_SF_ARCHIVED);
	store_object_free(&got);
	assert_int_equal(store_object_get(st, "b", "r3", &got), CF_OK);
	assert_int_equal(got.srv_flags & STORE_SF_ARCHIVED, 0);
	store_object_free(&got);
	struct store_locate q = { .tenant = "a" };
	locate_n(st, &q, "r2");
	q.storage = STORE_STORAGE_ONLINE;
	locate_n(st, &q, "r2");
	q.storage = STORE_STORAGE_ARCHIVAL;
	locate_n(st, &q, "r1");
	q.storage = STORE_STORAGE_ONLINE | STORE_STORAGE_ARCHIVAL;
	locate_n(st, &q, "r1,r2");
	q.uid = "r1";
	locate_n(st, &q, "r1");
	q = (struct store_locate){ .tenant = "a", .uid = "r1" };
	locate_n(st, &q, "");
	assert_int_equal(store_object_archive(st, "a", "r1", false), CF_OK);
	assert_int_equal(store_object_get(st, "a", "r1", &got), CF_OK);
	assert_int_equal(got.srv_flags, STORE_SF_FRESH);
	store_object_free(&got);
	q = (struct store_locate){ .tenant = "a" };
	locate_n(st, &q, "r1,r2");
	store_close(st);
}

static void t_transactions(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store *st2 = NULL;
	struct store_opts fast = { .busy_timeout_ms = 100 };
	assert_int_equal(store_open(path, &fast, &st2), CF_OK);
	struct store_object o, g;

	/* a batch commits once; before that another connection sees nothing */
	assert_int_equal(store_tx_begin(st), CF_OK);
	assert_int_equal(store_tx_depth(st), 1);
	obj_init(&o, "b1", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	assert_int_equal(store_tx_depth(st), 1);
	/* a nested failing item rolls back alone */
	assert_int_equal(store_tx_begin(st), CF_OK);
	obj_init(&o, "b2", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	store_tx_rollback(st);
	assert_int_equal(store_tx_depth(st), 1);
	/* an item that fails inside the batch does not poison it */
	obj_init(&o, "b1", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_E_EXISTS);
	obj_init(&o, "b3", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	assert_int_equal(store_object_get(st2, "t", "b1", &g), CF_E_NOT_FOUND);
	/* the writer holds the lock: the other connection waits its busy timeout, then gives up */
	obj_init(&o, "c1", "t");
	assert_int_equal(store_object_insert(st2, &o, NULL, 0), CF_E_AGAIN);
	assert_int_equal(store_tx_commit(st), CF_OK);
	assert_int_equal(store_tx_depth(st), 0);
	assert_int_equal(store_object_get(st2, "t", "b1", &g), CF_OK);
	store_object_free(&g);
	assert_int_equal(store_object_get(st2, "t", "b2", &g), CF_E_NOT_FOUND);
	assert_int_equal(store_object_get(st2, "t", "b3", &g), CF_OK);
	store_object_free(&g);
	assert_int_equal(store_object_insert(st2, &o, NULL, 0), CF_OK);

	/* a rolled-back batch leaves nothing */
	assert_int_equal(store_tx_begin(st), CF_OK);
	obj_init(&o, "r1", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	store_tx_rollback(st);
	assert_int_equal(store_object_get(st, "t", "r1", &g), CF_E_NOT_FOUND);
	assert_int_equal(store_tx_commit(st), CF_E_INVALID_ARG);
	store_tx_rollback(st); /* no transaction: no-op */
	store_tx_rollback(NULL);
	/* reads inside a transaction work (they join it) */
	assert_int_equal(store_tx_begin(st), CF_OK);
	struct store_attr_list l;
	assert_int_equal(store_attr_get(st, "t", "b1", NULL, 0, &l), CF_OK);
	store_attr_list_free(&l);
	assert_int_equal(store_tx_commit(st), CF_OK);
	store_close(st2);
	/* closing with an open transaction rolls it back */
	assert_int_equal(store_tx_begin(st), CF_OK);
	obj_init(&o, "r2", "t");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	store_close(st);
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	assert_int_equal(store_object_get(st, "t", "r2", &g), CF_E_NOT_FOUND);
	store_close(st);
}

static void t_clients_meta(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	struct store_client c, g;
	memset(&c, 0, sizeof c);
	snprintf(c.fingerprint, sizeof c.fingerprint, "sha256:%064x", 1);
	snprintf(c.subject, sizeof c.subject, "CN=vcenter,O=Lab");
	snprintf(c.issuer, sizeof c.issuer, "CN=Coffre CA");
	snprintf(c.tenant, sizeof c.tenant, "vsphere");
	snprintf(c.role, sizeof c.role, "user");
	c.created = 1700000000;
	assert_int_equal(store_client_put(st, &c), CF_OK);
	assert_int_equal(store_client_get(st, c.fingerprint, &g), CF_OK);
	assert_string_equal(g.subject, c.subject);
	assert_string_equal(g.tenant, "vsphere");
	/* a rotated certificate with the same subject and issuer keeps the mapping */
	assert_int_equal(store_client_find(st, "CN=vcenter,O=Lab", "CN=Coffre CA", &g), CF_OK);
	assert_string_equal(g.fingerprint, c.fingerprint);
	assert_int_equal(store_client_find(st, "CN=other", "CN=Coffre CA", &g), CF_E_NOT_FOUND);
	snprintf(c.role, sizeof c.role, "readonly");
	assert_int_equal(store_client_put(st, &c), CF_OK);
	assert_int_equal(store_client_get(st, c.fingerprint, &g), CF_OK);
	assert_string_equal(g.role, "readonly");
	assert_int_equal(store_client_delete(st, c.fingerprint), CF_OK);
	assert_int_equal(store_client_delete(st, c.fingerprint), CF_E_NOT_FOUND);
	assert_int_equal(store_client_get(st, c.fingerprint, &g), CF_E_NOT_FOUND);

	char v[8];
	assert_int_equal(store_meta_get(st, "appliance_id", v, sizeof v), CF_E_NOT_FOUND);
	assert_int_equal(store_meta_set(st, "appliance_id", "abc"), CF_OK);
	assert_int_equal(store_meta_get(st, "appliance_id", v, sizeof v), CF_OK);
	assert_string_equal(v, "abc");
	assert_int_equal(store_meta_set(st, "appliance_id", "abcdefgh"), CF_OK);
	assert_int_equal(store_meta_get(st, "appliance_id", v, sizeof v), CF_E_NO_SPACE);
	assert_int_equal(store_meta_set(st, "state", "READY"), CF_OK);
	assert_int_equal(store_meta_get(st, "state", v, sizeof v), CF_OK);
	assert_string_equal(v, "READY");
	store_close(st);
}

/* Count occurrences of marker in a file (0 when the file does not exist). */
static size_t file_hits(const char *path, const uint8_t *marker, size_t mlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	size_t cap = 1 << 20, n = 0, hits = 0;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	for (size_t i = 0; n >= mlen && i <= n - mlen; i++)
		if (memcmp(buf + i, marker, mlen) == 0)
			hits++;
	free(buf);
	return hits;
}

static size_t all_hits(const char *path, const uint8_t *marker, size_t mlen)
{
	char p[192];
	size_t h = file_hits(path, marker, mlen);
	snprintf(p, sizeof p, "%s-wal", path);
	h += file_hits(p, marker, mlen);
	snprintf(p, sizeof p, "%s-shm", path);
	h += file_hits(p, marker, mlen);
	return h;
}

static void t_destroy_erases_blob(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	/* a small blob (inline in its page, like a KWP-wrapped AES-256 key) and a large one
	 * (overflow pages); the marker is what we search for in the files */
	static const uint8_t marker[16] = "COFFRE*MARKER*01";
	uint8_t small[48], *large = malloc(9000);
	assert_non_null(large);
	for (size_t i = 0; i < sizeof small; i += 16)
		memcpy(small + i, marker, 16);
	for (size_t i = 0; i + 16 <= 9000; i += 16)
		memcpy(large + i, marker, 16);
	struct store_object o;
	obj_init(&o, "small", "t");
	o.wrapped = small;
	o.wrapped_len = sizeof small;
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	obj_init(&o, "large", "t");
	o.wrapped = large;
	o.wrapped_len = 9000;
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	obj_init(&o, "other", "t"); /* a neighbour that stays */
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	/* the scanner sees the blobs before (in the WAL, then in the db after a checkpoint) */
	assert_true(all_hits(path, marker, sizeof marker) >= 3 + 500);
	assert_int_equal(store_checkpoint(st), CF_OK);
	assert_true(file_hits(path, marker, sizeof marker) >= 3 + 500);

	assert_int_equal(store_object_destroy(st, "t", "small", 1700003000), CF_OK);
	assert_int_equal(store_object_destroy(st, "t", "large", 1700003000), CF_OK);
	assert_int_equal(store_checkpoint(st), CF_OK);
	assert_int_equal(all_hits(path, marker, sizeof marker), 0);
	/* the neighbour is intact */
	struct store_object g;
	assert_int_equal(store_object_get(st, "t", "other", &g), CF_OK);
	assert_int_equal(g.wrapped_len, 40);
	store_object_free(&g);
	assert_int_equal(store_check(st), CF_OK);
	store_close(st);
	assert_int_equal(all_hits(path, marker, sizeof marker), 0);
	free(large);
}

/* The KMIP workers' connections (group commit) keep the WAL file's size when it is reset, so
 * frames of an earlier WAL cycle stay in its tail: a destroyed blob must still be gone once the
 * destroy's TRUNCATE checkpoint has run. */
static void fill(struct store *st, uint8_t *filler, int from, int to)
{
	struct store_object o;
	char uid[32];

	for (int i = from; i < to; i++) {
		snprintf(uid, sizeof uid, "fill-%d", i);
		filler[0] = (uint8_t)i;
		obj_init(&o, uid, "t");
		o.wrapped = filler;
		o.wrapped_len = 9000;
		assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	}
}

static void t_destroy_erases_blob_group(void **s)
{
	(void)s;
	char path[128], wal[160];
	struct store *st = NULL;
	struct store_opts opts = { .group_commit = true };
	static const uint8_t marker[16] = "COFFRE*MARKER*02";
	uint8_t *blob = malloc(9000), *filler = calloc(1, 9000);
	struct store_object o;
	struct stat sb;
	sqlite3 *db = NULL;

	assert_non_null(blob);
	assert_non_null(filler);
	for (size_t i = 0; i + 16 <= 9000; i += 16)
		memcpy(blob + i, marker, 16);
	db_path(path, sizeof path);
	snprintf(wal, sizeof wal, "%s-wal", path);
	assert_int_equal(store_open(path, &opts, &st), CF_OK);
	/* a few hundred frames of filler (no automatic checkpoint yet), then the blob */
	fill(st, filler, 0, 60);
	obj_init(&o, "blob", "t");
	o.wrapped = blob;
	o.wrapped_len = 9000;
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	/* another connection checkpoints the whole WAL; the next write resets it: it starts again
	 * at the first frame and, on this connection, keeps the file and the blob's frames */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	fill(st, filler, 60, 62);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 256 * 1024);                    /* not truncated at the reset */
	assert_true(file_hits(wal, marker, sizeof marker) > 0);  /* the blob's old frames */
	assert_int_equal(store_object_destroy(st, "t", "blob", 1700003000), CF_OK);
	assert_int_equal(store_checkpoint(st), CF_OK);
	assert_int_equal(all_hits(path, marker, sizeof marker), 0);
	assert_int_equal(store_check(st), CF_OK);
	store_close(st);
	assert_int_equal(all_hits(path, marker, sizeof marker), 0);
	free(blob);
	free(filler);
}

/* A child inserts and reports each acknowledged uid on a pipe until it is killed. */
static void child_insert_loop(const char *path, int wfd)
{
	struct store *st = NULL;
	if (store_open(path, NULL, &st) != CF_OK)
		_exit(3);
	for (unsigned i = 0;; i++) {
		struct store_object o;
		char uid[STORE_UUID_LEN + 1], line[64];
		if (store_uid_new(rng_os, NULL, uid) != CF_OK)
			_exit(4);
		obj_init(&o, uid, "dur");
		struct store_attr a = { .name = "x-Seq", .value_type = 2, .has_int = true, .v_int = i };
		if (store_object_insert(st, &o, &a, 1) != CF_OK)
			_exit(5);
		/* acknowledged only now */
		int n = snprintf(line, sizeof line, "%s\n", uid);
		if (write(wfd, line, (size_t)n) != n)
			_exit(6);
	}
}

/* While a worker's write transaction is open, another process is refused the write lock,
 * also after a second connection was opened in this process (store_open must never open and
 * close the database file itself: closing any descriptor of it releases every POSIX lock of
 * the process on it, SQLite's "how to corrupt" 2.2). */
static int child_begin_immediate(const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		sqlite3 *db = NULL;
		int r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
		if (r == SQLITE_OK) {
			sqlite3_busy_timeout(db, 0);
			r = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		}
		sqlite3_close(db);
		_exit(r == SQLITE_OK ? 0 : (r == SQLITE_BUSY ? 3 : 1));
	}
	int status = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void t_second_open_keeps_locks(void **s)
{
	(void)s;
	char path[128];
	struct store *a = open_new(path, sizeof path);
	struct store_object o, g;
	obj_init(&o, "uid-lock-1", "t");
	assert_int_equal(store_object_insert(a, &o, NULL, 0), CF_OK);
	assert_int_equal(store_tx_begin(a), CF_OK); /* a worker's write transaction */
	assert_int_equal(child_begin_immediate(path), 3); /* another process must see it busy */
	struct store *b = NULL;
	assert_int_equal(store_open(path, NULL, &b), CF_OK); /* a second worker's connection */
	assert_int_equal(child_begin_immediate(path), 3); /* ... and still busy after that */
	obj_init(&o, "uid-lock-2", "t");
	assert_int_equal(store_object_insert(a, &o, NULL, 0), CF_OK);
	assert_int_equal(store_tx_commit(a), CF_OK);
	store_close(a);
	store_close(b);
	struct store *c = NULL;
	assert_int_equal(store_open(path, NULL, &c), CF_OK);
	assert_int_equal(store_object_get(c, "t", "uid-lock-2", &g), CF_OK);
	store_object_free(&g);
	store_close(c);
}

static void t_durability_sigkill(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path);
	store_close(st);
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	print_message("durability seed %u\n", seed);
	size_t total = 0;
	char *acked = NULL;
	size_t acked_len = 0;
	for (int it = 0; it < 20; it++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_insert_loop(path, pfd[1]);
		}
		close(pfd[1]);
		struct timespec ts = { 0, (long)(5 + rand_r(&seed) % 60) * 1000000L };
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status)); /* killed, not failed */
		/* everything the child acknowledged is in the pipe */
		char buf[4096];
		ssize_t r;
		while ((r = read(pfd[0], buf, sizeof buf)) > 0) {
			acked = realloc(acked, acked_len + (size_t)r + 1);
			assert_non_null(acked);
			memcpy(acked + acked_len, buf, (size_t)r);
			acked_len += (size_t)r;
		}
		close(pfd[0]);
		if (acked)
			acked[acked_len] = '\0';
		/* reopen: integrity, and every acknowledged uid is there */
		assert_int_equal(store_open(path, NULL, &st), CF_OK);
		assert_int_equal(store_check(st), CF_OK);
		size_t n = 0;
		for (char *line = acked, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = '\0';
			struct store_object g;
			cf_err rc = store_object_get(st, "dur", line, &g);
			if (rc != CF_OK)
				fail_msg("acknowledged uid %s lost after kill %d (%s)", line, it,
					 cf_err_name(rc));
			store_object_free(&g);
			*nl = '\n';
			n++;
		}
		store_close(st);
		total = n;
	}
	print_message("durability: %zu acknowledged inserts over 20 kills, none lost\n", total);
	assert_true(total > 0);
	free(acked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_open_file_and_pragmas),
		cmocka_unit_test(t_open_refuses_unsafe_files),
		cmocka_unit_test(t_migrate_v2_digest),
		cmocka_unit_test(t_uid_v4),
		cmocka_unit_test(t_insert_get_tenant),
		cmocka_unit_test(t_state_and_destroy),
		cmocka_unit_test(t_attributes),
		cmocka_unit_test(t_locate),
		cmocka_unit_test(t_locate_plan),
		cmocka_unit_test(t_locate_dates),
		cmocka_unit_test(t_archive),
		cmocka_unit_test(t_transactions),
		cmocka_unit_test(t_clients_meta),
		cmocka_unit_test(t_destroy_erases_blob),
		cmocka_unit_test(t_destroy_erases_blob_group),
		cmocka_unit_test(t_second_open_keeps_locks),
		cmocka_unit_test(t_durability_sigkill),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
