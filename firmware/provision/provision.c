/* Provisioning (docs/architecture.md "Contracts"), non-interactive:
 *
 *   coffred provision --qa DIR [--port PORT] [--clients N] [--server-key ec|ec-p384|rsa] [--module SO]
 *                     [--user NAME]
 *
 * creates a self-contained QA instance, READY at its first start:
 *   DIR/softhsm2.conf, DIR/tokens/   a SoftHSMv2 token "coffre-qa" of its own
 *   DIR/hsm.pin, DIR/hsm-so.pin      random user and SO PINs (0600)
 *   on the token                     KEK 1, the CA key pair "coffre-ca" (EC P-256) and the TLS
 *                                    server key pair "tls-server" (EC P-256, or RSA-2048);
 *                                    KEKs may be exported under a trusted backup key
 *   DIR/pki/ca.crt, server.crt       the CA certificate and the server certificate
 *                                    (SANs 127.0.0.1, ::1, localhost, this host's name)
 *   DIR/pki/qa.crt + qa.key          client certificates with SOFTWARE EC P-256 keys (the QA
 *   DIR/pki/qa2.crt + qa2.key ...    client's keys), one tenant per client: qa, qa2, qa3...
 *   DIR/data/store.db                the store, holding console administrator "admin"
 *   DIR/admin.pw                     admin's random password (0600)
 *   DIR/coffred.conf                 KMIP on 127.0.0.1:PORT (5696), pin_file = hsm.pin
 *
 *   coffred provision --fresh DIR [--port PORT] [--module SO] [--user NAME]
 *
 * writes what a new appliance has before its init ceremony (docs/console/ceremony.md):
 *   DIR/coffred.conf                 KMIP on 127.0.0.1:PORT, [tls] naming the files and the
 *                                    HSM key `init` will create, [hsm] without pin_file,
 *                                    [backup] dir = DIR/backup
 *   DIR/softhsm2.conf, DIR/tokens/   an empty SoftHSMv2 token directory (no token yet)
 * `coffred -c DIR/coffred.conf --console pty` then starts UNINITIALIZED.
 *
 * DIR must not hold an instance already (coffred.conf, softhsm2.conf, tokens/ or pki/...):
 * then nothing is touched and the exit status is 1.
 *
 * --user NAME (either form; run as root): the instance is for a coffred that becomes NAME
 * once started as root ([service] user = NAME in coffred.conf, docs/config.md): every file
 * and directory under DIR, DIR included, is given to NAME and its group at the end. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <ftw.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <time.h>

#include "board/hex.h"
#include "board/log.h"
#include "board/sec.h"
#include "firmware/accounts/accounts.h"
#include "firmware/pki/ca.h"
#include "firmware/pki/appliance.h"
#include "firmware/provision/provision.h"
#include "firmware/store/store.h"
#include "hsm/hsm.h"

#define PROV_TOKEN "coffre-qa"
#define PROV_FRESH_TOKEN "coffre"   /* token label of `provision --fresh` appliances */
#define PROV_CA_CN "Coffre QA CA"
#define PROV_ADMIN "admin"
#define PROV_ADMIN_PW_LEN 20
#define PROV_CLIENTS_MAX 16
#define PROV_PIN_BYTES 16     /* 32 hex characters */

static const char *const prov_modules[] = {
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
};

struct prov_opts {
	const char *dir;
	bool fresh;
	unsigned port;
	unsigned clients;
	bool rsa;
	bool p384;
	const char *module;
	const char *user;         /* --user NAME: [service] user, the files given to it */
	uid_t uid;
	gid_t gid;
};

static int prov_usage(void)
{
	fprintf(stderr, "usage: coffred provision --qa DIR [--port PORT] [--clients N] "
			"[--server-key ec|ec-p384|rsa] [--module PKCS11_SO] [--user NAME]\n"
			"       coffred provision --fresh DIR [--port PORT] [--module PKCS11_SO] "
			"[--user NAME]\n");
	return PROVISION_EXIT_USAGE;
}

static bool prov_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

static cf_err prov_path(char *out, size_t n, const char *dir, const char *name)
{
	int w = snprintf(out, n, "%s/%s", dir, name);

	return w < 0 || (size_t)w >= n ? CF_E_TOO_LARGE : CF_OK;
}

