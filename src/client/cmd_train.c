/* wineq-client train: one model from a CSV to a bundle directory. */
#include "cli_common.h"

#include "base/wq_clock.h"
#include "ml/wq_bundle.h"
#include "track/wq_db.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "ml/wq_features.h"
#include "ml/wq_train.h"
#include "track/wq_model_uri.h"
#include "base/wq_name.h"
#include "base/wq_num.h"
#include "registry/wq_registry.h"
#include "registry/wq_runrecord.h"

#include <inttypes.h>

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "train"

static void train_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: wineq-client train [--bundle DIR] [--register NAME] [OPTIONS]\n\n"
	    "Fits one C-SVC on the training part (80%% by default) of a wine CSV, prints its\n"
	    "test metrics and writes a model bundle. The run (params, metrics, bundle) is logged\n"
	    "to the tracking store unless --no-track; --register adds the bundle to the model\n"
	    "registry as a new version.\n\n"
	    "Options:\n"
	    "  --data FILE            CSV in UCI (';') or comma format\n"
	    "                         (default: %s/winequality-white.csv)\n"
	    "  --bundle DIR           also keep the bundle in DIR (required with --no-track)\n"
	    "  --force                replace DIR if it exists\n"
	    "  --kernel linear|rbf    kernel (default rbf)\n"
	    "  --C X                  cost, > 0 (default 1)\n"
	    "  --gamma X|scale        rbf gamma, > 0; scale = 1/(n_features * var(X)) (default)\n"
	    "  --probability          fit probability estimates (default)\n"
	    "  --no-probability       skip them (faster; predict then prints no probabilities)\n"
	    "  --class-weight none|balanced   class weights (default none)\n"
	    "  --decision RULE        how the served quality is chosen: auto (default),\n"
	    "                         argmax (most probable class of the probabilities),\n"
	    "                         prior-shift (probabilities corrected for the class\n"
	    "                         weights, then their most probable class) or vote\n"
	    "                         (libsvm's one-vs-one vote, as svm-predict); auto:\n"
	    "                         prior-shift with class weights, argmax without, vote\n"
	    "                         without probabilities\n"
	    "  --features LIST        comma-separated feature names\n"
	    "                         (default: alcohol,volatile acidity,sulphates)\n"
	    "  --top-k K              instead: the K features with the largest |Pearson r|\n"
	    "                         with quality on the training part\n"
	    "  --test-fraction F      test share, 0 < F < 1 (default 0.2)\n"
	    "  --stratify             split stratified by class\n"
	    "  --seed N               split and libsvm seed (default 42)\n"
	    "  --name NAME            model name recorded in the bundle (default wine-quality)\n"
	    "  --format text|json     output format (default text)\n"
	    "Tracking and registry:\n"
	    "  --experiment NAME      experiment of the run (default: default)\n"
	    "  --run-name NAME        name of the run\n"
	    "  --no-track             do not log a run\n"
	    "  --register NAME        register the bundle as a new version of model NAME\n"
	    "  --promote STAGE        then move it to STAGE (Staging, Production, ...)\n"
	    "  --alias ALIAS          then point ALIAS (e.g. champion) at it\n"
	    "  --tag KEY=VALUE        tag the run (repeatable; with --trials every run of the\n"
	    "                         flow); keys starting with 'wineq.' are reserved\n"
	    "  --tracking-uri URI     sqlite:///path.db, postgresql://user@host/db or "
	    "tcp://host:port\n"
	    "                         (env WINEQ_TRACKING_URI)\n"
	    "  --artifact-root URI    file:///dir or s3://bucket/prefix (env WINEQ_ARTIFACT_ROOT)\n"
	    "  --s3-endpoint-url URL  S3-compatible endpoint (env WINEQ_S3_ENDPOINT_URL)\n"
	    "  --timeout SECONDS      with wineqd as tracking URI (tcp://...): each call's whole\n"
	    "                         budget, retries included [10]\n"
	    "Hyper-parameter search (a resumable flow; see 'wineq-client flows'):\n"
	    "  --trials N             seeded random search over kernel, C, gamma, class weight;\n"
	    "                         trials are runs in experiment wine-svm, the best K are\n"
	    "                         retrained with probabilities in wine-svm-best-models and "
	    "the\n"
	    "                         best one is registered (--register, default wine-quality)\n"
	    "  --cv K                 score trials by K-fold CV on the training part (default: on\n"
	    "                         the test split, like the reference stack)\n"
	    "  --best-k K             models retrained (default 5)\n"
	    "  --workers N            parallel trial processes (default: one per CPU)\n"
	    "  --log-level LEVEL      debug, info, warn, error (default warn; env "
	    "WINEQ_LOG_LEVEL)\n"
	    "  -h, --help             show this help\n",
	    WQ_DATADIR);
}

