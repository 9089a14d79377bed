/* wineq-client flows list | show: the flow runner's record of each training flow, as a
 * timeline of tasks with their states, attempts and durations. */
#include "cli_common.h"

#include "track/wq_config.h"
#include "track/wq_db.h"
#include "base/wq_error.h"
#include "track/wq_flow.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "flows"

static const char flows_usage[] =
    "Usage: wineq-client flows list [--max-results N] [--format text|json]\n"
    "       wineq-client flows show FLOW_RUN_ID [--format text|json]\n\n"
    "Flow runs (wineq-client train --trials ...) and their tasks: state (Pending, Running,\n"
    "Completed, Failed, Cached, Retrying, Crashed), attempts, duration; show also prints\n"
    "the flow's log lines (time UTC, task, line).\n\n"
    "Options:\n"
    "  --tracking-uri URI     sqlite:///path.db, postgresql://user@host/db or tcp://host:port\n"
    "                         (env WINEQ_TRACKING_URI)\n"
    "  --max-results N        flows to list, newest first (default 20, at most 1000)\n"
    "  --format text|json\n"
    "  -h, --help\n";

static void duration(int64_t start, int64_t end, char *buf, size_t n)
{
	if (start <= 0 || end <= 0 || end < start)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f s", (double)(end - start) / 1000.0);
}

static json_t *json_task(const wq_task_info *t)
{
	json_t *o = json_object(), *tr = json_array(), *log = json_array();

	for (size_t i = 0; tr != NULL && i < t->ntransitions; i++)
		json_array_append_new(tr, json_pack("{s:s, s:I}", "state",
		                                    wq_task_state_name(t->transitions[i]),
		                                    "time_ms", (json_int_t)t->transition_ms[i]));
	for (size_t i = 0; log != NULL && i < t->nlog; i++)
		json_array_append_new(log, json_string(t->log[i]));
	json_object_set_new(o, "id", json_string(t->id));
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "state", json_string(wq_task_state_name(t->state)));
	json_object_set_new(o, "attempts", json_integer(t->attempts));
	json_object_set_new(o, "start_ms", json_integer(t->start_ms));
	json_object_set_new(o, "end_ms", t->end_ms > 0 ? json_integer(t->end_ms) : json_null());
	json_object_set_new(o, "cache_key", json_string(t->cache_key));
	json_object_set_new(o, "error", json_string(t->error ? t->error : ""));
	json_object_set_new(o, "transitions", tr);
	json_object_set_new(o, "log", log);
	return o;
}

static json_t *json_flow(const wq_flow_info *f)
{
	json_t *o = json_object(), *tasks = json_array(), *log = json_array();

	for (size_t i = 0; tasks != NULL && i < f->ntasks; i++)
		json_array_append_new(tasks, json_task(&f->tasks[i]));
	for (size_t i = 0; log != NULL && i < f->nlog; i++)
		json_array_append_new(log, json_pack("{s:I, s:s, s:s}", "time_ms",
		                                     (json_int_t)f->log[i].time_ms, "task",
		                                     f->log[i].task, "line", f->log[i].line));
	json_object_set_new(o, "id", json_string(f->id));
	json_object_set_new(o, "name", json_string(f->name));
	json_object_set_new(o, "params", json_string(f->params ? f->params : ""));
	json_object_set_new(o, "state", json_string(wq_task_state_name(f->state)));
	json_object_set_new(o, "start_ms", json_integer(f->start_ms));
	json_object_set_new(o, "end_ms", f->end_ms > 0 ? json_integer(f->end_ms) : json_null());
	json_object_set_new(o, "pid", json_integer(f->pid));
	json_object_set_new(o, "tasks", tasks);
	if (f->log != NULL) /* read by show only: list has no log to give */
		json_object_set_new(o, "log", log);
	else
		json_decref(log);
	return o;
}

static void json_out(json_t *j)
{
	cli_json_print(j, JSON_INDENT(2));
}