/* Write text to a new file (mode, O_EXCL, no symlink), fsynced. */
static cf_err prov_file_write(const char *path, mode_t mode, const void *p, size_t n)
{
	const uint8_t *b = p;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		fprintf(stderr, "coffred: provision: cannot create %s: %s\n", path, strerror(errno));
		return CF_E_IO;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		b += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	return CF_OK;
fail:
	fprintf(stderr, "coffred: provision: cannot write %s: %s\n", path, strerror(errno));
	close(fd);
	(void)unlink(path);
	return CF_E_IO;
}

/* A random PIN as hex text in pin[2*PROV_PIN_BYTES + 1]. */
static cf_err prov_pin_new(char pin[static 2 * PROV_PIN_BYTES + 1])
{
	uint8_t r[PROV_PIN_BYTES];
	cf_err rc;

	if (sec_random(r, sizeof r) != CF_OK)
		return CF_E_IO;
	rc = hex_encode(r, sizeof r, HEX_LOWER, pin, 2 * PROV_PIN_BYTES + 1);
	sec_wipe(r, sizeof r);
	return rc;
}

static bool prov_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat sb;

	if (prov_path(p, sizeof p, dir, name) != CF_OK)
		return true;
	return lstat(p, &sb) == 0;
}

static const char *prov_module_find(void)
{
	for (size_t i = 0; i < sizeof prov_modules / sizeof prov_modules[0]; i++)
		if (access(prov_modules[i], R_OK) == 0)
			return prov_modules[i];
	return NULL;
}

static void prov_client_name(unsigned i, char *out, size_t n)
{
	if (i == 0)
		(void)snprintf(out, n, "qa");
	else
		(void)snprintf(out, n, "qa%u", i + 1);
}

