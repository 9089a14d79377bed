#include "rpc/wq_registry_wire.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_name.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH  64 /* directory nesting of an uploaded tree (recursion bound) */
#define READ_CHUNK (64 * 1024)

struct wq_registry_wire_block {
	wq_registry_wire_block *next;
	max_align_t data[];
};

void *wq_registry_wire_alloc(wq_registry_wire_arena *a, size_t n)
{
	wq_registry_wire_block *b;

	if (a == NULL || n > SIZE_MAX - sizeof(*b))
		return NULL;
	b = calloc(1, sizeof(*b) + n);
	if (b == NULL)
		return NULL;
	b->next = a->head;
	a->head = b;
	return b->data;
}

void wq_registry_wire_arena_free(wq_registry_wire_arena *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL) {
		wq_registry_wire_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

char *wq_registry_wire_str(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

/* --- statuses -------------------------------------------------------------------------- */

/* Status messages are bounded by the rpc layer (512 bytes): the detail is cut to leave room
 * for the tag. */
#define TAGGED_DETAIL_MAX 400

wq_rpc_code wq_registry_wire_status_message(wq_status rc, const char *detail, char *buf, size_t n)
{
	wq_rpc_code code = wq_rpc_code_from_status(rc);

	if (detail == NULL || *detail == '\0')
		detail = wq_strerror(rc);
	if (wq_rpc_status_from_code(code) == rc)
		snprintf(buf, n, "%s", detail);
	else
		snprintf(buf, n, "%.*s" WQ_REGISTRY_WIRE_STATUS_TAG "%d]", TAGGED_DETAIL_MAX,
		         detail, rc);
	return code;
}

wq_status wq_registry_wire_status_of_reply(wq_rpc_code code, char *msg)
{
	int status = wq_rpc_status_from_code(code);
	char *tag, *end, *next;
	long v;

	if (msg == NULL)
		return status;
	tag = strstr(msg, WQ_REGISTRY_WIRE_STATUS_TAG);
	while (tag != NULL && (next = strstr(tag + 1, WQ_REGISTRY_WIRE_STATUS_TAG)) != NULL)
		tag = next; /* the last one: a detail may quote anything */
	if (tag == NULL)
		return status;
	errno = 0;
	v = strtol(tag + sizeof(WQ_REGISTRY_WIRE_STATUS_TAG) - 1, &end, 10);
	if (errno != 0 || end[0] != ']' || end[1] != '\0' || v >= 0 || v < -1000 ||
	    wq_rpc_code_from_status((int)v) != code)
		return status;
	*tag = '\0';
	return (int)v;
}

/* --- enums ----------------------------------------------------------------------------- */

wq_status wq_registry_wire_stage_from(int proto_stage, int *stage, char *err, size_t errlen)
{
	if (proto_stage < WQ_STAGE_NONE || proto_stage >= WQ_STAGE_COUNT)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown stage %d", proto_stage);
	*stage = proto_stage; /* wineq.v1.Stage uses enum wq_stage's numbers */
	return WQ_OK;
}

wq_status wq_registry_wire_status_from(int proto_status, int *status, char *err, size_t errlen)
{
	if (proto_status < WQ_RUN_RUNNING || proto_status > WQ_RUN_KILLED)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown run status %d", proto_status);
	*status = proto_status; /* wineq.v1.RunStatus uses enum wq_run_status's numbers */
	return WQ_OK;
}

/* --- C -> proto ------------------------------------------------------------------------ */

#define NEW(a, type) ((type *)wq_registry_wire_alloc((a), sizeof(type)))

/* n Tag messages for kv pairs into *out (NULL when n == 0). WQ_OK or WQ_ENOMEM. */
static wq_status tags_msg(wq_registry_wire_arena *a, const wq_kv *kv, size_t n,
                          Wineq__V1__Tag ***out, size_t *nout)
{
	Wineq__V1__Tag **v = NULL, *t = NULL;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return WQ_OK;
	v = wq_registry_wire_alloc(a, n * sizeof(*v));
	t = wq_registry_wire_alloc(a, n * sizeof(*t));
	if (v == NULL || t == NULL)
		return WQ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		wineq__v1__tag__init(&t[i]);
		t[i].key = wq_registry_wire_str(kv[i].key);
		t[i].value = wq_registry_wire_str(kv[i].value);
		v[i] = &t[i];
	}
	*out = v;
	*nout = n;
	return WQ_OK;
}

Wineq__V1__Experiment *wq_registry_wire_experiment_msg(wq_registry_wire_arena *a,
                                                       const wq_experiment *e)
{
	Wineq__V1__Experiment *m = NEW(a, Wineq__V1__Experiment);

	if (m == NULL)
		return NULL;
	wineq__v1__experiment__init(m);
	m->id = e->id;
	m->name = wq_registry_wire_str(e->name);
	m->artifact_location = wq_registry_wire_str(e->artifact_location);
	m->created_unix_ms = e->created_ms;
	if (tags_msg(a, e->tags, e->ntags, &m->tags, &m->n_tags) != WQ_OK)
		return NULL;
	return m;
}

wq_status wq_registry_wire_metrics_msg(wq_registry_wire_arena *a, const wq_run_metric *m, size_t n,
                                       Wineq__V1__Metric ***out)
{
	Wineq__V1__Metric *mm, **v;

	*out = NULL;
	if (n == 0)
		return WQ_OK;
	mm = wq_registry_wire_alloc(a, n * sizeof(*mm));
	v = wq_registry_wire_alloc(a, n * sizeof(*v));
	if (mm == NULL || v == NULL)
		return WQ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		wineq__v1__metric__init(&mm[i]);
		mm[i].key = wq_registry_wire_str(m[i].key);
		mm[i].value = m[i].value;
		mm[i].step = m[i].step;
		mm[i].timestamp_unix_ms = m[i].timestamp_ms;
		v[i] = &mm[i];
	}
	*out = v;
	return WQ_OK;
}

