/* wineq-client predict: quality and probabilities from a bundle, for one row given as flags
 * or the reference stack's JSON, or for every row of a CSV file. */
#include "cli_common.h"

#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "ml/wq_features.h"
#include "base/wq_error.h"
#include "serve/wq_predjson.h"
#include "registry/wq_registry.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD               "predict"
#define MAX_FLAG_FEATURES 64

enum {
	OPT_BUNDLE = 1000,
	OPT_MODEL,
	OPT_TRACKING,
	OPT_ARTIFACT,
	OPT_S3,
	OPT_INPUT,
	OPT_CSV,
	OPT_FEATURE,
	OPT_FORMAT,
	OPT_LOGLEVEL,
	OPT_SERVER,
	OPT_TIMEOUT,
	OPT_OUTPUT,
	OPT_UCI
};

#define N_UCI 11 /* one --<feature> flag per UCI column */

static void predict_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: wineq-client predict (--bundle DIR | --model URI | --server URL)\n"
	    "                            (FEATURE FLAGS | --input JSON | --csv FILE)\n\n"
	    "Predicts wine quality (3..9) and per-class probabilities.\n\n"
	    "Input (exactly one kind):\n"
	    "  --alcohol X --volatile-acidity X --sulphates X ...\n"
	    "                         one flag per feature the model uses; every UCI column has\n"
	    "                         one: --fixed-acidity --citric-acid --residual-sugar\n"
	    "                         --chlorides --free-sulfur-dioxide --total-sulfur-dioxide\n"
	    "                         --density --ph\n"
	    "  --feature NAME=VALUE   the same by column name (repeatable)\n"
	    "  --input JSON           the reference stack's JSON object, e.g.\n"
	    "                         '{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	    "\"sulphates\": 0.45}',\n"
	    "                         or an array of them; '-' reads it from standard input\n"
	    "  --csv FILE             every row of a CSV (UCI ';' or comma; extra UCI columns\n"
	    "                         such as quality are ignored); one output line per row\n\n"
	    "Options:\n"
	    "  --bundle DIR           model bundle written by 'wineq-client train'\n"
	    "  --model URI            or a registry URI: models:/NAME/VERSION, "
	    "models:/NAME/STAGE,\n"
	    "                         models:/NAME@ALIAS, models:/NAME/latest, runs:/RUN_ID/model\n"
	    "  --server URL           or ask a running wineqd (tcp://, ipc://, tls+tcp://);\n"
	    "                         same inputs and output; env WINEQ_TLS_* for TLS\n"
	    "  --tracking-uri URI, --artifact-root URI, --s3-endpoint-url URL\n"
	    "                         where the registry is (see 'wineq-client models --help')\n"
	    "  --format text|json     text: 'quality=6 p3=0.0012 ...'; json: one object per line;\n"
	    "                         with --server each answer ends with its prediction_id\n"
	    "                         (text 'prediction_id=...', json \"prediction_id\"): give it\n"
	    "                         to 'wineq-client feedback' with the true quality\n"
	    "  --log-level LEVEL      debug, info, warn, error (env WINEQ_LOG_LEVEL)\n"
	    "  -h, --help             show this help\n");
}

/* The flag names of the UCI columns: "volatile acidity" -> volatile-acidity, pH -> ph. */
static void uci_flags_init(char names[N_UCI][48])
{
	for (size_t i = 0; i < N_UCI; i++) {
		const char *src = wq_uci_columns[i];
		size_t j = 0;

		for (; src[j] != '\0' && j + 1 < sizeof(names[i]); j++) {
			char ch = src[j];

			if (ch == ' ')
				ch = '-';
			else if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			names[i][j] = ch;
		}
		names[i][j] = '\0';
	}
}

static wq_status read_stream(FILE *f, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return WQ_ENOMEM;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if (cap >= WQ_PREDJSON_MAX_BYTES + 1)
				break; /* over the limit: the parser reports it */
			cap *= 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return WQ_ENOMEM;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return WQ_EIO;
	}
	*out = buf;
	*len = n;
	return WQ_OK;
}

/* How predictions are printed: the registered name and version when the model came from
 * models:/ (else the bundle's name and no version), as the reference stack's response reports them.
 */
typedef struct predict_out {
	const char *model; /* NULL: the bundle's name */
	long long version;
	cli_pred_sink *sink;
} predict_out;

