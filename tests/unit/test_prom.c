/* wq_prom: registry, exact text exposition, name rules, cardinality guard, concurrency, empty
 * label values, the process and build-info collectors, and
 * acceptance of the rendering by `promtool check metrics` when promtool is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_error.h"
#include "serve/wq_prom.h"
#include "wq_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static wq_prom_family *add(wq_prom *p, int type, const char *name, const char *help,
                           const char *const *labels, size_t nlabels, const double *buckets,
                           size_t nbuckets)
{
	wq_prom_family *f = NULL;
	char err[256] = "";

	assert_int_equal(wq_prom_family_add(p, type, name, help, labels, nlabels, buckets, nbuckets,
	                                    &f, err, sizeof(err)),
	                 WQ_OK);
	assert_non_null(f);
	return f;
}

static wq_prom_cell *cell(wq_prom_family *f, const char *const *values)
{
	wq_prom_cell *c = NULL;

	assert_int_equal(wq_prom_cell_get(f, values, &c), WQ_OK);
	assert_non_null(c);
	return c;
}

static char *render(wq_prom *p)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(wq_prom_render(p, &text, &len), WQ_OK);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void assert_render(wq_prom *p, const char *want)
{
	char *text = render(p);

	if (strcmp(text, want) != 0)
		print_error("got:\n%s\nwant:\n%s\n", text, want);
	assert_string_equal(text, want);
	free(text);
}

static void test_render_small(void **state)
{
	static const char *const req_labels[] = {"method", "code"};
	static const double bounds[] = {0.125, 0.5, 1};
	wq_prom_family *req, *temp, *lat, *empty;
	wq_prom_cell *get200, *post500, *t, *h;
	wq_prom *p = NULL;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	req = add(p, WQ_PROM_COUNTER, "wq_requests_total", "Requests served.", req_labels, 2, NULL,
	          0);
	temp = add(p, WQ_PROM_GAUGE, "wq_temperature_celsius", "Temperature.", NULL, 0, NULL, 0);
	lat = add(p, WQ_PROM_HISTOGRAM, "wq_latency_seconds", "Request latency.",
	          (const char *const[]){"op"}, 1, bounds, 3);
	empty = add(p, WQ_PROM_GAUGE, "wq_unused", "Never set.", NULL, 0, NULL, 0);
	(void)empty;

	get200 = cell(req, (const char *const[]){"GET", "200"});
	post500 = cell(req, (const char *const[]){"POST", "500"});
	assert_ptr_equal(cell(req, (const char *const[]){"GET", "200"}), get200);
	wq_prom_cell_inc(get200);
	wq_prom_cell_inc(get200);
	wq_prom_cell_add(get200, 3);
	wq_prom_cell_add(get200, -1);    /* ignored: counters only go up */
	wq_prom_cell_add(get200, NAN);   /* ignored */
	wq_prom_cell_set(get200, 100);   /* ignored: not a gauge */
	wq_prom_cell_observe(get200, 1); /* ignored: not a histogram */
	wq_prom_cell_add(post500, 0.5);
	assert_near(wq_prom_cell_value(get200), 5, 0);
	assert_near(wq_prom_cell_value(post500), 0.5, 0);

	t = cell(temp, NULL);
	wq_prom_cell_set(t, 20);
	wq_prom_cell_add(t, -1.5);
	wq_prom_cell_inc(t);
	assert_near(wq_prom_cell_value(t), 19.5, 0);

	h = cell(lat, (const char *const[]){"predict"});
	wq_prom_cell_observe(h, 0.0625);
	wq_prom_cell_observe(h, 0.125); /* le is inclusive */
	wq_prom_cell_observe(h, 0.75);
	wq_prom_cell_observe(h, 3);
	wq_prom_cell_observe(h, NAN);      /* ignored */
	wq_prom_cell_observe(h, INFINITY); /* ignored */
	wq_prom_cell_add(h, 1);            /* ignored: not a counter or gauge */
	assert_near(wq_prom_cell_value(h), 4, 0);

	assert_render(p, "# HELP wq_requests_total Requests served.\n"
	                 "# TYPE wq_requests_total counter\n"
	                 "wq_requests_total{method=\"GET\",code=\"200\"} 5\n"
	                 "wq_requests_total{method=\"POST\",code=\"500\"} 0.5\n"
	                 "# HELP wq_temperature_celsius Temperature.\n"
	                 "# TYPE wq_temperature_celsius gauge\n"
	                 "wq_temperature_celsius 19.5\n"
	                 "# HELP wq_latency_seconds Request latency.\n"
	                 "# TYPE wq_latency_seconds histogram\n"
	                 "wq_latency_seconds_bucket{op=\"predict\",le=\"0.125\"} 2\n"
	                 "wq_latency_seconds_bucket{op=\"predict\",le=\"0.5\"} 2\n"
	                 "wq_latency_seconds_bucket{op=\"predict\",le=\"1\"} 3\n"
	                 "wq_latency_seconds_bucket{op=\"predict\",le=\"+Inf\"} 4\n"
	                 "wq_latency_seconds_sum{op=\"predict\"} 3.9375\n"
	                 "wq_latency_seconds_count{op=\"predict\"} 4\n"
	                 "# HELP wq_unused Never set.\n"
	                 "# TYPE wq_unused gauge\n");
	wq_prom_free(p);
}

