#include "serve/wq_prom.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_utf8.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <dirent.h>

/* Hash chains per family: with WQ_PROM_MAX_SERIES cells a chain stays around 16 long, so a
 * lookup by label values is a few string compares rather than a walk of every series. */
#define NHASH 256

/* 2^53: every integer below it is exact in a double and prints without exponent. */
#define EXACT_INT 9007199254740992.0

struct wq_prom_cell {
	/* next in creation order (rendering); written by the creator of the following cell */
	_Atomic(wq_prom_cell *) next;
	/* next in the hash chain; set before the cell is published and never changed */
	wq_prom_cell *hnext;
	wq_prom_family *f;
	uint32_t hash;
	char **values; /* f->nlabels values; one allocation with the strings */
	char *lbl;     /* rendered and escaped `a="x",b="y"`, "" without labels */
	/* counter: the integral part of the total, so that inc() is one exact fetch_add */
	_Atomic uint64_t ival;
	/* double bits: counter's fractional adds, gauge value, or histogram _sum */
	_Atomic uint64_t bits;
	/* histogram: f->nbuckets + 1 non-cumulative counts (the last one is +Inf) */
	_Atomic uint64_t counts[];
};

struct wq_prom_family {
	_Atomic(wq_prom_family *) next; /* registration order */
	int type;
	char *name;
	char *help; /* escaped for the HELP line */
	size_t nlabels;
	char *labels[WQ_PROM_MAX_LABELS];
	size_t nbuckets;
	double bounds[WQ_PROM_MAX_BUCKETS];
	char le[WQ_PROM_MAX_BUCKETS][32]; /* bounds as rendered in le="..." */

	pthread_mutex_t mu; /* cell creation, tail, ncells, collector */
	_Atomic(wq_prom_cell *) head;
	wq_prom_cell *tail;
	size_t ncells;
	_Atomic(wq_prom_cell *) hash[NHASH];
	wq_prom_collect_fn collect;
	void *collect_arg;
};

struct wq_prom {
	pthread_mutex_t mu; /* family registration */
	_Atomic(wq_prom_family *) head;
	wq_prom_family *tail;
};

struct wq_prom_emitter {
	wq_buf *b;
	wq_prom_family *f;
};

static const double default_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

/* --- small helpers ---------------------------------------------------------------------- */

static uint64_t to_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Relaxed: metrics need atomicity, not ordering against other memory. */
static void add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, to_bits(from_bits(old) + v),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

/* Escapes \ and newline, and " too when quoted (label values); HELP text keeps its quotes. */
static void prom_esc(wq_buf *b, const char *s, int quoted)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quoted)
			rep = "\\\"";
		if (rep == NULL)
			continue;
		wq_buf_add(b, run, (size_t)(s - run));
		wq_buf_puts(b, rep);
		run = s + 1;
	}
	wq_buf_add(b, run, (size_t)(s - run));
}

/* The text format is UTF-8; anything else would make the whole scrape unparsable. */
static bool utf8_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
		size_t n = wq_utf8_seq(p, SIZE_MAX);

		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/* Prometheus spellings for the special values; integers without exponent; otherwise the
 * shortest %.Ng (N = 15..17) that reads back as the same double, so that bucket bounds print
 * as written (le="0.1", not le="0.10000000000000001") and PromQL selectors on le match. */
