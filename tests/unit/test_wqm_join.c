#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "wqm_join.h"

#define S   1000000000LL /* ns per second */
#define DAY (86400 * S)

/* Ids: 32 lower-case hex digits, unique per n. */
static void pid(char *buf, int n)
{
	snprintf(buf, WQM_JOIN_ID_LEN + 1, "%032x", n);
}

static void bounds_checked_before_allocation(void **state)
{
	wqm_join *j = NULL;
	char err[256];

	(void)state;
	assert_int_equal(wqm_join_new(0, DAY, &j, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqm_join_new(WQM_JOIN_LIMIT + 1, DAY, &j, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "1..1000000"));
	assert_int_equal(wqm_join_new(10, 0, &j, err, sizeof(err)), WQ_EINVAL);
	assert_null(j);
	wqm_join_free(NULL);
}

static void matched_unmatched_duplicate(void **state)
{
	wqm_join *j;
	char id[40], other[40];
	wqm_join_quality *q;
	size_t n;

	(void)state;
	assert_int_equal(wqm_join_new(100, DAY, &j, NULL, 0), WQ_OK);
	pid(id, 1);
	pid(other, 2);
	assert_int_equal(wqm_join_add_prediction(j, id, "", "wine-quality", 3, 6, 10 * S, 1), 1);
	/* the same id again is not held twice */
	assert_int_equal(wqm_join_add_prediction(j, id, "", "wine-quality", 3, 5, 11 * S, 2), 0);
	assert_int_equal(wqm_join_add_prediction(j, "", "", "wine-quality", 3, 5, 11 * S, 3), 0);
	assert_int_equal(wqm_join_count(j), 1);
	assert_int_equal(wqm_join_add_label(j, other, NULL, 6, 20 * S), WQM_JOIN_UNMATCHED);
	assert_int_equal(wqm_join_add_label(j, "short", NULL, 6, 20 * S), WQM_JOIN_UNMATCHED);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 11, 20 * S), WQM_JOIN_UNMATCHED);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 5, 20 * S), WQM_JOIN_MATCHED);
	/* a second label is a duplicate and the first one stays */
	assert_int_equal(wqm_join_add_label(j, id, NULL, 6, 30 * S), WQM_JOIN_DUPLICATE);
	assert_int_equal(wqm_join_quality_all(j, &q, &n), WQ_OK);
	assert_int_equal(n, 1);
	assert_string_equal(q[0].model_name, "wine-quality");
	assert_int_equal(q[0].model_version, 3);
	assert_int_equal(q[0].labelled, 1);
	assert_non_null(q[0].metrics);
	assert_int_equal(q[0].metrics->n, 1);
	assert_true(q[0].metrics->accuracy == 0.0); /* true 5, served 6 */
	assert_true(q[0].lag_p50_s == 10.0);
	wqm_join_quality_free(q, n);
	wqm_join_free(j);
}

static void customer_joins_latest(void **state)
{
	wqm_join *j;
	char a[40], b[40];
	double *labels;
	size_t n;

	(void)state;
	assert_int_equal(wqm_join_new(100, DAY, &j, NULL, 0), WQ_OK);
	pid(a, 1);
	pid(b, 2);
	assert_int_equal(wqm_join_add_prediction(j, a, "cust-7", "m", 1, 5, 1 * S, 1), 1);
	assert_int_equal(wqm_join_add_prediction(j, b, "cust-7", "m", 1, 7, 2 * S, 2), 1);
	/* a prediction with only a customer id is held too */
	assert_int_equal(wqm_join_add_prediction(j, NULL, "cust-9", "m", 1, 4, 3 * S, 3), 1);
	assert_int_equal(wqm_join_add_label(j, NULL, "cust-7", 7, 5 * S), WQM_JOIN_MATCHED);
	/* the latest one now has its label: the next one for the customer is a duplicate */
	assert_int_equal(wqm_join_add_label(j, NULL, "cust-7", 6, 6 * S), WQM_JOIN_DUPLICATE);
	/* the earlier prediction still takes a label by id */
	assert_int_equal(wqm_join_add_label(j, a, NULL, 6, 7 * S), WQM_JOIN_MATCHED);
	assert_int_equal(wqm_join_add_label(j, NULL, "cust-9", 4, 8 * S), WQM_JOIN_MATCHED);
	assert_int_equal(wqm_join_add_label(j, NULL, "nobody", 4, 8 * S), WQM_JOIN_UNMATCHED);
	assert_int_equal(wqm_join_labels(j, "m", 1, &labels, &n), WQ_OK);
	assert_int_equal(n, 3);
	/* oldest prediction first: a (6), b (7), cust-9 (4) */
	assert_true(labels[0] == 6 && labels[1] == 7 && labels[2] == 4);
	free(labels);
	assert_int_equal(wqm_join_labels(j, "m", 2, &labels, &n), WQ_OK);
	assert_int_equal(n, 0);
	assert_null(labels);
	wqm_join_free(j);
}

