/* wineq-monitor: data drift of served predictions against the reference sample of the model
 * that made them and live quality from true labels, for Prometheus (/metrics) and people
 * (/report), or once over two CSV files.
 *   wineq-monitor serve  [flags]   (every flag also a key of wineq-monitor.conf)
 *   wineq-monitor report --reference A.csv --current B.csv --out report.html [--format json]
 *   wineq-monitor history [--state-dir DIR] [--since T] [--format text|json] */
#include "wqm.h"
#include "wqm_cli.h"

#include "wq_auth.h"
#include "wq_config.h"
#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_file.h"
#include "wq_kvconf.h"
#include "wq_log.h"
#include "wq_tlsconf.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WQ_SYSCONFDIR
#define WQ_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG WQ_SYSCONFDIR "/wineq/wineq-monitor.conf"
#define WQM_STR_(x)    #x
#define WQM_STR(x)     WQM_STR_(x)

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_DATA = 3 };

enum {
	O_FEED = 256,
	O_HTTP,
	O_WINDOW,
	O_WINDOW_SECONDS,
	O_MIN_EVENTS,
	O_JOIN_MAX_AGE,
	O_JOIN_MAX_PREDICTIONS,
	O_STATE_DIR,
	O_SNAPSHOT_INTERVAL,
	O_HISTORY_DAYS,
	O_REFERENCE_URI,
	O_NUM_METHOD,
	O_CAT_METHOD,
	O_NUM_THRESHOLD,
	O_CAT_THRESHOLD,
	O_SHARE_THRESHOLD,
	O_SMALL_REFERENCE,
	O_BINS,
	O_TRACKING,
	O_ARTIFACT,
	O_S3,
	O_CONFIG,
	O_LOG,
	O_MODEL_NAME,
	O_FEED_TLS_CA,
	O_FEED_TLS_CERT,
	O_FEED_TLS_KEY,
	O_FEED_TLS_SERVER_NAME,
	O_HTTP_OPEN,
	/* report */
	O_REFERENCE,
	O_CURRENT,
	O_OUT,
	O_FORMAT,
	O_COLUMNS,
	O_CATEGORICAL,
	O_FAIL_ON_DRIFT,
	O_HELP
};

/* Drift flags shared by both commands. */
#define DRIFT_OPTIONS                                                                              \
	{"num-method", required_argument, NULL, O_NUM_METHOD},                                     \
	    {"cat-method", required_argument, NULL, O_CAT_METHOD},                                 \
	    {"num-threshold", required_argument, NULL, O_NUM_THRESHOLD},                           \
	    {"cat-threshold", required_argument, NULL, O_CAT_THRESHOLD},                           \
	    {"share-threshold", required_argument, NULL, O_SHARE_THRESHOLD},                       \
	    {"small-reference", required_argument, NULL, O_SMALL_REFERENCE},                       \
	    {"bins", required_argument, NULL, O_BINS},                                             \
	{                                                                                          \
		"log-level", required_argument, NULL, O_LOG                                        \
	}

static const struct option serve_opts[] = {
    {"feed", required_argument, NULL, O_FEED},
    {"http", required_argument, NULL, O_HTTP},
    {"window", required_argument, NULL, O_WINDOW},
    {"window-seconds", required_argument, NULL, O_WINDOW_SECONDS},
    {"min-events", required_argument, NULL, O_MIN_EVENTS},
    {"join-max-age", required_argument, NULL, O_JOIN_MAX_AGE},
    {"join-max-predictions", required_argument, NULL, O_JOIN_MAX_PREDICTIONS},
    {"state-dir", required_argument, NULL, O_STATE_DIR},
    {"snapshot-interval", required_argument, NULL, O_SNAPSHOT_INTERVAL},
    {"history-days", required_argument, NULL, O_HISTORY_DAYS},
    {"reference", required_argument, NULL, O_REFERENCE_URI},
    {"model-name", required_argument, NULL, O_MODEL_NAME},
    {"feed-tls-ca", required_argument, NULL, O_FEED_TLS_CA},
    {"feed-tls-cert", required_argument, NULL, O_FEED_TLS_CERT},
    {"feed-tls-key", required_argument, NULL, O_FEED_TLS_KEY},
    {"feed-tls-server-name", required_argument, NULL, O_FEED_TLS_SERVER_NAME},
    {"http-open", required_argument, NULL, O_HTTP_OPEN},
    {"tracking-uri", required_argument, NULL, O_TRACKING},
    {"artifact-root", required_argument, NULL, O_ARTIFACT},
    {"s3-endpoint-url", required_argument, NULL, O_S3},
    {"config", required_argument, NULL, O_CONFIG},
    {"help", no_argument, NULL, O_HELP},
    DRIFT_OPTIONS,
    {NULL, 0, NULL, 0}};