static cf_err prov_config_write(const struct prov_opts *o, const char *dir, const char *key_uri)
{
	cf_err rc = CF_E_INTERNAL;
	char path[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (m == NULL)
		return CF_E_NOMEM;
	fprintf(m, "; QA instance written by `coffred provision --qa` (docs/config.md)\n"
		   "[service]\ndata_dir = data\n%s%s%s\n"
		   "[kmip]\naddress = 127.0.0.1\nport = %u\n\n"
		   "[tls]\ncert = pki/server.crt\nkey = %s\nca = pki/ca.crt\n\n"
		   "[hsm]\nmodule = %s\ntoken = %s\npin_file = hsm.pin\n",
		o->user ? "user = " : "", o->user ? o->user : "", o->user ? "\n" : "",
		o->port, key_uri, o->module, PROV_TOKEN);
	for (unsigned i = 0; i < o->clients; i++) {
		char name[16];

		prov_client_name(i, name, sizeof name);
		fprintf(m, "\n[client \"%s\"]\nsubject = CN=%s\nissuer = CN=%s\ntenant = %s\n", name,
			name, PROV_CA_CN, name);
	}
	if (fclose(m) != 0) {
		free(text);
		return CF_E_NOMEM;
	}
	if ((rc = prov_path(path, sizeof path, dir, "coffred.conf")) == CF_OK)
		rc = prov_file_write(path, 0600, text, len);
	free(text);
	return rc;
}

/* The PKCS#11 URI hsm_keypair_generate will report for the server key pair once `init` has
 * made it (RFC 7512; same encoding as hsm/: unreserved characters plain, the id all %XX). */
static cf_err prov_key_uri(const char *token, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	static const uint8_t srv_id[] = { APPLIANCE_SERVER_ID };
	size_t off;
	int n = snprintf(out, cap, "pkcs11:token=");

	if (n < 0 || (size_t)n >= cap)
		return CF_E_NO_SPACE;
	off = (size_t)n;
	for (const char *p = token; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '-' || c == '.' || c == '_' || c == '~';

		if (cap - off <= 3)
			return CF_E_NO_SPACE;
		if (plain) {
			out[off++] = (char)c;
		} else {
			out[off++] = '%';
			out[off++] = hex[c >> 4];
			out[off++] = hex[c & 15];
		}
	}
	n = snprintf(out + off, cap - off, ";object=%s;id=", APPLIANCE_SERVER_LABEL);
	if (n < 0 || (size_t)n >= cap - off)
		return CF_E_NO_SPACE;
	off += (size_t)n;
	for (size_t i = 0; i < sizeof srv_id; i++) {
		if (cap - off <= 3)
			return CF_E_NO_SPACE;
		out[off++] = '%';
		out[off++] = hex[srv_id[i] >> 4];
		out[off++] = hex[srv_id[i] & 15];
	}
	n = snprintf(out + off, cap - off, ";type=private");
	return n < 0 || (size_t)n >= cap - off ? CF_E_NO_SPACE : CF_OK;
}

static cf_err prov_fresh_config_write(const struct prov_opts *o, const char *dir)
{
	cf_err rc;
	char path[PATH_MAX], uri[HSM_URI_MAX];
	char *text = NULL;
	size_t len = 0;
	FILE *m;

	if ((rc = prov_key_uri(PROV_FRESH_TOKEN, uri, sizeof uri)) != CF_OK)
		return rc;
	if ((m = open_memstream(&text, &len)) == NULL)
		return CF_E_NOMEM;
	fprintf(m, "; a new appliance written by `coffred provision --fresh` (docs/config.md).\n"
		   "; Start it with the console and run `init` there (docs/console/ceremony.md).\n"
		   "[service]\ndata_dir = data\n%s%s%s\n"
		   "[kmip]\naddress = 127.0.0.1\nport = %u\n\n"
		   "; `init` creates the server key in the HSM and writes both certificates\n"
		   "[tls]\ncert = pki/server.crt\nkey = %s\nca = pki/ca.crt\n\n"
		   "; no pin_file: the appliance starts SEALED and the HSM user PIN is typed at the\n"
		   "; console (`unseal`)\n"
		   "[hsm]\nmodule = %s\ntoken = %s\n\n"
		   "[backup]\ndir = %s/backup\n",
		o->user ? "user = " : "", o->user ? o->user : "", o->user ? "\n" : "",
		o->port, uri, o->module, PROV_FRESH_TOKEN, dir);
	if (fclose(m) != 0) {
		free(text);
		return CF_E_NOMEM;
	}
	if ((rc = prov_path(path, sizeof path, dir, "coffred.conf")) == CF_OK)
		rc = prov_file_write(path, 0600, text, len);
	free(text);
	return rc;
}

/* The QA console administrator: a random password in DIR/admin.pw (0600), its Argon2id hash
 * in the store (no TOTP, no forced change: scripts log in with it). */
static cf_err prov_admin(const char *dir)
{
	static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
	char path[PATH_MAX], pw[PROV_ADMIN_PW_LEN + 2];
	uint8_t r[PROV_ADMIN_PW_LEN];
	struct store *st = NULL;
	cf_err rc;

	if (sec_random(r, sizeof r) != CF_OK)
		return CF_E_IO;
	for (size_t i = 0; i < sizeof r; i++)
		pw[i] = alnum[r[i] % (sizeof alnum - 1)]; /* 256 % 57: bias irrelevant for QA */
	pw[PROV_ADMIN_PW_LEN] = '\0';
	sec_wipe(r, sizeof r);
	if ((rc = prov_path(path, sizeof path, dir, "data")) != CF_OK)
		goto out;
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		rc = CF_E_IO;
		goto out;
	}
	if ((rc = prov_path(path, sizeof path, dir, "data/store.db")) != CF_OK ||
	    (rc = store_open(path, NULL, &st)) != CF_OK) {
		fprintf(stderr, "coffred: provision: cannot create the store: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = acct_password_set(st, PROV_ADMIN, pw, PROV_ADMIN_PW_LEN, false,
				    (int64_t)time(NULL))) != CF_OK) {
		fprintf(stderr, "coffred: provision: cannot create administrator %s: %s\n", PROV_ADMIN,
			cf_err_str(rc));
		goto out;
	}
	pw[PROV_ADMIN_PW_LEN] = '\n';
	if ((rc = prov_path(path, sizeof path, dir, "admin.pw")) == CF_OK)
		rc = prov_file_write(path, 0600, pw, PROV_ADMIN_PW_LEN + 1);
out:
	store_close(st);
	sec_wipe(pw, sizeof pw);
	return rc;
}