Wineq__V1__Run *wq_registry_wire_run_msg(wq_registry_wire_arena *a, const wq_run *r)
{
	Wineq__V1__Run *m = NEW(a, Wineq__V1__Run);

	if (m == NULL)
		return NULL;
	wineq__v1__run__init(m);
	m->run_id = wq_registry_wire_str(r->id);
	m->experiment_id = r->experiment_id;
	m->experiment_name = wq_registry_wire_str(r->experiment_name);
	m->name = wq_registry_wire_str(r->name);
	m->status = (Wineq__V1__RunStatus)r->status;
	m->start_unix_ms = r->start_ms;
	m->end_unix_ms = r->end_ms;
	m->artifact_uri = wq_registry_wire_str(r->artifact_uri);
	if (tags_msg(a, r->params, r->nparams, &m->params, &m->n_params) != WQ_OK ||
	    tags_msg(a, r->tags, r->ntags, &m->tags, &m->n_tags) != WQ_OK)
		return NULL;
	if (wq_registry_wire_metrics_msg(a, r->metrics, r->nmetrics, &m->metrics) != WQ_OK)
		return NULL;
	m->n_metrics = r->nmetrics;
	if (r->nartifacts > 0) {
		Wineq__V1__ArtifactInfo *ai =
		    wq_registry_wire_alloc(a, r->nartifacts * sizeof(*ai));

		m->artifacts = wq_registry_wire_alloc(a, r->nartifacts * sizeof(*m->artifacts));
		if (ai == NULL || m->artifacts == NULL)
			return NULL;
		for (size_t i = 0; i < r->nartifacts; i++) {
			wineq__v1__artifact_info__init(&ai[i]);
			ai[i].path = wq_registry_wire_str(r->artifacts[i].path);
			ai[i].size = r->artifacts[i].size;
			ai[i].sha256 = wq_registry_wire_str(r->artifacts[i].sha256);
			m->artifacts[i] = &ai[i];
		}
		m->n_artifacts = r->nartifacts;
	}
	return m;
}

