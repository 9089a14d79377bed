#include "registry/wq_trainflow.h"

#include "ml/wq_bundle.h"
#include "track/wq_db.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"
#include "registry/wq_runrecord.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bump a task's version whenever what it computes, or the layout of its output, changes:
 * the version is part of the cache key. */
#define SEARCH_VERSION     "2"
#define LOG_TRIALS_VERSION "2"
#define RETRAIN_VERSION    "2"

void wq_trainflow_opts_default(wq_trainflow_opts *o)
{
	memset(o, 0, sizeof(*o));
	wq_train_opts_default(&o->train);
	wq_hpo_opts_default(&o->hpo);
	o->best_k = 5;
	o->trials_experiment = "wine-svm";
	o->best_experiment = "wine-svm-best-models";
	o->register_name = "wine-quality";
	o->promote_stage = -1;
	o->retries = 3;
	o->backoff_s = 0.5;
}

/* What every task may need; tasks get it through their arg. */
typedef struct flow_ctx {
	wq_registry *r;
	const wq_trainflow_opts *o;
	wq_train_data *td;
	wq_flow *flow;
	wq_hpo_trial *trials; /* the search result (computed or from the cache) */
	size_t ntrials;
} flow_ctx;

/* Result of one retrained model, as cached. */
typedef struct retrain_out {
	char run_id[WQ_RUN_ID_LEN + 1];
	double accuracy, balanced_accuracy, f1_macro;
} retrain_out;

typedef struct retrain_arg {
	flow_ctx *c;
	const wq_hpo_trial *trial;
	size_t rank;
} retrain_arg;

static wq_status copy_out(const void *src, size_t n, void **output, size_t *outlen)
{
	void *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		return WQ_ENOMEM;
	memcpy(p, src, n);
	*output = p;
	*outlen = n;
	return WQ_OK;
}

/* --- prepare ---------------------------------------------------------------------------- */

static wq_status task_prepare(void *arg, const void *input, size_t inlen, void **output,
                              size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	char summary[256];
	int rc;

	(void)input;
	(void)inlen;
	rc = wq_train_data_prepare(&c->o->train, &c->td, err, errlen);
	if (rc != WQ_OK)
		return rc;
	snprintf(summary, sizeof(summary), "%zu train / %zu test rows, %zu features, data %.12s",
	         c->td->ntr, c->td->nte, c->td->nf, c->td->data_sha256);
	wq_flow_log(c->flow, wq_flow_task_current(c->flow), "%s", summary);
	return copy_out(summary, strlen(summary), output, outlen);
}

/* --- search ------------------------------------------------------------------------------ */

