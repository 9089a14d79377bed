/* wineq-monitor: data drift of served predictions against the reference sample of the model
 * that made them and live quality from true labels, for Prometheus (/metrics) and people
 * (/report), or once over two CSV files.
 *   wineq-monitor serve  [flags]   (every flag also a key of wineq-monitor.conf)
 *   wineq-monitor report --reference A.csv --current B.csv --out report.html [--format json]
 *   wineq-monitor history [--state-dir DIR] [--since T] [--format text|json] */
#include "wqm.h"
#include "wqm_cli.h"
#include "wqm_uilink.h"

#include "cli/wq_cli.h"

#include "rpc/wq_auth.h"
#include "track/wq_config.h"
#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_jsonout.h"
#include "base/wq_kvconf.h"
#include "base/wq_log.h"
#include "rpc/wq_tlsconf.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WQ_SYSCONFDIR
#define WQ_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG WQ_SYSCONFDIR "/wineq/wineq-monitor.conf"

#define DEFAULT_FEED  "tcp://127.0.0.1:7071"
#define FEED_ARGS_MAX (4 * WQM_FEEDS_MAX) /* --feed flags taken, repeated URLs included */

enum {
	O_FEED = 256,
	O_FEEDS_FILE,
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
	O_LOG_FORMAT,
	O_UI_URL,
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
    {"feeds-file", required_argument, NULL, O_FEEDS_FILE},
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
    {"log-format", required_argument, NULL, O_LOG_FORMAT},
    {"ui-url", required_argument, NULL, O_UI_URL},
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
                                            {"ui-url", required_argument, NULL, O_UI_URL},
                                            {"help", no_argument, NULL, O_HELP},
                                            DRIFT_OPTIONS,
                                            {NULL, 0, NULL, 0}};

typedef struct serve_cfg {
	/* --feed: a source (config file, command line) that gives any replaces the feeds of the
	 * one before, as --model-name */
	const char *feed_args[FEED_ARGS_MAX];
	size_t nfeed_args;
	int feed_args_over; /* more --feed than FEED_ARGS_MAX */
	int feeds_source;
	wqm_feedlist feeds;      /* feed_args checked, each URL once */
	const char *feeds_file;  /* --feeds-file: more feeds, read again on SIGHUP */
	wqm_feedlist subscribed; /* the feeds at start: feeds, then the file's */
	const char *http, *tracking, *artifact, *s3, *config, *log_level, *state_dir;
	const char *log_format; /* text or json */
	int http_open;          /* --http-open yes: serve HTTP on a non-loopback address */
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
	const char *ui_url; /* --ui-url: a link to wineqd's web UI in the HTML report */
	int json, fail_on_drift;
	wqm_opts m; /* only .drift is used */
	const char *num_method, *cat_method;
} report_cfg;

/* The serve options of --help. */
static void usage_serve(FILE *out)
{
	fprintf(
	    out,
	    "serve: subscribes to the feeds of wineqd (one or many replicas), keeps one window\n"
	    "of recent predictions (each counted once, whichever feeds deliver it) and\n"
	    "compares it with the reference sample of the model version that made them\n"
	    "(fetched from the registry; the prediction column against the model's own\n"
	    "predictions on that sample); joins true labels to predictions for live quality;\n"
	    "keeps its window, join buffer and history in --state-dir; serves /metrics\n"
	    "(Prometheus), /report (HTML), /report.json, /healthz.\n"
	    "  --feed URL               wineqd's feed: tcp://HOST:PORT, tls+tcp://HOST:PORT or\n"
	    "                           ipc://PATH; repeat it for each replica (at most %d\n"
	    "                           feeds; a URL given twice is subscribed once)\n"
	    "                           [%s unless --feeds-file is given]\n"
	    "  --feeds-file FILE        more feeds: one URL a line, # comments; read again\n"
	    "                           on SIGHUP (new feeds subscribed, removed ones closed)\n"
	    "  --http ADDR:PORT         [127.0.0.1:9697]\n"
	    "  --window N               events kept [1000]\n"
	    "  --window-seconds S       and only those younger than S seconds [0: no limit]\n"
	    "  --min-events N           no drift verdict below N events (insufficient data)\n"
	    "                           [%d]\n"
	    "  --join-max-age S         predictions wait S seconds for a label [86400]\n"
	    "  --join-max-predictions N and at most N of them are held [100000; ~152 bytes\n"
	    "                           each]\n",
	    WQM_FEEDS_MAX, DEFAULT_FEED, WQM_DEFAULT_MIN_EVENTS);
	fprintf(
	    out,
	    "  --state-dir DIR|none     SQLite state (window, join buffer, history)\n"
	    "                           [$WINEQ_HOME/monitor; none: memory only]\n"
	    "  --snapshot-interval S    history resolution [60]\n"
	    "  --history-days D         snapshots kept [30]\n"
	    "  --reference URI          use this model/bundle's sample for every event\n"
	    "  --model-name NAME[,NAME] monitor only these models (repeatable) [any registered\n"
	    "                           name; events never choose a file: references come\n"
	    "                           from the registry as models:/NAME/VERSION]\n"
	    "  --feed-tls-ca FILE       CA that signed wineqd's certificate (tls+tcp:// feeds)\n"
	    "  --feed-tls-cert FILE --feed-tls-key FILE   client certificate for wineqd\n"
	    "  --feed-tls-server-name NAME  name wineqd's certificate must carry [the feed's\n"
	    "                           host]\n"
	    "  --http-open yes|no       serve HTTP (which has no authentication) on a\n"
	    "                           non-loopback address [no]\n"
	    "  --tracking-uri, --artifact-root, --s3-endpoint-url   the registry to fetch from\n"
	    "  --log-format FORMAT      text (TIME wineq-monitor[PID] LEVEL: MESSAGE) or json\n"
	    "                           [text]\n"
	    "  --ui-url URL             link /report to wineqd's web UI (http:// or https://,\n"
	    "                           e.g. http://127.0.0.1:9696/ui/) [none]\n"
	    "  --config FILE            key = value file, keys are these flag names\n"
	    "                           [%s, when present]\n",
	    DEFAULT_CONFIG);
}

