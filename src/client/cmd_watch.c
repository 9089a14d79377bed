/* wineq-client models watch: subscribes to a wineqd's registry events feed (--events) and
 * prints one line per event as it arrives, so scripts and deployment tools react to a new
 * version, a stage change or a moved alias without polling the registry. */
#include "cli_common.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "rpc/wq_regevents.h"
#include "rpc/wq_tlsconf.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_DEFAULT_URL "tcp://127.0.0.1:7072"
#define WATCH_STEP_MS     200 /* longest wait between looks at the clock and the signals */

static const char usage_text[] =
    "Usage: wineq-client models watch [--server URL] [--model NAME] [--format text|json]\n"
    "                                 [--count N] [--timeout SECONDS]\n\n"
    "Prints the registry events a wineqd publishes (wineqd --events URL) as they happen:\n"
    "versions created, stage changes, aliases set or removed, versions deleted or restored,\n"
    "descriptions and tags, each with its event id, time and actor. Only events published\n"
    "after the subscription is made are seen; `models history NAME` has the ones before.\n\n"
    "Options:\n"
    "  --server URL       the events feed (tcp://, ipc://, tls+tcp://)\n"
    "                     [$WINEQ_EVENTS_URL, else " WATCH_DEFAULT_URL "]\n"
    "  --model NAME       only this registered model's events [every model]\n"
    "  --format FORMAT    text (one line per event) or json (one object per line) [text]\n"
    "  --count N          exit 0 after N events\n"
    "  --timeout SECONDS  stop after this long: exit 0 without --count, 1 when fewer than N\n"
    "                     events came or the feed was never reached [no limit]\n"
    "  -h, --help\n\n"
    "tls+tcp:// takes WINEQ_TLS_CA_FILE (required), WINEQ_TLS_CERT_FILE, WINEQ_TLS_KEY_FILE\n"
    "and WINEQ_TLS_SERVER_NAME. SIGINT and SIGTERM end the watch with exit 0.\n";

enum { OPT_SERVER = 256, OPT_MODEL, OPT_FORMAT, OPT_COUNT, OPT_TIMEOUT };

static const struct option options[] = {{"server", required_argument, NULL, OPT_SERVER},
                                        {"model", required_argument, NULL, OPT_MODEL},
                                        {"format", required_argument, NULL, OPT_FORMAT},
                                        {"count", required_argument, NULL, OPT_COUNT},
                                        {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};

typedef struct watch_args {
	const char *server, *model;
	int format;
	size_t count;     /* 0: no limit */
	double timeout_s; /* 0: no limit */
} watch_args;

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* The options. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step watch_parse(const char *cmd, int argc, char **argv, watch_args *a, wq_exit *ex)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		wq_status rc = WQ_OK;

		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case OPT_SERVER:
			a->server = optarg;
			break;
		case OPT_MODEL:
			a->model = optarg;
			break;
		case OPT_FORMAT:
			if ((*ex = cli_format_option(cmd, optarg, &a->format)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_COUNT:
			rc = wq_cli_parse_size_in(optarg, 1, 1000000000, &a->count);
			break;
		case OPT_TIMEOUT:
			rc = wq_cli_parse_seconds(optarg, 30 * 86400.0, &a->timeout_s);
			if (rc == WQ_OK && a->timeout_s <= 0)
				rc = WQ_ERANGE;
			break;
		default:
			*ex = cli_option_error(cmd, c, argv);
			return WQ_CLI_EXIT;
		}
		if (rc != WQ_OK) {
			cli_error(cmd, "--%s: expected %s, got '%s'",
			          c == OPT_COUNT ? "count" : "timeout",
			          c == OPT_COUNT ? "a whole number of events from 1"
			                         : "a number of seconds above 0",
			          optarg);
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		}
	}
	*ex = cli_operands_none(cmd, argc, argv);
	return *ex == WQ_EXIT_OK ? WQ_CLI_GO_ON : WQ_CLI_EXIT;
}

/* An empty text as "-", for people. */
static const char *dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* One event as a line: text "WHEN UTC #ID NAME vVERSION KIND [ALIAS] FROM -> TO by ACTOR", or
 * the JSON object `models history --format json` prints for it. */
static wq_status watch_print(const wq_model_event *e, int format)
{
	char when[32];

	if (format == CLI_FORMAT_JSON)
		return cli_json_line(stdout,
		                     json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:s}",
		                               "id", (json_int_t)e->id, "name", e->name, "version",
		                               (json_int_t)e->version, "kind", e->kind, "alias",
		                               e->alias, "from", e->from, "to", e->to, "time_ms",
		                               (json_int_t)e->time_ms, "actor", e->actor));
	cli_time_format(e->time_ms, when, sizeof(when));
	printf("%s UTC #%lld %s v%lld %s%s%s %s -> %s by %s\n", when, (long long)e->id, e->name,
	       (long long)e->version, e->kind, e->alias[0] != '\0' ? " " : "", e->alias,
	       dash(e->from), dash(e->to), dash(e->actor));
	return fflush(stdout) == 0 ? WQ_OK : WQ_EIO;
}

