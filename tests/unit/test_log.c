/* wq_log: the interactive and daemon line formats (text and JSON), the RFC 3339 timestamp,
 * JSON escaping of control characters, quotes and bytes that are not UTF-8, cutting of long
 * lines, the option parsers, and what the default sink really writes to stderr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "wq_test.h"

#include <fcntl.h>
#include <unistd.h>

/* 2026-12-07T04:15:00.123Z */
#define STAMP_MS INT64_C(1796616900123)

static const char *line(enum wq_log_format format, int level, const char *program, const char *msg)
{
	static char out[8192];
	wq_log_record rec = {STAMP_MS, level, program, 4242, msg};
	size_t n = wq_log_line_format(format, &rec, out, sizeof(out));

	assert_int_equal(n, strlen(out));
	return out;
}

static void test_text(void **state)
{
	(void)state;
	assert_string_equal(line(WQ_LOG_TEXT, WQ_LOG_INFO, "wineqd", "serving x"),
	                    "2026-12-07T04:15:00.123Z wineqd[4242] info: serving x");
	assert_string_equal(line(WQ_LOG_TEXT, WQ_LOG_ERROR, "wineq-monitor", "bad"),
	                    "2026-12-07T04:15:00.123Z wineq-monitor[4242] error: bad");
	/* no program: the interactive tools' format, unchanged */
	assert_string_equal(line(WQ_LOG_TEXT, WQ_LOG_WARN, NULL, "careful"),
	                    "wineq: warn: careful");
	assert_string_equal(line(WQ_LOG_TEXT, WQ_LOG_WARN, "", "careful"), "wineq: warn: careful");
	/* one record, one line */
	assert_string_equal(line(WQ_LOG_TEXT, WQ_LOG_DEBUG, "p", "a\nb\rc"),
	                    "2026-12-07T04:15:00.123Z p[4242] debug: a\\nb\\rc");
	/* an unknown level is shown as error rather than read out of bounds */
	assert_non_null(strstr(line(WQ_LOG_TEXT, 17, "p", "m"), " error: m"));
}

