/* wineqd: serves predictions (Predictor) and the model registry (Registry) over nng RPC,
 * publishes every prediction on a PUB feed, answers HTTP, and follows the registry when the
 * served stage or alias moves. Every flag is also a key of the config file. */
#include "wqd.h"
#include "wqd_http.h"
#include "wqd_events.h"
#include "wqd_notify.h"

#include "cli/wq_cli.h"

#include "rpc/wq_auth.h"
#include "track/wq_config.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_kvconf.h"
#include "base/wq_log.h"
#include "track/wq_db.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "serve/wq_predid.h"
#include "registry/wq_registry_server.h"
#include "rpc/wq_rpc_server.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WQ_SYSCONFDIR
#define WQ_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG WQ_SYSCONFDIR "/wineq/wineqd.conf"

#define MAX_CERT_ROLES 64

typedef struct opts {
	const char *listen, *feed, *http, *model, *config;
	const char *tls_cert, *tls_key, *tls_ca;
	int tls_client_auth;
	const char *tracking_uri, *artifact_root, *s3_endpoint, *log_level, *log_format;
	const char *feedback_key;
	const char *events;  /* --events URL; NULL or "none": off */
	int64_t events_from; /* publish events after this id; < 0: after the newest at start */
	double poll_s, drain_s, grace_s, feedback_max_age_s;
	size_t workers;
	size_t http_threads; /* HTTP event loops; 0: one per online CPU */
	/* access control (wq_auth.h) */
	int registry_mode, loopback_role, anonymous_role, cert_role, metrics_open;
	int ui; /* 1: the web UI under /ui/ when the registry is local SQLite */
	const char *cert_roles[MAX_CERT_ROLES]; /* --tls-identity-role NAME=ROLE */
	size_t ncert_roles;
} opts;

enum {
	O_LISTEN = 256,
	O_FEED,
	O_HTTP,
	O_HTTP_THREADS,
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
	O_DRAIN_GRACE,
	O_FEEDBACK_KEY,
	O_FEEDBACK_MAX_AGE,
	O_REGISTRY,
	O_LOOPBACK_ROLE,
	O_ANONYMOUS_ROLE,
	O_TLS_IDENTITY_ROLE,
	O_TLS_DEFAULT_ROLE,
	O_METRICS_OPEN,
	O_LOG_FORMAT,
	O_UI,
	O_EVENTS,
	O_EVENTS_FROM,
	O_HELP,
	O_VERSION
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"feed", required_argument, NULL, O_FEED},
    {"http", required_argument, NULL, O_HTTP},
    {"http-threads", required_argument, NULL, O_HTTP_THREADS},
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
    {"drain-grace", required_argument, NULL, O_DRAIN_GRACE},
    {"feedback-key", required_argument, NULL, O_FEEDBACK_KEY},
    {"feedback-max-age", required_argument, NULL, O_FEEDBACK_MAX_AGE},
    {"registry", required_argument, NULL, O_REGISTRY},
    {"loopback-role", required_argument, NULL, O_LOOPBACK_ROLE},
    {"anonymous-role", required_argument, NULL, O_ANONYMOUS_ROLE},
    {"tls-identity-role", required_argument, NULL, O_TLS_IDENTITY_ROLE},
    {"tls-default-role", required_argument, NULL, O_TLS_DEFAULT_ROLE},
    {"metrics-open", required_argument, NULL, O_METRICS_OPEN},
    {"log-format", required_argument, NULL, O_LOG_FORMAT},
    {"ui", required_argument, NULL, O_UI},
    {"events", required_argument, NULL, O_EVENTS},
    {"events-from", required_argument, NULL, O_EVENTS_FROM},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0}};

