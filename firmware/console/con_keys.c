/* The console's key commands (firmware/console/con.h; docs/console/keys.md):
 *   kek list | rotate | destroy VERSION
 *   keys list [--state S] [--attr NAME=VALUE] [--tenant T] [--limit N] [--offset N]
 *   keys show UID | revoke UID [--reason R] [--message TEXT] | destroy UID
 *   audit tail [N] | verify | remote
 *
 * Nothing here prints key material or a wrapped blob: `keys show` reads the object without
 * its blob (store_admin_object_get). Text that came from KMIP clients (names, attribute
 * values, revocation messages, audit fields) is printed with control characters replaced,
 * so a client cannot send escape sequences to the operator's terminal. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "board/log.h"
#include "firmware/store/audit.h"
#include "firmware/console/con.h"
#include "firmware/svc/auditfwd.h"
#include "firmware/svc/kekjob.h"
#include "firmware/svc/svc.h"
#include "firmware/store/store_admin.h"
#include "hsm/hsm.h"
#include "kmip/kmip_tags.h"

#define KEYS_LIST_DEFAULT 100u
#define KEYS_LIST_MAX 1000u
#define AUDIT_TAIL_DEFAULT 20u
#define AUDIT_TAIL_MAX 1000u
#define KEK_SESSION_WAIT_MS 2000u

/* ---- small helpers --------------------------------------------------------------------- */

/* Copy s for display: printable ASCII kept, anything else as '?', cut at cap - 1 (with "..."
 * when cut). */
static const char *safe(const char *s, char *buf, size_t cap)
{
	size_t i = 0, j = 0;
	if (s == NULL)
		s = "";
	for (; s[i] != '\0' && j + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	buf[j] = '\0';
	if (s[i] != '\0' && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
	return buf;
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, cap, "-");
		return;
	}
	strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *v)
{
	char *end;
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return false;
	*v = (uint32_t)x;
	return true;
}

static const char *state_name(uint32_t s)
{
	switch (s) {
	case STORE_STATE_PRE_ACTIVE: return "Pre-Active";
	case STORE_STATE_ACTIVE: return "Active";
	case STORE_STATE_DEACTIVATED: return "Deactivated";
	case STORE_STATE_COMPROMISED: return "Compromised";
	case STORE_STATE_DESTROYED: return "Destroyed";
	case STORE_STATE_DESTROYED_COMPROMISED: return "Destroyed-Compromised";
	default: return "?";
	}
}

static bool state_parse(const char *s, uint32_t *out)
{
	static const char *const alt[7] = { NULL, "preactive", "active", "deactivated", "compromised",
					    "destroyed", "destroyedcompromised" };
	char norm[32];
	size_t j = 0;
	uint32_t v;
	if (parse_u32(s, 1, 6, &v)) {
		*out = v;
		return true;
	}
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '-' || s[i] == '_' || s[i] == ' ')
			continue;
		if (j + 1 >= sizeof norm)
			return false;
		norm[j++] = (char)(s[i] | 0x20);
	}
	norm[j] = '\0';
	for (uint32_t i = 1; i <= 6; i++)
		if (strcmp(norm, alt[i]) == 0) {
			*out = i;
			return true;
		}
	return false;
}

static const char *type_name(uint32_t t, char *buf, size_t cap)
{
	const char *n = kmip_enum_name(KMIP_TAG_OBJECT_TYPE, t);
	if (n != NULL)
		return n;
	snprintf(buf, cap, "type 0x%" PRIx32, t);
	return buf;
}

static const char *alg_text(uint32_t alg, int32_t len, char *buf, size_t cap)
{
	const char *n = alg != 0 ? kmip_enum_name(KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, alg) : NULL;
	char a[24];
	if (alg == 0)
		snprintf(a, sizeof a, "-");
	else if (n != NULL)
		snprintf(a, sizeof a, "%s", n);
	else
		snprintf(a, sizeof a, "0x%" PRIx32, alg);
	if (len > 0)
		snprintf(buf, cap, "%s-%" PRId32, a, len);
	else
		snprintf(buf, cap, "%s", a);
	return buf;
}

static const char *actor_of(const struct con *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "console:%s", c->user[0] != '\0' ? c->user : "?");
	return buf;
}

/* An audit record for a console change, in the caller's transaction when one is open. */
static cf_err audit_console(struct con *c, struct store *st, const char *op, const char *uid,
			    cf_err result, const char *detail)
{
	char actor[CON_USER_MAX + 16];
	struct audit_record a = {
		.time = con_now(c),
		.actor = actor_of(c, actor, sizeof actor),
		.source = "console",
		.operation = op,
		.uid = uid,
		.result = result,
		.detail = detail,
	};
	return audit_append(st, &a, NULL);
}

static struct store *need_store(struct con *c)
{
	struct store *st = con_store(c);
	if (st == NULL)
		con_printf(c, "the store is not open (is the appliance initialised?)\n");
	return st;
}

static bool need_hsm(struct con *c)
{
	if (c->svc == NULL || c->svc->hsm == NULL) {
		con_printf(c, "the HSM is not open\n");
		return false;
	}
	return true;
}

/* ---- kek list -------------------------------------------------------------------------- */

static void print_job(struct con *c)
{
	struct kek_job_status js;
	if (c->svc->kekjob == NULL) {
		con_printf(c, "re-wrap job: not running\n");
		return;
	}
	kek_job_status(c->svc->kekjob, &js);
	if (js.running && js.remaining > 0)
		con_printf(c, "re-wrap job: %" PRIu64 " objects left under older KEKs, %" PRIu64
			   " re-wrapped since start\n", js.remaining, js.done);
	else if (js.running)
		con_printf(c, "re-wrap job: counting\n");
	else
		con_printf(c, "re-wrap job: idle (%" PRIu64 " re-wrapped since start)\n", js.done);
	if (js.failed > 0)
		con_printf(c, "re-wrap job: %" PRIu64 " objects could not be re-wrapped (see the log)\n",
			   js.failed);
	if (js.last_error != CF_OK) {
		char t[32];
		fmt_time(js.last_error_at, t, sizeof t);
		con_printf(c, "re-wrap job: last error %s at %s (retried)\n", cf_err_str(js.last_error), t);
	}
}