Wineq__V1__RegisteredModel *wq_registry_wire_model_msg(wq_registry_wire_arena *a,
                                                       const wq_registered_model *mod)
{
	Wineq__V1__RegisteredModel *m = NEW(a, Wineq__V1__RegisteredModel);

	if (m == NULL)
		return NULL;
	wineq__v1__registered_model__init(m);
	m->name = wq_registry_wire_str(mod->name);
	m->description = wq_registry_wire_str(mod->description);
	m->created_unix_ms = mod->created_ms;
	m->updated_unix_ms = mod->updated_ms;
	m->latest_version = mod->latest_version;
	if (tags_msg(a, mod->tags, mod->ntags, &m->tags, &m->n_tags) != WQ_OK)
		return NULL;
	return m;
}

Wineq__V1__ModelVersion *wq_registry_wire_version_msg(wq_registry_wire_arena *a,
                                                      const wq_model_version *v)
{
	Wineq__V1__ModelVersion *m = NEW(a, Wineq__V1__ModelVersion);

	if (m == NULL)
		return NULL;
	wineq__v1__model_version__init(m);
	m->name = wq_registry_wire_str(v->name);
	m->version = v->version;
	m->run_id = wq_registry_wire_str(v->run_id);
	m->source_uri = wq_registry_wire_str(v->source_uri);
	m->sha256 = wq_registry_wire_str(v->sha256);
	m->stage = (Wineq__V1__Stage)v->stage;
	m->created_unix_ms = v->created_ms;
	m->created_by = wq_registry_wire_str(v->created_by);
	m->description = wq_registry_wire_str(v->description);
	if (tags_msg(a, v->tags, v->ntags, &m->tags, &m->n_tags) != WQ_OK)
		return NULL;
	if (v->naliases > 0) {
		m->aliases = wq_registry_wire_alloc(a, v->naliases * sizeof(*m->aliases));
		if (m->aliases == NULL)
			return NULL;
		for (size_t i = 0; i < v->naliases; i++)
			m->aliases[i] = wq_registry_wire_str(v->aliases[i]);
		m->n_aliases = v->naliases;
	}
	return m;
}

Wineq__V1__ModelEvent *wq_registry_wire_event_msg(wq_registry_wire_arena *a,
                                                  const wq_model_event *e)
{
	Wineq__V1__ModelEvent *m = NEW(a, Wineq__V1__ModelEvent);

	if (m == NULL)
		return NULL;
	wineq__v1__model_event__init(m);
	m->id = e->id;
	m->name = wq_registry_wire_str(e->name);
	m->version = e->version;
	m->kind = wq_registry_wire_str(e->kind);
	m->from_value = wq_registry_wire_str(e->from);
	m->to_value = wq_registry_wire_str(e->to);
	m->alias = wq_registry_wire_str(e->alias);
	m->time_unix_ms = e->time_ms;
	m->actor = wq_registry_wire_str(e->actor);
	return m;
}

/* --- proto -> C ------------------------------------------------------------------------ */

static char *sdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static bool is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != WQ_SHA256_HEXLEN - 1)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static wq_status malformed(char *err, size_t errlen, const char *what, const char *field)
{
	return wq_err_set(err, errlen, WQ_EFORMAT, "malformed %s from the registry server: %s",
	                  what, field);
}

static wq_status kv_from(Wineq__V1__Tag *const *t, size_t n, wq_kv **out, size_t *nout, char *err,
                         size_t errlen)
{
	wq_kv *kv;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return WQ_OK;
	kv = calloc(n, sizeof(*kv));
	if (kv == NULL)
		return wq_nomem(err, errlen);
	for (size_t i = 0; i < n; i++) {
		if (t[i] == NULL) {
			wq_db_kv_free(kv, i);
			return malformed(err, errlen, "tag list", "empty entry");
		}
		kv[i].key = sdup(t[i]->key);
		kv[i].value = sdup(t[i]->value);
		if (kv[i].key == NULL || kv[i].value == NULL) {
			wq_db_kv_free(kv, i + 1);
			return wq_nomem(err, errlen);
		}
	}
	*out = kv;
	*nout = n;
	return WQ_OK;
}

