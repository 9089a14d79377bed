/* The remote registry: every wq_registry_ops operation as a call of the wineq.v1.Registry
 * service (wq_registry_server in wineqd) over wq_rpc. Status codes are mapped back with
 * wq_rpc_status_from_code, so callers see the WQ_E* the local store gives; read-only calls are
 * idempotent (retried on UNAVAILABLE). Files travel whole inside messages (wq_registry_wire):
 * uploads are split over several calls, downloads continue with follow-up calls for the files
 * a reply had no room for; every file is checked against its SHA-256 and size.
 *
 * Bundles resolved from the server land in the cache layout of the local registry,
 * $WINEQ_HOME/cache/<SHA-256 of MANIFEST.json>/, verified (wq_bundle_load, manifest digest);
 * an entry already there that verifies is used without downloading again.
 *
 * Environment: WINEQ_RPC_TIMEOUT_MS (the budget of a call, retries included), and for tls+tcp://
 * URIs WINEQ_TLS_CA_FILE (required), WINEQ_TLS_CERT_FILE + WINEQ_TLS_KEY_FILE (client certificate),
 * and WINEQ_TLS_SERVER_NAME (default: the URI's host). */
#include "registry/wq_registry.h"

#include "registry/wq_bundlecache.h"

#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_name.h"
#include "rpc/wq_registry_wire.h"
#include "rpc/wq_rpc_client.h"
#include "rpc/wq_rpc_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RPC_METHOD(name) "wineq.v1.Registry/" name
#define MAX_PATHS_PER_GO 1000 /* paths named in one follow-up download */

typedef struct remote {
	wq_rpc_client *client;
	wq_bundlecache *cache; /* fetched bundles, below <home>/cache */
} remote;

static remote *remote_of(wq_registry *r)
{
	return r->impl;
}

/* One call; on WQ_OK *resp is the unpacked reply (protobuf_c_message_free_unpacked). Codes
 * become the WQ_E* of the local store (exactly, with the status tag of wq_registry_wire.h);
 * transport failures say the server is unavailable. */
static wq_status call(wq_registry *r, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *desc, int idempotent,
                      ProtobufCMessage **resp, char *err, size_t errlen)
{
	char msg[1024] = "";
	int status, code = wq_rpc_client_call(remote_of(r)->client, method, req, desc, idempotent,
	                                      NULL, resp, msg, sizeof(msg));

	if (code == WQ_RPC_OK)
		return WQ_OK;
	if (code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED)
		return wq_err_set(err, errlen, WQ_EIO, "registry server %s is unavailable (%s): %s",
		                  r->config.tracking_uri, wq_rpc_code_name(code), msg);
	status = wq_registry_wire_status_of_reply(code, msg);
	/* no local status says "who are you" or "not allowed": keep the code in the message */
	if (code == WQ_RPC_UNAUTHENTICATED || code == WQ_RPC_PERMISSION_DENIED)
		return wq_err_set(err, errlen, status, "%s: %s", wq_rpc_code_name(code), msg);
	if (msg[0] == '\0')
		return wq_err_set(err, errlen, status, "%s from %s", wq_rpc_code_name(code),
		                  r->config.tracking_uri);
	return wq_err_set(err, errlen, status, "%s", msg);
}

#define CALL(r, name, req, type, idem, out, err, errlen)                                           \
	call((r), RPC_METHOD(name), &(req)->base, &type##__descriptor, (idem), (out), (err),       \
	     (errlen))

