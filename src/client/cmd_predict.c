/* wineq-client predict: quality and probabilities from a bundle, for one row given as flags
 * or the seed's JSON, or for every row of a CSV file. */
#include "cli_common.h"

#include "wq_bundle.h"
#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_json.h"
#include "wq_registry.h"

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
	OPT_UCI
};

/* One --<feature> flag per UCI column ("volatile acidity" -> --volatile-acidity, pH -> --ph);
 * filled from wq_uci_columns at start-up. */
#define N_UCI 11
static char uci_flag_names[N_UCI][48];

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
	    "  --input JSON           the seed's JSON object, e.g.\n"
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

static void uci_flags_init(void)
{
	for (size_t i = 0; i < N_UCI; i++) {
		const char *src = wq_uci_columns[i];
		size_t j = 0;

		for (; src[j] != '\0' && j + 1 < sizeof(uci_flag_names[i]); j++) {
			char ch = src[j];

			if (ch == ' ')
				ch = '-';
			else if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			uci_flag_names[i][j] = ch;
		}
		uci_flag_names[i][j] = '\0';
	}
}

static int read_stream(FILE *f, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return WQ_ENOMEM;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if (cap >= WQ_JSON_MAX_BYTES + 1)
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

/* The registered name and version when the model came from models:/ (else the bundle's name
 * and no version): what the seed's response reports. */
static const char *out_model_name;
static long long out_model_version;

static int emit(const wq_bundle *b, const wq_prediction *p, int format, long row)
{
	return cli_prediction_print(p, out_model_name != NULL ? out_model_name : b->name,
	                            out_model_version, NULL, format, row);
}

static int predict_named(const wq_bundle *b, const char *const *names, const double *values,
                         size_t n, int format, long row)
{
	double x[WQ_JSON_MAX_FEATURES];
	wq_prediction p;
	char err[512] = "";
	int rc;

	if (b->nfeatures > WQ_JSON_MAX_FEATURES) {
		cli_error(CMD, "model has %zu features, more than this client supports (%d)",
		          b->nfeatures, WQ_JSON_MAX_FEATURES);
		return CLI_EXIT_MODEL;
	}
	rc = wq_bundle_features_order(b, names, values, n, x, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_bundle_predict(b, x, &p, err, sizeof(err));
	if (rc != WQ_OK) {
		if (row >= 0)
			cli_error(CMD, "item %ld: %s", row, err[0] ? err : wq_strerror(rc));
		else
			cli_error(CMD, "%s", err[0] ? err : wq_strerror(rc));
		return cli_exit_for(rc, CLI_EXIT_DATA);
	}
	if (emit(b, &p, format, row) != WQ_OK)
		return CLI_EXIT_FAILURE;
	return CLI_EXIT_OK;
}

/* Reads --input (text, or '-' for standard input) into rows; returns an exit code after
 * printing the error. *text keeps what the rows were parsed from (free). */
static int input_rows_read(const char *input, char **text, wq_named_row **rows, size_t *nrows,
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
			return CLI_EXIT_FAILURE;
		}
		input = *text;
	} else {
		len = strlen(input);
	}
	rc = wq_json_rows_parse(input, len, rows, nrows, is_array, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "--input: %s", err);
		return cli_exit_for(rc, CLI_EXIT_DATA);
	}
	return CLI_EXIT_OK;
}

static int predict_json(const wq_bundle *b, const char *input, int format)
{
	char *text = NULL;
	wq_named_row *rows = NULL;
	size_t nrows = 0;
	int is_array = 0, rc, ex;
	char err[512] = "";

	ex = input_rows_read(input, &text, &rows, &nrows, &is_array);
	if (ex != CLI_EXIT_OK)
		goto out;
	/* validate every row before printing any, so output is all or nothing */
	for (size_t i = 0; i < nrows; i++) {
		double x[WQ_JSON_MAX_FEATURES];

		if (b->nfeatures > WQ_JSON_MAX_FEATURES)
			break;
		rc = wq_bundle_features_order(b, (const char *const *)rows[i].names, rows[i].values,
		                              rows[i].n, x, err, sizeof(err));
		if (rc != WQ_OK) {
			if (is_array)
				cli_error(CMD, "--input item %zu: %s", i, err);
			else
				cli_error(CMD, "--input: %s", err);
			ex = cli_exit_for(rc, CLI_EXIT_DATA);
			goto out;
		}
	}
	for (size_t i = 0; i < nrows && ex == CLI_EXIT_OK; i++)
		ex = predict_named(b, (const char *const *)rows[i].names, rows[i].values, rows[i].n,
		                   format, is_array ? (long)i : -1);
out:
	wq_named_rows_free(rows, nrows);
	free(text);
	return ex;
}

