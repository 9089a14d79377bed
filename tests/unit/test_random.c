#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_random.h"

#include <string.h>

static int all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

static void test_bytes_differ(void **state)
{
	unsigned char a[32], b[32];

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(wq_random_bytes(a, sizeof(a), NULL, 0), WQ_OK);
	assert_int_equal(wq_random_bytes(b, sizeof(b), NULL, 0), WQ_OK);
	/* 2^-256 chance of a false failure */
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(wq_random_bytes(a, 0, NULL, 0), WQ_OK);
}

static void test_hex_of(void **state)
{
	const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
	char out[9];

	(void)state;
	memset(out, 'x', sizeof(out));
	wq_random_hex_of(in, sizeof(in), out);
	assert_string_equal(out, "000fa5ff");
}

static void test_hex(void **state)
{
	char a[33], b[33], big[130], err[128] = "";

	(void)state;
	assert_int_equal(wq_random_hex(a, 32, NULL, 0), WQ_OK);
	assert_int_equal(wq_random_hex(b, 32, NULL, 0), WQ_OK);
	assert_true(all_lower_hex(a, 32));
	assert_true(all_lower_hex(b, 32));
	assert_string_not_equal(a, b);
	assert_int_equal(wq_random_hex(big, 128, NULL, 0), WQ_OK);
	assert_true(all_lower_hex(big, 128));
	/* odd or too long: refused before anything is written */
	memset(a, 'x', sizeof(a));
	assert_int_equal(wq_random_hex(a, 31, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "31 digits"));
	assert_int_equal(a[0], 'x');
	assert_int_equal(wq_random_hex(big, 130, NULL, 0), WQ_EINVAL);
}

static void test_u64(void **state)
{
	uint64_t v[8];

	(void)state;
	for (size_t i = 0; i < 8; i++)
		v[i] = wq_random_u64();
	for (size_t i = 0; i < 8; i++)
		for (size_t j = i + 1; j < 8; j++)
			assert_true(v[i] != v[j]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bytes_differ),
	    cmocka_unit_test(test_hex_of),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