static void drop(ProtobufCMessage *m)
{
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* A call that changes something and whose reply carries nothing more than success. */
static wq_status call_done(wq_registry *r, const char *method, const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *desc, char *err, size_t errlen)
{
	ProtobufCMessage *m = NULL;
	wq_status rc = call(r, method, req, desc, 0, &m, err, errlen);

	drop(m);
	return rc;
}

#define CALL_DONE(r, name, req, type, err, errlen)                                                 \
	call_done((r), RPC_METHOD(name), &(req)->base, &type##__descriptor, (err), (errlen))

/* --- tracking -------------------------------------------------------------------------- */

static wq_status r_experiment_list(wq_registry *r, wq_experiment ***out, size_t *n, char *err,
                                   size_t errlen)
{
	Wineq__V1__ListExperimentsRequest req = WINEQ__V1__LIST_EXPERIMENTS_REQUEST__INIT;
	Wineq__V1__ListExperimentsResponse *resp;
	ProtobufCMessage *m = NULL;
	wq_experiment **v;
	size_t i;
	int rc = CALL(r, "ListExperiments", &req, wineq__v1__list_experiments_response, 1, &m, err,
	              errlen);

	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__ListExperimentsResponse *)m;
	v = calloc(resp->n_experiments > 0 ? resp->n_experiments : 1, sizeof(*v));
	if (v == NULL)
		rc = wq_nomem(err, errlen);
	for (i = 0; rc == WQ_OK && i < resp->n_experiments; i++)
		rc = wq_registry_wire_experiment_from(resp->experiments[i], &v[i], err, errlen);
	if (rc != WQ_OK) {
		wq_experiments_free(v, i);
	} else {
		*out = v;
		*n = resp->n_experiments;
	}
	drop(m);
	return rc;
}

static wq_status r_run_start(wq_registry *r, const char *experiment, const char *run_name,
                             int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen)
{
	Wineq__V1__StartRunRequest req = WINEQ__V1__START_RUN_REQUEST__INIT;
	Wineq__V1__StartRunResponse *resp;
	ProtobufCMessage *m = NULL;
	int rc;

	req.experiment = wq_registry_wire_str(experiment);
	req.run_name = wq_registry_wire_str(run_name);
	req.start_unix_ms = start_ms;
	rc = CALL(r, "StartRun", &req, wineq__v1__start_run_response, 0, &m, err, errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__StartRunResponse *)m;
	if (strlen(resp->run_id) != WQ_RUN_ID_LEN)
		rc = wq_err_set(err, errlen, WQ_EFORMAT,
		                "malformed run id from the registry server");
	else
		memcpy(id, resp->run_id, WQ_RUN_ID_LEN + 1);
	drop(m);
	return rc;
}

static wq_status r_run_end(wq_registry *r, const char *run_id, int status, int64_t end_ms,
                           char *err, size_t errlen)
{
	Wineq__V1__EndRunRequest req = WINEQ__V1__END_RUN_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	req.status = (Wineq__V1__RunStatus)status;
	req.end_unix_ms = end_ms;
	return CALL_DONE(r, "EndRun", &req, wineq__v1__end_run_response, err, errlen);
}

static wq_status r_param_log(wq_registry *r, const char *run_id, const char *key, const char *value,
                             char *err, size_t errlen)
{
	Wineq__V1__LogParamRequest req = WINEQ__V1__LOG_PARAM_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	req.key = wq_registry_wire_str(key);
	req.value = wq_registry_wire_str(value);
	return CALL_DONE(r, "LogParam", &req, wineq__v1__log_param_response, err, errlen);
}

static wq_status r_metric_log(wq_registry *r, const char *run_id, const char *key, double value,
                              int64_t step, char *err, size_t errlen)
{
	Wineq__V1__LogMetricRequest req = WINEQ__V1__LOG_METRIC_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	req.key = wq_registry_wire_str(key);
	req.value = value;
	req.step = step;
	return CALL_DONE(r, "LogMetric", &req, wineq__v1__log_metric_response, err, errlen);
}

static wq_status r_tag_set(wq_registry *r, const char *run_id, const char *key, const char *value,
                           char *err, size_t errlen)
{
	Wineq__V1__SetTagRequest req = WINEQ__V1__SET_TAG_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	req.key = wq_registry_wire_str(key);
	req.value = wq_registry_wire_str(value);
	return CALL_DONE(r, "SetTag", &req, wineq__v1__set_tag_response, err, errlen);
}

/* Uploads files[from, to) of local_dir in one UploadArtifacts call. */
static wq_status upload_batch(wq_registry *r, const char *run_id, const char *artifact_path,
                              const char *local_dir, const wq_artifact_file *files, size_t from,
                              size_t to, char *err, size_t errlen)
{
	Wineq__V1__UploadArtifactsRequest req = WINEQ__V1__UPLOAD_ARTIFACTS_REQUEST__INIT;
	wq_registry_wire_arena a = {0};
	ProtobufCMessage *m = NULL;
	int rc = WQ_OK;

	req.run_id = wq_registry_wire_str(run_id);
	req.artifact_path = wq_registry_wire_str(artifact_path);
	if (to > from) {
		req.files = wq_registry_wire_alloc(&a, (to - from) * sizeof(*req.files));
		if (req.files == NULL)
			rc = wq_nomem(err, errlen);
	}
	for (size_t i = from; rc == WQ_OK && i < to; i++)
		rc = wq_registry_wire_file_load(&a, local_dir, files[i].path, 1,
		                                &req.files[req.n_files++], err, errlen);
	if (rc == WQ_OK)
		rc = CALL(r, "UploadArtifacts", &req, wineq__v1__upload_artifacts_response, 0, &m,
		          err, errlen);
	drop(m);
	wq_registry_wire_arena_free(&a);
	return rc;
}

static wq_status r_artifacts_log_dir(wq_registry *r, const char *run_id, const char *artifact_path,
                                     const char *local_dir, char *err, size_t errlen)
{
	wq_artifact_file *files = NULL;
	size_t n = 0, from = 0, used = 0;
	int rc;

	rc = wq_name_check_path("artifact path", artifact_path, err, errlen);
	if (rc == WQ_OK)
		rc = wq_registry_wire_tree_list(local_dir, &files, &n, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* as many files per call as fit one message; an empty tree still asks once, so a
	 * missing run is reported as the local store would */
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		size_t cost =
		    (size_t)files[i].size + WQ_REGISTRY_WIRE_FILE_OVERHEAD(strlen(files[i].path));

		if (i > from && used + cost > WQ_REGISTRY_WIRE_BUDGET) {
			rc = upload_batch(r, run_id, artifact_path, local_dir, files, from, i, err,
			                  errlen);
			from = i;
			used = 0;
		}
		used += cost;
	}
	if (rc == WQ_OK)
		rc = upload_batch(r, run_id, artifact_path, local_dir, files, from, n, err, errlen);
	wq_artifact_files_free(files, n);
	return rc;
}

static wq_status r_run_get(wq_registry *r, const char *run_id, wq_run **out, char *err,
                           size_t errlen)
{
	Wineq__V1__GetRunRequest req = WINEQ__V1__GET_RUN_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc;

	req.run_id = wq_registry_wire_str(run_id);
	rc = CALL(r, "GetRun", &req, wineq__v1__get_run_response, 1, &m, err, errlen);
	if (rc == WQ_OK)
		rc = wq_registry_wire_run_from(((Wineq__V1__GetRunResponse *)m)->run, out, err,
		                               errlen);
	drop(m);
	return rc;
}

static wq_status r_metric_history(wq_registry *r, const char *run_id, const char *key,
                                  wq_run_metric **out, size_t *n, char *err, size_t errlen)
{
	Wineq__V1__GetMetricHistoryRequest req = WINEQ__V1__GET_METRIC_HISTORY_REQUEST__INIT;
	Wineq__V1__GetMetricHistoryResponse *resp;
	ProtobufCMessage *m = NULL;
	int rc;

	req.run_id = wq_registry_wire_str(run_id);
	req.key = wq_registry_wire_str(key);
	rc = CALL(r, "GetMetricHistory", &req, wineq__v1__get_metric_history_response, 1, &m, err,
	          errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__GetMetricHistoryResponse *)m;
	rc = wq_registry_wire_metrics_from(resp->metrics, resp->n_metrics, out, err, errlen);
	if (rc == WQ_OK)
		*n = resp->n_metrics;
	drop(m);
	return rc;
}

static wq_status r_runs_search(wq_registry *r, const char *const *experiments, size_t nexp,
                               const char *filter, const char *order_by, size_t max_results,
                               const char *page_token, wq_run ***out, size_t *n, char **next_token,
                               char *err, size_t errlen)
{
	Wineq__V1__SearchRunsRequest req = WINEQ__V1__SEARCH_RUNS_REQUEST__INIT;
	Wineq__V1__SearchRunsResponse *resp;
	ProtobufCMessage *m = NULL;
	wq_run **v = NULL;
	char *next = NULL;
	size_t i = 0;
	int rc;

	if (max_results > INT64_MAX)
		return wq_err_set(err, errlen, WQ_ERANGE, "max_results out of range");
	req.experiments = (char **)experiments;
	req.n_experiments = experiments != NULL ? nexp : 0;
	req.filter = wq_registry_wire_str(filter);
	req.order_by = wq_registry_wire_str(order_by);
	req.max_results = (int64_t)max_results;
	req.page_token = wq_registry_wire_str(page_token);
	rc = CALL(r, "SearchRuns", &req, wineq__v1__search_runs_response, 1, &m, err, errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__SearchRunsResponse *)m;
	v = calloc(resp->n_runs > 0 ? resp->n_runs : 1, sizeof(*v));
	if (v == NULL)
		rc = wq_nomem(err, errlen);
	for (; rc == WQ_OK && i < resp->n_runs; i++)
		rc = wq_registry_wire_run_from(resp->runs[i], &v[i], err, errlen);
	if (rc == WQ_OK && resp->next_page_token[0] != '\0' &&
	    (next = strdup(resp->next_page_token)) == NULL)
		rc = wq_nomem(err, errlen);
	if (rc != WQ_OK) {
		wq_runs_free(v, i);
	} else {
		*out = v;
		*n = resp->n_runs;
		*next_token = next;
	}
	drop(m);
	return rc;
}

static wq_status r_run_delete(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	Wineq__V1__DeleteRunRequest req = WINEQ__V1__DELETE_RUN_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	return CALL_DONE(r, "DeleteRun", &req, wineq__v1__delete_run_response, err, errlen);
}

static wq_status r_run_restore(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	Wineq__V1__RestoreRunRequest req = WINEQ__V1__RESTORE_RUN_REQUEST__INIT;

	req.run_id = wq_registry_wire_str(run_id);
	return CALL_DONE(r, "RestoreRun", &req, wineq__v1__restore_run_response, err, errlen);
}

/* --- models ---------------------------------------------------------------------------- */

static wq_status r_model_list(wq_registry *r, wq_registered_model ***out, size_t *n, char *err,
                              size_t errlen)
{
	Wineq__V1__ListRegisteredModelsRequest req =
	    WINEQ__V1__LIST_REGISTERED_MODELS_REQUEST__INIT;
	Wineq__V1__ListRegisteredModelsResponse *resp;
	ProtobufCMessage *m = NULL;
	wq_registered_model **v;
	size_t i;
	int rc = CALL(r, "ListRegisteredModels", &req, wineq__v1__list_registered_models_response,
	              1, &m, err, errlen);

	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__ListRegisteredModelsResponse *)m;
	v = calloc(resp->n_models > 0 ? resp->n_models : 1, sizeof(*v));
	if (v == NULL)
		rc = wq_nomem(err, errlen);
	for (i = 0; rc == WQ_OK && i < resp->n_models; i++)
		rc = wq_registry_wire_model_from(resp->models[i], &v[i], err, errlen);
	if (rc != WQ_OK) {
		wq_registered_models_free(v, i);
	} else {
		*out = v;
		*n = resp->n_models;
	}
	drop(m);
	return rc;
}

