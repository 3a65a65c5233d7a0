/* The console's backup commands (firmware/console/con.h; docs/backup.md):
 *
 *   backup export [--shares N --threshold M] [--file NAME]
 *              the HSM SO PIN (the trusted wrapping key of the ceremony), then a passphrase
 *              typed twice, or N shares shown to their custodians one at a time; the armored
 *              backup is printed, or written atomically to [backup] dir/NAME and read back
 *   backup import [--file NAME] [--dry-run] [--merge]
 *              UNINITIALIZED: paste or read a backup, give its passphrase or M shares, verify
 *              everything, then set the HSM token up (new PINs), restore and serve (READY).
 *              READY: only with --merge (adds the backup's KEKs and rows to this appliance).
 *
 * The format, the key, the HSM ceremonies and the import's ordered steps are firmware/backup/'s
 * (backup.c, backup_import.c); this file holds the dialogue and the service calls between the
 * steps (svc_token_init, svc_start_serving, the trust reload, the KEK job). Every secret (SO PIN, user PIN, passphrase, shares) is read with con_read_secret
 * into sec_alloc memory and wiped before the handler returns, whatever happened. A refusal
 * always says what was wrong and that nothing was changed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/ops/authz.h"
#include "firmware/backup/backup.h"
#include "firmware/console/con.h"
#include "firmware/svc/kekjob.h"
#include "firmware/svc/svc.h"
#include "hsm/hsm.h"

#define BKC_SHARE_TRIES 5u           /* rejected share lines before the import gives up */
#define BKC_CLEAR_LINES 60           /* blank lines between two custodians */
#define BKC_FILE_MAX ((size_t)512 << 20) /* an armored file of the largest body */
#define BKC_NAME_MAX 100u
static enum svc_state bkc_state(const struct con *c)
{
	return (enum svc_state)atomic_load(&c->svc->state);
}

static cf_err bkc_secret_new(char **p)
{
	return sec_alloc(CON_SECRET_MAX + 1, (void **)p);
}

static void bkc_secret_free(char *p)
{
	if (p != NULL)
		sec_free(p, CON_SECRET_MAX + 1);
}

static void bkc_emit(void *arg, const char *line)
{
	con_printf(arg, "  %s\n", line);
}

static void bkc_counts(struct con *c, const char *lead, const struct bk_counts *n)
{
	con_printf(c, "%s%u KEKs, %u key pairs, %u certificate files, %u objects, %u attributes, "
		      "%u clients, %u console accounts, %u settings\n",
		   lead, n->keks, n->keypairs, n->files, n->objects, n->attributes, n->clients,
		   n->users, n->meta);
}