static void test_escaping_and_values(void **state)
{
	wq_prom_family *g, *h;
	wq_prom *p = NULL;
	char *text;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	g = add(p, WQ_PROM_GAUGE, "wq_value", "Help with \\ backslash,\nnewline and \"quotes\".",
	        (const char *const[]){"v"}, 1, NULL, 0);
	wq_prom_cell_set(cell(g, (const char *const[]){"a\"b\\c\nd"}), 1);
	wq_prom_cell_set(cell(g, (const char *const[]){""}), 0.1);
	wq_prom_cell_set(cell(g, (const char *const[]){"nan"}), NAN);
	wq_prom_cell_set(cell(g, (const char *const[]){"inf"}), INFINITY);
	wq_prom_cell_set(cell(g, (const char *const[]){"-inf"}), -INFINITY);
	wq_prom_cell_set(cell(g, (const char *const[]){"neg"}), -3);
	wq_prom_cell_set(cell(g, (const char *const[]){"big"}), 1e20);
	wq_prom_cell_set(cell(g, (const char *const[]){"exact"}), 9007199254740991.0);
	wq_prom_cell_set(cell(g, (const char *const[]){"third"}), 1.0 / 3);
	wq_prom_cell_set(cell(g, (const char *const[]){"tiny"}), 1.5e-300);
	wq_prom_cell_set(cell(g, (const char *const[]){"négatif ✓"}), -0.0);
	assert_render(p, "# HELP wq_value Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
	                 "# TYPE wq_value gauge\n"
	                 "wq_value{v=\"a\\\"b\\\\c\\nd\"} 1\n"
	                 "wq_value 0.1\n"
	                 "wq_value{v=\"nan\"} NaN\n"
	                 "wq_value{v=\"inf\"} +Inf\n"
	                 "wq_value{v=\"-inf\"} -Inf\n"
	                 "wq_value{v=\"neg\"} -3\n"
	                 "wq_value{v=\"big\"} 1e+20\n"
	                 "wq_value{v=\"exact\"} 9007199254740991\n"
	                 "wq_value{v=\"third\"} 0.3333333333333333\n"
	                 "wq_value{v=\"tiny\"} 1.5e-300\n"
	                 "wq_value{v=\"négatif ✓\"} 0\n");
	wq_prom_free(p);

	/* default latency buckets; a counter past 2^53 stays exact */
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	h = add(p, WQ_PROM_HISTOGRAM, "wq_op_seconds", "Op time.", NULL, 0, NULL, 0);
	wq_prom_cell_observe(cell(h, NULL), 0.0003);
	g = add(p, WQ_PROM_COUNTER, "wq_bytes_total", "Bytes.", NULL, 0, NULL, 0);
	wq_prom_cell_add(cell(g, NULL), 9007199254740990.0);
	for (int i = 0; i < 5; i++)
		wq_prom_cell_inc(cell(g, NULL));
	text = render(p);
	assert_non_null(strstr(text, "wq_op_seconds_bucket{le=\"0.0001\"} 0\n"
	                             "wq_op_seconds_bucket{le=\"0.00025\"} 0\n"
	                             "wq_op_seconds_bucket{le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(text, "wq_op_seconds_bucket{le=\"2.5\"} 1\n"
	                             "wq_op_seconds_bucket{le=\"5\"} 1\n"
	                             "wq_op_seconds_bucket{le=\"10\"} 1\n"
	                             "wq_op_seconds_bucket{le=\"+Inf\"} 1\n"
	                             "wq_op_seconds_sum 0.0003\n"
	                             "wq_op_seconds_count 1\n"));
	assert_non_null(strstr(text, "wq_bytes_total 9007199254740995\n"));
	free(text);
	wq_prom_free(p);
}

struct model {
	const char *name, *version;
};

static void collect_models(wq_prom_emitter *e, void *arg)
{
	const struct model *m = arg;

	for (; m->name != NULL; m++)
		wq_prom_emit(e, (const char *const[]){m->name, m->version}, 1);
	/* invalid samples are dropped, not rendered */
	wq_prom_emit(e, (const char *const[]){"x", NULL}, 1);
	wq_prom_emit(e, NULL, 1);
	wq_prom_emit(e, (const char *const[]){"bad\xff", "1"}, 1);
}

static void collect_uptime(wq_prom_emitter *e, void *arg)
{
	(void)arg;
	wq_prom_emit(e, NULL, 12.25);
}

static void test_collector(void **state)
{
	static const struct model models[] = {{"wine", "3"}, {"wi\"ne", "4"}, {NULL, NULL}};
	wq_prom_family *info, *up, *h;
	wq_prom *p = NULL;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	info = add(p, WQ_PROM_GAUGE, "wq_model_info", "Served model.",
	           (const char *const[]){"name", "version"}, 2, NULL, 0);
	up = add(p, WQ_PROM_COUNTER, "wq_uptime_seconds_total", "Uptime.", NULL, 0, NULL, 0);
	h = add(p, WQ_PROM_HISTOGRAM, "wq_h_seconds", "H.", NULL, 0, NULL, 0);
	assert_int_equal(wq_prom_family_set_collector(info, collect_models, (void *)models), WQ_OK);
	assert_int_equal(wq_prom_family_set_collector(up, collect_uptime, NULL), WQ_OK);
	assert_int_equal(wq_prom_family_set_collector(h, collect_uptime, NULL), WQ_EINVAL);
	assert_int_equal(wq_prom_family_set_collector(NULL, collect_uptime, NULL), WQ_EINVAL);
	assert_render(p, "# HELP wq_model_info Served model.\n"
	                 "# TYPE wq_model_info gauge\n"
	                 "wq_model_info{name=\"wine\",version=\"3\"} 1\n"
	                 "wq_model_info{name=\"wi\\\"ne\",version=\"4\"} 1\n"
	                 "# HELP wq_uptime_seconds_total Uptime.\n"
	                 "# TYPE wq_uptime_seconds_total counter\n"
	                 "wq_uptime_seconds_total 12.25\n"
	                 "# HELP wq_h_seconds H.\n"
	                 "# TYPE wq_h_seconds histogram\n");
	/* clearing the collector */
	assert_int_equal(wq_prom_family_set_collector(info, NULL, NULL), WQ_OK);
	assert_int_equal(wq_prom_family_set_collector(up, NULL, NULL), WQ_OK);
	assert_render(p, "# HELP wq_model_info Served model.\n"
	                 "# TYPE wq_model_info gauge\n"
	                 "# HELP wq_uptime_seconds_total Uptime.\n"
	                 "# TYPE wq_uptime_seconds_total counter\n"
	                 "# HELP wq_h_seconds H.\n"
	                 "# TYPE wq_h_seconds histogram\n");
	wq_prom_free(p);
}

static void expect_add_fail(wq_prom *p, int type, const char *name, const char *help,
                            const char *const *labels, size_t nlabels, const double *buckets,
                            size_t nbuckets, int want)
{
	wq_prom_family *f = (wq_prom_family *)0x1;
	char err[256] = "";

	assert_int_equal(wq_prom_family_add(p, type, name, help, labels, nlabels, buckets, nbuckets,
	                                    &f, err, sizeof(err)),
	                 want);
	assert_ptr_equal(f, (wq_prom_family *)0x1);
	assert_true(err[0] != '\0');
}

static void test_name_validation(void **state)
{
	static const double dup[] = {1, 1}, down[] = {2, 1}, inf[] = {1, INFINITY}, nan_[] = {NAN};
	double many[WQ_PROM_MAX_BUCKETS + 1];
	const char *nine[WQ_PROM_MAX_LABELS + 1];
	wq_prom *p = NULL;
	char names[WQ_PROM_MAX_LABELS + 1][16];
	char *text;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	add(p, WQ_PROM_COUNTER, "ns:ok_total", "Colons are valid.", NULL, 0, NULL, 0);
	add(p, WQ_PROM_GAUGE, "_g1", "Leading underscore.", (const char *const[]){"_l", "L2"}, 2,
	    NULL, 0);
	/* metric names */
	expect_add_fail(p, WQ_PROM_GAUGE, "", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, NULL, "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "1abc", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "a-b", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "a b", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "caf\xc3\xa9", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	/* counters must end in _total; nothing else may */
	expect_add_fail(p, WQ_PROM_COUNTER, "wq_requests", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_COUNTER, "_total", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x_total", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x_total", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	/* histogram series suffixes */
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x_bucket", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x_count", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x_sum", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	/* help text */
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", NULL, NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "", NULL, 0, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "bad \xc0\xaf", NULL, 0, NULL, 0, WQ_EINVAL);
	/* type */
	expect_add_fail(p, 7, "wq_x", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	/* label names */
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"le"}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", (const char *const[]){"le"}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"quantile"}, 1, NULL,
	                0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"__name"}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"a:b"}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"9a"}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){""}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){NULL}, 1, NULL, 0,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", NULL, 1, NULL, 0, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", (const char *const[]){"a", "b", "a"}, 3,
	                NULL, 0, WQ_EINVAL);
	for (int i = 0; i <= WQ_PROM_MAX_LABELS; i++) {
		snprintf(names[i], sizeof(names[i]), "l%d", i);
		nine[i] = names[i];
	}
	add(p, WQ_PROM_GAUGE, "wq_eight", "h", nine, WQ_PROM_MAX_LABELS, NULL, 0);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", nine, WQ_PROM_MAX_LABELS + 1, NULL, 0,
	                WQ_EINVAL);
	/* buckets */
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, dup, 2, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, down, 2, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, inf, 2, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, nan_, 1, WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, NULL, 3, WQ_EINVAL);
	for (int i = 0; i <= WQ_PROM_MAX_BUCKETS; i++)
		many[i] = i;
	add(p, WQ_PROM_HISTOGRAM, "wq_many", "h", NULL, 0, many, WQ_PROM_MAX_BUCKETS);
	expect_add_fail(p, WQ_PROM_HISTOGRAM, "wq_x", "h", NULL, 0, many, WQ_PROM_MAX_BUCKETS + 1,
	                WQ_EINVAL);
	expect_add_fail(p, WQ_PROM_GAUGE, "wq_x", "h", NULL, 0, many, 2, WQ_EINVAL);
	/* duplicates */
	expect_add_fail(p, WQ_PROM_GAUGE, "_g1", "again", NULL, 0, NULL, 0, WQ_EEXIST);
	expect_add_fail(p, WQ_PROM_COUNTER, "ns:ok_total", "again", NULL, 0, NULL, 0, WQ_EEXIST);
	/* NULL arguments */
	expect_add_fail(NULL, WQ_PROM_GAUGE, "wq_x", "h", NULL, 0, NULL, 0, WQ_EINVAL);
	assert_int_equal(
	    wq_prom_family_add(p, WQ_PROM_GAUGE, "wq_x", "h", NULL, 0, NULL, 0, NULL, NULL, 0),
	    WQ_EINVAL);

	/* none of the failures left a family behind */
	text = render(p);
	assert_null(strstr(text, "wq_x"));
	free(text);
	wq_prom_free(p);
}

