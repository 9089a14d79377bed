/* wq_utf8: the one UTF-8 validator of the project and the HTML text escaper built on it, for
 * every layer that writes text it did not produce itself (pages, reports, JSON, logs). */
#ifndef WQ_UTF8_H
#define WQ_UTF8_H

#include "base/wq_buf.h"

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid UTF-8 sequence at s, where n > 0 bytes are left; 0 when the bytes
 * there are not one: stray continuation bytes, overlong forms, surrogates, code points past
 * U+10FFFF, and sequences cut short by the end of the n bytes. A NUL is a sequence of 1. For
 * a NUL-terminated s, n = SIZE_MAX is safe: a NUL ends any sequence before a byte past it is
 * read. */
size_t wq_utf8_seq(const unsigned char *s, size_t n);

/* wq_utf8_seq that also decodes: *cp gets the code point, written only when the result is not
 * 0. */
size_t wq_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* The largest m <= n at which s can be cut without splitting a character: n itself unless
 * s[n] continues a sequence. s must hold at least n + 1 bytes (its NUL counts). */
size_t wq_utf8_floor(const char *s, size_t n);

/* wq_utf8_html_escape flags. */
enum {
	/* ':' as &#58; too, so no URL taken from the data stands literally in the page source
	 * (reports meant to be mailed stay free of "http://" for scanners; browsers render it
	 * the same). */
	WQ_UTF8_HTML_COLON = 1,
};

/* Appends n bytes of s escaped for HTML element text and quoted attribute values alike:
 * & < > " ' as character references (':' too with WQ_UTF8_HTML_COLON); bytes that are not
 * valid UTF-8, and the control characters HTML does not allow as text (C0 but tab, LF and CR;
 * DEL; C1), each become U+FFFD. Nothing is allocated but b's growth (its sticky failure is
 * the caller's to check). */
void wq_utf8_html_escape(wq_buf *b, const char *s, size_t n, unsigned flags);

#endif
