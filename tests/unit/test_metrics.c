#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "ml/wq_metrics.h"

#include <math.h>

#define TOL 1e-12

/* scikit-learn is not installed here, so the expected values are worked out by hand.
 *
 *   y_true: 3 3 3 5 5 7 7 7 7 3
 *   y_pred: 3 5 3 5 3 7 7 3 7 3
 *
 *   confusion (row = true, column = predicted), labels 3 5 7:
 *          3  5  7 | row
 *     3 [  3  1  0 ]  4
 *     5 [  1  1  0 ]  2
 *     7 [  1  0  3 ]  4
 *   col    5  2  3
 *
 *   accuracy = (3 + 1 + 3) / 10 = 0.7
 *   recall:    3: 3/4, 5: 1/2, 7: 3/4  -> balanced accuracy = (3/4 + 1/2 + 3/4) / 3 = 2/3
 *   precision: 3: 3/5, 5: 1/2, 7: 3/3
 *   F1 = 2PR/(P+R): 3: 2(3/5)(3/4)/(3/5+3/4) = 2/3; 5: 1/2; 7: 2(1)(3/4)/(7/4) = 6/7
 *   macro F1 = (2/3 + 1/2 + 6/7) / 3 = (28 + 21 + 36) / 126 = 85/126 */
static const int hand_true[10] = {3, 3, 3, 5, 5, 7, 7, 7, 7, 3};
static const int hand_pred[10] = {3, 5, 3, 5, 3, 7, 7, 3, 7, 3};

static size_t cell(const wq_metrics *m, size_t t, size_t p)
{
	return m->confusion[t * m->nclass + p];
}

static void test_hand_example(void **state)
{
	static const size_t expect[9] = {3, 1, 0, 1, 1, 0, 1, 0, 3};
	static const int labels[3] = {3, 5, 7};
	wq_metrics *m = NULL;

	(void)state;
	assert_int_equal(wq_metrics_compute(hand_true, hand_pred, 10, NULL, 0, &m), WQ_OK);
	assert_int_equal(m->n, 10);
	assert_int_equal(m->nclass, 3);
	assert_memory_equal(m->labels, labels, sizeof(labels));
	assert_memory_equal(m->confusion, expect, sizeof(expect));
	assert_near(m->accuracy, 0.7, TOL);
	assert_near(m->balanced_accuracy, 2.0 / 3.0, TOL);
	assert_near(m->f1_macro, 85.0 / 126.0, TOL);
	wq_metrics_free(m);
}

static void test_label_only_in_pred(void **state)
{
	/* y_true 1 1 2 2, y_pred 1 9 2 2; labels 1 2 9.
	 *        1  2  9
	 *   1 [  1  0  1 ]
	 *   2 [  0  2  0 ]
	 *   9 [  0  0  0 ]
	 * accuracy 3/4. Recall 1: 1/2, 2: 1; label 9 has no true sample (0/0, dropped as
	 * scikit-learn drops the nan) -> balanced 3/4. F1 1: P 1, R 1/2 -> 2/3; 2: 1; 9: P 0/1,
	 * R 0/0 -> 0 but it counts (it is in y_pred) -> macro (2/3 + 1 + 0) / 3 = 5/9. */
	static const int yt[4] = {1, 1, 2, 2};
	static const int yp[4] = {1, 9, 2, 2};
	static const int labels[3] = {1, 2, 9};
	wq_metrics *m = NULL;

	(void)state;
	assert_int_equal(wq_metrics_compute(yt, yp, 4, NULL, 0, &m), WQ_OK);
	assert_int_equal(m->nclass, 3);
	assert_memory_equal(m->labels, labels, sizeof(labels));
	assert_int_equal(cell(m, 0, 0), 1);
	assert_int_equal(cell(m, 0, 2), 1);
	assert_int_equal(cell(m, 1, 1), 2);
	assert_int_equal(cell(m, 2, 0) + cell(m, 2, 1) + cell(m, 2, 2), 0);
	assert_near(m->accuracy, 0.75, TOL);
	assert_near(m->balanced_accuracy, 0.75, TOL);
	assert_near(m->f1_macro, 5.0 / 9.0, TOL);
	wq_metrics_free(m);
}