static void usage(FILE *out)
{
	fputs("usage: wineq-monitor serve [options]\n"
	      "       wineq-monitor report --reference A.csv --current B.csv [--out FILE]\n"
	      "                            [--format html|json] [--columns LIST] [--categorical "
	      "LIST]\n"
	      "                            [--fail-on-drift] [--ui-url URL]\n"
	      "       wineq-monitor history [--state-dir DIR] [--since T] [--limit N]\n"
	      "                            [--format text|json]\n\n",
	      out);
	usage_serve(out);
	fputs(
	    "report: the same comparison once, between two CSV files (UCI ';' or comma).\n"
	    "  --columns LIST           compared columns [all columns both files have]\n"
	    "  --categorical LIST       categorical among them [quality]\n"
	    "  --out FILE               [-: standard output]\n"
	    "  --fail-on-drift          exit 1 when dataset drift is detected\n"
	    "  --ui-url URL             link the HTML report to wineqd's web UI\n"
	    "Drift options (both):\n"
	    "  --num-method auto|ks|wasserstein|psi|jensenshannon  [auto: K-S when the reference\n"
	    "                           has <= --small-reference rows, else Wasserstein]\n"
	    "  --cat-method auto|chisquare|jensenshannon [auto: chi-square / Jensen-Shannon]\n"
	    "  --num-threshold X, --cat-threshold X        [the test's default]\n"
	    "  --share-threshold X      dataset drift when drifted share >= X [0.5]\n"
	    "  --small-reference N      [1000]\n"
	    "  --bins N                 quantile bins for PSI, JS and histograms [10]\n"
	    "  --log-level LEVEL        [info]\n",
	    out);
}

/* What drift_flag made of an option. */
typedef enum flag_result {
	FLAG_OTHER = 0, /* not a drift flag: the caller's switch handles it */
	FLAG_TAKEN,     /* applied */
	FLAG_BAD        /* a drift flag with a bad value */
} flag_result;

static flag_result flag_of(wq_status rc)
{
	return rc == WQ_OK ? FLAG_TAKEN : FLAG_BAD;
}

/* Applies a drift flag shared by serve and report. */
static flag_result drift_flag(int c, const char *arg, wqm_opts *m, const char **num,
                              const char **cat, const char **log_level)
{
	wq_drift_opts *d = &m->drift;

	switch (c) {
	case O_NUM_METHOD:
		*num = arg;
		return FLAG_TAKEN;
	case O_CAT_METHOD:
		*cat = arg;
		return FLAG_TAKEN;
	case O_LOG:
		*log_level = arg;
		return FLAG_TAKEN;
	case O_NUM_THRESHOLD:
		return flag_of(wq_cli_parse_double_in(arg, 0, 1e9, &d->num_threshold));
	case O_CAT_THRESHOLD:
		return flag_of(wq_cli_parse_double_in(arg, 0, 1e9, &d->cat_threshold));
	case O_SHARE_THRESHOLD:
		return flag_of(wq_cli_parse_double_in(arg, 0, 1, &d->share_threshold));
	case O_SMALL_REFERENCE:
		return flag_of(wq_cli_parse_size_in(arg, 0, 100000000, &d->small_reference));
	case O_BINS:
		return flag_of(wq_cli_parse_size_in(arg, 2, WQ_DRIFT_MAX_BINS, &d->nbins));
	default:
		return FLAG_OTHER;
	}
}

