/* wineq-monitor history: the snapshots of a state directory, for people (text) and tools
 * (JSON). Reads without taking the serving monitor's lock (SQLite's WAL lets it read while
 * the monitor writes). */
#include "wqm_cli.h"

#include "track/wq_config.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "base/wq_kvconf.h"
#include "wqm_store.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_MAX 1000000 /* rows printed at most */

wq_status wqm_cli_parse_since(const char *s, long long now_ms, long long *out_ms)
{
	char *end;
	long long v;
	struct tm tm;
	const char *p;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == 0 && end != s && v >= 0) {
		long long unit = 0;

		if (*end == '\0')
			unit = -1; /* unix seconds */
		else if (strcmp(end, "s") == 0)
			unit = 1000;
		else if (strcmp(end, "m") == 0)
			unit = 60000;
		else if (strcmp(end, "h") == 0)
			unit = 3600000;
		else if (strcmp(end, "d") == 0)
			unit = 86400000;
		if (unit == -1 && v <= 253402300799LL) {
			*out_ms = v * 1000;
			return WQ_OK;
		}
		if (unit > 0 && v <= 3650LL * 86400) {
			*out_ms = now_ms - v * unit;
			return WQ_OK;
		}
	}
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p != NULL && strcmp(p, "Z") == 0) {
		time_t t = timegm(&tm);

		if (t != (time_t)-1) {
			*out_ms = (long long)t * 1000;
			return WQ_OK;
		}
	}
	return WQ_EINVAL;
}

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static void rfc3339(long long ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%lld", ms);
}

static wq_status print_json(const char *dir, const wqm_store_point *pts, size_t n)
{
	json_t *doc = json_object(), *arr = json_array();
	char when[40];
	size_t i;
	int bad = doc == NULL || arr == NULL;

	for (i = 0; !bad && i < n; i++) {
		const wq_driftreport_point *p = &pts[i].p;

		rfc3339(p->time_unix_ms, when, sizeof(when));
		bad |=
		    json_array_append_new(
		        arr,
		        json_pack(
		            "{s:s, s:I, s:{s:s, s:I}, s:I, s:b, s:o, s:o, s:o, s:I, s:o, s:o, s:o}",
		            "time", when, "time_unix_ms", (json_int_t)p->time_unix_ms, "model",
		            "name", pts[i].model_name, "version", (json_int_t)pts[i].model_version,
		            "window_events", (json_int_t)p->window_events, "insufficient",
		            p->insufficient, "dataset_drift",
		            p->insufficient ? json_null() : json_boolean(p->dataset_drift),
		            "drift_share", num(p->drift_share), "prediction_score",
		            num(p->prediction_score), "labelled", (json_int_t)p->labelled,
		            "accuracy", num(p->accuracy), "balanced_accuracy",
		            num(p->balanced_accuracy), "f1_macro", num(p->f1_macro))) != 0;
	}
	if (!bad)
		bad = json_object_set_new(doc, "state_dir", json_string(dir)) != 0 ||
		      json_object_set(doc, "snapshots", arr) != 0;
	if (!bad)
		bad = wq_jsonout_file(doc, 2, 0, stdout) != WQ_OK;
	json_decref(arr);
	json_decref(doc);
	return bad ? WQ_ENOMEM : WQ_OK;
}

static void cell(double v)
{
	if (isfinite(v))
		printf("%10.4f", v);
	else
		printf("%10s", "-");
}

static void print_text(const wqm_store_point *pts, size_t n)
{
	char when[40], model[160];
	size_t i;

	printf("%-20s  %-20s %7s  %-12s %7s %10s %9s %10s %10s %10s\n", "time (UTC)", "model",
	       "window", "verdict", "share", "pred.score", "labelled", "accuracy", "bal.acc",
	       "f1.macro");
	for (i = 0; i < n; i++) {
		const wq_driftreport_point *p = &pts[i].p;

		rfc3339(p->time_unix_ms, when, sizeof(when));
		snprintf(model, sizeof(model), "%s v%lld",
		         pts[i].model_name[0] ? pts[i].model_name : "-",
		         (long long)pts[i].model_version);
		printf("%-20s  %-20s %7zu  %-12s %7.3f %10.4f %9zu ", when, model, p->window_events,
		       p->insufficient    ? "insufficient"
		       : p->dataset_drift ? "DRIFT"
		                          : "no drift",
		       isfinite(p->drift_share) ? p->drift_share : NAN,
		       isfinite(p->prediction_score) ? p->prediction_score : NAN, p->labelled);
		cell(p->accuracy);
		putchar(' ');
		cell(p->balanced_accuracy);
		putchar(' ');
		cell(p->f1_macro);
		putchar('\n');
	}
}