static const struct option report_opts[] = {{"reference", required_argument, NULL, O_REFERENCE},
                                            {"current", required_argument, NULL, O_CURRENT},
                                            {"out", required_argument, NULL, O_OUT},
                                            {"format", required_argument, NULL, O_FORMAT},
                                            {"columns", required_argument, NULL, O_COLUMNS},
                                            {"categorical", required_argument, NULL, O_CATEGORICAL},
                                            {"fail-on-drift", no_argument, NULL, O_FAIL_ON_DRIFT},
                                            {"help", no_argument, NULL, O_HELP},
                                            DRIFT_OPTIONS,
                                            {NULL, 0, NULL, 0}};

typedef struct serve_cfg {
	const char *feed, *http, *tracking, *artifact, *s3, *config, *log_level, *state_dir;
	int http_open; /* --http-open yes: serve HTTP on a non-loopback address */
	wqm_opts m;
	const char *num_method, *cat_method;
	wq_rpc_tls feed_tls;
	/* --model-name: a source (config file, command line) that gives any replaces the
	 * names of the one before */
	const char *names[WQM_TRUST_MAX_NAMES];
	size_t nnames;
	int source, names_source;
} serve_cfg;

typedef struct report_cfg {
	const char *reference, *current, *out, *columns, *categorical, *log_level;
	int json, fail_on_drift;
	wqm_opts m; /* only .drift is used */
	const char *num_method, *cat_method;
} report_cfg;