/* Everything that needs the token: KEK, key pairs, certificates. */
static cf_err prov_token(const struct prov_opts *o, const char *dir, const char *pin,
			 char *server_uri, size_t uri_cap)
{
	cf_err rc = CF_E_INTERNAL;
	struct hsm_config hc = { .module_path = o->module, .token = PROV_TOKEN, .direct_calls = true,
				 .backup_enabled = true };
	hsm *h = NULL;
	hsm_sess *s = NULL;
	X509 *ca = NULL, *cli = NULL;
	EVP_PKEY *cli_key = NULL;
	char path[PATH_MAX], ca_path[PATH_MAX], cert_path[PATH_MAX];
	struct ca_signer signer;
	struct ca_issue is;
	struct appliance_keys k = { .rsa = o->rsa, .p384 = o->p384, .ca_cn = PROV_CA_CN, .server_names = "",
			       .ca_path = ca_path, .cert_path = cert_path, .server_uri = server_uri,
			       .uri_cap = uri_cap, .ca_out = &ca };

	if ((rc = hsm_open(&hc, &h)) != CF_OK) {
		fprintf(stderr, "coffred: provision: cannot open token %s: %s\n", PROV_TOKEN, cf_err_str(rc));
		goto out;
	}
	if ((rc = hsm_login(h, (const uint8_t *)pin, strlen(pin))) != CF_OK ||
	    (rc = hsm_session_acquire(h, 5000, &s)) != CF_OK) {
		fprintf(stderr, "coffred: provision: HSM login failed: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = prov_path(ca_path, sizeof ca_path, dir, "pki/ca.crt")) != CF_OK ||
	    (rc = prov_path(cert_path, sizeof cert_path, dir, "pki/server.crt")) != CF_OK ||
	    (rc = appliance_keys_create(h, s, &k)) != CF_OK)
		goto out;
	signer = (struct ca_signer){ .sess = s, .key_label = APPLIANCE_CA_LABEL, .cert = ca };

	for (unsigned i = 0; i < o->clients; i++) {
		char name[16], file[32];

		prov_client_name(i, name, sizeof name);
		if ((rc = ca_client_key_new(o->p384, &cli_key)) != CF_OK)
			goto out;
		memset(&is, 0, sizeof is);
		is.profile = CA_PROFILE_CLIENT;
		is.cn = name;
		is.pub = cli_key;
		is.days = APPLIANCE_CERT_DAYS;
		if ((rc = ca_cert_issue(&signer, &is, &cli)) != CF_OK) {
			fprintf(stderr, "coffred: provision: client certificate %s failed: %s\n", name,
				cf_err_str(rc));
			goto out;
		}
		(void)snprintf(file, sizeof file, "pki/%s.key", name);
		if ((rc = prov_path(path, sizeof path, dir, file)) != CF_OK ||
		    (rc = ca_key_write(path, cli_key)) != CF_OK)
			goto out;
		(void)snprintf(file, sizeof file, "pki/%s.crt", name);
		if ((rc = prov_path(path, sizeof path, dir, file)) != CF_OK ||
		    (rc = ca_cert_write(path, cli)) != CF_OK)
			goto out;
		X509_free(cli);
		cli = NULL;
		EVP_PKEY_free(cli_key);
		cli_key = NULL;
	}
	rc = CF_OK;
out:
	X509_free(ca);
	X509_free(cli);
	EVP_PKEY_free(cli_key);
	hsm_session_release(s);
	hsm_close(h);
	return rc;
}

static int prov_fresh(const struct prov_opts *o, const char *dir)
{
	printf("new appliance %s\n"
	       "  config        %s/coffred.conf (KMIP 127.0.0.1:%u once initialised)\n"
	       "  token         %s (SoftHSMv2, %s/softhsm2.conf): not initialised yet\n"
	       "start it with:  coffred -c %s/coffred.conf --console pty   (then `init` at the console)\n",
	       dir, dir, o->port, PROV_FRESH_TOKEN, dir, dir);
	return PROVISION_EXIT_OK;
}

/* The command line (argv[0] is "provision"); false: usage. */
static bool prov_args(int argc, char **argv, struct prov_opts *o)
{
	bool qa_only = false;

	for (int i = 1; i < argc; i += 2) { /* every option takes one value */
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((strcmp(a, "--qa") == 0 || strcmp(a, "--fresh") == 0) && v != NULL && o->dir == NULL) {
			o->dir = v;
			o->fresh = strcmp(a, "--fresh") == 0;
		} else if (strcmp(a, "--port") == 0 && v != NULL && prov_uint(v, 1, 65535, &o->port)) {
			;
		} else if (strcmp(a, "--clients") == 0 && v != NULL &&
			   prov_uint(v, 1, PROV_CLIENTS_MAX, &o->clients)) {
			qa_only = true;
		} else if (strcmp(a, "--server-key") == 0 && v != NULL &&
			   (strcmp(v, "ec") == 0 || strcmp(v, "rsa") == 0 ||
			    strcmp(v, "ec-p384") == 0)) {
			o->rsa = strcmp(v, "rsa") == 0;
			o->p384 = strcmp(v, "ec-p384") == 0;
			qa_only = true;
		} else if (strcmp(a, "--module") == 0 && v != NULL) {
			o->module = v;
		} else if (strcmp(a, "--user") == 0 && v != NULL && o->user == NULL) {
			o->user = v;
		} else {
			return false;
		}
	}
	return o->dir != NULL && o->dir[0] != '\0' && !(o->fresh && qa_only);
}

/* DIR created if need be and resolved into dir[PATH_MAX]; refused when it holds an instance;
 * DIR/tokens (and DIR/pki for --qa) created. Errors are printed. */
static cf_err prov_dir_prepare(const struct prov_opts *o, char *dir)
{
	static const char *const taken[] = { "coffred.conf", "softhsm2.conf", "tokens", "pki",
					     "hsm.pin", "hsm-so.pin", "data", "admin.pw" };
	char path[PATH_MAX];
	struct stat sb;

	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "coffred: provision: cannot create %s: %s\n", o->dir, strerror(errno));
		return CF_E_IO;
	}
	if (realpath(o->dir, dir) == NULL || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "coffred: provision: %s is not a directory\n", o->dir);
		return CF_E_IO;
	}
	for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
		if (prov_exists(dir, taken[i])) {
			fprintf(stderr, "coffred: provision: %s already holds an instance (%s exists); "
					"refusing to touch it\n", dir, taken[i]);
			return CF_E_EXISTS;
		}
	}
	if (prov_path(path, sizeof path, dir, "tokens") != CF_OK || mkdir(path, 0700) != 0 ||
	    (!o->fresh && (prov_path(path, sizeof path, dir, "pki") != CF_OK || mkdir(path, 0755) != 0))) {
		fprintf(stderr, "coffred: provision: cannot create %s: %s\n", path, strerror(errno));
		return CF_E_IO;
	}
	return CF_OK;
}