/* Resolves method names into tests; WQ_EXIT_OK or WQ_EXIT_USAGE for an unknown name. */
static wq_exit drift_methods(wqm_opts *m, const char *num, const char *cat)
{
	if (num != NULL && strcmp(num, "auto") != 0) {
		m->drift.num = wq_drift_test_find(num, WQ_DRIFT_NUMERICAL);
		if (m->drift.num == NULL) {
			fprintf(stderr,
			        "wineq-monitor: unknown --num-method '%s' (auto, ks, "
			        "wasserstein, psi, jensenshannon)\n",
			        num);
			return WQ_EXIT_USAGE;
		}
	}
	if (cat != NULL && strcmp(cat, "auto") != 0) {
		m->drift.cat = wq_drift_test_find(cat, WQ_DRIFT_CATEGORICAL);
		if (m->drift.cat == NULL) {
			fprintf(stderr,
			        "wineq-monitor: unknown --cat-method '%s' (auto, chisquare, "
			        "jensenshannon)\n",
			        cat);
			return WQ_EXIT_USAGE;
		}
	}
	return WQ_EXIT_OK;
}

/* ---- serve ---------------------------------------------------------------------------- */

/* --model-name: a source (config file, command line) that gives any replaces the names of the
 * one before. */
static wq_status model_names_add(serve_cfg *s, char *arg, const char *origin)
{
	char nerr[512];

	if (s->names_source != s->source) {
		s->nnames = 0;
		s->names_source = s->source;
	}
	if (wqm_trust_add_names(arg, s->names, &s->nnames, nerr, sizeof(nerr)) != WQ_OK) {
		fprintf(stderr, "wineq-monitor: %s: --model-name: %s\n", origin, nerr);
		return WQ_EINVAL;
	}
	return WQ_OK;
}

/* --feed URL, kept as given: feed_check checks them all once every source is read. */
static void feed_arg_add(serve_cfg *s, const char *url)
{
	if (s->feeds_source != s->source) {
		s->nfeed_args = 0;
		s->feed_args_over = 0;
		s->feeds_source = s->source;
	}
	if (s->nfeed_args < FEED_ARGS_MAX)
		s->feed_args[s->nfeed_args++] = url;
	else
		s->feed_args_over = 1;
}

/* The serve option of c with a number value. */
static wq_status serve_number(serve_cfg *s, int c, const char *arg)
{
	wqm_opts *m = &s->m;

	switch (c) {
	case O_WINDOW:
		return wq_cli_parse_size_in(arg, 1, WQM_MAX_WINDOW, &m->window);
	case O_MIN_EVENTS:
		return wq_cli_parse_size_in(arg, 1, WQM_MAX_WINDOW, &m->min_events);
	case O_WINDOW_SECONDS:
		return wq_cli_parse_double_in(arg, 0, 1e7, &m->window_seconds);
	case O_JOIN_MAX_AGE:
		return wq_cli_parse_double_in(arg, 1, 1e8, &m->join_max_age_s);
	case O_JOIN_MAX_PREDICTIONS:
		return wq_cli_parse_size_in(arg, 1, WQM_JOIN_LIMIT, &m->join_max_predictions);
	case O_SNAPSHOT_INTERVAL:
		return wq_cli_parse_double_in(arg, 0.1, 86400, &m->snapshot_interval_s);
	default: /* O_HISTORY_DAYS */
		return wq_cli_parse_double_in(arg, 0.001, 36500, &m->history_days);
	}
}

/* Applies argv (the config file's "--key=value" list or the command line); origin names it
 * in messages. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step serve_apply(serve_cfg *s, int argc, char **argv, const char *origin, wq_exit *ex)
{
	flag_result r;
	int c;

	optind = 1;
	opterr = 0;
	s->source++;
	*ex = WQ_EXIT_USAGE;
	while ((c = getopt_long(argc, argv, ":", serve_opts, NULL)) != -1) {
		r = drift_flag(c, optarg, &s->m, &s->num_method, &s->cat_method, &s->log_level);
		if (r == FLAG_TAKEN)
			continue;
		if (r == FLAG_BAD)
			goto bad;
		switch (c) {
		case O_FEED:
			feed_arg_add(s, optarg);
			break;
		case O_FEEDS_FILE:
			s->feeds_file = optarg;
			break;
		case O_HTTP:
			s->http = optarg;
			break;
		case O_REFERENCE_URI:
			s->m.reference = optarg;
			break;
		case O_MODEL_NAME:
			if (model_names_add(s, optarg, origin) != WQ_OK)
				return WQ_CLI_EXIT;
			break;
		case O_FEED_TLS_CA:
			s->feed_tls.ca_file = optarg;
			break;
		case O_LOG_FORMAT:
			s->log_format = optarg;
			break;
		case O_UI_URL:
			if (!wqm_uilink_url_ok(optarg)) {
				fprintf(
				    stderr,
				    "wineq-monitor: %s: --ui-url: expected an http:// or https:// "
				    "URL, got '%s'\n",
				    origin, optarg);
				return WQ_CLI_EXIT;
			}
			s->m.ui_url = optarg;
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
				return WQ_CLI_EXIT;
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
		case O_STATE_DIR:
			s->state_dir = optarg;
			break;
		case O_WINDOW:
		case O_MIN_EVENTS:
		case O_WINDOW_SECONDS:
		case O_JOIN_MAX_AGE:
		case O_JOIN_MAX_PREDICTIONS:
		case O_SNAPSHOT_INTERVAL:
		case O_HISTORY_DAYS:
			if (serve_number(s, c, optarg) != WQ_OK)
				goto bad;
			break;
		case O_HELP:
			usage(stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case ':':
			fprintf(stderr, "wineq-monitor: %s: option %s needs a value\n", origin,
			        argv[optind - 1]);
			return WQ_CLI_EXIT;
		default:
			fprintf(stderr, "wineq-monitor: %s: unknown option %s (see --help)\n",
			        origin, argv[optind - 1]);
			return WQ_CLI_EXIT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineq-monitor: %s: unexpected argument '%s'\n", origin,
		        argv[optind]);
		return WQ_CLI_EXIT;
	}
	*ex = WQ_EXIT_OK;
	return WQ_CLI_GO_ON;
bad:
	fprintf(stderr, "wineq-monitor: %s: invalid value '%s' for %s\n", origin,
	        optarg != NULL ? optarg : "", argv[optind - 1]);
	return WQ_CLI_EXIT;
}

/* Every feed: the --feed ones, then those of --feeds-file. WQ_OK, or the file's failure
 * with "FILE:LINE: what" in err. */
