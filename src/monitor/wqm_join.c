/* The buffer is a ring of entries in arrival order (eviction and expiry take the tail) with
 * two hash indexes chained through the entries: by prediction_id and by customer_id. New
 * entries go to the head of their chains, so the first customer match is the latest one. */
#include "wqm_join.h"

#include "base/wq_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE (-1)

typedef struct entry {
	char id[WQM_JOIN_ID_LEN + 1]; /* "" when the prediction had none */
	char customer[WQM_JOIN_CUSTOMER_MAX];
	uint8_t model;
	int8_t predicted;
	int8_t label; /* -1: none yet */
	int64_t pred_ns, label_ns, seq;
	int32_t next_id, next_cust; /* hash chains (entry indexes), NONE at the end */
} entry;

/* the documented per-prediction figure covers the entry and both bucket arrays (at most 2
 * buckets per entry each, 4 bytes) */
_Static_assert(sizeof(entry) + 16 <= WQM_JOIN_ENTRY_BYTES, "WQM_JOIN_ENTRY_BYTES is too low");

typedef struct model {
	char name[WQM_JOIN_MODEL_MAX];
	int64_t version;
	size_t held;
	size_t first_seen; /* ordering of the quality list */
} model;

struct wqm_join {
	size_t cap, head, count;
	int64_t max_age_ns;
	entry *e;
	int32_t *by_id, *by_cust;
	size_t mask; /* buckets - 1 */
	model models[WQM_JOIN_MAX_MODELS];
	size_t nseen;
	uint64_t gen;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

wq_status wqm_join_new(size_t max_predictions, int64_t max_age_ns, wqm_join **out, char *err,
                       size_t errlen)
{
	wqm_join *j;
	size_t b = 1, i;

	if (max_predictions < 1 || max_predictions > WQM_JOIN_LIMIT)
		return wq_err_set(err, errlen, WQ_EINVAL, "join window must hold 1..%d predictions",
		                  WQM_JOIN_LIMIT);
	if (max_age_ns <= 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "join window age must be positive");
	while (b < max_predictions)
		b <<= 1;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	j->e = calloc(max_predictions, sizeof(*j->e));
	j->by_id = malloc(b * sizeof(*j->by_id));
	j->by_cust = malloc(b * sizeof(*j->by_cust));
	if (j->e == NULL || j->by_id == NULL || j->by_cust == NULL) {
		wqm_join_free(j);
		return wq_err_set(err, errlen, WQ_ENOMEM,
		                  "out of memory for a join window of %zu predictions",
		                  max_predictions);
	}
	for (i = 0; i < b; i++)
		j->by_id[i] = j->by_cust[i] = NONE;
	j->cap = max_predictions;
	j->mask = b - 1;
	j->max_age_ns = max_age_ns;
	*out = j;
	return WQ_OK;
}

void wqm_join_free(wqm_join *j)
{
	if (j == NULL)
		return;
	free(j->e);
	free(j->by_id);
	free(j->by_cust);
	free(j);
}

/* Unlinks entry k from the chain starting at *head (the id chain or the customer chain). */
static void chain_remove(wqm_join *j, int32_t *head, int32_t k, int by_id)
{
	int32_t *p = head;

	while (*p != NONE) {
		int32_t *next = by_id ? &j->e[*p].next_id : &j->e[*p].next_cust;

		if (*p == k) {
			*p = *next;
			return;
		}
		p = next;
	}
}

static void evict_tail(wqm_join *j)
{
	size_t t = (j->head + j->cap - j->count) % j->cap;
	entry *x = &j->e[t];

	if (x->id[0] != '\0')
		chain_remove(j, &j->by_id[hash(x->id) & j->mask], (int32_t)t, 1);
	if (x->customer[0] != '\0')
		chain_remove(j, &j->by_cust[hash(x->customer) & j->mask], (int32_t)t, 0);
	j->models[x->model].held--;
	j->count--;
	j->gen++;
}

static int32_t find_id(const wqm_join *j, const char *id)
{
	int32_t k;

	for (k = j->by_id[hash(id) & j->mask]; k != NONE; k = j->e[k].next_id)
		if (strcmp(j->e[k].id, id) == 0)
			return k;
	return NONE;
}

static int32_t find_customer(const wqm_join *j, const char *c)
{
	int32_t k;

	for (k = j->by_cust[hash(c) & j->mask]; k != NONE; k = j->e[k].next_cust)
		if (strcmp(j->e[k].customer, c) == 0)
			return k;
	return NONE;
}

/* The model's slot: an existing one, else a slot without predictions held; -1 when full. */
static int model_slot(wqm_join *j, const char *name, int64_t version)
{
	int i, free_slot = -1;

	for (i = 0; i < WQM_JOIN_MAX_MODELS; i++) {
		model *m = &j->models[i];

		if (m->held > 0 && m->version == version && strcmp(m->name, name) == 0)
			return i;
		if (m->held == 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		model *m = &j->models[free_slot];

		snprintf(m->name, sizeof(m->name), "%s", name);
		m->version = version;
		m->first_seen = j->nseen++;
	}
	return free_slot;
}

int wqm_join_add_prediction(wqm_join *j, const char *id, const char *customer,
                            const char *model_name, int64_t model_version, int predicted,
                            int64_t pred_ns, int64_t seq)
{
	int has_id = id != NULL && strlen(id) == WQM_JOIN_ID_LEN;
	int has_cust =
	    customer != NULL && customer[0] != '\0' && strlen(customer) < WQM_JOIN_CUSTOMER_MAX;
	int slot;
	entry *x;
	size_t h;

	if ((!has_id && !has_cust) || predicted < -128 || predicted > 127)
		return 0;
	if (has_id && find_id(j, id) != NONE)
		return 0;
	if (j->count == j->cap)
		evict_tail(j);
	slot = model_slot(j, model_name != NULL ? model_name : "", model_version);
	if (slot < 0)
		return 0;
	h = j->head;
	x = &j->e[h];
	memset(x, 0, sizeof(*x));
	if (has_id)
		memcpy(x->id, id, WQM_JOIN_ID_LEN + 1);
	if (has_cust)
		snprintf(x->customer, sizeof(x->customer), "%s", customer);
	x->model = (uint8_t)slot;
	x->predicted = (int8_t)predicted;
	x->label = -1;
	x->pred_ns = pred_ns;
	x->seq = seq;
	x->next_id = x->next_cust = NONE;
	if (has_id) {
		int32_t *b = &j->by_id[hash(id) & j->mask];

		x->next_id = *b;
		*b = (int32_t)h;
	}
	if (has_cust) {
		int32_t *b = &j->by_cust[hash(customer) & j->mask];

		x->next_cust = *b;
		*b = (int32_t)h;
	}
	j->models[slot].held++;
	j->head = (j->head + 1) % j->cap;
	j->count++;
	j->gen++;
	return 1;
}

wqm_join_result wqm_join_add_label(wqm_join *j, const char *id, const char *customer, int quality,
                                   int64_t label_ns)
{
	int32_t k = NONE;

	if (quality < 0 || quality > 10)
		return WQM_JOIN_UNMATCHED;
	if (id != NULL && id[0] != '\0')
		k = strlen(id) == WQM_JOIN_ID_LEN ? find_id(j, id) : NONE;
	else if (customer != NULL && customer[0] != '\0' &&
	         strlen(customer) < WQM_JOIN_CUSTOMER_MAX)
		k = find_customer(j, customer);
	if (k == NONE)
		return WQM_JOIN_UNMATCHED;
	if (j->e[k].label >= 0)
		return WQM_JOIN_DUPLICATE;
	j->e[k].label = (int8_t)quality;
	j->e[k].label_ns = label_ns;
	j->gen++;
	return WQM_JOIN_MATCHED;
}

void wqm_join_expire(wqm_join *j, int64_t now_ns)
{
	while (j->count > 0) {
		size_t t = (j->head + j->cap - j->count) % j->cap;

		if (now_ns - j->e[t].pred_ns <= j->max_age_ns)
			break;
		evict_tail(j);
	}
}

size_t wqm_join_count(const wqm_join *j)
{
	return j->count;
}

int64_t wqm_join_oldest_seq(const wqm_join *j)
{
	if (j->count == 0)
		return -1;
	return j->e[(j->head + j->cap - j->count) % j->cap].seq;
}

uint64_t wqm_join_gen(const wqm_join *j)
{
	return j->gen;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* numpy.quantile(x, q) with linear interpolation over sorted x. */
static double quantile(const double *x, size_t n, double q)
{
	double pos = q * (double)(n - 1), frac;
	size_t lo = (size_t)pos;

	if (lo + 1 >= n)
		return x[n - 1];
	frac = pos - (double)lo;
	return x[lo] + (x[lo + 1] - x[lo]) * frac;
}

static wq_status quality_one(const wqm_join *j, int slot, wqm_join_quality *q)
{
	size_t i, n = 0, cap = j->models[slot].held;
	int *yt = malloc((cap ? cap : 1) * sizeof(*yt));
	int *yp = malloc((cap ? cap : 1) * sizeof(*yp));
	double *lag = malloc((cap ? cap : 1) * sizeof(*lag));
	wq_status rc = WQ_OK;

	if (yt == NULL || yp == NULL || lag == NULL) {
		rc = WQ_ENOMEM;
		goto out;
	}
	for (i = 0; i < j->count; i++) {
		const entry *x = &j->e[(j->head + j->cap - j->count + i) % j->cap];

		if (x->model != slot || x->label < 0)
			continue;
		yt[n] = x->label;
		yp[n] = x->predicted;
		lag[n++] = (double)(x->label_ns - x->pred_ns) / 1e9;
	}
	snprintf(q->model_name, sizeof(q->model_name), "%s", j->models[slot].name);
	q->model_version = j->models[slot].version;
	q->held = cap;
	q->labelled = n;
	q->metrics = NULL;
	q->lag_p50_s = q->lag_p90_s = NAN;
	if (n > 0) {
		rc = wq_metrics_compute(yt, yp, n, NULL, 0, &q->metrics);
		qsort(lag, n, sizeof(*lag), cmp_double);
		q->lag_p50_s = quantile(lag, n, 0.5);
		q->lag_p90_s = quantile(lag, n, 0.9);
	}
out:
	free(yt);
	free(yp);
	free(lag);
	return rc;
}

wq_status wqm_join_quality_all(const wqm_join *j, wqm_join_quality **out, size_t *n)
{
	wqm_join_quality *q = calloc(WQM_JOIN_MAX_MODELS, sizeof(*q));
	int order[WQM_JOIN_MAX_MODELS];
	size_t k = 0, a, b;
	wq_status rc = WQ_OK;
	int i;

	if (q == NULL)
		return WQ_ENOMEM;
	for (i = 0; i < WQM_JOIN_MAX_MODELS; i++)
		if (j->models[i].held > 0)
			order[k++] = i;
	for (a = 1; a < k; a++) /* insertion sort by first appearance (k <= 16) */
		for (b = a;
		     b > 0 && j->models[order[b]].first_seen < j->models[order[b - 1]].first_seen;
		     b--) {
			int t = order[b];

			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (a = 0; a < k && rc == WQ_OK; a++)
		rc = quality_one(j, order[a], &q[a]);
	if (rc != WQ_OK) {
		wqm_join_quality_free(q, k);
		return rc;
	}
	*out = q;
	*n = k;
	return WQ_OK;
}

void wqm_join_quality_free(wqm_join_quality *q, size_t n)
{
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < n; i++)
		wq_metrics_free(q[i].metrics);
	free(q);
}

wq_status wqm_join_labels(const wqm_join *j, const char *model_name, int64_t model_version,
                          double **out, size_t *n)
{
	double *v = NULL;
	size_t i, k = 0;
	int slot;

	for (slot = 0; slot < WQM_JOIN_MAX_MODELS; slot++)
		if (j->models[slot].held > 0 && j->models[slot].version == model_version &&
		    strcmp(j->models[slot].name, model_name) == 0)
			break;
	if (slot < WQM_JOIN_MAX_MODELS) {
		v = malloc(j->models[slot].held * sizeof(*v));
		if (v == NULL)
			return WQ_ENOMEM;
		for (i = 0; i < j->count; i++) {
			const entry *x = &j->e[(j->head + j->cap - j->count + i) % j->cap];

			if (x->model == slot && x->label >= 0)
				v[k++] = x->label;
		}
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return WQ_OK;
}