static void usage(FILE *out)
{
	fputs("usage: wineq-monitor serve [options]\n"
	      "       wineq-monitor report --reference A.csv --current B.csv [--out FILE]\n"
	      "                            [--format html|json] [--columns LIST] [--categorical "
	      "LIST]\n"
	      "                            [--fail-on-drift]\n"
	      "       wineq-monitor history [--state-dir DIR] [--since T] [--limit N]\n"
	      "                            [--format text|json]\n\n"
	      "serve: subscribes to wineqd's feed, keeps a window of recent predictions and\n"
	      "compares it with the reference sample of the model version that made them (fetched\n"
	      "from the registry; the prediction column against the model's own predictions on\n"
	      "that sample); joins true labels to predictions for live quality; keeps its window,\n"
	      "join buffer and history in --state-dir; serves /metrics (Prometheus), /report\n"
	      "(HTML), /report.json, /healthz.\n"
	      "  --feed URL               wineqd's feed, tcp:// or tls+tcp:// "
	      "[tcp://127.0.0.1:7071]\n"
	      "  --http ADDR:PORT         [127.0.0.1:9697]\n"
	      "  --window N               events kept [1000]\n"
	      "  --window-seconds S       and only those younger than S seconds [0: no limit]\n"
	      "  --min-events N           no drift verdict below N events (insufficient data) "
	      "[" WQM_STR(
	          WQM_DEFAULT_MIN_EVENTS) "]\n"
	                                  "  --join-max-age S         predictions wait S seconds "
	                                  "for a label [86400]\n"
	                                  "  --join-max-predictions N and at most N of them are "
	                                  "held [100000; ~152 bytes each]\n"
	                                  "  --state-dir DIR|none     SQLite state (window, join "
	                                  "buffer, history)\n"
	                                  "                           [$WINEQ_HOME/monitor; none: "
	                                  "memory only]\n"
	                                  "  --snapshot-interval S    history resolution [60]\n"
	                                  "  --history-days D         snapshots kept [30]\n"
	                                  "  --reference URI          use this model/bundle's "
	                                  "sample for every event\n"
	                                  "  --model-name NAME[,NAME] monitor only these models "
	                                  "(repeatable) [any registered\n"
	                                  "                           name; events never choose "
	                                  "a file: references come\n"
	                                  "                           from the registry as "
	                                  "models:/NAME/VERSION]\n"
	                                  "  --feed-tls-ca FILE       CA that signed wineqd's "
	                                  "certificate (tls+tcp:// feed)\n"
	                                  "  --feed-tls-cert FILE --feed-tls-key FILE   client "
	                                  "certificate for wineqd\n"
	                                  "  --feed-tls-server-name NAME  name wineqd's "
	                                  "certificate must carry [the feed's host]\n"
	                                  "  --http-open yes|no       serve HTTP (which has no "
	                                  "authentication) on a non-loopback address [no]\n"
	                                  "  --tracking-uri, --artifact-root, --s3-endpoint-url   "
	                                  "the registry to fetch from\n"
	                                  "  --config FILE            key = value file, keys are "
	                                  "these flag names\n"
	                                  "                           [" DEFAULT_CONFIG
	                                  ", when present]\n"
	                                  "report: the same comparison once, between two CSV files "
	                                  "(UCI ';' or comma).\n"
	                                  "  --columns LIST           compared columns [all "
	                                  "columns both files have]\n"
	                                  "  --categorical LIST       categorical among them "
	                                  "[quality]\n"
	                                  "  --out FILE               [-: standard output]\n"
	                                  "  --fail-on-drift          exit 1 when dataset drift is "
	                                  "detected\n"
	                                  "Drift options (both):\n"
	                                  "  --num-method auto|ks|wasserstein|psi|jensenshannon  "
	                                  "[auto: K-S when the reference\n"
	                                  "                           has <= --small-reference "
	                                  "rows, else Wasserstein]\n"
	                                  "  --cat-method auto|chisquare|jensenshannon [auto: "
	                                  "chi-square / Jensen-Shannon]\n"
	                                  "  --num-threshold X, --cat-threshold X        [the "
	                                  "test's default]\n"
	                                  "  --share-threshold X      dataset drift when drifted "
	                                  "share >= X [0.5]\n"
	                                  "  --small-reference N      [1000]\n"
	                                  "  --bins N                 quantile bins for PSI, JS "
	                                  "and histograms [10]\n"
	                                  "  --log-level LEVEL        [info]\n",
	      out);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return WQ_EINVAL;
	*out = v;
	return WQ_OK;
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < (long long)lo || v > (long long)hi)
		return WQ_EINVAL;
	*out = (size_t)v;
	return WQ_OK;
}

/* Applies a drift flag; 1 when c was one, 0 when not, negative on a bad value. */
static int drift_flag(int c, const char *arg, wqm_opts *m, const char **num, const char **cat,
                      const char **log_level)
{
	switch (c) {
	case O_NUM_METHOD:
		*num = arg;
		return 1;
	case O_CAT_METHOD:
		*cat = arg;
		return 1;
	case O_LOG:
		*log_level = arg;
		return 1;
	case O_NUM_THRESHOLD:
		return parse_double(arg, 0, 1e9, &m->drift.num_threshold) == WQ_OK ? 1 : -1;
	case O_CAT_THRESHOLD:
		return parse_double(arg, 0, 1e9, &m->drift.cat_threshold) == WQ_OK ? 1 : -1;
	case O_SHARE_THRESHOLD:
		return parse_double(arg, 0, 1, &m->drift.share_threshold) == WQ_OK ? 1 : -1;
	case O_SMALL_REFERENCE:
		return parse_size(arg, 0, 100000000, &m->drift.small_reference) == WQ_OK ? 1 : -1;
	case O_BINS:
		return parse_size(arg, 2, WQ_DRIFT_MAX_BINS, &m->drift.nbins) == WQ_OK ? 1 : -1;
	default:
		return 0;
	}
}