static void usage(FILE *out)
{
	fputs(
	    "usage: wineqd [options]\n"
	    "  --listen URL          RPC address (tcp://, ipc://, tls+tcp://) "
	    "[tcp://127.0.0.1:7070]\n"
	    "  --feed URL            prediction feed (nng PUB), 'none' to disable "
	    "[tcp://127.0.0.1:7071]\n"
	    "  --http ADDR:PORT      HTTP front end, 'none' to disable [127.0.0.1:9696]\n"
	    "  --http-threads N      HTTP event loops, each on its own thread; 0 = one per\n"
	    "                        online CPU [0]\n"
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
	    "  --drain-grace SECONDS after SIGTERM, keep serving HTTP with /readyz answering 503\n"
	    "                        this long before the listeners close, so a load balancer's\n"
	    "                        health check takes the replica out first [0]\n"
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
	    "  --ui on|off           the read-only web UI at /ui/ of --http (the READ role;\n"
	    "                        needs a local SQLite registry, else off) [on]\n"
	    "  --events URL          registry events feed (nng PUB): every version created, stage\n"
	    "                        changed, alias set or removed, version deleted, with actor\n"
	    "                        and time; needs a local SQLite registry; 'none' [none]\n"
	    "  --events-from ID|latest  publish the audit events after ID first (0: the whole\n"
	    "                        history); latest: only those recorded from now on [latest]\n"
	    "  --log-level LEVEL     debug, info, warn, error [info]\n"
	    "  --log-format FORMAT   text (TIME wineqd[PID] LEVEL: MESSAGE) or json (one object\n"
	    "                        per line) [text]\n"
	    "  --help, --version\n"
	    "Signals: SIGHUP checks the registry for a new model at once; SIGTERM/SIGINT drain\n"
	    "and exit 0.\n",
	    out);
}

/* Where the option c with a plain string value goes; NULL for the other options. */
static const char **string_option(opts *o, int c)
{
	switch (c) {
	case O_LISTEN:
		return &o->listen;
	case O_FEED:
		return &o->feed;
	case O_HTTP:
		return &o->http;
	case O_MODEL:
		return &o->model;
	case O_CONFIG:
		return &o->config;
	case O_TLS_CERT:
		return &o->tls_cert;
	case O_TLS_KEY:
		return &o->tls_key;
	case O_TLS_CA:
		return &o->tls_ca;
	case O_TRACKING:
		return &o->tracking_uri;
	case O_ARTIFACT:
		return &o->artifact_root;
	case O_S3:
		return &o->s3_endpoint;
	case O_LOG:
		return &o->log_level;
	case O_LOG_FORMAT:
		return &o->log_format;
	case O_FEEDBACK_KEY:
		return &o->feedback_key;
	case O_EVENTS:
		return &o->events;
	default:
		return NULL;
	}
}

/* --events-from: "latest" (-1) or an event id 0..INT64_MAX. */
static wq_status events_from_parse(const char *s, int64_t *out)
{
	uint64_t v = 0;
	wq_status rc;

	if (strcmp(s, "latest") == 0) {
		*out = -1;
		return WQ_OK;
	}
	rc = wq_cli_parse_u64(s, &v);
	if (rc == WQ_OK && v > (uint64_t)INT64_MAX)
		rc = WQ_ERANGE;
	if (rc == WQ_OK)
		*out = (int64_t)v;
	return rc;
}

/* Applies argv (the config file's "--key=value" list or the command line). WQ_CLI_EXIT with
 * *ex set for --help, --version and bad options; origin names argv in messages. */