static void test_timestamp(void **state)
{
	wq_log_record rec = {0, WQ_LOG_INFO, "p", 1, "m"};
	char out[256];

	(void)state;
	wq_log_line_format(WQ_LOG_TEXT, &rec, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00.000Z p[1] info: m");
	rec.unix_ms = 951782400007; /* a leap day, 7 ms */
	wq_log_line_format(WQ_LOG_TEXT, &rec, out, sizeof(out));
	assert_string_equal(out, "2000-02-29T00:00:00.007Z p[1] info: m");
	rec.unix_ms = -1; /* floor, not truncation toward zero */
	wq_log_line_format(WQ_LOG_TEXT, &rec, out, sizeof(out));
	assert_string_equal(out, "1969-12-31T23:59:59.999Z p[1] info: m");
}

static void test_json(void **state)
{
	(void)state;
	assert_string_equal(line(WQ_LOG_JSON, WQ_LOG_INFO, "wineqd", "serving x"),
	                    "{\"time\":\"2026-12-07T04:15:00.123Z\",\"level\":\"info\","
	                    "\"program\":\"wineqd\",\"pid\":4242,\"msg\":\"serving x\"}");
	/* quotes, backslashes, control characters; UTF-8 kept; a stray byte replaced */
	assert_string_equal(
	    line(WQ_LOG_JSON, WQ_LOG_WARN, "w\"q", "a\"b\\c\nd\re\tf\001g\x7f h ✓ \xff\xc3("),
	    "{\"time\":\"2026-12-07T04:15:00.123Z\",\"level\":\"warn\",\"program\":\"w\\\"q\","
	    "\"pid\":4242,\"msg\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007f h ✓ \\ufffd\\ufffd(\"}");
	/* overlong and surrogate encodings are not UTF-8 either */
	assert_non_null(strstr(line(WQ_LOG_JSON, WQ_LOG_INFO, "p", "\xc0\xaf|\xed\xa0\x80"),
	                       "\"msg\":\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\"}"));
	/* without a program name JSON still names one */
	assert_non_null(strstr(line(WQ_LOG_JSON, WQ_LOG_INFO, NULL, "m"), "\"program\":\"wineq\""));
}

static void test_cut(void **state)
{
	char msg[600], out[128];
	wq_log_record rec = {STAMP_MS, WQ_LOG_INFO, "wineqd", 7, msg};
	size_t n;

	(void)state;
	memset(msg, '"', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	/* a JSON line cut short still closes its string and object, never inside an escape */
	n = wq_log_line_format(WQ_LOG_JSON, &rec, out, sizeof(out));
	assert_true(n < sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_string_equal(out + n - 4, "\\\"\"}");
	/* text is cut at a character boundary */
	memset(msg, 0, sizeof(msg));
	for (size_t i = 0; i + 3 < sizeof(msg); i += 3)
		memcpy(msg + i, "✓", 3);
	n = wq_log_line_format(WQ_LOG_TEXT, &rec, out, sizeof(out));
	assert_true(n < sizeof(out));
	assert_int_equal((n - strlen("2026-12-07T04:15:00.123Z wineqd[7] info: ")) % 3, 0);
	assert_int_equal(wq_log_line_format(WQ_LOG_TEXT, &rec, out, 0), 0);
}

static void test_parse(void **state)
{
	enum wq_log_format f = WQ_LOG_TEXT;
	int level = -1;

	(void)state;
	assert_int_equal(wq_log_format_parse("json", &f), WQ_OK);
	assert_int_equal(f, WQ_LOG_JSON);
	assert_int_equal(wq_log_format_parse("text", &f), WQ_OK);
	assert_int_equal(f, WQ_LOG_TEXT);
	assert_int_equal(wq_log_format_parse("JSON", &f), WQ_EINVAL);
	assert_int_equal(wq_log_format_parse("", &f), WQ_EINVAL);
	assert_int_equal(wq_log_format_parse(NULL, &f), WQ_EINVAL);
	assert_int_equal(wq_log_level_parse("warn", &level), WQ_OK);
	assert_int_equal(level, WQ_LOG_WARN);
	assert_int_equal(wq_log_level_parse("verbose", &level), WQ_EINVAL);
}

/* Runs wq_log with stderr sent to a file; returns what was written. */
static char *captured(enum wq_log_format format, const char *program)
{
	char path[] = "/tmp/wq_test_log_XXXXXX", *text = calloc(1, 4096);
	int fd = mkstemp(path), saved = dup(2), level = wq_log_get_level();
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && text != NULL);
	fflush(stderr);
	dup2(fd, 2);
	wq_log_set_program(program);
	wq_log_set_format(format);
	wq_log_set_level(WQ_LOG_INFO);
	wq_log(WQ_LOG_DEBUG, "not shown");
	wq_log(WQ_LOG_INFO, "hello %s\n", "world");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	wq_log_set_program(NULL);
	wq_log_set_format(WQ_LOG_TEXT);
	wq_log_set_level(level);
	n = pread(fd, text, 4095, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	return text;
}

static void test_default_sink(void **state)
{
	char pid[64], *text;
	int64_t before = wq_clock_unix_ms();

	(void)state;
	snprintf(pid, sizeof(pid), " wineqd[%ld] info: hello world\n", (long)getpid());
	text = captured(WQ_LOG_TEXT, "wineqd");
	/* YYYY-MM-DDTHH:MM:SS.mmmZ, this year, then program, pid, level, message, one newline */
	assert_int_equal(strlen(text), 24 + strlen(pid));
	assert_true(text[4] == '-' && text[7] == '-' && text[10] == 'T' && text[13] == ':' &&
	            text[16] == ':' && text[19] == '.' && text[23] == 'Z');
	assert_string_equal(text + 24, pid);
	assert_true(strtol(text, NULL, 10) >= 1970 + before / (INT64_C(31557600000)));
	free(text);

	text = captured(WQ_LOG_JSON, "wineqd");
	snprintf(pid, sizeof(pid), "\"program\":\"wineqd\",\"pid\":%ld,", (long)getpid());
	assert_int_equal(strncmp(text, "{\"time\":\"", 9), 0);
	assert_non_null(strstr(text, "Z\",\"level\":\"info\","));
	assert_non_null(strstr(text, pid));
	assert_string_equal(strstr(text, "\"msg\""), "\"msg\":\"hello world\"}\n");
	free(text);

	text = captured(WQ_LOG_TEXT, NULL);
	assert_string_equal(text, "wineq: info: hello world\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),  cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_json),  cmocka_unit_test(test_cut),
	    cmocka_unit_test(test_parse), cmocka_unit_test(test_default_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