enum {
	OPT_DATA = 1000,
	OPT_BUNDLE,
	OPT_FORCE,
	OPT_KERNEL,
	OPT_C,
	OPT_GAMMA,
	OPT_PROB,
	OPT_NO_PROB,
	OPT_CW,
	OPT_DECISION,
	OPT_FEATURES,
	OPT_TOPK,
	OPT_TESTFRAC,
	OPT_STRATIFY,
	OPT_SEED,
	OPT_NAME,
	OPT_FORMAT,
	OPT_LOGLEVEL,
	OPT_EXPERIMENT,
	OPT_RUNNAME,
	OPT_NOTRACK,
	OPT_REGISTER,
	OPT_PROMOTE,
	OPT_ALIAS,
	OPT_TRACKING,
	OPT_ARTIFACT,
	OPT_S3,
	OPT_TRIALS,
	OPT_CV,
	OPT_BESTK,
	OPT_WORKERS,
	OPT_TIMEOUT,
	OPT_TAG
};

static const struct option train_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"bundle", required_argument, NULL, OPT_BUNDLE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"C", required_argument, NULL, OPT_C},
    {"gamma", required_argument, NULL, OPT_GAMMA},
    {"probability", no_argument, NULL, OPT_PROB},
    {"no-probability", no_argument, NULL, OPT_NO_PROB},
    {"class-weight", required_argument, NULL, OPT_CW},
    {"decision", required_argument, NULL, OPT_DECISION},
    {"features", required_argument, NULL, OPT_FEATURES},
    {"top-k", required_argument, NULL, OPT_TOPK},
    {"test-fraction", required_argument, NULL, OPT_TESTFRAC},
    {"stratify", no_argument, NULL, OPT_STRATIFY},
    {"seed", required_argument, NULL, OPT_SEED},
    {"name", required_argument, NULL, OPT_NAME},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"log-level", required_argument, NULL, OPT_LOGLEVEL},
    {"experiment", required_argument, NULL, OPT_EXPERIMENT},
    {"run-name", required_argument, NULL, OPT_RUNNAME},
    {"no-track", no_argument, NULL, OPT_NOTRACK},
    {"register", required_argument, NULL, OPT_REGISTER},
    {"promote", required_argument, NULL, OPT_PROMOTE},
    {"alias", required_argument, NULL, OPT_ALIAS},
    {"tracking-uri", required_argument, NULL, OPT_TRACKING},
    {"artifact-root", required_argument, NULL, OPT_ARTIFACT},
    {"s3-endpoint-url", required_argument, NULL, OPT_S3},
    {"trials", required_argument, NULL, OPT_TRIALS},
    {"cv", required_argument, NULL, OPT_CV},
    {"best-k", required_argument, NULL, OPT_BESTK},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"tag", required_argument, NULL, OPT_TAG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct track_opts {
	cli_registry_opts reg;
	const char *experiment;
	const char *run_name;
	int track;
	const char *register_name;
	int stage; /* -1: no promotion */
	const char *alias;
	char run_id[WQ_RUN_ID_LEN + 1];
	int64_t version;
	int64_t start_ms;   /* when training began (unix ms): the run's real start */
	double fit_seconds; /* wall-clock time of the training */
	const char *tags[CLI_MAX_RUN_TAGS]; /* --tag KEY=VALUE, checked */
	size_t ntags;
} track_opts;

