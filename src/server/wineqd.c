/* wineqd: serves predictions (Predictor) and the model registry (Registry) over nng RPC,
 * publishes every prediction on a PUB feed, answers HTTP, and follows the registry when the
 * served stage or alias moves. Every flag is also a key of the config file. */
#include "wqd.h"
#include "wqd_http.h"

#include "wq_auth.h"
#include "wq_config.h"
#include "wq_error.h"
#include "wq_file.h"
#include "wq_kvconf.h"
#include "wq_log.h"
#include "wq_model_uri.h"
#include "wq_predid.h"
#include "wq_regsvc.h"
#include "wq_rpc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef WQ_SYSCONFDIR
#define WQ_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG WQ_SYSCONFDIR "/wineq/wineqd.conf"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define MAX_CERT_ROLES 64

typedef struct opts {
	const char *listen, *feed, *http, *model, *config;
	const char *tls_cert, *tls_key, *tls_ca;
	int tls_client_auth;
	const char *tracking_uri, *artifact_root, *s3_endpoint, *log_level;
	const char *feedback_key;
	double poll_s, drain_s, feedback_max_age_s;
	size_t workers;
	/* access control (wq_auth.h) */
	int registry_mode, loopback_role, anonymous_role, cert_role, metrics_open;
	const char *cert_roles[MAX_CERT_ROLES]; /* --tls-identity-role NAME=ROLE */
	size_t ncert_roles;
} opts;

enum {
	O_LISTEN = 256,
	O_FEED,
	O_HTTP,
	O_MODEL,
	O_POLL,
	O_CONFIG,
	O_TLS_CERT,
	O_TLS_KEY,
	O_TLS_CA,
	O_TLS_CLIENT_AUTH,
	O_WORKERS,
	O_TRACKING,
	O_ARTIFACT,
	O_S3,
	O_LOG,
	O_DRAIN,
	O_FEEDBACK_KEY,
	O_FEEDBACK_MAX_AGE,
	O_REGISTRY,
	O_LOOPBACK_ROLE,
	O_ANONYMOUS_ROLE,
	O_TLS_IDENTITY_ROLE,
	O_TLS_DEFAULT_ROLE,
	O_METRICS_OPEN,
	O_HELP,
	O_VERSION
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"feed", required_argument, NULL, O_FEED},
    {"http", required_argument, NULL, O_HTTP},
    {"model", required_argument, NULL, O_MODEL},
    {"poll", required_argument, NULL, O_POLL},
    {"config", required_argument, NULL, O_CONFIG},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"tls-ca", required_argument, NULL, O_TLS_CA},
    {"tls-client-auth", optional_argument, NULL, O_TLS_CLIENT_AUTH},
    {"workers", required_argument, NULL, O_WORKERS},
    {"tracking-uri", required_argument, NULL, O_TRACKING},
    {"artifact-root", required_argument, NULL, O_ARTIFACT},
    {"s3-endpoint-url", required_argument, NULL, O_S3},
    {"log-level", required_argument, NULL, O_LOG},
    {"drain-timeout", required_argument, NULL, O_DRAIN},
    {"feedback-key", required_argument, NULL, O_FEEDBACK_KEY},
    {"feedback-max-age", required_argument, NULL, O_FEEDBACK_MAX_AGE},
    {"registry", required_argument, NULL, O_REGISTRY},
    {"loopback-role", required_argument, NULL, O_LOOPBACK_ROLE},
    {"anonymous-role", required_argument, NULL, O_ANONYMOUS_ROLE},
    {"tls-identity-role", required_argument, NULL, O_TLS_IDENTITY_ROLE},
    {"tls-default-role", required_argument, NULL, O_TLS_DEFAULT_ROLE},
    {"metrics-open", required_argument, NULL, O_METRICS_OPEN},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0}};