static cf_err cmd_kek_list(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	struct store_admin_kek_use use[HSM_KEK_MAX];
	uint32_t vers[HSM_KEK_MAX];
	size_t nv = 0, nu = 0;
	hsm_sess *s = NULL;
	cf_err rc;
	char buf[64];

	if (st == NULL || !need_hsm(c))
		return CF_E_STATE;
	if ((rc = hsm_session_acquire(c->svc->hsm, KEK_SESSION_WAIT_MS, &s)) != CF_OK) {
		con_printf(c, "HSM busy or unavailable: %s; try again\n", cf_err_str(rc));
		return rc;
	}
	rc = hsm_kek_list(s, vers, HSM_KEK_MAX, &nv);
	hsm_session_release(s);
	if (rc != CF_OK && rc != CF_E_NO_SPACE) {
		con_printf(c, "cannot list the KEKs on the token: %s\n", cf_err_str(rc));
		return rc;
	}
	if (nv > HSM_KEK_MAX)
		nv = HSM_KEK_MAX;
	rc = store_admin_kek_usage(st, use, HSM_KEK_MAX, &nu);
	if (rc != CF_OK && rc != CF_E_NO_SPACE) {
		con_printf(c, "cannot count objects per KEK: %s\n", cf_err_str(rc));
		return rc;
	}
	if (nu > HSM_KEK_MAX)
		nu = HSM_KEK_MAX;
	uint32_t cur = hsm_kek_current(c->svc->hsm);
	con_printf(c, "%-8s %-9s %s\n", "VERSION", "STATE", "OBJECTS");
	for (size_t i = 0; i < nv; i++) {
		uint64_t cnt = 0;
		for (size_t k = 0; k < nu; k++)
			if (use[k].version == vers[i])
				cnt = use[k].objects;
		con_printf(c, "%-8" PRIu32 " %-9s %" PRIu64 "\n", vers[i],
			   vers[i] == cur ? "current" : "old", cnt);
	}
	/* rows naming a KEK the token does not have: they cannot be read */
	for (size_t k = 0; k < nu; k++) {
		bool found = false;
		for (size_t i = 0; i < nv; i++)
			found = found || vers[i] == use[k].version;
		if (!found)
			con_printf(c, "%-8" PRIu32 " %-9s %" PRIu64 "  (not on the token: these objects "
				   "cannot be read)\n", use[k].version, "MISSING", use[k].objects);
	}
	if (store_meta_get(st, "kek.rotated", buf, sizeof buf) == CF_OK) {
		char t[32];
		fmt_time(strtoll(buf, NULL, 10), t, sizeof t);
		con_printf(c, "last rotation: %s\n", t);
	}
	print_job(c);
	return CF_OK;
}

/* ---- kek rotate ------------------------------------------------------------------------ */

static cf_err cmd_kek_rotate(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	hsm_sess *s = NULL;
	uint32_t old, v = 0;
	uint64_t n = 0;
	char num[32], detail[64];
	cf_err rc;

	if (st == NULL || !need_hsm(c))
		return CF_E_STATE;
	old = hsm_kek_current(c->svc->hsm);
	con_printf(c, "This creates a new KEK on the HSM, makes it current for every new key, and\n"
		      "re-wraps every object under it in the background. KEK %" PRIu32 " is kept "
		      "until `kek destroy %" PRIu32 "`.\n", old, old);
	if (!con_confirm(c, "Rotate the KEK now?")) {
		con_printf(c, "cancelled\n");
		return CF_E_CANCELLED;
	}
	if ((rc = hsm_session_acquire(c->svc->hsm, KEK_SESSION_WAIT_MS, &s)) != CF_OK) {
		con_printf(c, "HSM busy or unavailable: %s; try again\n", cf_err_str(rc));
		return rc;
	}
	rc = hsm_kek_create(s, &v);
	hsm_session_release(s);
	if (rc != CF_OK) {
		con_printf(c, "could not create a KEK on the HSM: %s; nothing changed\n", cf_err_str(rc));
		return rc;
	}
	/* the hsm is shared: from here every KMIP worker wraps new keys under v */
	if ((rc = hsm_kek_make_current(c->svc->hsm, v)) != CF_OK) {
		con_printf(c, "KEK %" PRIu32 " was created but could not be made current: %s\n", v,
			   cf_err_str(rc));
		return rc;
	}
	snprintf(num, sizeof num, "%" PRId64, con_now(c));
	if ((rc = store_meta_set(st, "kek.rotated", num)) != CF_OK)
		log_warn_r(rc, "console: kek rotate: recording the rotation time failed");
	snprintf(detail, sizeof detail, "KEK %" PRIu32 " -> %" PRIu32, old, v);
	if ((rc = audit_console(c, st, "KEK Rotate", NULL, CF_OK, detail)) != CF_OK)
		log_err_r(rc, "console: kek rotate: audit record failed");
	kek_job_kick(c->svc->kekjob);
	if (store_admin_stale_count(st, v, &n) != CF_OK)
		n = 0;
	con_printf(c, "KEK %" PRIu32 " is current.\n", v);
	if (c->svc->kekjob == NULL)
		con_printf(c, "%" PRIu64 " objects are still under older KEKs, but the re-wrap job is "
			   "not running (see the log)\n", n);
	else
		con_printf(c, "re-wrapping %" PRIu64 " objects under KEK %" PRIu32 "; `kek list` or "
			   "`status` shows progress\n", n, v);
	return CF_OK;
}

/* ---- kek destroy ----------------------------------------------------------------------- */

