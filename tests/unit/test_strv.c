#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_strv.h"

#include <stdlib.h>
#include <string.h>

static void test_dup(void **state)
{
	const char *const src[] = {"alcohol", NULL, "", "volatile acidity"};
	char **copy = NULL;

	(void)state;
	assert_int_equal(wq_strv_dup(src, 4, &copy), WQ_OK);
	assert_non_null(copy);
	assert_string_equal(copy[0], "alcohol");
	assert_null(copy[1]); /* NULL is copied as NULL */
	assert_string_equal(copy[2], "");
	assert_string_equal(copy[3], "volatile acidity");
	/* new strings, not the caller's */
	assert_ptr_not_equal(copy[0], src[0]);
	assert_ptr_not_equal(copy[3], src[3]);
	wq_strv_free(copy, 4);
}

static void test_dup_empty(void **state)
{
	char **copy = (char **)&copy;

	(void)state;
	assert_int_equal(wq_strv_dup(NULL, 0, &copy), WQ_OK);
	assert_null(copy);
}

static void test_free_holes(void **state)
{
	char **v = calloc(3, sizeof(*v));

	(void)state;
	assert_non_null(v);
	v[0] = strdup("a");
	v[2] = strdup("c"); /* a NULL entry in between */
	wq_strv_free(v, 3);
	wq_strv_free(NULL, 5);
	wq_strv_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dup),
	    cmocka_unit_test(test_dup_empty),
	    cmocka_unit_test(test_free_holes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
