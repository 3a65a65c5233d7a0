/* Backup ceremonies in the HSM: the export helper process and the restore unwraps (see
 * hsm_backup.h for the design and docs/backup.md for the measured SoftHSMv2 behaviour). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board/board.h"
#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_backup.h"
#include "hsm/hsm_int.h"

extern char **environ;

#define BK_REQ_MAGIC "CFBH"
#define BK_FRAME_ITEM 1u
#define BK_FRAME_END 2u
#define BK_REQ_MAX (4u + 2u + 4096u + 2u + 64u + 2u * (2u + HSM_PIN_MAX) + HSM_BK_WRAP_KEY_LEN)
#define BK_FRAME_MAX (64u + 2u * HSM_BK_PUB_MAX + HSM_BK_WRAPPED_MAX + 128u)

void hsm_bk_set_free(struct hsm_bk_set *s)
{
	if (s == NULL)
		return;
	if (s->items != NULL)
		sec_free(s->items, sizeof s->items[0] * HSM_BK_ITEMS_MAX);
	s->items = NULL;
	s->n = 0;
}

/* ---- small wire helpers (the pipe to / from the helper) ---------------------------------- */

static void put16(uint8_t *p, size_t *o, uint16_t v)
{
	p[(*o)++] = (uint8_t)(v >> 8);
	p[(*o)++] = (uint8_t)v;
}
static void put32(uint8_t *p, size_t *o, uint32_t v)
{
	put16(p, o, (uint16_t)(v >> 16));
	put16(p, o, (uint16_t)v);
}
static void putb(uint8_t *p, size_t *o, const void *v, size_t n)
{
	put16(p, o, (uint16_t)n);
	memcpy(p + *o, v, n);
	*o += n;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

struct rd {
	const uint8_t *p;
	size_t n;
	bool bad;
};
static const uint8_t *rd_take(struct rd *r, size_t k)
{
	if (r->bad || r->n < k) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += k;
	r->n -= k;
	return p;
}
static uint16_t rd_16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}
static uint32_t rd_32(struct rd *r)
{
	uint32_t hi = rd_16(r);
	return (hi << 16) | rd_16(r);
}
/* u16-length bytes into out[cap] */
static size_t rd_b(struct rd *r, void *out, size_t cap)
{
	uint16_t k = rd_16(r);
	const uint8_t *p = rd_take(r, k);
	if (p == NULL || k > cap) {
		r->bad = true;
		return 0;
	}
	memcpy(out, p, k);
	return k;
}

/* ---- the helper (child process) ------------------------------------------------------------ */

struct helper {
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE sh;
	CK_OBJECT_HANDLE wk;
	int out;
	struct hsm_bk_item it;    /* the item being wrapped */
	uint8_t fr[BK_FRAME_MAX]; /* the item frame being sent */
};

static cf_err h_find(struct helper *hp, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *objs,
		     size_t cap, size_t *found)
{
	CK_ULONG k = 0;
	*found = 0;
	CK_RV rv = hp->f->C_FindObjectsInit(hp->sh, t, n);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	rv = hp->f->C_FindObjects(hp->sh, objs, (CK_ULONG)cap, &k);
	(void)hp->f->C_FindObjectsFinal(hp->sh);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	*found = k;
	return CF_OK;
}

static cf_err h_attr(struct helper *hp, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, void *buf,
		     size_t cap, size_t *n)
{
	CK_ATTRIBUTE a = { t, NULL, 0 };
	CK_RV rv = hp->f->C_GetAttributeValue(hp->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap)
		return CF_E_HSM_OUTPUT;
	a.pValue = buf;
	rv = hp->f->C_GetAttributeValue(hp->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	*n = a.ulValueLen;
	return CF_OK;
}

static cf_err h_wrap(struct helper *hp, CK_OBJECT_HANDLE o, struct hsm_bk_item *it)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG n = sizeof it->wrapped;
	CK_RV rv = hp->f->C_WrapKey(hp->sh, &m, hp->wk, o, it->wrapped, &n);
	if (rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_KEY_UNEXTRACTABLE)
		return CF_E_HSM_POLICY;
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	if (n > sizeof it->wrapped)
		return CF_E_HSM_OUTPUT;
	it->wrapped_n = n;
	return CF_OK;
}