static void test_cells_and_cardinality(void **state)
{
	wq_prom_family *f, *u;
	wq_prom_cell *c = (wq_prom_cell *)0x1, *first;
	wq_prom *p = NULL;
	char v[32];

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	f = add(p, WQ_PROM_COUNTER, "wq_c_total", "h", (const char *const[]){"a", "b"}, 2, NULL, 0);
	/* values are compared whole: ("ab","c") is not ("a","bc") */
	first = cell(f, (const char *const[]){"ab", "c"});
	assert_ptr_not_equal(cell(f, (const char *const[]){"a", "bc"}), first);
	assert_ptr_equal(cell(f, (const char *const[]){"ab", "c"}), first);
	/* bad values; *out untouched */
	assert_int_equal(wq_prom_cell_get(f, (const char *const[]){"x", NULL}, &c), WQ_EINVAL);
	assert_int_equal(wq_prom_cell_get(f, NULL, &c), WQ_EINVAL);
	assert_int_equal(wq_prom_cell_get(f, (const char *const[]){"x", "\xed\xa0\x80"}, &c),
	                 WQ_EINVAL);
	assert_int_equal(wq_prom_cell_get(NULL, NULL, &c), WQ_EINVAL);
	assert_ptr_equal(c, (wq_prom_cell *)0x1);

	/* the cardinality guard: exactly WQ_PROM_MAX_SERIES cells per family */
	u = add(p, WQ_PROM_GAUGE, "wq_many", "h", (const char *const[]){"id"}, 1, NULL, 0);
	for (int i = 0; i < WQ_PROM_MAX_SERIES; i++) {
		snprintf(v, sizeof(v), "%d", i);
		wq_prom_cell_set(cell(u, (const char *const[]){v}), i);
	}
	assert_int_equal(wq_prom_cell_get(u, (const char *const[]){"overflow"}, &c), WQ_ERANGE);
	assert_ptr_equal(c, (wq_prom_cell *)0x1);
	/* existing series are still found, other families unaffected */
	assert_near(wq_prom_cell_value(cell(u, (const char *const[]){"4095"})), 4095, 0);
	cell(f, (const char *const[]){"new", "one"});
	wq_prom_free(p);
	wq_prom_free(NULL);
}