static wq_status emit(const wq_bundle *b, const wq_prediction *p, const predict_out *out, long row)
{
	return cli_prediction_print(out->sink, p, out->model != NULL ? out->model : b->name,
	                            out->version, NULL, row);
}

static wq_exit predict_named(const wq_bundle *b, const char *const *names, const double *values,
                             size_t n, const predict_out *out, long row)
{
	double x[WQ_PREDJSON_MAX_FEATURES];
	wq_prediction p;
	char err[512] = "";
	int rc;

	if (b->nfeatures > WQ_PREDJSON_MAX_FEATURES) {
		cli_error(CMD, "model has %zu features, more than this client supports (%d)",
		          b->nfeatures, WQ_PREDJSON_MAX_FEATURES);
		return WQ_EXIT_MODEL;
	}
	rc = wq_bundle_features_order(b, names, values, n, x, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_bundle_predict(b, x, &p, err, sizeof(err));
	if (rc != WQ_OK) {
		if (row >= 1)
			cli_error(CMD, "--input item %ld: %s", row, err[0] ? err : wq_strerror(rc));
		else
			cli_error(CMD, "%s", err[0] ? err : wq_strerror(rc));
		return wq_cli_exit_for(rc, WQ_EXIT_DATA);
	}
	if (emit(b, &p, out, row) != WQ_OK)
		return WQ_EXIT_FAILURE;
	return WQ_EXIT_OK;
}

/* Reads --input (text, or '-' for standard input) into rows; returns an exit code after
 * printing the error. *text keeps what the rows were parsed from (free). */
static wq_exit input_rows_read(const char *input, char **text, wq_named_row **rows, size_t *nrows,
                               int *is_array)
{
	char err[512] = "";
	size_t len;
	int rc;

	*text = NULL;
	if (strcmp(input, "-") == 0) {
		rc = read_stream(stdin, text, &len);
		if (rc != WQ_OK) {
			cli_error(CMD, "reading standard input: %s", wq_strerror(rc));
			return WQ_EXIT_FAILURE;
		}
		input = *text;
	} else {
		len = strlen(input);
	}
	rc = wq_predjson_rows_parse(input, len, rows, nrows, is_array, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "--input: %s", err);
		return wq_cli_exit_for(rc, WQ_EXIT_DATA);
	}
	return WQ_EXIT_OK;
}

static wq_exit predict_json(const wq_bundle *b, const char *input, const predict_out *out)
{
	char *text = NULL;
	wq_named_row *rows = NULL;
	size_t nrows = 0;
	int is_array = 0, rc, ex;
	char err[512] = "";

	ex = input_rows_read(input, &text, &rows, &nrows, &is_array);
	if (ex != WQ_EXIT_OK)
		goto out;
	/* validate every row before printing any, so output is all or nothing */
	for (size_t i = 0; i < nrows; i++) {
		double x[WQ_PREDJSON_MAX_FEATURES];

		if (b->nfeatures > WQ_PREDJSON_MAX_FEATURES)
			break;
		rc = wq_bundle_features_order(b, (const char *const *)rows[i].names, rows[i].values,
		                              rows[i].n, x, err, sizeof(err));
		if (rc != WQ_OK) {
			if (is_array)
				cli_error(CMD, "--input item %zu: %s", i + 1, err);
			else
				cli_error(CMD, "--input: %s", err);
			ex = wq_cli_exit_for(rc, WQ_EXIT_DATA);
			goto out;
		}
	}
	for (size_t i = 0; i < nrows && ex == WQ_EXIT_OK; i++)
		ex = predict_named(b, (const char *const *)rows[i].names, rows[i].values, rows[i].n,
		                   out, is_array ? (long)i + 1 : -1);
out:
	wq_named_rows_free(rows, nrows);
	free(text);
	return ex;
}

static wq_exit predict_csv(const wq_bundle *b, const char *path, const predict_out *out)
{
	wq_csv_opts opts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
	wq_dataset *ds = NULL;
	double *X = NULL;
	char err[1024] = "";
	int rc, ex = WQ_EXIT_OK;

	rc = wq_dataset_read_csv(path, &opts, &ds, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err);
		/* the file is the user's input: unreadable is a data problem, not ours */
		return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
	}
	rc = wq_dataset_matrix_extract(ds, (const char *const *)b->features, b->nfeatures, &X, err,
	                               sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s: %s", path, err);
		ex = wq_cli_exit_for(rc, WQ_EXIT_DATA);
		goto out;
	}
	out->sink->csv = ds;
	for (size_t r = 0; r < ds->nrows; r++) {
		wq_prediction p;

		rc = wq_bundle_predict(b, X + r * b->nfeatures, &p, err, sizeof(err));
		if (rc != WQ_OK) {
			cli_error(CMD, "%s: row %zu: %s", path, r + 1, err);
			ex = wq_cli_exit_for(rc, WQ_EXIT_DATA);
			goto out;
		}
		if (emit(b, &p, out, (long)(r + 1)) != WQ_OK) {
			ex = WQ_EXIT_FAILURE;
			goto out;
		}
	}
