#include "base/wq_buf.h"

#include "base/wq_num.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wq_buf_init(wq_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

static wq_status buf_fail(wq_buf *b, wq_status st)
{
	if (b->failed == WQ_OK)
		b->failed = st;
	return b->failed;
}

wq_status wq_buf_reserve(wq_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed != WQ_OK)
		return b->failed;
	/* len + n + 1 without wrapping */
	if (n > SIZE_MAX - 1 - b->len)
		return buf_fail(b, WQ_ERANGE);
	need = b->len + n + 1;
	if (b->limit != 0 && need - 1 > b->limit)
		return buf_fail(b, WQ_ERANGE);
	if (need <= b->cap)
		return WQ_OK;
	cap = b->cap != 0 ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	/* never more than the limit can use */
	if (b->limit != 0 && cap > b->limit + 1)
		cap = b->limit + 1;
	p = realloc(b->data, cap);
	if (p == NULL)
		return buf_fail(b, WQ_ENOMEM);
	b->data = p;
	b->cap = cap;
	return WQ_OK;
}

void wq_buf_add(wq_buf *b, const void *p, size_t n)
{
	if (wq_buf_reserve(b, n) != WQ_OK)
		return;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void wq_buf_puts(wq_buf *b, const char *s)
{
	wq_buf_add(b, s, strlen(s));
}

void wq_buf_putc(wq_buf *b, char c)
{
	wq_buf_add(b, &c, 1);
}

void wq_buf_vprintf(wq_buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list again;
	int n;

	if (b->failed != WQ_OK)
		return;
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(again);
		buf_fail(b, WQ_EINVAL);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		va_end(again);
		wq_buf_add(b, small, (size_t)n);
		return;
	}
	if (wq_buf_reserve(b, (size_t)n) == WQ_OK) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void wq_buf_printf(wq_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wq_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void wq_buf_num(wq_buf *b, double v)
{
	char t[WQ_NUM_MAX];

	if (wq_num_format(v, t, sizeof(t)) == 0)
		wq_buf_puts(b, t);
	else
		buf_fail(b, WQ_ERANGE);
}

void wq_buf_reset(wq_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

wq_status wq_buf_status(const wq_buf *b)
{
	return b->failed;
}

wq_status wq_buf_steal(wq_buf *b, char **out, size_t *len)
{
	size_t limit = b->limit;
	wq_status st = b->failed;

	if (st == WQ_OK && b->data == NULL && (st = wq_buf_reserve(b, 0)) == WQ_OK)
		b->data[0] = '\0'; /* reserve leaves new memory as it is */
	if (st != WQ_OK) {
		wq_buf_free(b);
		wq_buf_init(b, limit);
		return st;
	}
	*out = b->data;
	if (len != NULL)
		*len = b->len;
	wq_buf_init(b, limit);
	return WQ_OK;
}

void wq_buf_free(wq_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
