#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_dataset.h"
#include "base/wq_error.h"

#include <limits.h>
#include <math.h>
#include <sys/stat.h>

/* cmocka 1.1.5's assert_float_equal converts to float; CSV values must round-trip exactly
 * (strtod of the same text), so compare doubles for equality. */
#define assert_double_eq(a, b) double_eq_impl((a), (b), __FILE__, __LINE__)

static void double_eq_impl(double a, double b, const char *file, int line)
{
	if (!(a == b)) {
		print_error("%.17g != %.17g\n", a, b);
		_fail(file, line);
	}
}

#define assert_err_contains(err, text) contains_impl((err), (text), __FILE__, __LINE__)

static void contains_impl(const char *err, const char *text, const char *file, int line)
{
	if (strstr(err, text) == NULL) {
		print_error("'%s' does not contain '%s'\n", err, text);
		_fail(file, line);
	}
}

static wq_dataset *parse_ok(const char *text, const wq_csv_opts *opts)
{
	wq_dataset *ds = NULL;
	char err[512] = "";
	int rc = wq_dataset_parse_csv("t.csv", text, strlen(text), opts, &ds, err, sizeof(err));

	if (rc != WQ_OK)
		print_error("unexpected failure %d: %s\n", rc, err);
	assert_int_equal(rc, WQ_OK);
	assert_non_null(ds);
	return ds;
}

/* Parses len bytes expected to fail with status and an err containing want. The output
 * pointer must stay untouched on failure. */
static void parse_bad_n(const char *text, size_t len, const wq_csv_opts *opts, int status,
                        const char *want)
{
	wq_dataset sentinel;
	wq_dataset *ds = &sentinel;
	char err[512] = "";
	int rc = wq_dataset_parse_csv("t.csv", text, len, opts, &ds, err, sizeof(err));

	if (rc != status)
		print_error("status %d (%s), expected %d; err: %s\n", rc, wq_strerror(rc), status,
		            err);
	assert_int_equal(rc, status);
	assert_ptr_equal(ds, &sentinel);
	assert_err_contains(err, want);
}

static void parse_bad(const char *text, const wq_csv_opts *opts, int status, const char *want)
{
	parse_bad_n(text, strlen(text), opts, status, want);
}

static const wq_csv_opts uci_opts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};

static void check_uci_names(const wq_dataset *ds)
{
	size_t n = 0;

	while (wq_uci_columns[n] != NULL)
		n++;
	assert_int_equal(n, 12);
	assert_int_equal(ds->ncols, n);
	for (size_t j = 0; j < n; j++)
		assert_string_equal(ds->names[j], wq_uci_columns[j]);
}

static void check_row(const wq_dataset *ds, size_t r, const double *expect)
{
	for (size_t j = 0; j < ds->ncols; j++)
		assert_double_eq(ds->values[r * ds->ncols + j], expect[j]);
}

static void test_uci_columns(void **state)
{
	(void)state;
	assert_string_equal(wq_uci_columns[0], "fixed acidity");
	assert_string_equal(wq_uci_columns[5], "free sulfur dioxide");
	assert_string_equal(wq_uci_columns[8], "pH");
	assert_string_equal(wq_uci_columns[11], "quality");
	assert_null(wq_uci_columns[12]);
}

static void test_white_file(void **state)
{
	const double first[12] = {7, 0.27, 0.36, 20.7, 0.045, 45, 170, 1.001, 3, 0.45, 8.8, 6};
	const double last[12] = {6, 0.21, 0.38, 0.8, 0.02, 22, 98, 0.98941, 3.26, 0.32, 11.8, 6};
	char path[4096], err[512] = "";
	wq_dataset *ds = NULL;

	(void)state;
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	assert_int_equal(wq_dataset_read_csv(path, &uci_opts, &ds, err, sizeof(err)), WQ_OK);
	assert_non_null(ds);
	assert_int_equal(ds->nrows, 4898);
	check_uci_names(ds);
	check_row(ds, 0, first);
	check_row(ds, 4897, last);
	for (size_t i = 0; i < ds->nrows * ds->ncols; i++)
		assert_true(isfinite(ds->values[i]));
	wq_dataset_free(ds);
}