static wq_status r_model_get(wq_registry *r, const char *name, wq_registered_model **out, char *err,
                             size_t errlen)
{
	Wineq__V1__GetRegisteredModelRequest req = WINEQ__V1__GET_REGISTERED_MODEL_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc;

	req.name = wq_registry_wire_str(name);
	rc = CALL(r, "GetRegisteredModel", &req, wineq__v1__get_registered_model_response, 1, &m,
	          err, errlen);
	if (rc == WQ_OK)
		rc = wq_registry_wire_model_from(
		    ((Wineq__V1__GetRegisteredModelResponse *)m)->model, out, err, errlen);
	drop(m);
	return rc;
}

static wq_status r_version_list(wq_registry *r, const char *name, wq_model_version ***out,
                                size_t *n, char *err, size_t errlen)
{
	Wineq__V1__ListModelVersionsRequest req = WINEQ__V1__LIST_MODEL_VERSIONS_REQUEST__INIT;
	Wineq__V1__ListModelVersionsResponse *resp;
	ProtobufCMessage *m = NULL;
	wq_model_version **v;
	size_t i;
	int rc;

	req.name = wq_registry_wire_str(name);
	rc = CALL(r, "ListModelVersions", &req, wineq__v1__list_model_versions_response, 1, &m, err,
	          errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__ListModelVersionsResponse *)m;
	v = calloc(resp->n_versions > 0 ? resp->n_versions : 1, sizeof(*v));
	if (v == NULL)
		rc = wq_nomem(err, errlen);
	for (i = 0; rc == WQ_OK && i < resp->n_versions; i++)
		rc = wq_registry_wire_version_from(resp->versions[i], &v[i], err, errlen);
	if (rc != WQ_OK) {
		wq_model_versions_free(v, i);
	} else {
		*out = v;
		*n = resp->n_versions;
	}
	drop(m);
	return rc;
}

