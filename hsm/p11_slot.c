/* Client lifecycle (hsm_open, hsm_close, hsm_logout), token selection and the login session
 * (the slot's login state is tracked here only), token initialisation.
 * The PIN lives in one sec_alloc block owned by struct hsm; it is wiped on logout, on a failed
 * login and when replaced. The control executor keeps one "login session" open so that the
 * login state survives while pool sessions come and go. The control jobs here are the steps
 * that recover.c composes into hsm_login and the module re-init. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

void hsm_pin_wipe(struct hsm *h)
{
	if (h->pin != NULL)
		sec_free(h->pin, HSM_PIN_MAX);
	h->pin = NULL;
	h->pin_n = 0;
}

/* ---- control jobs (run on the control executor) ----------------------------------------- */

cf_err hsm_job_initialize(struct hsm_exec *x)
{
	return p11_fail(x, p11_module_initialize(x->h->f));
}

cf_err hsm_job_select(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	CK_SLOT_ID slot = 0;
	char label[33];
	TRY(p11_slot_find(x, &h->sel, &slot, label));
	x->io->slot = slot;
	memcpy(x->io->label, label, sizeof label);
	return CF_OK;
}

cf_err hsm_job_login(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	CK_FUNCTION_LIST *f = h->f;
	CK_RV rv;
	if (x->sh_open && (x->broken || x->gen != h->gen)) {
		if (x->gen == h->gen)
			(void)f->C_CloseSession(x->sh);
		x->sh_open = false;
	}
	if (!x->sh_open) {
		CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
		rv = f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sh);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
		x->sh = sh;
		x->sh_open = true;
		x->gen = h->gen;
		x->broken = false;
	}
	rv = f->C_Login(x->sh, CKU_USER, x->io->pin, (CK_ULONG)x->io->pin_n);
	sec_wipe(x->io->pin, sizeof x->io->pin);
	x->io->pin_n = 0;
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return CF_OK;
}

static cf_err job_logout(struct hsm_exec *x)
{
	if (!x->sh_open)
		return CF_OK;
	CK_RV rv = x->h->f->C_Logout(x->sh);
	if (x->gen == x->h->gen)
		(void)x->h->f->C_CloseSession(x->sh);
	x->sh_open = false;
	return rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN ? CF_OK : p11_fail(x, rv);
}

/* ---- public ---------------------------------------------------------------------------- */

cf_err hsm_open(const struct hsm_config *cfg, hsm **out)
{
	cf_err rc = CF_E_INTERNAL;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (cfg == NULL || cfg->module_path == NULL || cfg->token == NULL ||
	    cfg->pool_size > HSM_POOL_MAX)
		return CF_E_INVALID_ARG;
	struct hsm *h = calloc(1, sizeof *h);
	if (h == NULL)
		return CF_E_NOMEM;
	bool sync_ok = false;
	h->cfg = *cfg;
	h->module_path = strdup(cfg->module_path);
	h->token_str = strdup(cfg->token);
	if (h->module_path == NULL || h->token_str == NULL) {
		rc = CF_E_NOMEM;
		goto out;
	}
	h->cfg.module_path = h->module_path;
	h->cfg.token = h->token_str;
	if (h->cfg.timeout_ms == 0)
		h->cfg.timeout_ms = HSM_DEFAULT_TIMEOUT_MS;
	if (h->cfg.keygen_timeout_ms == 0)
		h->cfg.keygen_timeout_ms = HSM_DEFAULT_KEYGEN_TIMEOUT_MS;
	h->pool_n = h->cfg.pool_size ? h->cfg.pool_size : HSM_DEFAULT_POOL;
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	h->ncpu = nc > 0 && nc < 4096 ? (int)nc : 1;
	atomic_init(&h->running, 0);
	if ((rc = p11_tok_sel_parse(cfg->token, &h->sel)) != CF_OK)
		goto out;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->ctl_lock, NULL);
	pthread_mutex_init(&h->kek_lock, NULL);
	pthread_cond_init(&h->pool_cv, &ca);
	pthread_cond_init(&h->quar_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_rwlock_init(&h->mod_lock, NULL);
	sync_ok = true;
	for (unsigned i = 0; i < h->pool_n; i++) {
		h->pool[i].h = h;
		h->pool[i].idx = i;
	}
	if ((rc = p11_module_load(h->module_path, &h->dl, &h->f)) != CF_OK)
		goto out;
	struct timespec dl;
	hsm_deadline(&dl, h->cfg.timeout_ms);
	if ((rc = hsm_ctl_run(h, hsm_job_initialize, 0, &dl)) != CF_OK) {
		log_err_r(rc, "hsm: C_Initialize failed");
		goto out;
	}
	if ((rc = hsm_ctl_run(h, hsm_job_select, 0, &dl)) != CF_OK) {
		log_err_r(rc, "hsm: no token matches the configured label / URI");
		goto out;
	}
	h->slot = h->ctl->io->slot;
	memcpy(h->token_label, h->ctl->io->label, sizeof h->token_label);
	h->token_label[sizeof h->token_label - 1] = '\0';
	*out = h;
	h = NULL;
	rc = CF_OK;
out:
	if (h != NULL) {
		if (sync_ok)
			hsm_close(h);
		else {
			free(h->module_path);
			free(h->token_str);
			free(h);
		}
	}
	return rc;
}

