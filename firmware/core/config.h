/* The service configuration: an INI file parsed with libinih (docs/config.md lists every key).
 * Unknown sections and keys, repeated single-valued keys, out-of-range numbers, malformed
 * values and a NUL byte in a line are errors reported as file:line. Relative paths are
 * resolved against the directory of the config file. The HSM PIN is never in the config:
 * [hsm] pin_file names a file that must be a regular file owned by the process user with
 * mode 0600 (or 0400). */
#ifndef COFFRE_FIRMWARE_CONFIG_H
#define COFFRE_FIRMWARE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/cidr.h"
#include "board/err.h"

#define CONFIG_PINNED_MAX 32
#define CONFIG_CLIENTS_MAX 64
#define CONFIG_NAME_MAX 63       /* client names, tenants */
#define CONFIG_FP_HEX 64         /* SHA-256 fingerprint as lower-case hex */
#define CONFIG_DN_MAX 1023       /* subject / issuer, RFC 2253 text */
#define CONFIG_REMOTE_MAX 255    /* [audit] remote, remote_name */
#define CONFIG_DEFAULT_AUDIT_QUEUE_MAX 100000u

/* Defaults (docs/config.md). */
#define CONFIG_DEFAULT_ADDRESS "127.0.0.1"
#define CONFIG_DEFAULT_PORT 5696
#define CONFIG_DEFAULT_WORKERS 4
/* fair share (docs/config.md: never throttles one vCenter's boot storm) */
#define CONFIG_DEFAULT_CONNS_PER_SOURCE 1024
#define CONFIG_DEFAULT_HS_RATE_PER_SOURCE 1000
#define CONFIG_DEFAULT_HS_BURST_PER_SOURCE 2000
#define CONFIG_DEFAULT_MAX_HANDSHAKING 256
#define CONFIG_DEFAULT_MAX_MESSAGE (1024u * 1024u)
#define CONFIG_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define CONFIG_DEFAULT_CIPHERSUITES \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

enum config_tls_version { CONFIG_TLS_1_2 = 0x0303, CONFIG_TLS_1_3 = 0x0304 };

/* What a mapped client may do (enforced by the authorization code, not here). */
enum config_role {
	CONFIG_ROLE_USER = 1,     /* every supported KMIP operation on its tenant's objects */
	CONFIG_ROLE_READONLY = 2, /* read operations only (Get, Get Attributes, Locate, Query...) */
};

/* A certificate identity mapped to a tenant: by subject + issuer, or by fingerprint. */
struct config_client {
	char name[CONFIG_NAME_MAX + 1];        /* [client "NAME"]; "" for a [clients] line */
	char subject[CONFIG_DN_MAX + 1];       /* "" = not used */
	char issuer[CONFIG_DN_MAX + 1];
	char fingerprint[CONFIG_FP_HEX + 1];   /* "" = not used */
	char tenant[CONFIG_NAME_MAX + 1];
	enum config_role role;
	int line;                              /* where it was defined */
};