/* DIR/softhsm2.conf: the instance's own token store; its path in path[PATH_MAX]. */
static cf_err prov_softhsm_conf(const char *dir, char *path)
{
	char text[PATH_MAX + 128];
	int n = snprintf(text, sizeof text,
			 "# SoftHSMv2 token store of this instance (written by coffred provision)\n"
			 "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
			 "log.level = ERROR\nslots.removable = false\n", dir);

	if (n < 0 || (size_t)n >= sizeof text)
		return CF_E_TOO_LARGE;
	TRY(prov_path(path, PATH_MAX, dir, "softhsm2.conf"));
	return prov_file_write(path, 0600, text, (size_t)n);
}

static void prov_qa_report(const struct prov_opts *o, const char *dir, const char *server_uri)
{
	printf("provisioned QA instance %s\n"
	       "  config        %s/coffred.conf (KMIP 127.0.0.1:%u)\n"
	       "  token         %s (SoftHSMv2, %s/softhsm2.conf), PINs in hsm.pin / hsm-so.pin\n"
	       "  CA            %s/pki/ca.crt (key \"%s\" in the HSM)\n"
	       "  server        %s/pki/server.crt (key %s)\n"
	       "  console       administrator \"%s\", password in %s/admin.pw\n",
	       dir, dir, o->port, PROV_TOKEN, dir, dir, APPLIANCE_CA_LABEL, dir, server_uri,
	       PROV_ADMIN, dir);
	for (unsigned i = 0; i < o->clients; i++) {
		char name[16];

		prov_client_name(i, name, sizeof name);
		printf("  client        %s/pki/%s.crt + %s.key (tenant %s)\n", dir, name, name, name);
	}
	printf("start it with:  coffred -c %s/coffred.conf\n", dir);
}

/* --qa, once DIR and its softhsm2.conf (SOFTHSM2_CONF) are there: PINs, token, keys and
 * certificates, coffred.conf, the administrator. */