wq_status wq_registry_wire_experiment_from(const Wineq__V1__Experiment *m, wq_experiment **out,
                                           char *err, size_t errlen)
{
	wq_experiment *e;
	int rc;

	if (m == NULL)
		return malformed(err, errlen, "experiment", "missing");
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return wq_nomem(err, errlen);
	e->id = m->id;
	e->created_ms = m->created_unix_ms;
	e->name = sdup(m->name);
	e->artifact_location = sdup(m->artifact_location);
	if (e->name == NULL || e->artifact_location == NULL)
		rc = wq_nomem(err, errlen);
	else
		rc = kv_from(m->tags, m->n_tags, &e->tags, &e->ntags, err, errlen);
	if (rc != WQ_OK) {
		wq_experiment_free(e);
		return rc;
	}
	*out = e;
	return WQ_OK;
}

/* Fills v[0..n) from m; *done counts the entries whose key was allocated (to free). */
static wq_status metrics_fill(Wineq__V1__Metric *const *m, size_t n, wq_run_metric *v, size_t *done,
                              char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__Metric *x = m[i];

		if (x == NULL)
			return malformed(err, errlen, "run", "empty metric");
		v[i].key = sdup(x->key);
		*done = i + 1;
		if (v[i].key == NULL)
			return wq_nomem(err, errlen);
		v[i].value = x->value;
		v[i].step = x->step;
		v[i].timestamp_ms = x->timestamp_unix_ms;
	}
	return WQ_OK;
}

static wq_status metrics_from(const Wineq__V1__Run *m, wq_run *r, char *err, size_t errlen)
{
	if (m->n_metrics == 0)
		return WQ_OK;
	r->metrics = calloc(m->n_metrics, sizeof(*r->metrics));
	if (r->metrics == NULL)
		return wq_nomem(err, errlen);
	return metrics_fill(m->metrics, m->n_metrics, r->metrics, &r->nmetrics, err, errlen);
}

wq_status wq_registry_wire_metrics_from(Wineq__V1__Metric *const *m, size_t n, wq_run_metric **out,
                                        char *err, size_t errlen)
{
	wq_run_metric *v = calloc(n > 0 ? n : 1, sizeof(*v));
	size_t done = 0;
	int rc;

	if (v == NULL)
		return wq_nomem(err, errlen);
	if (n > 0 && m == NULL)
		rc = malformed(err, errlen, "metric history", "missing metrics");
	else
		rc = metrics_fill(m, n, v, &done, err, errlen);
	if (rc != WQ_OK) {
		wq_run_metric_list_free(v, done);
		return rc;
	}
	*out = v;
	return WQ_OK;
}

static wq_status artifacts_from(const Wineq__V1__Run *m, wq_run *r, char *err, size_t errlen)
{
	if (m->n_artifacts == 0)
		return WQ_OK;
	r->artifacts = calloc(m->n_artifacts, sizeof(*r->artifacts));
	if (r->artifacts == NULL)
		return wq_nomem(err, errlen);
	for (size_t i = 0; i < m->n_artifacts; i++) {
		const Wineq__V1__ArtifactInfo *x = m->artifacts[i];

		if (x == NULL || !is_hex64(x->sha256) || x->size < 0)
			return malformed(err, errlen, "run", "artifact record");
		r->artifacts[i].path = sdup(x->path);
		r->nartifacts = i + 1;
		if (r->artifacts[i].path == NULL)
			return wq_nomem(err, errlen);
		r->artifacts[i].size = x->size;
		memcpy(r->artifacts[i].sha256, x->sha256, WQ_SHA256_HEXLEN);
	}
	return WQ_OK;
}