wq_status cli_run_tags_set(wq_registry *r, const char *run_id, const char *const *tags,
                           size_t ntags, char *err, size_t errlen)
{
	wq_status rc = WQ_OK;

	for (size_t i = 0; rc == WQ_OK && i < ntags; i++) {
		const char *eq = strchr(tags[i], '=');
		char key[WQ_NAME_MAX + 1];

		if (eq == NULL || (size_t)(eq - tags[i]) > WQ_NAME_MAX)
			return wq_err_set(err, errlen, WQ_EINVAL, "malformed tag '%s'", tags[i]);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - tags[i]), tags[i]);
		rc = r->ops->tag_set(r, run_id, key, eq + 1, err, errlen);
	}
	return rc;
}

/* Logs the run and registers the bundle as asked; returns an exit code. */
static wq_exit track(track_opts *t, const wq_bundle *b, const char *bundle_dir)
{
	wq_registry *r = NULL;
	char err[1024] = "";
	int ex, rc = WQ_OK;

	ex = cli_registry_open(CMD, &t->reg, &r);
	if (ex != WQ_EXIT_OK)
		return ex;
	if (t->track) {
		wq_runrecord_opts ro = {.start_ms = t->start_ms, .fit_seconds = t->fit_seconds};

		rc = wq_runrecord_bundle_ex(r, t->experiment, t->run_name, b, bundle_dir, &ro,
		                            t->run_id, err, sizeof(err));
		if (rc == WQ_OK)
			rc = cli_run_tags_set(r, t->run_id, t->tags, t->ntags, err, sizeof(err));
		if (rc != WQ_OK)
			cli_error(CMD, "logging the run: %s", err);
	}
	if (rc == WQ_OK && t->register_name != NULL) {
		rc = r->ops->version_create(r, t->register_name, bundle_dir,
		                            t->run_id[0] ? t->run_id : NULL, NULL, NULL,
		                            &t->version, err, sizeof(err));
		if (rc != WQ_OK)
			cli_error(CMD, "registering %s: %s", t->register_name, err);
	}
	if (rc == WQ_OK && t->stage >= 0) {
		rc = r->ops->version_transition(r, t->register_name, t->version, t->stage, 1, NULL,
		                                err, sizeof(err));
		if (rc != WQ_OK)
			cli_error(CMD, "promoting: %s", err);
	}
	if (rc == WQ_OK && t->alias != NULL) {
		rc = r->ops->alias_set(r, t->register_name, t->alias, t->version, NULL, err,
		                       sizeof(err));
		if (rc != WQ_OK)
			cli_error(CMD, "alias: %s", err);
	}
	wq_registry_close(r);
	return rc == WQ_OK ? WQ_EXIT_OK : cli_exit_registry(rc);
}

static void print_text(const wq_bundle *b, const char *dir, const track_opts *t)
{
	const wq_metrics *m = b->test_metrics;
	char num[WQ_NUM_MAX];
	wq_svm_params p;

	wq_svm_params_get(b->svm, &p);
	wq_num_format(p.C, num, sizeof(num));
	printf("model:             C-SVC %s C=%s", wq_svm_kernel_name(p.kernel), num);
	if (p.kernel == WQ_KERNEL_RBF) {
		wq_num_format(p.gamma, num, sizeof(num));
		printf(" gamma=%s", num);
	}
	printf(" class-weight=%s probability=%s\n", wq_svm_class_weight_name(p.class_weight),
	       p.probability ? "yes" : "no");
	printf("decision:          %s\n", wq_svm_decision_name(b->decision));
	printf("features:          ");
	for (size_t i = 0; i < b->nfeatures; i++)
		printf("%s%s", i ? ", " : "", b->features[i]);
	printf("\n");
	printf("data:              %s (sha256 %.12s...)\n", b->training.data_file,
	       b->training.data_sha256);
	printf("split:             %zu train / %zu test rows (seed %llu%s)\n",
	       b->training.train_rows, b->training.test_rows, (unsigned long long)b->training.seed,
	       b->training.stratify ? ", stratified" : "");
	printf("support vectors:   %zu\n", wq_svm_sv_count(b->svm));
	if (m != NULL) {
		printf("test accuracy:          %.4f\n", m->accuracy);
		printf("test balanced accuracy: %.4f\n", m->balanced_accuracy);
		printf("test f1 macro:          %.4f\n", m->f1_macro);
		printf("confusion matrix (rows: true quality, columns: predicted):\n      ");
		for (size_t j = 0; j < m->nclass; j++)
			printf("%6d", m->labels[j]);
		printf("\n");
		for (size_t i = 0; i < m->nclass; i++) {
			printf("%6d", m->labels[i]);
			for (size_t j = 0; j < m->nclass; j++)
				printf("%6zu", m->confusion[i * m->nclass + j]);
			printf("\n");
		}
	}
	if (dir != NULL)
		printf("bundle:            %s\n", dir);
	if (t->run_id[0] != '\0') {
		printf("run:               %s (experiment %s)\n", t->run_id, t->experiment);
		printf("run model URI:     runs:/%s/model\n", t->run_id);
	}
	if (t->version > 0) {
		printf("registered:        %s version %" PRId64 "%s%s%s%s\n", t->register_name,
		       t->version, t->stage >= 0 ? ", stage " : "",
		       t->stage >= 0 ? wq_stage_name(t->stage) : "", t->alias ? ", alias " : "",
		       t->alias ? t->alias : "");
		printf("model URI:         models:/%s/%" PRId64 "\n", t->register_name, t->version);
	}
}

