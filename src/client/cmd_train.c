/* wineq-client train: one model from a CSV to a bundle directory. */
#include "cli_common.h"

#include "wq_bundle.h"
#include "wq_db.h"
#include "wq_error.h"
#include "wq_features.h"
#include "wq_train.h"
#include "wq_model_uri.h"
#include "wq_name.h"
#include "wq_registry.h"
#include "wq_runlog.h"

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
	    "  --tracking-uri URI     sqlite:///path.db (env WINEQ_TRACKING_URI)\n"
	    "  --artifact-root URI    file:///dir or s3://bucket/prefix (env WINEQ_ARTIFACT_ROOT)\n"
	    "  --s3-endpoint-url URL  S3-compatible endpoint (env WINEQ_S3_ENDPOINT_URL)\n"
	    "Hyper-parameter search (a resumable flow; see 'wineq-client flows'):\n"
	    "  --trials N             seeded random search over kernel, C, gamma, class weight;\n"
	    "                         trials are runs in experiment wine-svm, the best K are\n"
	    "                         retrained with probabilities in wine-svm-best-models and "
	    "the\n"
	    "                         best one is registered (--register, default wine-quality)\n"
	    "  --cv K                 score trials by K-fold CV on the training part (default: on\n"
	    "                         the test split, like the seed)\n"
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
	OPT_WORKERS
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
} track_opts;