static void fmt_value(char *buf, size_t n, double v)
{
	if (isnan(v)) {
		snprintf(buf, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == trunc(v) && fabs(v) < EXACT_INT) {
		snprintf(buf, n, "%" PRId64, (int64_t)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static bool name_char(char c, int first, int colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
		return true;
	return !first && c >= '0' && c <= '9';
}

static bool name_valid(const char *s, int colon)
{
	if (s == NULL || *s == '\0')
		return false;
	for (size_t i = 0; s[i] != '\0'; i++)
		if (!name_char(s[i], i == 0, colon))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* FNV-1a over the values including their terminators, so ("ab","c") and ("a","bc") differ. */
static uint32_t hash_values(const char *const *values, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		const unsigned char *s = (const unsigned char *)values[i];

		do {
			h ^= *s;
			h *= 16777619u;
		} while (*s++ != '\0');
	}
	return h;
}

/* --- registry --------------------------------------------------------------------------- */

wq_status wq_prom_new(wq_prom **out)
{
	wq_prom *p;

	if (out == NULL)
		return WQ_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return WQ_ENOMEM;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return WQ_ENOMEM;
	}
	atomic_init(&p->head, NULL);
	*out = p;
	return WQ_OK;
}

static void cell_free(wq_prom_cell *c)
{
	if (c == NULL)
		return;
	free(c->values);
	free(c->lbl);
	free(c);
}

static void family_free(wq_prom_family *f)
{
	wq_prom_cell *c, *next;

	if (f == NULL)
		return;
	for (c = atomic_load(&f->head); c != NULL; c = next) {
		next = atomic_load(&c->next);
		cell_free(c);
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void wq_prom_free(wq_prom *p)
{
	wq_prom_family *f, *next;

	if (p == NULL)
		return;
	for (f = atomic_load(&p->head); f != NULL; f = next) {
		next = atomic_load(&f->next);
		family_free(f);
	}
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* Beyond the name syntax, the rules `promtool check metrics` lints: counters end in _total
 * and nothing else does; _bucket/_sum/_count are what histograms generate, so a family with
 * such a name would collide with (or be mistaken for) a histogram's series. */
static wq_status check_family_name(int type, const char *name, char *err, size_t errlen)
{
	static const char *const reserved[] = {"_bucket", "_sum", "_count"};

	if (!name_valid(name, 1))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "metric name '%s': must match [a-zA-Z_:][a-zA-Z0-9_:]*",
		                  name != NULL ? name : "(null)");
	if (type == WQ_PROM_COUNTER && (!ends_with(name, "_total") || strcmp(name, "_total") == 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "counter '%s': name must end in _total",
		                  name);
	if (type != WQ_PROM_COUNTER && ends_with(name, "_total"))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "metric '%s': only counters may end in _total", name);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (ends_with(name, reserved[i]))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "metric '%s': suffix %s is reserved for histograms", name,
			                  reserved[i]);
	return WQ_OK;
}

static wq_status check_labels(const char *const *names, size_t n, char *err, size_t errlen)
{
	if (n > WQ_PROM_MAX_LABELS)
		return wq_err_set(err, errlen, WQ_EINVAL, "%zu label names, at most %d", n,
		                  WQ_PROM_MAX_LABELS);
	if (n > 0 && names == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "label names missing");
	for (size_t i = 0; i < n; i++) {
		const char *l = names[i];

		if (!name_valid(l, 0))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "label name '%s': must match [a-zA-Z_][a-zA-Z0-9_]*",
			                  l != NULL ? l : "(null)");
		if (strncmp(l, "__", 2) == 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "label name '%s': the __ prefix is reserved", l);
		/* le is the histogram bucket label, quantile the summary one */
		if (strcmp(l, "le") == 0 || strcmp(l, "quantile") == 0)
			return wq_err_set(err, errlen, WQ_EINVAL, "label name '%s' is reserved", l);
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[j], l) == 0)
				return wq_err_set(err, errlen, WQ_EINVAL,
				                  "label name '%s' given twice", l);
	}
	return WQ_OK;
}

static wq_status check_buckets(int type, const double **buckets, size_t *nbuckets, char *err,
                               size_t errlen)
{
	if (type != WQ_PROM_HISTOGRAM) {
		if (*buckets != NULL || *nbuckets != 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "buckets are for histograms only");
		return WQ_OK;
	}
	if (*buckets == NULL) {
		if (*nbuckets != 0)
			return wq_err_set(err, errlen, WQ_EINVAL, "bucket bounds missing");
		*buckets = default_buckets;
		*nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
	}
	if (*nbuckets > WQ_PROM_MAX_BUCKETS)
		return wq_err_set(err, errlen, WQ_EINVAL, "%zu buckets, at most %d", *nbuckets,
		                  WQ_PROM_MAX_BUCKETS);
	for (size_t i = 0; i < *nbuckets; i++) {
		if (!isfinite((*buckets)[i]))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "bucket %zu: bounds must be finite (+Inf is implicit)",
			                  i);
		if (i > 0 && !((*buckets)[i] > (*buckets)[i - 1]))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "bucket %zu: bounds must be strictly increasing", i);
	}
	return WQ_OK;
}

