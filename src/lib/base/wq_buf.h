/* wq_buf: a growable byte buffer that always holds a NUL after its contents, for building
 * text (JSON, HTML, Prometheus exposition, HTTP requests) in many small writes.
 *
 * An allocation failure, or a size that would overflow size_t or pass the buffer's limit, is
 * remembered: later writes do nothing and wq_buf_status() reports it once at the end, which
 * keeps the many small writers free of error paths. Zero-initialise (WQ_BUF_INIT) or call
 * wq_buf_init(); wq_buf_free() releases. Not thread-safe: one owner at a time. */
#ifndef WQ_BUF_H
#define WQ_BUF_H

#include "base/wq_error.h"

#include <stdarg.h>
#include <stddef.h>

typedef struct wq_buf {
	char *data;       /* NULL until the first write; then NUL-terminated at len */
	size_t len;       /* bytes written, not counting the NUL */
	size_t cap;       /* bytes allocated */
	size_t limit;     /* most bytes the buffer may hold (0: no limit but size_t's) */
	wq_status failed; /* first failure (WQ_ENOMEM or WQ_ERANGE), WQ_OK while none */
} wq_buf;

#define WQ_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0, WQ_OK                                                               \
	}

/* An empty buffer of at most limit bytes (0: no limit). */
void wq_buf_init(wq_buf *b, size_t limit);

/* Room for n more bytes and the NUL. WQ_OK, or the (sticky) failure. */
wq_status wq_buf_reserve(wq_buf *b, size_t n);

/* Appends n bytes (any bytes, NUL included). */
void wq_buf_add(wq_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. */
void wq_buf_puts(wq_buf *b, const char *s);

/* Appends one byte. */
void wq_buf_putc(wq_buf *b, char c);

/* Appends printf-formatted text; an encoding error fails the buffer (WQ_EINVAL). */
void wq_buf_printf(wq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wq_buf_vprintf(wq_buf *b, const char *fmt, va_list ap);

/* Appends the shortest round-trip text of v (wq_num_format). */
void wq_buf_num(wq_buf *b, double v);

/* Drops the contents, keeps the memory and clears nothing else (a failure stays). */
void wq_buf_reset(wq_buf *b);

/* WQ_OK, or the first failure since init. */
wq_status wq_buf_status(const wq_buf *b);

/* Hands the contents over: *out is a NUL-terminated string ("" when nothing was written)
 * owned by the caller (free), *len (may be NULL) its length; the buffer is left empty.
 * On a recorded failure returns it, frees the contents and leaves *out untouched. */
wq_status wq_buf_steal(wq_buf *b, char **out, size_t *len);

/* Frees the contents; accepts NULL. The buffer may be reused after wq_buf_init. */
void wq_buf_free(wq_buf *b);

#endif