/* Resolves method names into tests. */
static int drift_methods(wqm_opts *m, const char *num, const char *cat)
{
	if (num != NULL && strcmp(num, "auto") != 0) {
		m->drift.num = wq_drift_test_find(num, WQ_DRIFT_NUMERICAL);
		if (m->drift.num == NULL) {
			fprintf(stderr,
			        "wineq-monitor: unknown --num-method '%s' (auto, ks, "
			        "wasserstein, psi, jensenshannon)\n",
			        num);
			return EXIT_USAGE;
		}
	}
	if (cat != NULL && strcmp(cat, "auto") != 0) {
		m->drift.cat = wq_drift_test_find(cat, WQ_DRIFT_CATEGORICAL);
		if (m->drift.cat == NULL) {
			fprintf(stderr,
			        "wineq-monitor: unknown --cat-method '%s' (auto, chisquare, "
			        "jensenshannon)\n",
			        cat);
			return EXIT_USAGE;
		}
	}
	return -1;
}

static int log_apply(const char *name)
{
	int level;

	if (wq_log_level_parse(name, &level) != WQ_OK) {
		fprintf(stderr, "wineq-monitor: invalid --log-level '%s'\n", name);
		return EXIT_USAGE;
	}
	wq_log_set_level(level);
	return -1;
}

/* ---- serve ---------------------------------------------------------------------------- */

