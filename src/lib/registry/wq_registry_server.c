#include "registry/wq_registry_server.h"

#include "rpc/wq_auth.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "track/wq_model_uri.h"
#include "base/wq_name.h"
#include "rpc/wq_registry_wire.h"
#include "rpc/wq_rpc_call.h"
#include "rpc/wq_rpc_call.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRLEN 1024

typedef struct regsvc {
	Wineq__V1__Registry_Service svc; /* first: the ProtobufCService handed out is &svc.base */
	wq_registry *backend;            /* borrowed */
	pthread_mutex_t lock;            /* serializes every backend call */
	char *tmpbase;                   /* <backend home>/tmp: staging for uploads/downloads */
	wq_auth *auth;                   /* borrowed; NULL: actors as sent, no scopes, no tokens */
} regsvc;

/* The backend call between lock and unlock: the local store is used by one thread at once. */
#define BACKEND(s, call)                                                                           \
	({                                                                                         \
		int rc_;                                                                           \
		pthread_mutex_lock(&(s)->lock);                                                    \
		rc_ = (s)->backend->ops->call;                                                     \
		pthread_mutex_unlock(&(s)->lock);                                                  \
		rc_;                                                                               \
	})

/* Fails the call with the gRPC code of a WQ_E* status and the backend's detail (tagged with
 * the exact status where the code alone would lose it, see wq_registry_wire.h). */
static void fail(void *cd, int rc, const char *err)
{
	char msg[512];
	int code = wq_registry_wire_status_message(rc, err, msg, sizeof(msg));

	wq_rpc_call_fail(cd, code, "%s", msg);
}

/* Whether a reply fits one message; else the call fails with OUT_OF_RANGE and a hint (the
 * rpc layer would answer RESOURCE_EXHAUSTED, which reads as "server out of memory"). */
static bool fits(void *cd, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n <= WQ_RPC_MAX_MESSAGE)
		return true;
	wq_rpc_call_fail(cd, WQ_RPC_OUT_OF_RANGE,
	                 "the reply would be %zu bytes, more than the %u-byte message limit: ask "
	                 "for less (e.g. fewer search results per page)",
	                 n, WQ_RPC_MAX_MESSAGE);
	return false;
}

/* Answers with resp (when it fits) or with the failure already recorded. */
#define REPLY(closure, resp, cd)                                                                   \
	do {                                                                                       \
		if (fits((cd), &(resp)->base))                                                     \
			(closure)((resp), (cd));                                                   \
		else                                                                               \
			(closure)(NULL, (cd));                                                     \
	} while (0)

#define FAIL(closure, cd, rc, err)                                                                 \
	do {                                                                                       \
		fail((cd), (rc), (err));                                                           \
		(closure)(NULL, (cd));                                                             \
	} while (0)

/* Ends a handler: the reply when rc is WQ_OK, else the failure with the backend's detail. */
#define ANSWER(closure, cd, rc, err, resp)                                                         \
	do {                                                                                       \
		if ((rc) != WQ_OK)                                                                 \
			FAIL((closure), (cd), (rc), (err));                                        \
		else                                                                               \
			REPLY((closure), (resp), (cd));                                            \
	} while (0)

/* proto3 strings are "" when absent; NULL is defended against all the same. */
static const char *str(const char *s)
{
	return s != NULL ? s : "";
}