out:
	out->sink->csv = NULL;
	free(X);
	wq_dataset_free(ds);
	return ex;
}

/* --server: the same inputs, sent to wineqd. */
static wq_exit predict_server(const char *url, const char **names, double *values, size_t nflag,
                              const char *input, const char *csv, cli_pred_sink *sink)
{
	wq_named_row one = {.n = nflag, .names = (char **)names, .values = values};
	wq_named_row *rows = NULL;
	size_t nrows = 0;
	char *text = NULL;
	int is_array = 0, ex;

	if (csv != NULL || input == NULL)
		return cli_predict_remote(url, &one, 1, 0, csv, sink);
	ex = input_rows_read(input, &text, &rows, &nrows, &is_array);
	if (ex == WQ_EXIT_OK)
		ex = cli_predict_remote(url, rows, nrows, is_array, NULL, sink);
	wq_named_rows_free(rows, nrows);
	free(text);
	return ex;
}

/* What the command line asks for. */
typedef struct predict_args {
	char uci_flags[N_UCI][48];
	struct option opts[N_UCI + 16];
	const char *names[MAX_FLAG_FEATURES]; /* feature flags given */
	double values[MAX_FLAG_FEATURES];
	size_t nflag;
	char *owned[MAX_FLAG_FEATURES]; /* names of --feature NAME=VALUE */
	size_t nowned;
	const char *bundle_dir, *input, *csv, *log_level, *model_uri, *server, *output;
	cli_registry_opts reg;
	int format;
} predict_args;

static void predict_options_build(predict_args *a)
{
	struct option *o = a->opts;
	size_t k = 0;

	uci_flags_init(a->uci_flags);
	o[k++] = (struct option){"bundle", required_argument, NULL, OPT_BUNDLE};
	o[k++] = (struct option){"model", required_argument, NULL, OPT_MODEL};
	o[k++] = (struct option){"server", required_argument, NULL, OPT_SERVER};
	o[k++] = (struct option){"tracking-uri", required_argument, NULL, OPT_TRACKING};
	o[k++] = (struct option){"artifact-root", required_argument, NULL, OPT_ARTIFACT};
	o[k++] = (struct option){"s3-endpoint-url", required_argument, NULL, OPT_S3};
	o[k++] = (struct option){"input", required_argument, NULL, OPT_INPUT};
	o[k++] = (struct option){"csv", required_argument, NULL, OPT_CSV};
	o[k++] = (struct option){"feature", required_argument, NULL, OPT_FEATURE};
	o[k++] = (struct option){"format", required_argument, NULL, OPT_FORMAT};
	o[k++] = (struct option){"log-level", required_argument, NULL, OPT_LOGLEVEL};
	o[k++] = (struct option){"timeout", required_argument, NULL, OPT_TIMEOUT};
	o[k++] = (struct option){"output", required_argument, NULL, OPT_OUTPUT};
	o[k++] = (struct option){"help", no_argument, NULL, 'h'};
	for (size_t i = 0; i < N_UCI; i++)
		o[k++] =
		    (struct option){a->uci_flags[i], required_argument, NULL, OPT_UCI + (int)i};
	o[k] = (struct option){NULL, 0, NULL, 0};
}

/* A feature value: --<uci-flag> X (c is its option) or --feature NAME=VALUE. WQ_EXIT_OK, or
 * an exit code after printing the error. */
