/* wineq-client experiments | runs | models | artifacts: the tracking store and the model
 * registry for people (aligned tables) and scripts (--format json). */
#include "cli_common.h"

#include "base/wq_error.h"
#include "track/wq_model_uri.h"
#include "base/wq_num.h"
#include "registry/wq_registry.h"
#include "registry/wq_runrecord.h"
#include "track/wq_runquery.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POS         16
#define MAX_EXPERIMENTS 16

/* Options every registry command accepts, plus a few command-specific ones. */
typedef struct reg_args {
	cli_registry_opts reg;
	int format;
	const char *experiments[MAX_EXPERIMENTS];
	size_t nexp;
	const char *filter, *order_by, *page_token;
	size_t max_results;
	int keep_existing;
	int delete_alias;
	const char *pos[MAX_POS];
	size_t npos;
} reg_args;

enum {
	OPT_TRACKING = 1000,
	OPT_ARTIFACT,
	OPT_S3,
	OPT_FORMAT,
	OPT_EXPERIMENT,
	OPT_FILTER,
	OPT_ORDER,
	OPT_MAX,
	OPT_TOKEN,
	OPT_KEEP,
	OPT_DELETE,
	OPT_TIMEOUT
};

static const struct option reg_options[] = {
    {"tracking-uri", required_argument, NULL, OPT_TRACKING},
    {"artifact-root", required_argument, NULL, OPT_ARTIFACT},
    {"s3-endpoint-url", required_argument, NULL, OPT_S3},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"experiment", required_argument, NULL, OPT_EXPERIMENT},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"order-by", required_argument, NULL, OPT_ORDER},
    {"max-results", required_argument, NULL, OPT_MAX},
    {"page-token", required_argument, NULL, OPT_TOKEN},
    {"keep-existing", no_argument, NULL, OPT_KEEP},
    {"delete", no_argument, NULL, OPT_DELETE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char common_help[] =
    "Common options:\n"
    "  --tracking-uri URI     sqlite:///path.db, postgresql://user@host/db (password from\n"
    "                         PGPASSWORD or ~/.pgpass) or tcp://host:port (env\n"
    "                         WINEQ_TRACKING_URI; default $WINEQ_HOME/registry.db)\n"
    "  --artifact-root URI    file:///dir or s3://bucket/prefix (env WINEQ_ARTIFACT_ROOT)\n"
    "  --s3-endpoint-url URL  S3-compatible endpoint (env WINEQ_S3_ENDPOINT_URL)\n"
    "  --format text|json     aligned table (default) or JSON\n"
    "  --timeout SECONDS      with a tcp://, ipc:// or tls+tcp:// tracking URI (wineqd): the\n"
    "                         whole budget of each call, retries included [10]\n"
    "  -h, --help             show this help\n";

/* Parses options and positional arguments. WQ_CLI_EXIT with *ex set for --help and bad
 * options. */
static wq_cli_step parse_args(const char *cmd, int argc, char **argv, const char *usage,
                              reg_args *a, wq_exit *ex)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->max_results = 100;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", reg_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("%s\n%s", usage, common_help);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case OPT_TRACKING:
			a->reg.tracking_uri = optarg;
			break;
		case OPT_ARTIFACT:
			a->reg.artifact_root = optarg;
			break;
		case OPT_S3:
			a->reg.s3_endpoint = optarg;
			break;
		case OPT_FORMAT:
			if ((*ex = cli_format_option(cmd, optarg, &a->format)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_EXPERIMENT:
			if (a->nexp == MAX_EXPERIMENTS) {
				cli_error(cmd, "at most %d --experiment options", MAX_EXPERIMENTS);
				*ex = WQ_EXIT_USAGE;
				return WQ_CLI_EXIT;
			}
			a->experiments[a->nexp++] = optarg;
			break;
		case OPT_FILTER:
			a->filter = optarg;
			break;
		case OPT_ORDER:
			a->order_by = optarg;
			break;
		case OPT_MAX:
			if (wq_cli_parse_size_in(optarg, 1, WQ_TRACKING_MAX_RESULTS,
			                         &a->max_results) != WQ_OK) {
				cli_error(cmd, "--max-results: expected 1..%d, got '%s'",
				          WQ_TRACKING_MAX_RESULTS, optarg);
				*ex = WQ_EXIT_USAGE;
				return WQ_CLI_EXIT;
			}
			break;
		case OPT_TOKEN:
			a->page_token = optarg;
			break;
		case OPT_KEEP:
			a->keep_existing = 1;
			break;
		case OPT_DELETE:
			a->delete_alias = 1;
			break;
		case OPT_TIMEOUT:
			if ((*ex = cli_timeout_option(cmd, optarg)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case ':':
		default:
			*ex = cli_option_error(cmd, c, argv);
			return WQ_CLI_EXIT;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npos == MAX_POS) {
			cli_error(cmd, "too many arguments");
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		}
		a->pos[a->npos++] = argv[optind];
	}
	return WQ_CLI_GO_ON;
}

/* WQ_EXIT_OK when min to max positional arguments were given, else WQ_EXIT_USAGE after
 * naming what is expected. */
static wq_exit need_pos(const char *cmd, const reg_args *a, size_t min, size_t max,
                        const char *usage)
{
	if (a->npos < min || a->npos > max) {
		cli_error(cmd, "expected %s (see --help)", usage);
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* How many operands a subcommand takes (min to max), and what need_pos says they are. */
typedef struct sub_operands {
	const char *sub;
	size_t min, max;
	const char *what;
} sub_operands;

/* need_pos with sub's entry of subs (n entries); a sub missing from subs is a usage error,
 * hint saying what there is. */
static wq_exit sub_operands_check(const char *cmd, const char *sub, const reg_args *a,
                                  const sub_operands *subs, size_t n, const char *hint)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sub, subs[i].sub) == 0)
			return need_pos(cmd, a, subs[i].min, subs[i].max, subs[i].what);
	cli_error(cmd, "unknown subcommand '%s' (%s)", sub, hint);
	return WQ_EXIT_USAGE;
}

/* A version number operand: WQ_EXIT_OK, or WQ_EXIT_USAGE after printing the error. */
static wq_exit parse_version(const char *cmd, const char *s, int64_t *out)
{
	uint64_t v;

	if (wq_cli_parse_u64(s, &v) != WQ_OK || v == 0 || v > INT64_MAX) {
		cli_error(cmd, "version must be a positive integer, got '%s'", s);
		return WQ_EXIT_USAGE;
	}
	*out = (int64_t)v;
	return WQ_EXIT_OK;
}

/* --filter, --order-by and --page-token are option values: one that does not parse is a usage
 * error (2), found here before any registry, local or remote, is asked. */
static wq_exit search_options_check(const char *cmd, const reg_args *a)
{
	wq_runquery q = {0};
	char err[512] = "";
	size_t offset;

	if (wq_runquery_compile(a->filter, a->order_by, &q, err, sizeof(err)) != WQ_OK) {
		cli_error(cmd, "%s", err);
		return WQ_EXIT_USAGE;
	}
	wq_runquery_clear(&q);
	if (a->page_token != NULL &&
	    wq_runquery_page_token_decode(a->page_token, &offset, err, sizeof(err)) != WQ_OK) {
		cli_error(cmd, "--page-token: %s", err);
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* Run id operands (32 lower-case hex digits): a malformed one is a usage error (2), like a
 * malformed option value; a well-formed one the registry does not know is not found (5). */
static wq_exit run_ids_check(const char *cmd, const reg_args *a)
{
	wq_exit ex = WQ_EXIT_OK;

	for (size_t i = 0; i < a->npos && ex == WQ_EXIT_OK; i++)
		ex = cli_id_check(cmd, "run", a->pos[i]);
	return ex;
}

static void json_print(json_t *j)
{
	if (j == NULL) {
		fprintf(stderr, "wineq-client: out of memory\n");
		return;
	}
	cli_json_print(j, JSON_INDENT(2));
}

static json_t *json_kv(const wq_kv *kv, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o != NULL && i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	return o;
}

static json_t *json_run(const wq_run *r)
{
	json_t *o = json_object(), *m = json_object(), *arts = json_array();

	if (o == NULL || m == NULL || arts == NULL) {
		json_decref(o);
		json_decref(m);
		json_decref(arts);
		return NULL;
	}
	json_object_set_new(o, "run_id", json_string(r->id));
	json_object_set_new(o, "experiment_id", json_integer(r->experiment_id));
	json_object_set_new(o, "experiment",
	                    json_string(r->experiment_name ? r->experiment_name : ""));
	json_object_set_new(o, "run_name", json_string(r->name ? r->name : ""));
	json_object_set_new(o, "status", json_string(wq_run_status_name(r->status)));
	json_object_set_new(o, "start_time_ms", json_integer(r->start_ms));
	json_object_set_new(o, "end_time_ms",
	                    r->end_ms > 0 ? json_integer(r->end_ms) : json_null());
	json_object_set_new(o, "artifact_uri", json_string(r->artifact_uri ? r->artifact_uri : ""));
	json_object_set_new(o, "params", json_kv(r->params, r->nparams));
	for (size_t i = 0; i < r->nmetrics; i++)
		json_object_set_new(m, r->metrics[i].key, json_real(r->metrics[i].value));
	json_object_set_new(o, "metrics", m);
	json_object_set_new(o, "tags", json_kv(r->tags, r->ntags));
	for (size_t i = 0; i < r->nartifacts; i++)
		json_array_append_new(arts,
		                      json_pack("{s:s, s:I, s:s}", "path", r->artifacts[i].path,
		                                "size", (json_int_t)r->artifacts[i].size, "sha256",
		                                r->artifacts[i].sha256));
	json_object_set_new(o, "artifacts", arts);
	return o;
}

static json_t *json_version(const wq_model_version *v)
{
	json_t *o = json_object(), *al = json_array();

	if (o == NULL || al == NULL) {
		json_decref(o);
		json_decref(al);
		return NULL;
	}
	for (size_t i = 0; i < v->naliases; i++)
		json_array_append_new(al, json_string(v->aliases[i]));
	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "version", json_integer(v->version));
	json_object_set_new(o, "stage", json_string(wq_stage_name(v->stage)));
	json_object_set_new(o, "aliases", al);
	json_object_set_new(o, "run_id", json_string(v->run_id ? v->run_id : ""));
	json_object_set_new(o, "source_uri", json_string(v->source_uri ? v->source_uri : ""));
	json_object_set_new(o, "sha256", json_string(v->sha256));
	json_object_set_new(o, "created_ms", json_integer(v->created_ms));
	json_object_set_new(o, "created_by", json_string(v->created_by ? v->created_by : ""));
	json_object_set_new(o, "description", json_string(v->description ? v->description : ""));
	json_object_set_new(o, "tags", json_kv(v->tags, v->ntags));
	return o;
}

/* Tags as "k=v,k2=v2" for a table cell ("-" when none; cut at n). */
static void tags_join(const wq_kv *kv, size_t nkv, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nkv && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%s=%s", i ? "," : "", kv[i].key,
		                         kv[i].value);
	if (nkv == 0)
		snprintf(buf, n, "-");
}

static void aliases_join(const wq_model_version *v, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->naliases && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", v->aliases[i]);
	if (v->naliases == 0)
		snprintf(buf, n, "-");
}

/* Checks that argv[1] is the one subcommand a command has (or --help, which parse_args
 * answers) and shifts it away: WQ_EXIT_OK, or WQ_EXIT_USAGE after printing the error. */
static wq_exit only_sub(const char *cmd, const char *sub, int *argc, char ***argv)
{
	if (*argc >= 2 && strcmp((*argv)[1], sub) == 0) {
		(*argc)--;
		(*argv)++;
		return WQ_EXIT_OK;
	}
	if (*argc >= 2 && (strcmp((*argv)[1], "-h") == 0 || strcmp((*argv)[1], "--help") == 0))
		return WQ_EXIT_OK;
	cli_error(cmd, "expected '%s %s' (see --help)", cmd, sub);
	return WQ_EXIT_USAGE;
}

/* A command with one subcommand: the subcommand, the options, npos_min to npos_max operands
 * (named by what), then the registry (*r owned by the caller). WQ_CLI_EXIT with *ex set when
 * the command ends here. */
static wq_cli_step one_sub_open(const char *cmd, const char *sub, int argc, char **argv,
                                const char *usage, size_t npos_min, size_t npos_max,
                                const char *what, reg_args *a, wq_registry **r, wq_exit *ex)
{
	if ((*ex = only_sub(cmd, sub, &argc, &argv)) != WQ_EXIT_OK)
		return WQ_CLI_EXIT;
	if (parse_args(cmd, argc, argv, usage, a, ex) == WQ_CLI_EXIT)
		return WQ_CLI_EXIT;
	if ((*ex = need_pos(cmd, a, npos_min, npos_max, what)) != WQ_EXIT_OK)
		return WQ_CLI_EXIT;
	if ((*ex = cli_registry_open(cmd, &a->reg, r)) != WQ_EXIT_OK)
		return WQ_CLI_EXIT;
	return WQ_CLI_GO_ON;
}

/* Takes the subcommand of a command that has several (answers --help), then its options
 * and operands into a. WQ_CLI_GO_ON with *sub set, else WQ_CLI_EXIT with *ex set. */
static wq_cli_step first_sub(const char *cmd, int argc, char **argv, const char *usage,
                             const char **sub, reg_args *a, wq_exit *ex)
{
	if (argc >= 2 && argv[1][0] != '-') {
		*sub = argv[1];
		return parse_args(cmd, argc - 1, argv + 1, usage, a, ex);
	}
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("%s\n%s", usage, common_help);
		*ex = WQ_EXIT_OK;
		return WQ_CLI_EXIT;
	}
	cli_error(cmd, "expected a subcommand (see --help)");
	*ex = WQ_EXIT_USAGE;
	return WQ_CLI_EXIT;
}

