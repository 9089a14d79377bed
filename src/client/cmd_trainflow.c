/* wineq-client train --trials: runs the training flow with a progress bar on a terminal and
 * plain log lines otherwise, then prints the best run, its metrics and the model URI. */
#include "cli_common.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_num.h"
#include "track/wq_db.h"
#include "track/wq_model_uri.h"
#include "registry/wq_registry.h"
#include "registry/wq_runrecord.h"
#include "registry/wq_trainflow.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "train"

typedef struct progress {
	int tty;
	double start;
	double best;
} progress;

static void on_trial(const wq_hpo_trial *t, size_t done, size_t total, void *arg)
{
	progress *p = arg;
	double elapsed = (double)wq_clock_mono_ns() / 1e9 - p->start;
	double eta = done > 0 ? elapsed / (double)done * (double)(total - done) : 0.0;

	if (t->status == WQ_HPO_TRIAL_OK && t->balanced_accuracy > p->best)
		p->best = t->balanced_accuracy;
	if (p->tty) {
		char bar[31];
		size_t fill = total > 0 ? done * 30 / total : 0;

		for (size_t i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %zu/%zu trials  best balanced accuracy %.4f  ETA %.0f s ",
		        bar, done, total, p->best, eta);
		if (done == total)
			fputc('\n', stderr);
	} else {
		fprintf(stderr,
		        "wineq-client train: trial %zu/%zu %s C=%.4g%s balanced_accuracy=%.4f%s "
		        "(best %.4f)\n",
		        done, total, wq_svm_kernel_name(t->params.kernel), t->params.C,
		        t->params.class_weight ? " balanced" : "", t->balanced_accuracy,
		        t->status == WQ_HPO_TRIAL_OK ? "" : " FAILED", p->best);
	}
}

/* --tag on every run the flow made (its trials and retrained models carry the flow's id). */
static wq_status flow_runs_tag(wq_registry *r, const cli_train_flow_opts *fo,
                               const wq_trainflow_opts *o, const char *flow_id, char *err,
                               size_t errlen)
{
	const char *exps[] = {o->trials_experiment, o->best_experiment};
	char filter[128], *token = NULL;
	wq_status rc = WQ_OK;

	snprintf(filter, sizeof(filter), "tags.`%s` = '%s'", WQ_RUNRECORD_TAG_FLOW, flow_id);
	do {
		wq_run **runs = NULL;
		char *next = NULL;
		size_t n = 0;

		rc = r->ops->runs_search(r, exps, 2, filter, NULL, WQ_TRACKING_MAX_RESULTS, token,
		                         &runs, &n, &next, err, errlen);
		for (size_t i = 0; rc == WQ_OK && i < n; i++)
			rc = cli_run_tags_set(r, runs[i]->id, fo->tags, fo->ntags, err, errlen);
		wq_runs_free(runs, n);
		free(token);
		token = next;
	} while (rc == WQ_OK && token != NULL);
	free(token);
	return rc;
}

wq_exit cli_train_flow(const cli_train_flow_opts *fo)
{
	wq_trainflow_opts o;
	wq_trainflow_result res;
	wq_registry *r = NULL;
	wq_db *db = NULL;
	progress prog = {
	    .tty = isatty(STDERR_FILENO), .start = (double)wq_clock_mono_ns() / 1e9, .best = 0.0};
	char err[1024] = "";
	wq_status rc;
	wq_exit ex;

	wq_trainflow_opts_default(&o);
	o.train = *fo->train;
	o.train.svm.probability = 1; /* the best models answer with probabilities */
	o.hpo.trials = fo->trials;
	o.hpo.cv_folds = fo->cv;
	o.hpo.workers = fo->workers;
	o.hpo.seed = fo->train->seed;
	o.best_k = fo->best_k;
	if (fo->register_name != NULL)
		o.register_name = fo->register_name;
	o.promote_stage = fo->stage;
	o.alias = fo->alias;
	o.progress = on_trial;
	o.progress_arg = &prog;

	ex = cli_flow_db_open(CMD, fo->reg, &db);
	if (ex != WQ_EXIT_OK)
		return ex;
	ex = cli_registry_open(CMD, fo->reg, &r);
	if (ex != WQ_EXIT_OK) {
		wq_db_close(db);
		return ex;
	}
	rc = wq_trainflow_run(r, db, &o, &res, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "flow failed: %s", err[0] ? err : wq_strerror(rc));
		cli_error(CMD, "see 'wineq-client flows list'; rerunning resumes after the last "
		               "completed task");
		ex = rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : cli_exit_registry(rc);
		if (ex == WQ_EXIT_OK)
			ex = WQ_EXIT_FAILURE;
		goto out;
	}
	if (fo->ntags > 0 &&
	    (rc = flow_runs_tag(r, fo, &o, res.flow_id, err, sizeof(err))) != WQ_OK) {
		cli_error(CMD, "tagging the flow's runs: %s", err[0] ? err : wq_strerror(rc));
		ex = cli_exit_registry(rc);
		goto out;
	}
	if (fo->format == CLI_FORMAT_JSON) {
		json_t *j = json_pack(
		    "{s:s, s:I, s:s, s:{s:s, s:f, s:f, s:s}, s:{s:f, s:f, s:f}}", "flow_run_id",
		    res.flow_id, "trials_ok", (json_int_t)res.trials_ok, "best_run_id",
		    res.best_run_id, "params", "kernel", wq_svm_kernel_name(res.best_params.kernel),
		    "C", res.best_params.C, "gamma", res.best_params.gamma, "class_weight",
		    wq_svm_class_weight_name(res.best_params.class_weight), "test_metrics",
		    "accuracy", res.accuracy, "balanced_accuracy", res.balanced_accuracy,
		    "f1_macro", res.f1_macro);

		if (j != NULL && res.version > 0) {
			char uri[512];

			snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, o.register_name,
			         res.version);
			json_object_set_new(j, "version", json_integer(res.version));
			json_object_set_new(j, "model_uri", json_string(uri));
		}
		cli_json_print(j, JSON_INDENT(2));
	} else {
		char num[WQ_NUM_MAX];

		printf("flow run:               %s\n", res.flow_id);
		printf("trials:                 %zu of %zu succeeded\n", res.trials_ok, fo->trials);
		printf("best run:               %s (experiment %s)\n", res.best_run_id,
		       o.best_experiment);
		wq_num_format(res.best_params.C, num, sizeof(num));
		printf("best model:             C-SVC %s C=%s",
		       wq_svm_kernel_name(res.best_params.kernel), num);
		if (res.best_params.kernel == WQ_KERNEL_RBF) {
			wq_num_format(res.best_params.gamma, num, sizeof(num));
			printf(" gamma=%s", num);
		}
		printf(" class-weight=%s\n",
		       wq_svm_class_weight_name(res.best_params.class_weight));
		printf("test accuracy:          %.4f\n", res.accuracy);
		printf("test balanced accuracy: %.4f\n", res.balanced_accuracy);
		printf("test f1 macro:          %.4f\n", res.f1_macro);
		if (res.version > 0)
			printf("model URI:              models:/%s/%" PRId64 "\n", o.register_name,
			       res.version);
		printf("run model URI:          runs:/%s/model\n", res.best_run_id);
	}
	ex = WQ_EXIT_OK;
out:
	wq_registry_close(r);
	wq_db_close(db);
	return ex;
}