static wq_status r_version_get(wq_registry *r, const char *name, int64_t version,
                               wq_model_version **out, char *err, size_t errlen)
{
	Wineq__V1__GetModelVersionRequest req = WINEQ__V1__GET_MODEL_VERSION_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rc;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	rc = CALL(r, "GetModelVersion", &req, wineq__v1__get_model_version_response, 1, &m, err,
	          errlen);
	if (rc == WQ_OK)
		rc = wq_registry_wire_version_from(
		    ((Wineq__V1__GetModelVersionResponse *)m)->version, out, err, errlen);
	drop(m);
	return rc;
}

/* Every file of a local bundle directory, with content, for one CreateModelVersion message. */
static wq_status bundle_files(wq_registry_wire_arena *a, const char *bundle_dir,
                              Wineq__V1__BundleFiles *bf, char *err, size_t errlen)
{
	wq_artifact_file *files = NULL;
	size_t n = 0, used = 0;
	int rc = wq_registry_wire_tree_list(bundle_dir, &files, &n, err, errlen);

	if (rc != WQ_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		used +=
		    (size_t)files[i].size + WQ_REGISTRY_WIRE_FILE_OVERHEAD(strlen(files[i].path));
	if (used > WQ_REGISTRY_WIRE_BUDGET) {
		rc = wq_err_set(err, errlen, WQ_ERANGE,
		                "bundle %s takes %zu bytes, more than the %zu a registry message "
		                "carries: log it as a run's artifacts and register it from the run",
		                bundle_dir, used, WQ_REGISTRY_WIRE_BUDGET);
		goto out;
	}
	bf->files = wq_registry_wire_alloc(a, (n > 0 ? n : 1) * sizeof(*bf->files));
	if (bf->files == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		rc = wq_registry_wire_file_load(a, bundle_dir, files[i].path, 1,
		                                &bf->files[bf->n_files++], err, errlen);
out:
	wq_artifact_files_free(files, n);
	return rc;
}

static wq_status r_version_create(wq_registry *r, const char *name, const char *bundle_dir,
                                  const char *run_id, const char *artifact_path, const char *actor,
                                  int64_t *version, char *err, size_t errlen)
{
	Wineq__V1__CreateModelVersionRequest req = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__INIT;
	Wineq__V1__BundleFiles bf = WINEQ__V1__BUNDLE_FILES__INIT;
	wq_registry_wire_arena a = {0};
	ProtobufCMessage *m = NULL;
	wq_bundle *b = NULL;
	int rc;

	/* what the server would refuse is refused here first, before any bytes travel */
	rc = wq_name_check("model name", name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	req.name = wq_registry_wire_str(name);
	req.run_id = wq_registry_wire_str(run_id);
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	if (bundle_dir == NULL) {
		if (run_id == NULL || artifact_path == NULL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "give a bundle directory or a run and its artifact path");
		req.source_case = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_ARTIFACT_PATH;
		req.artifact_path = wq_registry_wire_str(artifact_path);
	} else {
		rc = wq_bundle_load(bundle_dir, 0, &b, err, errlen);
		wq_bundle_free(b);
		if (rc == WQ_OK)
			rc = bundle_files(&a, bundle_dir, &bf, err, errlen);
		if (rc != WQ_OK)
			goto out;
		req.source_case = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_BUNDLE;
		req.bundle = &bf;
	}
	rc = CALL(r, "CreateModelVersion", &req, wineq__v1__create_model_version_response, 0, &m,
	          err, errlen);
	if (rc == WQ_OK)
		*version = ((Wineq__V1__CreateModelVersionResponse *)m)->version;
out:
	drop(m);
	wq_registry_wire_arena_free(&a);
	return rc;
}

static wq_status r_version_transition(wq_registry *r, const char *name, int64_t version, int stage,
                                      int archive_existing, const char *actor, char *err,
                                      size_t errlen)
{
	Wineq__V1__TransitionStageRequest req = WINEQ__V1__TRANSITION_STAGE_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.stage = (Wineq__V1__Stage)stage;
	req.archive_existing_versions = archive_existing != 0;
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "TransitionStage", &req, wineq__v1__transition_stage_response, err,
	                 errlen);
}

static wq_status r_alias_set(wq_registry *r, const char *name, const char *alias, int64_t version,
                             const char *actor, char *err, size_t errlen)
{
	Wineq__V1__SetAliasRequest req = WINEQ__V1__SET_ALIAS_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.alias = wq_registry_wire_str(alias);
	req.version = version;
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "SetAlias", &req, wineq__v1__set_alias_response, err, errlen);
}

static wq_status r_alias_delete(wq_registry *r, const char *name, const char *alias,
                                const char *actor, char *err, size_t errlen)
{
	Wineq__V1__DeleteAliasRequest req = WINEQ__V1__DELETE_ALIAS_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.alias = wq_registry_wire_str(alias);
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "DeleteAlias", &req, wineq__v1__delete_alias_response, err, errlen);
}