static wq_status print_json(const wq_bundle *b, const char *dir, const track_opts *t)
{
	const wq_metrics *m = b->test_metrics;
	json_t *o, *feats, *metrics = NULL, *cm;
	wq_svm_params p;
	wq_status rc = WQ_ENOMEM;

	wq_svm_params_get(b->svm, &p);
	o = json_object();
	feats = json_array();
	if (o == NULL || feats == NULL)
		goto fail;
	for (size_t i = 0; i < b->nfeatures; i++)
		json_array_append_new(feats, json_string(b->features[i]));
	json_object_set_new(o, "bundle", dir != NULL ? json_string(dir) : json_null());
	json_object_set_new(o, "run_id", t->run_id[0] ? json_string(t->run_id) : json_null());
	json_object_set_new(o, "registered_model",
	                    t->version > 0 ? json_string(t->register_name) : json_null());
	json_object_set_new(o, "version", t->version > 0 ? json_integer(t->version) : json_null());
	if (t->version > 0) {
		char uri[512];

		snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, t->register_name, t->version);
		json_object_set_new(o, "model_uri", json_string(uri));
	}
	json_object_set_new(o, "name", json_string(b->name));
	json_object_set_new(o, "features", feats);
	feats = NULL;
	json_object_set_new(o, "params",
	                    json_pack("{s:s, s:f, s:f, s:b, s:s, s:I}", "kernel",
	                              wq_svm_kernel_name(p.kernel), "C", p.C, "gamma", p.gamma,
	                              "probability", p.probability, "class_weight",
	                              wq_svm_class_weight_name(p.class_weight), "seed",
	                              (json_int_t)b->training.seed));
	json_object_set_new(o, "decision", json_string(wq_svm_decision_name(b->decision)));
	json_object_set_new(o, "train_rows", json_integer((json_int_t)b->training.train_rows));
	json_object_set_new(o, "test_rows", json_integer((json_int_t)b->training.test_rows));
	if (m != NULL) {
		metrics = json_pack("{s:f, s:f, s:f}", "accuracy", m->accuracy, "balanced_accuracy",
		                    m->balanced_accuracy, "f1_macro", m->f1_macro);
		cm = json_array();
		if (metrics == NULL || cm == NULL)
			goto fail;
		for (size_t i = 0; i < m->nclass; i++) {
			json_t *row = json_array();

			for (size_t j = 0; j < m->nclass; j++)
				json_array_append_new(
				    row, json_integer((json_int_t)m->confusion[i * m->nclass + j]));
			json_array_append_new(cm, row);
		}
		json_t *labels = json_array();
		for (size_t i = 0; i < m->nclass; i++)
			json_array_append_new(labels, json_integer(m->labels[i]));
		json_object_set_new(metrics, "labels", labels);
		json_object_set_new(metrics, "confusion_matrix", cm);
		json_object_set_new(o, "test_metrics", metrics);
	}
	rc = wq_jsonout_file(o, 0, WQ_JSONOUT_SPACED, stdout);