static wq_status task_search(void *arg, const void *input, size_t inlen, void **output,
                             size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	wq_hpo_trial *t = NULL;
	int rc;

	(void)input;
	(void)inlen;
	rc = wq_hpo_trials_generate(&c->o->hpo, &t, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_hpo_run(&c->o->hpo, c->td->Xtr, c->td->ytr, c->td->ntr, c->td->Xte, c->td->yte,
	                c->td->nte, c->td->nf, t, c->o->hpo.trials, c->o->progress,
	                c->o->progress_arg, err, errlen);
	if (rc == WQ_OK) {
		size_t ok = 0;
		int64_t first = 0, last = 0;

		for (size_t i = 0; i < c->o->hpo.trials; i++) {
			ok += t[i].status == WQ_HPO_TRIAL_OK;
			if (first == 0 || t[i].start_ms < first)
				first = t[i].start_ms;
			if (t[i].end_ms > last)
				last = t[i].end_ms;
		}
		wq_flow_log(c->flow, wq_flow_task_current(c->flow),
		            "%zu of %zu trials succeeded; trials ran for %.3f s of wall time", ok,
		            c->o->hpo.trials, last > first ? (double)(last - first) / 1000.0 : 0.0);
		*output = t;
		*outlen = c->o->hpo.trials * sizeof(*t);
		return WQ_OK;
	}
	free(t);
	return rc;
}

/* The search's cache input: everything its result depends on. */
static wq_status search_input(const flow_ctx *c, char *buf, size_t n)
{
	const wq_trainflow_opts *o = c->o;
	const wq_hpo_space *sp = &o->hpo.space;
	size_t used;
	int k;

	k = snprintf(buf, n,
	             "data=%s;target=%s;test_fraction=%.17g;seed=%" PRIu64
	             ";stratify=%d;trials=%zu;hpo_seed=%" PRIu64
	             ";cv=%zu;kernels=%d;C=%.17g..%.17g;"
	             "gamma=%.17g..%.17g;weights=%d;features=",
	             c->td->data_sha256, o->train.target, o->train.test_fraction, o->train.seed,
	             o->train.stratify, o->hpo.trials, o->hpo.seed, o->hpo.cv_folds, sp->kernels,
	             sp->c_min, sp->c_max, sp->gamma_min, sp->gamma_max, sp->class_weights);
	if (k < 0 || (size_t)k >= n)
		return WQ_ERANGE;
	used = (size_t)k;
	for (size_t i = 0; i < c->td->nf; i++) {
		k = snprintf(buf + used, n - used, "%s%s", i ? "," : "", c->td->features[i]);
		if (k < 0 || (size_t)k >= n - used)
			return WQ_ERANGE;
		used += (size_t)k;
	}
	return WQ_OK;
}

/* --- trial runs ------------------------------------------------------------------------------ */

/* The split and data every trial and retrained model of this flow shares. */
static wq_runrecord_lineage flow_lineage(const flow_ctx *c)
{
	wq_runrecord_lineage l = {
	    .features = (const char *const *)c->td->features,
	    .nfeatures = c->td->nf,
	    .seed = c->o->train.seed,
	    .test_fraction = c->o->train.test_fraction,
	    .stratify = c->o->train.stratify,
	    .data_file = c->td->data_file,
	    .data_sha256 = c->td->data_sha256,
	    .train_rows = c->td->ntr,
	    .test_rows = c->td->nte,
	};

	return l;
}

static wq_status log_trial_body(const flow_ctx *c, const wq_hpo_trial *t, const char *id, char *err,
                                size_t errlen)
{
	wq_registry *r = c->r;
	wq_runrecord_lineage l = flow_lineage(c);
	int rc = wq_runrecord_svm_params(r, id, &t->params, err, errlen);

	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, id, "trial", (double)(t->index + 1), err, errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, id, "cv_folds", (double)c->o->hpo.cv_folds, err,
		                            errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_lineage_log(r, id, &l, err, errlen);
	if (rc == WQ_OK && t->status == WQ_HPO_TRIAL_OK) {
		rc = r->ops->metric_log(r, id, "accuracy", t->accuracy, 0, err, errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "balanced_accuracy", t->balanced_accuracy, 0,
			                        err, errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "f1_macro", t->f1_macro, 0, err, errlen);
	}
	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "fit_seconds", t->seconds, 0, err, errlen);
	if (rc == WQ_OK)
		rc =
		    r->ops->tag_set(r, id, WQ_RUNRECORD_TAG_FLOW, wq_flow_id(c->flow), err, errlen);
	if (rc == WQ_OK && t->status != WQ_HPO_TRIAL_OK)
		rc = r->ops->tag_set(r, id, "error", t->error, err, errlen);
	return rc;
}

/* One trial as a run whose start and end are the trial's own (measured where it ran), not the
 * time it is logged. */