static wq_status r_history(wq_registry *r, const char *name, wq_model_event **out, size_t *n,
                           char *err, size_t errlen)
{
	Wineq__V1__GetModelHistoryRequest req = WINEQ__V1__GET_MODEL_HISTORY_REQUEST__INIT;
	Wineq__V1__GetModelHistoryResponse *resp;
	ProtobufCMessage *m = NULL;
	int rc;

	req.name = wq_registry_wire_str(name);
	rc = CALL(r, "GetModelHistory", &req, wineq__v1__get_model_history_response, 1, &m, err,
	          errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__GetModelHistoryResponse *)m;
	rc = wq_registry_wire_events_from(resp->events, resp->n_events, out, err, errlen);
	if (rc == WQ_OK)
		*n = resp->n_events;
	drop(m);
	return rc;
}

static wq_status r_version_delete(wq_registry *r, const char *name, int64_t version,
                                  const char *actor, char *err, size_t errlen)
{
	Wineq__V1__DeleteModelVersionRequest req = WINEQ__V1__DELETE_MODEL_VERSION_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "DeleteModelVersion", &req, wineq__v1__delete_model_version_response,
	                 err, errlen);
}

static wq_status r_version_restore(wq_registry *r, const char *name, int64_t version,
                                   const char *actor, char *err, size_t errlen)
{
	Wineq__V1__RestoreModelVersionRequest req = WINEQ__V1__RESTORE_MODEL_VERSION_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "RestoreModelVersion", &req, wineq__v1__restore_model_version_response,
	                 err, errlen);
}

static wq_status r_model_description_set(wq_registry *r, const char *name, int64_t version,
                                         const char *description, const char *actor, char *err,
                                         size_t errlen)
{
	Wineq__V1__SetModelDescriptionRequest req = WINEQ__V1__SET_MODEL_DESCRIPTION_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.description = wq_registry_wire_str(description);
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "SetModelDescription", &req, wineq__v1__set_model_description_response,
	                 err, errlen);
}

static wq_status r_model_tag_set(wq_registry *r, const char *name, int64_t version, const char *key,
                                 const char *value, const char *actor, char *err, size_t errlen)
{
	Wineq__V1__SetModelTagRequest req = WINEQ__V1__SET_MODEL_TAG_REQUEST__INIT;

	/* proto3 has no null string: refused here as the local store refuses it */
	if (value == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "tag '%s' has no value",
		                  key != NULL ? key : "");
	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.key = wq_registry_wire_str(key);
	req.value = wq_registry_wire_str(value);
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "SetModelTag", &req, wineq__v1__set_model_tag_response, err, errlen);
}

static wq_status r_model_tag_delete(wq_registry *r, const char *name, int64_t version,
                                    const char *key, const char *actor, char *err, size_t errlen)
{
	Wineq__V1__DeleteModelTagRequest req = WINEQ__V1__DELETE_MODEL_TAG_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.version = version;
	req.key = wq_registry_wire_str(key);
	req.actor = wq_registry_wire_str(wq_registry_actor_or_user(actor));
	return CALL_DONE(r, "DeleteModelTag", &req, wineq__v1__delete_model_tag_response, err,
	                 errlen);
}

static wq_status r_experiment_delete(wq_registry *r, const char *name, char *err, size_t errlen)
{
	Wineq__V1__DeleteExperimentRequest req = WINEQ__V1__DELETE_EXPERIMENT_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	return CALL_DONE(r, "DeleteExperiment", &req, wineq__v1__delete_experiment_response, err,
	                 errlen);
}

static wq_status r_experiment_restore(wq_registry *r, const char *name, char *err, size_t errlen)
{
	Wineq__V1__RestoreExperimentRequest req = WINEQ__V1__RESTORE_EXPERIMENT_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	return CALL_DONE(r, "RestoreExperiment", &req, wineq__v1__restore_experiment_response, err,
	                 errlen);
}

static wq_status r_experiment_rename(wq_registry *r, const char *name, const char *new_name,
                                     char *err, size_t errlen)
{
	Wineq__V1__RenameExperimentRequest req = WINEQ__V1__RENAME_EXPERIMENT_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	req.new_name = wq_registry_wire_str(new_name);
	return CALL_DONE(r, "RenameExperiment", &req, wineq__v1__rename_experiment_response, err,
	                 errlen);
}

/* --- downloads ------------------------------------------------------------------------- */

/* One ResolveModelUri (resolve != 0) or DownloadArtifacts call. On WQ_OK *m owns the reply;
 * *files / *nfiles point into it, *version too (resolve only, may be NULL). */