static cf_err cmd_kek_destroy(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	uint32_t v, vers[HSM_KEK_MAX];
	size_t nv = 0;
	uint64_t n = 0;
	hsm_sess *s = NULL;
	bool found = false;
	char detail[64], q[96];
	cf_err rc;

	if (st == NULL || !need_hsm(c))
		return CF_E_STATE;
	if (!parse_u32(argv[0], 1, UINT32_MAX, &v)) {
		con_printf(c, "usage: kek destroy VERSION (a number from `kek list`)\n");
		return CF_E_INVALID_ARG;
	}
	if (v == hsm_kek_current(c->svc->hsm)) {
		con_printf(c, "KEK %" PRIu32 " is the current KEK: `kek rotate` first, then destroy it "
			   "once nothing uses it\n", v);
		return CF_E_STATE;
	}
	if ((rc = hsm_session_acquire(c->svc->hsm, KEK_SESSION_WAIT_MS, &s)) != CF_OK) {
		con_printf(c, "HSM busy or unavailable: %s; try again\n", cf_err_str(rc));
		return rc;
	}
	rc = hsm_kek_list(s, vers, HSM_KEK_MAX, &nv);
	hsm_session_release(s);
	s = NULL;
	if (rc != CF_OK && rc != CF_E_NO_SPACE) {
		con_printf(c, "cannot list the KEKs on the token: %s\n", cf_err_str(rc));
		return rc;
	}
	for (size_t i = 0; i < nv && i < HSM_KEK_MAX; i++)
		found = found || vers[i] == v;
	if (!found) {
		con_printf(c, "there is no KEK %" PRIu32 " on the token (`kek list`)\n", v);
		return CF_E_NOT_FOUND;
	}
	if ((rc = store_admin_kek_count(st, v, &n)) != CF_OK) {
		con_printf(c, "cannot count the objects under KEK %" PRIu32 ": %s\n", v, cf_err_str(rc));
		return rc;
	}
	if (n > 0) {
		con_printf(c, "refused: KEK %" PRIu32 " still wraps %" PRIu64 " objects; wait for the "
			   "re-wrap to finish (`kek list`)\n", v, n);
		return CF_E_STATE;
	}
	snprintf(q, sizeof q, "Destroy KEK %" PRIu32 " on the HSM for good?", v);
	if (!con_confirm(c, q)) {
		con_printf(c, "cancelled\n");
		return CF_E_CANCELLED;
	}
	/* Hold the write lock while checking again and destroying: no row can start using v in
	 * between (it is not current, but a KMIP Create that wrapped just before the rotation
	 * may still be committing). */
	if ((rc = store_tx_begin(st)) != CF_OK) {
		con_printf(c, "the store is busy: %s; try again\n", cf_err_str(rc));
		return rc;
	}
	if ((rc = store_admin_kek_count(st, v, &n)) != CF_OK)
		goto fail;
	if (n > 0) {
		store_tx_rollback(st);
		con_printf(c, "refused: KEK %" PRIu32 " now wraps %" PRIu64 " objects\n", v, n);
		return CF_E_STATE;
	}
	if ((rc = hsm_session_acquire(c->svc->hsm, KEK_SESSION_WAIT_MS, &s)) != CF_OK)
		goto fail;
	rc = hsm_kek_destroy(s, v);
	hsm_session_release(s);
	if (rc != CF_OK)
		goto fail;
	snprintf(detail, sizeof detail, "KEK %" PRIu32, v);
	if ((rc = audit_console(c, st, "KEK Destroy", NULL, CF_OK, detail)) != CF_OK ||
	    (rc = store_tx_commit(st)) != CF_OK) {
		log_err_r(rc, "console: kek destroy: audit record failed (KEK %" PRIu32 " is destroyed)", v);
		store_tx_rollback(st);
	}
	con_printf(c, "KEK %" PRIu32 " destroyed\n", v);
	return CF_OK;
fail:
	store_tx_rollback(st);
	con_printf(c, "KEK %" PRIu32 " was not destroyed: %s\n", v, cf_err_str(rc));
	return rc;
}

/* ---- keys list ------------------------------------------------------------------------- */

static cf_err cmd_keys_list(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	struct store_admin_filter f = { 0 };
	struct store_admin_row *rows = NULL;
	const char *o_state, *o_attr, *o_tenant, *o_limit, *o_offset;
	char attr[CON_LINE_MAX + 1];
	bool bad = false;
	size_t n = 0;
	uint64_t total = 0;
	uint32_t limit = KEYS_LIST_DEFAULT;
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	o_state = con_opt_take(&argc, argv, "state", &bad);
	o_attr = con_opt_take(&argc, argv, "attr", &bad);
	o_tenant = con_opt_take(&argc, argv, "tenant", &bad);
	o_limit = con_opt_take(&argc, argv, "limit", &bad);
	o_offset = con_opt_take(&argc, argv, "offset", &bad);
	if (bad || argc != 0) {
		con_printf(c, "usage: keys list [--state S] [--attr NAME=VALUE] [--tenant T] "
			      "[--limit N] [--offset N]\n");
		return CF_E_INVALID_ARG;
	}
	if (o_state != NULL && !state_parse(o_state, &f.state)) {
		con_printf(c, "unknown state '%s': pre-active, active, deactivated, compromised, "
			   "destroyed, destroyed-compromised\n", safe(o_state, attr, 40));
		return CF_E_INVALID_ARG;
	}
	if (o_attr != NULL) {
		snprintf(attr, sizeof attr, "%s", o_attr);
		char *eq = strchr(attr, '=');
		if (eq == NULL || eq == attr) {
			con_printf(c, "--attr wants NAME=VALUE, e.g. --attr x-Name=backup-7\n");
			return CF_E_INVALID_ARG;
		}
		*eq = '\0';
		f.attr_name = attr;
		f.attr_value = eq + 1;
	}
	f.tenant = o_tenant;
	if (o_limit != NULL && !parse_u32(o_limit, 1, KEYS_LIST_MAX, &limit)) {
		con_printf(c, "--limit wants a number from 1 to %u\n", KEYS_LIST_MAX);
		return CF_E_INVALID_ARG;
	}
	if (o_offset != NULL && !parse_u32(o_offset, 0, UINT32_MAX, &f.offset)) {
		con_printf(c, "--offset wants a number\n");
		return CF_E_INVALID_ARG;
	}
	f.limit = limit;
	rows = calloc(limit, sizeof *rows);
	if (rows == NULL)
		return CF_E_NOMEM;
	if ((rc = store_admin_list(st, &f, rows, limit, &n, &total)) != CF_OK) {
		con_printf(c, "cannot list the objects: %s\n", cf_err_str(rc));
		free(rows);
		return rc;
	}
	if (n > 0)
		con_printf(c, "%-36s %-12s %-14s %-10s %-12s %s\n", "UID", "TENANT", "TYPE", "ALGORITHM",
			   "STATE", "NAME");
	for (size_t i = 0; i < n; i++) {
		char u[STORE_UID_MAX + 1], t[13], ty[32], al[32], nm[64];
		con_printf(c, "%-36s %-12s %-14s %-10s %-12s %s\n", safe(rows[i].uid, u, sizeof u),
			   safe(rows[i].tenant, t, sizeof t), type_name(rows[i].object_type, ty, sizeof ty),
			   alg_text(rows[i].crypto_alg, rows[i].crypto_len, al, sizeof al),
			   state_name(rows[i].state), safe(rows[i].name, nm, sizeof nm));
	}
	uint64_t shown_to = (uint64_t)f.offset + n;
	if (total == 0)
		con_printf(c, "no objects match\n");
	else if (shown_to < total)
		con_printf(c, "%zu shown, %" PRIu64 " more (of %" PRIu64 "): use --offset %" PRIu64
			   " or --limit\n", n, total - shown_to, total, shown_to);
	else
		con_printf(c, "%" PRIu64 " object%s\n", total, total == 1 ? "" : "s");
	free(rows);
	return CF_OK;
}

