/* The appliance's key material (firmware/pki/appliance.h). */
#include "firmware/pki/appliance.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509.h>


/* Split [tls] server_names ("a.example, 10.0.0.5, ::1") into the request's SANs: IP literals
 * go to ip[], everything else to dns[]. names is modified (commas become NULs). Empty: this
 * host's name, localhost, 127.0.0.1 and ::1. */
static cf_err appliance_sans(char *names, char *host, size_t host_cap, struct ca_issue *is)
{
	char *save = NULL;
	bool any = false;

	for (char *tok = strtok_r(names, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned char bin[16];
		size_t n;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			tok[--n] = '\0';
		if (n == 0)
			continue;
		any = true;
		if (inet_pton(AF_INET, tok, bin) == 1 || inet_pton(AF_INET6, tok, bin) == 1) {
			if (is->n_ip >= CA_SAN_MAX)
				return CF_E_TOO_MANY;
			is->ip[is->n_ip++] = tok;
		} else {
			if (is->n_dns >= CA_SAN_MAX)
				return CF_E_TOO_MANY;
			is->dns[is->n_dns++] = tok;
		}
	}
	if (any)
		return CF_OK;
	is->dns[is->n_dns++] = "localhost";
	if (gethostname(host, host_cap - 1) == 0 && host[0] != '\0' && strcmp(host, "localhost") != 0 &&
	    strpbrk(host, ", \n") == NULL)
		is->dns[is->n_dns++] = host;
	is->ip[is->n_ip++] = "127.0.0.1";
	is->ip[is->n_ip++] = "::1";
	return CF_OK;
}

/* Write a certificate so that path holds either the old file or the complete new one: a
 * temporary file next to it, fsynced, renamed over it, the directory fsynced. */
static cf_err appliance_cert_write(const char *path, X509 *x)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	int dfd;
	cf_err rc;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
	    snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
		return CF_E_TOO_LARGE;
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir)
		*slash = '\0';
	else
		(void)snprintf(dir, sizeof dir, "%s", slash == dir ? "/" : ".");
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "coffred: cannot create %s: %s\n", dir, strerror(errno));
		return CF_E_IO;
	}
	(void)unlink(tmp);
	if ((rc = ca_cert_write(tmp, x)) != CF_OK)
		return rc;
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "coffred: cannot rename %s: %s\n", tmp, strerror(errno));
		(void)unlink(tmp);
		return CF_E_IO;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return CF_OK;
}

static void appliance_fp(X509 *x, uint8_t out[32])
{
	unsigned int n = 32;

	if (X509_digest(x, EVP_sha256(), out, &n) != 1 || n != 32)
		memset(out, 0, 32);
}

cf_err appliance_keys_create(hsm *h, hsm_sess *s, struct appliance_keys *k)
{
	cf_err rc = CF_E_INTERNAL;
	static const uint8_t ca_id[] = { APPLIANCE_CA_ID };
	static const uint8_t srv_id[] = { APPLIANCE_SERVER_ID };
	char ca_uri[HSM_URI_MAX];
	char names[sizeof k->sans], host[256] = "";
	X509 *ca = NULL, *srv = NULL;
	EVP_PKEY *srv_pub = NULL;
	struct ca_signer signer;
	struct ca_issue is;

	k->kek = 0;
	k->sans[0] = '\0';
	if ((rc = hsm_kek_create(s, &k->kek)) != CF_OK || (rc = hsm_kek_make_current(h, k->kek)) != CF_OK) {
		fprintf(stderr, "coffred: KEK creation failed: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = hsm_keypair_generate(s, k->p384 ? HSM_KP_EC_P384 : HSM_KP_EC_P256, APPLIANCE_CA_LABEL,
				       ca_id, sizeof ca_id, ca_uri, sizeof ca_uri)) != CF_OK ||
	    (rc = hsm_keypair_generate(s, k->rsa    ? HSM_KP_RSA_2048
					  : k->p384 ? HSM_KP_EC_P384
						    : HSM_KP_EC_P256,
				       APPLIANCE_SERVER_LABEL, srv_id, sizeof srv_id, k->server_uri,
				       k->uri_cap)) != CF_OK) {
		fprintf(stderr, "coffred: key pair generation failed: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = ca_root_create(s, APPLIANCE_CA_LABEL, k->ca_cn, NULL, APPLIANCE_CA_DAYS, &ca)) != CF_OK) {
		fprintf(stderr, "coffred: CA certificate failed: %s\n", cf_err_str(rc));
		goto out;
	}
	signer = (struct ca_signer){ .sess = s, .key_label = APPLIANCE_CA_LABEL, .cert = ca };

	if ((rc = ca_hsm_pubkey(s, APPLIANCE_SERVER_LABEL, &srv_pub)) != CF_OK)
		goto out;
	memset(&is, 0, sizeof is);
	is.profile = CA_PROFILE_SERVER;
	is.cn = "coffred";
	is.pub = srv_pub;
	(void)snprintf(names, sizeof names, "%s", k->server_names != NULL ? k->server_names : "");
	if ((rc = appliance_sans(names, host, sizeof host, &is)) != CF_OK) {
		fprintf(stderr, "coffred: [tls] server_names has more than %d names or addresses\n",
			CA_SAN_MAX);
		goto out;
	}
	for (size_t i = 0; i < is.n_dns + is.n_ip; i++) {
		const char *v = i < is.n_dns ? is.dns[i] : is.ip[i - is.n_dns];
		size_t used = strlen(k->sans);

		(void)snprintf(k->sans + used, sizeof k->sans - used, "%s%s", used ? ", " : "", v);
	}
	is.days = APPLIANCE_CERT_DAYS;
	if ((rc = ca_cert_issue(&signer, &is, &srv)) != CF_OK) {
		fprintf(stderr, "coffred: server certificate failed: %s\n", cf_err_str(rc));
		goto out;
	}
	if ((rc = appliance_cert_write(k->ca_path, ca)) != CF_OK ||
	    (rc = appliance_cert_write(k->cert_path, srv)) != CF_OK)
		goto out;
	appliance_fp(ca, k->ca_fp);
	appliance_fp(srv, k->server_fp);
	if (k->ca_out != NULL) {
		*k->ca_out = ca;
		ca = NULL;
	}
	rc = CF_OK;
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(srv_pub);
	return rc;
}
