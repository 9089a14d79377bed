/* wq_serving: reference-counted served models and their atomic replacement. */
#include "serve/wq_serving.h"

#include "base/wq_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wq_serving {
	pthread_mutex_t mu;       /* guards current and the references taken from it */
	wq_served_model *current; /* one reference held by s */
	_Atomic uint64_t generation;
	uint64_t next_generation;
};

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void model_free(wq_served_model *m)
{
	wq_bundle_free(m->bundle);
	free(m->name);
	free(m->stage);
	free(m->uri);
	free(m->run_id);
	free(m);
}

wq_status wq_served_model_new(wq_bundle *b, const char *bundle_dir, const char *name,
                              int64_t version, const char *stage, const char *uri,
                              const char *run_id, wq_served_model **out, char *err, size_t errlen)
{
	wq_served_model *m;
	char path[4096];
	wq_status rc;

	if (b == NULL || bundle_dir == NULL || version < 0) {
		wq_bundle_free(b);
		return wq_err_set(err, errlen, WQ_EINVAL, "a served model needs a bundle");
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		wq_bundle_free(b);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	m->bundle = b;
	m->name = dup_or_empty(name != NULL ? name : b->name);
	m->stage = dup_or_empty(stage);
	m->uri = dup_or_empty(uri);
	m->run_id = dup_or_empty(run_id);
	if (m->name == NULL || m->stage == NULL || m->uri == NULL || m->run_id == NULL) {
		model_free(m);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	m->version = version;
	if (version > 0)
		snprintf(m->version_str, sizeof(m->version_str), "%lld", (long long)version);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bundle_dir, WQ_BUNDLE_MANIFEST) >=
	    sizeof(path)) {
		model_free(m);
		return wq_err_set(err, errlen, WQ_ERANGE, "bundle path too long");
	}
	rc = wq_sha256_file_hex(path, m->sha256, err, errlen);
	if (rc != WQ_OK) {
		model_free(m);
		return rc;
	}
	atomic_init((_Atomic int *)&m->refs, 1);
	*out = m;
	return WQ_OK;
}

void wq_served_model_put(wq_served_model *m)
{
	if (m == NULL)
		return;
	if (atomic_fetch_sub_explicit((_Atomic int *)&m->refs, 1, memory_order_acq_rel) == 1)
		model_free(m);
}

static wq_served_model *model_ref(wq_served_model *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit((_Atomic int *)&m->refs, 1, memory_order_relaxed);
	return m;
}

wq_status wq_serving_new(wq_serving **out)
{
	wq_serving *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return WQ_ENOMEM;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return WQ_ENOMEM;
	}
	atomic_init(&s->generation, 0);
	*out = s;
	return WQ_OK;
}

void wq_serving_free(wq_serving *s)
{
	if (s == NULL)
		return;
	wq_served_model_put(s->current);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void wq_serving_swap(wq_serving *s, wq_served_model *m)
{
	wq_served_model *old;

	pthread_mutex_lock(&s->mu);
	old = s->current;
	m->generation = ++s->next_generation;
	s->current = m;
	/* Published after current so a reader that sees the new number finds the new model. */
	atomic_store_explicit(&s->generation, m->generation, memory_order_release);
	pthread_mutex_unlock(&s->mu);
	wq_served_model_put(old);
}

wq_served_model *wq_serving_get(wq_serving *s)
{
	wq_served_model *m;

	pthread_mutex_lock(&s->mu);
	m = model_ref(s->current);
	pthread_mutex_unlock(&s->mu);
	return m;
}

wq_served_model *wq_serving_cached(wq_serving *s, wq_served_model **slot)
{
	uint64_t g = atomic_load_explicit(&s->generation, memory_order_acquire);
	wq_served_model *old = *slot;

	if (old != NULL && old->generation == g)
		return old;
	*slot = wq_serving_get(s);
	wq_served_model_put(old);
	return *slot;
}

uint64_t wq_serving_generation(const wq_serving *s)
{
	return atomic_load_explicit(&((wq_serving *)s)->generation, memory_order_acquire);
}

wq_status wq_serving_predict(const wq_served_model *m, const char *const *names,
                             const double *values, size_t n, wq_prediction *out, char *err,
                             size_t errlen)
{
	double row[64];
	const wq_bundle *b = m->bundle;
	wq_status rc;

	if (b->nfeatures > sizeof(row) / sizeof(row[0]))
		return wq_err_set(err, errlen, WQ_ERANGE, "model has too many features (%zu)",
		                  b->nfeatures);
	rc = wq_bundle_features_order(b, names, values, n, row, err, errlen);
	if (rc != WQ_OK)
		return rc;
	return wq_bundle_predict(b, row, out, err, errlen);
}
