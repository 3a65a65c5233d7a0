/* coffre: operator / QA command line. Reuses kmip/, board/, hsm/ (backup helper) and the backup format.
 *
 *   coffre help
 *   coffre ttlv decode [--show-secrets] [HEX | -]
 *   coffre provision --qa DIR [--port PORT] [--clients N] [--server-key ec|ec-p384|rsa]   (execs coffred)
 *
 * Exit status: 0 success, 2 malformed input (one line on stderr), 64 usage error. To add a
 * subcommand, add a row to `commands` below. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "board/err.h"
#include "board/hex.h"
#include "board/sec.h"
#include "firmware/backup/backup.h"
#include "hsm/hsm_backup.h"
#include "kmip/kmip_dump.h"
#include "kmip/ttlv.h"

#define EXIT_DATA 2
#define EXIT_USAGE 64
#define STDIN_MAX ((size_t)64 << 20)   /* hex text read from stdin */

static int cmd_help(int argc, char **argv);
static int cmd_ttlv(int argc, char **argv);
static int cmd_provision(int argc, char **argv);
static int cmd_backup(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "help", cmd_help, "help                                    this text" },
	{ "ttlv", cmd_ttlv, "ttlv decode [--show-secrets] [HEX | -]  print a TTLV message as a tree\n"
			    "                                        (hex from the argument, or stdin)" },
	{ "provision", cmd_provision,
	  "provision --qa DIR [--port PORT] [--clients N] [--server-key ec|ec-p384|rsa] [--user NAME]\n"
	  "                                        create a QA instance (runs the coffred next to coffre)" },
	{ "backup", cmd_backup,
	  "backup inspect FILE                     a backup's header and counts (no secret needed)\n"
	  "  coffre backup verify FILE                      check a backup's integrity with its passphrase\n"
	  "                                        (asked on the terminal) or --shares (M lines)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: coffre COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  coffre %s\n", commands[i].help);
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

/* Hex text (whitespace anywhere) -> bytes in a fresh buffer *out of *n bytes. On bad hex,
 * *bad = offset of the offending character (or the text length for an odd digit count). */
static cf_err hex_text_decode(const char *s, size_t len, uint8_t **out, size_t *n, size_t *bad)
{
	uint8_t *b;
	size_t k = 0;
	int hi = -1;

	*out = NULL;
	*n = 0;
	*bad = 0;
	b = malloc(len / 2 + 1);
	if (b == NULL)
		return CF_E_NOMEM;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		int v;

		if (isspace(c))
			continue;
		v = hex_digit(c);
		if (v < 0) {
			*bad = i;
			sec_freezero(b, len / 2 + 1);
			return CF_E_BAD_HEX;
		}
		if (hi < 0) {
			hi = v;
		} else {
			b[k++] = (uint8_t)((hi << 4) | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		*bad = len;
		sec_freezero(b, len / 2 + 1);
		return CF_E_BAD_HEX;
	}
	*out = b;
	*n = k;
	return CF_OK;
}

static cf_err read_all(FILE *f, char **out, size_t *n)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);

	*out = NULL;
	*n = 0;
	if (b == NULL)
		return CF_E_NOMEM;
	for (;;) {
		size_t k = fread(b + len, 1, cap - len, f);

		len += k;
		if (k == 0)
			break;
		if (len == cap) {
			char *nb;

			if (cap >= STDIN_MAX) {
				free(b);
				return CF_E_TOO_LARGE;
			}
			nb = realloc(b, cap * 2);
			if (nb == NULL) {
				free(b);
				return CF_E_NOMEM;
			}
			b = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(b);
		return CF_E_IO;
	}
	*out = b;
	*n = len;
	return CF_OK;
}

static int ttlv_decode_usage(void)
{
	fprintf(stderr, "usage: coffre ttlv decode [--show-secrets] [HEX | -]\n");
	return EXIT_USAGE;
}