static wq_exit predict_feature(predict_args *a, int c, const char *arg)
{
	const char *name, *val = arg;
	const char *eq;

	if (a->nflag == MAX_FLAG_FEATURES) {
		cli_error(CMD, "too many feature flags (limit %d)", MAX_FLAG_FEATURES);
		return WQ_EXIT_USAGE;
	}
	if (c == OPT_FEATURE) {
		eq = strchr(arg, '=');
		if (eq == NULL || eq == arg) {
			cli_error(CMD, "--feature: expected NAME=VALUE, got '%s'", arg);
			return WQ_EXIT_USAGE;
		}
		a->owned[a->nowned] = strndup(arg, (size_t)(eq - arg));
		if (a->owned[a->nowned] == NULL)
			return WQ_EXIT_FAILURE;
		name = a->owned[a->nowned++];
		val = eq + 1;
	} else {
		name = wq_uci_columns[c - OPT_UCI];
	}
	if (wq_cli_parse_double(val, &a->values[a->nflag]) != WQ_OK) {
		cli_error(CMD, "feature \"%s\": '%s' is not a finite number", name, val);
		return WQ_EXIT_DATA;
	}
	a->names[a->nflag++] = name;
	return WQ_EXIT_OK;
}

/* --format text|json|csv. WQ_EXIT_OK, or WQ_EXIT_USAGE after printing the error. */
static wq_exit predict_format_option(const char *arg, int *format)
{
	if (strcmp(arg, "csv") == 0) {
		*format = CLI_FORMAT_CSV;
		return WQ_EXIT_OK;
	}
	if (cli_parse_format(arg, format) == WQ_OK)
		return WQ_EXIT_OK;
	cli_error(CMD, "--format: expected text, json or csv, got '%s'", arg);
	return WQ_EXIT_USAGE;
}

/* An unknown option (argv[optind - 1]): a near miss of a feature flag, such as --volatile_acidity
 * or --Alcohol, is named with the flag meant (the name rule of wq_features_match). Returns
 * WQ_EXIT_USAGE. */
static wq_exit predict_unknown_option(const predict_args *a, char *const argv[])
{
	const char *opt = argv[optind - 1];
	char name[64];
	const char *near = NULL;
	size_t idx, len;

	if (strncmp(opt, "--", 2) != 0)
		return cli_option_error(CMD, '?', argv);
	len = strcspn(opt + 2, "=");
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, opt + 2, len);
	name[len] = '\0';
	if (wq_features_match(name, NULL, 0, &idx, &near) != WQ_FEATURE_UNKNOWN || near == NULL)
		return cli_option_error(CMD, '?', argv);
	for (size_t i = 0; i < N_UCI; i++) {
		if (strcmp(near, wq_uci_columns[i]) == 0) {
			cli_error(CMD, "unknown option '%.*s' (did you mean '--%s'?)",
			          (int)(len + 2), opt, a->uci_flags[i]);
			return WQ_EXIT_USAGE;
		}
	}
	return cli_option_error(CMD, '?', argv);
}