static void test_red_file(void **state)
{
	const double first[12] = {7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4, 5};
	const double last[12] = {6, 0.31, 0.47, 3.6, 0.067, 18, 42, 0.99549, 3.39, 0.66, 11, 6};
	char path[4096], err[512] = "";
	wq_dataset *ds = NULL;

	(void)state;
	wq_test_path(path, sizeof(path), "data/winequality-red.csv");
	assert_int_equal(wq_dataset_read_csv(path, &uci_opts, &ds, err, sizeof(err)), WQ_OK);
	assert_non_null(ds);
	assert_int_equal(ds->nrows, 1599);
	check_uci_names(ds);
	check_row(ds, 0, first);
	check_row(ds, 1598, last);
	wq_dataset_free(ds);
}

static void test_comma_csv(void **state)
{
	const double expect[9] = {1, 2, 3, 4.5, -6, 700, 0.001, 1e-300, -0.0};
	wq_dataset *ds;

	(void)state;
	/* no trailing newline; blanks around cells; opts NULL detects ',' */
	ds = parse_ok("a,b,c\n1,2,3\n4.5, -6 ,7e2\n\t.001,1E-300,-0.0", NULL);
	assert_int_equal(ds->ncols, 3);
	assert_int_equal(ds->nrows, 3);
	assert_string_equal(ds->names[0], "a");
	assert_string_equal(ds->names[1], "b");
	assert_string_equal(ds->names[2], "c");
	for (size_t i = 0; i < 9; i++)
		assert_double_eq(ds->values[i], expect[i]);
	wq_dataset_free(ds);

	/* unquoted names lose surrounding blanks, keep inner spaces */
	ds = parse_ok(" fixed acidity , pH\n1,2\n", NULL);
	assert_string_equal(ds->names[0], "fixed acidity");
	assert_string_equal(ds->names[1], "pH");
	wq_dataset_free(ds);
}

static void test_quoted_header(void **state)
{
	wq_dataset *ds;

	(void)state;
	ds = parse_ok("\"say \"\"hi\"\"\";\"b;c\";\"\"\"\"\n\"1.5\";2;\" 3 \"\n", NULL);
	assert_int_equal(ds->ncols, 3);
	assert_int_equal(ds->nrows, 1);
	assert_string_equal(ds->names[0], "say \"hi\"");
	assert_string_equal(ds->names[1], "b;c");
	assert_string_equal(ds->names[2], "\"");
	assert_double_eq(ds->values[0], 1.5);
	assert_double_eq(ds->values[1], 2);
	assert_double_eq(ds->values[2], 3);
	wq_dataset_free(ds);

	/* a ';' inside quotes does not make the file UCI-style */
	ds = parse_ok("\"x;y\",z\n1,2\n", NULL);
	assert_int_equal(ds->ncols, 2);
	assert_string_equal(ds->names[0], "x;y");
	assert_string_equal(ds->names[1], "z");
	wq_dataset_free(ds);
}

static void test_explicit_delimiter(void **state)
{
	wq_csv_opts opts = {.delimiter = ',', .allowed = NULL, .max_bytes = 0};
	wq_dataset *ds;

	(void)state;
	/* forced ',': the ';' is part of the name */
	ds = parse_ok("a;b,c\n1,2\n", &opts);
	assert_int_equal(ds->ncols, 2);
	assert_string_equal(ds->names[0], "a;b");
	wq_dataset_free(ds);

	opts.delimiter = '\t';
	ds = parse_ok("a b\tc\n1\t-2\n", &opts);
	assert_int_equal(ds->ncols, 2);
	assert_string_equal(ds->names[0], "a b");
	assert_double_eq(ds->values[1], -2);
	wq_dataset_free(ds);

	opts.delimiter = '"';
	parse_bad("a\n1\n", &opts, WQ_EINVAL, "delimiter");
}

static void test_crlf(void **state)
{
	wq_dataset *ds;

	(void)state;
	ds = parse_ok("\"a\";\"b\"\r\n1;2\r\n3;4.25\r\n", NULL);
	assert_int_equal(ds->ncols, 2);
	assert_int_equal(ds->nrows, 2);
	assert_string_equal(ds->names[1], "b");
	assert_double_eq(ds->values[1], 2);
	assert_double_eq(ds->values[3], 4.25);
	wq_dataset_free(ds);
}

static void test_bom(void **state)
{
	wq_dataset *ds;

	(void)state;
	ds = parse_ok("\xEF\xBB\xBF\"fixed acidity\";\"quality\"\n7;6\n", &uci_opts);
	assert_string_equal(ds->names[0], "fixed acidity");
	assert_double_eq(ds->values[0], 7);
	assert_double_eq(ds->values[1], 6);
	wq_dataset_free(ds);
}