static wq_status log_trial(const flow_ctx *c, const wq_hpo_trial *t, char *id, char *err,
                           size_t errlen)
{
	wq_registry *r = c->r;
	char name[32], ignore[256];
	int rc;

	snprintf(name, sizeof(name), "trial-%03zu", t->index + 1);
	rc = r->ops->run_start(r, c->o->trials_experiment, name, t->start_ms, id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = log_trial_body(c, t, id, err, errlen);
	if (rc != WQ_OK) {
		/* a FAILED record beats a run left RUNNING forever */
		r->ops->run_end(r, id, WQ_RUN_FAILED, t->end_ms, ignore, sizeof(ignore));
		return rc;
	}
	return r->ops->run_end(r, id,
	                       t->status == WQ_HPO_TRIAL_OK ? WQ_RUN_FINISHED : WQ_RUN_FAILED,
	                       t->end_ms, err, errlen);
}

static wq_status task_log_trials(void *arg, const void *input, size_t inlen, void **output,
                                 size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	size_t n = c->ntrials;
	char *ids = calloc(n, WQ_RUN_ID_LEN + 1);
	int rc = WQ_OK;

	(void)input;
	(void)inlen;
	if (ids == NULL)
		return wq_nomem(err, errlen);
	for (size_t i = 0; i < n && rc == WQ_OK; i++)
		rc = log_trial(c, &c->trials[i], ids + i * (WQ_RUN_ID_LEN + 1), err, errlen);
	if (rc != WQ_OK) {
		free(ids);
		return rc;
	}
	wq_flow_log(c->flow, wq_flow_task_current(c->flow),
	            "logged %zu trial runs to experiment %s", n, c->o->trials_experiment);
	*output = ids;
	*outlen = n * (WQ_RUN_ID_LEN + 1);
	return WQ_OK;
}

/* --- retrain ---------------------------------------------------------------------------------- */

static wq_status task_retrain(void *arg, const void *input, size_t inlen, void **output,
                              size_t *outlen, char *err, size_t errlen)
{
	retrain_arg *a = arg;
	const flow_ctx *c = a->c;
	wq_svm_params p = a->trial->params;
	wq_bundle *b = NULL;
	retrain_out res;
	wq_runrecord_opts ro = {.flow_run_id = wq_flow_id(c->flow)};
	char dir[4096], name[64];
	const char *tmp = getenv("TMPDIR");
	int64_t t0;
	int rc;

	(void)input;
	(void)inlen;
	memset(&res, 0, sizeof(res));
	p.probability = c->o->train.svm.probability;
	/* the run covers the fit, not only its logging */
	ro.start_ms = (int64_t)wq_clock_unix_ms();
	t0 = wq_clock_mono_ns();
	rc = wq_train_fit(&c->o->train, c->td, &p, &b, err, errlen);
	if (rc != WQ_OK)
		return rc;
	ro.fit_seconds = (double)(wq_clock_mono_ns() - t0) * 1e-9;
	snprintf(dir, sizeof(dir), "%s/wineq-flow-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		wq_bundle_free(b);
		return wq_err_set(err, errlen, WQ_EIO, "cannot create a scratch directory");
	}
	rc = wq_bundle_save(b, dir, 1, err, errlen);
	snprintf(name, sizeof(name), "best-%zu", a->rank + 1);
	if (rc == WQ_OK)
		rc = wq_runrecord_bundle_ex(c->r, c->o->best_experiment, name, b, dir, &ro,
		                            res.run_id, err, errlen);
	wq_file_rmtree(dir, NULL, 0);
	if (rc == WQ_OK) {
		res.accuracy = b->test_metrics->accuracy;
		res.balanced_accuracy = b->test_metrics->balanced_accuracy;
		res.f1_macro = b->test_metrics->f1_macro;
		wq_flow_log(
		    c->flow, wq_flow_task_current(c->flow),
		    "%s: trial %zu retrained in %.2f s, test balanced accuracy %.4f, run %s", name,
		    a->trial->index + 1, ro.fit_seconds, res.balanced_accuracy, res.run_id);
		rc = copy_out(&res, sizeof(res), output, outlen);
	}
	wq_bundle_free(b);
	return rc;
}

typedef struct register_arg {
	flow_ctx *c;
	const char *run_id;
	int64_t version;
} register_arg;

static wq_status task_register(void *arg, const void *input, size_t inlen, void **output,
                               size_t *outlen, char *err, size_t errlen)
{
	register_arg *a = arg;
	wq_registry *r = a->c->r;
	const wq_trainflow_opts *o = a->c->o;
	int rc;

	(void)input;
	(void)inlen;
	rc = r->ops->version_create(r, o->register_name, NULL, a->run_id, "model", NULL,
	                            &a->version, err, errlen);
	if (rc == WQ_OK && o->promote_stage >= 0)
		rc = r->ops->version_transition(r, o->register_name, a->version, o->promote_stage,
		                                1, NULL, err, errlen);
	if (rc == WQ_OK && o->alias != NULL)
		rc =
		    r->ops->alias_set(r, o->register_name, o->alias, a->version, NULL, err, errlen);
	if (rc == WQ_OK) {
		wq_flow_log(a->c->flow, wq_flow_task_current(a->c->flow),
		            "registered %s/%" PRId64 " from run %s", o->register_name, a->version,
		            a->run_id);
		rc = copy_out(&a->version, sizeof(a->version), output, outlen);
	}
	return rc;
}

/* --- the flow ----------------------------------------------------------------------------------
 */

static wq_status run_tasks(flow_ctx *c, wq_trainflow_result *res, char *err, size_t errlen)
{
	const wq_trainflow_opts *o = c->o;
	wq_task_def search = {.name = "search", .version = SEARCH_VERSION, .cache = 1};
	wq_task_def logt = {.name = "log-trials", .version = LOG_TRIALS_VERSION, .cache = 1};
	char input[8192], key[512], trials_sha[WQ_SHA256_HEXLEN];
	void *out = NULL;
	size_t outlen = 0, *order = NULL, k;
	double best = -1.0;
	int rc;

	rc = search_input(c, input, sizeof(input));
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "search description too long");
	rc = wq_flow_task_run(c->flow, &search, input, strlen(input), task_search, c, &out, &outlen,
	                      NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (outlen != o->hpo.trials * sizeof(wq_hpo_trial)) {
		free(out);
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "cached search result has the wrong size");
	}
	c->trials = out;
	c->ntrials = o->hpo.trials;
	for (size_t i = 0; i < c->ntrials; i++)
		res->trials_ok += c->trials[i].status == WQ_HPO_TRIAL_OK;
	if (res->trials_ok == 0)
		return wq_err_set(err, errlen, WQ_ESVM, "every trial failed (first: %s)",
		                  c->trials[0].error);

	/* what follows depends on the search result, named by its digest */
	wq_sha256_buf_hex(c->trials, outlen, trials_sha);
	snprintf(key, sizeof(key), "trials=%s;experiment=%s", trials_sha, o->trials_experiment);
	out = NULL;
	rc = wq_flow_task_run(c->flow, &logt, key, strlen(key), task_log_trials, c, &out, &outlen,
	                      NULL, err, errlen);
	free(out);
	if (rc != WQ_OK)
		return rc;

	order = malloc(c->ntrials * sizeof(*order));
	if (order == NULL)
		return wq_nomem(err, errlen);
	wq_hpo_rank(c->trials, c->ntrials, order);
	k = o->best_k < res->trials_ok ? o->best_k : res->trials_ok;
	for (size_t i = 0; i < k; i++) {
		char tname[32], rinput[512];
		wq_task_def def = {.name = tname,
		                   .version = RETRAIN_VERSION,
		                   .cache = 1,
		                   .max_retries = o->retries,
		                   .backoff_s = o->backoff_s};
		retrain_arg ra = {.c = c, .trial = &c->trials[order[i]], .rank = i};
		const retrain_out *ro;

		snprintf(tname, sizeof(tname), "retrain-%zu", i + 1);
		snprintf(rinput, sizeof(rinput),
		         "trials=%s;trial=%zu;probability=%d;decision=%d;experiment=%s", trials_sha,
		         ra.trial->index, o->train.svm.probability, o->train.decision,
		         o->best_experiment);
		out = NULL;
		rc = wq_flow_task_run(c->flow, &def, rinput, strlen(rinput), task_retrain, &ra,
		                      &out, &outlen, NULL, err, errlen);
		if (rc == WQ_OK && outlen != sizeof(retrain_out))
			rc = wq_err_set(err, errlen, WQ_ECORRUPT,
			                "cached retrain result has the wrong size");
		if (rc != WQ_OK) {
			free(out);
			break;
		}
		ro = out;
		/* strictly better only: ties keep the better-ranked trial */
		if (ro->balanced_accuracy > best) {
			best = ro->balanced_accuracy;
			memcpy(res->best_run_id, ro->run_id, sizeof(res->best_run_id));
			res->best_params = ra.trial->params;
			res->accuracy = ro->accuracy;
			res->balanced_accuracy = ro->balanced_accuracy;
			res->f1_macro = ro->f1_macro;
		}
		free(out);
	}
	free(order);
	if (rc != WQ_OK)
		return rc;

	if (o->register_name != NULL) {
		wq_task_def def = {.name = "register",
		                   .version = "1",
		                   .cache = 0,
		                   .max_retries = o->retries,
		                   .backoff_s = o->backoff_s};
		register_arg ra = {.c = c, .run_id = res->best_run_id};

		out = NULL;
		rc = wq_flow_task_run(c->flow, &def, res->best_run_id, strlen(res->best_run_id),
		                      task_register, &ra, &out, &outlen, NULL, err, errlen);
		free(out);
		if (rc != WQ_OK)
			return rc;
		res->version = ra.version;
	}
	return WQ_OK;
}