wq_status wq_prom_family_add(wq_prom *p, int type, const char *name, const char *help,
                             const char *const *label_names, size_t nlabels, const double *buckets,
                             size_t nbuckets, wq_prom_family **out, char *err, size_t errlen)
{
	wq_prom_family *f, *it;
	wq_buf hb = WQ_BUF_INIT;
	int nomem = 0;
	wq_status rc;

	if (p == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "missing registry or output");
	if (type != WQ_PROM_COUNTER && type != WQ_PROM_GAUGE && type != WQ_PROM_HISTOGRAM)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown metric type %d", type);
	rc = check_family_name(type, name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* promtool reports a family without help text */
	if (help == NULL || *help == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "metric '%s': help text missing", name);
	if (!utf8_valid(help))
		return wq_err_set(err, errlen, WQ_EINVAL, "metric '%s': help text is not UTF-8",
		                  name);
	rc = check_labels(label_names, nlabels, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = check_buckets(type, &buckets, &nbuckets, err, errlen);
	if (rc != WQ_OK)
		return rc;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	if (pthread_mutex_init(&f->mu, NULL) != 0) {
		free(f);
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot create mutex");
	}
	atomic_init(&f->next, NULL);
	atomic_init(&f->head, NULL);
	for (size_t i = 0; i < NHASH; i++)
		atomic_init(&f->hash[i], NULL);
	f->type = type;
	f->name = strdup(name);
	prom_esc(&hb, help, 0);
	if (wq_buf_steal(&hb, &f->help, NULL) != WQ_OK)
		nomem = 1;
	f->nlabels = nlabels;
	for (size_t i = 0; i < nlabels; i++)
		if ((f->labels[i] = strdup(label_names[i])) == NULL)
			nomem = 1;
	if (f->name == NULL || nomem) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	f->nbuckets = nbuckets;
	for (size_t i = 0; i < nbuckets; i++) {
		f->bounds[i] = buckets[i];
		fmt_value(f->le[i], sizeof(f->le[i]), buckets[i]);
	}

	pthread_mutex_lock(&p->mu);
	for (it = atomic_load_explicit(&p->head, memory_order_acquire); it != NULL;
	     it = atomic_load_explicit(&it->next, memory_order_acquire))
		if (strcmp(it->name, name) == 0)
			break;
	if (it != NULL) {
		pthread_mutex_unlock(&p->mu);
		rc = wq_err_set(err, errlen, WQ_EEXIST, "metric '%s' already registered", name);
		goto fail;
	}
	/* release: a renderer that sees the pointer sees the finished family */
	if (p->tail == NULL)
		atomic_store_explicit(&p->head, f, memory_order_release);
	else
		atomic_store_explicit(&p->tail->next, f, memory_order_release);
	p->tail = f;
	pthread_mutex_unlock(&p->mu);
	*out = f;
	return WQ_OK;
fail:
	family_free(f);
	return rc;
}

/* --- cells ------------------------------------------------------------------------------ */

static wq_prom_cell *cell_find(wq_prom_family *f, uint32_t h, const char *const *values)
{
	wq_prom_cell *c;

	for (c = atomic_load_explicit(&f->hash[h % NHASH], memory_order_acquire); c != NULL;
	     c = c->hnext) {
		size_t i;

		if (c->hash != h)
			continue;
		for (i = 0; i < f->nlabels; i++)
			if (strcmp(c->values[i], values[i]) != 0)
				break;
		if (i == f->nlabels)
			return c;
	}
	return NULL;
}

/* `a="x",b="y"`; a label with an empty value is left out, which is what Prometheus makes of
 * it anyway, so a family may use a label only on some of its series. */
static void put_labels(wq_buf *b, const wq_prom_family *f, const char *const *values)
{
	int first = 1;

	for (size_t i = 0; i < f->nlabels; i++) {
		if (values[i][0] == '\0')
			continue;
		if (!first)
			wq_buf_puts(b, ",");
		first = 0;
		wq_buf_puts(b, f->labels[i]);
		wq_buf_puts(b, "=\"");
		prom_esc(b, values[i], 1);
		wq_buf_puts(b, "\"");
	}
}

static wq_prom_cell *cell_new(wq_prom_family *f, uint32_t h, const char *const *values)
{
	size_t ncounts = f->type == WQ_PROM_HISTOGRAM ? f->nbuckets + 1 : 0;
	size_t size = f->nlabels * sizeof(char *);
	wq_prom_cell *c;
	wq_buf lb = WQ_BUF_INIT;
	char *s;

	c = calloc(1, sizeof(*c) + ncounts * sizeof(c->counts[0]));
	if (c == NULL)
		return NULL;
	atomic_init(&c->next, NULL);
	atomic_init(&c->ival, 0);
	atomic_init(&c->bits, to_bits(0.0));
	for (size_t i = 0; i < ncounts; i++)
		atomic_init(&c->counts[i], 0);
	c->f = f;
	c->hash = h;
	for (size_t i = 0; i < f->nlabels; i++)
		size += strlen(values[i]) + 1;
	c->values = malloc(size > 0 ? size : 1);
	if (c->values == NULL)
		goto fail;
	s = (char *)(c->values + f->nlabels);
	for (size_t i = 0; i < f->nlabels; i++) {
		size_t n = strlen(values[i]) + 1;

		memcpy(s, values[i], n);
		c->values[i] = s;
		s += n;
	}
	put_labels(&lb, f, values);
	if (wq_buf_steal(&lb, &c->lbl, NULL) != WQ_OK)
		goto fail;
	return c;
fail:
	wq_buf_free(&lb);
	cell_free(c);
	return NULL;
}

wq_status wq_prom_cell_get(wq_prom_family *f, const char *const *label_values, wq_prom_cell **out)
{
	wq_prom_cell *c;
	uint32_t h;
	wq_status rc = WQ_OK;

	if (f == NULL || out == NULL || (f->nlabels > 0 && label_values == NULL))
		return WQ_EINVAL;
	for (size_t i = 0; i < f->nlabels; i++)
		if (label_values[i] == NULL)
			return WQ_EINVAL;
	h = hash_values(label_values, f->nlabels);
	/* the hot path: an existing cell, found without locking */
	c = cell_find(f, h, label_values);
	if (c != NULL) {
		*out = c;
		return WQ_OK;
	}
	for (size_t i = 0; i < f->nlabels; i++)
		if (!utf8_valid(label_values[i]))
			return WQ_EINVAL;

	pthread_mutex_lock(&f->mu);
	/* another thread may have created it between the lookup and the lock */
	c = cell_find(f, h, label_values);
	if (c != NULL)
		goto done;
	if (f->ncells >= WQ_PROM_MAX_SERIES) {
		rc = WQ_ERANGE;
		goto done;
	}
	c = cell_new(f, h, label_values);
	if (c == NULL) {
		rc = WQ_ENOMEM;
		goto done;
	}
	/* c is complete; release-publish it on both lists (readers load with acquire) */
	c->hnext = atomic_load_explicit(&f->hash[h % NHASH], memory_order_relaxed);
	atomic_store_explicit(&f->hash[h % NHASH], c, memory_order_release);
	if (f->tail == NULL)
		atomic_store_explicit(&f->head, c, memory_order_release);
	else
		atomic_store_explicit(&f->tail->next, c, memory_order_release);
	f->tail = c;
	f->ncells++;
done:
	pthread_mutex_unlock(&f->mu);
	if (rc == WQ_OK)
		*out = c;
	return rc;
}

void wq_prom_cell_add(wq_prom_cell *c, double v)
{
	if (c == NULL || !isfinite(v))
		return;
	if (c->f->type == WQ_PROM_GAUGE) {
		add_double(&c->bits, v);
		return;
	}
	if (c->f->type != WQ_PROM_COUNTER || v < 0)
		return;
	/* whole increments stay exact beyond 2^53 and cost one fetch_add instead of a CAS loop */
	if (v == trunc(v) && v < EXACT_INT)
		atomic_fetch_add_explicit(&c->ival, (uint64_t)v, memory_order_relaxed);
	else
		add_double(&c->bits, v);
}

void wq_prom_cell_inc(wq_prom_cell *c)
{
	if (c != NULL && c->f->type == WQ_PROM_COUNTER)
		atomic_fetch_add_explicit(&c->ival, 1, memory_order_relaxed);
	else
		wq_prom_cell_add(c, 1.0);
}

void wq_prom_cell_set(wq_prom_cell *c, double v)
{
	if (c != NULL && c->f->type == WQ_PROM_GAUGE)
		atomic_store_explicit(&c->bits, to_bits(v), memory_order_relaxed);
}

void wq_prom_cell_observe(wq_prom_cell *c, double v)
{
	const wq_prom_family *f;
	size_t lo = 0, hi;

	/* a NaN or infinite observation would poison _sum for the life of the process */
	if (c == NULL || c->f->type != WQ_PROM_HISTOGRAM || !isfinite(v))
		return;
	f = c->f;
	/* the first bound >= v (le is inclusive); nbuckets means +Inf */
	hi = f->nbuckets;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&c->counts[lo], 1, memory_order_relaxed);
	add_double(&c->bits, v);
}

static uint64_t hist_count(const wq_prom_cell *c)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= c->f->nbuckets; i++)
		n += atomic_load_explicit(&c->counts[i], memory_order_relaxed);
	return n;
}