static wq_status feeds_all(const serve_cfg *s, wqm_feedlist *out, char *err, size_t errlen)
{
	*out = s->feeds;
	if (s->feeds_file == NULL)
		return WQ_OK;
	return wqm_feedlist_read(out, s->feeds_file, err, errlen);
}

static int any_tls(const wqm_feedlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (wq_tlsconf_is_tls_url(l->urls[i]))
			return 1;
	return 0;
}

/* The feeds (the default one when none is given; a bad --feeds-file is invalid input), then
 * their TLS settings: those go with tls+tcp:// feeds and only with them, so settings that
 * would be ignored are refused rather than leaving a feed quietly unverified. A feeds file
 * may name a tls+tcp:// feed later (SIGHUP), so with one the settings are taken as they are. */
static wq_exit feed_check(serve_cfg *s, wqm_feedlist *all)
{
	const wq_rpc_tls *t = &s->feed_tls;
	int any = t->ca_file != NULL || t->cert_file != NULL || t->key_file != NULL ||
	          t->server_name != NULL;
	char err[1024] = "";
	wq_status rc;
	size_t i;

	for (i = 0; i < s->nfeed_args; i++) {
		rc = wqm_feedlist_add(&s->feeds, s->feed_args[i], NULL, err, sizeof(err));
		if (rc != WQ_OK) {
			fprintf(stderr, "wineq-monitor: --feed: %s\n", err);
			return WQ_EXIT_USAGE;
		}
	}
	if (s->feed_args_over) {
		fprintf(stderr, "wineq-monitor: --feed: more than %d feeds\n", WQM_FEEDS_MAX);
		return WQ_EXIT_USAGE;
	}
	if (s->feeds.n == 0 && s->feeds_file == NULL)
		(void)wqm_feedlist_add(&s->feeds, DEFAULT_FEED, NULL, NULL, 0);
	rc = feeds_all(s, all, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: --feeds-file: %s\n", err);
		return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
	}
	for (i = 0; i < all->n; i++) {
		if (wq_tlsconf_is_tls_url(all->urls[i]) && t->ca_file == NULL) {
			fprintf(stderr,
			        "wineq-monitor: --feed %s needs --feed-tls-ca (the CA that signed "
			        "wineqd's certificate)\n",
			        all->urls[i]);
			return WQ_EXIT_USAGE;
		}
	}
	if (any && !any_tls(all) && s->feeds_file == NULL) {
		fprintf(stderr, "wineq-monitor: --feed-tls-* need a tls+tcp:// --feed (not %s)\n",
		        all->n > 0 ? all->urls[0] : "none");
		return WQ_EXIT_USAGE;
	}
	if ((t->cert_file == NULL) != (t->key_file == NULL)) {
		fprintf(stderr, "wineq-monitor: --feed-tls-cert and --feed-tls-key go together\n");
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

static int loopback_url(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0 ||
	       strncmp(url, "tcp://127.", 10) == 0 || strncmp(url, "tcp://localhost:", 16) == 0 ||
	       strncmp(url, "tcp://[::1]:", 12) == 0;
}

/* A plaintext feed off this host believes whoever publishes there: said for every one. */
static void plaintext_warn(const wqm_feedlist *feeds)
{
	size_t i;

	for (i = 0; i < feeds->n; i++)
		if (!wq_tlsconf_is_tls_url(feeds->urls[i]) && !loopback_url(feeds->urls[i]))
			wq_log(WQ_LOG_WARN,
			       "feed %s is plaintext over the network: whoever can publish at that "
			       "address can feed this monitor; use tls+tcp:// with --feed-tls-ca",
			       feeds->urls[i]);
}

/* Says what the monitor believes, once at start. */
static void trust_log(const serve_cfg *s)
{
	char names[1024] = "";
	size_t i, used = 0;

	for (i = 0; i < s->nnames && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
		                         s->names[i]);
	wq_log(WQ_LOG_INFO, "models monitored: %s; references from %s%s",
	       s->nnames > 0 ? names : "any registered model name",
	       s->m.reference != NULL ? "--reference " : "the registry (models:/NAME/VERSION)",
	       s->m.reference != NULL ? s->m.reference : "");
	plaintext_warn(&s->subscribed);
}

/* The config file (explicit --config, else the default when present), the command line, then
 * the checks of what they give together. WQ_CLI_EXIT with *ex set when the program ends
 * here; conf and cargv keep the strings alive. */
static wq_cli_step serve_load(serve_cfg *s, int argc, char **argv, wq_kvconf *conf, char ***cargv,
                              int *cargc, wq_exit *ex)
{
	const char *path = NULL;
	char err[1024] = "";
	wq_status rc;

	rc = wq_cli_config_load("wineq-monitor", argc, argv, DEFAULT_CONFIG, conf, cargv, cargc,
	                        &path, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor: %s\n", err);
		*ex = wq_cli_exit_for(rc, WQ_EXIT_USAGE);
		return WQ_CLI_EXIT;
	}
	if (path != NULL && serve_apply(s, *cargc, *cargv, path, ex) == WQ_CLI_EXIT)
		return WQ_CLI_EXIT;
	if (serve_apply(s, argc, argv, "command line", ex) == WQ_CLI_EXIT)
		return WQ_CLI_EXIT;
	*ex = drift_methods(&s->m, s->num_method, s->cat_method);
	if (*ex == WQ_EXIT_OK)
		*ex = wq_cli_log_daemon_setup("wineq-monitor", s->log_level, s->log_format);
	if (*ex == WQ_EXIT_OK && !s->http_open && !wq_auth_addr_is_loopback(s->http)) {
		/* the reports show the served data: nobody off this host reads them by default */
		fprintf(
		    stderr,
		    "wineq-monitor: refusing to serve HTTP on %s: it has no authentication; "
		    "listen on loopback (behind an authenticating proxy) or pass --http-open yes "
		    "to let anyone who reaches the port read /report and /metrics\n",
		    s->http);
		*ex = WQ_EXIT_USAGE;
	}
	if (*ex == WQ_EXIT_OK)
		*ex = feed_check(s, &s->subscribed);
	if (*ex != WQ_EXIT_OK)
		return WQ_CLI_EXIT;
	s->m.model_names = s->names;
	s->m.nmodel_names = s->nnames;
	return WQ_CLI_GO_ON;
}

/* What a serving monitor holds; monitor_stop releases it (also when only partly started). */
typedef struct monitor {
	wqm m;
	wqm_feed *feed;
	wqm_http *http;
	wqm_ticker *ticker;
	char *state_dir; /* the default one, $WINEQ_HOME/monitor */
} monitor;

/* Opens the registry and the state (s->m.state_dir is set here). WQ_EXIT_OK or
 * WQ_EXIT_FAILURE (the reason logged). */
static wq_exit monitor_open(serve_cfg *s, monitor *mon)
{
	wq_config cfg = {0};
	wq_registry *reg = NULL;
	char err[1024] = "";
	wq_status rc;

	rc = wq_config_resolve(s->tracking, s->artifact, s->s3, &cfg, err, sizeof(err));
	/* before the registry takes cfg over (and clears it) */
	if (rc == WQ_OK && s->state_dir == NULL &&
	    (mon->state_dir = wq_file_path_join(cfg.home, "monitor")) == NULL)
		rc = wq_nomem(err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_registry_open(&cfg, &reg, err, sizeof(err));
	wq_config_clear(&cfg);
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "cannot open the registry: %s", err);
		return WQ_EXIT_FAILURE;
	}
	if (s->state_dir == NULL)
		s->m.state_dir = mon->state_dir;
	else
		s->m.state_dir = strcmp(s->state_dir, "none") == 0 ? NULL : s->state_dir;
	rc = wqm_init(&mon->m, &s->m, reg, err, sizeof(err));
	/* reg is owned by mon->m now, also on failure */
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		return WQ_EXIT_FAILURE;
	}
	return WQ_EXIT_OK;
}