static void usage(FILE *out)
{
	fputs("usage: wineqd [options]\n"
	      "  --listen URL          RPC address (tcp://, ipc://, tls+tcp://) "
	      "[tcp://127.0.0.1:7070]\n"
	      "  --feed URL            prediction feed (nng PUB), 'none' to disable "
	      "[tcp://127.0.0.1:7071]\n"
	      "  --http ADDR:PORT      HTTP front end, 'none' to disable [127.0.0.1:9696]\n"
	      "  --model URI           models:/NAME/STAGE, models:/NAME@ALIAS, models:/NAME/N,\n"
	      "                        runs:/ID/PATH or a bundle path "
	      "[models:/wine-quality/Production]\n"
	      "  --poll SECONDS        registry poll interval, 0 = only on SIGHUP [10]\n"
	      "  --config FILE         key = value file, keys are these flag names\n"
	      "                        [" DEFAULT_CONFIG ", when present]\n"
	      "  --tls-cert FILE --tls-key FILE [--tls-ca FILE] [--tls-client-auth[=yes|no]]\n"
	      "                        certificate for tls+tcp://; with a CA and client auth,\n"
	      "                        clients must present a certificate signed by it\n"
	      "  --workers N           requests served at once [16]\n"
	      "  --tracking-uri URI --artifact-root URI --s3-endpoint-url URL\n"
	      "                        the registry this server serves and loads models from\n"
	      "  --drain-timeout SECONDS  how long SIGTERM waits for in-flight requests [10]\n"
	      "  --feedback-key FILE   key that signs prediction ids (32 bytes, created 0600 when\n"
	      "                        missing; replicas sharing it accept each other's ids)\n"
	      "                        [$WINEQ_HOME/feedback.key]\n"
	      "  --feedback-max-age SECONDS  how long after a prediction its true label is\n"
	      "                        accepted, 0 = no limit [604800: 7 days]\n"
	      "  --registry MODE       off, read-only or read-write: how the Registry service is\n"
	      "                        exposed on --listen [read-write]\n"
	      "  --loopback-role ROLE  role of callers without a credential over loopback or\n"
	      "                        ipc:// (none, predict, read, edit, manage) [manage]\n"
	      "  --anonymous-role ROLE role of callers without a credential from elsewhere\n"
	      "                        [predict]; edit or manage with --registry read-write on a\n"
	      "                        non-loopback --listen is refused\n"
	      "  --tls-identity-role NAME=ROLE  role of a verified client certificate whose CN\n"
	      "                        or DNS name is NAME (repeatable)\n"
	      "  --tls-default-role ROLE  role of other verified client certificates [read]\n"
	      "  --metrics-open yes|no GET /metrics without a credential [no: the READ role,\n"
	      "                        which loopback callers have by default]\n"
	      "  --log-level LEVEL     debug, info, warn, error [info]\n"
	      "  --help, --version\n"
	      "Signals: SIGHUP checks the registry for a new model at once; SIGTERM/SIGINT drain\n"
	      "and exit 0.\n",
	      out);
}

static int parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > max)
		return WQ_EINVAL;
	*out = v;
	return WQ_OK;
}