static int serve_apply(serve_cfg *s, int argc, char **argv, const char *origin)
{
	char nerr[512];
	int c, r;

	optind = 1;
	opterr = 0;
	s->source++;
	while ((c = getopt_long(argc, argv, ":", serve_opts, NULL)) != -1) {
		r = drift_flag(c, optarg, &s->m, &s->num_method, &s->cat_method, &s->log_level);
		if (r == 1)
			continue;
		if (r < 0)
			goto bad;
		switch (c) {
		case O_FEED:
			s->feed = optarg;
			break;
		case O_HTTP:
			s->http = optarg;
			break;
		case O_REFERENCE_URI:
			s->m.reference = optarg;
			break;
		case O_MODEL_NAME:
			if (s->names_source != s->source) {
				s->nnames = 0;
				s->names_source = s->source;
			}
			if (wqm_trust_add_names(optarg, s->names, &s->nnames, nerr, sizeof(nerr)) !=
			    WQ_OK) {
				fprintf(stderr, "wineq-monitor: %s: --model-name: %s\n", origin,
				        nerr);
				return EXIT_USAGE;
			}
			break;
		case O_FEED_TLS_CA:
			s->feed_tls.ca_file = optarg;
			break;
		case O_FEED_TLS_CERT:
			s->feed_tls.cert_file = optarg;
			break;
		case O_FEED_TLS_KEY:
			s->feed_tls.key_file = optarg;
			break;
		case O_FEED_TLS_SERVER_NAME:
			s->feed_tls.server_name = optarg;
			break;
		case O_HTTP_OPEN:
			if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
				fprintf(
				    stderr,
				    "wineq-monitor: --http-open: expected yes or no, got '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			s->http_open = strcmp(optarg, "yes") == 0;
			break;
		case O_TRACKING:
			s->tracking = optarg;
			break;
		case O_ARTIFACT:
			s->artifact = optarg;
			break;
		case O_S3:
			s->s3 = optarg;
			break;
		case O_CONFIG:
			s->config = optarg;
			break;
		case O_WINDOW:
			if (parse_size(optarg, 1, WQM_MAX_WINDOW, &s->m.window) != WQ_OK)
				goto bad;
			break;
		case O_MIN_EVENTS:
			if (parse_size(optarg, 1, WQM_MAX_WINDOW, &s->m.min_events) != WQ_OK)
				goto bad;
			break;
		case O_WINDOW_SECONDS:
			if (parse_double(optarg, 0, 1e7, &s->m.window_seconds) != WQ_OK)
				goto bad;
			break;
		case O_JOIN_MAX_AGE:
			if (parse_double(optarg, 1, 1e8, &s->m.join_max_age_s) != WQ_OK)
				goto bad;
			break;
		case O_JOIN_MAX_PREDICTIONS:
			if (parse_size(optarg, 1, WQM_JOIN_LIMIT, &s->m.join_max_predictions) !=
			    WQ_OK)
				goto bad;
			break;
		case O_STATE_DIR:
			s->state_dir = optarg;
			break;
		case O_SNAPSHOT_INTERVAL:
			if (parse_double(optarg, 0.1, 86400, &s->m.snapshot_interval_s) != WQ_OK)
				goto bad;
			break;
		case O_HISTORY_DAYS:
			if (parse_double(optarg, 0.001, 36500, &s->m.history_days) != WQ_OK)
				goto bad;
			break;
		case O_HELP:
			usage(stdout);
			return EXIT_OK;
		case ':':
			fprintf(stderr, "wineq-monitor: %s: option %s needs a value\n", origin,
			        argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "wineq-monitor: %s: unknown option %s (see --help)\n",
			        origin, argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineq-monitor: %s: unexpected argument '%s'\n", origin,
		        argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
bad:
	fprintf(stderr, "wineq-monitor: %s: invalid value '%s' for %s\n", origin,
	        optarg != NULL ? optarg : "", argv[optind - 1]);
	return EXIT_USAGE;
}

/* The feed's TLS settings go with a tls+tcp:// feed and only with one: settings that would
 * be ignored are refused rather than leaving the feed quietly unverified. */
static int feed_check(const serve_cfg *s)
{
	const wq_rpc_tls *t = &s->feed_tls;
	int any = t->ca_file != NULL || t->cert_file != NULL || t->key_file != NULL ||
	          t->server_name != NULL;

	if (wq_tlsconf_is_tls_url(s->feed) && t->ca_file == NULL) {
		fprintf(stderr,
		        "wineq-monitor: --feed %s needs --feed-tls-ca (the CA that signed "
		        "wineqd's certificate)\n",
		        s->feed);
		return EXIT_USAGE;
	}
	if (!wq_tlsconf_is_tls_url(s->feed) && any) {
		fprintf(stderr, "wineq-monitor: --feed-tls-* need a tls+tcp:// --feed (not %s)\n",
		        s->feed);
		return EXIT_USAGE;
	}
	if ((t->cert_file == NULL) != (t->key_file == NULL)) {
		fprintf(stderr, "wineq-monitor: --feed-tls-cert and --feed-tls-key go together\n");
		return EXIT_USAGE;
	}
	return -1;
}

/* Says what the monitor believes, once at start. */
static void trust_log(const serve_cfg *s)
{
	char names[1024] = "";
	size_t i, used = 0;
	int loopback = strncmp(s->feed, "ipc://", 6) == 0 ||
	               strncmp(s->feed, "inproc://", 9) == 0 ||
	               strncmp(s->feed, "tcp://127.", 10) == 0 ||
	               strncmp(s->feed, "tcp://localhost:", 16) == 0 ||
	               strncmp(s->feed, "tcp://[::1]:", 12) == 0;

	for (i = 0; i < s->nnames && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
		                         s->names[i]);
	wq_log(WQ_LOG_INFO, "models monitored: %s; references from %s%s",
	       s->nnames > 0 ? names : "any registered model name",
	       s->m.reference != NULL ? "--reference " : "the registry (models:/NAME/VERSION)",
	       s->m.reference != NULL ? s->m.reference : "");
	if (!wq_tlsconf_is_tls_url(s->feed) && !loopback)
		wq_log(WQ_LOG_WARN,
		       "feed %s is plaintext over the network: whoever can publish at that address "
		       "can feed this monitor; use tls+tcp:// with --feed-tls-ca",
		       s->feed);
}

static int cmd_serve(int argc, char **argv)
{
	serve_cfg s = {
	    .feed = "tcp://127.0.0.1:7071", .http = "127.0.0.1:9697", .log_level = "info"};
	wq_kvconf conf = {0};
	char **cargv = NULL, err[1024] = "";
	const char *path = NULL;
	int cargc = 0, ex, rc, explicit = 0, i, sig;
	wq_config cfg = {0};
	wq_registry *reg = NULL;
	wqm m;
	wqm_feed *feed = NULL;
	wqm_http *http = NULL;
	wqm_ticker *ticker = NULL;
	char *state_dir = NULL;
	size_t restored = 0;
	sigset_t sigs;

	memset(&m, 0, sizeof(m));
	wqm_opts_default(&s.m);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1], explicit = 1;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9, explicit = 1;
	}
	if (path == NULL)
		path = DEFAULT_CONFIG;
	rc = wq_kvconf_load(path, &conf, err, sizeof(err));
	ex = -1;
	if (rc == WQ_OK) {
		if (wq_kvconf_get(&conf, "config") != NULL) {
			fprintf(stderr,
			        "wineq-monitor: %s: 'config' cannot be set in a config file\n",
			        path);
			ex = EXIT_USAGE;
		} else if (wq_kvconf_args(&conf, "wineq-monitor", &cargv, &cargc) != WQ_OK) {
			ex = EXIT_FAIL;
		} else {
			ex = serve_apply(&s, cargc, cargv, path);
		}
	} else if (rc != WQ_ENOENT || explicit) {
		fprintf(stderr, "wineq-monitor: %s\n", err);
		ex = EXIT_USAGE;
	}
	if (ex < 0)
		ex = serve_apply(&s, argc, argv, "command line");
	if (ex < 0)
		ex = drift_methods(&s.m, s.num_method, s.cat_method);
	if (ex < 0)
		ex = log_apply(s.log_level);
	if (ex < 0)
		ex = feed_check(&s);
	if (ex < 0 && !s.http_open && !wq_auth_addr_is_loopback(s.http)) {
		/* the reports show the served data: nobody off this host reads them by default */
		fprintf(
		    stderr,
		    "wineq-monitor: refusing to serve HTTP on %s: it has no authentication; "
		    "listen on loopback (behind an authenticating proxy) or pass --http-open yes "
		    "to let anyone who reaches the port read /report and /metrics\n",
		    s.http);
		ex = EXIT_USAGE;
	}
	if (ex >= 0)
		goto done;
	s.m.model_names = s.names;
	s.m.nmodel_names = s.nnames;

	ex = EXIT_FAIL;
	rc = wq_config_resolve(s.tracking, s.artifact, s.s3, &cfg, err, sizeof(err));
	/* before the registry takes cfg over (and clears it) */
	if (rc == WQ_OK && s.state_dir == NULL &&
	    (state_dir = wq_file_path_join(cfg.home, "monitor")) == NULL)
		rc = wq_err_set(err, sizeof(err), WQ_ENOMEM, "out of memory");
	if (rc == WQ_OK)
		rc = wq_registry_open(&cfg, &reg, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: cannot open the registry: %s\n", err);
		goto done;
	}
	if (s.state_dir == NULL)
		s.m.state_dir = state_dir;
	else
		s.m.state_dir = strcmp(s.state_dir, "none") == 0 ? NULL : s.state_dir;
	rc = wqm_init(&m, &s.m, reg, err, sizeof(err));
	reg = NULL; /* owned by m now, also on failure */
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: %s\n", err);
		goto done;
	}
	rc = wqm_http_start(&m, s.http, &http, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: http %s: %s\n", s.http, err);
		goto done;
	}
	rc = wqm_restore(&m, &restored, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: cannot restore the state in %s: %s\n",
		        s.m.state_dir, err);
		goto done;
	}
	if (s.m.state_dir != NULL)
		wq_log(WQ_LOG_INFO,
		       "state %s: %zu stored events replayed: window %zu events, %zu predictions "
		       "awaiting labels",
		       s.m.state_dir, restored, m.count, wqm_join_count(m.join));
	rc = wqm_feed_start(&m, s.feed, &s.feed_tls, &feed, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wqm_ticker_start(&m, &ticker, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: %s\n", err);
		goto done;
	}
	wq_log(
	    WQ_LOG_INFO,
	    "wineq-monitor %s: feed %s%s, http %s, window %zu events%s, verdicts from %zu events, "
	    "state %s",
	    PACKAGE_VERSION, s.feed, s.feed_tls.cert_file != NULL ? " (client certificate)" : "",
	    s.http, s.m.window, s.m.window_seconds > 0 ? " (and an age limit)" : "", s.m.min_events,
	    s.m.state_dir != NULL ? s.m.state_dir : "none (memory only)");
	trust_log(&s);
	do {
		sig = sigwaitinfo(&sigs, NULL);
	} while (sig != SIGTERM && sig != SIGINT);
	wq_log(WQ_LOG_INFO, "stopping");
	ex = EXIT_OK;
done:
	wqm_feed_stop(feed);
	wqm_ticker_stop(ticker); /* takes a last snapshot */
	wqm_http_stop(http);
	if (m.prom != NULL)
		wqm_fini(&m);
	free(state_dir);
	wq_config_clear(&cfg);
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
	return ex;
}

/* ---- report ----------------------------------------------------------------------------- */

static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return 0;
}