static wq_status fetch_call(wq_registry *r, int resolve, const char *uri, char **paths,
                            size_t npaths, int metadata_only, ProtobufCMessage **m,
                            Wineq__V1__FileData ***files, size_t *nfiles,
                            Wineq__V1__ModelVersion **version, char *err, size_t errlen)
{
	int rc;

	if (resolve) {
		Wineq__V1__ResolveModelUriRequest req = WINEQ__V1__RESOLVE_MODEL_URI_REQUEST__INIT;
		Wineq__V1__ResolveModelUriResponse *resp;

		req.uri = wq_registry_wire_str(uri);
		req.paths = paths;
		req.n_paths = npaths;
		req.metadata_only = metadata_only != 0;
		rc = CALL(r, "ResolveModelUri", &req, wineq__v1__resolve_model_uri_response, 1, m,
		          err, errlen);
		if (rc != WQ_OK)
			return rc;
		resp = (Wineq__V1__ResolveModelUriResponse *)*m;
		*files = resp->files;
		*nfiles = resp->n_files;
		if (version != NULL)
			*version = resp->version;
	} else {
		Wineq__V1__DownloadArtifactsRequest req =
		    WINEQ__V1__DOWNLOAD_ARTIFACTS_REQUEST__INIT;
		Wineq__V1__DownloadArtifactsResponse *resp;

		req.uri = wq_registry_wire_str(uri);
		req.paths = paths;
		req.n_paths = npaths;
		req.metadata_only = metadata_only != 0;
		rc = CALL(r, "DownloadArtifacts", &req, wineq__v1__download_artifacts_response, 1,
		          m, err, errlen);
		if (rc != WQ_OK)
			return rc;
		resp = (Wineq__V1__DownloadArtifactsResponse *)*m;
		*files = resp->files;
		*nfiles = resp->n_files;
		if (version != NULL)
			*version = NULL;
	}
	return WQ_OK;
}

/* Checks a listing from the server: at most WQ_REGISTRY_WIRE_MAX_FILES well-formed entries. */
static wq_status listing_check(Wineq__V1__FileData *const *list, size_t n, char *err, size_t errlen)
{
	int rc = WQ_OK;

	if (n > WQ_REGISTRY_WIRE_MAX_FILES)
		return wq_err_set(err, errlen, WQ_EFORMAT, "the registry server listed %zu files",
		                  n);
	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		rc = wq_registry_wire_file_check(list[i], err, errlen);
	return rc;
}

/* Writes got (with content) below dir if it is what listing entry want announced. */
static wq_status write_checked(const char *dir, const Wineq__V1__FileData *want,
                               const Wineq__V1__FileData *got, char *err, size_t errlen)
{
	int rc = wq_registry_wire_file_check(got, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (got->content_omitted || got->size != want->size || strcmp(got->sha256, want->sha256))
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "%s: the registry server sent other bytes than it listed",
		                  got->path);
	return wq_registry_wire_file_write(dir, got, err, errlen);
}

/* Writes the files of listing below dir (which exists): those that came with content, then
 * the others, fetched by path with follow-up calls on uri. */
static wq_status fetch_files(wq_registry *r, int resolve, const char *uri,
                             Wineq__V1__FileData *const *list, size_t n, const char *dir, char *err,
                             size_t errlen)
{
	unsigned char *done = calloc(n > 0 ? n : 1, 1);
	char **paths = calloc(MAX_PATHS_PER_GO, sizeof(*paths));
	size_t *idx = calloc(MAX_PATHS_PER_GO, sizeof(*idx));
	size_t left = 0;
	int rc = WQ_OK;

	if (done == NULL || paths == NULL || idx == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		if (list[i]->content_omitted) {
			left++;
			continue;
		}
		rc = wq_registry_wire_file_write(dir, list[i], err, errlen);
		done[i] = 1;
	}
	while (rc == WQ_OK && left > 0) {
		ProtobufCMessage *m = NULL;
		Wineq__V1__FileData **got = NULL;
		size_t ngot = 0, np = 0, used = 0, progress = 0;

		for (size_t i = 0; i < n && np < MAX_PATHS_PER_GO; i++) {
			size_t cost = (size_t)list[i]->size +
			              WQ_REGISTRY_WIRE_FILE_OVERHEAD(strlen(list[i]->path));

			if (done[i] || (np > 0 && used + cost > WQ_REGISTRY_WIRE_BUDGET))
				continue;
			idx[np] = i;
			paths[np++] = list[i]->path;
			used += cost;
		}
		rc = fetch_call(r, resolve, uri, paths, np, 0, &m, &got, &ngot, NULL, err, errlen);
		for (size_t k = 0; rc == WQ_OK && k < ngot; k++) {
			size_t j = 0;

			if (got[k] == NULL || got[k]->content_omitted)
				continue;
			while (j < np && strcmp(wq_registry_wire_str(got[k]->path), paths[j]) != 0)
				j++;
			if (j == np || done[idx[j]])
				continue; /* not asked for (or twice): ignored */
			rc = write_checked(dir, list[idx[j]], got[k], err, errlen);
			done[idx[j]] = 1;
			progress++;
			left--;
		}
		drop(m);
		if (rc == WQ_OK && progress == 0)
			rc = wq_err_set(err, errlen, WQ_EIO,
			                "the registry server sent none of the %zu files asked for",
			                np);
	}
out:
	free(done);
	free(paths);
	free(idx);
	return rc;
}