static int prov_qa(const struct prov_opts *o, const char *dir)
{
	char path[PATH_MAX], server_uri[HSM_URI_MAX] = "";
	char user_pin[2 * PROV_PIN_BYTES + 1] = "", so_pin[2 * PROV_PIN_BYTES + 1] = "";
	int ret = PROVISION_EXIT_FAIL;
	cf_err rc;

	if (prov_pin_new(user_pin) != CF_OK || prov_pin_new(so_pin) != CF_OK) {
		fprintf(stderr, "coffred: provision: no random source\n");
		goto out;
	}
	if (prov_path(path, sizeof path, dir, "hsm.pin") != CF_OK ||
	    prov_file_write(path, 0600, user_pin, strlen(user_pin)) != CF_OK ||
	    prov_path(path, sizeof path, dir, "hsm-so.pin") != CF_OK ||
	    prov_file_write(path, 0600, so_pin, strlen(so_pin)) != CF_OK)
		goto out;
	rc = hsm_token_init(o->module, PROV_TOKEN, (const uint8_t *)so_pin, strlen(so_pin),
			    (const uint8_t *)user_pin, strlen(user_pin));
	if (rc != CF_OK) {
		fprintf(stderr, "coffred: provision: token initialisation failed: %s\n", cf_err_str(rc));
		goto out;
	}
	if (prov_token(o, dir, user_pin, server_uri, sizeof server_uri) != CF_OK ||
	    prov_config_write(o, dir, server_uri) != CF_OK || prov_admin(dir) != CF_OK)
		goto out;
	prov_qa_report(o, dir, server_uri);
	ret = PROVISION_EXIT_OK;
out:
	sec_wipe(user_pin, sizeof user_pin);
	sec_wipe(so_pin, sizeof so_pin);
	return ret;
}

/* --user NAME: an existing user other than root, and root to give it the files. */
static cf_err prov_user(struct prov_opts *o)
{
	const struct passwd *pw = getpwnam(o->user);

	if (pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "coffred: provision: --user %s: %s\n", o->user,
			pw == NULL ? "no such user" : "must not be root");
		return CF_E_CONFIG;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "coffred: provision: --user needs root (to give the files to %s)\n",
			o->user);
		return CF_E_PERMISSION;
	}
	o->uid = pw->pw_uid;
	o->gid = pw->pw_gid;
	return CF_OK;
}

/* nftw's callback cannot take an argument: the owner being given, set just before the walk */
static uid_t prov_chown_uid;
static gid_t prov_chown_gid;

static int prov_chown_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb;
	(void)type;
	(void)f;
	return lchown(path, prov_chown_uid, prov_chown_gid) == 0 ? 0 : -1;
}

/* Every file and directory under dir, dir included, given to --user (symbolic links
 * themselves, never what they point to). */
static cf_err prov_chown_tree(const struct prov_opts *o, const char *dir)
{
	prov_chown_uid = o->uid;
	prov_chown_gid = o->gid;
	if (nftw(dir, prov_chown_one, 16, FTW_PHYS | FTW_MOUNT) != 0) {
		fprintf(stderr, "coffred: provision: cannot give %s to %s: %s\n", dir, o->user,
			strerror(errno));
		return CF_E_IO;
	}
	printf("owner         %s (uid %u): every file under %s; start coffred as root or as %s\n",
	       o->user, (unsigned)o->uid, dir, o->user);
	return CF_OK;
}

int provision_main(int argc, char **argv)
{
	struct prov_opts o = { .dir = NULL, .port = 5696, .clients = 1, .rsa = false, .module = NULL };
	char dir[PATH_MAX], path[PATH_MAX];
	int ret = PROVISION_EXIT_FAIL;

	if (!prov_args(argc, argv, &o))
		return prov_usage();
	if (o.user != NULL && prov_user(&o) != CF_OK)
		return PROVISION_EXIT_FAIL;
	if (o.module == NULL && (o.module = prov_module_find()) == NULL) {
		fprintf(stderr, "coffred: provision: SoftHSMv2 not found (apt-get install softhsm2), "
				"or give --module\n");
		return PROVISION_EXIT_FAIL;
	}
	if (prov_dir_prepare(&o, dir) != CF_OK)
		return PROVISION_EXIT_FAIL;
	if (prov_softhsm_conf(dir, path) != CF_OK)
		goto out;
	if (o.fresh) {
		if (prov_fresh_config_write(&o, dir) == CF_OK)
			ret = prov_fresh(&o, dir);
		goto out;
	}
	if (setenv("SOFTHSM2_CONF", path, 1) != 0)
		goto out;
	ret = prov_qa(&o, dir);
out:
	if (ret == PROVISION_EXIT_OK && o.user != NULL && prov_chown_tree(&o, dir) != CF_OK)
		ret = PROVISION_EXIT_FAIL;
	if (ret != PROVISION_EXIT_OK)
		fprintf(stderr, "coffred: provision: failed; remove %s before trying again\n", dir);
	return ret;
}