void hsm_close(hsm *h)
{
	if (h == NULL)
		return;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	for (unsigned i = 0; i < h->pool_n; i++) {
		if (h->pool[i].in_use)
			log_err("hsm_close: session %u still held by a thread", i);
		hsm_exec_free(h->pool[i].x);
		h->pool[i].x = NULL;
	}
	if (h->ctl != NULL && h->logged_in) {
		cf_err lrc = hsm_ctl_run(h, job_logout, 0, &dl);
		if (lrc != CF_OK)
			log_warn_r(lrc, "hsm_close: logout");
	}
	hsm_exec_free(h->ctl);
	h->ctl = NULL;
	pthread_mutex_lock(&h->lock);
	hsm_pin_wipe(h);
	h->logged_in = false;
	while (h->exec_live > 0) {
		if (pthread_cond_clockwait(&h->quar_cv, &h->lock, CLOCK_MONOTONIC, &dl) != 0)
			break;
	}
	unsigned live = h->exec_live;
	pthread_mutex_unlock(&h->lock);
	hsm_exec_reap(h); /* finished executors' thread-local destructors have run after this */
	if (live > 0) {
		/* a thread is still inside the module: finalising or unloading it now would crash
		 * that thread; leak the client instead (the process is shutting down anyway) */
		log_err("hsm_close: %u executor(s) stuck in the module; not unloading", live);
		return;
	}
	if (h->f != NULL)
		(void)h->f->C_Finalize(NULL);
	p11_module_unload(h->dl);
	pthread_rwlock_destroy(&h->mod_lock);
	pthread_cond_destroy(&h->pool_cv);
	pthread_cond_destroy(&h->quar_cv);
	pthread_mutex_destroy(&h->ctl_lock);
	pthread_mutex_destroy(&h->kek_lock);
	pthread_mutex_destroy(&h->lock);
	free(h->module_path);
	free(h->token_str);
	sec_wipe(h, sizeof *h);
	free(h);
}

void hsm_logout(hsm *h)
{
	if (h == NULL)
		return;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	pthread_mutex_lock(&h->lock);
	h->logged_in = false;
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i < h->pool_n; i++) {
		pthread_mutex_lock(&h->lock);
		bool idle = !h->pool[i].in_use;
		struct hsm_exec *x = idle ? h->pool[i].x : NULL;
		if (idle) {
			h->pool[i].x = NULL;
			h->pool[i].up = false;
		}
		pthread_mutex_unlock(&h->lock);
		hsm_exec_free(x);
	}
	if (h->ctl != NULL) {
		cf_err lrc = hsm_ctl_run(h, job_logout, 0, &dl);
		if (lrc != CF_OK)
			log_warn_r(lrc, "hsm_logout");
	}
	pthread_mutex_lock(&h->lock);
	hsm_pin_wipe(h);
	h->kek_n = 0;
	h->kek_current = 0;
	pthread_mutex_unlock(&h->lock);
}

bool hsm_pin_held(const hsm *h)
{
	if (h == NULL)
		return false;
	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	bool held = h->pin != NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
	return held;
}

/* ---- provisioning ------------------------------------------------------------------- */

#define TI_SLOTS 256u

/* slots (all, or only those with a token) into slots[TI_SLOTS]; the count is untrusted */
static cf_err ti_slot_list(CK_FUNCTION_LIST *f, bool present, CK_SLOT_ID *slots, CK_ULONG *n)
{
	*n = TI_SLOTS;
	CK_RV rv = f->C_GetSlotList(present ? CK_TRUE : CK_FALSE, slots, n);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	return *n > TI_SLOTS ? CF_E_HSM_OUTPUT : CF_OK;
}

/* the slot whose initialised token is labelled `label`; CF_E_HSM_NO_TOKEN / CF_E_TOO_MANY */
static cf_err ti_find_label(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[TI_SLOTS];
	CK_ULONG n = 0;
	TRY(ti_slot_list(f, true, slots, &n));
	unsigned found = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		memset(&ti, 0, sizeof ti);
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		char lab[33];
		p11_field_trim(ti.label, sizeof ti.label, lab, sizeof lab);
		if (strcmp(lab, label) == 0) {
			*slot = slots[i];
			found++;
		}
	}
	return found == 0 ? CF_E_HSM_NO_TOKEN : found > 1 ? CF_E_TOO_MANY : CF_OK;
}