static int parse_bool(const char *s, int *out)
{
	if (s == NULL || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return WQ_EINVAL;
	return WQ_OK;
}

/* Applies argv (the config file's "--key=value" list or the command line). Returns an exit
 * code, -1 to go on. */
static int opts_apply(opts *o, int argc, char **argv, const char *origin)
{
	int c, rc = WQ_OK;
	char *end;
	long n;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN:
			o->listen = optarg;
			break;
		case O_FEED:
			o->feed = optarg;
			break;
		case O_HTTP:
			o->http = optarg;
			break;
		case O_MODEL:
			o->model = optarg;
			break;
		case O_CONFIG:
			o->config = optarg;
			break;
		case O_TLS_CERT:
			o->tls_cert = optarg;
			break;
		case O_TLS_KEY:
			o->tls_key = optarg;
			break;
		case O_TLS_CA:
			o->tls_ca = optarg;
			break;
		case O_TRACKING:
			o->tracking_uri = optarg;
			break;
		case O_ARTIFACT:
			o->artifact_root = optarg;
			break;
		case O_S3:
			o->s3_endpoint = optarg;
			break;
		case O_LOG:
			o->log_level = optarg;
			break;
		case O_TLS_CLIENT_AUTH:
			rc = parse_bool(optarg, &o->tls_client_auth);
			break;
		case O_POLL:
			rc = parse_seconds(optarg, 86400, &o->poll_s);
			break;
		case O_DRAIN:
			rc = parse_seconds(optarg, 3600, &o->drain_s);
			break;
		case O_FEEDBACK_KEY:
			o->feedback_key = optarg;
			break;
		case O_FEEDBACK_MAX_AGE:
			rc = parse_seconds(optarg, 10 * 366 * 86400.0, &o->feedback_max_age_s);
			break;
		case O_REGISTRY:
			rc = wq_auth_registry_mode_parse(optarg, &o->registry_mode);
			break;
		case O_LOOPBACK_ROLE:
			rc = wq_role_parse(optarg, &o->loopback_role);
			break;
		case O_ANONYMOUS_ROLE:
			rc = wq_role_parse(optarg, &o->anonymous_role);
			break;
		case O_TLS_DEFAULT_ROLE:
			rc = wq_role_parse(optarg, &o->cert_role);
			break;
		case O_TLS_IDENTITY_ROLE:
			if (o->ncert_roles == MAX_CERT_ROLES || strchr(optarg, '=') == NULL)
				rc = WQ_EINVAL;
			else
				o->cert_roles[o->ncert_roles++] = optarg;
			break;
		case O_METRICS_OPEN:
			rc = parse_bool(optarg, &o->metrics_open);
			break;
		case O_WORKERS:
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || n < 1 || n > 1024)
				rc = WQ_EINVAL;
			else
				o->workers = (size_t)n;
			break;
		case O_HELP:
			usage(stdout);
			return EXIT_OK;
		case O_VERSION:
			printf("wineqd %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		case ':':
			fprintf(stderr, "wineqd: %s: option %s needs a value\n", origin,
			        argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "wineqd: %s: unknown option %s (see --help)\n", origin,
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (rc != WQ_OK) {
			fprintf(stderr, "wineqd: %s: invalid value '%s' for --%s\n", origin,
			        optarg != NULL ? optarg : "", long_opts[c - O_LISTEN].name);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineqd: %s: unexpected argument '%s'\n", origin, argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* ---------------------------------------------------------------------------------------
 * Following the registry */

typedef struct watcher {
	wqd *d;
	const char *uri;
	wq_model_uri parsed;
} watcher;

/* For models:/ URIs: which version the URI names now, without downloading anything.
 * WQ_ENOENT when it names none (e.g. nothing in Production yet). *out owned by the caller. */
static int target_version(watcher *w, wq_model_version **out, char *err, size_t errlen)
{
	wq_registry *r = w->d->registry;
	const wq_model_uri *u = &w->parsed;
	wq_model_version **vs = NULL, *best = NULL;
	size_t n = 0, i, j;
	int rc;

	if (u->kind == WQ_MODEL_URI_VERSION)
		return r->ops->version_get(r, u->name, u->version, out, err, errlen);
	rc = r->ops->version_list(r, u->name, &vs, &n, err, errlen);
	if (rc != WQ_OK)
		return rc;
	for (i = 0; i < n; i++) {
		int match = u->kind == WQ_MODEL_URI_LATEST ||
		            (u->kind == WQ_MODEL_URI_STAGE && vs[i]->stage == u->stage);

		for (j = 0; u->kind == WQ_MODEL_URI_ALIAS && j < vs[i]->naliases; j++)
			match |= strcmp(vs[i]->aliases[j], u->alias) == 0;
		if (match && (best == NULL || vs[i]->version > best->version))
			best = vs[i];
	}
	for (i = 0; i < n; i++)
		if (vs[i] != best)
			wq_model_version_free(vs[i]);
	free(vs);
	if (best == NULL)
		return wq_err_set(err, errlen, WQ_ENOENT, "%s names no model version yet", w->uri);
	*out = best;
	return WQ_OK;
}

/* The URI names no version any more: readiness follows whether the served one still exists
 * (deleted: not ready, though it keeps answering; merely moved out of the stage: ready). */
static void served_version_check(wqd *d, const wq_served_model *cur)
{
	wq_registry *r = d->registry;
	wq_model_version *v = NULL;
	char err[256];
	int rc = r->ops->version_get(r, cur->name, cur->version, &v, err, sizeof(err));

	wq_model_version_free(v);
	if (rc == WQ_ENOENT && !atomic_exchange(&d->model_missing, 1))
		wq_log(WQ_LOG_WARN,
		       "the served model %s version %s no longer exists in the registry: not ready",
		       cur->name, cur->version_str);
	else if (rc == WQ_OK)
		atomic_store(&d->model_missing, 0);
}

/* Loads what the URI names now and swaps it in when it differs from what is served. force:
 * resolve even when a cheap check says nothing changed (SIGHUP, start-up). */
static void watcher_check(watcher *w, int force)
{
	wqd *d = w->d;
	wq_registry *r = d->registry;
	wq_model_version *want = NULL, *v = NULL;
	wq_served_model *cur = wq_serving_get(d->serving), *m = NULL;
	wq_bundle *b = NULL;
	char err[1024] = "", *dir = NULL;
	int is_registry = w->parsed.kind <= WQ_MODEL_URI_LATEST, rc;

	if (is_registry) {
		rc = target_version(w, &want, err, sizeof(err));
		if (rc == WQ_ENOENT && cur != NULL && cur->version > 0)
			served_version_check(d, cur);
		if (rc != WQ_OK)
			goto fail;
		if (cur != NULL && strcmp(cur->sha256, want->sha256) == 0 &&
		    cur->version == want->version &&
		    strcmp(cur->stage, wq_stage_name(want->stage)) == 0) {
			atomic_store(&d->model_missing, 0); /* e.g. restored after a delete */
			goto out;                           /* nothing moved */
		}
	} else if (!force && cur != NULL) {
		goto out; /* fixed content: only SIGHUP looks again */
	}
	rc = r->ops->resolve(r, w->uri, &dir, &v, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_bundle_load(dir, 0, &b, err, sizeof(err));
	if (rc != WQ_OK)
		goto fail;
	if (v != NULL)
		rc = wq_served_model_new(b, dir, v->name, v->version, wq_stage_name(v->stage),
		                         w->uri, v->run_id, &m, err, sizeof(err));
	else
		rc = wq_served_model_new(b, dir, NULL, 0, "", w->uri, "", &m, err, sizeof(err));
	b = NULL;
	if (rc != WQ_OK)
		goto fail;
	if (cur != NULL && strcmp(cur->sha256, m->sha256) == 0 && cur->version == m->version &&
	    strcmp(cur->stage, m->stage) == 0) {
		wq_served_model_put(m);
		goto out;
	}
	wq_log(WQ_LOG_INFO, "serving %s version %s (%s) sha256 %.12s from %s", m->name,
	       m->version > 0 ? m->version_str : "-", m->stage[0] ? m->stage : "no stage",
	       m->sha256, dir);
	wq_serving_swap(d->serving, m);
	atomic_store(&d->model_missing, 0);
	wq_prom_cell_inc(d->m_reloads);
	goto out;
fail:
	if (cur == NULL || rc != WQ_ENOENT || !is_registry) {
		wq_log(cur != NULL ? WQ_LOG_WARN : WQ_LOG_ERROR, "cannot load %s: %s%s", w->uri,
		       err[0] ? err : wq_strerror(rc),
		       cur != NULL ? " (the current model keeps serving)" : "");
		wq_prom_cell_inc(d->m_reload_failures);
	} else {
		wq_log(WQ_LOG_WARN, "%s: %s (the current model keeps serving)", w->uri, err);
	}
out:
	wq_bundle_free(b);
	wq_model_version_free(want);
	wq_model_version_free(v);
	free(dir);
	wq_served_model_put(cur);
}

/* ---------------------------------------------------------------------------------------
 * Access control */

/* Refuses (with the reason on stderr) a configuration that would let callers without any
 * credential write to the registry from another host: the anonymous role reaches EDIT while
 * the Registry service is read-write on a listener that is not loopback-only. (Anonymous
 * callers over loopback have the loopback role wherever the listener is: they are this
 * host's.) */
static int insecure(const opts *o)
{
	if (o->registry_mode != WQ_REGISTRY_READ_WRITE || o->anonymous_role < WQ_ROLE_EDIT ||
	    wq_auth_addr_is_loopback(o->listen))
		return 0;
	fprintf(stderr,
	        "wineqd: refusing to start: --anonymous-role %s with --registry read-write on %s "
	        "would let anyone who reaches the port change the registry; use --registry "
	        "read-only or off, a lower --anonymous-role, or a loopback --listen address\n",
	        wq_role_name(o->anonymous_role), o->listen);
	return 1;
}

/* The authorizer shared by RPC and HTTP: the registry's token table when the registry is a
 * local database (else tokens cannot be verified here) and the certificate map. */
static int access_open(const opts *o, wqd *d, char *err, size_t errlen)
{
	wq_auth_policy p = {.loopback_role = o->loopback_role,
	                    .anonymous_role = o->anonymous_role,
	                    .cert_role = o->cert_role,
	                    .registry_mode = o->registry_mode};
	const wq_config *c = &d->registry->config;
	int local = c->tracking_kind == WQ_TRACKING_SQLITE && c->db_path != NULL, rc;

	rc = wq_auth_open(local ? c->db_path : NULL, &p, &d->auth, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < o->ncert_roles; i++)
		rc = wq_auth_cert_role_add(d->auth, o->cert_roles[i], err, errlen);
	if (rc != WQ_OK)
		return rc;
	d->metrics_open = o->metrics_open;
	wq_log(WQ_LOG_INFO,
	       "access: registry %s; without a credential: %s over loopback, %s elsewhere; "
	       "tokens %s; client certificates %s",
	       o->registry_mode == WQ_REGISTRY_OFF         ? "off"
	       : o->registry_mode == WQ_REGISTRY_READ_ONLY ? "read-only"
	                                                   : "read-write",
	       wq_role_name(o->loopback_role), wq_role_name(o->anonymous_role),
	       local ? "verified against the registry database" : "off (remote registry)",
	       o->tls_client_auth ? "required" : "not requested");
	if (!wq_auth_addr_is_loopback(o->listen) && o->registry_mode == WQ_REGISTRY_READ_WRITE &&
	    !local && !o->tls_client_auth)
		wq_log(WQ_LOG_WARN, "no caller from another host can write to the registry: "
		                    "neither tokens nor client certificates can be checked");
	return WQ_OK;
}

/* ---------------------------------------------------------------------------------------
 * main */

static void rpc_observe(void *arg, const char *method, int code, double seconds)
{
	wqd_observe(arg, "rpc", method, wq_rpc_code_name(code), seconds);
}

/* Loads the config file (explicit --config, else the default when present) and applies it.
 * Returns an exit code, -1 to go on; conf and cargv keep the strings alive. */
static int config_apply(opts *o, int argc, char **argv, wq_kvconf *conf, char ***cargv, int *cargc)
{
	const char *path = NULL;
	char err[1024];
	int i, rc, explicit = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1], explicit = 1;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9, explicit = 1;
	}
	if (path == NULL)
		path = DEFAULT_CONFIG;
	rc = wq_kvconf_load(path, conf, err, sizeof(err));
	if (rc == WQ_ENOENT && !explicit)
		return -1;
	if (rc != WQ_OK) {
		fprintf(stderr, "wineqd: %s\n", err);
		return EXIT_USAGE;
	}
	if (wq_kvconf_get(conf, "config") != NULL) {
		fprintf(stderr, "wineqd: %s: 'config' cannot be set in a config file\n", path);
		return EXIT_USAGE;
	}
	if (wq_kvconf_args(conf, "wineqd", cargv, cargc) != WQ_OK) {
		fprintf(stderr, "wineqd: out of memory\n");
		return EXIT_FAIL;
	}
	return opts_apply(o, *cargc, *cargv, path);
}

int main(int argc, char **argv)
{
	opts o = {.listen = "tcp://127.0.0.1:7070",
	          .feed = "tcp://127.0.0.1:7071",
	          .http = "127.0.0.1:9696",
	          .model = "models:/wine-quality/Production",
	          .poll_s = 10,
	          .drain_s = 10,
	          .feedback_max_age_s = WQD_FEEDBACK_MAX_AGE_MS / 1000,
	          .workers = 16,
	          .log_level = "info",
	          .registry_mode = WQ_REGISTRY_READ_WRITE,
	          .loopback_role = WQ_ROLE_MANAGE,
	          .anonymous_role = WQ_ROLE_PREDICT,
	          .cert_role = WQ_ROLE_READ};
	wq_kvconf conf = {0};
	char **cargv = NULL, err[1024] = "", *key_path = NULL;
	int cargc = 0, ex, rc, level, sig;
	wqd d;
	wq_config cfg = {0};
	wq_rpc_tls tls = {0};
	wq_rpc_server_opts so = {0};
	wq_rpc_server *rpc = NULL;
	ProtobufCService *predictor = NULL, *registry_svc = NULL;
	wqd_http *http = NULL;
	watcher w = {0};
	sigset_t sigs;
	struct timespec ts;

	memset(&d, 0, sizeof(d));
	/* Signals are taken synchronously by the main thread: block them before any thread
	 * starts so the workers never see them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ex = config_apply(&o, argc, argv, &conf, &cargv, &cargc);
	if (ex < 0)
		ex = opts_apply(&o, argc, argv, "command line");
	if (ex >= 0)
		goto done;
	ex = EXIT_USAGE;
	if (wq_log_level_parse(o.log_level, &level) != WQ_OK) {
		fprintf(stderr, "wineqd: invalid --log-level '%s'\n", o.log_level);
		goto done;
	}
	wq_log_set_level(level);
	if (wq_model_uri_parse(o.model, &w.parsed, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: --model: %s\n", err);
		goto done;
	}
	if (strncmp(o.listen, "tls+tcp://", 10) == 0 && (o.tls_cert == NULL || o.tls_key == NULL)) {
		fprintf(stderr, "wineqd: --listen %s needs --tls-cert and --tls-key\n", o.listen);
		goto done;
	}
	if (o.tls_client_auth && o.tls_ca == NULL) {
		fprintf(stderr, "wineqd: --tls-client-auth needs --tls-ca\n");
		goto done;
	}
	if (insecure(&o))
		goto done;

	ex = EXIT_FAIL;
	if (wqd_init(&d, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: %s\n", err);
		goto done;
	}
	rc = wq_config_resolve(o.tracking_uri, o.artifact_root, o.s3_endpoint, &cfg, err,
	                       sizeof(err));
	/* the default key lives in WINEQ_HOME; the registry takes cfg over */
	if (rc == WQ_OK) {
		key_path = o.feedback_key != NULL ? strdup(o.feedback_key)
		                                  : wq_file_path_join(cfg.home, "feedback.key");
		if (key_path == NULL)
			rc = wq_err_set(err, sizeof(err), WQ_ENOMEM, "out of memory");
	}
	cfg.busy_timeout_ms = 250; /* a locked registry is answered "busy", not waited on */
	if (rc == WQ_OK)
		rc = wq_registry_open(&cfg, &d.registry, err, sizeof(err));
	if (rc == WQ_OK) /* watcher, Registry service and HTTP share one SQLite handle: one lock */
		rc = wq_registry_serialized(d.registry, &d.registry, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineqd: cannot open the registry: %s\n", err);
		goto done;
	}
	if (access_open(&o, &d, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: access control: %s\n", err);
		goto done;
	}
	if (wq_predid_open(key_path, 1, &d.predid, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: --feedback-key: %s\n", err);
		goto done;
	}
	d.feedback_max_age_ms = (int64_t)(o.feedback_max_age_s * 1000.0);
	w.d = &d;
	w.uri = o.model;
	watcher_check(&w, 1);

	tls.cert_file = o.tls_cert;
	tls.key_file = o.tls_key;
	tls.ca_file = o.tls_ca;
	tls.client_auth = o.tls_client_auth;
	/* the feed takes the RPC's TLS settings when it is tls+tcp:// too */
	if (strcmp(o.feed, "none") != 0 &&
	    wqd_feed_open_tls(o.feed, &tls, d.m_feed_published, d.m_feed_dropped, &d.feed, err,
	                      sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: %s\n", err);
		goto done;
	}
	so.workers = o.workers;
	so.tls = &tls;
	so.observe = rpc_observe;
	so.observe_arg = &d;
	rc = wq_rpc_server_open(o.listen, &so, &rpc, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_server_set_authorizer(rpc, wq_auth_rpc_authorize, d.auth);
	if (rc == WQ_OK && (rc = wqd_predictor_new(&d, &predictor)) != WQ_OK)
		wq_err_set(err, sizeof(err), rc, "out of memory");
	if (rc == WQ_OK && o.registry_mode != WQ_REGISTRY_OFF) {
		rc = wq_regsvc_new(d.registry, &registry_svc, err, sizeof(err));
		wq_regsvc_set_auth(registry_svc, d.auth);
	}
	if (rc == WQ_OK)
		rc = wq_rpc_server_add_fast_service(rpc, predictor, err, sizeof(err));
	if (rc == WQ_OK && registry_svc != NULL)
		rc = wq_rpc_server_add_service(rpc, registry_svc, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_server_start(rpc, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineqd: rpc %s: %s\n", o.listen, err);
		goto done;
	}
	if (strcmp(o.http, "none") != 0 &&
	    wqd_http_start(&d, o.http, &http, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: http %s: %s\n", o.http, err);
		goto done;
	}
	wq_log(WQ_LOG_INFO, "wineqd %s: rpc %s, feed %s, http %s, model %s, poll %gs",
	       PACKAGE_VERSION, wq_rpc_server_url(rpc), o.feed, o.http, o.model, o.poll_s);
	wq_log(WQ_LOG_INFO, "feedback: key %s, labels accepted for %gs after a prediction%s",
	       key_path, o.feedback_max_age_s,
	       strcmp(o.feed, "none") == 0 ? " (off: no feed to publish them on)" : "");

	for (;;) {
		double wait = o.poll_s > 0 ? o.poll_s : 3600;

		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			wq_log(WQ_LOG_INFO, "SIGHUP: checking %s", o.model);
			watcher_check(&w, 1);
		} else if (sig < 0 && errno == EAGAIN && o.poll_s > 0) {
			watcher_check(&w, 0);
		}
	}
	wq_log(WQ_LOG_INFO, "stopping: draining in-flight requests (at most %gs)", o.drain_s);
	atomic_store(&d.stopping, 1);
	ex = EXIT_OK;
done:
	wqd_http_stop(http, (int)(o.drain_s * 1000));
	wq_rpc_server_close(rpc, (int)(o.drain_s * 1000));
	wq_regsvc_free(registry_svc);
	wqd_predictor_free(predictor);
	wqd_fini(&d);
	wq_model_uri_clear(&w.parsed);
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
	free(key_path);
	if (ex == EXIT_OK)
		wq_log(WQ_LOG_INFO, "stopped");
	return ex;
}