static wq_exit flows_list(wq_db *db, size_t max, int format)
{
	wq_flow_info *f = NULL;
	size_t n = 0;
	char err[1024] = "";
	wq_status rc = wq_flow_list(db, max, &f, &n, err, sizeof(err));

	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err);
		return cli_exit_registry(rc);
	}
	if (format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(arr, json_flow(&f[i]));
		json_out(arr);
	} else {
		static const char *const hdr[] = {"FLOW RUN ID", "NAME", "STATE", "STARTED (UTC)",
		                                  "DURATION"};
		cli_table t;

		cli_table_init(&t, 5, hdr);
		for (size_t i = 0; i < n; i++) {
			char when[32], dur[32];
			const char *row[5] = {f[i].id, f[i].name, wq_task_state_name(f[i].state),
			                      when, dur};

			cli_time_format(f[i].start_ms, when, sizeof(when));
			duration(f[i].start_ms, f[i].end_ms, dur, sizeof(dur));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	wq_flow_infos_free(f, n);
	return WQ_EXIT_OK;
}

/* The flow's log, oldest first: time (UTC), the task that wrote the line ("-" for the flow
 * itself), the line. */
static void log_print(const wq_flow_info *f)
{
	size_t width = 4;

	printf("\nlog:\n");
	if (f->nlog == 0) {
		printf("  (no lines)\n");
		return;
	}
	for (size_t i = 0; i < f->nlog; i++) {
		size_t w = strlen(f->log[i].task);

		if (w > width)
			width = w;
	}
	for (size_t i = 0; i < f->nlog; i++) {
		char when[32];

		cli_time_format(f->log[i].time_ms, when, sizeof(when));
		printf("  %s  %-*s  %s\n", when, (int)width,
		       f->log[i].task[0] != '\0' ? f->log[i].task : "-", f->log[i].line);
	}
}

static wq_exit flows_show(wq_db *db, const char *id, int format)
{
	wq_flow_info *f = NULL;
	char err[1024] = "", when[32], dur[32];
	wq_status rc = wq_flow_show(db, id, &f, err, sizeof(err));

	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err);
		return cli_exit_registry(rc);
	}
	if (format == CLI_FORMAT_JSON) {
		json_out(json_flow(f));
	} else {
		static const char *const hdr[] = {"TASK",          "STATE",    "ATTEMPTS",
		                                  "STARTED (UTC)", "DURATION", "ERROR"};
		cli_table t;

		cli_time_format(f->start_ms, when, sizeof(when));
		duration(f->start_ms, f->end_ms, dur, sizeof(dur));
		printf("flow run: %s (%s)\nstate:    %s\nstarted:  %s UTC\nduration: %s\n\n", f->id,
		       f->name, wq_task_state_name(f->state), when, dur);
		cli_table_init(&t, 6, hdr);
		for (size_t i = 0; i < f->ntasks; i++) {
			const wq_task_info *k = &f->tasks[i];
			char att[16];
			const char *row[6] = {k->name, wq_task_state_name(k->state),
			                      att,     when,
			                      dur,     k->error && k->error[0] ? k->error : "-"};

			snprintf(att, sizeof(att), "%d", k->attempts);
			cli_time_format(k->start_ms, when, sizeof(when));
			duration(k->start_ms, k->end_ms, dur, sizeof(dur));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
		log_print(f);
	}
	wq_flow_info_free(f);
	return WQ_EXIT_OK;
}

enum { OPT_TRACKING = 1000, OPT_FORMAT, OPT_MAX };

wq_exit cmd_flows(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tracking-uri", required_argument, NULL, OPT_TRACKING},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"max-results", required_argument, NULL, OPT_MAX},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *sub;
	cli_registry_opts reg = {0};
	size_t max = 20;
	int format = CLI_FORMAT_TEXT, c;
	wq_exit ex;
	wq_db *db = NULL;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			fputs(flows_usage, stdout);
			return WQ_EXIT_OK;
		}
		cli_error(CMD, "expected list or show (see --help)");
		return WQ_EXIT_USAGE;
	}
	sub = argv[1];
	argc--;
	argv++;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(flows_usage, stdout);
			return WQ_EXIT_OK;
		case OPT_TRACKING:
			reg.tracking_uri = optarg;
			break;
		case OPT_FORMAT:
			if (cli_format_option(CMD, optarg, &format) != WQ_EXIT_OK)
				return WQ_EXIT_USAGE;
			break;
		case OPT_MAX:
			if (wq_cli_parse_size_in(optarg, 1, 1000, &max) != WQ_OK) {
				cli_error(CMD, "--max-results: expected 1..1000, got '%s'", optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case ':':
		default:
			return cli_option_error(CMD, c, argv);
		}
	}
	if (strcmp(sub, "list") == 0   ? optind != argc
	    : strcmp(sub, "show") == 0 ? optind + 1 != argc
	                               : 1) {
		cli_error(CMD, strcmp(sub, "show") == 0   ? "expected one FLOW_RUN_ID"
		               : strcmp(sub, "list") == 0 ? "list takes no arguments"
		                                          : "unknown subcommand (list, show)");
		return WQ_EXIT_USAGE;
	}
	if (strcmp(sub, "show") == 0 &&
	    (ex = cli_id_check(CMD, "flow run", argv[optind])) != WQ_EXIT_OK)
		return ex;
	ex = cli_flow_db_open(CMD, &reg, &db);
	if (ex != WQ_EXIT_OK)
		return ex;
	if (strcmp(sub, "list") == 0)
		ex = flows_list(db, max, format);
	else
		ex = flows_show(db, argv[optind], format);
	wq_db_close(db);
	return ex;
}
