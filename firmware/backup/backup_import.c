/* The steps of `backup import` (firmware/backup/backup.h): which import the state allows, the
 * header before any secret, the dry run, the merge into a READY appliance and the restore into
 * a freshly initialised token. The console (firmware/console/con_backup.c) holds the dialogue
 * and the service calls between the steps (svc_token_init before bk_import_fresh,
 * svc_start_serving after it; the trust reload and the KEK job after bk_import_merge). */
#include <stdio.h>
#include <string.h>

#include "firmware/backup/backup.h"

#define DIAG(d, ...) do { if ((d) != NULL) snprintf((d)->msg, sizeof (d)->msg, __VA_ARGS__); } while (0)
#define BK_SESSION_WAIT_MS 5000u

cf_err bk_import_plan(enum svc_state state, bool merge, enum bk_import_kind *kind)
{
	*kind = BK_IMPORT_REFUSED;
	if (state == SVC_UNINITIALIZED && merge)
		*kind = BK_IMPORT_MERGE_UNINIT;
	else if (state == SVC_UNINITIALIZED)
		*kind = BK_IMPORT_FRESH;
	else if (state == SVC_READY && merge)
		*kind = BK_IMPORT_MERGE;
	return *kind == BK_IMPORT_FRESH || *kind == BK_IMPORT_MERGE ? CF_OK : CF_E_STATE;
}

cf_err bk_import_header(const uint8_t *text, size_t n, struct bk_header *h, struct bk_diag *d)
{
	uint8_t *bin = NULL;
	size_t bin_n = 0;
	cf_err rc = bk_file_decode(text, n, &bin, &bin_n, d);
	if (rc == CF_OK)
		rc = bk_header_parse(bin, bin_n, h, d);
	bk_free(bin, bin_n);
	return rc;
}

/* bk_restore in a session of h. */
static cf_err restore_in(hsm *h, struct store *st, const struct config *cfg,
			 const struct bk_opened *o, bool merge, bool dry, struct bk_counts *loaded,
			 struct bk_diag *d, const char *no_session)
{
	hsm_sess *s = NULL;
	cf_err rc = hsm_session_acquire(h, BK_SESSION_WAIT_MS, &s);
	if (rc != CF_OK) {
		DIAG(d, "%s (%s)", no_session, cf_err_str(rc));
		return rc;
	}
	rc = bk_restore(s, st, cfg, o, merge, dry, loaded, d);
	hsm_session_release(s);
	return rc;
}

bool bk_import_can_unwrap(const hsm *h)
{
	return h != NULL && hsm_pin_held(h);
}

cf_err bk_import_dry_run(hsm *h, struct store *st, const struct config *cfg,
			 const struct bk_opened *o, bool merge, struct bk_counts *would,
			 struct bk_diag *d)
{
	memset(would, 0, sizeof *would);
	if (!bk_import_can_unwrap(h))
		return CF_E_STATE;
	return restore_in(h, st, cfg, o, merge, true, would, d, "no HSM session");
}

cf_err bk_import_merge(hsm *h, struct store *st, const struct config *cfg,
		       const struct bk_opened *o, struct bk_counts *loaded, struct bk_diag *d)
{
	return restore_in(h, st, cfg, o, true, false, loaded, d, "no HSM session");
}

cf_err bk_import_kek_current(hsm *h, const struct bk_counts *loaded, uint32_t *made)
{
	*made = 0;
	/* the highest version on the token is the current KEK at every start: make it so now,
	 * rather than have a restart change it */
	if (loaded->kek_max <= hsm_kek_current(h))
		return CF_OK;
	TRY(hsm_kek_make_current(h, loaded->kek_max));
	*made = loaded->kek_max;
	return CF_OK;
}

cf_err bk_import_fresh(hsm *h, struct store *st, const struct config *cfg,
		       const struct bk_opened *o, struct bk_counts *loaded, struct bk_diag *d)
{
	cf_err rc = restore_in(h, st, cfg, o, false, false, loaded, d,
			       "the new token cannot be used");
	if (rc != CF_OK)
		return rc;
	if ((rc = hsm_kek_make_current(h, o->hdr.kek_version)) != CF_OK)
		DIAG(d, "KEK %u (current in the backup) is not on the token after the restore",
		     o->hdr.kek_version);
	return rc;
}