static void test_trailing_empty_lines(void **state)
{
	wq_dataset *ds;

	(void)state;
	ds = parse_ok("a,b\n1,2\n\n\r\n\n", NULL);
	assert_int_equal(ds->nrows, 1);
	wq_dataset_free(ds);
}

static void test_underflow_accepted(void **state)
{
	wq_dataset *ds;

	(void)state;
	ds = parse_ok("a\n1e-400\n", NULL);
	assert_double_eq(ds->values[0], 0);
	wq_dataset_free(ds);
}

static void test_bad_structure(void **state)
{
	(void)state;
	parse_bad("", NULL, WQ_EPARSE, "t.csv:1:1: empty file");
	parse_bad("\n\r\n", NULL, WQ_EPARSE, "t.csv:1:1: empty file");
	parse_bad("\xEF\xBB\xBF", NULL, WQ_EPARSE, "t.csv:1:1: empty file");
	parse_bad("a,b\n", NULL, WQ_EPARSE, "t.csv:2:1: no data rows");
	parse_bad("a,b", NULL, WQ_EPARSE, "t.csv:2:1: no data rows");
	parse_bad("a,b\n\n\n", NULL, WQ_EPARSE, "t.csv:2:1: no data rows");
	parse_bad("a,b,c\n1,2,3\n1,2\n", NULL, WQ_EPARSE,
	          "t.csv:3:3: too few fields: expected 3, got 2");
	parse_bad("a;b\n1;2;3;4\n", NULL, WQ_EPARSE,
	          "t.csv:2:3: too many fields: expected 2, got 4");
	parse_bad("a,b\n1,2\n\n3,4\n", NULL, WQ_EPARSE, "t.csv:3:1: empty line");
	parse_bad("\na,b\n1,2\n", NULL, WQ_EPARSE, "t.csv:1:1: empty line");
	parse_bad("a,b\r\n1,2\r\n\r\n3,4\r\n", NULL, WQ_EPARSE, "t.csv:3:1: empty line");
	parse_bad("\"a,b\n1,2\n", NULL, WQ_EPARSE, "t.csv:1:1: unterminated quoted field");
	parse_bad("a,\"b\"x\n1,2\n", NULL, WQ_EPARSE, "t.csv:1:2: unexpected text after closing");
}