double wq_prom_cell_value(const wq_prom_cell *c)
{
	if (c == NULL)
		return NAN;
	switch (c->f->type) {
	case WQ_PROM_COUNTER:
		return (double)atomic_load_explicit(&c->ival, memory_order_relaxed) +
		       from_bits(atomic_load_explicit(&c->bits, memory_order_relaxed));
	case WQ_PROM_GAUGE:
		return from_bits(atomic_load_explicit(&c->bits, memory_order_relaxed));
	default:
		return (double)hist_count(c);
	}
}

/* name+suffix{lbl,le="le"} value */
static void put_sample(wq_buf *b, const char *name, const char *suffix, const char *lbl,
                       const char *le, const char *value)
{
	wq_buf_puts(b, name);
	wq_buf_puts(b, suffix);
	if (*lbl != '\0' || le != NULL) {
		wq_buf_puts(b, "{");
		wq_buf_puts(b, lbl);
		if (le != NULL) {
			wq_buf_puts(b, *lbl != '\0' ? ",le=\"" : "le=\"");
			wq_buf_puts(b, le);
			wq_buf_puts(b, "\"");
		}
		wq_buf_puts(b, "}");
	}
	wq_buf_puts(b, " ");
	wq_buf_puts(b, value);
	wq_buf_puts(b, "\n");
}

