#include "ml/wq_dataset.h"

#include "base/wq_file.h"

#include "base/wq_error.h"
#include "base/wq_num.h"
#include "base/wq_utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const wq_uci_columns[] = {"fixed acidity",
                                      "volatile acidity",
                                      "citric acid",
                                      "residual sugar",
                                      "chlorides",
                                      "free sulfur dioxide",
                                      "total sulfur dioxide",
                                      "density",
                                      "pH",
                                      "sulphates",
                                      "alcohol",
                                      "quality",
                                      NULL};

/* Offending cell text quoted in messages is cut to this many bytes. */
#define QUOTE_MAX 32

typedef struct csv_parser {
	const char *name; /* file name for messages */
	const char *p;    /* first unparsed byte */
	const char *end;  /* one past the last byte */
	size_t line;      /* 1-based number of the line being parsed */
	char delim;
	const char *const *allowed;
	char *scratch; /* WQ_CSV_MAX_LINE + 1 bytes: the current field, unescaped, NUL-terminated */
	char *err;
	size_t errlen;
	/* the table being built */
	char **names;
	size_t ncols, names_cap;
	double *values;
	size_t nrows, values_cap; /* values_cap counts doubles */
} csv_parser;

/* "NAME:LINE:COL: what" */
static wq_status fail_at(const csv_parser *ps, int status, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static wq_status fail_at(const csv_parser *ps, int status, size_t col, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return wq_err_set(ps->err, ps->errlen, status, "%s:%zu:%zu: %s", ps->name, ps->line, col,
	                  what);
}

/* Copies at most QUOTE_MAX bytes of s for quoting in a message. Control bytes become '?' so
 * that a hostile file cannot put escape sequences on the user's terminal; the cut backs off
 * to a UTF-8 character boundary and is marked with "...". */
static void quote_text(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = len, i;

	if (n > QUOTE_MAX)
		n = wq_utf8_floor(s, QUOTE_MAX);
	if (n + 4 > dstlen)
		n = dstlen > 4 ? dstlen - 4 : 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	if (n < len && dstlen >= 4) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static bool is_blank(const csv_parser *ps, char c)
{
	return (c == ' ' || c == '\t') && c != ps->delim;
}

static bool only_line_ends(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != '\n' && *p != '\r')
			return false;
	}
	return true;
}

/* Takes the next line from ps->p into [*ls, *le) without its "\n" or "\r\n"; false at the
 * end of the buffer. */
static bool next_line(csv_parser *ps, const char **ls, const char **le)
{
	const char *nl;

	if (ps->p >= ps->end)
		return false;
	nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	*ls = ps->p;
	*le = nl != NULL ? nl : ps->end;
	ps->p = nl != NULL ? nl + 1 : ps->end;
	if (*le > *ls && (*le)[-1] == '\r')
		(*le)--;
	return true;
}

/* Splits off the field that starts at *pp (inside the line ending at le) into ps->scratch:
 * *len bytes, NUL-terminated, quotes removed and "" unescaped. Blanks around an unquoted field
 * or around the quotes are dropped. *more tells whether a delimiter followed (so that another
 * field, possibly empty, comes next); *pp is left after it. Quoted fields cannot span lines:
 * neither UCI file needs that and it keeps line numbers honest. */
static wq_status split_field(csv_parser *ps, const char **pp, const char *le, size_t col,
                             size_t *len, int *quoted, int *more)
{
	const char *p = *pp, *q;
	size_t n = 0;

	while (p < le && is_blank(ps, *p))
		p++;
	*quoted = p < le && *p == '"';
	if (*quoted) {
		p++;
		for (;;) {
			q = memchr(p, '"', (size_t)(le - p));
			if (q == NULL)
				return fail_at(ps, WQ_EPARSE, col, "unterminated quoted field");
			memcpy(ps->scratch + n, p, (size_t)(q - p));
			n += (size_t)(q - p);
			p = q + 1;
			if (p < le && *p == '"') {
				ps->scratch[n++] = '"';
				p++;
				continue;
			}
			break;
		}
		while (p < le && is_blank(ps, *p))
			p++;
		if (p < le && *p != ps->delim)
			return fail_at(ps, WQ_EPARSE, col, "unexpected text after closing quote");
	} else {
		q = memchr(p, ps->delim, (size_t)(le - p));
		if (q == NULL)
			q = le;
		n = (size_t)(q - p);
		while (n > 0 && is_blank(ps, p[n - 1]))
			n--;
		memcpy(ps->scratch, p, n);
		p = q;
	}
	ps->scratch[n] = '\0';
	*len = n;
	*more = p < le;
	*pp = *more ? p + 1 : p;
	return WQ_OK;
}