wq_status wq_registry_wire_run_from(const Wineq__V1__Run *m, wq_run **out, char *err, size_t errlen)
{
	wq_run *r;
	int rc;

	if (m == NULL)
		return malformed(err, errlen, "run", "missing");
	if (m->run_id == NULL || strlen(m->run_id) != WQ_RUN_ID_LEN)
		return malformed(err, errlen, "run", "run_id");
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return wq_nomem(err, errlen);
	memcpy(r->id, m->run_id, WQ_RUN_ID_LEN + 1);
	r->experiment_id = m->experiment_id;
	r->start_ms = m->start_unix_ms;
	r->end_ms = m->end_unix_ms;
	rc = wq_registry_wire_status_from(m->status, &r->status, NULL, 0);
	if (rc != WQ_OK) {
		rc = malformed(err, errlen, "run", "status");
		goto fail;
	}
	r->experiment_name = sdup(m->experiment_name);
	r->name = sdup(m->name);
	r->artifact_uri = sdup(m->artifact_uri);
	if (r->experiment_name == NULL || r->name == NULL || r->artifact_uri == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = kv_from(m->params, m->n_params, &r->params, &r->nparams, err, errlen);
	if (rc == WQ_OK)
		rc = kv_from(m->tags, m->n_tags, &r->tags, &r->ntags, err, errlen);
	if (rc == WQ_OK)
		rc = metrics_from(m, r, err, errlen);
	if (rc == WQ_OK)
		rc = artifacts_from(m, r, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = r;
	return WQ_OK;
fail:
	wq_run_free(r);
	return rc;
}

wq_status wq_registry_wire_model_from(const Wineq__V1__RegisteredModel *m,
                                      wq_registered_model **out, char *err, size_t errlen)
{
	wq_registered_model *mod;
	int rc;

	if (m == NULL)
		return malformed(err, errlen, "registered model", "missing");
	mod = calloc(1, sizeof(*mod));
	if (mod == NULL)
		return wq_nomem(err, errlen);
	mod->created_ms = m->created_unix_ms;
	mod->updated_ms = m->updated_unix_ms;
	mod->latest_version = m->latest_version;
	mod->name = sdup(m->name);
	mod->description = sdup(m->description);
	if (mod->name == NULL || mod->description == NULL)
		rc = wq_nomem(err, errlen);
	else
		rc = kv_from(m->tags, m->n_tags, &mod->tags, &mod->ntags, err, errlen);
	if (rc != WQ_OK) {
		wq_registered_model_free(mod);
		return rc;
	}
	*out = mod;
	return WQ_OK;
}

wq_status wq_registry_wire_version_from(const Wineq__V1__ModelVersion *m, wq_model_version **out,
                                        char *err, size_t errlen)
{
	wq_model_version *v;
	int rc = WQ_OK;

	if (m == NULL)
		return malformed(err, errlen, "model version", "missing");
	if (!is_hex64(m->sha256))
		return malformed(err, errlen, "model version", "sha256");
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return wq_nomem(err, errlen);
	v->version = m->version;
	v->created_ms = m->created_unix_ms;
	memcpy(v->sha256, m->sha256, WQ_SHA256_HEXLEN);
	if (wq_registry_wire_stage_from(m->stage, &v->stage, NULL, 0) != WQ_OK) {
		rc = malformed(err, errlen, "model version", "stage");
		goto fail;
	}
	v->name = sdup(m->name);
	v->run_id = sdup(m->run_id);
	v->source_uri = sdup(m->source_uri);
	v->created_by = sdup(m->created_by);
	v->description = sdup(m->description);
	if (v->name == NULL || v->run_id == NULL || v->source_uri == NULL ||
	    v->created_by == NULL || v->description == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = kv_from(m->tags, m->n_tags, &v->tags, &v->ntags, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	if (m->n_aliases > 0) {
		v->aliases = calloc(m->n_aliases, sizeof(*v->aliases));
		if (v->aliases == NULL) {
			rc = wq_nomem(err, errlen);
			goto fail;
		}
		for (size_t i = 0; i < m->n_aliases; i++) {
			v->aliases[i] = sdup(m->aliases[i]);
			v->naliases = i + 1;
			if (v->aliases[i] == NULL) {
				rc = wq_nomem(err, errlen);
				goto fail;
			}
		}
	}
	*out = v;
	return WQ_OK;
fail:
	wq_model_version_free(v);
	return rc;
}

wq_status wq_registry_wire_events_from(Wineq__V1__ModelEvent *const *m, size_t n,
                                       wq_model_event **out, char *err, size_t errlen)
{
	wq_model_event *e = calloc(n > 0 ? n : 1, sizeof(*e));

	if (e == NULL)
		return wq_nomem(err, errlen);
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__ModelEvent *x = m[i];

		if (x == NULL) {
			wq_model_events_free(e, n);
			return malformed(err, errlen, "model history", "empty event");
		}
		e[i].id = x->id;
		e[i].version = x->version;
		e[i].time_ms = x->time_unix_ms;
		e[i].name = sdup(x->name);
		e[i].kind = sdup(x->kind);
		e[i].from = sdup(x->from_value);
		e[i].to = sdup(x->to_value);
		e[i].alias = sdup(x->alias);
		e[i].actor = sdup(x->actor);
		if (e[i].name == NULL || e[i].kind == NULL || e[i].from == NULL ||
		    e[i].to == NULL || e[i].alias == NULL || e[i].actor == NULL) {
			wq_model_events_free(e, n);
			return wq_nomem(err, errlen);
		}
	}
	*out = e;
	return WQ_OK;
}

/* --- files ----------------------------------------------------------------------------- */

static wq_status too_big(const char *what, int64_t size, char *err, size_t errlen)
{
	return wq_err_set(err, errlen, WQ_ERANGE,
	                  "%s is %" PRId64 " bytes: a remote registry moves files of at most "
	                  "%" PRId64 " bytes (one 16 MiB message less room for metadata)",
	                  what, size, WQ_REGISTRY_WIRE_MAX_FILE);
}

typedef struct tree {
	wq_artifact_file *v;
	size_t n, cap;
} tree;

static wq_status tree_add(tree *t, char *rel, int64_t size, char *err, size_t errlen)
{
	if (t->n >= WQ_REGISTRY_WIRE_MAX_FILES) {
		free(rel);
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "more than %d files: too many for a remote registry",
		                  WQ_REGISTRY_WIRE_MAX_FILES);
	}
	if (t->n == t->cap) {
		size_t cap = t->cap > 0 ? 2 * t->cap : 16;
		wq_artifact_file *v = realloc(t->v, cap * sizeof(*v));

		if (v == NULL) {
			free(rel);
			return wq_nomem(err, errlen);
		}
		t->v = v;
		t->cap = cap;
	}
	memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
	t->v[t->n].path = rel;
	t->v[t->n].size = size;
	t->n++;
	return WQ_OK;
}

static wq_status walk(const char *root, const char *rel, int depth, tree *t, char *err,
                      size_t errlen)
{
	char *dirpath = wq_file_path_join(root, rel);
	DIR *d = NULL;
	struct dirent *e;
	int rc = WQ_OK;

	if (dirpath == NULL)
		return wq_nomem(err, errlen);
	if (depth > MAX_DEPTH) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: directories nested too deep", dirpath);
		goto out;
	}
	d = opendir(dirpath);
	if (d == NULL) {
		rc = wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO,
		                "cannot read directory %s: %s", dirpath, strerror(errno));
		goto out;
	}
	while (rc == WQ_OK && (e = readdir(d)) != NULL) {
		struct stat sb;
		char *sub, *full;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sub = wq_file_path_join(rel, e->d_name);
		full = sub != NULL ? wq_file_path_join(root, sub) : NULL;
		if (full == NULL) {
			free(sub);
			rc = wq_nomem(err, errlen);
			break;
		}
		if (lstat(full, &sb) != 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "cannot stat %s: %s", full,
			                strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			rc = walk(root, sub, depth + 1, t, err, errlen);
		} else if (!S_ISREG(sb.st_mode)) {
			rc =
			    wq_err_set(err, errlen, WQ_EINVAL,
			               "%s: not a regular file (symlinks and special files are not "
			               "uploaded)",
			               full);
		} else if ((rc = wq_name_check_path("artifact file path", sub, err, errlen)) ==
		           WQ_OK) {
			/* the relative path: on a server the staging directory means nothing */
			if ((int64_t)sb.st_size > WQ_REGISTRY_WIRE_MAX_FILE)
				rc = too_big(sub, (int64_t)sb.st_size, err, errlen);
			else {
				rc = tree_add(t, sub, (int64_t)sb.st_size, err, errlen);
				sub = NULL; /* owned by the tree (or freed) */
			}
		}
		free(sub);
		free(full);
	}
out:
	if (d != NULL)
		closedir(d);
	free(dirpath);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const wq_artifact_file *)a)->path, ((const wq_artifact_file *)b)->path);
}