static int ttlv_decode(int argc, char **argv)
{
	struct kmip_dump_opts o = { .show_secrets = false };
	const char *arg = NULL;
	char *text = NULL, *tree = NULL;
	size_t text_len = 0, tree_len = 0, n = 0, bad = 0;
	uint8_t *msg = NULL;
	FILE *mem = NULL;
	struct kmip_dump_err derr;
	char line[256];
	int ret = EXIT_DATA;
	cf_err rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--show-secrets") == 0)
			o.show_secrets = true;
		else if (strcmp(argv[i], "-") != 0 && argv[i][0] == '-' && argv[i][1] == '-')
			return ttlv_decode_usage();
		else if (arg == NULL)
			arg = argv[i];
		else
			return ttlv_decode_usage();
	}
	if (arg == NULL || strcmp(arg, "-") == 0) {
		rc = read_all(stdin, &text, &text_len);
		if (rc != CF_OK) {
			fprintf(stderr, "coffre: ttlv decode: cannot read stdin: %s\n", cf_err_str(rc));
			goto out;
		}
		rc = hex_text_decode(text, text_len, &msg, &n, &bad);
	} else {
		rc = hex_text_decode(arg, strlen(arg), &msg, &n, &bad);
	}
	if (rc == CF_E_BAD_HEX) {
		fprintf(stderr, "coffre: ttlv decode: bad hex at character %zu\n", bad);
		goto out;
	}
	if (rc != CF_OK) {
		fprintf(stderr, "coffre: ttlv decode: %s\n", cf_err_str(rc));
		goto out;
	}
	if (n == 0) {
		fprintf(stderr, "coffre: ttlv decode: empty input\n");
		goto out;
	}
	/* Into memory first: on malformed input only the one error line is printed. */
	mem = open_memstream(&tree, &tree_len);
	if (mem == NULL) {
		fprintf(stderr, "coffre: ttlv decode: %s\n", strerror(errno));
		goto out;
	}
	rc = kmip_dump_file(msg, n, &o, mem, &derr);
	if (fclose(mem) != 0 && rc == CF_OK)
		rc = CF_E_IO;
	mem = NULL;
	if (rc != CF_OK) {
		if (derr.rc != CF_OK) {
			(void)kmip_dump_err_str(&derr, line, sizeof line);
			fprintf(stderr, "coffre: ttlv decode: %s\n", line);
		} else {
			fprintf(stderr, "coffre: ttlv decode: %s\n", cf_err_str(rc));
		}
		goto out;
	}
	if (fwrite(tree, 1, tree_len, stdout) != tree_len || fflush(stdout) != 0) {
		fprintf(stderr, "coffre: ttlv decode: write error\n");
		ret = 1;
		goto out;
	}
	ret = 0;
out:
	if (tree != NULL)
		sec_freezero(tree, tree_len);
	if (msg != NULL)
		sec_freezero(msg, n);
	if (text != NULL)
		sec_freezero(text, text_len);
	return ret;
}

static int cmd_ttlv(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "decode") == 0)
		return ttlv_decode(argc - 1, argv + 1);
	fprintf(stderr, "usage: coffre ttlv decode [--show-secrets] [HEX | -]\n");
	return EXIT_USAGE;
}

/* `coffre provision ...` execs the coffred that sits next to this binary with the same
 * arguments: provisioning needs the HSM and the CA, which live in firmware/ (tools/ never
 * links firmware). */