static wq_cli_step opts_apply(opts *o, int argc, char **argv, const char *origin, wq_exit *ex)
{
	int c, n;
	wq_status rc = WQ_OK;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		const char **field = string_option(o, c);

		if (field != NULL) {
			*field = optarg;
			continue;
		}
		switch (c) {
		case O_TLS_CLIENT_AUTH:
			rc = wq_cli_parse_bool(optarg, &o->tls_client_auth);
			break;
		case O_POLL:
			rc = wq_cli_parse_seconds(optarg, 86400, &o->poll_s);
			break;
		case O_DRAIN:
			rc = wq_cli_parse_seconds(optarg, 3600, &o->drain_s);
			break;
		case O_DRAIN_GRACE:
			rc = wq_cli_parse_seconds(optarg, 3600, &o->grace_s);
			break;
		case O_FEEDBACK_MAX_AGE:
			rc = wq_cli_parse_seconds(optarg, 10 * 366 * 86400.0,
			                          &o->feedback_max_age_s);
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
			rc = wq_cli_parse_bool(optarg, &o->metrics_open);
			break;
		case O_UI:
			if (strcmp(optarg, "on") == 0 || strcmp(optarg, "off") == 0)
				o->ui = strcmp(optarg, "on") == 0;
			else
				rc = wq_cli_parse_bool(optarg, &o->ui);
			break;
		case O_EVENTS_FROM:
			rc = events_from_parse(optarg, &o->events_from);
			break;
		case O_WORKERS:
			rc = wq_cli_parse_int(optarg, 1, 1024, &n);
			if (rc == WQ_OK)
				o->workers = (size_t)n;
			break;
		case O_HTTP_THREADS:
			rc = wq_cli_parse_int(optarg, 0, WQ_HTTPD_MAX_THREADS, &n);
			if (rc == WQ_OK)
				o->http_threads = (size_t)n;
			break;
		case O_HELP:
			usage(stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case O_VERSION:
			printf("wineqd %s\n", PACKAGE_VERSION);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case ':':
			fprintf(stderr, "wineqd: %s: option %s needs a value\n", origin,
			        argv[optind - 1]);
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		default:
			fprintf(stderr, "wineqd: %s: unknown option %s (see --help)\n", origin,
			        argv[optind - 1]);
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		}
		if (rc != WQ_OK) {
			fprintf(stderr, "wineqd: %s: invalid value '%s' for --%s\n", origin,
			        optarg != NULL ? optarg : "", long_opts[c - O_LISTEN].name);
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineqd: %s: unexpected argument '%s'\n", origin, argv[optind]);
		*ex = WQ_EXIT_USAGE;
		return WQ_CLI_EXIT;
	}
	return WQ_CLI_GO_ON;
}

/* ---------------------------------------------------------------------------------------
 * Following the registry */

typedef struct watcher {
	wqd *d;
	const char *uri;
	wq_model_uri parsed;
	/* Swaps are logged as they happen once every listener is bound; before that the line
	 * waits in pending ("" when nothing was loaded). */
	bool announce;
	char pending[1536];
} watcher;

/* "serving NAME version N (STAGE) ...": logged now, or kept for announce_first. */
static void served_log(watcher *w, const wq_served_model *m, const char *dir)
{
	snprintf(w->pending, sizeof(w->pending), "serving %s version %s (%s) sha256 %.12s from %s",
	         m->name, m->version > 0 ? m->version_str : "-",
	         m->stage[0] ? m->stage : "no stage", m->sha256, dir);
	if (w->announce)
		wq_log(WQ_LOG_INFO, "%s", w->pending);
}

/* For models:/ URIs: which version the URI names now, without downloading anything.
 * WQ_ENOENT when it names none (e.g. nothing in Production yet). *out owned by the caller. */
static wq_status target_version(watcher *w, wq_model_version **out, char *err, size_t errlen)
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
	served_log(w, m, dir);
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
static bool insecure(const opts *o)
{
	if (o->registry_mode != WQ_REGISTRY_READ_WRITE || o->anonymous_role < WQ_ROLE_EDIT ||
	    wq_auth_addr_is_loopback(o->listen))
		return false;
	fprintf(stderr,
	        "wineqd: refusing to start: --anonymous-role %s with --registry read-write on %s "
	        "would let anyone who reaches the port change the registry; use --registry "
	        "read-only or off, a lower --anonymous-role, or a loopback --listen address\n",
	        wq_role_name(o->anonymous_role), o->listen);
	return true;
}

/* The authorizer shared by RPC and HTTP: the registry's token table when the registry is a
 * local database (else tokens cannot be verified here) and the certificate map. */
static wq_status access_open(const opts *o, wqd *d, char *err, size_t errlen)
{
	wq_auth_policy p = {.loopback_role = o->loopback_role,
	                    .anonymous_role = o->anonymous_role,
	                    .cert_role = o->cert_role,
	                    .registry_mode = o->registry_mode};
	const wq_config *c = &d->registry->config;
	int local = c->tracking_kind == WQ_TRACKING_DB && c->db_path != NULL, rc;

	rc = wq_auth_open(local ? c->db_path : NULL, &p, &d->auth, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < o->ncert_roles; i++)
		rc = wq_auth_cert_role_add(d->auth, o->cert_roles[i], err, errlen);
	if (rc != WQ_OK)
		return rc;
	d->metrics_open = o->metrics_open;
	return WQ_OK;
}

/* What access_open set up, once the listeners it guards are bound. */
static void access_log(const opts *o, const wqd *d)
{
	const wq_config *c = &d->registry->config;
	int local = c->tracking_kind == WQ_TRACKING_DB && c->db_path != NULL;

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
}

/* ---------------------------------------------------------------------------------------
 * main */

static void rpc_observe(void *arg, const char *method, wq_rpc_code code, double seconds)
{
	wqd_observe(arg, "rpc", method, wq_rpc_code_name(code), seconds);
}

/* The config file (explicit --config, else the default when present), then the command line.
 * WQ_CLI_EXIT with *ex set when either ends the program; conf and cargv keep the strings
 * alive. */
static wq_cli_step opts_load(opts *o, int argc, char **argv, wq_kvconf *conf, char ***cargv,
                             int *cargc, wq_exit *ex)
{
	const char *path = NULL;
	char err[1024] = "";
	wq_status rc;

	rc = wq_cli_config_load("wineqd", argc, argv, DEFAULT_CONFIG, conf, cargv, cargc, &path,
	                        err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineqd: %s\n", err);
		*ex = wq_cli_exit_for(rc, WQ_EXIT_USAGE);
		return WQ_CLI_EXIT;
	}
	if (path != NULL && opts_apply(o, *cargc, *cargv, path, ex) == WQ_CLI_EXIT)
		return WQ_CLI_EXIT;
	return opts_apply(o, argc, argv, "command line", ex);
}

/* Checks the options that go together and sets up logging; parses --model into *uri.
 * WQ_EXIT_OK or WQ_EXIT_USAGE (the reason on stderr). */
static wq_exit opts_check(const opts *o, wq_model_uri *uri)
{
	char err[1024] = "";

	if (wq_cli_log_daemon_setup("wineqd", o->log_level, o->log_format) != WQ_EXIT_OK)
		return WQ_EXIT_USAGE;
	if (wq_model_uri_parse(o->model, uri, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "wineqd: --model: %s\n", err);
		return WQ_EXIT_USAGE;
	}
	if (strncmp(o->listen, "tls+tcp://", 10) == 0 &&
	    (o->tls_cert == NULL || o->tls_key == NULL)) {
		fprintf(stderr, "wineqd: --listen %s needs --tls-cert and --tls-key\n", o->listen);
		return WQ_EXIT_USAGE;
	}
	if (o->tls_client_auth && o->tls_ca == NULL) {
		fprintf(stderr, "wineqd: --tls-client-auth needs --tls-ca\n");
		return WQ_EXIT_USAGE;
	}
	if (insecure(o))
		return WQ_EXIT_USAGE;
	return WQ_EXIT_OK;
}

/* What a running wineqd holds; server_stop releases it (also when only partly started). */
typedef struct server {
	wqd d;
	watcher w;
	char *key_path;
	wq_rpc_tls tls;
	wq_rpc_server *rpc;
	ProtobufCService *predictor, *registry_svc;
	wqd_http *http;
	wqd_events *events; /* --events; NULL: off */
	wqd_notify *notify; /* a PostgreSQL registry's change notifications; NULL: none */
} server;

/* The web UI over the registry's own store, when it is a local SQLite file, --ui is on and
 * there is an HTTP front end; otherwise off, said once. A UI that cannot open leaves wineqd
 * serving without it. */
static void ui_open(const opts *o, wqd *d)
{
	const wq_config *c = &d->registry->config;
	wq_ui_opts uo = {.config = c, .served = wqd_ui_served, .served_arg = d};
	char err[1024] = "";

	if (!o->ui || strcmp(o->http, "none") == 0) {
		wq_log(WQ_LOG_INFO, "web UI: off (%s)", !o->ui ? "--ui off" : "no --http");
		return;
	}
	if (c->tracking_kind != WQ_TRACKING_DB) {
		wq_log(WQ_LOG_INFO, "web UI: off (the registry %s is remote)", c->tracking_uri);
		return;
	}
	if (wq_ui_open(&uo, &d->ui, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_WARN, "web UI: off (%s)", err);
		return;
	}
	wq_log(WQ_LOG_INFO, "web UI: http://%s/ui/ (read-only view of %s)", o->http, c->db_path);
}

/* The serving state, the registry (serialized), access control and the feedback key, then
 * the first model (loaded before any listener opens, so the first requests find it; not
 * announced until they are all bound). WQ_EXIT_OK or WQ_EXIT_FAILURE (the reason logged). */
static wq_exit server_open(const opts *o, server *sv)
{
	wqd *d = &sv->d;
	wq_config cfg = {0};
	char err[1024] = "";
	wq_status rc;

	if (wqd_init(d, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		return WQ_EXIT_FAILURE;
	}
	rc = wq_config_resolve(o->tracking_uri, o->artifact_root, o->s3_endpoint, &cfg, err,
	                       sizeof(err));
	/* the default key lives in WINEQ_HOME; the registry takes cfg over */
	if (rc == WQ_OK) {
		sv->key_path = o->feedback_key != NULL
		                   ? strdup(o->feedback_key)
		                   : wq_file_path_join(cfg.home, "feedback.key");
		if (sv->key_path == NULL)
			rc = wq_nomem(err, sizeof(err));
	}
	cfg.busy_timeout_ms = 250; /* a locked registry is answered "busy", not waited on */
	if (rc == WQ_OK)
		rc = wq_registry_open(&cfg, &d->registry, err, sizeof(err));
	if (rc == WQ_OK) /* watcher, Registry service and HTTP share one SQLite handle: one lock */
		rc = wq_registry_serialized(d->registry, &d->registry, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_config_clear(&cfg);
		wq_log(WQ_LOG_ERROR, "cannot open the registry: %s", err);
		return WQ_EXIT_FAILURE;
	}
	if (access_open(o, d, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "access control: %s", err);
		return WQ_EXIT_FAILURE;
	}
	if (wq_predid_open(sv->key_path, 1, &d->predid, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "--feedback-key: %s", err);
		return WQ_EXIT_FAILURE;
	}
	d->feedback_max_age_ms = (int64_t)(o->feedback_max_age_s * 1000.0);
	ui_open(o, d);
	sv->w.d = d;
	sv->w.uri = o->model;
	watcher_check(&sv->w, 1);
	return WQ_EXIT_OK;
}

/* The RPC server with its services (Predictor; Registry unless --registry off). */
static wq_status rpc_start(const opts *o, server *sv, char *err, size_t errlen)
{
	wq_rpc_server_opts so = {
	    .workers = o->workers, .tls = &sv->tls, .observe = rpc_observe, .observe_arg = &sv->d};
	wq_status rc;

	rc = wq_rpc_server_open(o->listen, &so, &sv->rpc, err, errlen);
	if (rc == WQ_OK)
		rc = wq_rpc_server_set_authorizer(sv->rpc, wq_auth_rpc_authorize, sv->d.auth);
	if (rc == WQ_OK && (rc = wqd_predictor_new(&sv->d, &sv->predictor)) != WQ_OK)
		wq_err_set(err, errlen, rc, "out of memory");
	if (rc == WQ_OK && o->registry_mode != WQ_REGISTRY_OFF) {
		rc = wq_registry_server_new(sv->d.registry, &sv->registry_svc, err, errlen);
		wq_registry_server_set_auth(sv->registry_svc, sv->d.auth);
	}
	if (rc == WQ_OK)
		rc = wq_rpc_server_add_fast_service(sv->rpc, sv->predictor, err, errlen);
	if (rc == WQ_OK && sv->registry_svc != NULL)
		rc = wq_rpc_server_add_service(sv->rpc, sv->registry_svc, err, errlen);
	if (rc == WQ_OK)
		rc = wq_rpc_server_start(sv->rpc, err, errlen);
	return rc;
}

/* The model loaded before the listeners opened, now that wineqd really serves it; from here
 * on every swap is logged as it happens. */
static void announce_first(server *sv)
{
	if (sv->w.pending[0] != '\0')
		wq_log(WQ_LOG_INFO, "%s", sv->w.pending);
	sv->w.announce = true;
}

/* The registry events publisher of --events, over the registry's own SQLite file. */
static wq_status events_start(const opts *o, server *sv, char *err, size_t errlen)
{
	const wq_config *c = &sv->d.registry->config;
	wqd_events_opts eo = {.url = o->events,
	                      .tls = &sv->tls,
	                      .db_path = c->db_path,
	                      .after_id = o->events_from,
	                      .poll_s = o->poll_s,
	                      .prom = sv->d.prom};
	wq_status rc;

	if (o->events == NULL || strcmp(o->events, "none") == 0)
		return WQ_OK;
	if (c->tracking_kind != WQ_TRACKING_DB || c->db_path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "--events needs a registry database of its own, SQLite or "
		                  "PostgreSQL (the registry is %s)",
		                  c->tracking_uri != NULL ? c->tracking_uri : "remote");
	rc = wqd_events_open(&eo, &sv->events, err, errlen);
	if (rc == WQ_OK)
		wq_log(WQ_LOG_INFO, "registry events: %s, after event %lld", o->events,
		       (long long)wqd_events_start_id(sv->events));
	return rc;
}

/* Runs on the listener's thread: the main thread, in sigtimedwait, does the looking. */
static void notify_wake(void *arg)
{
	(void)arg;
	kill(getpid(), SIGUSR2);
}

/* On a PostgreSQL registry, the replicas sharing it learn of every change at once. */
static wq_status notify_start(server *sv, char *err, size_t errlen)
{
	const wq_config *c = &sv->d.registry->config;
	wq_status rc;

	if (c->tracking_kind != WQ_TRACKING_DB || !wq_db_locator_is_postgres(c->db_path))
		return WQ_OK;
	rc = wqd_notify_open(c->db_path, notify_wake, NULL, &sv->notify, err, errlen);
	if (rc == WQ_OK)
		wq_log(WQ_LOG_INFO, "registry notifications: listening on %s", WQ_MODELREG_CHANNEL);
	return rc;
}

/* The feed, RPC and HTTP listeners; only when all three are bound does wineqd say it serves.
 * WQ_EXIT_OK or WQ_EXIT_FAILURE (only the failure logged). */
static wq_exit listeners_start(const opts *o, server *sv)
{
	char err[1024] = "";

	sv->tls.cert_file = o->tls_cert;
	sv->tls.key_file = o->tls_key;
	sv->tls.ca_file = o->tls_ca;
	sv->tls.client_auth = o->tls_client_auth;
	/* the feed takes the RPC's TLS settings when it is tls+tcp:// too */
	if (strcmp(o->feed, "none") != 0 &&
	    wqd_feed_open_tls(o->feed, &sv->tls, sv->d.m_feed_published, sv->d.m_feed_dropped,
	                      &sv->d.feed, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		return WQ_EXIT_FAILURE;
	}
	if (events_start(o, sv, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "events: %s", err);
		return WQ_EXIT_FAILURE;
	}
	if (notify_start(sv, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "registry notifications: %s", err);
		return WQ_EXIT_FAILURE;
	}
	if (rpc_start(o, sv, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "rpc %s: %s", o->listen, err);
		return WQ_EXIT_FAILURE;
	}
	if (strcmp(o->http, "none") != 0 &&
	    wqd_http_start_threads(&sv->d, o->http, o->http_threads, &sv->http, err, sizeof(err)) !=
	        WQ_OK) {
		wq_log(WQ_LOG_ERROR, "http %s: %s", o->http, err);
		return WQ_EXIT_FAILURE;
	}
	wq_log(WQ_LOG_INFO, "wineqd %s listening: rpc %s, feed %s, http %s; model %s, poll %gs",
	       PACKAGE_VERSION, wq_rpc_server_url(sv->rpc), o->feed, o->http, o->model, o->poll_s);
	access_log(o, &sv->d);
	announce_first(sv);
	wq_log(WQ_LOG_INFO, "feedback: key %s, labels accepted for %gs after a prediction%s",
	       sv->key_path, o->feedback_max_age_s,
	       strcmp(o->feed, "none") == 0 ? " (off: no feed to publish them on)" : "");
	return WQ_EXIT_OK;
}

/* --drain-grace: /readyz already answers 503 while the listeners still accept and serve, so a
 * load balancer's health check takes this replica out before its port closes and nothing
 * sent meanwhile is refused. A second SIGTERM or SIGINT ends the grace early. */
static void grace_wait(double grace_s, const sigset_t *sigs)
{
	int64_t end_ns = wq_clock_mono_ns() + (int64_t)(grace_s * 1e9), left_ns;
	struct timespec ts;
	int sig;

	if (grace_s <= 0)
		return;
	wq_log(WQ_LOG_INFO, "stopping: /readyz answers 503, still serving for %gs (--drain-grace)",
	       grace_s);
	while ((left_ns = end_ns - wq_clock_mono_ns()) > 0) {
		ts.tv_sec = (time_t)(left_ns / 1000000000);
		ts.tv_nsec = (long)(left_ns % 1000000000);
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			wq_log(WQ_LOG_INFO, "second signal: grace cut short");
			return;
		}
	}
}

/* Until SIGTERM or SIGINT: SIGHUP, a registry notification (SIGUSR2, from the listener) and
 * every --poll interval look at the registry again. */
static void signals_wait(const opts *o, server *sv, const sigset_t *sigs)
{
	struct timespec ts;
	int sig;

	for (;;) {
		double wait = o->poll_s > 0 ? o->poll_s : 3600;

		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			wq_log(WQ_LOG_INFO, "SIGHUP: checking %s", o->model);
			watcher_check(&sv->w, 1);
			wqd_events_wake(sv->events);
		} else if (sig == SIGUSR2) {
			watcher_check(&sv->w, 1);
			wqd_events_wake(sv->events);
		} else if (sig < 0 && errno == EAGAIN && o->poll_s > 0) {
			watcher_check(&sv->w, 0);
		}
	}
	atomic_store(&sv->d.stopping, 1);
	grace_wait(o->grace_s, sigs);
	wq_log(WQ_LOG_INFO, "stopping: draining in-flight requests (at most %gs)", o->drain_s);
}

static void server_stop(server *sv, double drain_s)
{
	wqd_http_stop(sv->http, (int)(drain_s * 1000));
	wq_rpc_server_close(sv->rpc, (int)(drain_s * 1000));
	wq_registry_server_free(sv->registry_svc);
	wqd_predictor_free(sv->predictor);
	wqd_notify_close(sv->notify); /* before the registry it wakes the watcher of */
	wqd_events_close(sv->events); /* before wqd_fini: its metric lives in d's prom */
	wqd_fini(&sv->d);
	wq_model_uri_clear(&sv->w.parsed);
	free(sv->key_path);
}

int main(int argc, char **argv)
{
	opts o = {.listen = "tcp://127.0.0.1:7070",
	          .feed = "tcp://127.0.0.1:7071",
	          .http = "127.0.0.1:9696",
	          .model = "models:/wine-quality/Production",
	          .poll_s = 10,
	          .events_from = -1,
	          .drain_s = 10,
	          .feedback_max_age_s = WQD_FEEDBACK_MAX_AGE_MS / 1000,
	          .workers = 16,
	          .log_level = "info",
	          .registry_mode = WQ_REGISTRY_READ_WRITE,
	          .loopback_role = WQ_ROLE_MANAGE,
	          .anonymous_role = WQ_ROLE_PREDICT,
	          .cert_role = WQ_ROLE_READ,
	          .ui = 1};
	wq_kvconf conf = {0};
	char **cargv = NULL;
	int cargc = 0;
	wq_exit ex = WQ_EXIT_OK;
	server sv;
	sigset_t sigs;
	long ncpu;

	memset(&sv, 0, sizeof(sv));
	wq_log_set_program("wineqd");
	/* Signals are taken synchronously by the main thread: block them before any thread
	 * starts so the workers never see them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* glibc gives each thread that allocates an arena of its own (up to 8 per core), and an
	 * arena keeps the pages a burst of connections fragmented: one per core is enough for
	 * the threads that run at once, and bounds what stays resident after the burst. */
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	mallopt(M_ARENA_MAX, ncpu > 2 ? (int)ncpu : 2);

	if (opts_load(&o, argc, argv, &conf, &cargv, &cargc, &ex) == WQ_CLI_EXIT)
		goto done;
	ex = opts_check(&o, &sv.w.parsed);
	if (ex == WQ_EXIT_OK)
		ex = server_open(&o, &sv);
	if (ex == WQ_EXIT_OK)
		ex = listeners_start(&o, &sv);
	if (ex == WQ_EXIT_OK)
		signals_wait(&o, &sv, &sigs);
done:
	server_stop(&sv, o.drain_s);
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
	if (ex == WQ_EXIT_OK)
		wq_log(WQ_LOG_INFO, "stopped");
	return ex;
}