wq_status wq_registry_wire_tree_list(const char *dir, wq_artifact_file **files, size_t *nfiles,
                                     char *err, size_t errlen)
{
	tree t = {0};
	struct stat sb;
	int rc;

	if (dir == NULL || files == NULL || nfiles == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "tree_list: missing argument");
	if (stat(dir, &sb) != 0)
		return wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO, "%s: %s", dir,
		                  strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: not a directory", dir);
	rc = walk(dir, "", 0, &t, err, errlen);
	if (rc != WQ_OK) {
		wq_artifact_files_free(t.v, t.n);
		return rc;
	}
	if (t.n > 1)
		qsort(t.v, t.n, sizeof(*t.v), cmp_file);
	*files = t.v;
	*nfiles = t.n;
	return WQ_OK;
}

wq_status wq_registry_wire_file_load(wq_registry_wire_arena *a, const char *dir, const char *rel,
                                     int with_content, Wineq__V1__FileData **out, char *err,
                                     size_t errlen)
{
	char *path = wq_file_path_join(dir, rel), *hex = NULL, *name = NULL;
	uint8_t chunk[READ_CHUNK], *buf = NULL, digest[WQ_SHA256_LEN];
	Wineq__V1__FileData *f = NULL;
	wq_sha256 h;
	struct stat sb;
	size_t got = 0;
	int fd = -1, rc;

	if (path == NULL)
		return wq_nomem(err, errlen);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO,
		                "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((int64_t)sb.st_size > WQ_REGISTRY_WIRE_MAX_FILE) {
		rc = too_big(path, (int64_t)sb.st_size, err, errlen);
		goto out;
	}
	f = NEW(a, Wineq__V1__FileData);
	hex = wq_registry_wire_alloc(a, WQ_SHA256_HEXLEN);
	name = wq_registry_wire_alloc(a, strlen(rel) + 1);
	/* one spare byte: a zero-size file still gets a buffer, and growth shows as a change */
	buf = with_content ? wq_registry_wire_alloc(a, (size_t)sb.st_size + 1) : NULL;
	if (f == NULL || hex == NULL || name == NULL || (with_content && buf == NULL)) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	wq_sha256_init(&h);
	for (;;) {
		uint8_t *dst = with_content ? buf + got : chunk;
		size_t room = with_content ? (size_t)sb.st_size + 1 - got : sizeof(chunk);
		ssize_t r;

		if (room == 0)
			break;
		r = read(fd, dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "cannot read %s: %s", path,
			                strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		wq_sha256_update(&h, dst, (size_t)r);
		got += (size_t)r;
		if (got > (size_t)sb.st_size)
			break;
	}
	if (got != (size_t)sb.st_size) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s changed while it was read", path);
		goto out;
	}
	wq_sha256_final(&h, digest);
	wq_sha256_hex(digest, hex);
	wineq__v1__file_data__init(f);
	memcpy(name, rel, strlen(rel) + 1);
	f->path = name;
	f->size = (int64_t)got;
	f->sha256 = hex;
	if (with_content) {
		f->content.data = buf;
		f->content.len = got;
	} else {
		f->content_omitted = 1;
	}
	*out = f;
	rc = WQ_OK;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