static wq_status resolve_in_place(const char *path, char **bundle_dir, char *err, size_t errlen)
{
	wq_bundle *b = NULL;
	int rc = wq_bundle_load(path, 0, &b, err, errlen);

	wq_bundle_free(b);
	if (rc == WQ_OK && (*bundle_dir = strdup(path)) == NULL)
		rc = wq_nomem(err, errlen);
	return rc;
}

/* Downloads what the listing of uri names into a new cache entry (or finds it there). */
static wq_status resolve_fetch(wq_registry *r, const char *uri, const Wineq__V1__ModelVersion *ver,
                               Wineq__V1__FileData *const *list, size_t n, char **path, char *err,
                               size_t errlen)
{
	char tmp[4096], again[600];
	const char *sha = NULL, *from = uri;
	int rc = listing_check(list, n, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		if (strcmp(list[i]->path, WQ_BUNDLE_MANIFEST) == 0)
			sha = list[i]->sha256;
	if (rc != WQ_OK)
		return rc;
	if (sha == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s names no wineq bundle (no %s)", uri,
		                  WQ_BUNDLE_MANIFEST);
	if (ver != NULL && strcmp(wq_registry_wire_str(ver->sha256), sha) != 0)
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "%s: the bundle's %s has SHA-256 %s, the version records %s", uri,
		                  WQ_BUNDLE_MANIFEST, sha, wq_registry_wire_str(ver->sha256));
	if (wq_bundlecache_lookup(remote_of(r)->cache, sha, path, NULL, 0) == WQ_OK)
		return WQ_OK;
	rc = wq_bundlecache_tmp(remote_of(r)->cache, tmp, sizeof(tmp), 1, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* follow-ups name the version found, not a stage or alias that may move meanwhile */
	if (ver != NULL) {
		snprintf(again, sizeof(again), "models:/%s/%" PRId64,
		         wq_registry_wire_str(ver->name), ver->version);
		from = again;
	}
	rc = fetch_files(r, 1, from, list, n, tmp, err, errlen);
	if (rc != WQ_OK) {
		wq_registry_wire_rmtree(tmp);
		return rc;
	}
	return wq_bundlecache_adopt(remote_of(r)->cache, tmp, sha, path, err, errlen);
}

static wq_status r_resolve(wq_registry *r, const char *uri, char **bundle_dir,
                           wq_model_version **version, char *err, size_t errlen)
{
	Wineq__V1__FileData **list = NULL;
	Wineq__V1__ModelVersion *ver = NULL;
	ProtobufCMessage *m = NULL;
	wq_model_version *v = NULL;
	wq_model_uri u;
	char *path = NULL;
	size_t n = 0;
	int rc;

	rc = wq_model_uri_parse(uri, &u, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (u.kind == WQ_MODEL_URI_PATH) {
		/* a plain path is the client's own directory */
		rc = resolve_in_place(u.path, &path, err, errlen);
		wq_model_uri_clear(&u);
		return wq_registry_resolve_done(rc, path, NULL, bundle_dir, version);
	}
	wq_model_uri_clear(&u);
	/* the listing first: a bundle already in the cache is not downloaded again */
	rc = fetch_call(r, 1, uri, NULL, 0, 1, &m, &list, &n, &ver, err, errlen);
	if (rc == WQ_OK && ver != NULL)
		rc = wq_registry_wire_version_from(ver, &v, err, errlen);
	if (rc == WQ_OK)
		rc = resolve_fetch(r, uri, ver, list, n, &path, err, errlen);
	drop(m);
	return wq_registry_resolve_done(rc, path, v, bundle_dir, version);
}

static wq_status r_artifacts_get(wq_registry *r, const char *uri, const char *dest, char *err,
                                 size_t errlen)
{
	Wineq__V1__FileData **list = NULL;
	ProtobufCMessage *m = NULL;
	wq_model_uri u;
	size_t n = 0;
	int rc = wq_registry_artifacts_uri_parse(uri, dest, &u, err, errlen);

	if (rc != WQ_OK)
		return rc;
	wq_model_uri_clear(&u); /* the server parses it again */
	rc = fetch_call(r, 0, uri, NULL, 0, 0, &m, &list, &n, NULL, err, errlen);
	if (rc == WQ_OK)
		rc = listing_check(list, n, err, errlen);
	if (rc == WQ_OK)
		rc = wq_file_mkdir_p(dest, 0755, err, errlen);
	if (rc == WQ_OK) {
		rc = fetch_files(r, 0, uri, list, n, dest, err, errlen);
		if (rc != WQ_OK)
			wq_registry_wire_rmtree(dest); /* nothing half-downloaded is left behind */
	}
	drop(m);
	return rc;
}

static void r_close(wq_registry *r)
{
	remote *x = remote_of(r);

	if (x != NULL) {
		wq_rpc_client_close(x->client);
		wq_bundlecache_close(x->cache);
		free(x);
	}
	wq_config_clear(&r->config);
	free(r);
}

/* --- access tokens --------------------------------------------------------------------- */

static wq_status r_token_create(wq_registry *r, const char *name, int role, const char *model,
                                const char *actor, char token[WQ_TOKEN_LEN + 1], char *err,
                                size_t errlen)
{
	Wineq__V1__CreateTokenRequest req = WINEQ__V1__CREATE_TOKEN_REQUEST__INIT;
	Wineq__V1__CreateTokenResponse *resp;
	ProtobufCMessage *m = NULL;
	int rc;

	(void)actor; /* the server records the caller's identity */
	req.name = wq_registry_wire_str(name);
	req.role = (char *)wq_role_name(role);
	req.model = wq_registry_wire_str(model);
	rc = CALL(r, "CreateToken", &req, wineq__v1__create_token_response, 0, &m, err, errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__CreateTokenResponse *)m;
	if (resp->token == NULL || strlen(resp->token) != WQ_TOKEN_LEN)
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "the server sent a malformed token");
	else
		memcpy(token, resp->token, WQ_TOKEN_LEN + 1);
	if (resp->token != NULL)
		explicit_bzero(resp->token, strlen(resp->token));
	drop(m);
	return rc;
}

static wq_status r_token_list(wq_registry *r, int all, wq_token_info **out, size_t *n, char *err,
                              size_t errlen)
{
	Wineq__V1__ListTokensRequest req = WINEQ__V1__LIST_TOKENS_REQUEST__INIT;
	Wineq__V1__ListTokensResponse *resp;
	ProtobufCMessage *m = NULL;
	wq_token_info *v;
	int rc;

	req.all = all != 0;
	rc = CALL(r, "ListTokens", &req, wineq__v1__list_tokens_response, 1, &m, err, errlen);
	if (rc != WQ_OK)
		return rc;
	resp = (Wineq__V1__ListTokensResponse *)m;
	v = calloc(resp->n_tokens > 0 ? resp->n_tokens : 1, sizeof(*v));
	if (v == NULL) {
		drop(m);
		return wq_nomem(err, errlen);
	}
	for (size_t i = 0; rc == WQ_OK && i < resp->n_tokens; i++) {
		const Wineq__V1__TokenInfo *t = resp->tokens[i];

		snprintf(v[i].id, sizeof(v[i].id), "%s", t->id != NULL ? t->id : "");
		snprintf(v[i].name, sizeof(v[i].name), "%s", t->name != NULL ? t->name : "");
		if (wq_role_parse(t->role, &v[i].role) != WQ_OK)
			v[i].role = WQ_ROLE_NONE;
		v[i].model = strdup(t->model != NULL ? t->model : "");
		v[i].created_by = strdup(t->created_by != NULL ? t->created_by : "");
		v[i].created_ms = t->created_unix_ms;
		v[i].revoked_ms = t->revoked_unix_ms;
		if (v[i].model == NULL || v[i].created_by == NULL)
			rc = wq_nomem(err, errlen);
	}
	if (rc == WQ_OK) {
		*out = v;
		*n = resp->n_tokens;
	} else {
		wq_token_infos_free(v, resp->n_tokens);
	}
	drop(m);
	return rc;
}

static wq_status r_token_revoke(wq_registry *r, const char *name, char *err, size_t errlen)
{
	Wineq__V1__RevokeTokenRequest req = WINEQ__V1__REVOKE_TOKEN_REQUEST__INIT;

	req.name = wq_registry_wire_str(name);
	return CALL_DONE(r, "RevokeToken", &req, wineq__v1__revoke_token_response, err, errlen);
}

static const wq_registry_ops remote_ops = {
    .kind = "remote",
    .experiment_list = r_experiment_list,
    .run_start = r_run_start,
    .run_end = r_run_end,
    .param_log = r_param_log,
    .metric_log = r_metric_log,
    .tag_set = r_tag_set,
    .artifacts_log_dir = r_artifacts_log_dir,
    .run_get = r_run_get,
    .metric_history = r_metric_history,
    .runs_search = r_runs_search,
    .run_delete = r_run_delete,
    .model_list = r_model_list,
    .model_get = r_model_get,
    .version_list = r_version_list,
    .version_get = r_version_get,
    .version_create = r_version_create,
    .version_transition = r_version_transition,
    .alias_set = r_alias_set,
    .alias_delete = r_alias_delete,
    .history = r_history,
    .version_delete = r_version_delete,
    .run_restore = r_run_restore,
    .version_restore = r_version_restore,
    .resolve = r_resolve,
    .artifacts_get = r_artifacts_get,
    .close = r_close,
    .token_create = r_token_create,
    .token_list = r_token_list,
    .token_revoke = r_token_revoke,
    .model_description_set = r_model_description_set,
    .model_tag_set = r_model_tag_set,
    .model_tag_delete = r_model_tag_delete,
    .experiment_delete = r_experiment_delete,
    .experiment_restore = r_experiment_restore,
    .experiment_rename = r_experiment_rename,
};

wq_status wq_registry_remote_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen)
{
	wq_registry *r = NULL;
	remote *x = NULL;
	int rc;

	if (cfg == NULL || out == NULL || cfg->tracking_uri == NULL || cfg->home == NULL ||
	    cfg->tracking_kind != WQ_TRACKING_REMOTE) {
		rc =
		    wq_err_set(err, errlen, WQ_EINVAL,
		               "remote registry needs a tcp://, ipc:// or tls+tcp:// tracking URI");
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	x = calloc(1, sizeof(*x));
	if (r == NULL || x == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	r->ops = &remote_ops;
	r->impl = x;
	r->config = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	rc = wq_bundlecache_open(r->config.home, &x->cache, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	/* dials in the background: an absent server shows on the first call, as UNAVAILABLE */
	rc = wq_rpc_client_open_env(r->config.tracking_uri, &x->client, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = r;
	return WQ_OK;
fail:
	if (r != NULL && r->impl != NULL) {
		r_close(r);
	} else {
		free(r);
		free(x);
	}
	wq_config_clear(cfg); /* ownership was taken whatever the outcome */
	return rc;
}
