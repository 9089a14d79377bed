#include "base/wq_jsonout.h"

#include "base/wq_num.h"
#include "base/wq_utf8.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct writer {
	wq_buf *out;
	int indent;
	unsigned flags;
	wq_status failed; /* the writer's own first failure, not out's */
} writer;

/* One member of an object, for writing in key order. */
typedef struct member {
	const char *key;
	size_t len;
	const json_t *value;
} member;

static void writer_fail(writer *w, wq_status st)
{
	if (w->failed == WQ_OK)
		w->failed = st;
}

/* The escape of byte c (below 0x20, '"' or '\\') into esc; its length. */
static size_t escape_of(unsigned char c, char esc[7])
{
	static const char hex[] = "0123456789ABCDEF";
	char short_form = 0;

	switch (c) {
	case '"':
	case '\\':
		short_form = (char)c;
		break;
	case '\b':
		short_form = 'b';
		break;
	case '\f':
		short_form = 'f';
		break;
	case '\n':
		short_form = 'n';
		break;
	case '\r':
		short_form = 'r';
		break;
	case '\t':
		short_form = 't';
		break;
	default:
		break;
	}
	esc[0] = '\\';
	if (short_form != 0) {
		esc[1] = short_form;
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

static void put_string(writer *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0, i = 0;

	wq_buf_putc(w->out, '"');
	while (i < n) {
		size_t len = wq_utf8_seq(s + i, n - i);
		char esc[7];

		if (len == 0) {
			writer_fail(w, WQ_EINVAL);
			return;
		}
		if (len > 1 || (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')) {
			i += len;
			continue;
		}
		/* plain bytes go in runs: most strings hold no escape at all */
		wq_buf_add(w->out, s + run, i - run);
		wq_buf_add(w->out, esc, escape_of(s[i], esc));
		run = ++i;
	}
	wq_buf_add(w->out, s + run, n - run);
	wq_buf_putc(w->out, '"');
}

static void put_real(writer *w, double v)
{
	char text[WQ_NUM_MAX + 2];
	size_t n;

	if (!isfinite(v) || wq_num_format(v, text, WQ_NUM_MAX) != WQ_OK) {
		writer_fail(w, WQ_EINVAL);
		return;
	}
	n = strlen(text);
	if (strpbrk(text, ".e") == NULL)
		memcpy(text + n, ".0", 3); /* a real stays a real when read back */
	wq_buf_puts(w->out, text);
}

/* A line break and the indentation of depth, when indenting. */
static void put_newline(writer *w, int depth)
{
	static const char spaces[] = "                                "; /* 32 */
	size_t left;

	if (w->indent == 0)
		return;
	wq_buf_putc(w->out, '\n');
	for (left = (size_t)depth * (size_t)w->indent; left > 0;) {
		size_t k = left < sizeof(spaces) - 1 ? left : sizeof(spaces) - 1;

		wq_buf_add(w->out, spaces, k);
		left -= k;
	}
}

static void put_value(writer *w, const json_t *j, int depth);

/* Between two items of a container at depth. */
static void put_comma(writer *w, int depth)
{
	wq_buf_putc(w->out, ',');
	if (w->indent > 0)
		put_newline(w, depth + 1);
	else if (w->flags & WQ_JSONOUT_SPACED)
		wq_buf_putc(w->out, ' ');
}

static void put_member(writer *w, const member *m, int depth)
{
	put_string(w, m->key, m->len);
	wq_buf_puts(w->out, w->indent > 0 || (w->flags & WQ_JSONOUT_SPACED) ? ": " : ":");
	put_value(w, m->value, depth + 1);
}

/* jansson's order for JSON_SORT_KEYS: bytes, then length. */
static int member_cmp(const void *a, const void *b)
{
	const member *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void put_members_sorted(writer *w, const json_t *obj, size_t n, int depth)
{
	member *all = malloc(n * sizeof(*all));
	const char *key;
	size_t len, i = 0;
	json_t *value;

	if (all == NULL) {
		writer_fail(w, WQ_ENOMEM);
		return;
	}
	json_object_keylen_foreach((json_t *)obj, key, len, value)
	{
		all[i].key = key;
		all[i].len = len;
		all[i++].value = value;
	}
	qsort(all, i, sizeof(*all), member_cmp);
	for (size_t k = 0; k < i && w->failed == WQ_OK; k++) {
		if (k > 0)
			put_comma(w, depth);
		put_member(w, &all[k], depth);
	}
	free(all);
}

static void put_object(writer *w, const json_t *obj, int depth)
{
	size_t n = json_object_size(obj), k = 0;
	member m = {NULL, 0, NULL};
	json_t *value;

	wq_buf_putc(w->out, '{');
	if (n == 0) {
		wq_buf_putc(w->out, '}');
		return;
	}
	put_newline(w, depth + 1);
	if (w->flags & WQ_JSONOUT_SORT_KEYS) {
		put_members_sorted(w, obj, n, depth);
	} else {
		json_object_keylen_foreach((json_t *)obj, m.key, m.len, value)
		{
			if (w->failed != WQ_OK)
				break;
			if (k++ > 0)
				put_comma(w, depth);
			m.value = value;
			put_member(w, &m, depth);
		}
	}
	put_newline(w, depth);
	wq_buf_putc(w->out, '}');
}

static void put_array(writer *w, const json_t *arr, int depth)
{
	size_t n = json_array_size(arr);

	wq_buf_putc(w->out, '[');
	if (n == 0) {
		wq_buf_putc(w->out, ']');
		return;
	}
	put_newline(w, depth + 1);
	for (size_t i = 0; i < n && w->failed == WQ_OK; i++) {
		if (i > 0)
			put_comma(w, depth);
		put_value(w, json_array_get(arr, i), depth + 1);
	}
	put_newline(w, depth);
	wq_buf_putc(w->out, ']');
}

static void put_value(writer *w, const json_t *j, int depth)
{
	if (w->failed != WQ_OK)
		return;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		/* also what stops a container that holds itself */
		if (depth >= WQ_JSONOUT_MAX_DEPTH)
			writer_fail(w, WQ_ERANGE);
		else if (json_is_object(j))
			put_object(w, j, depth);
		else
			put_array(w, j, depth);
		break;
	case JSON_STRING:
		put_string(w, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		wq_buf_printf(w->out, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		break;
	case JSON_REAL:
		put_real(w, json_real_value(j));
		break;
	case JSON_TRUE:
		wq_buf_puts(w->out, "true");
		break;
	case JSON_FALSE:
		wq_buf_puts(w->out, "false");
		break;
	default:
		wq_buf_puts(w->out, "null");
		break;
	}
}

wq_status wq_jsonout_dump(const json_t *j, int indent, unsigned flags, wq_buf *out)
{
	writer w = {.out = out, .indent = indent, .flags = flags, .failed = WQ_OK};
	size_t start = out->len;
	locale_t c_locale, old = (locale_t)0;

	if (j == NULL || indent < 0 || indent > WQ_JSONOUT_MAX_INDENT ||
	    (flags & ~(WQ_JSONOUT_SORT_KEYS | WQ_JSONOUT_SPACED)) != 0)
		return WQ_EINVAL;
	/* wq_num_format's printf and strtod follow the thread's locale; JSON's point is '.' */
	c_locale = wq_num_c_locale();
	if (c_locale != (locale_t)0)
		old = uselocale(c_locale);
	put_value(&w, j, 0);
	if (c_locale != (locale_t)0)
		uselocale(old);
	if (w.failed != WQ_OK && wq_buf_status(out) == WQ_OK) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	return wq_buf_status(out) != WQ_OK ? wq_buf_status(out) : w.failed;
}

wq_status wq_jsonout_text(const json_t *j, int indent, unsigned flags, char **out)
{
	wq_buf b = WQ_BUF_INIT;
	wq_status rc = wq_jsonout_dump(j, indent, flags, &b);

	if (rc != WQ_OK) {
		wq_buf_free(&b);
		return rc;
	}
	return wq_buf_steal(&b, out, NULL);
}

wq_status wq_jsonout_file(const json_t *j, int indent, unsigned flags, FILE *f)
{
	wq_buf b = WQ_BUF_INIT;
	wq_status rc = wq_jsonout_dump(j, indent, flags, &b);

	wq_buf_putc(&b, '\n');
	if (rc == WQ_OK)
		rc = wq_buf_status(&b);
	if (rc == WQ_OK && fwrite(b.data, 1, b.len, f) != b.len)
		rc = WQ_EIO;
	wq_buf_free(&b);
	return rc;
}