/* Grows *arr (holding *cap elements of size elem) to at least need elements, doubling. */
static wq_status grow(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap = *cap > 0 ? *cap : first;
	void *p;

	if (need <= *cap)
		return WQ_OK;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return WQ_ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return WQ_ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return WQ_ENOMEM;
	*arr = p;
	*cap = ncap;
	return WQ_OK;
}

static wq_status out_of_memory(const csv_parser *ps)
{
	return wq_err_set(ps->err, ps->errlen, WQ_ENOMEM, "%s: out of memory", ps->name);
}

/* UCI files use ';' and quote every name; anything else is taken as comma CSV. */
static char detect_delimiter(const char *ls, const char *le)
{
	int in_quotes = 0;

	for (; ls < le; ls++) {
		if (*ls == '"')
			in_quotes = !in_quotes;
		else if (*ls == ';' && !in_quotes)
			return ';';
	}
	return ',';
}

static wq_status check_name(csv_parser *ps, size_t col, size_t len, int quoted)
{
	const char *s = ps->scratch;
	char q[QUOTE_MAX + 4];
	size_t i;

	if (len == 0)
		return fail_at(ps, WQ_EPARSE, col, "empty column name");
	quote_text(q, sizeof(q), s, len);
	if (len > WQ_CSV_MAX_NAME)
		return fail_at(ps, WQ_ERANGE, col, "column name '%s' longer than %d bytes", q,
		               WQ_CSV_MAX_NAME);
	/* Names end up in messages, logs and the bundle's reference.csv: keep them printable. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7F)
			return fail_at(ps, WQ_EPARSE, col, "control character in column name '%s'",
			               q);
	}
	if (!quoted && memchr(s, '"', len) != NULL)
		return fail_at(ps, WQ_EPARSE, col, "stray quote in unquoted column name '%s'", q);
	for (i = 0; i < ps->ncols; i++) {
		if (strcmp(ps->names[i], s) == 0)
			return fail_at(ps, WQ_EPARSE, col,
			               "duplicate column name '%s' (also column %zu)", q, i + 1);
	}
	if (ps->allowed != NULL) {
		for (i = 0; ps->allowed[i] != NULL; i++) {
			if (strcmp(ps->allowed[i], s) == 0)
				return WQ_OK;
		}
		return fail_at(ps, WQ_EPARSE, col, "unknown column '%s'", q);
	}
	return WQ_OK;
}

static wq_status parse_header(csv_parser *ps, const char *ls, const char *le)
{
	const char *p = ls;
	size_t len;
	int quoted, more = 1, rc;

	while (more) {
		size_t col = ps->ncols + 1;
		char *copy;

		if (ps->ncols == WQ_CSV_MAX_COLS)
			return fail_at(ps, WQ_ERANGE, col, "more than %d columns", WQ_CSV_MAX_COLS);
		rc = split_field(ps, &p, le, col, &len, &quoted, &more);
		if (rc == WQ_OK)
			rc = check_name(ps, col, len, quoted);
		if (rc != WQ_OK)
			return rc;
		if (grow((void **)&ps->names, &ps->names_cap, ps->ncols + 1, sizeof(char *), 16) !=
		    WQ_OK)
			return out_of_memory(ps);
		copy = malloc(len + 1);
		if (copy == NULL)
			return out_of_memory(ps);
		memcpy(copy, ps->scratch, len + 1);
		ps->names[ps->ncols++] = copy;
	}
	return WQ_OK;
}

/* strtod accepts more than a CSV cell should hold; everything beyond a plain decimal or
 * exponent number is turned away: leading whitespace other than blanks, hexadecimal, trailing
 * text, NaN/Inf spellings and values that overflow to infinity. Underflow to zero or a
 * subnormal is accepted: the value is still the closest double. */
static wq_status parse_cell(csv_parser *ps, size_t col, size_t len, double *v)
{
	char *s = ps->scratch, *endp;
	char q[QUOTE_MAX + 4];
	size_t n = len;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	if (n == 0)
		return fail_at(ps, WQ_EPARSE, col, "empty cell");
	quote_text(q, sizeof(q), s, n);
	if (isspace((unsigned char)*s) || strpbrk(s, "xX") != NULL)
		return fail_at(ps, WQ_EPARSE, col, "non-numeric cell '%s'", q);
	errno = 0;
	*v = strtod(s, &endp);
	if (endp != s + n)
		return fail_at(ps, WQ_EPARSE, col, "non-numeric cell '%s'", q);
	if (errno == ERANGE && isinf(*v))
		return fail_at(ps, WQ_EPARSE, col, "value '%s' overflows a double", q);
	if (!isfinite(*v))
		return fail_at(ps, WQ_EPARSE, col, "non-finite value '%s'", q);
	return WQ_OK;
}

/* Counts the fields left on a row that already has too many, for the message. */
static wq_status count_rest(csv_parser *ps, const char *p, const char *le, size_t *count)
{
	size_t len;
	int quoted, more = 1, rc;

	while (more) {
		rc = split_field(ps, &p, le, *count + 1, &len, &quoted, &more);
		if (rc != WQ_OK)
			return rc;
		(*count)++;
	}
	return WQ_OK;
}

static wq_status parse_row(csv_parser *ps, const char *ls, const char *le)
{
	const char *p = ls;
	double *row;
	size_t col = 0, len;
	int quoted, more = 1, rc;

	if (ps->nrows >= SIZE_MAX / ps->ncols ||
	    grow((void **)&ps->values, &ps->values_cap, (ps->nrows + 1) * ps->ncols, sizeof(double),
	         1024) != WQ_OK)
		return out_of_memory(ps);
	row = ps->values + ps->nrows * ps->ncols;
	while (more) {
		if (col == ps->ncols) {
			rc = count_rest(ps, p, le, &col);
			if (rc != WQ_OK)
				return rc;
			return fail_at(ps, WQ_EPARSE, ps->ncols + 1,
			               "too many fields: expected %zu, got %zu", ps->ncols, col);
		}
		rc = split_field(ps, &p, le, col + 1, &len, &quoted, &more);
		if (rc == WQ_OK)
			rc = parse_cell(ps, col + 1, len, &row[col]);
		if (rc != WQ_OK)
			return rc;
		col++;
	}
	if (col < ps->ncols)
		return fail_at(ps, WQ_EPARSE, col + 1, "too few fields: expected %zu, got %zu",
		               ps->ncols, col);
	ps->nrows++;
	return WQ_OK;
}

static wq_status parse_lines(csv_parser *ps)
{
	const char *ls, *le;
	wq_status rc;

	/* A UTF-8 byte order mark, as spreadsheet exports write it, is not part of the first name.
	 */
	if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xEF\xBB\xBF", 3) == 0)
		ps->p += 3;
	ps->line = 1;
	if (only_line_ends(ps->p, ps->end))
		return fail_at(ps, WQ_EPARSE, 1, "empty file");
	for (ps->line = 1; next_line(ps, &ls, &le); ps->line++) {
		if ((size_t)(le - ls) > WQ_CSV_MAX_LINE)
			return fail_at(ps, WQ_ERANGE, 1, "line longer than %d bytes",
			               WQ_CSV_MAX_LINE);
		if (ls == le) {
			/* Editors add trailing newlines; a gap before more rows is a damaged file.
			 */
			if (only_line_ends(ps->p, ps->end))
				break;
			return fail_at(ps, WQ_EPARSE, 1, "empty line before more data");
		}
		if (ps->line == 1) {
			if (ps->delim == 0)
				ps->delim = detect_delimiter(ls, le);
			rc = parse_header(ps, ls, le);
		} else {
			rc = parse_row(ps, ls, le);
		}
		if (rc != WQ_OK)
			return rc;
	}
	if (ps->nrows == 0) {
		ps->line = 2;
		return fail_at(ps, WQ_EPARSE, 1, "no data rows after the header");
	}
	return WQ_OK;
}

static size_t size_limit(const wq_csv_opts *opts)
{
	return opts != NULL && opts->max_bytes > 0 ? opts->max_bytes : WQ_CSV_MAX_BYTES;
}

wq_status wq_dataset_parse_csv(const char *name, const char *buf, size_t len,
                               const wq_csv_opts *opts, wq_dataset **out, char *err, size_t errlen)
{
	csv_parser ps;
	wq_dataset *ds = NULL;
	size_t limit = size_limit(opts);
	wq_status rc;

	if (name == NULL)
		name = "(buffer)";
	if ((buf == NULL && len > 0) || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: invalid arguments", name);
	if (buf == NULL)
		buf = ""; /* NULL + 0 is undefined behaviour; reported as an empty file */
	if (opts != NULL &&
	    (opts->delimiter == '"' || opts->delimiter == '\n' || opts->delimiter == '\r'))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: invalid delimiter", name);
	if (len > limit)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "%s: %zu bytes, more than the %zu-byte limit", name, len, limit);
	memset(&ps, 0, sizeof(ps));
	ps.name = name;
	ps.p = buf;
	ps.end = buf + len;
	ps.delim = opts != NULL ? opts->delimiter : 0;
	ps.allowed = opts != NULL ? opts->allowed : NULL;
	ps.err = err;
	ps.errlen = errlen;
	ps.scratch = malloc(WQ_CSV_MAX_LINE + 1);
	if (ps.scratch == NULL) {
		rc = out_of_memory(&ps);
		goto fail;
	}
	rc = parse_lines(&ps);
	if (rc != WQ_OK)
		goto fail;
	ds = malloc(sizeof(*ds));
	if (ds == NULL) {
		rc = out_of_memory(&ps);
		goto fail;
	}
	ds->ncols = ps.ncols;
	ds->nrows = ps.nrows;
	ds->names = ps.names;
	ds->values = ps.values;
	/* give back the unused tail of the geometric growth; a failed shrink keeps the block */
	{
		double *shrunk = realloc(ds->values, ps.nrows * ps.ncols * sizeof(double));

		if (shrunk != NULL)
			ds->values = shrunk;
	}
	free(ps.scratch);
	*out = ds;
	return WQ_OK;
fail:
	for (size_t i = 0; i < ps.ncols; i++)
		free(ps.names[i]);
	free(ps.names);
	free(ps.values);
	free(ps.scratch);
	return rc;
}

wq_status wq_dataset_read_csv(const char *path, const wq_csv_opts *opts, wq_dataset **out,
                              char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	wq_status rc;

	if (path == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_dataset_read_csv: invalid arguments");
	rc = wq_file_read(path, size_limit(opts), &data, &len, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_dataset_parse_csv(path, data, len, opts, out, err, errlen);
	free(data);
	return rc;
}

void wq_dataset_free(wq_dataset *ds)
{
	if (ds == NULL)
		return;
	if (ds->names != NULL) {
		for (size_t i = 0; i < ds->ncols; i++)
			free(ds->names[i]);
	}
	free(ds->names);
	free(ds->values);
	free(ds);
}

wq_status wq_dataset_column_find(const wq_dataset *ds, const char *name, size_t *idx)
{
	if (ds == NULL || name == NULL)
		return WQ_EINVAL;
	for (size_t i = 0; i < ds->ncols; i++) {
		if (ds->names[i] != NULL && strcmp(ds->names[i], name) == 0) {
			if (idx != NULL)
				*idx = i;
			return WQ_OK;
		}
	}
	return WQ_ENOENT;
}

wq_status wq_dataset_matrix_extract(const wq_dataset *ds, const char *const *names, size_t n,
                                    double **out, char *err, size_t errlen)
{
	size_t *cols = NULL;
	double *m = NULL;
	wq_status rc;

	if (ds == NULL || names == NULL || n == 0 || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "matrix_extract: invalid arguments");
	if (ds->nrows > SIZE_MAX / sizeof(double) / n)
		return wq_err_set(err, errlen, WQ_ENOMEM, "matrix of %zu x %zu is too large",
		                  ds->nrows, n);
	cols = malloc(n * sizeof(*cols));
	/* +1: a dataset built by hand may have no rows, and malloc(0) may return NULL */
	m = malloc((ds->nrows * n + 1) * sizeof(*m));
	if (cols == NULL || m == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t j = 0; j < n; j++) {
		if (names[j] == NULL) {
			rc = wq_err_set(err, errlen, WQ_EINVAL, "column name %zu is NULL", j + 1);
			goto fail;
		}
		if (wq_dataset_column_find(ds, names[j], &cols[j]) != WQ_OK) {
			rc = wq_err_set(err, errlen, WQ_ENOENT, "no column '%s' in the data",
			                names[j]);
			goto fail;
		}
	}
	for (size_t i = 0; i < ds->nrows; i++) {
		const double *row = ds->values + i * ds->ncols;

		for (size_t j = 0; j < n; j++)
			m[i * n + j] = row[cols[j]];
	}
	free(cols);
	*out = m;
	return WQ_OK;
fail:
	free(cols);
	free(m);
	return rc;
}

wq_status wq_dataset_labels_extract(const wq_dataset *ds, const char *target, int **out, char *err,
                                    size_t errlen)
{
	size_t c;
	int *y, rc;

	if (ds == NULL || target == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "labels_extract: invalid arguments");
	if (wq_dataset_column_find(ds, target, &c) != WQ_OK)
		return wq_err_set(err, errlen, WQ_ENOENT, "no column '%s' in the data", target);
	y = malloc((ds->nrows + 1) * sizeof(*y));
	if (y == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	for (size_t i = 0; i < ds->nrows; i++) {
		double v = ds->values[i * ds->ncols + c];

		/* Data row i is line i + 2 of its file: line 1 is the header and blank lines
		 * between rows are rejected by the reader. */
		if (v != floor(v)) {
			rc =
			    wq_err_set(err, errlen, WQ_EPARSE,
			               "line %zu, column %zu ('%s'): label %.17g is not an integer",
			               i + 2, c + 1, target, v);
			goto fail;
		}
		if (!(v >= INT_MIN && v <= INT_MAX)) {
			rc = wq_err_set(
			    err, errlen, WQ_ERANGE,
			    "line %zu, column %zu ('%s'): label %.17g is outside the int "
			    "range",
			    i + 2, c + 1, target, v);
			goto fail;
		}
		y[i] = (int)v;
	}
	*out = y;
	return WQ_OK;
fail:
	free(y);
	return rc;
}

/* The shortest of %.15g/%.16g/%.17g that reads back as exactly v: "8.8", not
 * "8.8000000000000007", with no loss. Called in the C locale. */
static void format_exact(char *buf, size_t n, double v, locale_t loc)
{
	for (int prec = 15; prec < 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod_l(buf, NULL, loc) == v)
			return;
	}
	snprintf(buf, n, "%.17g", v);
}

wq_status wq_dataset_write_csv(const wq_dataset *ref, const size_t *rows, size_t nrows,
                               const char *path, char *err, size_t errlen)
{
	char num[40];
	locale_t loc = wq_num_c_locale(), old;
	FILE *f;

	if (loc == (locale_t)0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the C locale");
	for (size_t k = 0; rows != NULL && k < nrows; k++) {
		if (rows[k] >= ref->nrows)
			return wq_err_set(err, errlen, WQ_EINVAL, "row %zu is out of range",
			                  rows[k]);
	}
	f = fopen(path, "wx");
	if (f == NULL)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", path,
		                  strerror(errno));
	old = uselocale(loc);
	for (size_t j = 0; j < ref->ncols; j++)
		fprintf(f, "%s\"%s\"", j > 0 ? "," : "", ref->names[j]);
	fputc('\n', f);
	if (rows == NULL)
		nrows = ref->nrows;
	for (size_t k = 0; k < nrows; k++) {
		size_t i = rows != NULL ? rows[k] : k;

		if (i >= ref->nrows)
			break; /* checked below: a bad index is the caller's error */
		for (size_t j = 0; j < ref->ncols; j++) {
			format_exact(num, sizeof(num), ref->values[i * ref->ncols + j], loc);
			fprintf(f, "%s%s", j > 0 ? "," : "", num);
		}
		fputc('\n', f);
	}
	uselocale(old);
	return wq_file_close_synced(f, path, 0, err, errlen);
}