/* --- collectors ------------------------------------------------------------------------- */

wq_status wq_prom_family_set_collector(wq_prom_family *f, wq_prom_collect_fn fn, void *arg)
{
	if (f == NULL || f->type == WQ_PROM_HISTOGRAM)
		return WQ_EINVAL;
	pthread_mutex_lock(&f->mu);
	f->collect = fn;
	f->collect_arg = arg;
	pthread_mutex_unlock(&f->mu);
	return WQ_OK;
}

void wq_prom_emit(wq_prom_emitter *e, const char *const *label_values, double v)
{
	const wq_prom_family *f;
	wq_buf lb;
	char num[40];

	if (e == NULL)
		return;
	f = e->f;
	if (f->nlabels > 0 && label_values == NULL)
		return;
	/* a sample that cannot be rendered validly is dropped rather than break the scrape */
	for (size_t i = 0; i < f->nlabels; i++)
		if (label_values[i] == NULL || !utf8_valid(label_values[i]))
			return;
	wq_buf_init(&lb, 0);
	put_labels(&lb, f, label_values);
	fmt_value(num, sizeof(num), v);
	if (wq_buf_status(&lb) == WQ_OK)
		put_sample(e->b, f->name, "", lb.data != NULL ? lb.data : "", NULL, num);
	wq_buf_free(&lb);
}

/* --- rendering -------------------------------------------------------------------------- */

static void render_histogram(wq_buf *b, const wq_prom_family *f, const wq_prom_cell *c)
{
	uint64_t cum = 0;
	char num[40];

	/* _count is the +Inf bucket, so the two agree even while observations race the render */
	for (size_t i = 0; i <= f->nbuckets; i++) {
		cum += atomic_load_explicit(&c->counts[i], memory_order_relaxed);
		snprintf(num, sizeof(num), "%" PRIu64, cum);
		put_sample(b, f->name, "_bucket", c->lbl, i < f->nbuckets ? f->le[i] : "+Inf", num);
	}
	fmt_value(num, sizeof(num),
	          from_bits(atomic_load_explicit(&c->bits, memory_order_relaxed)));
	put_sample(b, f->name, "_sum", c->lbl, NULL, num);
	snprintf(num, sizeof(num), "%" PRIu64, cum);
	put_sample(b, f->name, "_count", c->lbl, NULL, num);
}