/* HTTP, the replay of the stored state, the feed and the snapshot ticker. WQ_EXIT_OK or
 * WQ_EXIT_FAILURE (the reason logged). */
static wq_exit monitor_start(const serve_cfg *s, monitor *mon)
{
	char err[1024] = "";
	size_t restored = 0;
	wq_status rc;

	rc = wqm_http_start(&mon->m, s->http, &mon->http, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "http %s: %s", s->http, err);
		return WQ_EXIT_FAILURE;
	}
	rc = wqm_restore(&mon->m, &restored, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "cannot restore the state in %s: %s", s->m.state_dir, err);
		return WQ_EXIT_FAILURE;
	}
	if (s->m.state_dir != NULL)
		wq_log(WQ_LOG_INFO,
		       "state %s: %zu stored events replayed: window %zu events, %zu predictions "
		       "awaiting labels",
		       s->m.state_dir, restored, mon->m.count, wqm_join_count(mon->m.join));
	rc = wqm_feed_start(&mon->m, &s->feed_tls, &mon->feed, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wqm_feed_set(mon->feed, &s->subscribed, NULL, NULL, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wqm_ticker_start(&mon->m, &mon->ticker, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		return WQ_EXIT_FAILURE;
	}
	wq_log(WQ_LOG_INFO,
	       "wineq-monitor %s: %zu feed%s%s%s, http %s, window %zu events%s, verdicts from %zu "
	       "events, state %s",
	       PACKAGE_VERSION, s->subscribed.n, s->subscribed.n == 1 ? "" : "s",
	       s->feeds_file != NULL ? " with --feeds-file " : "",
	       s->feeds_file != NULL ? s->feeds_file : "", s->http, s->m.window,
	       s->m.window_seconds > 0 ? " (and an age limit)" : "", s->m.min_events,
	       s->m.state_dir != NULL ? s->m.state_dir : "none (memory only)");
	trust_log(s);
	return WQ_EXIT_OK;
}

/* SIGHUP: --feeds-file again. A file that cannot be read or has a bad line changes nothing
 * (logged); else the feeds become the --feed ones and the file's. */
static void feeds_reload(const serve_cfg *s, monitor *mon)
{
	wqm_feedlist all;
	char err[1024] = "";
	size_t added = 0, removed = 0;

	if (s->feeds_file == NULL) {
		wq_log(WQ_LOG_INFO, "SIGHUP: no --feeds-file, nothing to read again");
		return;
	}
	if (feeds_all(s, &all, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "SIGHUP: --feeds-file %s (the feeds stay as they were)", err);
		return;
	}
	/* a URL that fails is logged by wqm_feed_set; the others are taken */
	(void)wqm_feed_set(mon->feed, &all, &added, &removed, err, sizeof(err));
	plaintext_warn(&all);
	pthread_mutex_lock(&mon->m.feeds_mu);
	all.n = mon->m.nfeeds;
	pthread_mutex_unlock(&mon->m.feeds_mu);
	wq_log(WQ_LOG_INFO,
	       "SIGHUP: --feeds-file %s read again: %zu feeds added, %zu closed, %zu now",
	       s->feeds_file, added, removed, all.n);
}

static void monitor_stop(monitor *mon)
{
	wqm_feed_stop(mon->feed);
	wqm_ticker_stop(mon->ticker); /* takes a last snapshot */
	wqm_http_stop(mon->http);
	if (mon->m.prom != NULL)
		wqm_fini(&mon->m);
	free(mon->state_dir);
}

static wq_exit cmd_serve(int argc, char **argv)
{
	serve_cfg s = {.http = "127.0.0.1:9697", .log_level = "info"};
	wq_kvconf conf = {0};
	char **cargv = NULL;
	int cargc = 0, sig;
	wq_exit ex = WQ_EXIT_OK;
	monitor mon;
	sigset_t sigs;

	memset(&mon, 0, sizeof(mon));
	wq_log_set_program("wineq-monitor");
	wqm_opts_default(&s.m);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (serve_load(&s, argc, argv, &conf, &cargv, &cargc, &ex) == WQ_CLI_EXIT)
		goto done;
	ex = monitor_open(&s, &mon);
	if (ex == WQ_EXIT_OK)
		ex = monitor_start(&s, &mon);
	if (ex == WQ_EXIT_OK) {
		do {
			sig = sigwaitinfo(&sigs, NULL);
			if (sig == SIGHUP)
				feeds_reload(&s, &mon);
		} while (sig != SIGTERM && sig != SIGINT);
		wq_log(WQ_LOG_INFO, "stopping");
	}
done:
	monitor_stop(&mon);
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
	return ex;
}

/* ---- report ----------------------------------------------------------------------------- */

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return false;
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

/* Options and operands of report, then the drift methods and the log level. WQ_CLI_EXIT with
 * *ex set for --help and bad options. */
static wq_cli_step report_parse(report_cfg *r, int argc, char **argv, wq_exit *ex)
{
	flag_result x;
	int c;

	optind = 1;
	opterr = 0;
	*ex = WQ_EXIT_USAGE;
	while ((c = getopt_long(argc, argv, ":", report_opts, NULL)) != -1) {
		x = drift_flag(c, optarg, &r->m, &r->num_method, &r->cat_method, &r->log_level);
		if (x == FLAG_TAKEN)
			continue;
		if (x == FLAG_BAD) {
			fprintf(stderr, "wineq-monitor report: invalid value '%s' for %s\n", optarg,
			        argv[optind - 1]);
			return WQ_CLI_EXIT;
		}
		switch (c) {
		case O_REFERENCE:
			r->reference = optarg;
			break;
		case O_CURRENT:
			r->current = optarg;
			break;
		case O_OUT:
			r->out = optarg;
			break;
		case O_COLUMNS:
			r->columns = optarg;
			break;
		case O_CATEGORICAL:
			r->categorical = optarg;
			break;
		case O_FAIL_ON_DRIFT:
			r->fail_on_drift = 1;
			break;
		case O_UI_URL:
			if (!wqm_uilink_url_ok(optarg)) {
				fprintf(stderr,
				        "wineq-monitor report: --ui-url: expected an http:// or "
				        "https:// URL, got '%s'\n",
				        optarg);
				return WQ_CLI_EXIT;
			}
			r->ui_url = optarg;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") == 0)
				r->json = 1;
			else if (strcmp(optarg, "html") != 0) {
				fprintf(stderr, "wineq-monitor report: --format is html or json\n");
				return WQ_CLI_EXIT;
			}
			break;
		case O_HELP:
			usage(stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		default:
			fprintf(stderr, "wineq-monitor report: bad option %s (see --help)\n",
			        argv[optind - 1]);
			return WQ_CLI_EXIT;
		}
	}
	if (optind < argc || r->reference == NULL || r->current == NULL) {
		fprintf(stderr,
		        "wineq-monitor report: give --reference A.csv and --current B.csv\n");
		return WQ_CLI_EXIT;
	}
	*ex = drift_methods(&r->m, r->num_method, r->cat_method);
	if (*ex == WQ_EXIT_OK)
		*ex = wq_cli_log_level_set("wineq-monitor", r->log_level);
	return *ex == WQ_EXIT_OK ? WQ_CLI_GO_ON : WQ_CLI_EXIT;
}

/* The compared columns of the two files and what came of the comparison. */
typedef struct report_data {
	wq_dataset *ref, *cur;
	const char *names[WQ_DRIFT_MAX_COLUMNS];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	size_t ri[WQ_DRIFT_MAX_COLUMNS], ci[WQ_DRIFT_MAX_COLUMNS], nc;
	double *rv, *cv; /* column-major values of the compared columns */
	wq_drift_reference *dr;
	wq_drift_result *res;
	wq_driftreport_dq dq[WQ_DRIFT_MAX_COLUMNS];
	size_t ndq;
} report_data;

static void report_data_clear(report_data *d)
{
	free(d->res);
	free(d->rv);
	free(d->cv);
	wq_drift_reference_free(d->dr);
	wq_dataset_free(d->ref);
	wq_dataset_free(d->cur);
}

/* Reads both files and picks the columns both have (among --columns). WQ_EXIT_OK, or
 * WQ_EXIT_DATA (the reason on stderr). */
static wq_exit report_columns(const report_cfg *r, report_data *d)
{
	wq_csv_opts copts = {.delimiter = 0, .allowed = NULL, .max_bytes = 0};
	char err[1024] = "";
	size_t i, j;
	wq_status rc;

	rc = wq_dataset_read_csv(r->reference, &copts, &d->ref, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_dataset_read_csv(r->current, &copts, &d->cur, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor report: %s\n", err);
		return WQ_EXIT_DATA;
	}
	for (i = 0; i < d->ref->ncols; i++) {
		const char *name = d->ref->names[i];

		if (r->columns != NULL && !in_list(r->columns, name))
			continue;
		if (wq_dataset_column_find(d->cur, name, &j) != WQ_OK)
			continue;
		if (d->nc == WQ_DRIFT_MAX_COLUMNS) {
			fprintf(stderr, "wineq-monitor report: more than %d columns\n",
			        WQ_DRIFT_MAX_COLUMNS);
			return WQ_EXIT_DATA;
		}
		d->names[d->nc] = name;
		d->kinds[d->nc] =
		    in_list(r->categorical, name) ? WQ_DRIFT_CATEGORICAL : WQ_DRIFT_NUMERICAL;
		d->ri[d->nc] = i;
		d->ci[d->nc++] = j;
	}
	if (d->nc == 0) {
		fprintf(stderr, "wineq-monitor report: the files have no column in common%s\n",
		        r->columns != NULL ? " among --columns" : "");
		return WQ_EXIT_DATA;
	}
	return WQ_EXIT_OK;
}

/* Compares the picked columns and the data quality of the numerical ones. WQ_EXIT_OK,
 * WQ_EXIT_DATA or WQ_EXIT_FAILURE (the reason on stderr). */
static wq_exit report_compute(const report_cfg *r, report_data *d)
{
	const wq_dataset *ref = d->ref, *cur = d->cur;
	char err[1024] = "";
	size_t i, j;
	wq_status rc;

	d->rv = malloc(d->nc * ref->nrows * sizeof(*d->rv));
	d->cv = malloc(d->nc * cur->nrows * sizeof(*d->cv));
	d->res = malloc(sizeof(*d->res));
	if (d->rv == NULL || d->cv == NULL || d->res == NULL)
		return WQ_EXIT_FAILURE;
	for (j = 0; j < d->nc; j++) {
		for (i = 0; i < ref->nrows; i++)
			d->rv[j * ref->nrows + i] = ref->values[i * ref->ncols + d->ri[j]];
		for (i = 0; i < cur->nrows; i++)
			d->cv[j * cur->nrows + i] = cur->values[i * cur->ncols + d->ci[j]];
	}
	rc = wq_drift_reference_new(d->names, d->kinds, d->nc, d->rv, ref->nrows, &d->dr, err,
	                            sizeof(err));
	if (rc == WQ_OK)
		rc = wq_drift_evaluate(d->dr, d->cv, cur->nrows, &r->m.drift, d->res, err,
		                       sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor report: %s\n", err);
		return WQ_EXIT_DATA;
	}
	for (j = 0; j < d->nc; j++) {
		if (d->kinds[j] != WQ_DRIFT_NUMERICAL)
			continue;
		dq_column(&d->dq[d->ndq++], d->names[j], d->rv + j * ref->nrows, ref->nrows,
		          d->cv + j * cur->nrows, cur->nrows);
	}
	return WQ_EXIT_OK;
}

/* Writes the HTML or JSON report to --out. WQ_EXIT_OK or WQ_EXIT_FAILURE. */
static wq_exit report_write(const report_cfg *r, const report_data *d,
                            const wq_driftreport_meta *meta)
{
	json_t *doc = NULL;
	char *html = NULL;
	size_t hlen = 0;
	FILE *f = NULL;
	wq_exit ex = WQ_EXIT_FAILURE;

	if (r->json) {
		doc = wq_driftreport_json(d->res, meta);
		if (doc == NULL)
			goto out;
	} else if (wq_driftreport_html(d->res, meta, &html, &hlen) != WQ_OK ||
	           (r->ui_url != NULL &&
	            wqm_uilink_insert(&html, &hlen, r->ui_url, NULL) != WQ_OK)) {
		goto out;
	}
	f = strcmp(r->out, "-") == 0 ? stdout : fopen(r->out, "w");
	if (f == NULL) {
		fprintf(stderr, "wineq-monitor report: cannot create %s: %s\n", r->out,
		        strerror(errno));
		goto out;
	}
	if ((doc != NULL && wq_jsonout_file(doc, 2, 0, f) != WQ_OK) ||
	    (doc == NULL && fwrite(html, 1, hlen, f) != hlen) || fflush(f) != 0 || ferror(f)) {
		fprintf(stderr, "wineq-monitor report: cannot write %s\n", r->out);
		goto out;
	}
	ex = WQ_EXIT_OK;
out:
	if (f != NULL && f != stdout)
		fclose(f);
	json_decref(doc);
	free(html);
	return ex;
}

/* The verdict on stderr; the exit code --fail-on-drift asks for. */
static wq_exit report_verdict(const report_cfg *r, const report_data *d, size_t min_rows)
{
	const wq_drift_result *res = d->res;

	if (d->cur->nrows < min_rows) {
		fprintf(stderr,
		        "insufficient data: %zu current rows, a verdict needs %zu (%zu of %zu "
		        "columns over their thresholds)\n",
		        d->cur->nrows, min_rows, res->ndrifted, res->ncolumns);
		return WQ_EXIT_OK;
	}
	fprintf(stderr, "%s: %zu of %zu columns drifted (share %.3g, threshold %.3g)\n",
	        res->dataset_drift ? "dataset drift detected" : "no dataset drift", res->ndrifted,
	        res->ncolumns, res->share, res->share_threshold);
	return r->fail_on_drift && res->dataset_drift ? WQ_EXIT_FAILURE : WQ_EXIT_OK;
}

static wq_exit cmd_report(int argc, char **argv)
{
	report_cfg r = {.out = "-", .categorical = "quality", .log_level = "warn"};
	report_data d;
	wq_driftreport_meta meta = {0};
	char refd[1200], curd[1200];
	wq_exit ex;

	wqm_opts_default(&r.m);
	if (report_parse(&r, argc, argv, &ex) == WQ_CLI_EXIT)
		return ex;
	memset(&d, 0, sizeof(d));
	ex = report_columns(&r, &d);
	if (ex == WQ_EXIT_OK)
		ex = report_compute(&r, &d);
	if (ex == WQ_EXIT_OK) {
		meta.dq = d.dq;
		meta.ndq = d.ndq;
		meta.min_rows = WQM_DEFAULT_MIN_EVENTS;
		snprintf(refd, sizeof(refd), "%s (%zu rows)", r.reference, d.ref->nrows);
		snprintf(curd, sizeof(curd), "%s (%zu rows)", r.current, d.cur->nrows);
		meta.title = "wineq data drift";
		meta.reference_desc = refd;
		meta.current_desc = curd;
		ex = report_write(&r, &d, &meta);
	}
	if (ex == WQ_EXIT_OK)
		ex = report_verdict(&r, &d, meta.min_rows);
	report_data_clear(&d);
	return ex;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? WQ_EXIT_USAGE : WQ_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("wineq-monitor %s\n", PACKAGE_VERSION);
		return WQ_EXIT_OK;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "history") == 0)
		return wqm_cmd_history(argc - 1, argv + 1, DEFAULT_CONFIG);
	fprintf(stderr, "wineq-monitor: unknown command '%s' (serve, report, history)\n", argv[1]);
	return WQ_EXIT_USAGE;
}