/* A file name in [backup] dir: letters, digits, '.', '_', '-'; not hidden. */
static bool bkc_name_ok(const char *n)
{
	size_t l = strlen(n);

	if (l == 0 || l > BKC_NAME_MAX || n[0] == '.')
		return false;
	for (size_t i = 0; i < l; i++) {
		char ch = n[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* [backup] dir/NAME for --file; prints why not. */
static cf_err bkc_file_path(struct con *c, const char *cmd, const char *name, char *out, size_t cap)
{
	const char *dir = c->svc->cfg->backup.dir;
	struct stat sb;

	if (dir[0] == '\0') {
		con_printf(c, "%s: no [backup] dir is configured: without --file the backup is "
			      "printed / pasted\n", cmd);
		return CF_E_CONFIG;
	}
	if (!bkc_name_ok(name)) {
		con_printf(c, "%s: --file takes a plain file name in %s (letters, digits, '.', '_', "
			      "'-'; at most %u characters)\n", cmd, dir, BKC_NAME_MAX);
		return CF_E_INVALID_ARG;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		con_printf(c, "%s: the backup directory %s is not there (is the storage mounted?)\n",
			   cmd, dir);
		return CF_E_NOT_FOUND;
	}
	if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap) {
		con_printf(c, "%s: path too long\n", cmd);
		return CF_E_INVALID_ARG;
	}
	return CF_OK;
}

/* A whole file (no symlink) into a malloc'd buffer of at most max bytes. */
static cf_err bkc_read_file(const char *path, size_t max, uint8_t **out, size_t *n)
{
	struct stat sb;
	uint8_t *b = NULL;
	size_t o = 0;
	cf_err rc = CF_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return errno == ENOENT ? CF_E_NOT_FOUND : CF_E_IO;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		rc = CF_E_IO;
	else if ((size_t)sb.st_size > max)
		rc = CF_E_TOO_LARGE;
	else if ((b = malloc((size_t)sb.st_size + 1)) == NULL)
		rc = CF_E_NOMEM;
	while (rc == CF_OK && o < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + o, (size_t)sb.st_size - o);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rc = r == 0 ? CF_E_TRUNCATED : CF_E_IO;
		else
			o += (size_t)r;
	}
	close(fd);
	if (rc != CF_OK) {
		free(b);
		return rc;
	}
	b[o] = '\0';
	*out = b;
	*n = o;
	return CF_OK;
}

/* The `coffre` next to this coffred: it runs the export's HSM helper (hsm/hsm_backup.h). */
static cf_err bkc_helper_path(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash;

	if (n <= 0)
		return CF_E_IO;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return CF_E_IO;
	*slash = '\0';
	if ((size_t)snprintf(out, cap, "%s/coffre", exe) >= cap)
		return CF_E_NO_SPACE;
	return access(out, X_OK) == 0 ? CF_OK : CF_E_NOT_FOUND;
}

/* ---- export ------------------------------------------------------------------------------ */

/* A new passphrase, typed twice, strength enforced (a few attempts). */
static cf_err bkc_pass_new(struct con *c, char *pw, char *again)
{
	struct bk_diag d;
	cf_err rc;

	con_printf(c, "The backup passphrase: at least %u characters with 3 of lower case, upper "
		      "case,\ndigits and symbols (or at least 20 characters). It is not stored "
		      "anywhere:\nwithout it the backup cannot be restored.\n", BK_PASS_MIN);
	for (int tries = 0; tries < 3; tries++) {
		memset(&d, 0, sizeof d);
		if ((rc = con_read_secret(c, "New backup passphrase: ", pw, CON_SECRET_MAX + 1, 0)) != CF_OK)
			return rc;
		if (!bk_pass_check(pw, strlen(pw), &d)) {
			con_printf(c, "%s; try again\n", d.msg);
			continue;
		}
		if ((rc = con_read_secret(c, "Repeat the backup passphrase: ", again, CON_SECRET_MAX + 1,
					  0)) != CF_OK)
			return rc;
		if (strlen(pw) == strlen(again) && ct_memeq(pw, again, strlen(pw)))
			return CF_OK;
		con_printf(c, "the two entries differ; try again\n");
	}
	return CF_E_CANCELLED;
}

static void bkc_clear(struct con *c)
{
	for (int i = 0; i < BKC_CLEAR_LINES; i++)
		con_write(c, "\n", 1);
}

/* Show each share to its custodian, one at a time, the screen cleared in between. */
static cf_err bkc_show_shares(struct con *c, const struct bk_export_out *o)
{
	const struct bk_header *h = &o->hdr;
	char q[160], line[8];
	cf_err rc;

	con_printf(c, "\nThe backup key is split into %u shares; any %u of them restore the "
		      "backup,\nfewer reveal nothing. Each custodian, alone at the console, writes "
		      "down their\nshare (blanks may be added when typing it back; case does not "
		      "matter).\n", h->shares, h->threshold);
	for (unsigned i = 0; i < o->n_shares; i++) {
		(void)snprintf(q, sizeof q, "Custodian %u of %u: are you alone at the console, ready "
			       "to write down share %u?", i + 1, o->n_shares, i + 1);
		if (!con_confirm(c, q))
			return CF_E_CANCELLED;
		con_printf(c, "\n  share %u of %u (any %u restore):\n\n    %s\n\n", i + 1,
			   o->n_shares, h->threshold, o->shares[i]);
		rc = con_readline(c, "Press Enter once it is written down and checked: ", line,
				  sizeof line, 0);
		bkc_clear(c);
		if (rc != CF_OK && rc != CF_E_TOO_LARGE)
			return rc;
	}
	return CF_OK;
}

/* Write the armored text to [backup] dir/NAME atomically, read it back and check it. */
static cf_err bkc_export_file(struct con *c, const char *path, const char *name,
			      const struct bk_export_out *o)
{
	uint8_t *back = NULL, *bin = NULL;
	size_t back_n = 0, bin_n = 0;
	struct bk_header h;
	struct bk_diag d = { { 0 } };
	cf_err rc = bk_write_atomic(c->svc->cfg->backup.dir, name, o->armor, o->armor_n);

	if (rc != CF_OK) {
		con_printf(c, "backup export: cannot write %s (%s); nothing was recorded\n", path,
			   cf_err_str(rc));
		return rc;
	}
	rc = bkc_read_file(path, BKC_FILE_MAX, &back, &back_n);
	if (rc == CF_OK && (back_n != o->armor_n || memcmp(back, o->armor, back_n) != 0))
		rc = CF_E_IO;
	if (rc == CF_OK)
		rc = bk_file_decode(back, back_n, &bin, &bin_n, &d);
	if (rc == CF_OK)
		rc = bk_header_parse(bin, bin_n, &h, &d);
	bk_free(bin, bin_n);
	free(back);
	if (rc != CF_OK) {
		con_printf(c, "backup export: %s does not read back as written (%s%s%s): the storage "
			      "is faulty; nothing was recorded\n", path, cf_err_str(rc),
			   d.msg[0] ? ": " : "", d.msg);
		(void)unlink(path);
		return rc;
	}
	con_printf(c, "written to %s (%zu bytes), read back and checked\n", path, o->armor_n);
	return CF_OK;
}

/* What `backup export` was asked for. */
struct bkc_exp {
	const char *name;            /* --file NAME, or NULL: printed */
	char path[PATH_MAX];         /* [backup] dir/NAME */
	char helper[PATH_MAX];       /* the HSM helper program */
	unsigned m, n;               /* shares: M of N; n == 0: passphrase */
	struct store *st;
};

/* The options: usage, the shares' numbers, the file's path (each refusal printed). */
static cf_err bkc_export_args(struct con *c, int argc, char **argv, struct bkc_exp *x)
{
	bool bad = false;
	const char *n_s = con_opt_take(&argc, argv, "shares", &bad);
	const char *m_s = con_opt_take(&argc, argv, "threshold", &bad);

	x->name = con_opt_take(&argc, argv, "file", &bad);
	if (bad || argc != 0 || (n_s == NULL) != (m_s == NULL)) {
		con_printf(c, "usage: backup export [--shares N --threshold M] [--file NAME]\n");
		return CF_E_INVALID_ARG;
	}
	if (n_s != NULL) {
		char *e1, *e2;
		unsigned long nn = strtoul(n_s, &e1, 10), mm = strtoul(m_s, &e2, 10);

		if (*n_s == '\0' || *e1 != '\0' || *m_s == '\0' || *e2 != '\0' || mm < 2 || nn < mm ||
		    nn > BK_SHARES_MAX) {
			con_printf(c, "backup export: need 2 <= threshold <= shares <= %u\n",
				   BK_SHARES_MAX);
			return CF_E_INVALID_ARG;
		}
		x->n = (unsigned)nn;
		x->m = (unsigned)mm;
	}
	if (x->name != NULL)
		return bkc_file_path(c, "backup export", x->name, x->path, sizeof x->path);
	return CF_OK;
}

/* The HSM logged in with a KEK, the store, the helper program (each refusal printed). */
static cf_err bkc_export_ready(struct con *c, struct bkc_exp *x)
{
	struct svc *svc = c->svc;
	cf_err rc;

	if (svc->hsm == NULL || !hsm_pin_held(svc->hsm) || hsm_kek_current(svc->hsm) == 0) {
		con_printf(c, "backup export: the HSM is not logged in (state %s)\n",
			   svc_state_name(bkc_state(c)));
		return CF_E_STATE;
	}
	if ((x->st = con_store(c)) == NULL) {
		con_printf(c, "backup export: the store cannot be opened\n");
		return CF_E_STORE;
	}
	if ((rc = bkc_helper_path(x->helper, sizeof x->helper)) != CF_OK) {
		con_printf(c, "backup export: the HSM helper program (coffre, next to coffred) is "
			      "missing\n");
		return rc;
	}
	return CF_OK;
}

/* The SO PIN, and the passphrase typed twice (passphrase scheme). CF_E_CANCELLED and the
 * like: the caller says it was cancelled. */
static cf_err bkc_export_secrets(struct con *c, const struct bkc_exp *x, char *so, char *pw,
				 char *pw2)
{
	TRY(con_read_secret(c, "HSM SO PIN: ", so, CON_SECRET_MAX + 1, 0));
	if (strlen(so) == 0 || strlen(so) > HSM_PIN_MAX)
		return CF_E_CANCELLED;
	if (x->n == 0)
		return bkc_pass_new(c, pw, pw2);
	return CF_OK;
}

/* Deliver the backup made (file, shares, or printed), then record and audit it. */
static cf_err bkc_export_deliver(struct con *c, const struct bkc_exp *x,
				 const struct bk_export_out *out)
{
	char detail[160];
	cf_err rc;

	bkc_counts(c, "exported: ", &out->hdr.counts);
	if (x->name != NULL && (rc = bkc_export_file(c, x->path, x->name, out)) != CF_OK)
		return rc;
	if (x->n != 0 && (rc = bkc_show_shares(c, out)) != CF_OK) {
		if (x->name != NULL)
			(void)unlink(x->path); /* useless without all its shares shown */
		con_printf(c, "backup export: cancelled before every share was shown%s; nothing was "
			      "recorded\n", x->name != NULL ? " (the file was removed)" : "");
		return rc;
	}
	if (x->name == NULL) {
		con_printf(c, "Copy everything from the BEGIN line to the END line (each line carries "
			      "its own\nchecksum):\n\n");
		con_write(c, out->armor, out->armor_n);
		con_printf(c, "\n");
	}
	if ((rc = bk_export_record(x->st, &out->hdr)) != CF_OK)
		con_printf(c, "backup export: the backup is complete, but its date could not be "
			      "recorded (%s)\n", cf_err_str(rc));
	else
		con_printf(c, "backup exported (KEK %u current). Keep it offline; rehearse a restore "
			      "with `backup import --dry-run` or `coffre backup verify`.\n",
			   out->hdr.kek_version);
	(void)snprintf(detail, sizeof detail, "KEK %u, %u objects, %s%s%s", out->hdr.kek_version,
		       out->hdr.counts.objects, x->n ? "shares" : "passphrase",
		       x->name ? ", file " : "", x->name ? x->name : "");
	con_audit(c, "backup:export", NULL, CF_OK, detail);
	return CF_OK;
}

static cf_err bkc_export(struct con *c, int argc, char **argv)
{
	struct bkc_exp x;
	char *so = NULL, *pw = NULL, *pw2 = NULL;
	struct bk_export_out out;
	struct bk_diag d = { { 0 } };
	cf_err rc;

	memset(&x, 0, sizeof x);
	memset(&out, 0, sizeof out);
	if ((rc = bkc_export_args(c, argc, argv, &x)) != CF_OK ||
	    (rc = bkc_export_ready(c, &x)) != CF_OK)
		return rc;
	con_printf(c, "backup export: every KEK version and the CA and TLS server key pairs, "
		      "wrapped in the\nHSM under a one-time trusted key (this needs the HSM SO PIN), "
		      "the certificates,\nand every object, client, console account and setting. "
		      "Protection: %s.\nCtrl-C cancels.\n",
		   x.n ? "shares" : "a passphrase");
	if ((rc = bkc_secret_new(&so)) != CF_OK || (rc = bkc_secret_new(&pw)) != CF_OK ||
	    (rc = bkc_secret_new(&pw2)) != CF_OK) {
		con_printf(c, "backup export: no locked memory for the secrets\n");
		goto out;
	}
	if ((rc = bkc_export_secrets(c, &x, so, pw, pw2)) != CF_OK) {
		con_printf(c, "backup export: cancelled; nothing was exported\n");
		goto out;
	}
	struct bk_export_in in = {
		.h = c->svc->hsm, .st = x.st, .cfg = c->svc->cfg, .helper = x.helper,
		.so_pin = (const uint8_t *)so, .so_n = strlen(so),
		.scheme = x.n ? BK_SCHEME_SHARES : BK_SCHEME_PASSPHRASE,
		.pass = pw, .pass_n = strlen(pw), .m = x.m, .n = x.n, .now = con_now(c),
	};
	con_printf(c, "exporting (the HSM wraps the keys%s)...\n",
		   x.n ? "" : "; the passphrase is stretched with Argon2id");
	if ((rc = bk_export(&in, &out, &d)) != CF_OK) {
		con_printf(c, "backup export: %s; nothing was recorded\n", d.msg);
		goto out;
	}
	sec_wipe(so, CON_SECRET_MAX + 1);
	sec_wipe(pw, CON_SECRET_MAX + 1);
	rc = bkc_export_deliver(c, &x, &out);
out:
	bk_export_out_free(&out);
	bkc_secret_free(so);
	bkc_secret_free(pw);
	bkc_secret_free(pw2);
	return rc;
}

/* ---- import ------------------------------------------------------------------------------ */

/* Read the M shares, each checked as it is typed. sh: sec_alloc'd BK_SHARES_MAX entries. */
static cf_err bkc_read_shares(struct con *c, const struct bk_header *h, struct bk_share *sh,
			      size_t *count)
{
	char *line = NULL, prompt[48];
	struct bk_share one;
	unsigned rejected = 0;
	cf_err rc;

	*count = 0;
	TRY(bkc_secret_new(&line));
	con_printf(c, "This backup needs %u of its %u shares (set %02X%02X%02X%02X). Each custodian "
		      "types\ntheir share (not echoed); an empty line cancels.\n", h->threshold,
		   h->shares, h->set_id[0], h->set_id[1], h->set_id[2], h->set_id[3]);
	while (*count < h->threshold) {
		struct bk_diag d = { { 0 } };
		bool dup = false;

		(void)snprintf(prompt, sizeof prompt, "Share %zu of %u: ", *count + 1, h->threshold);
		if ((rc = con_read_secret(c, prompt, line, CON_SECRET_MAX + 1, 0)) != CF_OK)
			goto out;
		if (line[0] == '\0') {
			rc = CF_E_CANCELLED;
			goto out;
		}
		rc = bk_share_parse(line, &one, &d);
		sec_wipe(line, CON_SECRET_MAX + 1);
		if (rc != CF_OK) {
			con_printf(c, "share not accepted: %s\n", d.msg);
		} else if (memcmp(one.set_id, h->set_id, BK_SETID_LEN) != 0 || one.m != h->threshold ||
			   one.n != h->shares) {
			con_printf(c, "share not accepted: it belongs to another backup (set "
				      "%02X%02X%02X%02X, %u of %u)\n", one.set_id[0], one.set_id[1],
				   one.set_id[2], one.set_id[3], one.m, one.n);
			rc = CF_E_BAD_VALUE;
		} else {
			for (size_t i = 0; i < *count; i++)
				dup = dup || sh[i].index == one.index;
			if (dup) {
				con_printf(c, "share not accepted: share number %u was given already\n",
					   one.index);
				rc = CF_E_DUPLICATE;
			}
		}
		if (rc != CF_OK) {
			sec_wipe(&one, sizeof one);
			if (++rejected >= BKC_SHARE_TRIES) {
				con_printf(c, "%u shares rejected\n", rejected);
				goto out;
			}
			con_printf(c, "type it again, or another custodian's share (an empty line "
				      "cancels)\n");
			continue;
		}
		sh[(*count)++] = one;
		sec_wipe(&one, sizeof one);
		if (*count < h->threshold)
			con_printf(c, "share %u accepted; %zu more needed\n", sh[*count - 1].index,
				   h->threshold - *count);
	}
	rc = CF_OK;
out:
	bkc_secret_free(line);
	return rc;
}

/* How an import ended, for its last line. */
enum bkc_end {
	BKC_END_QUIET = 0,           /* done, or the step printed why already */
	BKC_END_REFUSED,             /* "refused: <d.msg>; nothing was changed" */
	BKC_END_CANCELLED,           /* "cancelled; nothing was changed" */
};

/* One `backup import`: what was read, the secret, the verified backup, the outcome. */
struct bkc_imp {
	enum svc_state state;
	enum bk_import_kind kind;
	bool dry, merge;
	uint8_t *text;
	size_t text_n;
	char *pw;                    /* sec_alloc'd: the passphrase */
	struct bk_share *sh;         /* sec_alloc'd BK_SHARES_MAX: the shares */
	struct bk_header h;
	struct bk_secret sec;
	struct bk_opened o;
	struct bk_counts loaded;
	struct bk_diag d;
	enum bkc_end end;
};

/* The options and the state (each refusal printed). */
static cf_err bkc_import_args(struct con *c, int argc, char **argv, struct bkc_imp *x,
			      const char **name)
{
	bool bad = false;

	*name = con_opt_take(&argc, argv, "file", &bad);
	x->dry = con_flag_take(&argc, argv, "dry-run");
	x->merge = con_flag_take(&argc, argv, "merge");
	if (bad || argc != 0) {
		con_printf(c, "usage: backup import [--file NAME] [--dry-run] [--merge]\n");
		return CF_E_INVALID_ARG;
	}
	x->state = bkc_state(c);
	if (bk_import_plan(x->state, x->merge, &x->kind) == CF_OK)
		return CF_OK;
	if (x->kind == BK_IMPORT_MERGE_UNINIT)
		con_printf(c, "backup import: --merge adds a backup to a READY appliance; this one is "
			      "UNINITIALIZED: import without --merge\n");
	else
		con_printf(c, "backup import: this appliance is %s: a backup is restored onto an "
			      "UNINITIALIZED\nappliance (zeroize first), or added to a READY one with "
			      "--merge\n", svc_state_name(x->state));
	return CF_E_STATE;
}

/* The backup's text: [backup] dir/NAME, or pasted (each failure printed). */
static cf_err bkc_import_text(struct con *c, const char *name, struct bkc_imp *x)
{
	char path[PATH_MAX], *t = NULL;
	cf_err rc;

	if (name != NULL) {
		if ((rc = bkc_file_path(c, "backup import", name, path, sizeof path)) != CF_OK)
			return rc;
		if ((rc = bkc_read_file(path, BKC_FILE_MAX, &x->text, &x->text_n)) != CF_OK)
			con_printf(c, "backup import: cannot read %s (%s)\n", path, cf_err_str(rc));
		return rc;
	}
	con_printf(c, "Paste the backup, from its \"%s\" line to its \"%s\" line\n"
		      "(Ctrl-C cancels):\n", BK_ARMOR_BEGIN, BK_ARMOR_END);
	rc = con_read_paste(c, "", BK_ARMOR_BEGIN, BK_ARMOR_END, CON_PASTE_MAX, &t, &x->text_n);
	if (rc != CF_OK) {
		con_printf(c, "backup import: %s; nothing was changed\n",
			   rc == CF_E_TOO_LARGE ? "the paste is too large" : "no backup read");
		return rc;
	}
	x->text = (uint8_t *)t;
	return CF_OK;
}

/* The passphrase or the M shares the header asks for. */
static cf_err bkc_import_secret(struct con *c, struct bkc_imp *x)
{
	size_t n_sh = 0;
	cf_err rc;

	if (x->h.scheme == BK_SCHEME_PASSPHRASE) {
		TRY(bkc_secret_new(&x->pw));
		if ((rc = con_read_secret(c, "Backup passphrase: ", x->pw, CON_SECRET_MAX + 1, 0)) !=
			    CF_OK || x->pw[0] == '\0') {
			x->end = BKC_END_CANCELLED;
			return CF_E_CANCELLED;
		}
		x->sec.pass = x->pw;
		x->sec.pass_n = strlen(x->pw);
		return CF_OK;
	}
	TRY(sec_alloc(sizeof *x->sh * BK_SHARES_MAX, (void **)&x->sh));
	if ((rc = bkc_read_shares(c, &x->h, x->sh, &n_sh)) != CF_OK) {
		if (rc == CF_E_CANCELLED || rc == CF_E_CLOSED || rc == CF_E_TIMEOUT) {
			x->end = BKC_END_CANCELLED;
			return rc;
		}
		(void)snprintf(x->d.msg, sizeof x->d.msg, "too many shares were not accepted");
		x->end = BKC_END_REFUSED;
		return rc;
	}
	x->sec.shares = x->sh;
	x->sec.n_shares = n_sh;
	return CF_OK;
}

/* The header first (a newer format, a truncated or damaged armor is named before any secret
 * is asked for), then the secret, then everything verified. */
static cf_err bkc_import_open(struct con *c, struct bkc_imp *x)
{
	cf_err rc;

	if ((rc = bk_import_header(x->text, x->text_n, &x->h, &x->d)) != CF_OK) {
		x->end = BKC_END_REFUSED;
		return rc;
	}
	con_printf(c, "backup:\n");
	bk_header_describe(&x->h, bkc_emit, c);
	TRY(bkc_import_secret(c, x));
	con_printf(c, "verifying (key, authentication, contents)...\n");
	if ((rc = bk_verify(x->text, x->text_n, &x->sec, &x->o, &x->d)) != CF_OK) {
		x->end = BKC_END_REFUSED;
		return rc;
	}
	bkc_counts(c, "verified: ", &x->o.hdr.counts);
	return CF_OK;
}

static cf_err bkc_import_dry(struct con *c, struct bkc_imp *x)
{
	struct svc *svc = c->svc;
	cf_err rc;

	if (!bk_import_can_unwrap(svc->hsm)) {
		con_printf(c, "dry run: the backup and its secret are good. The HSM unwraps are "
			      "not tried:\nthis appliance's token is not set up yet (a real "
			      "import tries them all\nbefore it writes anything). Nothing was "
			      "changed.\n");
		return CF_OK;
	}
	rc = bk_import_dry_run(svc->hsm, con_store(c), svc->cfg, &x->o, x->merge, &x->loaded,
			       &x->d);
	if (rc != CF_OK) {
		x->end = BKC_END_REFUSED;
		return rc;
	}
	bkc_counts(c, "dry run: every key unwraps in this HSM; would restore: ", &x->loaded);
	if (x->merge && x->loaded.kek_present > 0)
		con_printf(c, "dry run: but the merge itself would be refused: %s (%u of the "
			      "backup's KEK versions are on this HSM; a merge adds only KEK "
			      "versions this appliance does not have)\n", x->d.msg,
			   (unsigned)x->loaded.kek_present);
	con_printf(c, "dry run: nothing was changed\n");
	return CF_OK;
}

/* READY --merge: confirm, add, reload the clients, make the highest KEK current, kick the
 * re-wrap job. *made_current: the KEK made current, or 0. */
static cf_err bkc_import_merge(struct con *c, struct bkc_imp *x, uint32_t *made_current)
{
	struct svc *svc = c->svc;
	cf_err rc;

	if (!con_confirm(c, "Add this backup's KEKs, objects, clients and accounts to this "
			    "appliance?")) {
		x->end = BKC_END_CANCELLED;
		return CF_E_CANCELLED;
	}
	x->end = BKC_END_REFUSED;
	TRY(bk_import_merge(svc->hsm, con_store(c), svc->cfg, &x->o, &x->loaded, &x->d));
	/* the merged clients (pins, revocations) reach the TLS layer and authz now */
	if ((rc = authz_trust_reload(c->svc->authz, con_store(c))) != CF_OK) {
		(void)snprintf(x->d.msg, sizeof x->d.msg, "restored, but the client table could not "
			       "be reloaded (%s): restart the appliance", cf_err_str(rc));
		return rc;
	}
	x->end = BKC_END_QUIET;
	bkc_counts(c, "restored: ", &x->loaded);
	if (bk_import_kek_current(svc->hsm, &x->loaded, made_current) == CF_OK && *made_current)
		con_printf(c, "KEK %u from the backup is now the current KEK (the highest "
			      "version on the HSM is current); `kek rotate` makes a new one\n",
			   (unsigned)*made_current);
	kek_job_kick(svc->kekjob); /* the added objects move under the current KEK */
	return CF_OK;
}

/* The token's PINs for a fresh restore: its current SO PIN (exists) or a new one, a new user
 * PIN, and the operator's go-ahead. */
static cf_err bkc_fresh_pins(struct con *c, bool exists, char *so, char *so2, char *user,
			     char *user2)
{
	if (exists) {
		TRY(con_read_secret(c, "Current HSM SO PIN: ", so, CON_SECRET_MAX + 1, 0));
		if (strlen(so) == 0 || strlen(so) > HSM_PIN_MAX)
			return CF_E_CANCELLED;
	} else {
		TRY(con_pin_new(c, "HSM SO PIN", so, so2));
	}
	TRY(con_pin_new(c, "HSM user PIN", user, user2));
	if (!exists && strlen(so) == strlen(user) && ct_memeq(so, user, strlen(so))) {
		con_printf(c, "the user PIN must differ from the SO PIN\n");
		return CF_E_CANCELLED;
	}
	if (!con_confirm(c, exists ? "Wipe and re-initialise the HSM token and restore the backup?"
				   : "Initialise the HSM token and restore the backup?"))
		return CF_E_CANCELLED;
	return CF_OK;
}

/* svc_token_init (under the service's control lock: meta appliance.state = uninitialized,
 * the token (re-)initialised, svc->hsm opened and logged in), the restore, then serving. */
static cf_err bkc_fresh_run(struct con *c, bool exists, const char *so, const char *user,
			    struct bkc_imp *x)
{
	struct svc *svc = c->svc;
	struct svc_init_req req;
	cf_err rc;

	con_printf(c, "initialising the token...\n");
	memset(&req, 0, sizeof req);
	req.so_pin = (const uint8_t *)so;
	req.so_n = strlen(so);
	if (exists) {
		req.cur_so_pin = (const uint8_t *)so;
		req.cur_so_n = strlen(so);
	}
	req.user_pin = (const uint8_t *)user;
	req.user_n = strlen(user);
	if ((rc = svc_token_init(svc, &req)) != CF_OK) {
		(void)snprintf(x->d.msg, sizeof x->d.msg, "%s",
			       rc == CF_E_HSM_PIN ? "the current SO PIN is wrong; the token was not "
						    "changed"
			       : rc == CF_E_HSM_LOCKED ? "the SO PIN is locked on the token"
						       : "the token could not be initialised");
		return rc;
	}
	con_printf(c, "restoring (every key is unwrapped once in session objects first)...\n");
	TRY(bk_import_fresh(svc->hsm, con_store(c), svc->cfg, &x->o, &x->loaded, &x->d));
	if ((rc = svc_start_serving(svc, user, strlen(user))) != CF_OK)
		(void)snprintf(x->d.msg, sizeof x->d.msg, "restored, but the appliance did not start "
			       "serving (state %s%s%.100s)", svc_state_name(bkc_state(c)),
			       svc->error[0] ? ": " : "", svc->error);
	return rc;
}

/* UNINITIALIZED: set the token up with new PINs, restore into it, serve. The backup is
 * verified already; the restore unwraps everything into session objects before it creates
 * anything on the token or in the store. */
static cf_err bkc_restore_fresh(struct con *c, struct bkc_imp *x)
{
	const struct config *cfg = c->svc->cfg;
	char label[HSM_LABEL_MAX + 1];
	char *so = NULL, *so2 = NULL, *user = NULL, *user2 = NULL;
	bool exists = false;
	cf_err rc;

	if ((rc = svc_token_label(cfg, label)) != CF_OK) {
		con_printf(c, "backup import: [hsm] token must be a label or a pkcs11: URI with "
			      "token=\n");
		return rc;
	}
	if ((rc = svc_token_probe(c->svc, &exists)) != CF_OK) {
		con_printf(c, "backup import: the HSM (module %s) cannot be used: %s\n", cfg->hsm.module,
			   cf_err_str(rc));
		return rc;
	}
	if (con_store(c) == NULL) {
		con_printf(c, "backup import: the store cannot be opened\n");
		return CF_E_STORE;
	}
	if ((rc = bkc_secret_new(&so)) != CF_OK || (rc = bkc_secret_new(&so2)) != CF_OK ||
	    (rc = bkc_secret_new(&user)) != CF_OK || (rc = bkc_secret_new(&user2)) != CF_OK) {
		con_printf(c, "backup import: no locked memory for the PINs\n");
		goto out;
	}
	con_printf(c, "\nThe HSM token \"%s\" is %s with PINs chosen now (HSM PINs have at least "
		      "%u\ncharacters), then the backup is restored into it.\n", label,
		   exists ? "RE-INITIALISED (wiped; its current SO PIN stays the SO PIN)"
			  : "initialised", CON_PIN_MIN);
	if ((rc = bkc_fresh_pins(c, exists, so, so2, user, user2)) == CF_OK)
		rc = bkc_fresh_run(c, exists, so, user, x);
out:
	if (rc == CF_E_CANCELLED && x->d.msg[0] == '\0')
		(void)snprintf(x->d.msg, sizeof x->d.msg, "cancelled");
	bkc_secret_free(so);
	bkc_secret_free(so2);
	bkc_secret_free(user);
	bkc_secret_free(user2);
	return rc;
}

/* The audit record of a completed import. */
static void bkc_import_audit(struct con *c, const struct bkc_imp *x, uint32_t made_current)
{
	char detail[160];

	(void)snprintf(detail, sizeof detail, "appliance %.36s, KEK %u, %u objects%s",
		       x->o.hdr.appliance_id, x->o.hdr.kek_version, x->loaded.objects,
		       x->merge ? ", merge" : "");
	if (made_current != 0) /* the audit says when a merge changed the current KEK */
		(void)snprintf(detail + strlen(detail), sizeof detail - strlen(detail),
			       ", KEK %u current", (unsigned)made_current);
	con_audit(c, "backup:import", NULL, CF_OK, detail);
}

static cf_err bkc_import(struct con *c, int argc, char **argv)
{
	struct bkc_imp x;
	const char *name = NULL;
	uint32_t made_current = 0;
	cf_err rc;

	memset(&x, 0, sizeof x);
	if ((rc = bkc_import_args(c, argc, argv, &x, &name)) != CF_OK ||
	    (rc = bkc_import_text(c, name, &x)) != CF_OK)
		return rc;
	rc = bkc_import_open(c, &x);
	if (rc == CF_OK && x.dry) {
		rc = bkc_import_dry(c, &x);
	} else if (rc == CF_OK && x.kind == BK_IMPORT_FRESH) {
		if ((rc = bkc_restore_fresh(c, &x)) != CF_OK) {
			con_printf(c, "backup import: %s; the appliance stays %s\n",
				   x.d.msg[0] ? x.d.msg : cf_err_str(rc), svc_state_name(bkc_state(c)));
		} else {
			bkc_counts(c, "restored: ", &x.loaded);
			con_printf(c, "The appliance is READY and serves KMIP with the backup's "
				      "certificate and keys.\nLog in with an account from the backup.\n");
		}
	} else if (rc == CF_OK) {
		rc = bkc_import_merge(c, &x, &made_current);
	}
	if (rc == CF_OK && !x.dry)
		bkc_import_audit(c, &x, made_current);
	if (x.end == BKC_END_REFUSED)
		con_printf(c, "backup import: refused: %s; nothing was changed\n",
			   x.d.msg[0] ? x.d.msg : cf_err_str(rc));
	else if (x.end == BKC_END_CANCELLED)
		con_printf(c, "backup import: cancelled; nothing was changed\n");
	bk_opened_free(&x.o);
	bk_free(x.text, x.text_n);
	if (x.sh != NULL)
		sec_free(x.sh, sizeof *x.sh * BK_SHARES_MAX);
	bkc_secret_free(x.pw);
	return rc;
}

/* ---- the table --------------------------------------------------------------------------- */

const struct con_cmd con_cmds_backup[] = {
	{ "backup export", 0, 6, CON_F_AUTH | CON_F_HSM | CON_F_DUAL,
	  "backup export [--shares N --threshold M] [--file NAME]",
	  "Export an encrypted backup of every key: the KEKs and the CA and TLS server key pairs\n"
	  "(wrapped inside the HSM: asks for the HSM SO PIN), the certificates, and every\n"
	  "object, client, console account and setting. Protected by a passphrase typed twice,\n"
	  "or split into N shares of which any M restore it (--shares N --threshold M; each\n"
	  "share is shown to its custodian alone). Printed as armored text, or written to\n"
	  "[backup] dir/NAME with --file (atomically, then read back). May need a second\n"
	  "administrator ([console] dual_control).",
	  bkc_export },
	{ "backup import", 0, 4, CON_F_UNINIT | CON_F_AUTH | CON_F_DUAL,
	  "backup import [--file NAME] [--dry-run] [--merge]",
	  "Restore a backup: pasted (BEGIN to END line) or read from [backup] dir/NAME; asks for\n"
	  "its passphrase or M shares and verifies everything before changing anything.\n"
	  "UNINITIALIZED: initialises the HSM token with new PINs, restores the keys,\n"
	  "certificates, objects, clients and accounts, and serves KMIP (READY).\n"
	  "READY: only with --merge (adds the backup's KEKs and rows; existing ones are kept).\n"
	  "--dry-run: verify and report what would be restored; nothing is changed.",
	  bkc_import },
	{ 0 },
};