/* --- concurrency ------------------------------------------------------------------------ */

#define NTHREADS 4
#define NITER    100000
#define NKEYS    500

struct shared {
	wq_prom *p;
	wq_prom_family *counter, *gauge, *hist, *keyed;
	wq_prom_cell *keys[NTHREADS][NKEYS];
	atomic_int stop;
};

struct worker {
	struct shared *s;
	int id;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	wq_prom_cell *c = NULL, *g = NULL, *h = NULL;
	char v[32];

	/* every thread creates the same keyed cells at once; all must get the same ones */
	for (int k = 0; k < NKEYS; k++) {
		snprintf(v, sizeof(v), "k%d", k);
		if (wq_prom_cell_get(s->keyed, (const char *const[]){v}, &s->keys[w->id][k]) != 0)
			return (void *)1;
	}
	for (int i = 0; i < NITER; i++) {
		/* looked up every time on purpose: exercises the lock-free path under load */
		if (wq_prom_cell_get(s->counter, (const char *const[]){"shared"}, &c) != 0 ||
		    wq_prom_cell_get(s->gauge, NULL, &g) != 0 ||
		    wq_prom_cell_get(s->hist, NULL, &h) != 0)
			return (void *)1;
		wq_prom_cell_inc(c);
		wq_prom_cell_add(g, 1.0);
		wq_prom_cell_observe(h, (i % 4) * 0.25);
		wq_prom_cell_add(c, 0.5);
	}
	return NULL;
}

