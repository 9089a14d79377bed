/* wq_base64: RFC 4648 vectors, strictness, round trips. */
#include "wq_test.h"

#include "base/wq_base64.h"
#include "base/wq_error.h"

#include <string.h>

static void test_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char buf[64];
	uint8_t *out;
	size_t n;

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(wq_base64_encoded_len(strlen(plain[i])), strlen(enc[i]));
		wq_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), buf);
		assert_string_equal(buf, enc[i]);
		assert_int_equal(wq_base64_decode(enc[i], strlen(enc[i]), &out, &n), WQ_OK);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], n);
		free(out);
	}
}

static void test_strict(void **state)
{
	static const char *const bad[] = {"Zg=",  "Zg",   "Z===", "Zm9v\n", "Zm 9", "Zm9v====",
	                                  "=Zm9", "Zh==", "Zm9=", "Zm-v",   "Zg=a"};
	uint8_t *out = NULL;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wq_base64_decode(bad[i], strlen(bad[i]), &out, &n), WQ_EPARSE);
	assert_null(out);
}

static void test_round_trip_all_bytes(void **state)
{
	uint8_t in[300], *out;
	char enc[420];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(in); len += 37) {
		wq_base64_encode(in, len, enc);
		assert_int_equal(wq_base64_decode(enc, strlen(enc), &out, &n), WQ_OK);
		assert_int_equal(n, len);
		assert_memory_equal(out, in, len);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_round_trip_all_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