static int cmd_provision(int argc, char **argv)
{
	char self[4096], path[4096 + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;
	char **args;

	if (n <= 0) {
		fprintf(stderr, "coffre: provision: cannot find my own path: %s\n", strerror(errno));
		return 1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return 1;
	*slash = '\0';
	if ((size_t)snprintf(path, sizeof path, "%s/coffred", self) >= sizeof path)
		return 1;
	args = calloc((size_t)argc + 2, sizeof *args);
	if (args == NULL)
		return 1;
	args[0] = path;
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i]; /* argv[0] is "provision" */
	execv(path, args);
	fprintf(stderr, "coffre: provision: cannot run %s: %s\n", path, strerror(errno));
	free(args);
	return 1;
}

/* ---- backup inspect / verify (firmware/backup/backup_fmt.c) ---------------------------------- */

static int bk_read_file(const char *path, uint8_t **out, size_t *n)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	*n = 0;
	if (f == NULL) {
		fprintf(stderr, "coffre: cannot open %s: %s\n", path, strerror(errno));
		return EXIT_DATA;
	}
	size_t cap = 1u << 16, o = 0;
	uint8_t *b = malloc(cap);
	while (b != NULL) {
		size_t r = fread(b + o, 1, cap - o, f);
		o += r;
		if (r == 0)
			break;
		if (o == cap) {
			if (cap >= BK_FILE_MAX * 2u) {
				free(b);
				b = NULL;
				break;
			}
			uint8_t *nb = realloc(b, cap * 2);
			if (nb == NULL) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b == NULL) {
		fprintf(stderr, "coffre: %s: too large or out of memory\n", path);
		return EXIT_DATA;
	}
	*out = b;
	*n = o;
	return 0;
}

static void bk_emit(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

/* a line from the terminal without echo when stdin is a terminal */
static bool bk_secret_line(const char *prompt, char *buf, size_t cap)
{
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	struct termios old, noecho;
	bool tty = tcgetattr(0, &old) == 0;
	if (tty) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(0, TCSAFLUSH, &noecho);
	}
	bool ok = fgets(buf, (int)cap, stdin) != NULL;
	if (tty) {
		(void)tcsetattr(0, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (ok)
		buf[strcspn(buf, "\r\n")] = '\0';
	return ok;
}

static int cmd_backup(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "hsm-helper") == 0)
		return hsm_bk_helper_main(); /* exec'd by the service for the export ceremony */
	if (argc != 3 || (strcmp(argv[1], "inspect") != 0 && strcmp(argv[1], "verify") != 0)) {
		fprintf(stderr, "usage: coffre backup inspect|verify FILE\n");
		return EXIT_USAGE;
	}
	uint8_t *raw = NULL, *file = NULL;
	size_t raw_n = 0, file_n = 0;
	int ec = bk_read_file(argv[2], &raw, &raw_n);
	if (ec != 0)
		return ec;
	struct bk_diag d = { "" };
	struct bk_header h;
	cf_err rc = bk_file_decode(raw, raw_n, &file, &file_n, &d);
	if (rc == CF_OK)
		rc = bk_header_parse(file, file_n, &h, &d);
	if (rc != CF_OK) {
		fprintf(stderr, "coffre: %s: %s\n", argv[2], d.msg[0] ? d.msg : cf_err_name(rc));
		free(raw);
		free(file);
		return EXIT_DATA;
	}
	if (strcmp(argv[1], "inspect") == 0) {
		bk_header_describe(&h, bk_emit, NULL);
		free(raw);
		free(file);
		return 0;
	}
	char *pw = NULL;
	struct bk_share *sh = NULL;
	size_t nsh = 0;
	if (sec_alloc(1024, (void **)&pw) != CF_OK ||
	    sec_alloc(sizeof *sh * BK_SHARES_MAX, (void **)&sh) != CF_OK)
		return EXIT_DATA;
	struct bk_secret sec = { 0 };
	if (h.scheme == BK_SCHEME_PASSPHRASE) {
		if (!bk_secret_line("Backup passphrase: ", pw, 1024))
			goto bad;
		sec.pass = pw;
		sec.pass_n = strlen(pw);
	} else {
		for (nsh = 0; nsh < h.threshold; nsh++) {
			char prompt[64];
			snprintf(prompt, sizeof prompt, "Share %zu of %u: ", nsh + 1, h.threshold);
			if (!bk_secret_line(prompt, pw, 1024))
				goto bad;
			if (bk_share_parse(pw, &sh[nsh], &d) != CF_OK) {
				fprintf(stderr, "coffre: %s\n", d.msg);
				goto bad;
			}
		}
		sec.shares = sh;
		sec.n_shares = nsh;
	}
	/* verify = open + walk + counts (bk_verify without the HSM/store parts) */
	uint8_t key[BK_KEY_LEN], *body = NULL;
	size_t body_n = 0;
	rc = h.scheme == BK_SCHEME_PASSPHRASE ? bk_key_from_pass(&h, sec.pass, sec.pass_n, key)
					      : bk_shares_combine(&h, sh, nsh, key, &d);
	if (rc == CF_OK)
		rc = bk_open(file, file_n, &h, key, &body, &body_n, &d);
	sec_wipe(key, sizeof key);
	struct bk_counts c;
	uint32_t schema = 0;
	if (rc == CF_OK)
		rc = bk_body_walk(body, body_n, NULL, NULL, &c, &schema, &d);
	if (rc == CF_OK && !bk_counts_equal(&c, &h.counts)) {
		snprintf(d.msg, sizeof d.msg, "contents do not match the header's counts");
		rc = CF_E_BAD_VALUE;
	}
	bk_free(body, body_n);
	if (rc != CF_OK) {
		fprintf(stderr, "coffre: %s: %s\n", argv[2], d.msg[0] ? d.msg : cf_err_name(rc));
		goto bad;
	}
	printf("backup OK: %u KEKs, %u key pairs, %u objects, %u attributes, %u clients, "
	       "%u console accounts (store schema %u)\n", c.keks, c.keypairs, c.objects,
	       c.attributes, c.clients, c.users, schema);
	sec_free(pw, 1024);
	sec_free(sh, sizeof *sh * BK_SHARES_MAX);
	free(raw);
	free(file);
	return 0;
bad:
	sec_free(pw, 1024);
	sec_free(sh, sizeof *sh * BK_SHARES_MAX);
	free(raw);
	free(file);
	return EXIT_DATA;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	fprintf(stderr, "coffre: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