/* ---- keys show ------------------------------------------------------------------------- */

static void print_attr(struct con *c, const struct store_attr *a)
{
	char nm[STORE_NAME_MAX + 1], val[256], t[32];
	const struct kmip_tag_info *ti = kmip_tag_by_name(a->name, strlen(a->name));
	const char *en;

	safe(a->name, nm, sizeof nm);
	switch (a->value_type) {
	case 0x05: /* Enumeration */
		en = ti != NULL ? kmip_enum_name(ti->tag, (uint32_t)a->v_int) : NULL;
		if (en != NULL)
			snprintf(val, sizeof val, "%s", en);
		else
			snprintf(val, sizeof val, "0x%08" PRIx32, (uint32_t)a->v_int);
		break;
	case 0x06: /* Boolean */
		snprintf(val, sizeof val, "%s", a->v_int ? "true" : "false");
		break;
	case 0x09: /* Date-Time */
		fmt_time(a->v_int, t, sizeof t);
		snprintf(val, sizeof val, "%s", t);
		break;
	case 0x02: case 0x03: case 0x0A: /* Integer, Long Integer, Interval */
		if (ti != NULL && ti->tag == KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK)
			snprintf(val, sizeof val, "0x%08" PRIx32, (uint32_t)a->v_int);
		else
			snprintf(val, sizeof val, "%" PRId64, a->v_int);
		break;
	default:
		if (a->v_text != NULL) {
			char q[200];
			snprintf(val, sizeof val, "\"%s\"", safe(a->v_text, q, sizeof q));
		} else if (a->has_int) {
			snprintf(val, sizeof val, "%" PRId64, a->v_int);
		} else {
			/* byte strings and structures: not shown (attributes hold no key material,
			 * but an operator does not read TTLV either) */
			snprintf(val, sizeof val, "<%zu bytes>", a->v_blob_len);
		}
	}
	con_printf(c, "  %s[%" PRIu32 "] = %s\n", nm, a->index, val);
}

static cf_err cmd_keys_show(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	struct store_object o;
	struct store_attr_list al = { 0 };
	bool has_blob = false;
	char u[STORE_UID_MAX + 1], b1[64], b2[STORE_OWNER_MAX + 1];
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	if ((rc = store_admin_object_get(st, argv[0], &o, &has_blob)) != CF_OK) {
		if (rc == CF_E_NOT_FOUND)
			con_printf(c, "no object %s\n", safe(argv[0], u, sizeof u));
		else
			con_printf(c, "cannot read the object: %s\n", cf_err_str(rc));
		return rc;
	}
	con_printf(c, "uid:           %s\n", safe(o.uid, u, sizeof u));
	con_printf(c, "tenant:        %s\n", safe(o.tenant, b2, sizeof b2));
	con_printf(c, "owner:         %s\n", safe(o.owner, b2, sizeof b2));
	con_printf(c, "type:          %s\n", type_name(o.object_type, b1, sizeof b1));
	con_printf(c, "algorithm:     %s\n", alg_text(o.crypto_alg, o.crypto_len, b1, sizeof b1));
	con_printf(c, "usage mask:    0x%08" PRIx32 "\n", o.usage_mask);
	con_printf(c, "state:         %s\n", state_name(o.state));
	if (has_blob)
		con_printf(c, "key material:  wrapped under KEK %" PRIu32 " (never shown)\n", o.kek_version);
	else
		con_printf(c, "key material:  none (destroyed)\n");
	static const char *const dn[] = { "created:", "activation:", "deactivation:", "compromise:",
					  "compromise occurred:", "destroyed:", "last change:" };
	const int64_t dv[] = { o.created, o.activation, o.deactivation, o.compromise,
			       o.compromise_occurrence, o.destroyed, o.last_change };
	for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++)
		if (dv[i] != 0) {
			fmt_time(dv[i], b1, sizeof b1);
			con_printf(c, "%-14s %s\n", dn[i], b1);
		}
	if (o.revocation_reason != 0) {
		const char *rn = kmip_enum_name(KMIP_TAG_REVOCATION_REASON_CODE, o.revocation_reason);
		char m[200];
		con_printf(c, "revocation:    %s%s%s%s\n", rn != NULL ? rn : "?",
			   o.revocation_message != NULL ? " \"" : "",
			   o.revocation_message != NULL ? safe(o.revocation_message, m, sizeof m) : "",
			   o.revocation_message != NULL ? "\"" : "");
	}
	rc = store_attr_get(st, o.tenant, o.uid, NULL, 0, &al);
	if (rc != CF_OK) {
		con_printf(c, "cannot read the attributes: %s\n", cf_err_str(rc));
	} else {
		con_printf(c, "attributes:%s\n", al.n == 0 ? " none" : "");
		for (size_t i = 0; i < al.n; i++)
			print_attr(c, &al.a[i]);
	}
	store_attr_list_free(&al);
	store_object_free(&o);
	return rc;
}

/* ---- keys revoke / destroy ------------------------------------------------------------- */