fail:
	json_decref(feats);
	json_decref(o);
	return rc;
}

/* What the command line asks for. */
typedef struct train_args {
	wq_train_opts o;
	char default_data[4096];
	const char *bundle_dir, *features, *log_level;
	int force, format;
	track_opts t;
	size_t trials, cv, best_k, workers;
} train_args;

/* An option of the model and its training data (c: OPT_KERNEL to OPT_NAME) into a->o.
 * WQ_OK, or WQ_EINVAL after printing the error. */
static wq_status train_model_option(train_args *a, int c, const char *arg)
{
	double d;
	size_t z;
	uint64_t u;

	switch (c) {
	case OPT_KERNEL:
		if (wq_svm_kernel_parse(arg, &a->o.svm.kernel) != WQ_OK) {
			cli_error(CMD, "--kernel: expected linear or rbf, got '%s'", arg);
			return WQ_EINVAL;
		}
		break;
	case OPT_C:
		if (wq_cli_parse_double(arg, &d) != WQ_OK || d <= 0) {
			cli_error(CMD, "--C: expected a positive number, got '%s'", arg);
			return WQ_EINVAL;
		}
		a->o.svm.C = d;
		break;
	case OPT_GAMMA:
		if (strcmp(arg, "scale") == 0) {
			a->o.svm.gamma = 0;
		} else if (wq_cli_parse_double(arg, &d) != WQ_OK || d <= 0) {
			cli_error(CMD, "--gamma: expected a positive number or 'scale', got '%s'",
			          arg);
			return WQ_EINVAL;
		} else {
			a->o.svm.gamma = d;
		}
		break;
	case OPT_PROB:
		a->o.svm.probability = 1;
		break;
	case OPT_NO_PROB:
		a->o.svm.probability = 0;
		break;
	case OPT_CW:
		if (wq_svm_class_weight_parse(arg, &a->o.svm.class_weight) != WQ_OK) {
			cli_error(CMD, "--class-weight: expected none or balanced, got '%s'", arg);
			return WQ_EINVAL;
		}
		break;
	case OPT_DECISION:
		if (wq_svm_decision_parse(arg, &a->o.decision) != WQ_OK) {
			cli_error(CMD,
			          "--decision: expected auto, argmax, prior-shift or vote, "
			          "got '%s'",
			          arg);
			return WQ_EINVAL;
		}
		break;
	case OPT_FEATURES:
		a->features = arg;
		break;
	case OPT_TOPK:
		if (wq_cli_parse_size(arg, &z) != WQ_OK || z == 0) {
			cli_error(CMD, "--top-k: expected a positive integer, got '%s'", arg);
			return WQ_EINVAL;
		}
		a->o.top_k = z;
		break;
	case OPT_TESTFRAC:
		if (wq_cli_parse_double(arg, &d) != WQ_OK || d <= 0 || d >= 1) {
			cli_error(CMD, "--test-fraction: expected a number in (0, 1), got '%s'",
			          arg);
			return WQ_EINVAL;
		}
		a->o.test_fraction = d;
		break;
	case OPT_STRATIFY:
		a->o.stratify = 1;
		break;
	case OPT_SEED:
		if (wq_cli_parse_u64(arg, &u) != WQ_OK) {
			cli_error(CMD, "--seed: expected a non-negative integer, got '%s'", arg);
			return WQ_EINVAL;
		}
		a->o.seed = u;
		break;
	case OPT_NAME:
		if (*arg == '\0' || strlen(arg) > 128) {
			cli_error(CMD, "--name: expected 1 to 128 characters");
			return WQ_EINVAL;
		}
		a->o.name = arg;
		break;
	default:
		break;
	}
	return WQ_OK;
}

/* --trials, --cv, --best-k or --workers (name: as given). WQ_OK, or WQ_EINVAL after printing
 * the error. */
