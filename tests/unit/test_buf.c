#include "wq_test.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_growth(void **state)
{
	wq_buf b = WQ_BUF_INIT;

	(void)state;
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_null(b.data);
	/* past the first allocation and several doublings */
	for (int i = 0; i < 10000; i++)
		wq_buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[0], 'a');
	assert_int_equal(b.data[9999], 'a' + 9999 % 26);
	wq_buf_add(&b, "x\0y", 3); /* any bytes, a NUL included */
	assert_int_equal(b.len, 10003);
	assert_memory_equal(b.data + 10000, "x\0y", 4);
	wq_buf_free(&b);
	assert_null(b.data);
	wq_buf_free(NULL);
}

static void test_limit(void **state)
{
	wq_buf b;

	(void)state;
	wq_buf_init(&b, 8);
	wq_buf_puts(&b, "12345678"); /* exactly the limit */
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_string_equal(b.data, "12345678");
	assert_true(b.cap <= 9); /* never more than the limit can use */
	wq_buf_putc(&b, '9');
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	assert_string_equal(b.data, "12345678"); /* nothing of the refused write */
	assert_int_equal(wq_buf_reserve(&b, 0), WQ_ERANGE);
	wq_buf_free(&b);
}

static void test_overflow_writes_nothing(void **state)
{
	wq_buf b = WQ_BUF_INIT;

	(void)state;
	wq_buf_puts(&b, "abc");
	/* len + n + 1 would wrap around size_t */
	assert_int_equal(wq_buf_reserve(&b, SIZE_MAX - 2), WQ_ERANGE);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	wq_buf_free(&b);

	wq_buf_init(&b, 0);
	wq_buf_puts(&b, "abc");
	wq_buf_add(&b, "", SIZE_MAX); /* the pointer is never read: the size is refused first */
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	wq_buf_free(&b);
}

static void test_sticky_failure(void **state)
{
	wq_buf b;
	char *out = (char *)"untouched";
	size_t len = 99;

	(void)state;
	wq_buf_init(&b, 4);
	wq_buf_puts(&b, "toolong");
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	/* later writes that would fit do nothing: the text would have a hole */
	wq_buf_puts(&b, "ab");
	wq_buf_printf(&b, "%d", 1);
	wq_buf_num(&b, 2.5);
	assert_true(b.data == NULL || b.len == 0);
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	/* reset keeps the failure */
	wq_buf_reset(&b);
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	/* steal reports it, frees and leaves the output alone */
	assert_int_equal(wq_buf_steal(&b, &out, &len), WQ_ERANGE);
	assert_string_equal(out, "untouched");
	assert_int_equal(len, 99);
	assert_null(b.data);
	wq_buf_free(&b);
}

static void test_printf(void **state)
{
	wq_buf b = WQ_BUF_INIT;
	char big[1000];

	(void)state;
	wq_buf_printf(&b, "%s=%d;", "n", 42);
	assert_string_equal(b.data, "n=42;");
	/* longer than the 256-byte stack attempt: formatted again into the buffer */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wq_buf_printf(&b, "[%s]", big);
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_int_equal(b.len, 5 + 1 + 999 + 1);
	assert_int_equal(b.data[5], '[');
	assert_int_equal(b.data[6], 'q');
	assert_int_equal(b.data[1004], 'q');
	assert_int_equal(b.data[1005], ']');
	assert_int_equal(b.data[1006], '\0');
	/* exactly 255 and 256 characters: both sides of the stack attempt */
	wq_buf_reset(&b);
	wq_buf_printf(&b, "%.*s", 255, big);
	assert_int_equal(b.len, 255);
	wq_buf_printf(&b, "%.*s", 256, big);
	assert_int_equal(b.len, 511);
	assert_int_equal(b.data[511], '\0');
	wq_buf_free(&b);
}

static void test_printf_limit(void **state)
{
	wq_buf b;
	char big[400];

	(void)state;
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wq_buf_init(&b, 300);
	wq_buf_printf(&b, "%s", big);
	assert_int_equal(wq_buf_status(&b), WQ_ERANGE);
	assert_true(b.data == NULL || b.len == 0);
	wq_buf_free(&b);
}

static void test_steal(void **state)
{
	wq_buf b = WQ_BUF_INIT;
	char *out = NULL;
	size_t len = 99;

	(void)state;
	/* nothing written: an empty string, not NULL */
	assert_int_equal(wq_buf_steal(&b, &out, &len), WQ_OK);
	assert_non_null(out);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	free(out);

	wq_buf_init(&b, 100);
	wq_buf_puts(&b, "hello");
	assert_int_equal(wq_buf_steal(&b, &out, NULL), WQ_OK);
	assert_string_equal(out, "hello");
	/* the buffer is empty and keeps its limit */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.limit, 100);
	wq_buf_puts(&b, "again");
	assert_string_equal(b.data, "again");
	free(out);
	wq_buf_free(&b);
}

static void test_reset(void **state)
{
	wq_buf b = WQ_BUF_INIT;
	size_t cap;

	(void)state;
	wq_buf_reset(&b); /* before any write */
	assert_int_equal(b.len, 0);
	wq_buf_puts(&b, "some text");
	cap = b.cap;
	wq_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, cap); /* the memory stays */
	wq_buf_puts(&b, "new");
	assert_string_equal(b.data, "new");
	wq_buf_free(&b);
}

static void test_num(void **state)
{
	wq_buf b = WQ_BUF_INIT;

	(void)state;
	wq_buf_num(&b, 0.1);
	wq_buf_putc(&b, ' ');
	wq_buf_num(&b, 1e6);
	wq_buf_putc(&b, ' ');
	wq_buf_num(&b, -0.0);
	wq_buf_putc(&b, ' ');
	wq_buf_num(&b, 1.0 / 3.0);
	wq_buf_putc(&b, ' ');
	wq_buf_num(&b, NAN);
	wq_buf_putc(&b, ' ');
	wq_buf_num(&b, -INFINITY);
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_string_equal(b.data, "0.1 1000000 -0 0.3333333333333333 nan -inf");
	wq_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_overflow_writes_nothing),
	    cmocka_unit_test(test_sticky_failure),
	    cmocka_unit_test(test_printf),
	    cmocka_unit_test(test_printf_limit),
	    cmocka_unit_test(test_steal),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_num),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