static bool is_destroyed(uint32_t s)
{
	return s == STORE_STATE_DESTROYED || s == STORE_STATE_DESTROYED_COMPROMISED;
}

static bool reason_parse(const char *s, uint32_t *out)
{
	static const struct { const char *n; uint32_t v; } t[] = {
		{ "unspecified", KMIP_REVOCATION_REASON_CODE_UNSPECIFIED },
		{ "compromise", KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE },
		{ "key-compromise", KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE },
		{ "ca-compromise", KMIP_REVOCATION_REASON_CODE_CA_COMPROMISE },
		{ "affiliation-changed", KMIP_REVOCATION_REASON_CODE_AFFILIATION_CHANGED },
		{ "superseded", KMIP_REVOCATION_REASON_CODE_SUPERSEDED },
		{ "cessation", KMIP_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION },
		{ "cessation-of-operation", KMIP_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION },
		{ "privilege-withdrawn", KMIP_REVOCATION_REASON_CODE_PRIVILEGE_WITHDRAWN },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcasecmp(s, t[i].n) == 0) {
			*out = t[i].v;
			return true;
		}
	return false;
}

static cf_err cmd_keys_revoke(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	struct store_object o;
	const char *o_reason, *o_msg;
	bool bad = false, compromise;
	uint32_t reason;
	char u[STORE_UID_MAX + 1], detail[96];
	int64_t now = con_now(c);
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	o_reason = con_opt_take(&argc, argv, "reason", &bad);
	o_msg = con_opt_take(&argc, argv, "message", &bad);
	if (bad || argc != 1) {
		con_printf(c, "usage: keys revoke UID [--reason compromise|cessation|superseded|"
			      "affiliation-changed|privilege-withdrawn|unspecified] [--message TEXT]\n");
		return CF_E_INVALID_ARG;
	}
	if (o_reason != NULL && !reason_parse(o_reason, &reason)) {
		con_printf(c, "unknown reason; one of compromise, cessation, superseded, "
			      "affiliation-changed, privilege-withdrawn, ca-compromise, unspecified\n");
		return CF_E_INVALID_ARG;
	}
	if ((rc = store_admin_object_get(st, argv[0], &o, NULL)) != CF_OK) {
		if (rc == CF_E_NOT_FOUND)
			con_printf(c, "no object %s\n", safe(argv[0], u, sizeof u));
		else
			con_printf(c, "cannot read the object: %s\n", cf_err_str(rc));
		return rc;
	}
	safe(o.uid, u, sizeof u);
	if (o.state == STORE_STATE_DESTROYED_COMPROMISED || o.state == STORE_STATE_COMPROMISED) {
		con_printf(c, "%s is %s: it cannot be revoked\n", u, state_name(o.state));
		rc = CF_E_STATE;
		goto out;
	}
	if (o_reason == NULL) {
		/* the question that decides the state: Compromised, or Deactivated */
		reason = con_confirm(c, "Is the key compromised?")
				 ? KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE
				 : KMIP_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION;
	}
	compromise = reason == KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE ||
		     reason == KMIP_REVOCATION_REASON_CODE_CA_COMPROMISE;
	/* the KMIP state diagram (firmware/ops/ops_state.c, docs/kmip-server.md "Life cycle"):
	 * only an Active object is Deactivated; Pre-Active, Deactivated and Destroyed objects can
	 * only record a compromise */
	if (!compromise && o.state != STORE_STATE_ACTIVE) {
		con_printf(c, "%s is %s%s (only a compromise can be recorded)\n", u,
			   o.state == STORE_STATE_DEACTIVATED ? "already " : "", state_name(o.state));
		rc = CF_E_STATE;
		goto out;
	}
	if (compromise) {
		o.state = is_destroyed(o.state) ? STORE_STATE_DESTROYED_COMPROMISED
						: STORE_STATE_COMPROMISED;
		o.compromise = now;
		o.compromise_occurrence = o.created; /* KMIP 4.20: the Initial Date */
	} else {
		o.state = STORE_STATE_DEACTIVATED;
		o.deactivation = now;
	}
	o.revocation_reason = reason;
	free(o.revocation_message);
	o.revocation_message = NULL;
	if (o_msg != NULL && (o.revocation_message = strdup(o_msg)) == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	o.last_change = now;
	const char *rn = kmip_enum_name(KMIP_TAG_REVOCATION_REASON_CODE, reason);
	snprintf(detail, sizeof detail, "%s", rn != NULL ? rn : "?");
	if ((rc = store_tx_begin(st)) != CF_OK)
		goto fail;
	if ((rc = store_object_update_state(st, &o)) != CF_OK ||
	    (rc = audit_console(c, st, "Revoke", o.uid, CF_OK, detail)) != CF_OK) {
		store_tx_rollback(st);
		goto fail;
	}
	if ((rc = store_tx_commit(st)) != CF_OK)
		goto fail;
	hsm_cs_cache_invalidate(c->svc != NULL ? c->svc->hsm : NULL); /* no cached object left */
	con_printf(c, "%s revoked (%s): now %s\n", u, detail, state_name(o.state));
	goto out;
fail:
	con_printf(c, "%s was not revoked: %s\n", u, cf_err_str(rc));
	if (audit_console(c, st, "Revoke", o.uid, rc, detail) != CF_OK)
		log_err("console: keys revoke: audit record failed");
out:
	store_object_free(&o);
	return rc;
}

static cf_err cmd_keys_destroy(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	struct store_object o;
	char u[STORE_UID_MAX + 1], q[STORE_UID_MAX + 96];
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	if ((rc = store_admin_object_get(st, argv[0], &o, NULL)) != CF_OK) {
		if (rc == CF_E_NOT_FOUND)
			con_printf(c, "no object %s\n", safe(argv[0], u, sizeof u));
		else
			con_printf(c, "cannot read the object: %s\n", cf_err_str(rc));
		return rc;
	}
	safe(o.uid, u, sizeof u);
	if (o.state == STORE_STATE_ACTIVE) {
		con_printf(c, "%s is Active: revoke it first (`keys revoke %s`)\n", u, u);
		rc = CF_E_STATE;
		goto out;
	}
	if (is_destroyed(o.state)) {
		con_printf(c, "%s is already destroyed\n", u);
		rc = CF_E_STATE;
		goto out;
	}
	snprintf(q, sizeof q, "Destroy %s? Its key material is erased for good.", u);
	if (!con_confirm(c, q)) {
		con_printf(c, "cancelled\n");
		rc = CF_E_CANCELLED;
		goto out;
	}
	if ((rc = store_tx_begin(st)) != CF_OK)
		goto fail;
	if ((rc = store_object_destroy(st, o.tenant, o.uid, con_now(c))) != CF_OK ||
	    (rc = audit_console(c, st, "Destroy", o.uid, CF_OK, NULL)) != CF_OK) {
		store_tx_rollback(st);
		goto fail;
	}
	if ((rc = store_tx_commit(st)) != CF_OK)
		goto fail;
	hsm_cs_cache_invalidate(c->svc != NULL ? c->svc->hsm : NULL); /* no cached object left */
	con_printf(c, "%s destroyed\n", u);
	goto out;
fail:
	con_printf(c, "%s was not destroyed: %s\n", u, cf_err_str(rc));
	if (audit_console(c, st, "Destroy", o.uid, rc, NULL) != CF_OK)
		log_err("console: keys destroy: audit record failed");
out:
	store_object_free(&o);
	return rc;
}

/* ---- audit ----------------------------------------------------------------------------- */

static cf_err tail_row(void *arg, const struct store_audit_row *r)
{
	struct con *c = arg;
	char t[32], actor[72], src[48], op[40], uid[STORE_UID_MAX + 1], res[48];
	fmt_time(r->time, t, sizeof t);
	if (r->result == 0)
		snprintf(res, sizeof res, "ok");
	else if (r->result < 0 && r->result >= -128)
		snprintf(res, sizeof res, "%s", cf_err_name((cf_err)r->result));
	else
		snprintf(res, sizeof res, "%" PRId64, r->result);
	con_printf(c, "%-6" PRIu64 " %-20s %-24s %-21s %-20s %-36s %s\n", r->seq, t,
		   safe(r->actor, actor, 25), safe(r->source, src, 22), safe(r->operation, op, 21),
		   r->uid[0] != '\0' ? safe(r->uid, uid, sizeof uid) : "-", res);
	return CF_OK;
}

static cf_err cmd_audit_tail(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	uint32_t n = AUDIT_TAIL_DEFAULT;
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	if (argc == 1 && !parse_u32(argv[0], 1, AUDIT_TAIL_MAX, &n)) {
		con_printf(c, "usage: audit tail [N] (1 to %u, default %u)\n", AUDIT_TAIL_MAX,
			   AUDIT_TAIL_DEFAULT);
		return CF_E_INVALID_ARG;
	}
	con_printf(c, "%-6s %-20s %-24s %-21s %-20s %-36s %s\n", "SEQ", "TIME (UTC)", "ACTOR",
		   "SOURCE", "OPERATION", "UID", "RESULT");
	if ((rc = store_admin_audit_tail(st, n, tail_row, c)) != CF_OK)
		con_printf(c, "cannot read the audit log: %s\n", cf_err_str(rc));
	return rc;
}

static cf_err last_seq(void *arg, const struct store_audit_row *r)
{
	*(uint64_t *)arg = r->seq;
	return CF_OK;
}

static cf_err cmd_audit_verify(struct con *c, int argc, char **argv)
{
	struct store *st = need_store(c);
	uint64_t bad = 0, n = 0;
	cf_err rc;

	if (st == NULL)
		return CF_E_STATE;
	rc = audit_verify(st, &bad);
	if (rc == CF_OK) {
		if ((rc = store_admin_audit_tail(st, 1, last_seq, &n)) != CF_OK) {
			con_printf(c, "cannot read the audit log: %s\n", cf_err_str(rc));
			return rc;
		}
		con_printf(c, "audit chain intact: %" PRIu64 " records\n", n);
		return CF_OK;
	}
	if (bad != 0) {
		con_printf(c, "audit chain BROKEN at record %" PRIu64 "\n", bad);
		return rc;
	}
	con_printf(c, "cannot verify the audit chain: %s\n", cf_err_str(rc));
	return rc;
}

/* ---- audit remote (docs/console/keys.md, docs/security.md "Remote audit") ------------------- */

/* The console's saved setting into *sv (text holds it): true when there is one. */
static bool remote_saved(struct con *c, char *text, size_t cap, struct audit_remote_saved *sv)
{
	struct store *st = con_store(c);
	if (st == NULL || store_meta_get(st, SVC_META_AUDIT_REMOTE, text, cap) != CF_OK)
		return false;
	if (audit_remote_parse(text, sv) != CF_OK) {
		con_printf(c, "note: the setting saved at the console is unusable; coffred.conf "
			      "applies\n");
		return false;
	}
	return true;
}

static void remote_identity(struct con *c)
{
	const struct config *cfg = c->svc->cfg;
	char e[CONFIG_REMOTE_MAX + 1];
	if (cfg->audit.remote_cert[0] != '\0')
		con_printf(c, "client certificate: %s ([audit] remote_cert)\n",
			   safe(cfg->audit.remote_cert, e, sizeof e));
	else
		con_printf(c, "client certificate: the appliance's server certificate ([tls] cert; "
			      "`cert show`)\n");
}

static void remote_show_sender(struct con *c)
{
	const struct config *cfg = c->svc->cfg;
	struct audit_fwd_status s;
	char t[32], e[sizeof s.last_error];

	con_printf(c, "policy: queue_max %u records, on_queue_full %s\n", cfg->audit.queue_max,
		   cfg->audit.queue_stop ? "stop" : "continue");
	if (c->svc->auditfwd == NULL) {
		con_printf(c, "sender: not running (appliance %s)\n",
			   svc_state_name((enum svc_state)atomic_load(&c->svc->state)));
		return;
	}
	audit_fwd_status_get(c->svc->auditfwd, &s);
	fmt_time(s.since, t, sizeof t);
	con_printf(c, "sender: %s since %s\n", s.connected ? "connected" : "disconnected", t);
	if (s.last_error[0] != '\0') {
		fmt_time(s.last_error_at, t, sizeof t);
		con_printf(c, "last error: %s (%s)\n", safe(s.last_error, e, sizeof e), t);
	}
	con_printf(c, "delivered up to seq: %" PRIu64 " (written %" PRIu64 ", store head %" PRIu64
		   ")\n", s.delivered, s.written, s.head);
	con_printf(c, "queued: %" PRIu64 "%s\n", s.queued,
		   !s.full ? "" : s.stop_policy ? " FULL: KMIP requests answer Operation Failed"
						: " FULL: KMIP keeps serving");
}

/* audit remote: the destination in effect, where it comes from, the sender's state. */
static cf_err remote_show(struct con *c)
{
	const struct config *cfg = c->svc->cfg;
	struct audit_remote_saved sv;
	struct audit_ca_info ci;
	const char *why = NULL;
	char *text = malloc(AUDIT_REMOTE_SAVED_MAX);
	char e[CONFIG_REMOTE_MAX + 8], n[CONFIG_REMOTE_MAX + 1], sub[sizeof ci.subject];

	if (text == NULL)
		return CF_E_NOMEM;
	if (remote_saved(c, text, AUDIT_REMOTE_SAVED_MAX, &sv)) {
		if (sv.off) {
			con_printf(c, "remote audit: off (set at the console with `audit remote off`"
				      "%s)\n", cfg->audit.remote[0] != '\0' ? "; it overrides [audit] "
				      "remote of coffred.conf" : "");
			free(text);
			return CF_OK;
		}
		con_printf(c, "remote audit: %s (certificate name %s) set at the console\n",
			   safe(sv.remote, e, sizeof e), safe(sv.name, n, sizeof n));
		if (audit_ca_check(sv.ca_pem, strlen(sv.ca_pem), &ci, &why) == CF_OK)
			con_printf(c, "collector CA: %u certificate(s); %s sha256 %s\n", ci.n,
				   safe(ci.subject, sub, sizeof sub), ci.fp);
	} else if (cfg->audit.remote[0] == '\0') {
		con_printf(c, "remote audit: off ([audit] remote is not set; `audit remote set` "
			      "sets it)\n");
		free(text);
		return CF_OK;
	} else {
		safe(cfg->audit.remote_name[0] != '\0' ? cfg->audit.remote_name
						       : cfg->audit.remote_host, n, sizeof n);
		con_printf(c, "remote audit: %s (certificate name %s) from coffred.conf\n",
			   safe(cfg->audit.remote, e, sizeof e), n);
		con_printf(c, "collector CA: %s ([audit] remote_ca)\n",
			   safe(cfg->audit.remote_ca, n, sizeof n));
	}
	free(text);
	remote_identity(c);
	remote_show_sender(c);
	return CF_OK;
}

static void remote_restarted(struct con *c, const char *what)
{
	if (svc_audit_remote_restart(c->svc))
		con_printf(c, "%s: in force now.\n", what);
	else
		con_printf(c, "%s: saved, in force when the appliance is READY.\n", what);
}

/* The pasted CA bundle, checked and shown: *pem (malloc'd) and *ci, or a console message. */
static cf_err remote_read_ca(struct con *c, const char *dest, char **pem, struct audit_ca_info *ci)
{
	const char *why = NULL;
	char sub[sizeof ci->subject];
	size_t n = 0;
	cf_err rc;

	con_printf(c, "Paste the collector's CA certificate(s) (PEM, -----BEGIN CERTIFICATE----- "
		      "to -----END CERTIFICATE-----), then an empty line:\n");
	rc = con_read_pem_bundle(c, "", AUDIT_CA_PEM_MAX, pem, &n);
	if (rc != CF_OK) {
		if (rc != CF_E_CANCELLED && rc != CF_E_TOO_LARGE)
			con_printf(c, "no certificate read (%s); nothing changed\n", cf_err_name(rc));
		else if (rc == CF_E_TOO_LARGE)
			con_printf(c, "nothing changed\n");
		return rc;
	}
	if ((rc = audit_ca_check(*pem, n, ci, &why)) != CF_OK) {
		con_printf(c, "refused: %s; nothing changed\n", why != NULL ? why : cf_err_name(rc));
		con_audit(c, "audit:remote-set", dest, rc, why);
		free(*pem);
		*pem = NULL;
		return rc;
	}
	con_printf(c, "Collector CA: %u certificate(s)\n  subject: %s\n  SHA-256: %s\n", ci->n,
		   safe(ci->subject, sub, sizeof sub), ci->fp);
	if (ci->expired)
		con_printf(c, "warning: a certificate of the bundle is expired or not yet valid: "
			      "the collector will be refused until it is replaced\n");
	return CF_OK;
}

/* audit remote set HOST:PORT [NAME] */
static cf_err remote_set(struct con *c, int argc, char **argv)
{
	char host[CONFIG_REMOTE_MAX + 1], e[CONFIG_REMOTE_MAX + 8], n[CONFIG_REMOTE_MAX + 1];
	char q[3 * CONFIG_REMOTE_MAX + 300], detail[AUDIT_DETAIL_MAX + 1];
	struct audit_ca_info ci;
	struct store *st;
	char *pem = NULL, *val = NULL;
	uint16_t port = 0;
	cf_err rc;

	if (argc < 2 || argc > 3) {
		con_printf(c, "usage: audit remote set HOST:PORT [NAME]\n");
		return CF_E_INVALID_ARG;
	}
	if (strlen(argv[1]) > CONFIG_REMOTE_MAX + 7 || !config_hostport(argv[1], host, &port)) {
		con_printf(c, "bad address \"%s\": expected HOST:PORT or [IPv6]:PORT, port 1-65535; "
			      "nothing changed\n", safe(argv[1], e, sizeof e));
		return CF_E_INVALID_ARG;
	}
	const char *name = argc == 3 ? argv[2] : host;
	if (!audit_remote_name_ok(name)) {
		con_printf(c, "bad certificate name \"%s\"; nothing changed\n", safe(name, n, sizeof n));
		return CF_E_INVALID_ARG;
	}
	if ((st = con_store(c)) == NULL) {
		con_printf(c, "no store yet (run init first)\n");
		return CF_E_STATE;
	}
	TRY(remote_read_ca(c, argv[1], &pem, &ci));
	remote_identity(c);
	snprintf(q, sizeof q, "Send every audit record to %s (its certificate must name %s and "
		 "chain to the CA above)? A collector not sent to before receives the whole chain "
		 "from seq 1.", argv[1], name);
	if (!con_confirm(c, q)) {
		con_printf(c, "nothing changed\n");
		free(pem);
		return CF_E_CANCELLED;
	}
	rc = audit_remote_format(argv[1], name, pem, &val);
	free(pem);
	if (rc == CF_OK)
		rc = store_meta_set(st, SVC_META_AUDIT_REMOTE, val);
	free(val);
	snprintf(detail, sizeof detail, "collector %s name %s ca-sha256 %s (%u certificate(s))",
		 argv[1], name, ci.fp, ci.n);
	con_audit(c, "audit:remote-set", argv[1], rc, detail);
	if (rc != CF_OK) {
		con_printf(c, "cannot save the setting (%s); nothing changed\n", cf_err_name(rc));
		return rc;
	}
	snprintf(q, sizeof q, "remote audit to %s", argv[1]);
	remote_restarted(c, q);
	return CF_OK;
}

/* audit remote off */
static cf_err remote_off(struct con *c)
{
	struct store *st;
	cf_err rc;

	if ((st = con_store(c)) == NULL) {
		con_printf(c, "no store yet (run init first)\n");
		return CF_E_STATE;
	}
	if (!con_confirm(c, "Stop sending the audit to a collector (also one set by [audit] remote "
			    "of coffred.conf)? Records stay in the store.")) {
		con_printf(c, "nothing changed\n");
		return CF_E_CANCELLED;
	}
	rc = store_meta_set(st, SVC_META_AUDIT_REMOTE, "off");
	con_audit(c, "audit:remote-off", NULL, rc, "remote audit off (set at the console)");
	if (rc != CF_OK) {
		con_printf(c, "cannot save the setting (%s); nothing changed\n", cf_err_name(rc));
		return rc;
	}
	remote_restarted(c, "remote audit off");
	return CF_OK;
}

/* audit remote [set HOST:PORT [NAME] | off] */
static cf_err cmd_audit_remote(struct con *c, int argc, char **argv)
{
	if (argc == 0)
		return remote_show(c);
	if (strcmp(argv[0], "set") == 0)
		return remote_set(c, argc, argv);
	if (strcmp(argv[0], "off") == 0 && argc == 1)
		return remote_off(c);
	con_printf(c, "usage: audit remote [set HOST:PORT [NAME] | off]\n");
	return CF_E_INVALID_ARG;
}

/* ---- the table ------------------------------------------------------------------------- */

const struct con_cmd con_cmds_keys[] = {
	{ "kek list", 0, 0, CON_F_AUTH | CON_F_HSM, "kek list",
	  "KEK versions on the HSM, which one is current, how many objects each one wraps,\n"
	  "and the progress of the background re-wrap.", cmd_kek_list },
	{ "kek rotate", 0, 0, CON_F_AUTH | CON_F_HSM, "kek rotate",
	  "Create a new KEK on the HSM and make it current (asks [y/N]); every object is then\n"
	  "re-wrapped under it in the background (resumes after a restart). The old KEK stays\n"
	  "until `kek destroy`.", cmd_kek_rotate },
	{ "kek destroy", 1, 1, CON_F_AUTH | CON_F_HSM | CON_F_DUAL, "kek destroy VERSION",
	  "Destroy an old KEK on the HSM (asks [y/N]). Refused for the current KEK and while any\n"
	  "object is still wrapped under it. May need a second administrator (dual control).",
	  cmd_kek_destroy },
	{ "keys list", 0, 10, CON_F_AUTH,
	  "keys list [--state S] [--attr NAME=VALUE] [--tenant T] [--limit N] [--offset N]",
	  "One line per object (every tenant): uid, tenant, type, algorithm and length, state,\n"
	  "x-Name or Name. --attr matches a custom attribute, e.g. --attr x-Name=backup-7.\n"
	  "Shows 100 objects unless --limit says otherwise (at most 1000), and how many more\n"
	  "exist.", cmd_keys_list },
	{ "keys show", 1, 1, CON_F_AUTH, "keys show UID",
	  "Every attribute, the state and the dates of one object. Key material is never shown.",
	  cmd_keys_show },
	{ "keys revoke", 1, 5, CON_F_AUTH,
	  "keys revoke UID [--reason compromise|cessation|superseded|...] [--message TEXT]",
	  "Revoke an object as KMIP Revoke does: a compromise makes it Compromised, any other\n"
	  "reason Deactivated. Without --reason it asks whether the key was compromised.",
	  cmd_keys_revoke },
	{ "keys destroy", 1, 1, CON_F_AUTH, "keys destroy UID",
	  "Destroy an object's key material (asks [y/N]). An Active object must be revoked first.",
	  cmd_keys_destroy },
	{ "audit tail", 0, 1, CON_F_AUTH, "audit tail [N]",
	  "The last N audit records (default 20): seq, time (UTC), actor, source, operation,\n"
	  "uid, result.", cmd_audit_tail },
	{ "audit verify", 0, 0, CON_F_AUTH, "audit verify",
	  "Recompute the audit hash chain: \"audit chain intact: N records\", or the first record\n"
	  "that does not verify.", cmd_audit_verify },
	{ "audit remote", 0, 3, CON_F_AUTH, "audit remote [set HOST:PORT [NAME] | off]",
	  "Without arguments: the remote copy of the audit, where its setting comes from (the\n"
	  "console or coffred.conf), the collector, connected or not and since when, the last\n"
	  "error, the last record delivered, how many wait, the policy.\n"
	  "set: send the audit to the syslog collector HOST:PORT (RFC 5425, mutual TLS); its\n"
	  "certificate must carry NAME (default HOST) and chain to the CA you paste (PEM, then\n"
	  "an empty line). The appliance shows its server certificate (`cert show`). Asks [y/N],\n"
	  "saved (it replaces [audit] remote of coffred.conf), audited, in force at once.\n"
	  "off: stop sending (asks [y/N]; also overrides coffred.conf).",
	  cmd_audit_remote },
	{ 0 },
};