/* Logs the run and registers the bundle as asked; returns an exit code. */
static int track(track_opts *t, const wq_bundle *b, const char *bundle_dir)
{
	wq_registry *r = NULL;
	char err[1024] = "";
	int ex, rc = WQ_OK;

	ex = cli_registry_open(CMD, &t->reg, &r);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (t->track) {
		wq_runlog_opts ro = {.start_ms = t->start_ms, .fit_seconds = t->fit_seconds};

		rc = wq_runlog_bundle_ex(r, t->experiment, t->run_name, b, bundle_dir, &ro,
		                         t->run_id, err, sizeof(err));
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
	return rc == WQ_OK ? CLI_EXIT_OK : cli_exit_registry(rc);
}

static void print_text(const wq_bundle *b, const char *dir, const track_opts *t)
{
	const wq_metrics *m = b->test_metrics;
	wq_svm_params p;

	wq_svm_params_get(b->svm, &p);
	printf("model:             C-SVC %s C=%g", wq_svm_kernel_name(p.kernel), p.C);
	if (p.kernel == WQ_KERNEL_RBF)
		printf(" gamma=%g", p.gamma);
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

static int print_json(const wq_bundle *b, const char *dir, const track_opts *t)
{
	const wq_metrics *m = b->test_metrics;
	json_t *o, *feats, *metrics = NULL, *cm;
	wq_svm_params p;
	int rc = -1;

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
	if (json_dumpf(o, stdout, JSON_REAL_PRECISION(10)) == 0) {
		fputc('\n', stdout);
		rc = 0;
	}
fail:
	json_decref(feats);
	json_decref(o);
	return rc;
}

int cmd_train(int argc, char **argv)
{
	char default_data[4096];
	char err[1024] = "";
	wq_train_opts o;
	wq_bundle *b = NULL;
	const char *bundle_dir = NULL, *features = NULL, *log_level = NULL;
	char **names = NULL;
	size_t nnames = 0;
	int force = 0, format = CLI_FORMAT_TEXT, c, rc, ex = CLI_EXIT_OK;
	track_opts t = {.experiment = "default", .track = 1, .stage = -1};
	size_t trials = 0, cv = 0, best_k = 5, workers = 0;
	char tmpdir[4096] = "";

	wq_train_opts_default(&o);
	snprintf(default_data, sizeof(default_data), "%s/winequality-white.csv", WQ_DATADIR);
	o.data_path = default_data;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", train_options, NULL)) != -1) {
		double d;
		size_t z;
		uint64_t u;

		switch (c) {
		case 'h':
			train_usage(stdout);
			return CLI_EXIT_OK;
		case OPT_DATA:
			o.data_path = optarg;
			break;
		case OPT_BUNDLE:
			bundle_dir = optarg;
			break;
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_KERNEL:
			if (wq_svm_kernel_parse(optarg, &o.svm.kernel) != WQ_OK) {
				cli_error(CMD, "--kernel: expected linear or rbf, got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_C:
			if (cli_parse_double(optarg, &d) != WQ_OK || d <= 0) {
				cli_error(CMD, "--C: expected a positive number, got '%s'", optarg);
				return CLI_EXIT_USAGE;
			}
			o.svm.C = d;
			break;
		case OPT_GAMMA:
			if (strcmp(optarg, "scale") == 0) {
				o.svm.gamma = 0;
			} else if (cli_parse_double(optarg, &d) != WQ_OK || d <= 0) {
				cli_error(
				    CMD, "--gamma: expected a positive number or 'scale', got '%s'",
				    optarg);
				return CLI_EXIT_USAGE;
			} else {
				o.svm.gamma = d;
			}
			break;
		case OPT_PROB:
			o.svm.probability = 1;
			break;
		case OPT_NO_PROB:
			o.svm.probability = 0;
			break;
		case OPT_CW:
			if (wq_svm_class_weight_parse(optarg, &o.svm.class_weight) != WQ_OK) {
				cli_error(CMD,
				          "--class-weight: expected none or balanced, got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_DECISION:
			if (wq_svm_decision_parse(optarg, &o.decision) != WQ_OK) {
				cli_error(CMD,
				          "--decision: expected auto, argmax, prior-shift or vote, "
				          "got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_FEATURES:
			features = optarg;
			break;
		case OPT_TOPK:
			if (cli_parse_size(optarg, &z) != WQ_OK || z == 0) {
				cli_error(CMD, "--top-k: expected a positive integer, got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			o.top_k = z;
			break;
		case OPT_TESTFRAC:
			if (cli_parse_double(optarg, &d) != WQ_OK || d <= 0 || d >= 1) {
				cli_error(CMD,
				          "--test-fraction: expected a number in (0, 1), got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			o.test_fraction = d;
			break;
		case OPT_STRATIFY:
			o.stratify = 1;
			break;
		case OPT_SEED:
			if (cli_parse_u64(optarg, &u) != WQ_OK) {
				cli_error(CMD, "--seed: expected a non-negative integer, got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			o.seed = u;
			break;
		case OPT_NAME:
			if (*optarg == '\0' || strlen(optarg) > 128) {
				cli_error(CMD, "--name: expected 1 to 128 characters");
				return CLI_EXIT_USAGE;
			}
			o.name = optarg;
			break;
		case OPT_FORMAT:
			if (cli_parse_format(optarg, &format) != WQ_OK) {
				cli_error(CMD, "--format: expected text or json, got '%s'", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_LOGLEVEL:
			log_level = optarg;
			break;
		case OPT_EXPERIMENT:
			t.experiment = optarg;
			break;
		case OPT_RUNNAME:
			t.run_name = optarg;
			break;
		case OPT_NOTRACK:
			t.track = 0;
			break;
		case OPT_REGISTER:
			t.register_name = optarg;
			break;
		case OPT_PROMOTE:
			if (wq_stage_parse(optarg, &t.stage, err, sizeof(err)) != WQ_OK) {
				cli_error(CMD, "--promote: %s", err);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_ALIAS:
			t.alias = optarg;
			break;
		case OPT_TRACKING:
			t.reg.tracking_uri = optarg;
			break;
		case OPT_ARTIFACT:
			t.reg.artifact_root = optarg;
			break;
		case OPT_S3:
			t.reg.s3_endpoint = optarg;
			break;
		case OPT_TRIALS:
		case OPT_CV:
		case OPT_BESTK:
		case OPT_WORKERS: {
			size_t v;
			size_t *dst = c == OPT_TRIALS  ? &trials
			              : c == OPT_CV    ? &cv
			              : c == OPT_BESTK ? &best_k
			                               : &workers;

			if (cli_parse_size(optarg, &v) != WQ_OK || v == 0 || v > 10000 ||
			    (c == OPT_CV && v < 2)) {
				cli_error(CMD, "%s: expected a %s, got '%s'", argv[optind - 1],
				          c == OPT_CV ? "number of folds >= 2" : "positive integer",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			*dst = v;
			break;
		}
		case ':':
		default:
			return cli_option_error(CMD, c, argv);
		}
	}
	if (cli_operands_none(CMD, argc, argv) != CLI_EXIT_OK)
		return CLI_EXIT_USAGE;
	if (cli_log_level_apply(log_level) != WQ_OK) {
		cli_error(CMD, "--log-level: expected debug, info, warn or error");
		return CLI_EXIT_USAGE;
	}
	if (bundle_dir == NULL && !t.track && t.register_name == NULL) {
		cli_error(CMD, "--bundle DIR is required with --no-track (see --help)");
		return CLI_EXIT_USAGE;
	}
	/* the search flow registers as wine-quality unless told otherwise */
	if ((t.stage >= 0 || t.alias != NULL) && t.register_name == NULL && trials == 0) {
		cli_error(CMD, "--promote and --alias need --register NAME");
		return CLI_EXIT_USAGE;
	}
	if (t.register_name != NULL &&
	    wq_name_check("model name", t.register_name, err, sizeof(err)) != WQ_OK) {
		cli_error(CMD, "--register: %s", err);
		return CLI_EXIT_USAGE;
	}
	/* the search's best models always get probabilities, so only a single training can lack
	 * them */
	if (trials == 0 && !o.svm.probability &&
	    (o.decision == WQ_DECISION_ARGMAX || o.decision == WQ_DECISION_PRIOR_SHIFT)) {
		cli_error(CMD, "--decision %s needs probabilities: drop --no-probability",
		          wq_svm_decision_name(o.decision));
		return CLI_EXIT_USAGE;
	}
	if (features != NULL && o.top_k > 0) {
		cli_error(CMD, "--features and --top-k exclude each other");
		return CLI_EXIT_USAGE;
	}
	if (features != NULL) {
		rc = wq_features_parse_list(features, &names, &nnames, err, sizeof(err));
		if (rc != WQ_OK) {
			cli_error(CMD, "--features: %s", err);
			return CLI_EXIT_USAGE;
		}
		o.features = (const char *const *)names;
		o.nfeatures = nnames;
	}
	if (trials > 0) {
		cli_train_flow_opts fo = {.train = &o,
		                          .trials = trials,
		                          .cv = cv,
		                          .best_k = best_k,
		                          .workers = workers,
		                          .register_name = t.register_name,
		                          .stage = t.stage,
		                          .alias = t.alias,
		                          .reg = &t.reg,
		                          .format = format};

		if (bundle_dir != NULL || !t.track) {
			cli_error(CMD,
			          "--trials keeps its models in the registry: drop --bundle and "
			          "--no-track");
			ex = CLI_EXIT_USAGE;
			goto out;
		}
		ex = cli_train_flow(&fo);
		goto out;
	}
	if (cv > 0) {
		cli_error(CMD, "--cv applies to --trials");
		ex = CLI_EXIT_USAGE;
		goto out;
	}
	/* refuse early: training can take seconds and the answer would be thrown away */
	if (bundle_dir != NULL && !force && access(bundle_dir, F_OK) == 0) {
		cli_error(CMD, "%s already exists (use --force to replace it)", bundle_dir);
		ex = CLI_EXIT_MODEL;
		goto out;
	}

	t.start_ms = (int64_t)wq_db_now_ms();
	rc = wq_train_run(&o, &b, err, sizeof(err));
	t.fit_seconds = (double)((int64_t)wq_db_now_ms() - t.start_ms) / 1000.0;
	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err[0] ? err : wq_strerror(rc));
		if (rc == WQ_ENOENT && o.data_path == default_data)
			cli_error(CMD, "no --data given and the installed default is missing; "
			               "pass --data FILE");
		/* the only files read here are the user's data: unreadable is a data problem */
		ex = rc == WQ_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_DATA;
		goto out;
	}
	if (bundle_dir == NULL) {
		/* tracked only: the bundle lives in the artifact store, this copy is scratch */
		const char *tmp = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/wineq-train-XXXXXX",
		         tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			cli_error(CMD, "cannot create a scratch directory in %s", tmpdir);
			tmpdir[0] = '\0';
			ex = CLI_EXIT_FAILURE;
			goto out;
		}
		bundle_dir = tmpdir;
		force = 1; /* replaces the empty scratch directory */
	}
	rc = wq_bundle_save(b, bundle_dir, force, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "saving bundle: %s", err[0] ? err : wq_strerror(rc));
		ex = cli_exit_for(rc, CLI_EXIT_MODEL);
		goto out;
	}
	if (t.track || t.register_name != NULL) {
		ex = track(&t, b, bundle_dir);
		if (ex != CLI_EXIT_OK)
			goto out;
	}
	if (format == CLI_FORMAT_JSON) {
		if (print_json(b, tmpdir[0] ? NULL : bundle_dir, &t) != 0) {
			cli_error(CMD, "out of memory while printing");
			ex = CLI_EXIT_FAILURE;
		}
	} else {
		print_text(b, tmpdir[0] ? NULL : bundle_dir, &t);
	}
out:
	if (tmpdir[0] != '\0')
		cli_rmtree(tmpdir);
	wq_bundle_free(b);
	wq_features_names_free(names, nnames);
	return ex;
}
