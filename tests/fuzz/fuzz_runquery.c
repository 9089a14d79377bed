/* The run-search language (wq_runquery): filter and order_by as a SearchRuns request or
 * `runs search` gives them (split at the first NUL byte of the input), compiled to SQL with
 * bound parameters; page tokens decoded. */
#include "fuzz_common.h"
#include "track/wq_runquery.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	size_t flen = strlen(s), off;
	const char *order = flen < size ? s + flen + 1 : NULL;
	wq_runquery q;
	char err[512];

	if (wq_runquery_compile(s, order, &q, err, sizeof(err)) == 0) {
		size_t marks = 0;

		/* every user value is a bound parameter: one '?' per bind */
		for (const char *p = q.where; *p != '\0'; p++)
			marks += *p == '?';
		for (const char *p = q.order_by; *p != '\0'; p++)
			marks += *p == '?';
		if (marks != q.nbinds)
			abort();
		wq_runquery_clear(&q);
	}
	if (wq_runquery_page_token_decode(s, &off, err, sizeof(err)) == 0) {
		char tok[64];
		size_t back;

		if (wq_runquery_page_token_encode(off, tok, sizeof(tok)) != 0 ||
		    wq_runquery_page_token_decode(tok, &back, err, sizeof(err)) != 0 || back != off)
			abort();
	}
	free(s);
	return 0;
}