static void render_cell(wq_buf *b, const wq_prom_family *f, const wq_prom_cell *c)
{
	char num[40];

	if (f->type == WQ_PROM_HISTOGRAM) {
		render_histogram(b, f, c);
		return;
	}
	if (f->type == WQ_PROM_COUNTER) {
		uint64_t n = atomic_load_explicit(&c->ival, memory_order_relaxed);
		double frac = from_bits(atomic_load_explicit(&c->bits, memory_order_relaxed));

		/* only whole increments so far: print the exact integer, even past 2^53 */
		if (frac == 0)
			snprintf(num, sizeof(num), "%" PRIu64, n);
		else
			fmt_value(num, sizeof(num), (double)n + frac);
	} else {
		fmt_value(num, sizeof(num), wq_prom_cell_value(c));
	}
	put_sample(b, f->name, "", c->lbl, NULL, num);
}

wq_status wq_prom_render(wq_prom *p, char **out, size_t *len)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	wq_prom_family *f;
	wq_buf b = WQ_BUF_INIT;

	if (p == NULL || out == NULL)
		return WQ_EINVAL;
	/* lock-free walks: families and cells are only ever appended, and published complete */
	for (f = atomic_load_explicit(&p->head, memory_order_acquire); f != NULL;
	     f = atomic_load_explicit(&f->next, memory_order_acquire)) {
		wq_prom_collect_fn fn;
		wq_prom_cell *c;
		void *arg;

		wq_buf_puts(&b, "# HELP ");
		wq_buf_puts(&b, f->name);
		wq_buf_puts(&b, " ");
		wq_buf_puts(&b, f->help);
		wq_buf_puts(&b, "\n# TYPE ");
		wq_buf_puts(&b, f->name);
		wq_buf_puts(&b, " ");
		wq_buf_puts(&b, type_names[f->type]);
		wq_buf_puts(&b, "\n");
		for (c = atomic_load_explicit(&f->head, memory_order_acquire); c != NULL;
		     c = atomic_load_explicit(&c->next, memory_order_acquire))
			render_cell(&b, f, c);
		pthread_mutex_lock(&f->mu);
		fn = f->collect;
		arg = f->collect_arg;
		pthread_mutex_unlock(&f->mu);
		/* called unlocked, so a collector may itself use the registry */
		if (fn != NULL) {
			wq_prom_emitter e = {&b, f};

			fn(&e, arg);
		}
	}
	return wq_buf_steal(&b, out, len);
}

/* --- standard series -------------------------------------------------------------------- */

/* What /proc/self/stat and /proc/stat give the process collectors, as indexes of
 * proc_stat.v. */
enum { PS_CPU_SECONDS, PS_START_UNIX, PS_VIRTUAL_BYTES, PS_RESIDENT_BYTES, PS_COUNT };

typedef struct proc_stat {
	double v[PS_COUNT];
} proc_stat;

/* The collector argument of each proc_stat series: which value it emits. */
static int proc_stat_fields[PS_COUNT] = {PS_CPU_SECONDS, PS_START_UNIX, PS_VIRTUAL_BYTES,
                                         PS_RESIDENT_BYTES};