static void test_bad_cells(void **state)
{
	(void)state;
	parse_bad("a,b\n1,2\n3,\n", NULL, WQ_EPARSE, "t.csv:3:2: empty cell");
	parse_bad("a,b\n1,  \t\n", NULL, WQ_EPARSE, "t.csv:2:2: empty cell");
	parse_bad("a;b\n;1\n", NULL, WQ_EPARSE, "t.csv:2:1: empty cell");
	parse_bad("a;b\n\"\";1\n", NULL, WQ_EPARSE, "t.csv:2:1: empty cell");
	parse_bad("a,b\n1,x7\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell 'x7'");
	parse_bad("a,b\n1,2\n3,1.5abc\n", NULL, WQ_EPARSE, "t.csv:3:2: non-numeric cell '1.5abc'");
	parse_bad("a,b\n1,1 2\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '1 2'");
	parse_bad("a,b\n1,7,5\n", NULL, WQ_EPARSE, "t.csv:2:3: too many fields");
	parse_bad("a;b\n1;7,5\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '7,5'");
	parse_bad("a,b\n1,0x10\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '0x10'");
	parse_bad("a,b\n1,\v2\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '?2'");
	parse_bad("a,b\n1,2\r\r\n", NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '2?'");
	parse_bad_n("a,b\n1,2\0003\n", 10, NULL, WQ_EPARSE, "t.csv:2:2: non-numeric cell '2?3'");
	/* long offending text is cut to 32 bytes and marked */
	parse_bad("a\nabcdefghijklmnopqrstuvwxyz0123456789\n", NULL, WQ_EPARSE,
	          "t.csv:2:1: non-numeric cell 'abcdefghijklmnopqrstuvwxyz012345...'");
	parse_bad("a,b\n1,nan\n", NULL, WQ_EPARSE, "t.csv:2:2: non-finite value 'nan'");
	parse_bad("a,b\n1,NaN\n", NULL, WQ_EPARSE, "t.csv:2:2: non-finite value 'NaN'");
	parse_bad("a,b\ninf,1\n", NULL, WQ_EPARSE, "t.csv:2:1: non-finite value 'inf'");
	parse_bad("a,b\n-Infinity,1\n", NULL, WQ_EPARSE, "t.csv:2:1: non-finite value '-Infinity'");
	parse_bad("a,b\n1,2\n3,1e999\n", NULL, WQ_EPARSE, "t.csv:3:2: value '1e999' overflows");
	parse_bad("a,b\n-1e999,2\n", NULL, WQ_EPARSE, "t.csv:2:1: value '-1e999' overflows");
}

static void test_bad_names(void **state)
{
	(void)state;
	parse_bad("a,b,a\n1,2,3\n", NULL, WQ_EPARSE,
	          "t.csv:1:3: duplicate column name 'a' (also column 1)");
	parse_bad("\"x\";\"y\";\"x\"\n1;2;3\n", NULL, WQ_EPARSE,
	          "t.csv:1:3: duplicate column name");
	parse_bad("a,,c\n1,2,3\n", NULL, WQ_EPARSE, "t.csv:1:2: empty column name");
	parse_bad("\"\";\"b\"\n1;2\n", NULL, WQ_EPARSE, "t.csv:1:1: empty column name");
	parse_bad("a,b,\n1,2,3\n", NULL, WQ_EPARSE, "t.csv:1:3: empty column name");
	parse_bad("a,b\"c\n1,2\n", NULL, WQ_EPARSE, "t.csv:1:2: stray quote");
	parse_bad("a,\"b\x1b[2J\"\n1,2\n", NULL, WQ_EPARSE, "t.csv:1:2: control character");
	parse_bad("\"fixed acidity\";\"colour\";\"quality\"\n1;2;3\n", &uci_opts, WQ_EPARSE,
	          "t.csv:1:2: unknown column 'colour'");
	/* names are compared exactly: case matters */
	parse_bad("\"PH\"\n3\n", &uci_opts, WQ_EPARSE, "t.csv:1:1: unknown column 'PH'");
}

static void test_limits(void **state)
{
	char *buf = malloc(2 * WQ_CSV_MAX_LINE + 64);
	wq_csv_opts opts = {.delimiter = 0, .allowed = NULL, .max_bytes = 10};
	wq_dataset *ds;
	size_t n = 0;

	(void)state;
	assert_non_null(buf);

	/* column names: 128 bytes pass, 129 do not */
	memcpy(buf, "a,", 2);
	memset(buf + 2, 'n', WQ_CSV_MAX_NAME);
	memcpy(buf + 2 + WQ_CSV_MAX_NAME, "\n1,2\n", 6);
	ds = parse_ok(buf, NULL);
	assert_int_equal(strlen(ds->names[1]), WQ_CSV_MAX_NAME);
	wq_dataset_free(ds);
	memset(buf + 2, 'n', WQ_CSV_MAX_NAME + 1);
	memcpy(buf + 3 + WQ_CSV_MAX_NAME, "\n1,2\n", 6);
	parse_bad(buf, NULL, WQ_ERANGE, "t.csv:1:2: column name 'nnnn");

	/* columns: 256 pass, 257 do not */
	n = 0;
	for (int j = 0; j < WQ_CSV_MAX_COLS; j++)
		n += (size_t)snprintf(buf + n, 16, "%sc%d", j > 0 ? "," : "", j);
	buf[n++] = '\n';
	for (int j = 0; j < WQ_CSV_MAX_COLS; j++)
		n += (size_t)snprintf(buf + n, 16, "%s%d", j > 0 ? "," : "", j);
	buf[n] = '\0';
	ds = parse_ok(buf, NULL);
	assert_int_equal(ds->ncols, WQ_CSV_MAX_COLS);
	assert_double_eq(ds->values[WQ_CSV_MAX_COLS - 1], WQ_CSV_MAX_COLS - 1);
	wq_dataset_free(ds);
	n = 0;
	for (int j = 0; j <= WQ_CSV_MAX_COLS; j++)
		n += (size_t)snprintf(buf + n, 16, "%sc%d", j > 0 ? "," : "", j);
	memcpy(buf + n, "\n1\n", 4);
	parse_bad(buf, NULL, WQ_ERANGE, "t.csv:1:257: more than 256 columns");

	/* lines: WQ_CSV_MAX_LINE bytes (without "\r\n") pass, one more does not */
	memcpy(buf, "a\r\n1", 4);
	memset(buf + 4, ' ', WQ_CSV_MAX_LINE - 1);
	memcpy(buf + 3 + WQ_CSV_MAX_LINE, "\r\n", 3);
	ds = parse_ok(buf, NULL);
	assert_double_eq(ds->values[0], 1);
	wq_dataset_free(ds);
	memset(buf + 4, ' ', WQ_CSV_MAX_LINE);
	memcpy(buf + 4 + WQ_CSV_MAX_LINE, "\n", 2);
	parse_bad(buf, NULL, WQ_ERANGE, "t.csv:2:1: line longer than 65536 bytes");

	/* file size: max_bytes bytes pass, one more does not */
	ds = parse_ok("a\n1\n2\n3\n4\n", &opts);
	assert_int_equal(ds->nrows, 4);
	wq_dataset_free(ds);
	parse_bad("a\n1\n2\n3\n45\n", &opts, WQ_ERANGE, "t.csv: 11 bytes, more than the 10-byte");
	free(buf);
}

static void test_column_find(void **state)
{
	wq_dataset *ds = parse_ok("a,pH,quality\n1,2,3\n", NULL);
	size_t idx = 99;

	(void)state;
	assert_int_equal(wq_dataset_column_find(ds, "pH", &idx), WQ_OK);
	assert_int_equal(idx, 1);
	assert_int_equal(wq_dataset_column_find(ds, "quality", &idx), WQ_OK);
	assert_int_equal(idx, 2);
	idx = 99;
	assert_int_equal(wq_dataset_column_find(ds, "ph", &idx), WQ_ENOENT);
	assert_int_equal(wq_dataset_column_find(ds, "", &idx), WQ_ENOENT);
	assert_int_equal(idx, 99);
	assert_int_equal(wq_dataset_column_find(ds, "a", NULL), WQ_OK);
	wq_dataset_free(ds);
}

static void test_matrix_extract(void **state)
{
	wq_dataset *ds = parse_ok("a,b,c\n1,2,3\n4,5,6\n7,8,9\n", NULL);
	const char *const pick[] = {"c", "a", "c"};
	const char *const missing[] = {"a", "zz"};
	const double expect[9] = {3, 1, 3, 6, 4, 6, 9, 7, 9};
	double sentinel = 0, *m = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(wq_dataset_matrix_extract(ds, pick, 3, &m, err, sizeof(err)), WQ_OK);
	assert_non_null(m);
	for (size_t i = 0; i < 9; i++)
		assert_double_eq(m[i], expect[i]);
	free(m);

	m = &sentinel;
	assert_int_equal(wq_dataset_matrix_extract(ds, missing, 2, &m, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_ptr_equal(m, &sentinel);
	assert_err_contains(err, "'zz'");
	wq_dataset_free(ds);
}

static void test_labels_extract(void **state)
{
	wq_dataset *ds = parse_ok("x,q\n1,5\n2,-3\n3,7.0\n4,0\n", NULL);
	int *y = NULL, sentinel = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(wq_dataset_labels_extract(ds, "q", &y, err, sizeof(err)), WQ_OK);
	assert_non_null(y);
	assert_int_equal(y[0], 5);
	assert_int_equal(y[1], -3);
	assert_int_equal(y[2], 7);
	assert_int_equal(y[3], 0);
	free(y);

	y = &sentinel;
	assert_int_equal(wq_dataset_labels_extract(ds, "quality", &y, err, sizeof(err)), WQ_ENOENT);
	assert_err_contains(err, "'quality'");
	assert_ptr_equal(y, &sentinel);
	wq_dataset_free(ds);

	ds = parse_ok("x,q\n1,5\n2,5.5\n", NULL);
	assert_int_equal(wq_dataset_labels_extract(ds, "q", &y, err, sizeof(err)), WQ_EPARSE);
	assert_err_contains(err, "line 3, column 2");
	assert_err_contains(err, "5.5");
	assert_ptr_equal(y, &sentinel);
	wq_dataset_free(ds);

	ds = parse_ok("q,x\n3e9,1\n", NULL);
	assert_int_equal(wq_dataset_labels_extract(ds, "q", &y, err, sizeof(err)), WQ_ERANGE);
	assert_err_contains(err, "line 2, column 1");
	assert_ptr_equal(y, &sentinel);
	wq_dataset_free(ds);

	ds = parse_ok("q\n-2147483648\n2147483647\n", NULL);
	assert_int_equal(wq_dataset_labels_extract(ds, "q", &y, err, sizeof(err)), WQ_OK);
	assert_int_equal(y[0], INT_MIN);
	assert_int_equal(y[1], INT_MAX);
	free(y);
	wq_dataset_free(ds);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	int bad;

	if (f == NULL)
		return -1;
	bad = fputs(text, f) == EOF;
	if (fclose(f) != 0)
		bad = 1;
	return bad ? -1 : 0;
}

/* The scratch directory lives in *state so that teardown removes it even after a failed
 * assertion. */
static int setup_tmpdir(void **state)
{
	static char dir[4096];

	if (wq_test_tmpdir(dir, sizeof(dir)) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int teardown_tmpdir(void **state)
{
	return wq_test_rmtree((const char *)*state) == 0 ? 0 : -1;
}

static void test_files(void **state)
{
	const char *dir = *state;
	wq_csv_opts small = {.delimiter = 0, .allowed = NULL, .max_bytes = 8};
	char path[4200], want[4300], err[8192] = "";
	wq_dataset sentinel, *ds = &sentinel;

	snprintf(path, sizeof(path), "%s/missing.csv", dir);
	assert_int_equal(wq_dataset_read_csv(path, NULL, &ds, err, sizeof(err)), WQ_ENOENT);
	assert_err_contains(err, path);
	assert_err_contains(err, "No such file or directory");
	assert_ptr_equal(ds, &sentinel);

	assert_int_equal(wq_dataset_read_csv(dir, NULL, &ds, err, sizeof(err)), WQ_EIO);
	assert_err_contains(err, "Is a directory");
	assert_ptr_equal(ds, &sentinel);

	snprintf(path, sizeof(path), "%s/good.csv", dir);
	assert_int_equal(write_file(path, "\"a\";\"b\"\r\n1;2\r\n3;4\r\n"), 0);
	assert_int_equal(wq_dataset_read_csv(path, NULL, &ds, err, sizeof(err)), WQ_OK);
	assert_int_equal(ds->nrows, 2);
	assert_int_equal(ds->ncols, 2);
	assert_double_eq(ds->values[3], 4);
	wq_dataset_free(ds);

	ds = &sentinel;
	assert_int_equal(wq_dataset_read_csv(path, &small, &ds, err, sizeof(err)), WQ_ERANGE);
	assert_err_contains(err, "8-byte limit");
	assert_ptr_equal(ds, &sentinel);

	snprintf(path, sizeof(path), "%s/bad.csv", dir);
	assert_int_equal(write_file(path, "a,b\n1,2\n3,4\n5,oops\n"), 0);
	assert_int_equal(wq_dataset_read_csv(path, NULL, &ds, err, sizeof(err)), WQ_EPARSE);
	snprintf(want, sizeof(want), "%s:4:2: non-numeric cell 'oops'", path);
	assert_string_equal(err, want);
	assert_ptr_equal(ds, &sentinel);

	snprintf(path, sizeof(path), "%s/empty.csv", dir);
	assert_int_equal(write_file(path, ""), 0);
	assert_int_equal(wq_dataset_read_csv(path, NULL, &ds, err, sizeof(err)), WQ_EPARSE);
	snprintf(want, sizeof(want), "%s:1:1: empty file", path);
	assert_string_equal(err, want);
}

static void test_free_null(void **state)
{
	(void)state;
	wq_dataset_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uci_columns),
	    cmocka_unit_test(test_white_file),
	    cmocka_unit_test(test_red_file),
	    cmocka_unit_test(test_comma_csv),
	    cmocka_unit_test(test_quoted_header),
	    cmocka_unit_test(test_explicit_delimiter),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_bom),
	    cmocka_unit_test(test_trailing_empty_lines),
	    cmocka_unit_test(test_underflow_accepted),
	    cmocka_unit_test(test_bad_structure),
	    cmocka_unit_test(test_bad_cells),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_column_find),
	    cmocka_unit_test(test_matrix_extract),
	    cmocka_unit_test(test_labels_extract),
	    cmocka_unit_test_setup_teardown(test_files, setup_tmpdir, teardown_tmpdir),
	    cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