/* Optional strings: "" means not given. */
static const char *opt(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* The actor recorded in the history: the caller's identity when the server authenticates
 * (a client-sent name is ignored), else what the client sent. */
static const char *actor_of(regsvc *s, void *cd, const char *sent, char *buf, size_t n)
{
	if (s->auth == NULL)
		return opt(sent);
	return wq_auth_actor(wq_rpc_call_identity(cd), buf, n);
}

/* Whether the caller may touch registered model `model` (a token limited to one model);
 * otherwise the call is failed with the code. model NULL: a request naming no model where
 * one would matter (an artifact URI). */
static bool in_scope(regsvc *s, void *cd, const char *model)
{
	char msg[256] = "";
	int code;

	if (s->auth == NULL)
		return true;
	code = wq_auth_scope_check(s->auth, wq_rpc_call_identity(cd), model, msg, sizeof(msg));
	if (code == WQ_RPC_OK)
		return true;
	wq_rpc_call_fail(cd, code, "%s", msg);
	return false;
}

/* in_scope for a URI: models:/NAME/... is NAME's; runs:/ are not scoped; other URIs could
 * reach any model's files, so a token limited to one model may not use them. */
static bool uri_in_scope(regsvc *s, void *cd, const char *uri)
{
	wq_model_uri u;
	int ok;

	if (s->auth == NULL || wq_model_uri_parse(uri, &u, NULL, 0) != WQ_OK)
		return true; /* malformed URIs are refused by the call itself */
	if (u.kind <= WQ_MODEL_URI_LATEST)
		ok = in_scope(s, cd, u.name);
	else if (u.kind == WQ_MODEL_URI_RUN)
		ok = 1;
	else
		ok = in_scope(s, cd, NULL);
	wq_model_uri_clear(&u);
	return ok;
}

/* Ends the handler when the caller may not touch model. */
#define SCOPE(s, cd, closure, model)                                                               \
	do {                                                                                       \
		if (!in_scope((s), (cd), (model))) {                                               \
			(closure)(NULL, (cd));                                                     \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* A fresh private directory below tmpbase into dir; with absent, removed again so that a
 * backend which insists on creating its destination can (the random name stays unique). */
static wq_status staging_dir(regsvc *s, const char *what, int absent, char *dir, size_t n,
                             char *err, size_t errlen)
{
	int rc = wq_file_mkdir_p(s->tmpbase, 0700, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if ((size_t)snprintf(dir, n, "%s/%s-XXXXXX", s->tmpbase, what) >= n)
		return wq_err_set(err, errlen, WQ_EINVAL, "staging path too long");
	if (mkdtemp(dir) == NULL)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create a directory in %s: %s",
		                  s->tmpbase, strerror(errno));
	if (absent)
		rmdir(dir);
	return WQ_OK;
}

/* Checks every uploaded file and writes them below a new staging directory dir. */
static wq_status stage_upload(regsvc *s, Wineq__V1__FileData *const *files, size_t n, char *dir,
                              size_t dirlen, char *err, size_t errlen)
{
	int rc = WQ_OK;

	if (n > WQ_REGISTRY_WIRE_MAX_FILES)
		return wq_err_set(err, errlen, WQ_ERANGE, "%zu files in one request, at most %d", n,
		                  WQ_REGISTRY_WIRE_MAX_FILES);
	/* all checked before anything touches the disk */
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		rc = wq_registry_wire_file_check(files[i], err, errlen);
		if (rc == WQ_OK && files[i]->content_omitted)
			rc = wq_err_set(err, errlen, WQ_EINVAL, "%s: uploaded without content",
			                files[i]->path);
	}
	if (rc == WQ_OK)
		rc = staging_dir(s, "upload", 0, dir, dirlen, err, errlen);
	if (rc != WQ_OK)
		return rc;
	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		rc = wq_registry_wire_file_write(dir, files[i], err, errlen);
	if (rc != WQ_OK) {
		wq_registry_wire_rmtree(dir);
		dir[0] = '\0';
	}
	return rc;
}

/* The paths a download or resolve asks for, checked before the backend is bothered. */
static wq_status paths_check(char *const *paths, size_t npaths, char *err, size_t errlen)
{
	int rc = WQ_OK;

	if (npaths > WQ_REGISTRY_WIRE_MAX_FILES)
		return wq_err_set(err, errlen, WQ_ERANGE, "%zu paths in one request, at most %d",
		                  npaths, WQ_REGISTRY_WIRE_MAX_FILES);
	for (size_t i = 0; rc == WQ_OK && i < npaths; i++)
		rc = wq_name_check_path("artifact file path", paths[i], err, errlen);
	return rc;
}

static int cmp_path(const void *key, const void *elem)
{
	return strcmp(key, ((const wq_artifact_file *)elem)->path);
}

/* The FileData list of a reply: every file below dir (or only paths, when given), with
 * contents while they fit the budget (all omitted with metadata_only). */
static wq_status files_reply(wq_registry_wire_arena *a, const char *dir, char *const *paths,
                             size_t npaths, int metadata_only, Wineq__V1__FileData ***out,
                             size_t *nout, char *err, size_t errlen)
{
	wq_artifact_file *list = NULL;
	unsigned char *pick = NULL;
	Wineq__V1__FileData **v = NULL;
	size_t nlist = 0, n = 0, used = 0;
	int rc;

	rc = wq_registry_wire_tree_list(dir, &list, &nlist, err, errlen);
	if (rc != WQ_OK)
		return rc;
	pick = calloc(nlist > 0 ? nlist : 1, 1);
	v = wq_registry_wire_alloc(a, (nlist > 0 ? nlist : 1) * sizeof(*v));
	if (pick == NULL || v == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	for (size_t i = 0; i < npaths; i++) {
		const wq_artifact_file *f = bsearch(paths[i], list, nlist, sizeof(*list), cmp_path);

		if (f == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOENT,
			                "no file '%s' in what the URI names", paths[i]);
			goto out;
		}
		pick[f - list] = 1;
	}
	for (size_t i = 0; i < nlist; i++) {
		if (npaths == 0)
			pick[i] = 1;
		if (pick[i])
			used += WQ_REGISTRY_WIRE_FILE_OVERHEAD(strlen(list[i].path));
	}
	if (used > WQ_REGISTRY_WIRE_BUDGET / 2) {
		rc = wq_err_set(err, errlen, WQ_ERANGE,
		                "the file list alone would take %zu bytes: too many files for one "
		                "reply",
		                used);
		goto out;
	}
	for (size_t i = 0; i < nlist; i++) {
		int with = !metadata_only && used + (size_t)list[i].size <= WQ_REGISTRY_WIRE_BUDGET;

		if (!pick[i])
			continue;
		rc = wq_registry_wire_file_load(a, dir, list[i].path, with, &v[n], err, errlen);
		if (rc != WQ_OK)
			goto out;
		n++;
		if (with)
			used += (size_t)list[i].size;
	}
	*out = v;
	*nout = n;
out:
	free(pick);
	wq_artifact_files_free(list, nlist);
	return rc;
}

/* URIs for download and resolve: a plain path would name the server's own files. */
static wq_status remote_uri_check(const char *uri, char *err, size_t errlen)
{
	wq_model_uri u;
	int rc = wq_model_uri_parse(uri, &u, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (u.kind == WQ_MODEL_URI_PATH)
		rc =
		    wq_err_set(err, errlen, WQ_EINVAL,
		               "'%s' is a local path: a registry server serves runs:/ID/PATH, "
		               "models:/NAME/... and artifact URIs (file://, s3://) below its root",
		               uri);
	wq_model_uri_clear(&u);
	return rc;
}

/* --- tracking -------------------------------------------------------------------------- */

static void h_list_experiments(Wineq__V1__Registry_Service *service,
                               const Wineq__V1__ListExperimentsRequest *in,
                               Wineq__V1__ListExperimentsResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__ListExperimentsResponse resp = WINEQ__V1__LIST_EXPERIMENTS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_experiment **e = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc;

	(void)in;
	rc = BACKEND(s, experiment_list(s->backend, &e, &n, err, sizeof(err)));
	if (rc != WQ_OK) {
		FAIL(closure, cd, rc, err);
		return;
	}
	resp.experiments = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.experiments));
	for (size_t i = 0; resp.experiments != NULL && i < n; i++) {
		resp.experiments[i] = wq_registry_wire_experiment_msg(&a, e[i]);
		if (resp.experiments[i] == NULL)
			resp.experiments = NULL;
	}
	resp.n_experiments = n;
	if (resp.experiments == NULL)
		FAIL(closure, cd, WQ_ENOMEM, "out of memory");
	else
		REPLY(closure, &resp, cd);
	wq_registry_wire_arena_free(&a);
	wq_experiments_free(e, n);
}

static void h_start_run(Wineq__V1__Registry_Service *service, const Wineq__V1__StartRunRequest *in,
                        Wineq__V1__StartRunResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__StartRunResponse resp = WINEQ__V1__START_RUN_RESPONSE__INIT;
	char id[WQ_RUN_ID_LEN + 1] = "", err[ERRLEN] = "";
	int rc;

	rc = BACKEND(s, run_start(s->backend, str(in->experiment), opt(in->run_name),
	                          in->start_unix_ms, id, err, sizeof(err)));
	if (rc != WQ_OK) {
		FAIL(closure, cd, rc, err);
		return;
	}
	resp.run_id = id;
	REPLY(closure, &resp, cd);
}

static void h_end_run(Wineq__V1__Registry_Service *service, const Wineq__V1__EndRunRequest *in,
                      Wineq__V1__EndRunResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__EndRunResponse resp = WINEQ__V1__END_RUN_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int status, rc;

	rc = wq_registry_wire_status_from(in->status, &status, err, sizeof(err));
	if (rc == WQ_OK)
		rc = BACKEND(s, run_end(s->backend, str(in->run_id), status, in->end_unix_ms, err,
		                        sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_log_param(Wineq__V1__Registry_Service *service, const Wineq__V1__LogParamRequest *in,
                        Wineq__V1__LogParamResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__LogParamResponse resp = WINEQ__V1__LOG_PARAM_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc = BACKEND(s, param_log(s->backend, str(in->run_id), str(in->key), str(in->value),
	                              err, sizeof(err)));

	ANSWER(closure, cd, rc, err, &resp);
}

static void h_log_metric(Wineq__V1__Registry_Service *service,
                         const Wineq__V1__LogMetricRequest *in,
                         Wineq__V1__LogMetricResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__LogMetricResponse resp = WINEQ__V1__LOG_METRIC_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc = BACKEND(s, metric_log(s->backend, str(in->run_id), str(in->key), in->value,
	                               in->step, err, sizeof(err)));

	ANSWER(closure, cd, rc, err, &resp);
}

static void h_set_tag(Wineq__V1__Registry_Service *service, const Wineq__V1__SetTagRequest *in,
                      Wineq__V1__SetTagResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__SetTagResponse resp = WINEQ__V1__SET_TAG_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc = BACKEND(s, tag_set(s->backend, str(in->run_id), str(in->key), str(in->value), err,
	                            sizeof(err)));

	ANSWER(closure, cd, rc, err, &resp);
}

static void h_upload_artifacts(Wineq__V1__Registry_Service *service,
                               const Wineq__V1__UploadArtifactsRequest *in,
                               Wineq__V1__UploadArtifactsResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__UploadArtifactsResponse resp = WINEQ__V1__UPLOAD_ARTIFACTS_RESPONSE__INIT;
	char dir[4096] = "", err[ERRLEN] = "";
	int rc;

	/* the artifact path becomes part of store keys: checked before anything is staged */
	rc = wq_name_check_path("artifact path", in->artifact_path, err, sizeof(err));
	if (rc == WQ_OK)
		rc = stage_upload(s, in->files, in->n_files, dir, sizeof(dir), err, sizeof(err));
	if (rc == WQ_OK)
		rc = BACKEND(s, artifacts_log_dir(s->backend, str(in->run_id), in->artifact_path,
		                                  dir, err, sizeof(err)));
	if (dir[0] != '\0')
		wq_registry_wire_rmtree(dir);
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_download_artifacts(Wineq__V1__Registry_Service *service,
                                 const Wineq__V1__DownloadArtifactsRequest *in,
                                 Wineq__V1__DownloadArtifactsResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DownloadArtifactsResponse resp = WINEQ__V1__DOWNLOAD_ARTIFACTS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	char dir[4096] = "", err[ERRLEN] = "";
	int rc;

	if (!uri_in_scope(s, cd, str(in->uri))) {
		closure(NULL, cd);
		return;
	}
	rc = remote_uri_check(str(in->uri), err, sizeof(err));
	if (rc == WQ_OK)
		rc = paths_check(in->paths, in->n_paths, err, sizeof(err));
	if (rc == WQ_OK)
		rc = staging_dir(s, "download", 1, dir, sizeof(dir), err, sizeof(err));
	if (rc == WQ_OK) {
		rc = BACKEND(s, artifacts_get(s->backend, in->uri, dir, err, sizeof(err)));
		if (rc == WQ_OK)
			rc = files_reply(&a, dir, in->paths, in->n_paths, in->metadata_only,
			                 &resp.files, &resp.n_files, err, sizeof(err));
		wq_registry_wire_rmtree(dir);
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
}

static void h_get_run(Wineq__V1__Registry_Service *service, const Wineq__V1__GetRunRequest *in,
                      Wineq__V1__GetRunResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__GetRunResponse resp = WINEQ__V1__GET_RUN_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_run *run = NULL;
	char err[ERRLEN] = "";
	int rc = BACKEND(s, run_get(s->backend, str(in->run_id), &run, err, sizeof(err)));

	if (rc == WQ_OK && (resp.run = wq_registry_wire_run_msg(&a, run)) == NULL)
		rc = wq_nomem(err, sizeof(err));
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_run_free(run);
}

static void h_get_metric_history(Wineq__V1__Registry_Service *service,
                                 const Wineq__V1__GetMetricHistoryRequest *in,
                                 Wineq__V1__GetMetricHistoryResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__GetMetricHistoryResponse resp = WINEQ__V1__GET_METRIC_HISTORY_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_run_metric *m = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc = BACKEND(
	    s, metric_history(s->backend, str(in->run_id), str(in->key), &m, &n, err, sizeof(err)));

	if (rc == WQ_OK && wq_registry_wire_metrics_msg(&a, m, n, &resp.metrics) != WQ_OK)
		rc = wq_nomem(err, sizeof(err));
	resp.n_metrics = rc == WQ_OK ? n : 0;
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_run_metric_list_free(m, n);
}

static void h_search_runs(Wineq__V1__Registry_Service *service,
                          const Wineq__V1__SearchRunsRequest *in,
                          Wineq__V1__SearchRunsResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__SearchRunsResponse resp = WINEQ__V1__SEARCH_RUNS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_run **runs = NULL;
	size_t n = 0;
	char *next = NULL, err[ERRLEN] = "";
	int rc = WQ_OK;

	if (in->max_results < 0)
		rc = wq_err_set(err, sizeof(err), WQ_ERANGE,
		                "max_results must be 1..%d (got %" PRId64 ")",
		                WQ_TRACKING_MAX_RESULTS, in->max_results);
	for (size_t i = 0; rc == WQ_OK && i < in->n_experiments; i++)
		if (in->experiments[i] == NULL)
			rc = wq_err_set(err, sizeof(err), WQ_EINVAL, "empty experiment name");
	if (rc == WQ_OK)
		rc = BACKEND(s, runs_search(s->backend, (const char *const *)in->experiments,
		                            in->n_experiments, opt(in->filter), opt(in->order_by),
		                            (size_t)in->max_results, opt(in->page_token), &runs, &n,
		                            &next, err, sizeof(err)));
	if (rc == WQ_OK) {
		resp.runs = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.runs));
		for (size_t i = 0; resp.runs != NULL && i < n; i++)
			if ((resp.runs[i] = wq_registry_wire_run_msg(&a, runs[i])) == NULL)
				resp.runs = NULL;
		resp.n_runs = n;
		resp.next_page_token = (char *)str(next);
		if (resp.runs == NULL)
			rc = wq_nomem(err, sizeof(err));
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_runs_free(runs, n);
	free(next);
}

static void h_delete_run(Wineq__V1__Registry_Service *service,
                         const Wineq__V1__DeleteRunRequest *in,
                         Wineq__V1__DeleteRunResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DeleteRunResponse resp = WINEQ__V1__DELETE_RUN_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc = BACKEND(s, run_delete(s->backend, str(in->run_id), err, sizeof(err)));

	ANSWER(closure, cd, rc, err, &resp);
}

static void h_restore_run(Wineq__V1__Registry_Service *service,
                          const Wineq__V1__RestoreRunRequest *in,
                          Wineq__V1__RestoreRunResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__RestoreRunResponse resp = WINEQ__V1__RESTORE_RUN_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc;

	if (s->backend->ops->run_restore == NULL)
		rc = wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED, "this registry cannot restore");
	else
		rc = BACKEND(s, run_restore(s->backend, str(in->run_id), err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

/* --- models ---------------------------------------------------------------------------- */

static void h_list_registered_models(Wineq__V1__Registry_Service *service,
                                     const Wineq__V1__ListRegisteredModelsRequest *in,
                                     Wineq__V1__ListRegisteredModelsResponse_Closure closure,
                                     void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__ListRegisteredModelsResponse resp =
	    WINEQ__V1__LIST_REGISTERED_MODELS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_registered_model **m = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc;

	(void)in;
	rc = BACKEND(s, model_list(s->backend, &m, &n, err, sizeof(err)));
	if (rc == WQ_OK) {
		resp.models = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.models));
		for (size_t i = 0; resp.models != NULL && i < n; i++)
			if ((resp.models[i] = wq_registry_wire_model_msg(&a, m[i])) == NULL)
				resp.models = NULL;
		resp.n_models = n;
		if (resp.models == NULL)
			rc = wq_nomem(err, sizeof(err));
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_registered_models_free(m, n);
}

static void h_get_registered_model(Wineq__V1__Registry_Service *service,
                                   const Wineq__V1__GetRegisteredModelRequest *in,
                                   Wineq__V1__GetRegisteredModelResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__GetRegisteredModelResponse resp = WINEQ__V1__GET_REGISTERED_MODEL_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_registered_model *m = NULL;
	char err[ERRLEN] = "";
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, model_get(s->backend, str(in->name), &m, err, sizeof(err)));
	if (rc == WQ_OK && (resp.model = wq_registry_wire_model_msg(&a, m)) == NULL)
		rc = wq_nomem(err, sizeof(err));
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_registered_model_free(m);
}

static void h_list_model_versions(Wineq__V1__Registry_Service *service,
                                  const Wineq__V1__ListModelVersionsRequest *in,
                                  Wineq__V1__ListModelVersionsResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__ListModelVersionsResponse resp = WINEQ__V1__LIST_MODEL_VERSIONS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_model_version **v = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, version_list(s->backend, str(in->name), &v, &n, err, sizeof(err)));
	if (rc == WQ_OK) {
		resp.versions =
		    wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.versions));
		for (size_t i = 0; resp.versions != NULL && i < n; i++)
			if ((resp.versions[i] = wq_registry_wire_version_msg(&a, v[i])) == NULL)
				resp.versions = NULL;
		resp.n_versions = n;
		if (resp.versions == NULL)
			rc = wq_nomem(err, sizeof(err));
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_model_versions_free(v, n);
}

static void h_get_model_version(Wineq__V1__Registry_Service *service,
                                const Wineq__V1__GetModelVersionRequest *in,
                                Wineq__V1__GetModelVersionResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__GetModelVersionResponse resp = WINEQ__V1__GET_MODEL_VERSION_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_model_version *v = NULL;
	char err[ERRLEN] = "";
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, version_get(s->backend, str(in->name), in->version, &v, err, sizeof(err)));
	if (rc == WQ_OK && (resp.version = wq_registry_wire_version_msg(&a, v)) == NULL)
		rc = wq_nomem(err, sizeof(err));
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_model_version_free(v);
}

static void h_create_model_version(Wineq__V1__Registry_Service *service,
                                   const Wineq__V1__CreateModelVersionRequest *in,
                                   Wineq__V1__CreateModelVersionResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__CreateModelVersionResponse resp = WINEQ__V1__CREATE_MODEL_VERSION_RESPONSE__INIT;
	char dir[4096] = "", err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	const char *actor = actor_of(s, cd, in->actor, who, sizeof(who));
	int64_t version = 0;
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	/* the name becomes part of store keys: checked before anything is staged */
	rc = wq_name_check("model name", in->name, err, sizeof(err));
	if (rc == WQ_OK) {
		switch (in->source_case) {
		case WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_BUNDLE:
			if (in->bundle == NULL || in->bundle->n_files == 0) {
				rc = wq_err_set(err, sizeof(err), WQ_EFORMAT,
				                "the uploaded bundle has no files");
				break;
			}
			rc = stage_upload(s, in->bundle->files, in->bundle->n_files, dir,
			                  sizeof(dir), err, sizeof(err));
			if (rc == WQ_OK)
				rc = BACKEND(s, version_create(s->backend, in->name, dir,
				                               opt(in->run_id), NULL, actor,
				                               &version, err, sizeof(err)));
			break;
		case WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_ARTIFACT_PATH:
			if (opt(in->run_id) == NULL) {
				rc = wq_err_set(err, sizeof(err), WQ_EINVAL,
				                "give a bundle directory or a run and its artifact "
				                "path");
				break;
			}
			rc = wq_name_check_path("artifact path", in->artifact_path, err,
			                        sizeof(err));
			if (rc == WQ_OK)
				rc = BACKEND(s, version_create(s->backend, in->name, NULL,
				                               in->run_id, in->artifact_path, actor,
				                               &version, err, sizeof(err)));
			break;
		default:
			rc = wq_err_set(err, sizeof(err), WQ_EINVAL,
			                "give a bundle directory or a run and its artifact path");
			break;
		}
	}
	if (dir[0] != '\0')
		wq_registry_wire_rmtree(dir);
	if (rc != WQ_OK) {
		FAIL(closure, cd, rc, err);
		return;
	}
	resp.version = version;
	REPLY(closure, &resp, cd);
}

static void h_transition_stage(Wineq__V1__Registry_Service *service,
                               const Wineq__V1__TransitionStageRequest *in,
                               Wineq__V1__TransitionStageResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__TransitionStageResponse resp = WINEQ__V1__TRANSITION_STAGE_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int stage, rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = wq_registry_wire_stage_from(in->stage, &stage, err, sizeof(err));
	if (rc == WQ_OK)
		rc = BACKEND(s, version_transition(s->backend, str(in->name), in->version, stage,
		                                   in->archive_existing_versions != 0,
		                                   actor_of(s, cd, in->actor, who, sizeof(who)),
		                                   err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_set_alias(Wineq__V1__Registry_Service *service, const Wineq__V1__SetAliasRequest *in,
                        Wineq__V1__SetAliasResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__SetAliasResponse resp = WINEQ__V1__SET_ALIAS_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, alias_set(s->backend, str(in->name), str(in->alias), in->version,
	                          actor_of(s, cd, in->actor, who, sizeof(who)), err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_delete_alias(Wineq__V1__Registry_Service *service,
                           const Wineq__V1__DeleteAliasRequest *in,
                           Wineq__V1__DeleteAliasResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DeleteAliasResponse resp = WINEQ__V1__DELETE_ALIAS_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s,
	             alias_delete(s->backend, str(in->name), str(in->alias),
	                          actor_of(s, cd, in->actor, who, sizeof(who)), err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_get_model_history(Wineq__V1__Registry_Service *service,
                                const Wineq__V1__GetModelHistoryRequest *in,
                                Wineq__V1__GetModelHistoryResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__GetModelHistoryResponse resp = WINEQ__V1__GET_MODEL_HISTORY_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_model_event *ev = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, history(s->backend, str(in->name), &ev, &n, err, sizeof(err)));
	if (rc == WQ_OK) {
		resp.events = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.events));
		for (size_t i = 0; resp.events != NULL && i < n; i++)
			if ((resp.events[i] = wq_registry_wire_event_msg(&a, &ev[i])) == NULL)
				resp.events = NULL;
		resp.n_events = n;
		if (resp.events == NULL)
			rc = wq_nomem(err, sizeof(err));
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_model_events_free(ev, n);
}

static void h_delete_model_version(Wineq__V1__Registry_Service *service,
                                   const Wineq__V1__DeleteModelVersionRequest *in,
                                   Wineq__V1__DeleteModelVersionResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DeleteModelVersionResponse resp = WINEQ__V1__DELETE_MODEL_VERSION_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	rc = BACKEND(s, version_delete(s->backend, str(in->name), in->version,
	                               actor_of(s, cd, in->actor, who, sizeof(who)), err,
	                               sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_restore_model_version(Wineq__V1__Registry_Service *service,
                                    const Wineq__V1__RestoreModelVersionRequest *in,
                                    Wineq__V1__RestoreModelVersionResponse_Closure closure,
                                    void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__RestoreModelVersionResponse resp =
	    WINEQ__V1__RESTORE_MODEL_VERSION_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	if (s->backend->ops->version_restore == NULL)
		rc = wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED, "this registry cannot restore");
	else
		rc = BACKEND(s, version_restore(s->backend, str(in->name), in->version,
		                                actor_of(s, cd, in->actor, who, sizeof(who)), err,
		                                sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

/* What a backend without an optional operation answers. */
static wq_status unsupported(char *err, size_t errlen)
{
	return wq_err_set(err, errlen, WQ_EUNSUPPORTED, "this registry cannot do that");
}

static void h_set_model_description(Wineq__V1__Registry_Service *service,
                                    const Wineq__V1__SetModelDescriptionRequest *in,
                                    Wineq__V1__SetModelDescriptionResponse_Closure closure,
                                    void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__SetModelDescriptionResponse resp =
	    WINEQ__V1__SET_MODEL_DESCRIPTION_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	if (s->backend->ops->model_description_set == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s, model_description_set(s->backend, str(in->name), in->version,
		                                      str(in->description),
		                                      actor_of(s, cd, in->actor, who, sizeof(who)),
		                                      err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_set_model_tag(Wineq__V1__Registry_Service *service,
                            const Wineq__V1__SetModelTagRequest *in,
                            Wineq__V1__SetModelTagResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__SetModelTagResponse resp = WINEQ__V1__SET_MODEL_TAG_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	if (s->backend->ops->model_tag_set == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s, model_tag_set(s->backend, str(in->name), in->version, str(in->key),
		                              str(in->value),
		                              actor_of(s, cd, in->actor, who, sizeof(who)), err,
		                              sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_delete_model_tag(Wineq__V1__Registry_Service *service,
                               const Wineq__V1__DeleteModelTagRequest *in,
                               Wineq__V1__DeleteModelTagResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DeleteModelTagResponse resp = WINEQ__V1__DELETE_MODEL_TAG_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8];
	int rc;

	SCOPE(s, cd, closure, str(in->name));
	if (s->backend->ops->model_tag_delete == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s,
		             model_tag_delete(s->backend, str(in->name), in->version, str(in->key),
		                              actor_of(s, cd, in->actor, who, sizeof(who)), err,
		                              sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_delete_experiment(Wineq__V1__Registry_Service *service,
                                const Wineq__V1__DeleteExperimentRequest *in,
                                Wineq__V1__DeleteExperimentResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__DeleteExperimentResponse resp = WINEQ__V1__DELETE_EXPERIMENT_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc;

	if (s->backend->ops->experiment_delete == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s, experiment_delete(s->backend, str(in->name), err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_restore_experiment(Wineq__V1__Registry_Service *service,
                                 const Wineq__V1__RestoreExperimentRequest *in,
                                 Wineq__V1__RestoreExperimentResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__RestoreExperimentResponse resp = WINEQ__V1__RESTORE_EXPERIMENT_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc;

	if (s->backend->ops->experiment_restore == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s, experiment_restore(s->backend, str(in->name), err, sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_rename_experiment(Wineq__V1__Registry_Service *service,
                                const Wineq__V1__RenameExperimentRequest *in,
                                Wineq__V1__RenameExperimentResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__RenameExperimentResponse resp = WINEQ__V1__RENAME_EXPERIMENT_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc;

	if (s->backend->ops->experiment_rename == NULL)
		rc = unsupported(err, sizeof(err));
	else
		rc = BACKEND(s, experiment_rename(s->backend, str(in->name), str(in->new_name), err,
		                                  sizeof(err)));
	ANSWER(closure, cd, rc, err, &resp);
}

static void h_resolve_model_uri(Wineq__V1__Registry_Service *service,
                                const Wineq__V1__ResolveModelUriRequest *in,
                                Wineq__V1__ResolveModelUriResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__ResolveModelUriResponse resp = WINEQ__V1__RESOLVE_MODEL_URI_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_model_version *v = NULL;
	char *dir = NULL, err[ERRLEN] = "";
	int rc;

	if (!uri_in_scope(s, cd, str(in->uri))) {
		closure(NULL, cd);
		return;
	}
	rc = remote_uri_check(str(in->uri), err, sizeof(err));
	if (rc == WQ_OK)
		rc = paths_check(in->paths, in->n_paths, err, sizeof(err));
	/* the backend verifies the bundle into its own cache; entries there are never changed
	 * once in place, so reading them after the lock is released is safe */
	if (rc == WQ_OK)
		rc = BACKEND(s, resolve(s->backend, in->uri, &dir, &v, err, sizeof(err)));
	if (rc == WQ_OK)
		rc = files_reply(&a, dir, in->paths, in->n_paths, in->metadata_only, &resp.files,
		                 &resp.n_files, err, sizeof(err));
	if (rc == WQ_OK && v != NULL &&
	    (resp.version = wq_registry_wire_version_msg(&a, v)) == NULL)
		rc = wq_nomem(err, sizeof(err));
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_model_version_free(v);
	free(dir);
}

/* --- access tokens --------------------------------------------------------------------- */

static void h_create_token(Wineq__V1__Registry_Service *service,
                           const Wineq__V1__CreateTokenRequest *in,
                           Wineq__V1__CreateTokenResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__CreateTokenResponse resp = WINEQ__V1__CREATE_TOKEN_RESPONSE__INIT;
	char err[ERRLEN] = "", who[WQ_IDENTITY_NAME_MAX + 8], token[WQ_TOKEN_LEN + 1] = "";
	const char *actor = actor_of(s, cd, NULL, who, sizeof(who));
	int role, rc = WQ_OK;

	if (wq_role_parse(in->role, &role) != WQ_OK)
		rc = wq_err_set(err, sizeof(err), WQ_EINVAL, "unknown role '%s'", str(in->role));
	else if (s->auth != NULL)
		rc = wq_auth_create_token(s->auth, str(in->name), role, opt(in->model), actor,
		                          token, err, sizeof(err));
	else if (s->backend->ops->token_create != NULL)
		rc = BACKEND(s, token_create(s->backend, str(in->name), role, opt(in->model), actor,
		                             token, err, sizeof(err)));
	else
		rc = wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED, "this server keeps no tokens");
	if (rc != WQ_OK) {
		FAIL(closure, cd, rc, err);
		return;
	}
	resp.token = token;
	REPLY(closure, &resp, cd);
	explicit_bzero(token, sizeof(token));
}

static void h_list_tokens(Wineq__V1__Registry_Service *service,
                          const Wineq__V1__ListTokensRequest *in,
                          Wineq__V1__ListTokensResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__ListTokensResponse resp = WINEQ__V1__LIST_TOKENS_RESPONSE__INIT;
	wq_registry_wire_arena a = {0};
	wq_token_info *t = NULL;
	size_t n = 0;
	char err[ERRLEN] = "";
	int rc;

	if (s->auth != NULL)
		rc = wq_auth_list_tokens(s->auth, in->all, &t, &n, err, sizeof(err));
	else if (s->backend->ops->token_list != NULL)
		rc = BACKEND(s, token_list(s->backend, in->all, &t, &n, err, sizeof(err)));
	else
		rc = wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED, "this server keeps no tokens");
	if (rc == WQ_OK) {
		Wineq__V1__TokenInfo *m = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*m));

		resp.tokens = wq_registry_wire_alloc(&a, (n > 0 ? n : 1) * sizeof(*resp.tokens));
		if (m == NULL || resp.tokens == NULL)
			rc = wq_nomem(err, sizeof(err));
		for (size_t i = 0; rc == WQ_OK && i < n; i++) {
			wineq__v1__token_info__init(&m[i]);
			m[i].id = t[i].id;
			m[i].name = t[i].name;
			m[i].role = (char *)wq_role_name(t[i].role);
			m[i].model = t[i].model;
			m[i].created_unix_ms = t[i].created_ms;
			m[i].created_by = t[i].created_by;
			m[i].revoked_unix_ms = t[i].revoked_ms;
			resp.tokens[i] = &m[i];
		}
		resp.n_tokens = rc == WQ_OK ? n : 0;
	}
	ANSWER(closure, cd, rc, err, &resp);
	wq_registry_wire_arena_free(&a);
	wq_token_infos_free(t, n);
}

static void h_revoke_token(Wineq__V1__Registry_Service *service,
                           const Wineq__V1__RevokeTokenRequest *in,
                           Wineq__V1__RevokeTokenResponse_Closure closure, void *cd)
{
	regsvc *s = (regsvc *)service;
	Wineq__V1__RevokeTokenResponse resp = WINEQ__V1__REVOKE_TOKEN_RESPONSE__INIT;
	char err[ERRLEN] = "";
	int rc;

	if (s->auth != NULL)
		rc = wq_auth_revoke_token(s->auth, str(in->name), err, sizeof(err));
	else if (s->backend->ops->token_revoke != NULL)
		rc = BACKEND(s, token_revoke(s->backend, str(in->name), err, sizeof(err)));
	else
		rc = wq_err_set(err, sizeof(err), WQ_EUNSUPPORTED, "this server keeps no tokens");
	ANSWER(closure, cd, rc, err, &resp);
}

/* --- service --------------------------------------------------------------------------- */

static const Wineq__V1__Registry_Service handlers = WINEQ__V1__REGISTRY__INIT(h_);

wq_status wq_registry_server_new(wq_registry *backend, ProtobufCService **out, char *err,
                                 size_t errlen)
{
	regsvc *s;
	const char *home;
	size_t n;

	if (backend == NULL || backend->ops == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_registry_server_new: missing argument");
	home = backend->config.home;
	if (home == NULL || home[0] != '/')
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "registry service: the backend has no absolute WINEQ_HOME");
	s = calloc(1, sizeof(*s));
	n = strlen(home) + sizeof("/tmp");
	if (s == NULL || (s->tmpbase = malloc(n)) == NULL) {
		free(s);
		return wq_nomem(err, errlen);
	}
	snprintf(s->tmpbase, n, "%s/tmp", home);
	s->svc = handlers;
	s->backend = backend;
	pthread_mutex_init(&s->lock, NULL);
	*out = &s->svc.base;
	return WQ_OK;
}

void wq_registry_server_set_auth(ProtobufCService *svc, wq_auth *auth)
{
	if (svc != NULL)
		((regsvc *)svc)->auth = auth;
}

void wq_registry_server_free(ProtobufCService *svc)
{
	regsvc *s = (regsvc *)svc;

	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->tmpbase);
	free(s);
}