struct config {
	char path[PATH_MAX];       /* the config file, absolute */
	char dir[PATH_MAX];        /* its directory: base of relative paths */
	struct {
		char data_dir[PATH_MAX];   /* store.db lives here */
		char state[PATH_MAX];      /* runtime state dir (error log, console link) */
		bool sandbox;              /* seccomp allow-list once started (docs/security.md
		                              "Sandbox"); off only to diagnose */
		char user[64];             /* "" = stay who started it; else the user a coffred
		                              started as root becomes (docs/security.md "Sandbox") */
		unsigned uid, gid;         /* user's, resolved at load (getpwnam) */
	} service;
	struct {
		char address[64];          /* numeric IPv4 or IPv6 literal */
		uint16_t port;
		unsigned workers;
		uint32_t max_message;      /* bytes */
		unsigned handshake_timeout_s;
		unsigned read_timeout_s;
		unsigned idle_timeout_s;
		/* source addresses the listener accepts (closed before TLS otherwise); n == 0 =
		 * any (docs/config.md, docs/security.md "Source-address allow-lists") */
		struct cidr_list allow;
		/* fair share (docs/security.md "Fair share") */
		unsigned max_conns_per_source;
		unsigned handshake_rate_per_source;
		unsigned handshake_burst_per_source;
		unsigned max_handshaking;
		unsigned max_handshaking_per_source; /* 0 = max_handshaking / 2 */
	} kmip;
	struct {
		char cert[PATH_MAX];       /* PEM server certificate (chain) */
		char key[PATH_MAX];        /* "pkcs11:..." URI (HSM) or a key file path */
		bool key_is_pkcs11;
		char ca[PATH_MAX];         /* PEM CA bundle that client certificates chain to */
		char ciphers[1024];        /* TLS 1.2 cipher list (OpenSSL syntax) */
		char ciphersuites[512];    /* TLS 1.3 suites (OpenSSL syntax) */
		enum config_tls_version min_version;
		char pinned[CONFIG_PINNED_MAX][CONFIG_FP_HEX + 1]; /* client cert SHA-256, hex */
		size_t n_pinned;
		/* names and addresses the console's `init` puts in the server certificate:
		 * comma-separated DNS names and IP literals; "" = localhost, 127.0.0.1, ::1 and
		 * this host's name */
		char server_names[1024];
	} tls;
	struct {
		char module[PATH_MAX];     /* PKCS#11 module path */
		char token[512];           /* token label or "pkcs11:" URI */
		char pin_file[PATH_MAX];   /* "" = none (SEALED until the console unseals) */
		unsigned timeout_ms;
		/* module calls on the calling worker's thread (hsm_config.direct_calls): no
		 * executor hand-off, but a hung call is then not bounded by timeout_ms */
		bool direct_calls;
	} hsm;
	struct {
		unsigned busy_timeout_ms;
	} store;
	struct {
		bool syslog;
		/* the remote copy (docs/config.md [audit], docs/security.md "Remote audit"):
		 * "HOST:PORT" ("[v6]:PORT") as written, "" = off; host and port parsed from it */
		char remote[CONFIG_REMOTE_MAX + 1];
		char remote_host[CONFIG_REMOTE_MAX + 1];
		uint16_t remote_port;
		char remote_name[CONFIG_REMOTE_MAX + 1]; /* name the collector's certificate must
		                                            carry; "" = the host */
		char remote_ca[PATH_MAX];  /* PEM CA the collector's certificate chains to */
		char remote_cert[PATH_MAX]; /* our client certificate (chain), PEM; "" = [tls] cert */
		char remote_key[PATH_MAX]; /* its key: PEM file (mode 0600) or "pkcs11:" URI;
		                              "" = [tls] key */
		bool remote_key_is_pkcs11;
		unsigned queue_max;        /* records not yet delivered before the policy applies */
		char on_queue_full[16];    /* "stop" | "continue" as written ("" = stop) */
		bool queue_stop;           /* parsed: stop (true) | continue (false) */
	} audit;
	struct {
		/* commands that need a second administrator's approval: comma-separated names
		 * from "zeroize", "backup export", "backup import", "kek destroy",
		 * "client trust", or "all"; "" = none (docs/console.md) */
		char dual_control[256];
		unsigned idle_logout_s;    /* a logged-in session ends after this long idle */
	} console;
	struct {
		char dir[PATH_MAX];        /* removable storage for backup files; "" = none */
	} backup;
	struct config_client clients[CONFIG_CLIENTS_MAX];
	size_t n_clients;
};

/* Where loading failed (first error only). */
struct config_diag {
	char file[PATH_MAX];
	int line;                  /* 0 when the error is not tied to a line */
	char msg[256];
};

/* Parse path into a new struct config (defaults for absent keys). Errors: CF_E_CONFIG
 * (syntax, unknown section/key, range, value), CF_E_PERM_FILE (pin_file not a regular file
 * owned by us with mode 0600/0400), CF_E_IO (cannot read the file), CF_E_NOMEM. diag may be
 * NULL; the error is also logged as "file:line: message". */
MUST_USE cf_err config_load(const char *path, struct config **out, struct config_diag *diag);
/* config_load on len bytes of text already in memory. path (absolute) stands for the file:
 * it is the name in the diagnostics and its directory the base of relative paths, but it is
 * not opened. Errors as config_load; CF_E_INVALID_ARG for a relative path or NULL text. */
MUST_USE cf_err config_load_mem(const char *path, const void *text, size_t len,
				struct config **out, struct config_diag *diag);
/* NULL is a no-op. */
void config_free(struct config *cfg);

/* The client mapping for a certificate: fingerprint match first (fp may be NULL), then
 * subject + issuer (either may be NULL). NULL when none matches. */
const struct config_client *config_client_find(const struct config *cfg, const char *fp_hex,
					       const char *subject, const char *issuer);
/* true when fp_hex (64 hex chars, any case) is in [tls] pinned. */
bool config_pinned(const struct config *cfg, const char *fp_hex);
/* "HOST:PORT" or "[V6]:PORT" ([audit] remote, console `audit remote set`): host (1 to
 * CONFIG_REMOTE_MAX bytes, copied into host[CONFIG_REMOTE_MAX + 1]) and port 1..65535. A bare
 * IPv6 address with a port is refused (write [V6]:PORT). false when malformed. */
bool config_hostport(const char *v, char host[CONFIG_REMOTE_MAX + 1], uint16_t *port);

#endif