static void test_classes_only_labels(void **state)
{
	/* The hand example with classes 3..9 (unsorted, with a repeat): labels 4 6 8 9 get
	 * all-zero rows and columns and leave every average unchanged. */
	static const int classes[8] = {9, 8, 7, 6, 5, 4, 3, 4};
	static const int labels[7] = {3, 4, 5, 6, 7, 8, 9};
	wq_metrics *m = NULL;
	size_t sum = 0;

	(void)state;
	assert_int_equal(wq_metrics_compute(hand_true, hand_pred, 10, classes, 8, &m), WQ_OK);
	assert_int_equal(m->nclass, 7);
	assert_memory_equal(m->labels, labels, sizeof(labels));
	/* 3 -> index 0, 5 -> 2, 7 -> 4 */
	assert_int_equal(cell(m, 0, 0), 3);
	assert_int_equal(cell(m, 0, 2), 1);
	assert_int_equal(cell(m, 2, 0), 1);
	assert_int_equal(cell(m, 2, 2), 1);
	assert_int_equal(cell(m, 4, 0), 1);
	assert_int_equal(cell(m, 4, 4), 3);
	for (size_t i = 0; i < 49; i++)
		sum += m->confusion[i];
	assert_int_equal(sum, 10);
	for (size_t k = 0; k < 7; k++) {
		assert_int_equal(cell(m, 1, k), 0);
		assert_int_equal(cell(m, k, 1), 0);
		assert_int_equal(cell(m, 6, k), 0);
		assert_int_equal(cell(m, k, 6), 0);
	}
	assert_near(m->accuracy, 0.7, TOL);
	assert_near(m->balanced_accuracy, 2.0 / 3.0, TOL);
	assert_near(m->f1_macro, 85.0 / 126.0, TOL);
	wq_metrics_free(m);
}

static void test_perfect(void **state)
{
	static const int y[6] = {6, 5, 6, 7, 5, 6};
	static const int classes[2] = {3, 9};
	wq_metrics *m = NULL;

	(void)state;
	assert_int_equal(wq_metrics_compute(y, y, 6, classes, 2, &m), WQ_OK);
	assert_int_equal(m->nclass, 5);
	assert_true(m->accuracy == 1.0);
	assert_true(m->balanced_accuracy == 1.0);
	assert_true(m->f1_macro == 1.0);
	assert_int_equal(cell(m, 1, 1), 2); /* label 5 */
	assert_int_equal(cell(m, 2, 2), 3); /* label 6 */
	assert_int_equal(cell(m, 3, 3), 1); /* label 7 */
	wq_metrics_free(m);
}

static void test_negative_labels_and_all_wrong(void **state)
{
	/* y_true -1 -1 2, y_pred 2 2 -1: labels -1 2, nothing correct.
	 *        -1  2
	 *   -1 [  0  2 ]
	 *    2 [  1  0 ]
	 * accuracy 0, recalls 0 and 0, F1 0 and 0 (TP = 0). */
	static const int yt[3] = {-1, -1, 2};
	static const int yp[3] = {2, 2, -1};
	static const size_t expect[4] = {0, 2, 1, 0};
	wq_metrics *m = NULL;

	(void)state;
	assert_int_equal(wq_metrics_compute(yt, yp, 3, NULL, 0, &m), WQ_OK);
	assert_int_equal(m->nclass, 2);
	assert_int_equal(m->labels[0], -1);
	assert_int_equal(m->labels[1], 2);
	assert_memory_equal(m->confusion, expect, sizeof(expect));
	assert_true(m->accuracy == 0.0);
	assert_true(m->balanced_accuracy == 0.0);
	assert_true(m->f1_macro == 0.0);
	wq_metrics_free(m);
}

static void test_single_sample(void **state)
{
	/* labels 4 5: recall only for 4 (0/1) -> 0; F1 of 4: 0, of 5: 0 -> 0. */
	static const int yt[1] = {4};
	static const int yp[1] = {5};
	wq_metrics *m = NULL;

	(void)state;
	assert_int_equal(wq_metrics_compute(yt, yp, 1, NULL, 0, &m), WQ_OK);
	assert_int_equal(m->nclass, 2);
	assert_int_equal(cell(m, 0, 1), 1);
	assert_true(m->accuracy == 0.0 && m->balanced_accuracy == 0.0 && m->f1_macro == 0.0);
	wq_metrics_free(m);
	assert_int_equal(wq_metrics_compute(yt, yt, 1, NULL, 0, &m), WQ_OK);
	assert_int_equal(m->nclass, 1);
	assert_true(m->accuracy == 1.0 && m->balanced_accuracy == 1.0 && m->f1_macro == 1.0);
	wq_metrics_free(m);
}

static void test_invalid(void **state)
{
	static const int y[2] = {1, 2};
	wq_metrics *m = (wq_metrics *)(uintptr_t)0x1; /* must stay untouched */

	(void)state;
	assert_int_equal(wq_metrics_compute(y, y, 0, NULL, 0, &m), WQ_EINVAL);
	assert_int_equal(wq_metrics_compute(NULL, y, 2, NULL, 0, &m), WQ_EINVAL);
	assert_int_equal(wq_metrics_compute(y, NULL, 2, NULL, 0, &m), WQ_EINVAL);
	assert_int_equal(wq_metrics_compute(y, y, 2, NULL, 3, &m), WQ_EINVAL);
	assert_int_equal(wq_metrics_compute(y, y, 2, NULL, 0, NULL), WQ_EINVAL);
	assert_true(m == (wq_metrics *)(uintptr_t)0x1);
	wq_metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hand_example),
	    cmocka_unit_test(test_label_only_in_pred),
	    cmocka_unit_test(test_classes_only_labels),
	    cmocka_unit_test(test_perfect),
	    cmocka_unit_test(test_negative_labels_and_all_wrong),
	    cmocka_unit_test(test_single_sample),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