static wq_status train_search_option(train_args *a, int c, const char *arg, const char *name)
{
	size_t v;
	size_t *dst = c == OPT_TRIALS  ? &a->trials
	              : c == OPT_CV    ? &a->cv
	              : c == OPT_BESTK ? &a->best_k
	                               : &a->workers;

	if (wq_cli_parse_size(arg, &v) != WQ_OK || v == 0 || v > 10000 || (c == OPT_CV && v < 2)) {
		cli_error(CMD, "%s: expected a %s, got '%s'", name,
		          c == OPT_CV ? "number of folds >= 2" : "positive integer", arg);
		return WQ_EINVAL;
	}
	*dst = v;
	return WQ_OK;
}

/* --tag KEY=VALUE (checked here: a bad one is a usage error before any training) into a->t.
 * WQ_OK, or WQ_EINVAL after printing the error. */
static wq_status train_tag_option(train_args *a, const char *arg)
{
	char *key = NULL, err[512] = "";
	const char *value = NULL;
	wq_status rc = WQ_EINVAL;

	if (a->t.ntags == CLI_MAX_RUN_TAGS) {
		cli_error(CMD, "at most %d --tag options", CLI_MAX_RUN_TAGS);
		return WQ_EINVAL;
	}
	if (cli_tag_split(CMD, "--tag", arg, &key, &value) != WQ_EXIT_OK)
		return WQ_EINVAL;
	if (wq_name_check("tag key", key, err, sizeof(err)) != WQ_OK)
		cli_error(CMD, "--tag: %s", err);
	else if (strncmp(key, "wineq.", 6) == 0)
		cli_error(CMD, "--tag: keys starting with 'wineq.' are reserved, got '%s'", key);
	else if (strlen(value) > WQ_TRACKING_MAX_VALUE)
		cli_error(CMD, "--tag %s: the value is over %d bytes", key, WQ_TRACKING_MAX_VALUE);
	else
		rc = WQ_OK;
	free(key);
	if (rc == WQ_OK)
		a->t.tags[a->t.ntags++] = arg;
	return rc;
}

/* The options into a. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step train_parse(train_args *a, int argc, char **argv, wq_exit *ex)
{
	char err[1024] = "";
	int c;

	opterr = 0;
	*ex = WQ_EXIT_USAGE;
	while ((c = getopt_long(argc, argv, ":h", train_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			train_usage(stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case OPT_DATA:
			a->o.data_path = optarg;
			break;
		case OPT_BUNDLE:
			a->bundle_dir = optarg;
			break;
		case OPT_FORCE:
			a->force = 1;
			break;
		case OPT_KERNEL:
		case OPT_C:
		case OPT_GAMMA:
		case OPT_PROB:
		case OPT_NO_PROB:
		case OPT_CW:
		case OPT_DECISION:
		case OPT_FEATURES:
		case OPT_TOPK:
		case OPT_TESTFRAC:
		case OPT_STRATIFY:
		case OPT_SEED:
		case OPT_NAME:
			if (train_model_option(a, c, optarg) != WQ_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_FORMAT:
			if (cli_format_option(CMD, optarg, &a->format) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_LOGLEVEL:
			a->log_level = optarg;
			break;
		case OPT_EXPERIMENT:
			a->t.experiment = optarg;
			break;
		case OPT_RUNNAME:
			a->t.run_name = optarg;
			break;
		case OPT_NOTRACK:
			a->t.track = 0;
			break;
		case OPT_REGISTER:
			a->t.register_name = optarg;
			break;
		case OPT_PROMOTE:
			if (wq_stage_parse(optarg, &a->t.stage, err, sizeof(err)) != WQ_OK) {
				cli_error(CMD, "--promote: %s", err);
				return WQ_CLI_EXIT;
			}
			break;
		case OPT_ALIAS:
			a->t.alias = optarg;
			break;
		case OPT_TRACKING:
			a->t.reg.tracking_uri = optarg;
			break;
		case OPT_ARTIFACT:
			a->t.reg.artifact_root = optarg;
			break;
		case OPT_S3:
			a->t.reg.s3_endpoint = optarg;
			break;
		case OPT_TIMEOUT:
			if (cli_timeout_option(CMD, optarg) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_TAG:
			if (train_tag_option(a, optarg) != WQ_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_TRIALS:
		case OPT_CV:
		case OPT_BESTK:
		case OPT_WORKERS:
			if (train_search_option(a, c, optarg, argv[optind - 1]) != WQ_OK)
				return WQ_CLI_EXIT;
			break;
		case ':':
		default:
			*ex = cli_option_error(CMD, c, argv);
			return WQ_CLI_EXIT;
		}
	}
	*ex = cli_operands_none(CMD, argc, argv);
	return *ex == WQ_EXIT_OK ? WQ_CLI_GO_ON : WQ_CLI_EXIT;
}

/* The options that go together; sets the log level. WQ_EXIT_OK or WQ_EXIT_USAGE (the reason
 * on stderr). */