/* The options into a. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step predict_parse(predict_args *a, int argc, char **argv, wq_exit *ex)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", a->opts, NULL)) != -1) {
		*ex = WQ_EXIT_OK;
		switch (c) {
		case 'h':
			predict_usage(stdout);
			return WQ_CLI_EXIT;
		case OPT_BUNDLE:
			a->bundle_dir = optarg;
			break;
		case OPT_MODEL:
			a->model_uri = optarg;
			break;
		case OPT_SERVER:
			a->server = optarg;
			break;
		case OPT_TRACKING:
			a->reg.tracking_uri = optarg;
			break;
		case OPT_ARTIFACT:
			a->reg.artifact_root = optarg;
			break;
		case OPT_S3:
			a->reg.s3_endpoint = optarg;
			break;
		case OPT_INPUT:
			a->input = optarg;
			break;
		case OPT_CSV:
			a->csv = optarg;
			break;
		case OPT_FORMAT:
			*ex = predict_format_option(optarg, &a->format);
			break;
		case OPT_OUTPUT:
			a->output = optarg;
			break;
		case OPT_LOGLEVEL:
			a->log_level = optarg;
			break;
		case OPT_TIMEOUT:
			*ex = cli_timeout_option(CMD, optarg);
			break;
		case ':':
			*ex = cli_option_error(CMD, c, argv);
			break;
		case '?':
			*ex = predict_unknown_option(a, argv);
			break;
		default:
			*ex = predict_feature(a, c, optarg);
			break;
		}
		if (*ex != WQ_EXIT_OK)
			return WQ_CLI_EXIT;
	}
	*ex = cli_operands_none(CMD, argc, argv);
	return *ex == WQ_EXIT_OK ? WQ_CLI_GO_ON : WQ_CLI_EXIT;
}

/* One model source and one input; sets the log level. WQ_EXIT_OK or WQ_EXIT_USAGE. */
static wq_exit predict_check(const predict_args *a)
{
	if (wq_cli_log_level_apply(a->log_level) != WQ_OK) {
		cli_error(CMD, "--log-level: expected debug, info, warn or error");
		return WQ_EXIT_USAGE;
	}
	if ((a->bundle_dir != NULL) + (a->model_uri != NULL) + (a->server != NULL) != 1) {
		cli_error(CMD,
		          "give exactly one of --bundle DIR, --model URI and --server URL (see "
		          "--help)");
		return WQ_EXIT_USAGE;
	}
	if ((a->input != NULL) + (a->csv != NULL) + (a->nflag > 0) != 1) {
		cli_error(CMD, "give exactly one input: feature flags, --input JSON or --csv FILE");
		return WQ_EXIT_USAGE;
	}
	if (a->format == CLI_FORMAT_CSV && a->csv == NULL) {
		cli_error(CMD, "--format csv writes the input's columns: it needs --csv FILE");
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* The bundle of --bundle, or of --model resolved in the registry (*resolved: its directory,
 * *version: the version it names, both the caller's to free). */
static wq_exit predict_model(const predict_args *a, wq_bundle **b, char **resolved,
                             wq_model_version **version)
{
	const char *dir = a->bundle_dir;
	char err[1024] = "";
	wq_status rc;
	wq_exit ex;

	if (a->model_uri != NULL) {
		wq_registry *r = NULL;

		ex = cli_registry_open(CMD, &a->reg, &r);
		if (ex != WQ_EXIT_OK)
			return ex;
		rc = r->ops->resolve(r, a->model_uri, resolved, version, err, sizeof(err));
		wq_registry_close(r);
		if (rc != WQ_OK) {
			cli_error(CMD, "cannot resolve %s: %s", a->model_uri,
			          err[0] ? err : wq_strerror(rc));
			return rc == WQ_ENOENT ? WQ_EXIT_NOTFOUND : cli_exit_registry(rc);
		}
		dir = *resolved;
	}
	rc = wq_bundle_load(dir, 0, b, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "cannot use bundle %s: %s", dir, err[0] ? err : wq_strerror(rc));
		return wq_cli_exit_for(rc, WQ_EXIT_MODEL);
	}
	return WQ_EXIT_OK;
}

/* Predicts with a local bundle. */
static wq_exit predict_local(const predict_args *a, cli_pred_sink *sink)
{
	predict_out out = {.model = NULL, .version = 0, .sink = sink};
	wq_model_version *version = NULL;
	char *resolved = NULL;
	wq_bundle *b = NULL;
	wq_exit ex;

	ex = predict_model(a, &b, &resolved, &version);
	if (ex != WQ_EXIT_OK)
		goto out;
	if (version != NULL) {
		out.model = version->name;
		out.version = version->version;
	}
	if (a->input != NULL)
		ex = predict_json(b, a->input, &out);
	else if (a->csv != NULL)
		ex = predict_csv(b, a->csv, &out);
	else
		ex = predict_named(b, a->names, a->values, a->nflag, &out, -1);
out:
	wq_bundle_free(b);
	free(resolved);
	wq_model_version_free(version);
	return ex;
}

/* The checked command line: the predictions go to standard output or, through a temporary
 * file renamed into place, to --output. */
static wq_exit predict_run(predict_args *a)
{
	cli_pred_sink sink;
	wq_exit ex = cli_pred_sink_open(CMD, a->output, a->format, &sink);

	if (ex != WQ_EXIT_OK)
		return ex;
	if (a->server != NULL)
		ex = predict_server(a->server, a->names, a->values, a->nflag, a->input, a->csv,
		                    &sink);
	else
		ex = predict_local(a, &sink);
	return cli_pred_sink_close(CMD, a->output, &sink, ex);
}

wq_exit cmd_predict(int argc, char **argv)
{
	predict_args *a = calloc(1, sizeof(*a));
	wq_exit ex;

	if (a == NULL)
		return WQ_EXIT_FAILURE;
	a->format = CLI_FORMAT_TEXT;
	predict_options_build(a);
	if (predict_parse(a, argc, argv, &ex) == WQ_CLI_GO_ON) {
		ex = predict_check(a);
		if (ex == WQ_EXIT_OK)
			ex = predict_run(a);
	}
	if (fflush(stdout) != 0 && ex == WQ_EXIT_OK)
		ex = WQ_EXIT_FAILURE;
	for (size_t i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a);
	return ex;
}
