/* Text from anywhere (wq_utf8): the validator agrees with a re-encoding of what it decodes,
 * and the HTML escape of any bytes is valid UTF-8 with no markup character, no control
 * character HTML forbids and, with WQ_UTF8_HTML_COLON, no ':'. */
#include "fuzz_common.h"
#include "base/wq_buf.h"
#include "base/wq_utf8.h"

#include <stdlib.h>
#include <string.h>

/* The UTF-8 encoding of cp into out; its length. */
static size_t encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static void check_decode(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size;) {
		uint32_t cp = 0;
		unsigned char back[4];
		size_t n = wq_utf8_decode(data + i, size - i, &cp);

		if (n != wq_utf8_seq(data + i, size - i))
			abort();
		if (n == 0) {
			i++;
			continue;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || encode(cp, back) != n ||
		    memcmp(back, data + i, n) != 0)
			abort();
		i += n;
	}
}

static void check_escape(const uint8_t *data, size_t size, unsigned flags)
{
	wq_buf b = WQ_BUF_INIT;
	const unsigned char *s;

	wq_utf8_html_escape(&b, (const char *)data, size, flags);
	if (wq_buf_status(&b) != 0)
		abort();
	s = (const unsigned char *)b.data;
	for (size_t i = 0; i < b.len;) {
		size_t n = wq_utf8_seq(s + i, b.len - i);
		unsigned char c = s[i];

		if (n == 0 || c == '<' || c == '>' || c == '"' || c == '\'' || c == 0x7f ||
		    (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    ((flags & WQ_UTF8_HTML_COLON) && c == ':') ||
		    (n == 2 && c == 0xc2 && s[i + 1] < 0xa0))
			abort();
		i += n;
	}
	wq_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_escape(data, size, 0);
	check_escape(data, size, WQ_UTF8_HTML_COLON);
	return 0;
}
