/* coffre-bench: KMIP load generator for any KMIP server over mutual TLS.
 *
 *   coffre-bench --host H --port P --cert C --key K --ca CA --op OP [options]
 *
 * Prints exactly one line on stdout:
 *   op=OP conns=N ops=COUNT secs=S rate=R/s p50_ms=X p99_ms=Y errors=E
 * plus, on stderr, the first error (with the server's Result Reason) and handshake counts.
 * Exit status: 0 = every response was a success and no connection failed; 1 = errors;
 * 2 = usage or set-up error (bad option, unreadable certificate, ...). */
#include "tools/bench.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_MAX_CONNS 100000u
#define BENCH_MAX_THREADS 256u

struct op_name {
	const char *name;
	enum bench_op op;
};

static const struct op_name bench_ops[] = {
	{ "get", BENCH_OP_GET },
	{ "create", BENCH_OP_CREATE },
	{ "locate", BENCH_OP_LOCATE },
	{ "get-attributes", BENCH_OP_GET_ATTRS },
	{ "vcenter", BENCH_OP_VCENTER },
	{ "idle", BENCH_OP_IDLE },
	{ "encrypt", BENCH_OP_ENCRYPT },
	{ "sign", BENCH_OP_SIGN },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: coffre-bench --host HOST --port PORT --cert CERT --key KEY --ca CA --op OP [options]\n"
"  --op get|create|locate|get-attributes|vcenter|idle|encrypt|sign\n"
"       get             Get of one key (--uid, or a key created first)\n"
"       create          Create AES-256, usage mask 12 (+ --attr if given)\n"
"       locate          Locate by --attr NAME=VALUE (an x- attribute; or a standard one)\n"
"       get-attributes  Get Attributes State + x-Vendor (or the --attr x- name)\n"
"       vcenter         new connection each time: full mutual-TLS handshake, Discover\n"
"                       Versions, Get, close (resumed handshakes with --resume)\n"
"       idle            open --conns connections and leave them silent; meanwhile a new\n"
"                       client connects, handshakes, sends Discover Versions and closes\n"
"                       every ~20 ms: ops, rate and latencies are that new client's\n"
"       encrypt         Encrypt 4 KiB, AES-256-GCM, server-made nonce (an AES key created\n"
"                       and activated first; KMIP 1.2+)\n"
"       sign            Sign 64 bytes, ECDSA with SHA-256 (an EC P-256 pair created and\n"
"                       its private key activated first; KMIP 1.2+)\n"
"  --conns N        concurrent connections (default 16)\n"
"  --seconds S      measured time (default 10; 0 = until --requests)\n"
"  --requests N     stop after N successful operations\n"
"  --warmup S       run S seconds before measuring (default 0)\n"
"  --threads T      event-loop threads (default: number of cores)\n"
"  --version V      KMIP protocol version 1.0|1.1|1.2|1.3|1.4|2.0 (default 1.1)\n"
"  --uid UID        object for get / get-attributes / vcenter\n"
"  --attr NAME=VAL  locate filter; also added to create's template\n"
"  --max-items N    locate Maximum Items\n"
"  --resume         vcenter: resume TLS sessions (tickets / session ids)\n"
"  --timeout S      connect / handshake / response timeout (default 10)\n"
"  --max-errors N   stop the run after N errors (default 100; 0 = never)\n"
"  --no-name-check  do not check that the server certificate names --host\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	errno = 0;
	if (s[0] == '-')
		return false;
	unsigned long long u = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || u > max)
		return false;
	*v = u;
	return true;
}

static bool parse_secs(const char *s, double *v)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(d >= 0.0) || d > 86400.0 * 365)
		return false;
	*v = d;
	return true;
}

static bool copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_CERT, OPT_KEY, OPT_CA, OPT_OP, OPT_CONNS, OPT_SECONDS,
	OPT_REQUESTS, OPT_RESUME, OPT_VERSION, OPT_UID, OPT_ATTR, OPT_THREADS, OPT_WARMUP,
	OPT_TIMEOUT, OPT_MAX_ITEMS, OPT_MAX_ERRORS, OPT_NO_NAME_CHECK, OPT_HELP,
};