/* Data quality of one numerical column of the batch report: current values outside the
 * reference's range (the CSV reader refuses missing and non-numeric values outright). */
static void dq_column(wq_driftreport_dq *d, const char *name, const double *ref, size_t nref,
                      const double *cur, size_t ncur)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->column = name;
	d->ref_min = ref[0];
	d->ref_max = ref[0];
	for (i = 1; i < nref; i++) {
		d->ref_min = ref[i] < d->ref_min ? ref[i] : d->ref_min;
		d->ref_max = ref[i] > d->ref_max ? ref[i] : d->ref_max;
	}
	for (i = 0; i < ncur; i++)
		d->out_of_range += cur[i] < d->ref_min || cur[i] > d->ref_max;
	d->current_rows = ncur;
}

static int cmd_report(int argc, char **argv)
{
	report_cfg r = {.out = "-", .categorical = "quality", .log_level = "warn"};
	wq_csv_opts copts = {.delimiter = 0, .allowed = NULL, .max_bytes = 0};
	wq_dataset *ref = NULL, *cur = NULL;
	const char *names[WQ_DRIFT_MAX_COLUMNS];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	size_t ri[WQ_DRIFT_MAX_COLUMNS], ci[WQ_DRIFT_MAX_COLUMNS], nc = 0, i, j;
	double *rv = NULL, *cv = NULL;
	wq_drift_reference *dr = NULL;
	wq_drift_result *res = NULL;
	wq_driftreport_meta meta = {0};
	wq_driftreport_dq dq[WQ_DRIFT_MAX_COLUMNS];
	size_t ndq = 0;
	char err[1024] = "", refd[1200], curd[1200], *html = NULL;
	size_t hlen = 0;
	json_t *doc = NULL;
	FILE *f = NULL;
	int c, x, ex = -1, rc;

	wqm_opts_default(&r.m);
	optind = 1;
	opterr = 0;
	while (ex < 0 && (c = getopt_long(argc, argv, ":", report_opts, NULL)) != -1) {
		x = drift_flag(c, optarg, &r.m, &r.num_method, &r.cat_method, &r.log_level);
		if (x == 1)
			continue;
		if (x < 0) {
			fprintf(stderr, "wineq-monitor report: invalid value '%s' for %s\n", optarg,
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
		switch (c) {
		case O_REFERENCE:
			r.reference = optarg;
			break;
		case O_CURRENT:
			r.current = optarg;
			break;
		case O_OUT:
			r.out = optarg;
			break;
		case O_COLUMNS:
			r.columns = optarg;
			break;
		case O_CATEGORICAL:
			r.categorical = optarg;
			break;
		case O_FAIL_ON_DRIFT:
			r.fail_on_drift = 1;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") == 0)
				r.json = 1;
			else if (strcmp(optarg, "html") != 0) {
				fprintf(stderr, "wineq-monitor report: --format is html or json\n");
				return EXIT_USAGE;
			}
			break;
		case O_HELP:
			usage(stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "wineq-monitor report: bad option %s (see --help)\n",
			        argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || r.reference == NULL || r.current == NULL) {
		fprintf(stderr,
		        "wineq-monitor report: give --reference A.csv and --current B.csv\n");
		return EXIT_USAGE;
	}
	ex = drift_methods(&r.m, r.num_method, r.cat_method);
	if (ex < 0)
		ex = log_apply(r.log_level);
	if (ex >= 0)
		return ex;
	ex = EXIT_DATA;
	rc = wq_dataset_read_csv(r.reference, &copts, &ref, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_dataset_read_csv(r.current, &copts, &cur, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor report: %s\n", err);
		goto out;
	}
	for (i = 0; i < ref->ncols; i++) {
		if (r.columns != NULL && !in_list(r.columns, ref->names[i]))
			continue;
		if (wq_dataset_column_find(cur, ref->names[i], &j) != WQ_OK)
			continue;
		if (nc == WQ_DRIFT_MAX_COLUMNS) {
			fprintf(stderr, "wineq-monitor report: more than %d columns\n",
			        WQ_DRIFT_MAX_COLUMNS);
			goto out;
		}
		names[nc] = ref->names[i];
		kinds[nc] = in_list(r.categorical, ref->names[i]) ? WQ_DRIFT_CATEGORICAL
		                                                  : WQ_DRIFT_NUMERICAL;
		ri[nc] = i;
		ci[nc++] = j;
	}
	if (nc == 0) {
		fprintf(stderr, "wineq-monitor report: the files have no column in common%s\n",
		        r.columns != NULL ? " among --columns" : "");
		goto out;
	}
	rv = malloc(nc * ref->nrows * sizeof(*rv));
	cv = malloc(nc * cur->nrows * sizeof(*cv));
	res = malloc(sizeof(*res));
	if (rv == NULL || cv == NULL || res == NULL) {
		ex = EXIT_FAIL;
		goto out;
	}
	for (j = 0; j < nc; j++) {
		for (i = 0; i < ref->nrows; i++)
			rv[j * ref->nrows + i] = ref->values[i * ref->ncols + ri[j]];
		for (i = 0; i < cur->nrows; i++)
			cv[j * cur->nrows + i] = cur->values[i * cur->ncols + ci[j]];
	}
	rc = wq_drift_reference_new(names, kinds, nc, rv, ref->nrows, &dr, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_drift_evaluate(dr, cv, cur->nrows, &r.m.drift, res, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor report: %s\n", err);
		goto out;
	}
	for (j = 0; j < nc; j++) {
		if (kinds[j] != WQ_DRIFT_NUMERICAL)
			continue;
		dq_column(&dq[ndq++], names[j], rv + j * ref->nrows, ref->nrows,
		          cv + j * cur->nrows, cur->nrows);
	}
	meta.dq = dq;
	meta.ndq = ndq;
	meta.min_rows = WQM_DEFAULT_MIN_EVENTS;
	snprintf(refd, sizeof(refd), "%s (%zu rows)", r.reference, ref->nrows);
	snprintf(curd, sizeof(curd), "%s (%zu rows)", r.current, cur->nrows);
	meta.title = "wineq data drift";
	meta.reference_desc = refd;
	meta.current_desc = curd;
	ex = EXIT_FAIL;
	if (r.json) {
		doc = wq_driftreport_json(res, &meta);
		if (doc == NULL)
			goto out;
	} else if (wq_driftreport_html(res, &meta, &html, &hlen) != WQ_OK) {
		goto out;
	}
	f = strcmp(r.out, "-") == 0 ? stdout : fopen(r.out, "w");
	if (f == NULL) {
		fprintf(stderr, "wineq-monitor report: cannot create %s: %s\n", r.out,
		        strerror(errno));
		goto out;
	}
	if (doc != NULL) {
		json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
		fputc('\n', f);
	} else {
		fwrite(html, 1, hlen, f);
	}
	if (fflush(f) != 0 || ferror(f)) {
		fprintf(stderr, "wineq-monitor report: cannot write %s\n", r.out);
		goto out;
	}
	if (cur->nrows < meta.min_rows) {
		fprintf(stderr,
		        "insufficient data: %zu current rows, a verdict needs %zu (%zu of %zu "
		        "columns over their thresholds)\n",
		        cur->nrows, meta.min_rows, res->ndrifted, res->ncolumns);
		ex = EXIT_OK;
		goto out;
	}
	fprintf(stderr, "%s: %zu of %zu columns drifted (share %.3g, threshold %.3g)\n",
	        res->dataset_drift ? "dataset drift detected" : "no dataset drift", res->ndrifted,
	        res->ncolumns, res->share, res->share_threshold);
	ex = r.fail_on_drift && res->dataset_drift ? EXIT_FAIL : EXIT_OK;
out:
	if (f != NULL && f != stdout)
		fclose(f);
	json_decref(doc);
	free(html);
	free(res);
	free(rv);
	free(cv);
	wq_drift_reference_free(dr);
	wq_dataset_free(ref);
	wq_dataset_free(cur);
	return ex;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("wineq-monitor %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "history") == 0)
		return wqm_cmd_history(argc - 1, argv + 1, DEFAULT_CONFIG);
	fprintf(stderr, "wineq-monitor: unknown command '%s' (serve, report, history)\n", argv[1]);
	return EXIT_USAGE;
}