wq_status wq_registry_wire_file_check(const Wineq__V1__FileData *f, char *err, size_t errlen)
{
	char hex[WQ_SHA256_HEXLEN];
	int rc;

	if (f == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "empty file entry");
	rc = wq_name_check_path("artifact file path", f->path, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (f->size < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: negative size", f->path);
	if (f->size > WQ_REGISTRY_WIRE_MAX_FILE)
		return too_big(f->path, f->size, err, errlen);
	if (!is_hex64(f->sha256))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: sha256 must be 64 lower-case hex digits", f->path);
	if (f->content_omitted)
		return WQ_OK;
	if (f->content.len != (size_t)f->size || (f->content.len > 0 && f->content.data == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: %zu bytes of content for a declared size of %" PRId64,
		                  f->path, f->content.len, f->size);
	wq_sha256_buf_hex(f->content.data, f->content.len, hex);
	if (strcmp(hex, f->sha256) != 0)
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "%s: content does not match its SHA-256 (got %s, declared %s)",
		                  f->path, hex, f->sha256);
	return WQ_OK;
}

wq_status wq_registry_wire_mkdir_parents(const char *base, const char *rel, char *err,
                                         size_t errlen)
{
	char *full = wq_file_path_join(base, rel);
	size_t skip;
	int rc = WQ_OK;

	if (full == NULL)
		return wq_nomem(err, errlen);
	skip = strlen(full) - strlen(rel); /* only directories below base are made */
	for (char *p = full + skip; rc == WQ_OK && (p = strchr(p, '/')) != NULL; p++) {
		struct stat sb;

		*p = '\0';
		if (mkdir(full, 0755) != 0) {
			if (errno != EEXIST)
				rc = wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", full,
				                strerror(errno));
			else if (lstat(full, &sb) != 0 || !S_ISDIR(sb.st_mode))
				rc = wq_err_set(
				    err, errlen, WQ_EINVAL,
				    "%s: a file of that name is in the way of a directory",
				    full + skip);
		}
		*p = '/';
	}
	free(full);
	return rc;
}

wq_status wq_registry_wire_file_write(const char *dir, const Wineq__V1__FileData *f, char *err,
                                      size_t errlen)
{
	char *path;
	size_t done = 0;
	int fd, rc;

	if (f == NULL || f->content_omitted)
		return wq_err_set(err, errlen, WQ_EINVAL, "file_write: no content");
	rc = wq_registry_wire_mkdir_parents(dir, f->path, err, errlen);
	if (rc != WQ_OK)
		return rc;
	path = wq_file_path_join(dir, f->path);
	if (path == NULL)
		return wq_nomem(err, errlen);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = errno == EEXIST || errno == EISDIR || errno == ENOTDIR || errno == ELOOP
		         ? wq_err_set(err, errlen, WQ_EINVAL,
		                      "%s: given twice, or in the way of another path", f->path)
		         : wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", path,
		                      strerror(errno));
		free(path);
		return rc;
	}
	while (done < f->content.len) {
		ssize_t w = write(fd, f->content.data + done, f->content.len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "cannot write %s: %s", path,
			                strerror(errno));
			break;
		}
		done += (size_t)w;
	}
	if (close(fd) != 0 && rc == WQ_OK)
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot write %s: %s", path, strerror(errno));
	free(path);
	return rc;
}

void wq_registry_wire_rmtree(const char *path)
{
	wq_file_rmtree(path, NULL, 0); /* NULL and "" are WQ_EINVAL there: nothing to do */
}
