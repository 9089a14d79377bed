/* wq_jsonout: the one JSON writer for every document wineq writes (HTTP answers, CLI output,
 * bundle and backup manifests, the Kinesis bridge), compact or indented.
 *
 * The layout is jansson's (json_dumps with JSON_COMPACT, with no flag, or with JSON_INDENT(n):
 * "key": value, one item a line) and so is the text of strings: UTF-8 kept as it is, '"' and '\\'
 * escaped, the control characters as \b \f \n \r \t or \u00XX, '/' not escaped. Numbers are not
 * jansson's:
 *   - an integer is written as one ("42");
 *   - a real is written as the shortest text that reads back as exactly the same double
 *     (wq_num_format: 0.1, 1e-07, 5e-324, 1e+300), never "%.17g"'s
 *     0.10000000000000001. A real with neither '.' nor an exponent gets ".0" (1.0, -0.0,
 *     1000000.0), as Python's json and jansson write it, so a reader tells reals from
 *     integers and -0.0 keeps its sign;
 *   - a non-finite real has no JSON text: it is refused (jansson's constructors refuse one
 *     already; the check keeps invalid JSON from ever being written).
 * Numbers are written with '.' whatever the process's locale. */
#ifndef WQ_JSONOUT_H
#define WQ_JSONOUT_H

#include "base/wq_buf.h"
#include "base/wq_error.h"

#include <jansson.h>
#include <stdio.h>

/* Object keys in byte order (jansson's JSON_SORT_KEYS) instead of insertion order. */
#define WQ_JSONOUT_SORT_KEYS 0x1u
/* With indent 0: one line with a space after ':' and ',' ({"a": 1, "b": [1, 2]}), jansson's
 * layout without JSON_COMPACT. */
#define WQ_JSONOUT_SPACED 0x2u

/* Most spaces per indentation level (jansson's JSON_MAX_INDENT). */
#define WQ_JSONOUT_MAX_INDENT 31

/* Deepest nesting written; deeper documents (and cycles) are refused. */
#define WQ_JSONOUT_MAX_DEPTH 2048

/* Appends j (any value, not only an object or array) to out: compact with indent 0,
 * otherwise indent spaces per level (1 to WQ_JSONOUT_MAX_INDENT); flags 0 or any of
 * WQ_JSONOUT_SORT_KEYS and WQ_JSONOUT_SPACED. No trailing newline. Returns WQ_OK; WQ_EINVAL for a
 * NULL j, a bad indent or flag, a non-finite real or a string (or key) that is not UTF-8; WQ_ERANGE
 * past WQ_JSONOUT_MAX_DEPTH; WQ_ENOMEM; or out's own sticky failure (WQ_ENOMEM, WQ_ERANGE over its
 * limit), which is then out's to report. On any failure but out's, out is left as it was. */
wq_status wq_jsonout_dump(const json_t *j, int indent, unsigned flags, wq_buf *out);

/* j's text as wq_jsonout_dump writes it, in a new string *out (owned by the caller: free),
 * written only on success. The returns of wq_jsonout_dump. */
wq_status wq_jsonout_text(const json_t *j, int indent, unsigned flags, char **out);

/* Writes j as wq_jsonout_dump does, then a newline, to f (the caller's). WQ_OK, the errors of
 * wq_jsonout_dump (nothing is written then), or WQ_EIO when f refuses the bytes. */
wq_status wq_jsonout_file(const json_t *j, int indent, unsigned flags, FILE *f);

#endif