static wq_exit train_check(const train_args *a)
{
	const track_opts *t = &a->t;
	char err[1024] = "";

	if (wq_cli_log_level_apply(a->log_level) != WQ_OK) {
		cli_error(CMD, "--log-level: expected debug, info, warn or error");
		return WQ_EXIT_USAGE;
	}
	if (t->ntags > 0 && !t->track) {
		cli_error(CMD, "--tag tags the run: drop --no-track");
		return WQ_EXIT_USAGE;
	}
	if (a->bundle_dir == NULL && !t->track && t->register_name == NULL) {
		cli_error(CMD, "--bundle DIR is required with --no-track (see --help)");
		return WQ_EXIT_USAGE;
	}
	/* the search flow registers as wine-quality unless told otherwise */
	if ((t->stage >= 0 || t->alias != NULL) && t->register_name == NULL && a->trials == 0) {
		cli_error(CMD, "--promote and --alias need --register NAME");
		return WQ_EXIT_USAGE;
	}
	if (t->register_name != NULL &&
	    wq_name_check("model name", t->register_name, err, sizeof(err)) != WQ_OK) {
		cli_error(CMD, "--register: %s", err);
		return WQ_EXIT_USAGE;
	}
	/* the search's best models always get probabilities, so only a single training can lack
	 * them */
	if (a->trials == 0 && !a->o.svm.probability &&
	    (a->o.decision == WQ_DECISION_ARGMAX || a->o.decision == WQ_DECISION_PRIOR_SHIFT)) {
		cli_error(CMD, "--decision %s needs probabilities: drop --no-probability",
		          wq_svm_decision_name(a->o.decision));
		return WQ_EXIT_USAGE;
	}
	if (a->features != NULL && a->o.top_k > 0) {
		cli_error(CMD, "--features and --top-k exclude each other");
		return WQ_EXIT_USAGE;
	}
	if (a->trials > 0 && (a->bundle_dir != NULL || !t->track)) {
		cli_error(CMD, "--trials keeps its models in the registry: drop --bundle and "
		               "--no-track");
		return WQ_EXIT_USAGE;
	}
	if (a->trials == 0 && a->cv > 0) {
		cli_error(CMD, "--cv applies to --trials");
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* --trials: the search flow. */
static wq_exit train_search(const train_args *a)
{
	cli_train_flow_opts fo = {.train = &a->o,
	                          .trials = a->trials,
	                          .cv = a->cv,
	                          .best_k = a->best_k,
	                          .workers = a->workers,
	                          .register_name = a->t.register_name,
	                          .stage = a->t.stage,
	                          .alias = a->t.alias,
	                          .reg = &a->t.reg,
	                          .format = a->format,
	                          .tags = a->t.tags,
	                          .ntags = a->t.ntags};

	return cli_train_flow(&fo);
}

/* Trains one model into *b. WQ_EXIT_OK, or an exit code after printing the error. */
static wq_exit train_fit(train_args *a, wq_bundle **b)
{
	char err[1024] = "";
	wq_status rc;

	a->t.start_ms = wq_clock_unix_ms();
	rc = wq_train_run(&a->o, b, err, sizeof(err));
	a->t.fit_seconds = (double)(wq_clock_unix_ms() - a->t.start_ms) / 1000.0;
	if (rc == WQ_OK)
		return WQ_EXIT_OK;
	cli_error(CMD, "%s", err[0] ? err : wq_strerror(rc));
	if (rc == WQ_ENOENT && a->o.data_path == a->default_data)
		cli_error(CMD, "no --data given and the installed default is missing; "
		               "pass --data FILE");
	/* the only files read here are the user's data: unreadable is a data problem */
	return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
}

/* Saves b into --bundle, or (tracked only) into a scratch directory named in tmpdir: the
 * bundle then lives in the artifact store. *dir: where it went. */
static wq_exit train_save(const train_args *a, const wq_bundle *b, char *tmpdir, size_t n,
                          const char **dir)
{
	const char *bundle_dir = a->bundle_dir;
	int force = a->force;
	char err[1024] = "";
	wq_status rc;

	if (bundle_dir == NULL) {
		const char *tmp = getenv("TMPDIR");

		snprintf(tmpdir, n, "%s/wineq-train-XXXXXX",
		         tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			cli_error(CMD, "cannot create a scratch directory in %s", tmpdir);
			tmpdir[0] = '\0';
			return WQ_EXIT_FAILURE;
		}
		bundle_dir = tmpdir;
		force = 1; /* replaces the empty scratch directory */
	}
	rc = wq_bundle_save(b, bundle_dir, force, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "saving bundle: %s", err[0] ? err : wq_strerror(rc));
		return wq_cli_exit_for(rc, WQ_EXIT_MODEL);
	}
	*dir = bundle_dir;
	return WQ_EXIT_OK;
}

/* One training: fit, save, track and register, print. */
static wq_exit train_single(train_args *a)
{
	wq_bundle *b = NULL;
	char tmpdir[4096] = "";
	const char *dir = NULL;
	wq_exit ex;

	/* refuse early: training can take seconds and the answer would be thrown away */
	if (a->bundle_dir != NULL && !a->force && access(a->bundle_dir, F_OK) == 0) {
		cli_error(CMD, "%s already exists (use --force to replace it)", a->bundle_dir);
		return WQ_EXIT_MODEL;
	}
	ex = train_fit(a, &b);
	if (ex == WQ_EXIT_OK)
		ex = train_save(a, b, tmpdir, sizeof(tmpdir), &dir);
	if (ex == WQ_EXIT_OK && (a->t.track || a->t.register_name != NULL))
		ex = track(&a->t, b, dir);
	if (ex == WQ_EXIT_OK && a->format == CLI_FORMAT_JSON) {
		if (print_json(b, tmpdir[0] ? NULL : dir, &a->t) != WQ_OK) {
			cli_error(CMD, "out of memory while printing");
			ex = WQ_EXIT_FAILURE;
		}
	} else if (ex == WQ_EXIT_OK) {
		print_text(b, tmpdir[0] ? NULL : dir, &a->t);
	}
	if (tmpdir[0] != '\0')
		cli_rmtree(tmpdir);
	wq_bundle_free(b);
	return ex;
}

wq_exit cmd_train(int argc, char **argv)
{
	train_args a = {.format = CLI_FORMAT_TEXT,
	                .t = {.experiment = "default", .track = 1, .stage = -1},
	                .best_k = 5};
	char err[1024] = "", **names = NULL;
	size_t nnames = 0;
	wq_exit ex;

	wq_train_opts_default(&a.o);
	snprintf(a.default_data, sizeof(a.default_data), "%s/winequality-white.csv", WQ_DATADIR);
	a.o.data_path = a.default_data;
	if (train_parse(&a, argc, argv, &ex) == WQ_CLI_EXIT)
		return ex;
	ex = train_check(&a);
	if (ex != WQ_EXIT_OK)
		return ex;
	if (a.features != NULL) {
		if (wq_features_parse_list(a.features, &names, &nnames, err, sizeof(err)) !=
		    WQ_OK) {
			cli_error(CMD, "--features: %s", err);
			return WQ_EXIT_USAGE;
		}
		a.o.features = (const char *const *)names;
		a.o.nfeatures = nnames;
	}
	ex = a.trials > 0 ? train_search(&a) : train_single(&a);
	wq_strv_free(names, nnames);
	return ex;
}