static void eviction_and_expiry(void **state)
{
	wqm_join *j;
	char id[40];
	int i;

	(void)state;
	assert_int_equal(wqm_join_new(3, 100 * S, &j, NULL, 0), WQ_OK);
	for (i = 1; i <= 5; i++) {
		pid(id, i);
		assert_int_equal(wqm_join_add_prediction(j, id, "", "m", 1, 5, i * S, i * 10), 1);
	}
	assert_int_equal(wqm_join_count(j), 3);
	assert_int_equal(wqm_join_oldest_seq(j), 30);
	pid(id, 1); /* evicted */
	assert_int_equal(wqm_join_add_label(j, id, NULL, 5, 6 * S), WQM_JOIN_UNMATCHED);
	pid(id, 3);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 5, 6 * S), WQM_JOIN_MATCHED);
	/* at 104 s, the prediction of 3 s is older than 100 s, the one of 4 s is not (yet) */
	wqm_join_expire(j, 104 * S);
	assert_int_equal(wqm_join_count(j), 2);
	assert_int_equal(wqm_join_oldest_seq(j), 40);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 5, 105 * S), WQM_JOIN_UNMATCHED);
	wqm_join_expire(j, 1000 * S);
	assert_int_equal(wqm_join_count(j), 0);
	assert_int_equal(wqm_join_oldest_seq(j), -1);
	/* chains survive eviction: ids can be reused after their entry left */
	pid(id, 3);
	assert_int_equal(wqm_join_add_prediction(j, id, "", "m", 1, 5, 1001 * S, 60), 1);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 5, 1002 * S), WQM_JOIN_MATCHED);
	wqm_join_free(j);
}

/* The hand-worked example of test_metrics.c: accuracy 0.7, balanced accuracy 2/3, macro F1
 * 85/126; per model: another model's labels do not mix in. */
static void quality_per_model(void **state)
{
	static const int yt[10] = {3, 3, 3, 5, 5, 7, 7, 7, 7, 3};
	static const int yp[10] = {3, 5, 3, 5, 3, 7, 7, 3, 7, 3};
	wqm_join *j;
	wqm_join_quality *q;
	char id[40];
	size_t n;
	int i;

	(void)state;
	assert_int_equal(wqm_join_new(1000, DAY, &j, NULL, 0), WQ_OK);
	for (i = 0; i < 10; i++) {
		pid(id, i);
		assert_int_equal(wqm_join_add_prediction(j, id, "", "m", 1, yp[i], 0, i), 1);
		pid(id, 100 + i);
		assert_int_equal(wqm_join_add_prediction(j, id, "", "m", 2, 9, 0, 100 + i), 1);
	}
	for (i = 0; i < 10; i++) {
		pid(id, i);
		/* lags 1..10 s */
		assert_int_equal(wqm_join_add_label(j, id, NULL, yt[i], (i + 1) * S),
		                 WQM_JOIN_MATCHED);
	}
	pid(id, 100);
	assert_int_equal(wqm_join_add_label(j, id, NULL, 3, S), WQM_JOIN_MATCHED);
	assert_int_equal(wqm_join_quality_all(j, &q, &n), WQ_OK);
	assert_int_equal(n, 2);
	assert_int_equal(q[0].model_version, 1);
	assert_int_equal(q[0].held, 10);
	assert_int_equal(q[0].labelled, 10);
	assert_true(fabs(q[0].metrics->accuracy - 0.7) < 1e-12);
	assert_true(fabs(q[0].metrics->balanced_accuracy - 2.0 / 3.0) < 1e-12);
	assert_true(fabs(q[0].metrics->f1_macro - 85.0 / 126.0) < 1e-12);
	/* numpy.quantile([1..10], 0.5) = 5.5, 0.9 -> 9.1 */
	assert_true(fabs(q[0].lag_p50_s - 5.5) < 1e-12);
	assert_true(fabs(q[0].lag_p90_s - 9.1) < 1e-12);
	assert_int_equal(q[1].model_version, 2);
	assert_int_equal(q[1].held, 10);
	assert_int_equal(q[1].labelled, 1);
	assert_true(q[1].metrics->accuracy == 0.0);
	wqm_join_quality_free(q, n);
	wqm_join_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bounds_checked_before_allocation),
	    cmocka_unit_test(matched_unmatched_duplicate),
	    cmocka_unit_test(customer_joins_latest),
	    cmocka_unit_test(eviction_and_expiry),
	    cmocka_unit_test(quality_per_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