/* --- experiments ---------------------------------------------------------------------------- */

static wq_exit experiments_list(wq_registry *r, const reg_args *a)
{
	wq_experiment **e = NULL;
	size_t n = 0;
	char err[1024] = "";
	wq_status rc = r->ops->experiment_list(r, &e, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("experiments", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:I, s:o}", "id",
			                                     (json_int_t)e[i]->id, "name",
			                                     e[i]->name, "artifact_location",
			                                     e[i]->artifact_location, "created_ms",
			                                     (json_int_t)e[i]->created_ms, "tags",
			                                     json_kv(e[i]->tags, e[i]->ntags)));
		json_print(arr);
	} else {
		static const char *const hdr[] = {"ID", "NAME", "CREATED", "ARTIFACT LOCATION"};
		cli_table t;

		cli_table_init(&t, 4, hdr);
		for (size_t i = 0; i < n; i++) {
			char id[24], when[32];
			const char *row[4] = {id, e[i]->name, when, e[i]->artifact_location};

			snprintf(id, sizeof(id), "%" PRId64, e[i]->id);
			cli_time_format(e[i]->created_ms, when, sizeof(when));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	wq_experiments_free(e, n);
	return WQ_EXIT_OK;
}

/* experiments delete|restore NAME, experiments rename NAME NEW_NAME. */
static wq_exit experiments_change(wq_registry *r, const char *sub, const reg_args *a)
{
	const wq_registry_ops *ops = r->ops;
	char err[1024] = "";
	wq_status rc;

	if (strcmp(sub, "delete") == 0)
		rc = ops->experiment_delete != NULL
		         ? ops->experiment_delete(r, a->pos[0], err, sizeof(err))
		         : WQ_EUNSUPPORTED;
	else if (strcmp(sub, "restore") == 0)
		rc = ops->experiment_restore != NULL
		         ? ops->experiment_restore(r, a->pos[0], err, sizeof(err))
		         : WQ_EUNSUPPORTED;
	else
		rc = ops->experiment_rename != NULL
		         ? ops->experiment_rename(r, a->pos[0], a->pos[1], err, sizeof(err))
		         : WQ_EUNSUPPORTED;
	if (rc != WQ_OK)
		return cli_fail("experiments", rc, err);
	if (strcmp(sub, "delete") == 0)
		printf("deleted experiment %s with its runs (experiments restore undoes it)\n",
		       a->pos[0]);
	else if (strcmp(sub, "restore") == 0)
		printf("restored experiment %s\n", a->pos[0]);
	else
		printf("renamed experiment %s -> %s\n", a->pos[0], a->pos[1]);
	return WQ_EXIT_OK;
}

wq_exit cmd_experiments(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: wineq-client experiments list [OPTIONS]\n"
	    "       wineq-client experiments delete NAME   (soft delete: the experiment and its\n"
	    "                 runs are hidden, the name stays taken until restored; the default\n"
	    "                 experiment cannot be deleted)\n"
	    "       wineq-client experiments restore NAME  (undo a delete)\n"
	    "       wineq-client experiments rename NAME NEW_NAME\n\n"
	    "Lists experiments: id, name, artifact location.\n";
	static const sub_operands subs[] = {
	    {"list", 0, 0, "no arguments"},
	    {"delete", 1, 1, "NAME"},
	    {"restore", 1, 1, "NAME"},
	    {"rename", 2, 2, "NAME NEW_NAME"},
	};
	const char *cmd = "experiments", *sub = NULL;
	wq_registry *r = NULL;
	reg_args a;
	wq_exit ex;

	if (first_sub(cmd, argc, argv, usage, &sub, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	ex = sub_operands_check(cmd, sub, &a, subs, sizeof(subs) / sizeof(subs[0]), "see --help");
	if (ex != WQ_EXIT_OK || (ex = cli_registry_open(cmd, &a.reg, &r)) != WQ_EXIT_OK)
		return ex;
	ex = strcmp(sub, "list") == 0 ? experiments_list(r, &a) : experiments_change(r, sub, &a);
	wq_registry_close(r);
	return ex;
}

/* --- runs
 * ----------------------------------------------------------------------------------------- */

static void metric_str(const wq_run *r, const char *key, char *buf, size_t n)
{
	for (size_t i = 0; i < r->nmetrics; i++) {
		if (strcmp(r->metrics[i].key, key) == 0) {
			wq_num_format(r->metrics[i].value, buf, n);
			return;
		}
	}
	snprintf(buf, n, "-");
}

static const char *param_str(const wq_run *r, const char *key)
{
	for (size_t i = 0; i < r->nparams; i++) {
		if (strcmp(r->params[i].key, key) == 0)
			return r->params[i].value;
	}
	return "-";
}

static wq_exit runs_list(wq_registry *r, const reg_args *a)
{
	wq_run **runs = NULL;
	size_t n = 0;
	char *next = NULL, err[1024] = "";
	int rc;

	rc = r->ops->runs_search(r, a->experiments, a->nexp, a->filter, a->order_by, a->max_results,
	                         a->page_token, &runs, &n, &next, err, sizeof(err));
	if (rc != WQ_OK)
		return cli_fail("runs list", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *o = json_object(), *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(arr, json_run(runs[i]));
		json_object_set_new(o, "runs", arr);
		json_object_set_new(o, "next_page_token", next ? json_string(next) : json_null());
		json_print(o);
	} else {
		static const char *const hdr[] = {"RUN ID",  "EXPERIMENT", "NAME",   "STATUS",
		                                  "STARTED", "DURATION",   "KERNEL", "C",
		                                  "BAL.ACC", "ACCURACY"};
		cli_table t;

		cli_table_init(&t, 10, hdr);
		for (size_t i = 0; i < n; i++) {
			char when[32], dur[32], bal[32], acc[32];
			const char *row[10] = {runs[i]->id,
			                       runs[i]->experiment_name,
			                       runs[i]->name,
			                       wq_run_status_name(runs[i]->status),
			                       when,
			                       dur,
			                       param_str(runs[i], "kernel"),
			                       param_str(runs[i], "C"),
			                       bal,
			                       acc};

			cli_time_format(runs[i]->start_ms, when, sizeof(when));
			/* wall time from the run's own start to end (a trial's: where it ran) */
			if (runs[i]->end_ms > 0 && runs[i]->end_ms >= runs[i]->start_ms)
				snprintf(dur, sizeof(dur), "%.3f s",
				         (double)(runs[i]->end_ms - runs[i]->start_ms) / 1000.0);
			else
				snprintf(dur, sizeof(dur), "-");
			metric_str(runs[i], "balanced_accuracy", bal, sizeof(bal));
			metric_str(runs[i], "accuracy", acc, sizeof(acc));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
		if (next != NULL)
			printf("(more: --page-token %s)\n", next);
	}
	wq_runs_free(runs, n);
	free(next);
	return WQ_EXIT_OK;
}

/* What `runs show` adds to a run: the history of each metric, the model versions registered
 * from it, the test confusion matrix (from its tag). */
typedef struct run_extra {
	wq_run_metric **hist; /* per run metric (same order as run->metrics) */
	size_t *nhist;
	int no_history;              /* the registry server cannot give histories */
	wq_model_version **versions; /* whose run_id is this run */
	size_t nversions;
	json_t *confusion; /* parsed WQ_RUNRECORD_TAG_CONFUSION, NULL when none or unreadable */
} run_extra;

static void run_extra_clear(run_extra *x, size_t nmetrics)
{
	for (size_t i = 0; x->hist != NULL && x->nhist != NULL && i < nmetrics; i++)
		wq_run_metric_list_free(x->hist[i], x->nhist[i]);
	free(x->hist);
	free(x->nhist);
	wq_model_versions_free(x->versions, x->nversions);
	json_decref(x->confusion);
	memset(x, 0, sizeof(*x));
}

static const char *tag_str(const wq_run *r, const char *key)
{
	for (size_t i = 0; i < r->ntags; i++) {
		if (strcmp(r->tags[i].key, key) == 0)
			return r->tags[i].value;
	}
	return NULL;
}

/* The versions of every registered model whose source run is run_id (moved into x). */
static wq_status versions_of_run(wq_registry *r, const char *run_id, run_extra *x, char *err,
                                 size_t errlen)
{
	wq_registered_model **models = NULL;
	size_t nm = 0, cap = 0;
	int rc = r->ops->model_list(r, &models, &nm, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < nm; i++) {
		wq_model_version **v = NULL;
		size_t nv = 0;

		rc = r->ops->version_list(r, models[i]->name, &v, &nv, err, errlen);
		for (size_t k = 0; rc == WQ_OK && k < nv; k++) {
			if (v[k]->run_id == NULL || strcmp(v[k]->run_id, run_id) != 0)
				continue;
			if (x->nversions == cap) {
				size_t ncap = cap ? 2 * cap : 4;
				wq_model_version **g = realloc(x->versions, ncap * sizeof(*g));

				if (g == NULL) {
					rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
					break;
				}
				x->versions = g;
				cap = ncap;
			}
			x->versions[x->nversions++] = v[k];
			v[k] = NULL;
		}
		wq_model_versions_free(v, nv);
	}
	wq_registered_models_free(models, nm);
	return rc;
}

static wq_status run_extra_load(wq_registry *r, const wq_run *run, run_extra *x, char *err,
                                size_t errlen)
{
	const char *cm = tag_str(run, WQ_RUNRECORD_TAG_CONFUSION);
	size_t n = run->nmetrics;
	int rc = WQ_OK;

	memset(x, 0, sizeof(*x));
	x->hist = calloc(n > 0 ? n : 1, sizeof(*x->hist));
	x->nhist = calloc(n > 0 ? n : 1, sizeof(*x->nhist));
	if (x->hist == NULL || x->nhist == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !x->no_history; i++) {
		rc = r->ops->metric_history(r, run->id, run->metrics[i].key, &x->hist[i],
		                            &x->nhist[i], err, errlen);
		if (rc == WQ_EUNSUPPORTED) {
			x->no_history = 1;
			rc = WQ_OK;
		}
		if (rc != WQ_OK)
			return rc;
	}
	if (cm != NULL)
		x->confusion = json_loads(cm, 0, NULL);
	return versions_of_run(r, run->id, x, err, errlen);
}

/* The matrix of a WQ_RUNRECORD_TAG_CONFUSION value, rows = true quality; nothing when it does not
 * have that shape. */
static void confusion_print(const json_t *cm)
{
	const json_t *labels = json_object_get(cm, "labels"),
	             *matrix = json_object_get(cm, "matrix");
	size_t n = json_array_size(labels);

	if (n == 0 || json_array_size(matrix) != n) {
		printf("  (unreadable)\n");
		return;
	}
	printf("  true \\ predicted");
	for (size_t j = 0; j < n; j++)
		printf(" %6" JSON_INTEGER_FORMAT, json_integer_value(json_array_get(labels, j)));
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		const json_t *row = json_array_get(matrix, i);

		printf("  %17" JSON_INTEGER_FORMAT, json_integer_value(json_array_get(labels, i)));
		for (size_t j = 0; j < n; j++)
			printf(" %6" JSON_INTEGER_FORMAT,
			       json_integer_value(json_array_get(row, j)));
		printf("\n");
	}
}

static void run_print(const wq_run *r, const run_extra *x)
{
	char start[32], end[32];

	cli_time_format(r->start_ms, start, sizeof(start));
	cli_time_format(r->end_ms, end, sizeof(end));
	printf("run:          %s\n", r->id);
	printf("experiment:   %s (%" PRId64 ")\n", r->experiment_name, r->experiment_id);
	printf("name:         %s\n", r->name[0] ? r->name : "-");
	printf("status:       %s\n", wq_run_status_name(r->status));
	printf("started:      %s UTC\n", start);
	printf("ended:        %s%s\n", end, r->end_ms > 0 ? " UTC" : "");
	if (r->end_ms > 0 && r->end_ms >= r->start_ms)
		printf("duration:     %.3f s\n", (double)(r->end_ms - r->start_ms) / 1000.0);
	printf("artifacts at: %s\n", r->artifact_uri);
	printf("params:\n");
	for (size_t i = 0; i < r->nparams; i++)
		printf("  %-24s %s\n", r->params[i].key, r->params[i].value);
	printf("metrics:\n");
	for (size_t i = 0; i < r->nmetrics; i++) {
		char val[WQ_NUM_MAX];

		wq_num_format(r->metrics[i].value, val, sizeof(val));
		printf("  %-24s %s (step %" PRId64 ")\n", r->metrics[i].key, val,
		       r->metrics[i].step);
	}
	printf("metric history:\n");
	if (x->no_history)
		printf("  (the registry server does not give metric histories)\n");
	for (size_t i = 0; !x->no_history && i < r->nmetrics; i++) {
		for (size_t k = 0; k < x->nhist[i]; k++) {
			const wq_run_metric *m = &x->hist[i][k];
			char when[32], val[WQ_NUM_MAX];

			cli_time_format(m->timestamp_ms, when, sizeof(when));
			wq_num_format(m->value, val, sizeof(val));
			printf("  %-24s step %-6" PRId64 " %-24s %s UTC\n", m->key, m->step, val,
			       when);
		}
	}
	if (x->confusion != NULL) {
		printf("confusion matrix (test split):\n");
		confusion_print(x->confusion);
	}
	printf("tags:\n");
	for (size_t i = 0; i < r->ntags; i++) {
		if (x->confusion != NULL && strcmp(r->tags[i].key, WQ_RUNRECORD_TAG_CONFUSION) == 0)
			continue; /* shown as a table above */
		printf("  %-24s %s\n", r->tags[i].key, r->tags[i].value);
	}
	printf("model versions:\n");
	if (x->nversions == 0)
		printf("  (none registered from this run)\n");
	for (size_t i = 0; i < x->nversions; i++) {
		char al[256];

		aliases_join(x->versions[i], al, sizeof(al));
		printf("  models:/%s/%" PRId64 "  stage %s  aliases %s\n", x->versions[i]->name,
		       x->versions[i]->version, wq_stage_name(x->versions[i]->stage), al);
	}
	printf("artifacts:\n");
	for (size_t i = 0; i < r->nartifacts; i++)
		printf("  %-32s %10" PRId64 "  sha256 %.16s...\n", r->artifacts[i].path,
		       r->artifacts[i].size, r->artifacts[i].sha256);
}

static json_t *json_run_show(const wq_run *r, const run_extra *x)
{
	json_t *o = json_run(r), *hist = json_object(), *vers = json_array();

	if (o == NULL || hist == NULL || vers == NULL) {
		json_decref(o);
		json_decref(hist);
		json_decref(vers);
		return NULL;
	}
	for (size_t i = 0; !x->no_history && i < r->nmetrics; i++) {
		json_t *arr = json_array();

		for (size_t k = 0; arr != NULL && k < x->nhist[i]; k++)
			json_array_append_new(
			    arr, json_pack("{s:f, s:I, s:I}", "value", x->hist[i][k].value, "step",
			                   (json_int_t)x->hist[i][k].step, "timestamp_ms",
			                   (json_int_t)x->hist[i][k].timestamp_ms));
		json_object_set_new(hist, r->metrics[i].key, arr);
	}
	for (size_t i = 0; i < x->nversions; i++)
		json_array_append_new(vers, json_version(x->versions[i]));
	if (x->no_history) {
		json_decref(hist);
		hist = json_null();
	}
	json_object_set_new(o, "metric_history", hist);
	json_object_set_new(o, "model_versions", vers);
	json_object_set_new(o, "confusion_matrix",
	                    x->confusion != NULL ? json_incref(x->confusion) : json_null());
	return o;
}

static wq_exit runs_show(wq_registry *r, const reg_args *a)
{
	wq_run *run = NULL;
	run_extra x;
	char err[1024] = "";
	int rc = r->ops->run_get(r, a->pos[0], &run, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("runs show", rc, err);
	rc = run_extra_load(r, run, &x, err, sizeof(err));
	if (rc != WQ_OK) {
		run_extra_clear(&x, run->nmetrics);
		wq_run_free(run);
		return cli_fail("runs show", rc, err);
	}
	if (a->format == CLI_FORMAT_JSON)
		json_print(json_run_show(run, &x));
	else
		run_print(run, &x);
	run_extra_clear(&x, run->nmetrics);
	wq_run_free(run);
	return WQ_EXIT_OK;
}

/* Adds key to keys (a set of borrowed strings) unless present. */
static void key_add(const char **keys, size_t *n, size_t max, const char *key)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(keys[i], key) == 0)
			return;
	}
	if (*n < max)
		keys[(*n)++] = key;
}

static wq_exit runs_compare(wq_registry *r, const reg_args *a)
{
	wq_run *runs[MAX_POS] = {0};
	const char *pkeys[256], *mkeys[256];
	size_t np = 0, nm = 0, nruns = a->npos;
	char err[1024] = "";
	int rc, ex = WQ_EXIT_OK;

	for (size_t i = 0; i < nruns; i++) {
		rc = r->ops->run_get(r, a->pos[i], &runs[i], err, sizeof(err));
		if (rc != WQ_OK) {
			ex = cli_fail("runs compare", rc, err);
			goto out;
		}
		for (size_t k = 0; k < runs[i]->nparams; k++)
			key_add(pkeys, &np, 256, runs[i]->params[k].key);
		for (size_t k = 0; k < runs[i]->nmetrics; k++)
			key_add(mkeys, &nm, 256, runs[i]->metrics[k].key);
	}
	if (a->format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < nruns; i++)
			json_array_append_new(arr, json_run(runs[i]));
		json_print(arr);
	} else {
		const char *hdr[MAX_POS + 1], *row[MAX_POS + 1];
		char cells[MAX_POS][64];
		cli_table t;

		hdr[0] = "";
		for (size_t i = 0; i < nruns; i++)
			hdr[i + 1] = runs[i]->id;
		cli_table_init(&t, nruns + 1, hdr);
		for (size_t k = 0; k < np; k++) {
			char label[300];

			snprintf(label, sizeof(label), "params.%s", pkeys[k]);
			row[0] = label;
			for (size_t i = 0; i < nruns; i++)
				row[i + 1] = param_str(runs[i], pkeys[k]);
			cli_table_add(&t, row);
		}
		for (size_t k = 0; k < nm; k++) {
			char label[300];

			snprintf(label, sizeof(label), "metrics.%s", mkeys[k]);
			row[0] = label;
			for (size_t i = 0; i < nruns; i++) {
				metric_str(runs[i], mkeys[k], cells[i], sizeof(cells[i]));
				row[i + 1] = cells[i];
			}
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
out:
	for (size_t i = 0; i < nruns; i++)
		wq_run_free(runs[i]);
	return ex;
}

wq_exit cmd_runs(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: wineq-client runs list [--experiment NAME]... [--filter F] [--order-by O]\n"
	    "                              [--max-results N] [--page-token T]\n"
	    "       wineq-client runs show RUN_ID      (also metric history, confusion matrix,\n"
	    "                                         versions registered from the run)\n"
	    "       wineq-client runs compare RUN_ID RUN_ID...\n"
	    "       wineq-client runs delete RUN_ID      (soft delete: hidden until restored;\n"
	    "                                         `registry gc` purges it with its artifacts;\n"
	    "                                         refused for a run behind a model version)\n"
	    "       wineq-client runs restore RUN_ID     (undo a delete)\n\n"
	    "Filter: metrics.balanced_accuracy > 0.2 and params.kernel = 'rbf'\n"
	    "Order:  metrics.balanced_accuracy DESC (also params.X, attributes.start_time)\n";
	static const sub_operands subs[] = {
	    {"list", 0, 0, "no arguments"},
	    {"show", 1, 1, "one RUN_ID"},
	    {"delete", 1, 1, "one RUN_ID"},
	    {"restore", 1, 1, "one RUN_ID"},
	    {"compare", 2, MAX_POS, "two or more RUN_IDs"},
	};
	const char *cmd = "runs", *sub = NULL;
	wq_registry *r = NULL;
	reg_args a;
	wq_exit ex;

	if (first_sub(cmd, argc, argv, usage, &sub, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	ex = sub_operands_check(cmd, sub, &a, subs, sizeof(subs) / sizeof(subs[0]),
	                        "list, show, compare, delete, restore");
	if (ex == WQ_EXIT_OK) {
		char name[32];

		snprintf(name, sizeof(name), "runs %s", sub);
		ex = strcmp(sub, "list") == 0 ? search_options_check(name, &a)
		                              : run_ids_check(name, &a);
	}
	if (ex != WQ_EXIT_OK)
		return ex;
	if ((ex = cli_registry_open(cmd, &a.reg, &r)) != WQ_EXIT_OK)
		return ex;
	if (strcmp(sub, "list") == 0) {
		ex = runs_list(r, &a);
	} else if (strcmp(sub, "show") == 0) {
		ex = runs_show(r, &a);
	} else if (strcmp(sub, "compare") == 0) {
		ex = runs_compare(r, &a);
	} else if (strcmp(sub, "restore") == 0) {
		char err[1024] = "";
		int rc = r->ops->run_restore != NULL
		             ? r->ops->run_restore(r, a.pos[0], err, sizeof(err))
		             : wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED,
		                          "this registry server cannot restore runs");

		ex = rc == WQ_OK ? WQ_EXIT_OK : cli_fail("runs restore", rc, err);
		if (rc == WQ_OK)
			printf("restored run %s\n", a.pos[0]);
	} else {
		char err[1024] = "";
		int rc = r->ops->run_delete(r, a.pos[0], err, sizeof(err));

		/* a run behind a model version: WQ_EFORMAT, exit 4 */
		ex = rc == WQ_OK ? WQ_EXIT_OK : cli_fail("runs delete", rc, err);
		if (rc == WQ_OK)
			printf("deleted run %s (restorable until `wineq-client registry gc`)\n",
			       a.pos[0]);
	}
	wq_registry_close(r);
	return ex;
}

/* --- models --------------------------------------------------------------------------------------
 */

static wq_exit models_list(wq_registry *r, const reg_args *a)
{
	wq_registered_model **m = NULL;
	size_t n = 0;
	char err[1024] = "";
	int rc = r->ops->model_list(r, &m, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models list", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "name", m[i]->name,
			              "description", m[i]->description ? m[i]->description : "",
			              "latest_version", (json_int_t)m[i]->latest_version,
			              "created_ms", (json_int_t)m[i]->created_ms, "updated_ms",
			              (json_int_t)m[i]->updated_ms, "tags",
			              json_kv(m[i]->tags, m[i]->ntags)));
		json_print(arr);
	} else {
		static const char *const hdr[] = {"NAME", "LATEST", "UPDATED", "DESCRIPTION",
		                                  "TAGS"};
		cli_table t;

		cli_table_init(&t, 5, hdr);
		for (size_t i = 0; i < n; i++) {
			char latest[24], when[32], tags[512];
			const char *row[5] = {m[i]->name, latest, when,
			                      m[i]->description ? m[i]->description : "", tags};

			snprintf(latest, sizeof(latest), "%" PRId64, m[i]->latest_version);
			tags_join(m[i]->tags, m[i]->ntags, tags, sizeof(tags));
			cli_time_format(m[i]->updated_ms, when, sizeof(when));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	wq_registered_models_free(m, n);
	return WQ_EXIT_OK;
}

static wq_exit versions_print(wq_registry *r, const char *name, int format)
{
	wq_model_version **v = NULL;
	size_t n = 0;
	char err[1024] = "";
	int rc = r->ops->version_list(r, name, &v, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models versions", rc, err);
	if (format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(arr, json_version(v[i]));
		json_print(arr);
	} else {
		static const char *const hdr[] = {"VERSION", "STAGE",  "ALIASES", "CREATED",
		                                  "RUN",     "SHA256", "TAGS",    "DESCRIPTION"};
		cli_table t;

		cli_table_init(&t, 8, hdr);
		for (size_t i = 0; i < n; i++) {
			char ver[24], when[32], al[256], sha[20], tags[512];
			const char *descr = v[i]->description;
			const char *row[8] = {ver,
			                      wq_stage_name(v[i]->stage),
			                      al,
			                      when,
			                      v[i]->run_id[0] ? v[i]->run_id : "-",
			                      sha,
			                      tags,
			                      descr != NULL && descr[0] ? descr : "-"};

			snprintf(ver, sizeof(ver), "%" PRId64, v[i]->version);
			tags_join(v[i]->tags, v[i]->ntags, tags, sizeof(tags));
			cli_time_format(v[i]->created_ms, when, sizeof(when));
			aliases_join(v[i], al, sizeof(al));
			snprintf(sha, sizeof(sha), "%.12s", v[i]->sha256);
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	wq_model_versions_free(v, n);
	return WQ_EXIT_OK;
}

/* models show --format json: the model (description, tags) with its versions. */
static wq_exit models_show_json(wq_registry *r, const wq_registered_model *m)
{
	wq_model_version **v = NULL;
	size_t n = 0;
	char err[1024] = "";
	json_t *arr;
	int rc = r->ops->version_list(r, m->name, &v, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models show", rc, err);
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_version(v[i]));
	json_print(json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:o}", "name", m->name, "description",
	                     m->description ? m->description : "", "latest_version",
	                     (json_int_t)m->latest_version, "created_ms", (json_int_t)m->created_ms,
	                     "updated_ms", (json_int_t)m->updated_ms, "tags",
	                     json_kv(m->tags, m->ntags), "versions", arr));
	wq_model_versions_free(v, n);
	return WQ_EXIT_OK;
}

static wq_exit models_show(wq_registry *r, const reg_args *a)
{
	wq_registered_model *m = NULL;
	char err[1024] = "", when[32], tags[4096];
	int rc = r->ops->model_get(r, a->pos[0], &m, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models show", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		wq_exit ex = models_show_json(r, m);

		wq_registered_model_free(m);
		return ex;
	}
	cli_time_format(m->created_ms, when, sizeof(when));
	tags_join(m->tags, m->ntags, tags, sizeof(tags));
	printf("model:       %s\n", m->name);
	printf("description: %s\n", m->description && m->description[0] ? m->description : "-");
	printf("tags:        %s\n", tags);
	printf("created:     %s UTC\n", when);
	printf("latest:      %" PRId64 "\n\n", m->latest_version);
	wq_registered_model_free(m);
	return versions_print(r, a->pos[0], a->format);
}

static wq_exit models_history(wq_registry *r, const reg_args *a)
{
	wq_model_event *e = NULL;
	size_t n = 0;
	char err[1024] = "";
	int rc = r->ops->history(r, a->pos[0], &e, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models history", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(
			    arr, json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "id",
			                   (json_int_t)e[i].id, "name", e[i].name, "version",
			                   (json_int_t)e[i].version, "kind", e[i].kind, "alias",
			                   e[i].alias ? e[i].alias : "", "from",
			                   e[i].from ? e[i].from : "", "to", e[i].to ? e[i].to : "",
			                   "time_ms", (json_int_t)e[i].time_ms, "actor",
			                   e[i].actor ? e[i].actor : ""));
		json_print(arr);
	} else {
		static const char *const hdr[] = {"WHEN (UTC)", "BY",   "VERSION", "CHANGE",
		                                  "ALIAS",      "FROM", "TO"};
		cli_table t;

		cli_table_init(&t, 7, hdr);
		for (size_t i = 0; i < n; i++) {
			char when[32], ver[24];
			const char *row[7] = {when,
			                      e[i].actor,
			                      ver,
			                      e[i].kind,
			                      e[i].alias && e[i].alias[0] ? e[i].alias : "-",
			                      e[i].from && e[i].from[0] ? e[i].from : "-",
			                      e[i].to && e[i].to[0] ? e[i].to : "-"};

			cli_time_format(e[i].time_ms, when, sizeof(when));
			snprintf(ver, sizeof(ver), "%" PRId64, e[i].version);
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	wq_model_events_free(e, n);
	return WQ_EXIT_OK;
}

static wq_exit models_resolve(wq_registry *r, const reg_args *a)
{
	wq_model_version *v = NULL;
	char *dir = NULL, err[1024] = "";
	int rc = r->ops->resolve(r, a->pos[0], &dir, &v, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail("models resolve", rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *o = json_object();

		json_object_set_new(o, "uri", json_string(a->pos[0]));
		json_object_set_new(o, "bundle", json_string(dir));
		json_object_set_new(o, "version", v != NULL ? json_version(v) : json_null());
		json_print(o);
	} else {
		printf("uri:     %s\n", a->pos[0]);
		if (v != NULL)
			printf("version: %s %" PRId64 " (%s)\n", v->name, v->version,
			       wq_stage_name(v->stage));
		printf("bundle:  %s\n", dir);
	}
	wq_model_version_free(v);
	free(dir);
	return WQ_EXIT_OK;
}

/* The subcommands that change descriptions and tags (models_meta), with their operands. */
static const char *const meta_subs[][2] = {
    {"describe", "NAME TEXT"},
    {"tag", "NAME KEY=VALUE"},
    {"untag", "NAME KEY"},
    {"version-describe", "NAME VERSION TEXT"},
    {"version-tag", "NAME VERSION KEY=VALUE"},
    {"version-untag", "NAME VERSION KEY"},
};

/* The operands of a metadata subcommand, NULL for any other. */
static const char *models_meta_operands(const char *sub)
{
	for (size_t i = 0; i < sizeof(meta_subs) / sizeof(meta_subs[0]); i++)
		if (strcmp(sub, meta_subs[i][0]) == 0)
			return meta_subs[i][1];
	return NULL;
}

/* The change of a metadata subcommand (op: "describe", "tag" or "untag") on version (0: the
 * model); arg is TEXT, KEY=VALUE or KEY. */
static wq_status meta_apply(wq_registry *r, const char *op, const char *name, int64_t version,
                            const char *arg, const char *key, const char *value, char *err,
                            size_t errlen)
{
	const wq_registry_ops *ops = r->ops;

	if (ops->model_description_set == NULL || ops->model_tag_set == NULL ||
	    ops->model_tag_delete == NULL)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "this registry cannot change descriptions or tags");
	if (strcmp(op, "describe") == 0)
		return ops->model_description_set(r, name, version, arg, NULL, err, errlen);
	if (strcmp(op, "tag") == 0)
		return ops->model_tag_set(r, name, version, key, value, NULL, err, errlen);
	return ops->model_tag_delete(r, name, version, arg, NULL, err, errlen);
}

/* models describe|tag|untag NAME ..., models version-describe|-tag|-untag NAME VERSION ... */
static wq_exit models_meta(const char *sub, const reg_args *a)
{
	const char *cmd = "models", *operands = models_meta_operands(sub);
	int on_version = strncmp(sub, "version-", 8) == 0;
	const char *op = on_version ? sub + 8 : sub, *arg, *value = NULL;
	size_t at = on_version ? 2 : 1;
	char *key = NULL, err[1024] = "", what[64] = "";
	int64_t version = 0;
	wq_registry *r = NULL;
	wq_status rc;
	wq_exit ex = need_pos(cmd, a, at + 1, at + 1, operands);

	if (ex == WQ_EXIT_OK && on_version)
		ex = parse_version(cmd, a->pos[1], &version);
	arg = ex == WQ_EXIT_OK ? a->pos[at] : NULL;
	if (ex == WQ_EXIT_OK && strcmp(op, "tag") == 0)
		ex = cli_tag_split(cmd, "tag", arg, &key, &value);
	if (ex == WQ_EXIT_OK)
		ex = cli_registry_open(cmd, &a->reg, &r);
	if (ex != WQ_EXIT_OK) {
		free(key);
		return ex;
	}
	rc = meta_apply(r, op, a->pos[0], version, arg, key, value, err, sizeof(err));
	if (rc != WQ_OK) {
		ex = cli_fail(cmd, rc, err);
	} else {
		if (on_version)
			snprintf(what, sizeof(what), " version %" PRId64, version);
		if (strcmp(op, "describe") == 0)
			printf("%s%s: description %s\n", a->pos[0], what, *arg ? "set" : "cleared");
		else if (strcmp(op, "tag") == 0)
			printf("%s%s: tag %s set\n", a->pos[0], what, key);
		else
			printf("%s%s: tag %s removed\n", a->pos[0], what, arg);
	}
	free(key);
	wq_registry_close(r);
	return ex;
}

/* models --help */
static const char models_usage[] =
    "Usage: wineq-client models list\n"
    "       wineq-client models show NAME\n"
    "       wineq-client models versions NAME\n"
    "       wineq-client models promote NAME VERSION STAGE [--keep-existing]\n"
    "                 STAGE: None, Staging, Production, Archived; other versions in\n"
    "                 Staging/Production move to Archived unless --keep-existing\n"
    "       wineq-client models alias NAME ALIAS VERSION\n"
    "       wineq-client models alias NAME ALIAS --delete\n"
    "       wineq-client models history NAME     (every change, who made it and when)\n"
    "       wineq-client models watch [--server URL] [--model NAME] [--count N]\n"
    "                 (registry events as a wineqd publishes them: models watch --help)\n"
    "       wineq-client models delete NAME VERSION   (soft delete; aliases removed;\n"
    "                 `registry gc` purges it with its artifacts)\n"
    "       wineq-client models restore NAME VERSION  (undo a delete)\n"
    "       wineq-client models describe NAME TEXT    (\"\" clears it)\n"
    "       wineq-client models tag NAME KEY=VALUE;  models untag NAME KEY\n"
    "       wineq-client models version-describe NAME VERSION TEXT\n"
    "       wineq-client models version-tag NAME VERSION KEY=VALUE\n"
    "       wineq-client models version-untag NAME VERSION KEY\n"
    "       wineq-client models resolve URI\n"
    "                 models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME@ALIAS,\n"
    "                 models:/NAME/latest, runs:/RUN_ID/PATH or a bundle path\n";

wq_exit cmd_models(int argc, char **argv)
{
	static const sub_operands subs[] = {
	    {"list", 0, 0, "no arguments"},
	    {"show", 1, 1, "NAME"},
	    {"versions", 1, 1, "NAME"},
	    {"history", 1, 1, "NAME"},
	    {"resolve", 1, 1, "URI"},
	    {"delete", 2, 2, "NAME VERSION"},
	    {"restore", 2, 2, "NAME VERSION"},
	    {"promote", 3, 3, "NAME VERSION STAGE"},
	    {"alias", 3, 3, "NAME ALIAS VERSION"},
	};
	const char *cmd = "models", *sub = NULL;
	wq_registry *r = NULL;
	reg_args a;
	char err[1024] = "";
	int64_t version = 0;
	int rc, stage = 0;
	wq_exit ex;

	if (argc >= 2 && strcmp(argv[1], "watch") == 0) /* options of its own */
		return cmd_models_watch(argc - 1, argv + 1);
	if (first_sub(cmd, argc, argv, models_usage, &sub, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	if (models_meta_operands(sub) != NULL)
		return models_meta(sub, &a);
	if (strcmp(sub, "alias") == 0 && a.delete_alias)
		ex = need_pos(cmd, &a, 2, 2, "NAME ALIAS --delete");
	else
		ex = sub_operands_check(cmd, sub, &a, subs, sizeof(subs) / sizeof(subs[0]),
		                        "see --help");
	if (ex != WQ_EXIT_OK)
		return ex;
	if (strcmp(sub, "delete") == 0 || strcmp(sub, "promote") == 0 ||
	    strcmp(sub, "restore") == 0)
		ex = parse_version(cmd, a.pos[1], &version);
	else if (strcmp(sub, "alias") == 0 && !a.delete_alias)
		ex = parse_version(cmd, a.pos[2], &version);
	if (ex != WQ_EXIT_OK)
		return ex;
	if (strcmp(sub, "promote") == 0 &&
	    wq_stage_parse(a.pos[2], &stage, err, sizeof(err)) != WQ_OK) {
		cli_error(cmd, "%s", err);
		return WQ_EXIT_USAGE;
	}
	if ((ex = cli_registry_open(cmd, &a.reg, &r)) != WQ_EXIT_OK)
		return ex;
	if (strcmp(sub, "list") == 0) {
		ex = models_list(r, &a);
	} else if (strcmp(sub, "show") == 0) {
		ex = models_show(r, &a);
	} else if (strcmp(sub, "versions") == 0) {
		ex = versions_print(r, a.pos[0], a.format);
	} else if (strcmp(sub, "history") == 0) {
		ex = models_history(r, &a);
	} else if (strcmp(sub, "resolve") == 0) {
		ex = models_resolve(r, &a);
	} else {
		if (strcmp(sub, "promote") == 0)
			rc = r->ops->version_transition(r, a.pos[0], version, stage,
			                                !a.keep_existing, NULL, err, sizeof(err));
		else if (strcmp(sub, "delete") == 0)
			rc = r->ops->version_delete(r, a.pos[0], version, NULL, err, sizeof(err));
		else if (strcmp(sub, "restore") == 0)
			rc = r->ops->version_restore != NULL
			         ? r->ops->version_restore(r, a.pos[0], version, NULL, err,
			                                   sizeof(err))
			         : wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED,
			                      "this registry server cannot restore versions");
		else if (a.delete_alias)
			rc = r->ops->alias_delete(r, a.pos[0], a.pos[1], NULL, err, sizeof(err));
		else
			rc = r->ops->alias_set(r, a.pos[0], a.pos[1], version, NULL, err,
			                       sizeof(err));
		if (rc != WQ_OK) {
			ex = cli_fail(cmd, rc, err);
		} else {
			ex = WQ_EXIT_OK;
			if (strcmp(sub, "promote") == 0)
				printf("%s version %" PRId64 " -> %s\n", a.pos[0], version,
				       wq_stage_name(stage));
			else if (strcmp(sub, "delete") == 0)
				printf("deleted %s version %" PRId64
				       " (restorable until `wineq-client registry gc`)\n",
				       a.pos[0], version);
			else if (strcmp(sub, "restore") == 0)
				printf("restored %s version %" PRId64 "\n", a.pos[0], version);
			else if (a.delete_alias)
				printf("removed alias %s@%s\n", a.pos[0], a.pos[1]);
			else
				printf("%s@%s -> version %" PRId64 "\n", a.pos[0], a.pos[1],
				       version);
		}
	}
	wq_registry_close(r);
	return ex;
}

/* --- artifacts -----------------------------------------------------------------------------------
 */

wq_exit cmd_artifacts(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: wineq-client artifacts get URI DEST\n\n"
	    "Downloads runs:/RUN_ID/PATH, models:/NAME/... or an artifact URI (file://, s3://)\n"
	    "into the new directory DEST, verifying the SHA-256 of every file.\n";
	const char *cmd = "artifacts";
	wq_registry *r = NULL;
	reg_args a;
	char err[1024] = "";
	wq_status rc;
	wq_exit ex;

	if (one_sub_open(cmd, "get", argc, argv, usage, 2, 2, "URI DEST", &a, &r, &ex) ==
	    WQ_CLI_EXIT)
		return ex;
	rc = r->ops->artifacts_get(r, a.pos[0], a.pos[1], err, sizeof(err));
	if (rc == WQ_EEXIST) {
		/* DEST is never overwritten: a destination that cannot be written, as an
		 * unwritable directory is (1), not bad input data */
		cli_error(cmd, "%s", err[0] ? err : wq_strerror(rc));
		ex = WQ_EXIT_FAILURE;
	} else if (rc != WQ_OK) {
		ex = cli_fail(cmd, rc, err);
	} else {
		printf("%s -> %s\n", a.pos[0], a.pos[1]);
	}
	wq_registry_close(r);
	return ex;
}