static int predict_csv(const wq_bundle *b, const char *path, int format)
{
	wq_csv_opts opts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
	wq_dataset *ds = NULL;
	double *X = NULL;
	char err[1024] = "";
	int rc, ex = CLI_EXIT_OK;

	rc = wq_dataset_read_csv(path, &opts, &ds, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err);
		/* the file is the user's input: unreadable is a data problem, not ours */
		return rc == WQ_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_DATA;
	}
	rc = wq_dataset_matrix_extract(ds, (const char *const *)b->features, b->nfeatures, &X, err,
	                               sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s: %s", path, err);
		ex = cli_exit_for(rc, CLI_EXIT_DATA);
		goto out;
	}
	for (size_t r = 0; r < ds->nrows; r++) {
		wq_prediction p;

		rc = wq_bundle_predict(b, X + r * b->nfeatures, &p, err, sizeof(err));
		if (rc != WQ_OK) {
			cli_error(CMD, "%s: row %zu: %s", path, r + 1, err);
			ex = cli_exit_for(rc, CLI_EXIT_DATA);
			goto out;
		}
		if (emit(b, &p, format, (long)(r + 1)) != WQ_OK) {
			ex = CLI_EXIT_FAILURE;
			goto out;
		}
	}
out:
	free(X);
	wq_dataset_free(ds);
	return ex;
}

/* --server: the same inputs, sent to wineqd. */
static int predict_server(const char *url, const char **names, double *values, size_t nflag,
                          const char *input, const char *csv, int format)
{
	wq_named_row one = {.n = nflag, .names = (char **)names, .values = values};
	wq_named_row *rows = NULL;
	size_t nrows = 0;
	char *text = NULL;
	int is_array = 0, ex;

	if (csv != NULL || input == NULL)
		return cli_predict_remote(url, &one, 1, 0, csv, format);
	ex = input_rows_read(input, &text, &rows, &nrows, &is_array);
	if (ex == CLI_EXIT_OK)
		ex = cli_predict_remote(url, rows, nrows, is_array, NULL, format);
	wq_named_rows_free(rows, nrows);
	free(text);
	return ex;
}