static void *render_main(void *arg)
{
	struct shared *s = arg;
	int n = 0;

	while (!atomic_load(&s->stop) || n == 0) {
		char *text = NULL;

		if (wq_prom_render(s->p, &text, NULL) != 0 || text == NULL)
			return (void *)1;
		free(text);
		n++;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	static const double bounds[] = {0.25, 0.5};
	struct shared s = {0};
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS], rt;
	void *ret;
	wq_prom_cell *c;
	char *text, line[256];

	(void)state;
	assert_int_equal(wq_prom_new(&s.p), WQ_OK);
	s.counter =
	    add(s.p, WQ_PROM_COUNTER, "wq_hits_total", "h", (const char *const[]){"k"}, 1, NULL, 0);
	s.gauge = add(s.p, WQ_PROM_GAUGE, "wq_level", "h", NULL, 0, NULL, 0);
	s.hist = add(s.p, WQ_PROM_HISTOGRAM, "wq_obs_seconds", "h", NULL, 0, bounds, 2);
	s.keyed = add(s.p, WQ_PROM_GAUGE, "wq_keyed", "h", (const char *const[]){"k"}, 1, NULL, 0);
	atomic_init(&s.stop, 0);
	assert_int_equal(pthread_create(&rt, NULL, render_main, &s), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].s = &s;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	atomic_store(&s.stop, 1);
	assert_int_equal(pthread_join(rt, &ret), 0);
	assert_null(ret);

	for (int k = 0; k < NKEYS; k++)
		for (int i = 1; i < NTHREADS; i++)
			assert_ptr_equal(s.keys[i][k], s.keys[0][k]);
	c = cell(s.counter, (const char *const[]){"shared"});
	assert_near(wq_prom_cell_value(c), NTHREADS * NITER * 1.5, 0);
	assert_near(wq_prom_cell_value(cell(s.gauge, NULL)), NTHREADS * NITER, 0);
	assert_near(wq_prom_cell_value(cell(s.hist, NULL)), NTHREADS * NITER, 0);

	text = render(s.p);
	snprintf(line, sizeof(line), "wq_hits_total{k=\"shared\"} %d\n", NTHREADS * NITER * 3 / 2);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "\nwq_level %d\n", NTHREADS * NITER);
	assert_non_null(strstr(text, line));
	/* observations 0, 0.25, 0.5, 0.75 in turn: half <= 0.25, 3/4 <= 0.5 */
	snprintf(line, sizeof(line),
	         "wq_obs_seconds_bucket{le=\"0.25\"} %d\n"
	         "wq_obs_seconds_bucket{le=\"0.5\"} %d\n"
	         "wq_obs_seconds_bucket{le=\"+Inf\"} %d\n"
	         "wq_obs_seconds_sum %d\n"
	         "wq_obs_seconds_count %d\n",
	         NTHREADS * NITER / 2, NTHREADS * NITER * 3 / 4, NTHREADS * NITER,
	         NTHREADS * NITER * 3 / 8, NTHREADS * NITER);
	assert_non_null(strstr(text, line));
	free(text);
	wq_prom_free(s.p);
}

