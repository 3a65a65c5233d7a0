/* coffre: operator / QA command line. Reuses kmip/ and board/ only (STYLE 2.1).
 *
 *   coffre help
 *   coffre ttlv decode [--show-secrets] [HEX | -]
 *   coffre provision --qa DIR [--port PORT] [--clients N] [--server-key ec|rsa]   (execs coffred)
 *
 * Exit status: 0 success, 2 malformed input (one line on stderr), 64 usage error. To add a
 * subcommand, add a row to `commands` below. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/err.h"
#include "board/sec.h"
#include "kmip/kmip_dump.h"
#include "kmip/ttlv.h"

#define EXIT_DATA 2
#define EXIT_USAGE 64
#define STDIN_MAX ((size_t)64 << 20)   /* hex text read from stdin */

static int cmd_help(int argc, char **argv);
static int cmd_ttlv(int argc, char **argv);
static int cmd_provision(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "help", cmd_help, "help                                    this text" },
	{ "ttlv", cmd_ttlv, "ttlv decode [--show-secrets] [HEX | -]  print a TTLV message as a tree\n"
			    "                                        (hex from the argument, or stdin)" },
	{ "provision", cmd_provision,
	  "provision --qa DIR [--port PORT] [--clients N] [--server-key ec|rsa]\n"
	  "                                        create a QA instance (runs the coffred next to coffre)" },
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

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex text (whitespace anywhere) -> bytes in a fresh buffer *out of *n bytes. On bad hex,
 * *bad = offset of the offending character (or the text length for an odd digit count). */
static cf_err hex_decode(const char *s, size_t len, uint8_t **out, size_t *n, size_t *bad)
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
		v = hexval(c);
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
		rc = hex_decode(text, text_len, &msg, &n, &bad);
	} else {
		rc = hex_decode(arg, strlen(arg), &msg, &n, &bad);
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