static cf_err h_send(struct helper *hp, const struct hsm_bk_item *it)
{
	uint8_t *fr = hp->fr;
	size_t o = 0;
	fr[o++] = BK_FRAME_ITEM;
	fr[o++] = (uint8_t)it->kind;
	put32(fr, &o, it->version);
	putb(fr, &o, it->label, strlen(it->label));
	putb(fr, &o, it->id, it->id_n);
	put32(fr, &o, (uint32_t)it->key_type);
	putb(fr, &o, it->wrapped, it->wrapped_n);
	putb(fr, &o, it->pub_a, it->pub_a_n);
	putb(fr, &o, it->pub_b, it->pub_b_n);
	uint8_t len[4];
	size_t lo = 0;
	put32(len, &lo, (uint32_t)o);
	return write_all(hp->out, len, 4) && write_all(hp->out, fr, o) ? CF_OK : CF_E_IO;
}

static bool kek_label(const char *lab, uint32_t *v)
{
	size_t pn = strlen(HSM_KEK_LABEL_PREFIX);
	if (strncmp(lab, HSM_KEK_LABEL_PREFIX, pn) != 0 || lab[pn] < '1' || lab[pn] > '9')
		return false;
	char *end;
	unsigned long x = strtoul(lab + pn, &end, 10);
	if (*end != '\0' || x == 0 || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

static cf_err h_wrap_everything(struct helper *hp)
{
	struct hsm_bk_item *it = &hp->it;
	CK_OBJECT_HANDLE objs[HSM_BK_ITEMS_MAX];
	size_t n = 0;
	CK_BBOOL t = CK_TRUE;
	/* KEKs */
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_ATTRIBUTE q[] = { { CKA_CLASS, &sk, sizeof sk }, { CKA_TOKEN, &t, 1 } };
	TRY(h_find(hp, q, 2, objs, HSM_BK_ITEMS_MAX, &n));
	for (size_t i = 0; i < n; i++) {
		memset(it, 0, sizeof *it);
		size_t ln = 0;
		if (h_attr(hp, objs[i], CKA_LABEL, it->label, sizeof it->label - 1, &ln) != CF_OK)
			continue;
		it->label[ln] = '\0';
		if (!kek_label(it->label, &it->version))
			continue;
		it->kind = HSM_BK_KEK;
		TRY(h_wrap(hp, objs[i], it));
		TRY(h_send(hp, it));
	}
	/* key pairs: every private key on the token, with its public half (same CKA_ID) */
	CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE q2[] = { { CKA_CLASS, &pk, sizeof pk }, { CKA_TOKEN, &t, 1 } };
	TRY(h_find(hp, q2, 2, objs, HSM_BK_ITEMS_MAX, &n));
	CK_OBJECT_HANDLE priv[HSM_BK_ITEMS_MAX];
	memcpy(priv, objs, n * sizeof objs[0]);
	for (size_t i = 0; i < n; i++) {
		memset(it, 0, sizeof *it);
		size_t ln = 0;
		TRY(h_attr(hp, priv[i], CKA_LABEL, it->label, sizeof it->label - 1, &ln));
		it->label[ln] = '\0';
		TRY(h_attr(hp, priv[i], CKA_ID, it->id, sizeof it->id, &it->id_n));
		CK_ULONG kt = 0;
		size_t kn = 0;
		TRY(h_attr(hp, priv[i], CKA_KEY_TYPE, &kt, sizeof kt, &kn));
		if (kn != sizeof kt || (kt != CKK_EC && kt != CKK_RSA) || it->id_n == 0)
			continue;
		it->kind = HSM_BK_KEYPAIR;
		it->key_type = kt;
		CK_ATTRIBUTE q3[] = { { CKA_CLASS, &pub, sizeof pub }, { CKA_TOKEN, &t, 1 },
				      { CKA_ID, it->id, it->id_n } };
		CK_OBJECT_HANDLE ph;
		size_t pn = 0;
		TRY(h_find(hp, q3, 3, &ph, 1, &pn));
		if (pn != 1)
			return CF_E_HSM_NOT_FOUND;
		TRY(h_attr(hp, ph, kt == CKK_EC ? CKA_EC_PARAMS : CKA_MODULUS, it->pub_a,
			   sizeof it->pub_a, &it->pub_a_n));
		TRY(h_attr(hp, ph, kt == CKK_EC ? CKA_EC_POINT : CKA_PUBLIC_EXPONENT, it->pub_b,
			   sizeof it->pub_b, &it->pub_b_n));
		TRY(h_wrap(hp, priv[i], it));
		TRY(h_send(hp, it));
	}
	sec_wipe(it, sizeof *it);
	return CF_OK;
}

static cf_err h_slot(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID s[64];
	CK_ULONG n = 64;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, s, &n);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	for (CK_ULONG i = 0; i < n && i < 64; i++) {
		CK_TOKEN_INFO ti;
		char lab[33];
		if (f->C_GetTokenInfo(s[i], &ti) != CKR_OK)
			continue;
		p11_field_trim(ti.label, sizeof ti.label, lab, sizeof lab);
		if (strcmp(lab, label) == 0) {
			*slot = s[i];
			return CF_OK;
		}
	}
	return CF_E_HSM_NO_TOKEN;
}

int hsm_bk_helper_main(void)
{
	uint8_t *req = NULL;
	cf_err rc = sec_alloc(BK_REQ_MAX, (void **)&req);
	struct helper hp = { .out = 1, .sh = CK_INVALID_HANDLE, .wk = CK_INVALID_HANDLE };
	void *dl = NULL;
	bool init = false;
	uint8_t len[4];
	char module[4097], label[65];
	uint8_t *so = NULL, *pin = NULL, *key = NULL;
	size_t so_n = 0, pin_n = 0;
	if (rc != CF_OK)
		goto out;
	rc = CF_E_BAD_MESSAGE;
	if (!read_all(0, len, 4))
		goto out;
	size_t rn = ((size_t)len[0] << 24) | ((size_t)len[1] << 16) | ((size_t)len[2] << 8) | len[3];
	if (rn > BK_REQ_MAX || !read_all(0, req, rn))
		goto out;
	struct rd r = { req, rn, false };
	const uint8_t *m = rd_take(&r, 4);
	if (m == NULL || memcmp(m, BK_REQ_MAGIC, 4) != 0)
		goto out;
	size_t mn = rd_b(&r, module, sizeof module - 1);
	module[mn] = '\0';
	size_t ln = rd_b(&r, label, sizeof label - 1);
	label[ln] = '\0';
	so_n = rd_16(&r);
	so = (uint8_t *)rd_take(&r, so_n);
	pin_n = rd_16(&r);
	pin = (uint8_t *)rd_take(&r, pin_n);
	key = (uint8_t *)rd_take(&r, HSM_BK_WRAP_KEY_LEN);
	if (r.bad || r.n != 0 || so_n == 0 || pin_n == 0)
		goto out;
	if ((rc = p11_module_load(module, &dl, &hp.f)) != CF_OK)
		goto out;
	CK_RV rv = p11_module_initialize(hp.f);
	if (rv != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	init = true;
	CK_SLOT_ID slot = 0;
	if ((rc = h_slot(hp.f, label, &slot)) != CF_OK)
		goto out;
	if ((rv = hp.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				      &hp.sh)) != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	/* 1. the SO makes the trusted wrapping key: a public SESSION object (the SO cannot make
	 * private objects; a session object never reaches the token's files) */
	if ((rv = hp.f->C_Login(hp.sh, CKU_SO, so, (CK_ULONG)so_n)) != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE wt[] = {
		{ CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
		{ CKA_VALUE, key, HSM_BK_WRAP_KEY_LEN }, { CKA_TOKEN, &fl, 1 },
		{ CKA_PRIVATE, &fl, 1 }, { CKA_SENSITIVE, &t, 1 }, { CKA_EXTRACTABLE, &fl, 1 },
		{ CKA_WRAP, &t, 1 }, { CKA_UNWRAP, &fl, 1 }, { CKA_ENCRYPT, &fl, 1 },
		{ CKA_DECRYPT, &fl, 1 }, { CKA_TRUSTED, &t, 1 },
	};
	rv = hp.f->C_CreateObject(hp.sh, wt, sizeof wt / sizeof wt[0], &hp.wk);
	(void)hp.f->C_Logout(hp.sh);
	if (rv != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	/* 2. the user wraps */
	if ((rv = hp.f->C_Login(hp.sh, CKU_USER, pin, (CK_ULONG)pin_n)) != CKR_OK) {
		rc = p11_rv_to_err(rv);
		goto out;
	}
	rc = h_wrap_everything(&hp);
out:
	if (hp.f != NULL && hp.sh != CK_INVALID_HANDLE) {
		if (hp.wk != CK_INVALID_HANDLE)
			(void)hp.f->C_DestroyObject(hp.sh, hp.wk);
		(void)hp.f->C_Logout(hp.sh);
		(void)hp.f->C_CloseSession(hp.sh);
	}
	if (init)
		(void)hp.f->C_Finalize(NULL);
	if (req != NULL)
		sec_free(req, BK_REQ_MAX);
	uint8_t end[9];
	size_t o = 0;
	put32(end, &o, 5);
	end[o++] = BK_FRAME_END;
	put32(end, &o, (uint32_t)(int32_t)rc);
	(void)write_all(1, end, o);
	(void)dl; /* the module stays loaded until exit: its atexit handlers expect it */
	return rc == CF_OK ? 0 : 1;
}

/* ---- the parent ------------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* read exactly n bytes before the deadline */
static cf_err read_dl(int fd, uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return CF_E_HSM_TIMEOUT;
		struct pollfd pf = { fd, POLLIN, 0 };
		int pr = poll(&pf, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return pr == 0 ? CF_E_HSM_TIMEOUT : CF_E_IO;
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return CF_E_IO;
		p += r;
		n -= (size_t)r;
	}
	return CF_OK;
}

static cf_err parse_item(const uint8_t *p, size_t n, struct hsm_bk_item *it)
{
	struct rd r = { p, n, false };
	memset(it, 0, sizeof *it);
	const uint8_t *k = rd_take(&r, 1);
	it->kind = k != NULL ? (enum hsm_bk_kind)k[0] : 0;
	it->version = rd_32(&r);
	size_t ln = rd_b(&r, it->label, sizeof it->label - 1);
	it->label[ln] = '\0';
	it->id_n = rd_b(&r, it->id, sizeof it->id);
	it->key_type = rd_32(&r);
	it->wrapped_n = rd_b(&r, it->wrapped, sizeof it->wrapped);
	it->pub_a_n = rd_b(&r, it->pub_a, sizeof it->pub_a);
	it->pub_b_n = rd_b(&r, it->pub_b, sizeof it->pub_b);
	if (r.bad || r.n != 0 || (it->kind != HSM_BK_KEK && it->kind != HSM_BK_KEYPAIR) ||
	    it->wrapped_n == 0)
		return CF_E_HSM_OUTPUT;
	return CF_OK;
}

/* The request to the helper into req[BK_REQ_MAX + 4]: length prefix, magic, module path, token
 * label, SO PIN, user PIN (the one held by h), wrap key. *o = bytes used. */
static MUST_USE cf_err bk_request(hsm *h, const uint8_t *so_pin, size_t so_n,
			 const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN], uint8_t *req, size_t *o)
{
	size_t mn = strlen(h->module_path), ln = strlen(h->token_label);
	if (mn > 4096 || ln > 64)
		return CF_E_INVALID_ARG;
	*o = 4;
	memcpy(req + *o, BK_REQ_MAGIC, 4);
	*o += 4;
	putb(req, o, h->module_path, mn);
	putb(req, o, h->token_label, ln);
	putb(req, o, so_pin, so_n);
	pthread_mutex_lock(&h->lock);
	bool have = h->pin != NULL;
	if (have)
		putb(req, o, h->pin, h->pin_n);
	pthread_mutex_unlock(&h->lock);
	if (!have)
		return CF_E_HSM_NOT_INIT;
	memcpy(req + *o, wrap_key, HSM_BK_WRAP_KEY_LEN);
	*o += HSM_BK_WRAP_KEY_LEN;
	size_t lo = 0;
	put32(req, &lo, (uint32_t)(*o - 4));
	return CF_OK;
}

/* the helper process and the parent's ends of its pipes (-1 / closed) */
struct bk_child {
	pid_t pid;
	int to;   /* its stdin */
	int from; /* its stdout */
};

/* Start the helper with its stdin and stdout on two pipes. */
static MUST_USE cf_err bk_spawn(const char *helper, struct bk_child *c)
{
	int in[2] = { -1, -1 }, res[2] = { -1, -1 };
	*c = (struct bk_child){ .pid = -1, .to = -1, .from = -1 };
	if (pipe2(in, O_CLOEXEC) != 0)
		return CF_E_IO;
	if (pipe2(res, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return CF_E_IO;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, res[1], 1);
	char *argv[] = { (char *)helper, (char *)"backup", (char *)"hsm-helper", NULL };
	pid_t pid = -1;
	/* the sandbox's registered copy of the path: its execve rule compares the pointer */
	int se = posix_spawn(&pid, board_sandbox_exec_path(helper), &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(res[1]);
	if (se != 0) {
		log_err("hsm: backup helper %s cannot start: %s", helper, strerror(se));
		close(in[1]);
		close(res[0]);
		return CF_E_IO;
	}
	*c = (struct bk_child){ .pid = pid, .to = in[1], .from = res[0] };
	return CF_OK;
}

/* Close the pipes and reap the helper; kill it first unless it is known to be done. */
static void bk_child_end(struct bk_child *c, bool kill_it)
{
	if (c->to >= 0)
		close(c->to);
	if (c->from >= 0)
		close(c->from);
	c->to = c->from = -1;
	if (c->pid > 0) {
		if (kill_it)
			(void)kill(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	c->pid = -1;
}

/* Read the helper's frames into out until its end frame (*ended = true); returns the helper's
 * result, or the reason the frames could not be read (deadline, malformed frame, too many
 * items). */
static MUST_USE cf_err bk_read_frames(int fd, int64_t deadline, struct hsm_bk_set *out, bool *ended)
{
	*ended = false;
	uint8_t *fr = malloc(BK_FRAME_MAX);
	if (fr == NULL)
		return CF_E_NOMEM;
	cf_err rc = CF_E_INTERNAL;
	for (;;) {
		uint8_t len[4];
		if ((rc = read_dl(fd, len, 4, deadline)) != CF_OK)
			break;
		size_t fn = ((size_t)len[0] << 24) | ((size_t)len[1] << 16) | ((size_t)len[2] << 8) | len[3];
		if (fn == 0 || fn > BK_FRAME_MAX) {
			rc = CF_E_HSM_OUTPUT;
			break;
		}
		if ((rc = read_dl(fd, fr, fn, deadline)) != CF_OK)
			break;
		if (fr[0] == BK_FRAME_END && fn == 5) {
			rc = (cf_err)(int32_t)(((uint32_t)fr[1] << 24) | ((uint32_t)fr[2] << 16) |
					       ((uint32_t)fr[3] << 8) | fr[4]);
			*ended = true;
			break;
		}
		if (fr[0] != BK_FRAME_ITEM || out->n == HSM_BK_ITEMS_MAX) {
			rc = CF_E_HSM_OUTPUT;
			break;
		}
		if ((rc = parse_item(fr + 1, fn - 1, &out->items[out->n])) != CF_OK)
			break;
		out->n++;
	}
	free(fr);
	return rc;
}

cf_err hsm_bk_wrap_all(hsm *h, const char *helper, const uint8_t *so_pin, size_t so_n,
		       const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN], unsigned timeout_ms,
		       struct hsm_bk_set *out)
{
	if (h == NULL || helper == NULL || so_pin == NULL || so_n == 0 || so_n > HSM_PIN_MAX ||
	    out == NULL)
		return CF_E_INVALID_ARG;
	out->items = NULL;
	out->n = 0;
	uint8_t *req = NULL;
	TRY(sec_alloc(BK_REQ_MAX + 4, (void **)&req));
	size_t o = 0;
	struct bk_child c = { .pid = -1, .to = -1, .from = -1 };
	cf_err rc = bk_request(h, so_pin, so_n, wrap_key, req, &o);
	if (rc == CF_OK)
		rc = sec_alloc(sizeof out->items[0] * HSM_BK_ITEMS_MAX, (void **)&out->items);
	if (rc == CF_OK)
		rc = bk_spawn(helper, &c);
	if (rc == CF_OK) {
		signal(SIGPIPE, SIG_IGN);
		bool sent = write_all(c.to, req, o);
		sec_wipe(req, BK_REQ_MAX + 4);
		close(c.to);
		c.to = -1;
		rc = sent ? CF_OK : CF_E_IO;
	}
	bool ended = false;
	if (rc == CF_OK) {
		int64_t deadline = mono_ms() + (timeout_ms ? timeout_ms : 60000u);
		rc = bk_read_frames(c.from, deadline, out, &ended);
	}
	/* after its end frame the helper exits by itself; otherwise it is killed */
	bk_child_end(&c, !ended);
	sec_free(req, BK_REQ_MAX + 4);
	if (rc != CF_OK) {
		hsm_bk_set_free(out);
		log_err_r(rc, "hsm: backup wrap failed");
	}
	return rc;
}

/* ---- restore: unwrap jobs ----------------------------------------------------------------------
 * io->in = wrap key (32) || wrapped; io->label, io->id; io->ul[0] = what (1 KEK, 2 private key,
 * 3 public key: io->in = pub_a || pub_b with io->ul[3], io->ul[4] their lengths); io->ul[1] =
 * version / key type; io->ul[2] = 1 for a dry run (session objects, destroyed at once). */

#define UW_KEK 1u
#define UW_PRIV 2u
#define UW_PUB 3u

static cf_err uw_label_free(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE q[] = { { CKA_TOKEN, &t, 1 }, { CKA_LABEL, io->label, strlen(io->label) } };
	TRY(p11_find(x, q, 2));
	if (io->objs_n > 0)
		return CF_E_EXISTS;
	if (io->id_n > 0) {
		CK_ATTRIBUTE q2[] = { { CKA_TOKEN, &t, 1 }, { CKA_ID, io->id, io->id_n } };
		TRY(p11_find(x, q2, 2));
		if (io->objs_n > 0)
			return CF_E_EXISTS;
	}
	return CF_OK;
}

static cf_err job_unwrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_FUNCTION_LIST *f = x->h->f;
	bool dry = io->ul[2] == 1, backup = x->h->cfg.backup_enabled;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE, tok = dry ? CK_FALSE : CK_TRUE;
	CK_BBOOL ext = backup ? CK_TRUE : CK_FALSE;
	if (io->ul[2] == 0) /* (a dry run checks after its unwrap: see below) */
		TRY(uw_label_free(x));
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_RV rv;
	if (io->ul[0] == UW_PUB) {
		CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
		CK_KEY_TYPE kt = (CK_KEY_TYPE)io->ul[1];
		CK_ULONG an = io->ul[3], bn = io->ul[4];
		CK_ATTRIBUTE pt[] = {
			{ CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
			{ CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &fl, 1 }, { CKA_VERIFY, &t, 1 },
			{ CKA_LABEL, io->label, strlen(io->label) }, { CKA_ID, io->id, io->id_n },
			{ kt == CKK_EC ? CKA_EC_PARAMS : CKA_MODULUS, io->in, an },
			{ kt == CKK_EC ? CKA_EC_POINT : CKA_PUBLIC_EXPONENT, io->in + an, bn },
		};
		rv = f->C_CreateObject(x->sh, pt, sizeof pt / sizeof pt[0], &o);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
		if (dry)
			(void)f->C_DestroyObject(x->sh, o);
		return CF_OK;
	}
	/* the unwrapping key: a private session object for this job only */
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE ut[] = {
		{ CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
		{ CKA_VALUE, io->in, HSM_BK_WRAP_KEY_LEN }, { CKA_TOKEN, &fl, 1 },
		{ CKA_PRIVATE, &t, 1 }, { CKA_SENSITIVE, &t, 1 }, { CKA_EXTRACTABLE, &fl, 1 },
		{ CKA_WRAP, &fl, 1 }, { CKA_UNWRAP, &t, 1 }, { CKA_ENCRYPT, &fl, 1 },
		{ CKA_DECRYPT, &fl, 1 },
	};
	CK_OBJECT_HANDLE uk = CK_INVALID_HANDLE;
	rv = f->C_CreateObject(x->sh, ut, sizeof ut / sizeof ut[0], &uk);
	sec_wipe(io->in, HSM_BK_WRAP_KEY_LEN);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	uint8_t *w = io->in + HSM_BK_WRAP_KEY_LEN;
	CK_ULONG wn = (CK_ULONG)(io->in_n - HSM_BK_WRAP_KEY_LEN);
	if (io->ul[0] == UW_KEK) {
		uint8_t id[4] = { (uint8_t)(io->ul[1] >> 24), (uint8_t)(io->ul[1] >> 16),
				  (uint8_t)(io->ul[1] >> 8), (uint8_t)io->ul[1] };
		CK_ATTRIBUTE kt[] = {
			{ CKA_CLASS, &sk, sizeof sk }, { CKA_KEY_TYPE, &aes, sizeof aes },
			{ CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &t, 1 }, { CKA_SENSITIVE, &t, 1 },
			{ CKA_EXTRACTABLE, &ext, 1 }, { CKA_WRAP_WITH_TRUSTED, &t, 1 },
			{ CKA_ENCRYPT, &t, 1 }, { CKA_DECRYPT, &t, 1 }, { CKA_WRAP, &fl, 1 },
			{ CKA_UNWRAP, &fl, 1 }, { CKA_SIGN, &fl, 1 }, { CKA_VERIFY, &fl, 1 },
			{ CKA_DERIVE, &fl, 1 }, { CKA_LABEL, io->label, strlen(io->label) },
			{ CKA_ID, id, 4 },
		};
		rv = f->C_UnwrapKey(x->sh, &m, uk, w, wn, kt, sizeof kt / sizeof kt[0], &o);
	} else {
		CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
		CK_KEY_TYPE kty = (CK_KEY_TYPE)io->ul[1];
		CK_BBOOL dec = kty == CKK_RSA ? CK_TRUE : CK_FALSE;
		CK_ATTRIBUTE kt[] = {
			{ CKA_CLASS, &pc, sizeof pc }, { CKA_KEY_TYPE, &kty, sizeof kty },
			{ CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &t, 1 }, { CKA_SENSITIVE, &t, 1 },
			{ CKA_EXTRACTABLE, &ext, 1 }, { CKA_WRAP_WITH_TRUSTED, &t, 1 },
			{ CKA_SIGN, &t, 1 }, { CKA_DECRYPT, &dec, 1 },
			{ CKA_LABEL, io->label, strlen(io->label) }, { CKA_ID, io->id, io->id_n },
		};
		rv = f->C_UnwrapKey(x->sh, &m, uk, w, wn, kt, sizeof kt / sizeof kt[0], &o);
	}
	(void)f->C_DestroyObject(x->sh, uk);
	if (rv == CKR_GENERAL_ERROR || rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE)
		return CF_E_HSM_UNWRAP; /* SoftHSMv2 says GENERAL_ERROR when the KWP check fails */
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (dry) {
		(void)f->C_DestroyObject(x->sh, o);
		/* it unwraps; would the real restore collide with what the token holds? */
		return uw_label_free(x);
	}
	if (io->ul[0] == UW_KEK)
		TRY(hsm_kek_scan(x));
	return CF_OK;
}

static cf_err uw_run(hsm_sess *s, unsigned what, unsigned long arg, const char *label,
		     const uint8_t *id, size_t id_n, const uint8_t *key, const uint8_t *a, size_t an,
		     const uint8_t *b, size_t bn, bool dry)
{
	if (s == NULL || label == NULL || strlen(label) >= HSM_LABEL_MAX + 15 ||
	    id_n > HSM_KP_ID_MAX)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	size_t need = (key != NULL ? HSM_BK_WRAP_KEY_LEN : 0) + an + bn;
	if (need > sizeof io->in)
		return CF_E_TOO_LARGE;
	size_t o = 0;
	if (key != NULL) {
		memcpy(io->in, key, HSM_BK_WRAP_KEY_LEN);
		o = HSM_BK_WRAP_KEY_LEN;
	}
	memcpy(io->in + o, a, an);
	o += an;
	if (bn > 0)
		memcpy(io->in + o, b, bn);
	io->in_n = o + bn;
	memset(io->label, 0, sizeof io->label);
	memcpy(io->label, label, strlen(label));
	if (id_n > 0)
		memcpy(io->id, id, id_n);
	io->id_n = id_n;
	io->ul[0] = what;
	io->ul[1] = arg;
	io->ul[2] = dry ? 1 : 0;
	io->ul[3] = an;
	io->ul[4] = bn;
	cf_err rc = hsm_sess_run(s, job_unwrap, &dl);
	if (s->x != NULL)
		sec_wipe(s->x->io->in, sizeof s->x->io->in);
	return rc;
}

cf_err hsm_bk_unwrap_kek(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
			 uint32_t version, const uint8_t *wrapped, size_t n)
{
	char label[HSM_LABEL_MAX + 1];
	if (version == 0 || wrapped == NULL || n == 0)
		return CF_E_INVALID_ARG;
	snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", version);
	return uw_run(s, UW_KEK, version, label, NULL, 0, wrap_key, wrapped, n, NULL, 0, false);
}

static cf_err kp_args(const struct hsm_bk_item *it)
{
	if (it == NULL || it->kind != HSM_BK_KEYPAIR || it->id_n == 0 ||
	    (it->key_type != CKK_EC && it->key_type != CKK_RSA))
		return CF_E_INVALID_ARG;
	return CF_OK;
}

cf_err hsm_bk_unwrap_keypair(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
			     const struct hsm_bk_item *it)
{
	TRY(kp_args(it));
	TRY(uw_run(s, UW_PRIV, it->key_type, it->label, it->id, it->id_n, wrap_key, it->wrapped,
		   it->wrapped_n, NULL, 0, false));
	/* the public half: the label and id are taken now by the private key, so no check */
	if (it->pub_a_n + it->pub_b_n > HSM_IO_IN)
		return CF_E_TOO_LARGE;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	memcpy(io->in, it->pub_a, it->pub_a_n);
	memcpy(io->in + it->pub_a_n, it->pub_b, it->pub_b_n);
	io->in_n = it->pub_a_n + it->pub_b_n;
	memset(io->label, 0, sizeof io->label);
	memcpy(io->label, it->label, strlen(it->label));
	memcpy(io->id, it->id, it->id_n);
	io->id_n = it->id_n;
	io->ul[0] = UW_PUB;
	io->ul[1] = it->key_type;
	io->ul[2] = 2; /* token object, no label check (the private half holds the label) */
	io->ul[3] = it->pub_a_n;
	io->ul[4] = it->pub_b_n;
	return hsm_sess_run(s, job_unwrap, &dl);
}

cf_err hsm_bk_unwrap_check(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
			   const struct hsm_bk_item *it)
{
	if (it == NULL)
		return CF_E_INVALID_ARG;
	if (it->kind == HSM_BK_KEK) {
		char label[HSM_LABEL_MAX + 1];
		snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", it->version);
		return uw_run(s, UW_KEK, it->version, label, NULL, 0, wrap_key, it->wrapped,
			      it->wrapped_n, NULL, 0, true);
	}
	TRY(kp_args(it));
	return uw_run(s, UW_PRIV, it->key_type, it->label, it->id, it->id_n, wrap_key, it->wrapped,
		      it->wrapped_n, NULL, 0, true);
}