/* --- promtool --------------------------------------------------------------------------- */

static void test_promtool(void **state)
{
	static const double bounds[] = {0.001, 0.01, 0.1, 1};
	static const struct model models[] = {{"wine-quality", "7"}, {NULL, NULL}};
	wq_prom_family *f;
	wq_prom *p = NULL;
	char dir[256], in[512], out[512], cmd[1200];
	char *text, *result;
	size_t len;
	FILE *fp;
	int status;

	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(in, sizeof(in), "%s/metrics.txt", dir);
	snprintf(out, sizeof(out), "%s/promtool.out", dir);

	assert_int_equal(wq_prom_new(&p), WQ_OK);
	f = add(p, WQ_PROM_COUNTER, "wineq_requests_total",
	        "Requests by \"route\" and code; a \\ and a\nnewline.",
	        (const char *const[]){"route", "code"}, 2, NULL, 0);
	wq_prom_cell_add(cell(f, (const char *const[]){"/v1/predict", "200"}), 41);
	wq_prom_cell_add(cell(f, (const char *const[]){"a\"b\\c\nd", "500"}), 0.5);
	wq_prom_cell_inc(cell(f, (const char *const[]){"ünïcode ✓", "404"}));
	f = add(p, WQ_PROM_GAUGE, "wineq_queue_depth", "Queued requests.", NULL, 0, NULL, 0);
	wq_prom_cell_set(cell(f, NULL), -2.5);
	f = add(p, WQ_PROM_GAUGE, "wineq_special_ratio", "Special values.",
	        (const char *const[]){"kind"}, 1, NULL, 0);
	wq_prom_cell_set(cell(f, (const char *const[]){"nan"}), NAN);
	wq_prom_cell_set(cell(f, (const char *const[]){"inf"}), INFINITY);
	wq_prom_cell_set(cell(f, (const char *const[]){"ninf"}), -INFINITY);
	wq_prom_cell_set(cell(f, (const char *const[]){"small"}), 1e-30);
	f = add(p, WQ_PROM_HISTOGRAM, "wineq_predict_latency_seconds", "Prediction latency.",
	        (const char *const[]){"model"}, 1, NULL, 0);
	for (int i = 0; i < 100; i++)
		wq_prom_cell_observe(cell(f, (const char *const[]){"wine"}), i * 0.0013);
	cell(f, (const char *const[]){"empty"});
	f = add(p, WQ_PROM_HISTOGRAM, "wineq_batch_seconds", "Batch time.", NULL, 0, bounds, 4);
	wq_prom_cell_observe(cell(f, NULL), 0.05);
	f = add(p, WQ_PROM_GAUGE, "wineq_model_info", "Served model.",
	        (const char *const[]){"name", "version"}, 2, NULL, 0);
	assert_int_equal(wq_prom_family_set_collector(f, collect_models, (void *)models), WQ_OK);
	f = add(p, WQ_PROM_COUNTER, "wineq_uptime_seconds_total", "Uptime.", NULL, 0, NULL, 0);
	assert_int_equal(wq_prom_family_set_collector(f, collect_uptime, NULL), WQ_OK);
	add(p, WQ_PROM_GAUGE, "wineq_unset", "A family without series.", NULL, 0, NULL, 0);
	f = add(p, WQ_PROM_COUNTER, "wineq_route_requests_total", "Labels used on some series.",
	        (const char *const[]){"method", "route"}, 2, NULL, 0);
	wq_prom_cell_inc(cell(f, (const char *const[]){"", "/predict"}));
	wq_prom_cell_inc(cell(f, (const char *const[]){"Predict", ""}));
	assert_int_equal(wq_prom_process_add(p, NULL, 0), WQ_OK);
	assert_int_equal(wq_prom_build_info_add(p, NULL, 0), WQ_OK);

	text = render(p);
	fp = fopen(in, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s' 2>&1", in, out);
	status = system(cmd);
	assert_true(status != -1 && WIFEXITED(status));
	/* promtool's complaints, if any, are the most useful failure message */
	fp = fopen(out, "rb");
	assert_non_null(fp);
	result = calloc(1, 65536);
	assert_non_null(result);
	len = fread(result, 1, 65535, fp);
	fclose(fp);
	if (WEXITSTATUS(status) != 0 || len != 0)
		print_error("promtool exit %d:\n%s\ninput:\n%s\n", WEXITSTATUS(status), result,
		            text);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(len, 0);
	free(result);
	free(text);
	wq_prom_free(p);

	/* and the checker is live: a counter without _total (built by hand) is reported */
	fp = fopen(in, "wb");
	assert_non_null(fp);
	fputs("# HELP x_requests Bad.\n# TYPE x_requests counter\nx_requests 1\n", fp);
	assert_int_equal(fclose(fp), 0);
	status = system(cmd);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 0);
	assert_int_equal(wq_test_rmtree(dir), 0);
}

