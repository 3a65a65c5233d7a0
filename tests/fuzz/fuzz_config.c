/* Target: the service configuration loader (firmware/core/config.c) with libinih: the input is
 * the whole coffred.conf, handed to config_load_mem under the name /coffre-fuzz/coffred.conf
 * (no file is written; relative paths resolve under /coffre-fuzz, which does not exist, so a
 * relative pin_file fails its open). A loaded config is checked: every text field terminated
 * within its array, counts within their limits, every client with a tenant and an identity,
 * each client found again by config_client_find, each pinned fingerprint by config_pinned.
 * A refused one: no config, a terminated message, the error one of the loader's.
 * Seeds (tests/fuzz/corpus/config): files written by `coffre provision --qa` and `--fresh`, one
 * with every key, and broken ones (NUL byte, overlong line, unknown section, bad values).
 * The loader's log lines go to a sink that drops them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "firmware/core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONFIG_PATH "/coffre-fuzz/coffred.conf"

static void drop_line(void *arg, enum log_level lvl, const char *line)
{
	(void)arg;
	(void)lvl;
	(void)line;
}

/* A C string that ends inside its array (ASan would not see a missing NUL in a struct). */
#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static void check_client(const struct config *cfg, const struct config_client *c)
{
	if (!TERMINATED(c->name) || !TERMINATED(c->subject) || !TERMINATED(c->issuer) ||
	    !TERMINATED(c->fingerprint) || !TERMINATED(c->tenant))
		abort();
	if (c->tenant[0] == '\0' || (c->subject[0] == '\0' && c->fingerprint[0] == '\0'))
		abort();
	if ((c->subject[0] != '\0') != (c->issuer[0] != '\0'))
		abort();
	if (c->fingerprint[0] != '\0' && strlen(c->fingerprint) != CONFIG_FP_HEX)
		abort();
	if (c->role != CONFIG_ROLE_USER && c->role != CONFIG_ROLE_READONLY)
		abort();
	const struct config_client *f =
		config_client_find(cfg, c->fingerprint[0] != '\0' ? c->fingerprint : NULL,
				   c->subject[0] != '\0' ? c->subject : NULL,
				   c->issuer[0] != '\0' ? c->issuer : NULL);
	if (f != c)
		abort(); /* identities are unique, so the lookup lands on this very entry */
}

static void check_config(const struct config *cfg)
{
	if (!TERMINATED(cfg->path) || !TERMINATED(cfg->dir) || strcmp(cfg->path, FUZZ_CONFIG_PATH) != 0)
		abort();
	if (!TERMINATED(cfg->service.data_dir) || !TERMINATED(cfg->service.state) ||
	    !TERMINATED(cfg->kmip.address) || !TERMINATED(cfg->tls.cert) ||
	    !TERMINATED(cfg->tls.key) || !TERMINATED(cfg->tls.ca) || !TERMINATED(cfg->tls.ciphers) ||
	    !TERMINATED(cfg->tls.ciphersuites) || !TERMINATED(cfg->tls.server_names) ||
	    !TERMINATED(cfg->hsm.module) || !TERMINATED(cfg->hsm.token) ||
	    !TERMINATED(cfg->hsm.pin_file) || !TERMINATED(cfg->console.dual_control) ||
	    !TERMINATED(cfg->backup.dir))
		abort();
	if (cfg->service.data_dir[0] != '/' || cfg->service.state[0] != '/')
		abort();
	if (cfg->kmip.port == 0 || cfg->kmip.workers == 0 || cfg->kmip.workers > 64 ||
	    cfg->kmip.max_message < 1024 || cfg->kmip.max_message > CONFIG_DEFAULT_MAX_MESSAGE)
		abort();
	if (cfg->tls.min_version != CONFIG_TLS_1_2 && cfg->tls.min_version != CONFIG_TLS_1_3)
		abort();
	if (cfg->tls.n_pinned > CONFIG_PINNED_MAX || cfg->n_clients > CONFIG_CLIENTS_MAX)
		abort();
	for (size_t i = 0; i < cfg->tls.n_pinned; i++)
		if (!TERMINATED(cfg->tls.pinned[i]) || !config_pinned(cfg, cfg->tls.pinned[i]))
			abort();
	for (size_t i = 0; i < cfg->n_clients; i++)
		check_client(cfg, &cfg->clients[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct log_sink quiet = { drop_line, NULL, LOG_LVL_ERR };
	struct config *cfg = NULL;
	struct config_diag d;

	log_set_sink(&quiet);
	cf_err rc = config_load_mem(FUZZ_CONFIG_PATH, data, size, &cfg, &d);
	if (rc == CF_OK) {
		if (cfg == NULL)
			abort();
		check_config(cfg);
	} else {
		if (cfg != NULL || !TERMINATED(d.msg) || !TERMINATED(d.file) || d.line < 0)
			abort();
		if (rc != CF_E_CONFIG && rc != CF_E_PERM_FILE && rc != CF_E_IO && rc != CF_E_NOMEM)
			abort();
	}
	config_free(cfg);
	log_set_sink(NULL);
	return 0;
}