static bool read_file(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return false;
	n = fread(buf, 1, size - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return n > 0;
}

static bool boot_time(double *out)
{
	char buf[8192];
	const char *p;

	if (!read_file("/proc/stat", buf, sizeof(buf)) || (p = strstr(buf, "\nbtime ")) == NULL)
		return false;
	*out = strtod(p + 7, NULL);
	return *out > 0;
}

/* Fields of proc(5)'s /proc/PID/stat, counted after the command name (which may hold blanks
 * and parentheses, so the scan starts after the last ')'): 3 state ... 14 utime, 15 stime,
 * 22 starttime, 23 vsize, 24 rss. */
static bool proc_stat_read(proc_stat *out)
{
	char buf[2048], *p, *end;
	double field[25] = {0}, ticks = (double)sysconf(_SC_CLK_TCK), boot;
	long page = sysconf(_SC_PAGESIZE);

	if (!read_file("/proc/self/stat", buf, sizeof(buf)) || (p = strrchr(buf, ')')) == NULL ||
	    ticks <= 0 || page <= 0 || !boot_time(&boot))
		return false;
	p += 2; /* ") " */
	while (*p != ' ' && *p != '\0')
		p++; /* the state letter */
	for (int i = 4; i <= 24; i++) {
		field[i] = strtod(p, &end);
		if (end == p)
			return false;
		p = end;
	}
	out->v[PS_CPU_SECONDS] = (field[14] + field[15]) / ticks;
	out->v[PS_START_UNIX] = boot + field[22] / ticks;
	out->v[PS_VIRTUAL_BYTES] = field[23];
	out->v[PS_RESIDENT_BYTES] = field[24] * (double)page;
	return true;
}

/* arg: the proc_stat_fields entry of the value to emit. */
static void collect_proc_stat(wq_prom_emitter *e, void *arg)
{
	proc_stat st;

	if (proc_stat_read(&st))
		wq_prom_emit(e, NULL, st.v[*(const int *)arg]);
}

/* Entries of /proc/self/fd, less the one the listing itself holds open. */
static void collect_open_fds(wq_prom_emitter *e, void *arg)
{
	DIR *dir = opendir("/proc/self/fd");
	const struct dirent *de;
	double n = 0;

	(void)arg;
	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	wq_prom_emit(e, NULL, n > 0 ? n - 1 : 0);
}

static void collect_max_fds(wq_prom_emitter *e, void *arg)
{
	struct rlimit rl;

	(void)arg;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		wq_prom_emit(e, NULL,
		             rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
}

static void collect_build_info(wq_prom_emitter *e, void *arg)
{
	const char *lv[1] = {PACKAGE_VERSION};

	(void)arg;
	wq_prom_emit(e, lv, 1);
}

/* One family whose only series comes from fn at render time. */
static wq_status collected_add(wq_prom *p, int type, const char *name, const char *help,
                               const char *const *labels, size_t nlabels, wq_prom_collect_fn fn,
                               void *arg, char *err, size_t errlen)
{
	wq_prom_family *f;
	wq_status rc =
	    wq_prom_family_add(p, type, name, help, labels, nlabels, NULL, 0, &f, err, errlen);

	if (rc == WQ_OK)
		rc = wq_prom_family_set_collector(f, fn, arg);
	return rc;
}

wq_status wq_prom_process_add(wq_prom *p, char *err, size_t errlen)
{
	static const struct {
		int type;
		const char *name, *help;
		wq_prom_collect_fn fn;
		int field; /* of proc_stat, for collect_proc_stat */
	} rows[] = {
	    {WQ_PROM_COUNTER, "process_cpu_seconds_total",
	     "Total user and system CPU time spent in seconds.", collect_proc_stat, PS_CPU_SECONDS},
	    {WQ_PROM_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.",
	     collect_proc_stat, PS_RESIDENT_BYTES},
	    {WQ_PROM_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
	     collect_proc_stat, PS_VIRTUAL_BYTES},
	    {WQ_PROM_GAUGE, "process_open_fds", "Number of open file descriptors.",
	     collect_open_fds, 0},
	    {WQ_PROM_GAUGE, "process_max_fds", "Maximum number of open file descriptors.",
	     collect_max_fds, 0},
	    {WQ_PROM_GAUGE, "process_start_time_seconds",
	     "Start time of the process since unix epoch in seconds.", collect_proc_stat,
	     PS_START_UNIX},
	};
	wq_status rc = WQ_OK;

	for (size_t i = 0; rc == WQ_OK && i < sizeof(rows) / sizeof(rows[0]); i++)
		rc = collected_add(p, rows[i].type, rows[i].name, rows[i].help, NULL, 0, rows[i].fn,
		                   &proc_stat_fields[rows[i].field], err, errlen);
	return rc;
}

wq_status wq_prom_build_info_add(wq_prom *p, char *err, size_t errlen)
{
	static const char *const labels[] = {"version"};

	return collected_add(p, WQ_PROM_GAUGE, "wineq_build_info", "wineq build (value 1).", labels,
	                     1, collect_build_info, NULL, err, errlen);
}