/* The value of the sample `name value` (no labels) in text; NAN when absent. */
static double sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; (p = strstr(p, name)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static void test_process(void **state)
{
	wq_prom *p = NULL;
	struct rlimit rl;
	char *text, want[128];
	double fds, rss, vsz, start, cpu, now = (double)time(NULL);
	int extra[3];
	volatile double spin = 0;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	assert_int_equal(wq_prom_process_add(p, NULL, 0), WQ_OK);
	assert_int_equal(wq_prom_build_info_add(p, NULL, 0), WQ_OK);
	/* registering twice is a duplicate like any other family */
	assert_int_equal(wq_prom_process_add(p, NULL, 0), WQ_EEXIST);

	text = render(p);
	assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(text, "# TYPE process_open_fds gauge\n"));
	snprintf(want, sizeof(want), "\nwineq_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	assert_non_null(strstr(text, want));
	fds = sample(text, "process_open_fds");
	rss = sample(text, "process_resident_memory_bytes");
	vsz = sample(text, "process_virtual_memory_bytes");
	start = sample(text, "process_start_time_seconds");
	cpu = sample(text, "process_cpu_seconds_total");
	assert_true(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	assert_true(sample(text, "process_max_fds") == (double)rl.rlim_cur);
	assert_true(fds >= 3); /* stdin, stdout, stderr at least */
	assert_true(rss > 0 && vsz >= rss);
	/* this test process started moments ago (boot time and ticks are whole-second and
	 * 10 ms precise) */
	assert_true(start <= now + 2 && start > now - 600);
	assert_true(cpu >= 0);
	free(text);

	/* read at scrape time: three more descriptors and some CPU show at the next render */
	for (int i = 0; i < 3; i++)
		assert_true((extra[i] = open("/dev/null", O_RDONLY)) >= 0);
	for (long i = 0; i < 30000000; i++)
		spin += (double)i;
	text = render(p);
	assert_true(sample(text, "process_open_fds") == fds + 3);
	assert_true(sample(text, "process_cpu_seconds_total") >= cpu);
	free(text);
	for (int i = 0; i < 3; i++)
		close(extra[i]);
	wq_prom_free(p);
}

/* A label with an empty value is left out, also of collected samples. */
static void emit_partial(wq_prom_emitter *e, void *arg)
{
	(void)arg;
	wq_prom_emit(e, (const char *const[]){"", "x"}, 2);
	wq_prom_emit(e, (const char *const[]){"", ""}, 3);
}

static void test_empty_labels(void **state)
{
	wq_prom *p = NULL;
	wq_prom_family *f;

	(void)state;
	assert_int_equal(wq_prom_new(&p), WQ_OK);
	f = add(p, WQ_PROM_COUNTER, "wq_requests_total", "Requests.",
	        (const char *const[]){"protocol", "method", "route"}, 3, NULL, 0);
	wq_prom_cell_inc(cell(f, (const char *const[]){"rpc", "Predict", ""}));
	wq_prom_cell_inc(cell(f, (const char *const[]){"http", "", "/predict"}));
	f = add(p, WQ_PROM_HISTOGRAM, "wq_seconds", "Time.", (const char *const[]){"route"}, 1,
	        (const double[]){1}, 1);
	wq_prom_cell_observe(cell(f, (const char *const[]){""}), 0.5);
	f = add(p, WQ_PROM_GAUGE, "wq_collected", "Collected.", (const char *const[]){"a", "b"}, 2,
	        NULL, 0);
	assert_int_equal(wq_prom_family_set_collector(f, emit_partial, NULL), WQ_OK);
	assert_render(p, "# HELP wq_requests_total Requests.\n"
	                 "# TYPE wq_requests_total counter\n"
	                 "wq_requests_total{protocol=\"rpc\",method=\"Predict\"} 1\n"
	                 "wq_requests_total{protocol=\"http\",route=\"/predict\"} 1\n"
	                 "# HELP wq_seconds Time.\n"
	                 "# TYPE wq_seconds histogram\n"
	                 "wq_seconds_bucket{le=\"1\"} 1\n"
	                 "wq_seconds_bucket{le=\"+Inf\"} 1\n"
	                 "wq_seconds_sum 0.5\n"
	                 "wq_seconds_count 1\n"
	                 "# HELP wq_collected Collected.\n"
	                 "# TYPE wq_collected gauge\n"
	                 "wq_collected{b=\"x\"} 2\n"
	                 "wq_collected 3\n");
	wq_prom_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_small),
	    cmocka_unit_test(test_escaping_and_values),
	    cmocka_unit_test(test_collector),
	    cmocka_unit_test(test_name_validation),
	    cmocka_unit_test(test_cells_and_cardinality),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_promtool),
	    cmocka_unit_test(test_process),
	    cmocka_unit_test(test_empty_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