/* 0 = ok, 2 = usage error (message printed). */
static int bench_args(int argc, char **argv, struct bench_cfg *cfg)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "op", required_argument, NULL, OPT_OP },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "attr", required_argument, NULL, OPT_ATTR },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-items", required_argument, NULL, OPT_MAX_ITEMS },
		{ "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
		{ "no-name-check", no_argument, NULL, OPT_NO_NAME_CHECK },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t u;
	int o;
	bool threads_set = false;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	*cfg = (struct bench_cfg){
		.host = "127.0.0.1", .conns = 16, .seconds = 10.0, .pv = { 1, 1 },
		.threads = cores > 0 ? (unsigned)cores : 1, .timeout = 10.0, .max_errors = 100,
		.name_check = true,
	};
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case OPT_HOST: cfg->host = optarg; break;
		case OPT_PORT: cfg->port = optarg; break;
		case OPT_CERT: cfg->cert = optarg; break;
		case OPT_KEY: cfg->key = optarg; break;
		case OPT_CA: cfg->ca = optarg; break;
		case OPT_OP: {
			bool found = false;
			for (size_t i = 0; i < sizeof bench_ops / sizeof bench_ops[0]; i++) {
				if (strcmp(optarg, bench_ops[i].name) == 0) {
					cfg->op = bench_ops[i].op;
					cfg->op_name = bench_ops[i].name;
					found = true;
				}
			}
			if (!found) {
				fprintf(stderr, "coffre-bench: unknown --op '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_CONNS:
			if (!parse_u64(optarg, BENCH_MAX_CONNS, &u) || u == 0) {
				fprintf(stderr, "coffre-bench: --conns must be 1..%u\n", BENCH_MAX_CONNS);
				return 2;
			}
			cfg->conns = (unsigned)u;
			break;
		case OPT_SECONDS:
			if (!parse_secs(optarg, &cfg->seconds)) {
				fprintf(stderr, "coffre-bench: bad --seconds '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_REQUESTS:
			if (!parse_u64(optarg, UINT64_MAX, &cfg->requests)) {
				fprintf(stderr, "coffre-bench: bad --requests '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_RESUME: cfg->resume = true; break;
		case OPT_VERSION: {
			int maj = 0, min = 0;
			char extra;
			if (sscanf(optarg, "%d.%d%c", &maj, &min, &extra) != 2 ||
			    kmip_version_from(maj, min) < 0) {
				fprintf(stderr, "coffre-bench: --version must be 1.0 .. 1.4 or 2.0\n");
				return 2;
			}
			cfg->pv = (struct kmip_pv){ maj, min };
			break;
		}
		case OPT_UID:
			if (optarg[0] == '\0' || !copy_str(cfg->uid, sizeof cfg->uid, optarg, strlen(optarg))) {
				fprintf(stderr, "coffre-bench: bad --uid\n");
				return 2;
			}
			break;
		case OPT_ATTR: {
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg ||
			    !copy_str(cfg->attr_name, sizeof cfg->attr_name, optarg, (size_t)(eq - optarg)) ||
			    !copy_str(cfg->attr_value, sizeof cfg->attr_value, eq + 1, strlen(eq + 1))) {
				fprintf(stderr, "coffre-bench: --attr wants NAME=VALUE\n");
				return 2;
			}
			break;
		}
		case OPT_THREADS:
			if (!parse_u64(optarg, BENCH_MAX_THREADS, &u) || u == 0) {
				fprintf(stderr, "coffre-bench: --threads must be 1..%u\n", BENCH_MAX_THREADS);
				return 2;
			}
			cfg->threads = (unsigned)u;
			threads_set = true;
			break;
		case OPT_WARMUP:
			if (!parse_secs(optarg, &cfg->warmup)) {
				fprintf(stderr, "coffre-bench: bad --warmup '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_TIMEOUT:
			if (!parse_secs(optarg, &cfg->timeout) || cfg->timeout < 0.001) {
				fprintf(stderr, "coffre-bench: bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_MAX_ITEMS:
			if (!parse_u64(optarg, INT32_MAX, &u)) {
				fprintf(stderr, "coffre-bench: bad --max-items '%s'\n", optarg);
				return 2;
			}
			cfg->max_items = (int32_t)u;
			break;
		case OPT_MAX_ERRORS:
			if (!parse_u64(optarg, UINT64_MAX, &cfg->max_errors)) {
				fprintf(stderr, "coffre-bench: bad --max-errors '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_NO_NAME_CHECK: cfg->name_check = false; break;
		case OPT_HELP: usage(stdout); exit(0);
		default:
			fprintf(stderr, "coffre-bench: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "coffre-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cfg->port == NULL || cfg->cert == NULL || cfg->key == NULL || cfg->ca == NULL ||
	    cfg->op_name == NULL) {
		fprintf(stderr, "coffre-bench: --port, --cert, --key, --ca and --op are required\n");
		usage(stderr);
		return 2;
	}
	if (cfg->seconds == 0.0 && cfg->requests == 0) {
		fprintf(stderr, "coffre-bench: --seconds 0 needs --requests N\n");
		return 2;
	}
	if (cfg->op == BENCH_OP_LOCATE && cfg->attr_name[0] == '\0') {
		fprintf(stderr, "coffre-bench: --op locate needs --attr NAME=VALUE\n");
		return 2;
	}
	if (cfg->resume && cfg->op != BENCH_OP_VCENTER)
		fprintf(stderr, "coffre-bench: note: --resume only matters for --op vcenter\n");
	(void)threads_set;
	if (cfg->threads > cfg->conns)
		cfg->threads = cfg->conns;
	return 0;
}

static int bench_resolve(const struct bench_cfg *cfg, struct bench_run *run)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int e = getaddrinfo(cfg->host, cfg->port, &hints, &res);

	if (e != 0 || res == NULL) {
		fprintf(stderr, "coffre-bench: cannot resolve %s:%s: %s\n", cfg->host, cfg->port,
			gai_strerror(e));
		return 2;
	}
	if (res->ai_addrlen > sizeof run->sa) {
		freeaddrinfo(res);
		return 2;
	}
	memcpy(&run->sa, res->ai_addr, res->ai_addrlen);
	run->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* encrypt / sign: the key to use, made and activated (Create + Activate, or Create Key Pair
 * + Activate of the private key) into cfg->uid. 0 = ok, 1 = refused, 2 = set-up error. */
static int bench_crypto_key(struct bench_cfg *cfg, struct bench_run *run)
{
	uint32_t mk = cfg->op == BENCH_OP_SIGN ? KMIP_OPERATION_CREATE_KEY_PAIR
					       : KMIP_OPERATION_CREATE;
	uint32_t ops[2] = { mk, KMIP_OPERATION_ACTIVATE };
	for (int i = 0; i < 2; i++) {
		struct bench_msg m;
		struct bench_rsp_info info;
		char err[512];
		cf_err rc = bench_msg_make(cfg, ops[i], cfg->uid, &m);
		if (rc != CF_OK) {
			fprintf(stderr, "coffre-bench: cannot encode the key set-up: %s\n",
				cf_err_str(rc));
			return 2;
		}
		rc = bench_tls_call(cfg, run->ctx, &run->sa, run->salen, &m, &info, err, sizeof err);
		bench_msg_free(&m);
		if (rc != CF_OK) {
			fprintf(stderr, "coffre-bench: setting up the %s key failed: %s\n",
				cfg->op_name, err);
			return 1;
		}
		if (i == 0) {
			if (info.uid[0] == '\0') {
				fprintf(stderr, "coffre-bench: the key set-up answered no uid\n");
				return 1;
			}
			memcpy(cfg->uid, info.uid, sizeof cfg->uid);
		}
	}
	fprintf(stderr, "coffre-bench: %s with key %s\n", cfg->op_name, cfg->uid);
	return 0;
}

/* Prepare the run's requests; creates the target key first when one is needed and no --uid
 * was given. 0 = ok, 1 = the server refused (message printed), 2 = set-up error. */
static int bench_prepare(struct bench_cfg *cfg, struct bench_run *run)
{
	char err[512];
	struct bench_rsp_info info;
	cf_err rc;
	uint32_t op;
	bool needs_uid = cfg->op == BENCH_OP_GET || cfg->op == BENCH_OP_GET_ATTRS ||
			 cfg->op == BENCH_OP_VCENTER;

	if (needs_uid && cfg->uid[0] == '\0') {
		struct bench_msg create;
		if ((rc = bench_msg_make(cfg, KMIP_OPERATION_CREATE, "", &create)) != CF_OK) {
			fprintf(stderr, "coffre-bench: cannot encode Create: %s\n", cf_err_str(rc));
			return 2;
		}
		rc = bench_tls_call(cfg, run->ctx, &run->sa, run->salen, &create, &info, err, sizeof err);
		bench_msg_free(&create);
		if (rc != CF_OK) {
			fprintf(stderr, "coffre-bench: creating the key to read failed: %s\n", err);
			return 1;
		}
		if (info.uid[0] == '\0') {
			fprintf(stderr, "coffre-bench: the Create response has no Unique Identifier\n");
			return 1;
		}
		memcpy(cfg->uid, info.uid, sizeof cfg->uid);
		fprintf(stderr, "coffre-bench: created key %s\n", cfg->uid);
	}
	if ((cfg->op == BENCH_OP_ENCRYPT || cfg->op == BENCH_OP_SIGN) && cfg->uid[0] == '\0') {
		int k = bench_crypto_key(cfg, run);
		if (k != 0)
			return k;
	}
	switch (cfg->op) {
	case BENCH_OP_ENCRYPT: op = KMIP_OPERATION_ENCRYPT; break;
	case BENCH_OP_SIGN: op = KMIP_OPERATION_SIGN; break;
	case BENCH_OP_GET:
	case BENCH_OP_VCENTER: op = KMIP_OPERATION_GET; break;
	case BENCH_OP_CREATE: op = KMIP_OPERATION_CREATE; break;
	case BENCH_OP_LOCATE: op = KMIP_OPERATION_LOCATE; break;
	case BENCH_OP_GET_ATTRS: op = KMIP_OPERATION_GET_ATTRIBUTES; break;
	case BENCH_OP_IDLE: op = KMIP_OPERATION_DISCOVER_VERSIONS; break;
	default: return 2;
	}
	if ((rc = bench_msg_make(cfg, op, cfg->uid, &run->req)) != CF_OK) {
		fprintf(stderr, "coffre-bench: cannot encode the %s request: %s%s\n", cfg->op_name,
			cf_err_str(rc), rc == CF_E_BAD_ATTR || rc == CF_E_BAD_ENUM ?
			" (--attr: an x-/y- name, or a standard Text/Integer/Enumeration attribute)" : "");
		return 2;
	}
	if (cfg->op == BENCH_OP_VCENTER &&
	    (rc = bench_msg_make(cfg, KMIP_OPERATION_DISCOVER_VERSIONS, "", &run->dv)) != CF_OK) {
		fprintf(stderr, "coffre-bench: cannot encode Discover Versions: %s\n", cf_err_str(rc));
		return 2;
	}
	return 0;
}

/* Start the threads, publish the window, join, report. Returns the exit status. */
static int bench_execute(struct bench_cfg *cfg, struct bench_run *run)
{
	unsigned nt = cfg->threads, started = 0;
	int status = 2;
	struct bench_hist *total = NULL;

	run->th = calloc(nt, sizeof *run->th);
	total = calloc(1, sizeof *total);
	if (run->th == NULL || total == NULL) {
		fprintf(stderr, "coffre-bench: out of memory\n");
		goto out;
	}
	run->n_threads = nt;
	if (pthread_barrier_init(&run->ready, NULL, nt + 1) != 0 ||
	    pthread_barrier_init(&run->go, NULL, nt + 1) != 0) {
		fprintf(stderr, "coffre-bench: pthread_barrier_init failed\n");
		goto out;
	}
	atomic_store(&run->t0, UINT64_MAX);
	atomic_store(&run->t_end, UINT64_MAX);
	for (unsigned i = 0, first = 0; i < nt; i++) {
		struct bench_thread *th = &run->th[i];
		th->run = run;
		th->first_conn = first;
		th->n_conns = cfg->conns / nt + (i < cfg->conns % nt ? 1u : 0u);
		first += th->n_conns;
		if (pthread_create(&th->tid, NULL, bench_thread_main, th) != 0) {
			fprintf(stderr, "coffre-bench: pthread_create failed\n");
			/* threads already started wait on the barrier: nothing sane to do */
			exit(2);
		}
		started++;
	}
	(void)pthread_barrier_wait(&run->ready);
	if (cfg->op == BENCH_OP_IDLE) {
		/* the harness samples the server's memory once this line appears */
		fprintf(stderr, "coffre-bench: idle: connections set up, measuring\n");
		fflush(stderr);
	}
	uint64_t t0 = bench_now_ns() + (uint64_t)(cfg->warmup * 1e9);
	atomic_store(&run->t0, t0);
	atomic_store(&run->t_end, cfg->seconds > 0.0 ? t0 + (uint64_t)(cfg->seconds * 1e9) : UINT64_MAX);
	(void)pthread_barrier_wait(&run->go);

	uint64_t ops = 0, errors = 0, hs = 0, resumed = 0, held = 0, opened = 0;
	for (unsigned i = 0; i < started; i++) {
		(void)pthread_join(run->th[i].tid, NULL);
		ops += run->th[i].ops;
		errors += run->th[i].errors;
		hs += run->th[i].handshakes;
		resumed += run->th[i].resumed;
		held += run->th[i].idle_held;
		opened += run->th[i].idle_opened;
		bench_hist_merge(total, &run->th[i].hist);
	}
	uint64_t end = atomic_load(&run->t_end), stop = atomic_load(&run->stop_ns);
	if (stop != 0 && stop < end)
		end = stop;
	uint64_t now = bench_now_ns();
	if (end > now)
		end = now;
	double secs = end > t0 ? (double)(end - t0) / 1e9 : 0.0;
	double rate = secs > 0.0 ? (double)ops / secs : 0.0;
	printf("op=%s conns=%u ops=%llu secs=%.2f rate=%.1f/s p50_ms=%.3f p99_ms=%.3f errors=%llu\n",
	       cfg->op_name, cfg->conns, (unsigned long long)ops, secs, rate,
	       bench_hist_quantile_ms(total, 0.50), bench_hist_quantile_ms(total, 0.99),
	       (unsigned long long)errors);
	fflush(stdout);
	fprintf(stderr, "coffre-bench: handshakes=%llu resumed=%llu threads=%u version=%d.%d\n",
		(unsigned long long)hs, (unsigned long long)resumed, nt, cfg->pv.major, cfg->pv.minor);
	if (cfg->op == BENCH_OP_IDLE)
		fprintf(stderr, "coffre-bench: idle: opened=%llu held=%llu of %u connections; new "
			"clients served=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
			(unsigned long long)opened, (unsigned long long)held, cfg->conns,
			(unsigned long long)ops, bench_hist_quantile_ms(total, 0.50),
			bench_hist_quantile_ms(total, 0.99), bench_hist_quantile_ms(total, 1.0));
	if (run->first_err[0] != '\0')
		fprintf(stderr, "coffre-bench: first error: %s\n", run->first_err);
	if (errors == 0 && ops == 0)
		fprintf(stderr, "coffre-bench: no operation completed in the measured time\n");
	status = (errors == 0 && ops > 0) ? 0 : 1;
	(void)pthread_barrier_destroy(&run->ready);
	(void)pthread_barrier_destroy(&run->go);
out:
	free(total);
	free(run->th);
	run->th = NULL;
	return status;
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg;
	struct bench_run *run = NULL;
	char err[512];
	int status;

	if ((status = bench_args(argc, argv, &cfg)) != 0)
		return status;
	(void)signal(SIGPIPE, SIG_IGN);
	{	/* thousands of connections need more than the usual 1024 descriptors */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg.conns + 64u)
			fprintf(stderr, "coffre-bench: warning: %u connections but only %llu file "
				"descriptors allowed\n", cfg.conns, (unsigned long long)rl.rlim_cur);
	}
	run = calloc(1, sizeof *run);
	if (run == NULL)
		return 2;
	run->cfg = &cfg;
	if (pthread_mutex_init(&run->err_mu, NULL) != 0) {
		free(run);
		return 2;
	}
	if ((status = bench_resolve(&cfg, run)) != 0)
		goto out;
	if (bench_tls_ctx_new(&cfg, &run->ctx, err, sizeof err) != CF_OK) {
		fprintf(stderr, "coffre-bench: %s\n", err);
		status = 2;
		goto out;
	}
	if ((status = bench_prepare(&cfg, run)) != 0)
		goto out;
	status = bench_execute(&cfg, run);
out:
	bench_msg_free(&run->req);
	bench_msg_free(&run->dv);
	SSL_CTX_free(run->ctx);
	(void)pthread_mutex_destroy(&run->err_mu);
	free(run);
	return status;
}