/* Choose the slot to initialise (see hsm.h): refuses an initialised token unless forced. */
static cf_err ti_choose(CK_FUNCTION_LIST *f, const struct hsm_token_init_cfg *c, CK_SLOT_ID *out)
{
	CK_SLOT_ID slots[TI_SLOTS];
	CK_ULONG n = 0;
	TRY(ti_slot_list(f, false, slots, &n));
	/* a label must name one token: another initialised token with it is never shadowed */
	CK_SLOT_ID same = 0;
	cf_err lrc = ti_find_label(f, c->label, &same);
	if (lrc != CF_OK && lrc != CF_E_HSM_NO_TOKEN)
		return lrc == CF_E_TOO_MANY ? CF_E_EXISTS : lrc;
	bool label_taken = lrc == CF_OK;
	if (c->has_slot) {
		bool listed = false;
		for (CK_ULONG i = 0; i < n; i++)
			if (slots[i] == (CK_SLOT_ID)c->slot_id)
				listed = true;
		if (!listed)
			return CF_E_HSM_NO_TOKEN;
		CK_TOKEN_INFO ti;
		memset(&ti, 0, sizeof ti);
		CK_RV rv = f->C_GetTokenInfo((CK_SLOT_ID)c->slot_id, &ti);
		if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_SLOT_ID_INVALID)
			return CF_E_HSM_NO_TOKEN;
		if (rv != CKR_OK)
			return p11_rv_to_err(rv);
		if (ti.flags & CKF_TOKEN_INITIALIZED) {
			if (!c->force) {
				log_err("hsm: token in slot %lu is initialised; refusing without force",
					c->slot_id);
				return CF_E_EXISTS;
			}
		}
		if (label_taken && same != (CK_SLOT_ID)c->slot_id)
			return CF_E_EXISTS;
		*out = (CK_SLOT_ID)c->slot_id;
		return CF_OK;
	}
	if (label_taken) {
		if (!c->force)
			return CF_E_EXISTS;
		*out = same; /* forced: re-initialise the token with this label */
		return CF_OK;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		memset(&ti, 0, sizeof ti);
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue; /* no token in this slot */
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*out = slots[i];
			return CF_OK;
		}
	}
	return CF_E_HSM_NO_TOKEN;
}

cf_err hsm_token_init_ex(const struct hsm_token_init_cfg *c, unsigned long *slot_out)
{
	cf_err rc = CF_E_INTERNAL;
	if (slot_out != NULL)
		*slot_out = 0;
	if (c == NULL || c->module_path == NULL || c->label == NULL || c->label[0] == '\0' ||
	    strlen(c->label) > 32 || c->so_pin == NULL || c->so_n == 0 || c->so_n > HSM_PIN_MAX ||
	    c->user_pin == NULL || c->user_n == 0 || c->user_n > HSM_PIN_MAX)
		return CF_E_INVALID_ARG;
	void *dl = NULL;
	CK_FUNCTION_LIST *f = NULL;
	bool inited = false;
	CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
	bool sh_open = false;
	CK_SLOT_ID slot = 0;
	TRY(p11_module_load(c->module_path, &dl, &f));
	CK_RV rv = p11_module_initialize(f);
	if (rv != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	inited = true;
	if ((rc = ti_choose(f, c, &slot)) != CF_OK)
		goto out;
	CK_UTF8CHAR padded[32];
	memset(padded, ' ', sizeof padded);
	memcpy(padded, c->label, strlen(c->label));
	if ((rv = f->C_InitToken(slot, (CK_UTF8CHAR *)c->so_pin, (CK_ULONG)c->so_n, padded)) !=
	    CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	/* SoftHSMv2 moves an initialised token to a new slot id: find it again by label */
	if ((rc = ti_find_label(f, c->label, &slot)) != CF_OK)
		goto out;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sh)) !=
	    CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	sh_open = true;
	if ((rv = f->C_Login(sh, CKU_SO, (CK_UTF8CHAR *)c->so_pin, (CK_ULONG)c->so_n)) != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	rv = f->C_InitPIN(sh, (CK_UTF8CHAR *)c->user_pin, (CK_ULONG)c->user_n);
	(void)f->C_Logout(sh);
	if (rv != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	if (slot_out != NULL)
		*slot_out = (unsigned long)slot;
	log_info("hsm: token initialised%s", c->force ? " (forced)" : "");
	rc = CF_OK;
out:
	if (sh_open)
		(void)f->C_CloseSession(sh);
	if (inited)
		(void)f->C_Finalize(NULL);
	p11_module_unload(dl);
	return rc;
}

cf_err hsm_token_init(const char *module_path, const char *label, const uint8_t *so_pin,
		      size_t so_n, const uint8_t *user_pin, size_t user_n)
{
	struct hsm_token_init_cfg c = {
		.module_path = module_path, .label = label, .so_pin = so_pin, .so_n = so_n,
		.user_pin = user_pin, .user_n = user_n, .has_slot = false, .force = false,
	};
	return hsm_token_init_ex(&c, NULL);
}