enum { H_STATE = 300, H_SINCE, H_FORMAT, H_LIMIT, H_CONFIG, H_HELP };

static const struct option hist_opts[] = {{"state-dir", required_argument, NULL, H_STATE},
                                          {"since", required_argument, NULL, H_SINCE},
                                          {"format", required_argument, NULL, H_FORMAT},
                                          {"limit", required_argument, NULL, H_LIMIT},
                                          {"config", required_argument, NULL, H_CONFIG},
                                          {"help", no_argument, NULL, H_HELP},
                                          {NULL, 0, NULL, 0}};

static void history_usage(FILE *f)
{
	fputs("usage: wineq-monitor history [--state-dir DIR] [--since T] [--limit N]\n"
	      "                             [--format text|json] [--config FILE]\n"
	      "  --state-dir DIR   [state-dir of the config file, else $WINEQ_HOME/monitor]\n"
	      "  --since T         unix seconds, an age (90s, 15m, 2h, 7d) or\n"
	      "                    2026-01-02T03:04:05Z [all]\n"
	      "  --limit N         the latest N snapshots [all]\n",
	      f);
}

wq_exit wqm_cmd_history(int argc, char **argv, const char *default_config)
{
	const char *dir = NULL, *config = NULL;
	long long since = 0;
	size_t limit = HISTORY_MAX;
	char err[1024] = "", *defdir = NULL;
	wq_kvconf conf = {0};
	wqm_store *s = NULL;
	wqm_store_point *pts = NULL;
	size_t n = 0;
	int json = 0, c;
	wq_exit ex = WQ_EXIT_DATA;
	wq_status rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", hist_opts, NULL)) != -1) {
		switch (c) {
		case H_STATE:
			dir = optarg;
			break;
		case H_CONFIG:
			config = optarg;
			break;
		case H_SINCE:
			if (wqm_cli_parse_since(optarg, (long long)time(NULL) * 1000, &since) !=
			    WQ_OK) {
				fprintf(stderr, "wineq-monitor history: invalid --since '%s'\n",
				        optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case H_LIMIT:
			if (wq_cli_parse_size_in(optarg, 1, HISTORY_MAX, &limit) != WQ_OK) {
				fprintf(stderr, "wineq-monitor history: invalid --limit '%s'\n",
				        optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case H_FORMAT:
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr,
				        "wineq-monitor history: --format is text or json\n");
				return WQ_EXIT_USAGE;
			}
			break;
		case H_HELP:
			history_usage(stdout);
			return WQ_EXIT_OK;
		default:
			fprintf(stderr, "wineq-monitor history: bad option %s (see --help)\n",
			        argv[optind - 1]);
			return WQ_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineq-monitor history: unexpected argument '%s'\n", argv[optind]);
		return WQ_EXIT_USAGE;
	}
	if (dir == NULL) {
		rc = wq_kvconf_load(config != NULL ? config : default_config, &conf, err,
		                    sizeof(err));
		if (rc != WQ_OK && (rc != WQ_ENOENT || config != NULL)) {
			fprintf(stderr, "wineq-monitor history: %s\n", err);
			return WQ_EXIT_USAGE;
		}
		dir = rc == WQ_OK ? wq_kvconf_get(&conf, "state-dir") : NULL;
	}
	if (dir == NULL) {
		if (wq_config_home_path("monitor", &defdir, err, sizeof(err)) != WQ_OK) {
			fprintf(stderr, "wineq-monitor history: %s\n", err);
			goto out;
		}
		dir = defdir;
	}
	if (dir == NULL) /* not reached: either given or defaulted above */
		goto out;
	if (strcmp(dir, "none") == 0) {
		fprintf(stderr, "wineq-monitor history: the monitor keeps no state (state-dir "
		                "none)\n");
		goto out;
	}
	rc = wqm_store_open(dir, 0, &s, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wqm_store_history(s, since, limit, &pts, &n, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "wineq-monitor history: %s\n", err);
		goto out;
	}
	if (json)
		ex = print_json(dir, pts, n) == WQ_OK ? WQ_EXIT_OK : WQ_EXIT_FAILURE;
	else {
		print_text(pts, n);
		ex = WQ_EXIT_OK;
	}
	if (fflush(stdout) != 0)
		ex = WQ_EXIT_FAILURE;
out:
	free(pts);
	wqm_store_close(s);
	free(defdir);
	wq_kvconf_clear(&conf);
	return ex;
}