int cmd_predict(int argc, char **argv)
{
	struct option opts[N_UCI + 13];
	const char *names[MAX_FLAG_FEATURES];
	char *owned[MAX_FLAG_FEATURES];
	double values[MAX_FLAG_FEATURES];
	size_t nflag = 0, nowned = 0;
	const char *bundle_dir = NULL, *input = NULL, *csv = NULL, *log_level = NULL;
	const char *model_uri = NULL, *server = NULL;
	char *resolved = NULL;
	wq_model_version *version = NULL;
	cli_registry_opts reg = {0};
	wq_bundle *b = NULL;
	char err[1024] = "";
	int format = CLI_FORMAT_TEXT, c, rc, ex = CLI_EXIT_OK;
	size_t k = 0;

	uci_flags_init();
	opts[k++] = (struct option){"bundle", required_argument, NULL, OPT_BUNDLE};
	opts[k++] = (struct option){"model", required_argument, NULL, OPT_MODEL};
	opts[k++] = (struct option){"server", required_argument, NULL, OPT_SERVER};
	opts[k++] = (struct option){"tracking-uri", required_argument, NULL, OPT_TRACKING};
	opts[k++] = (struct option){"artifact-root", required_argument, NULL, OPT_ARTIFACT};
	opts[k++] = (struct option){"s3-endpoint-url", required_argument, NULL, OPT_S3};
	opts[k++] = (struct option){"input", required_argument, NULL, OPT_INPUT};
	opts[k++] = (struct option){"csv", required_argument, NULL, OPT_CSV};
	opts[k++] = (struct option){"feature", required_argument, NULL, OPT_FEATURE};
	opts[k++] = (struct option){"format", required_argument, NULL, OPT_FORMAT};
	opts[k++] = (struct option){"log-level", required_argument, NULL, OPT_LOGLEVEL};
	opts[k++] = (struct option){"help", no_argument, NULL, 'h'};
	for (size_t i = 0; i < N_UCI; i++)
		opts[k++] =
		    (struct option){uci_flag_names[i], required_argument, NULL, OPT_UCI + (int)i};
	opts[k] = (struct option){NULL, 0, NULL, 0};

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			predict_usage(stdout);
			return CLI_EXIT_OK;
		case OPT_BUNDLE:
			bundle_dir = optarg;
			break;
		case OPT_MODEL:
			model_uri = optarg;
			break;
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TRACKING:
			reg.tracking_uri = optarg;
			break;
		case OPT_ARTIFACT:
			reg.artifact_root = optarg;
			break;
		case OPT_S3:
			reg.s3_endpoint = optarg;
			break;
		case OPT_INPUT:
			input = optarg;
			break;
		case OPT_CSV:
			csv = optarg;
			break;
		case OPT_FORMAT:
			if (cli_parse_format(optarg, &format) != WQ_OK) {
				cli_error(CMD, "--format: expected text or json, got '%s'", optarg);
				ex = CLI_EXIT_USAGE;
				goto out;
			}
			break;
		case OPT_LOGLEVEL:
			log_level = optarg;
			break;
		case ':':
		case '?':
			ex = cli_option_error(CMD, c, argv);
			goto out;
		default: {
			/* a feature value: --<uci-flag> X or --feature NAME=VALUE */
			const char *name, *val = optarg;
			char *eq;

			if (nflag == MAX_FLAG_FEATURES) {
				cli_error(CMD, "too many feature flags (limit %d)",
				          MAX_FLAG_FEATURES);
				ex = CLI_EXIT_USAGE;
				goto out;
			}
			if (c == OPT_FEATURE) {
				eq = strchr(optarg, '=');
				if (eq == NULL || eq == optarg) {
					cli_error(CMD, "--feature: expected NAME=VALUE, got '%s'",
					          optarg);
					ex = CLI_EXIT_USAGE;
					goto out;
				}
				owned[nowned] = strndup(optarg, (size_t)(eq - optarg));
				if (owned[nowned] == NULL) {
					ex = CLI_EXIT_FAILURE;
					goto out;
				}
				name = owned[nowned++];
				val = eq + 1;
			} else {
				name = wq_uci_columns[c - OPT_UCI];
			}
			if (cli_parse_double(val, &values[nflag]) != WQ_OK) {
				cli_error(CMD, "feature \"%s\": '%s' is not a finite number", name,
				          val);
				ex = CLI_EXIT_DATA;
				goto out;
			}
			names[nflag++] = name;
			break;
		}
		}
	}
	ex = cli_operands_none(CMD, argc, argv);
	if (ex != CLI_EXIT_OK)
		goto out;
	if (cli_log_level_apply(log_level) != WQ_OK) {
		cli_error(CMD, "--log-level: expected debug, info, warn or error");
		ex = CLI_EXIT_USAGE;
		goto out;
	}
	if ((bundle_dir != NULL) + (model_uri != NULL) + (server != NULL) != 1) {
		cli_error(CMD,
		          "give exactly one of --bundle DIR, --model URI and --server URL (see "
		          "--help)");
		ex = CLI_EXIT_USAGE;
		goto out;
	}
	if ((input != NULL) + (csv != NULL) + (nflag > 0) != 1) {
		cli_error(CMD, "give exactly one input: feature flags, --input JSON or --csv FILE");
		ex = CLI_EXIT_USAGE;
		goto out;
	}
	if (server != NULL) {
		ex = predict_server(server, names, values, nflag, input, csv, format);
		goto out;
	}
	if (model_uri != NULL) {
		wq_registry *r = NULL;

		ex = cli_registry_open(CMD, &reg, &r);
		if (ex != CLI_EXIT_OK)
			goto out;
		rc = r->ops->resolve(r, model_uri, &resolved, &version, err, sizeof(err));
		wq_registry_close(r);
		if (rc == WQ_OK && version != NULL) {
			out_model_name = version->name;
			out_model_version = version->version;
		}
		if (rc != WQ_OK) {
			cli_error(CMD, "cannot resolve %s: %s", model_uri,
			          err[0] ? err : wq_strerror(rc));
			ex = rc == WQ_ENOENT ? CLI_EXIT_NOTFOUND : cli_exit_registry(rc);
			goto out;
		}
		bundle_dir = resolved;
	}
	rc = wq_bundle_load(bundle_dir, 0, &b, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "cannot use bundle %s: %s", bundle_dir,
		          err[0] ? err : wq_strerror(rc));
		ex = cli_exit_for(rc, CLI_EXIT_MODEL);
		goto out;
	}
	if (input != NULL)
		ex = predict_json(b, input, format);
	else if (csv != NULL)
		ex = predict_csv(b, csv, format);
	else
		ex = predict_named(b, names, values, nflag, format, -1);
out:
	if (fflush(stdout) != 0 && ex == CLI_EXIT_OK)
		ex = CLI_EXIT_FAILURE;
	wq_bundle_free(b);
	free(resolved);
	out_model_name = NULL;
	out_model_version = 0;
	wq_model_version_free(version);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	return ex;
}