wq_status wq_trainflow_run(wq_registry *r, wq_db *db, const wq_trainflow_opts *o,
                           wq_trainflow_result *out, char *err, size_t errlen)
{
	flow_ctx c = {.r = r, .o = o};
	wq_trainflow_result res;
	char params[512], ignore[256];
	int rc, rc2;

	if (r == NULL || db == NULL || o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_trainflow_run: NULL argument");
	memset(&res, 0, sizeof(res));
	snprintf(params, sizeof(params),
	         "{\"data\": \"%s\", \"trials\": %zu, \"seed\": %" PRIu64 ", \"best_k\": %zu}",
	         o->train.data_path, o->hpo.trials, o->train.seed, o->best_k);
	rc = wq_flow_start(db, "train", params, &c.flow, err, errlen);
	if (rc != WQ_OK)
		return rc;
	memcpy(res.flow_id, wq_flow_id(c.flow), sizeof(res.flow_id));
	{
		/* loading, validating, splitting and scaling is quick: always done, never cached */
		wq_task_def prep = {.name = "prepare-data", .version = "1", .cache = 0};
		void *sum = NULL;
		size_t sumlen = 0;

		rc = wq_flow_task_run(c.flow, &prep, o->train.data_path, strlen(o->train.data_path),
		                      task_prepare, &c, &sum, &sumlen, NULL, err, errlen);
		free(sum);
	}
	if (rc == WQ_OK)
		rc = run_tasks(&c, &res, err, errlen);
	if (rc != WQ_OK)
		wq_flow_log(c.flow, NULL, "flow failed: %s", err != NULL ? err : wq_strerror(rc));
	rc2 = wq_flow_end(c.flow, rc, rc == WQ_OK ? err : ignore,
	                  rc == WQ_OK ? errlen : sizeof(ignore));
	if (rc == WQ_OK)
		rc = rc2;
	free(c.trials);
	wq_train_data_free(c.td);
	if (rc != WQ_OK)
		return rc;
	*out = res;
	return WQ_OK;
}