/* The client TLS settings for a tls+tcp:// URL, from the environment; NULL otherwise. */
static const wq_rpc_tls *watch_tls(const char *url, wq_rpc_tls *t)
{
	if (!wq_tlsconf_is_tls_url(url))
		return NULL;
	memset(t, 0, sizeof(*t));
	t->ca_file = getenv("WINEQ_TLS_CA_FILE");
	t->cert_file = getenv("WINEQ_TLS_CERT_FILE");
	t->key_file = getenv("WINEQ_TLS_KEY_FILE");
	t->server_name = getenv("WINEQ_TLS_SERVER_NAME");
	return t;
}

/* Receives and prints until --count, --timeout or a signal. */
static wq_exit watch_run(const char *cmd, const watch_args *a, wq_regevents_sub *s)
{
	int64_t deadline =
	    a->timeout_s > 0 ? wq_clock_mono_ns() + (int64_t)(a->timeout_s * 1e9) : 0;
	size_t seen = 0;
	bool reached = false;
	char err[1024];

	while (!watch_stop && (a->count == 0 || seen < a->count)) {
		int64_t left_ms =
		    deadline > 0 ? (deadline - wq_clock_mono_ns()) / 1000000 : WATCH_STEP_MS;
		wq_model_event *e = NULL;
		wq_status rc;

		if (deadline > 0 && left_ms <= 0)
			break;
		if (!reached && wq_regevents_sub_connected(s)) {
			/* on stderr, which scripts may wait for: events from here on are seen */
			fprintf(stderr, "wineq-client %s: connected to %s\n", cmd, a->server);
			reached = true;
		}
		err[0] = '\0';
		rc =
		    wq_regevents_sub_next(s, left_ms < WATCH_STEP_MS ? (int)left_ms : WATCH_STEP_MS,
		                          &e, err, sizeof(err));
		if (rc == WQ_EEXPIRED)
			continue;
		if (rc == WQ_EFORMAT) { /* a foreign or damaged message: say so, go on */
			cli_error(cmd, "skipped a message: %s", err);
			continue;
		}
		if (rc == WQ_OK)
			rc = watch_print(e, a->format);
		wq_model_events_free(e, e != NULL ? 1 : 0);
		if (rc != WQ_OK) {
			cli_error(cmd, "%s", err[0] ? err : wq_strerror(rc));
			return WQ_EXIT_FAILURE;
		}
		seen++;
	}
	reached = reached || seen > 0 || wq_regevents_sub_connected(s);
	if (watch_stop || (reached && (a->count == 0 || seen >= a->count)))
		return WQ_EXIT_OK;
	if (!reached)
		cli_error(cmd, "could not reach the events feed %s within %gs", a->server,
		          a->timeout_s);
	else
		cli_error(cmd, "%zu of %zu events within %gs", seen, a->count, a->timeout_s);
	return WQ_EXIT_FAILURE;
}

/* The subscriber left open at exit (see cmd_models_watch). */
static wq_regevents_sub *volatile watch_kept; /* volatile: a store never read would be dropped */

wq_exit cmd_models_watch(int argc, char **argv)
{
	const char *cmd = "models watch";
	watch_args a = {0};
	wq_regevents_sub *s = NULL;
	wq_rpc_tls tls;
	char err[1024] = "";
	wq_status rc;
	wq_exit ex = WQ_EXIT_OK;

	if (watch_parse(cmd, argc, argv, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	if (a.server == NULL)
		a.server = getenv("WINEQ_EVENTS_URL");
	if (a.server == NULL || a.server[0] == '\0')
		a.server = WATCH_DEFAULT_URL;
	rc = wq_regevents_sub_open(a.server, watch_tls(a.server, &tls), a.model, &s, err,
	                           sizeof(err));
	if (rc != WQ_OK) {
		cli_error(cmd, "%s", err[0] ? err : wq_strerror(rc));
		return rc == WQ_EINVAL ? WQ_EXIT_USAGE : WQ_EXIT_FAILURE;
	}
	signal(SIGINT, watch_on_signal);
	signal(SIGTERM, watch_on_signal);
	ex = watch_run(cmd, &a, s);
	/* not wq_regevents_sub_close: the process ends now, and nng 1.5's close can hang while
	 * other models' events are still arriving (wq_regevents.h). Kept reachable until exit,
	 * as it is on purpose, not lost. */
	watch_kept = s;
	if (fflush(stdout) != 0 && ex == WQ_EXIT_OK)
		ex = WQ_EXIT_FAILURE;
	return ex;
}
