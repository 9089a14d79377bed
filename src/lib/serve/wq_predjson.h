/* wq_predjson: the reference stack's JSON shapes. Input: {"alcohol": 8.8, "volatile acidity": 0.27,
 * ...} or an array of such objects. Output: {"quality": 6, "probabilities": {"3": 0.01, ...},
 * "model": "wine-quality", "version": 3}. Shared by the CLI, HTTP and the Kinesis bridge. */
#ifndef WQ_PREDJSON_H
#define WQ_PREDJSON_H

#include "base/wq_error.h"
#include "ml/wq_bundle.h"

#include <jansson.h>
#include <stddef.h>

#define WQ_PREDJSON_MAX_BYTES    (1024 * 1024) /* one request body */
#define WQ_PREDJSON_MAX_FEATURES 64            /* named values per object */
#define WQ_PREDJSON_MAX_ROWS     10000         /* objects per array */

/* One row of named feature values (names owned by the row). */
typedef struct wq_named_row {
	size_t n;
	char **names;
	double *values;
} wq_named_row;

/* Parses one JSON object of name -> number. Every value must be a finite JSON number;
 * strings, null, booleans, nested values and duplicate keys are rejected naming the key.
 * *out's arrays are owned by the caller (wq_named_row_clear). */
wq_status wq_predjson_row_from_object(const json_t *obj, wq_named_row *out, char *err,
                                      size_t errlen);

/* Decodes one item into its zeroed element; err is the detail. */
typedef wq_status (*wq_predjson_item_fn)(json_t *item, void *elem, char *err, size_t errlen);
/* Frees an array of n elements and what they hold. */
typedef void (*wq_predjson_rows_free_fn)(void *rows, size_t n);

/* The shapes, limits and messages of wq_predjson_rows_parse for any row type: text holding one
 * object or a non-empty array (at most WQ_PREDJSON_MAX_ROWS items, WQ_PREDJSON_MAX_BYTES, duplicate
 * keys refused, integers read as reals), each item decoded by fn into a new array of *nrows
 * zeroed elements of size bytes (the caller frees it as free_fn does, which is also called on
 * failure). *is_array tells which shape was given (may be NULL). */
wq_status wq_predjson_rows_decode(const char *text, size_t len, size_t size, wq_predjson_item_fn fn,
                                  wq_predjson_rows_free_fn free_fn, void **rows, size_t *nrows,
                                  int *is_array, char *err, size_t errlen);

/* Parses text holding one object or a non-empty array of objects (at most WQ_PREDJSON_MAX_ROWS;
 * text at most WQ_PREDJSON_MAX_BYTES). *rows is a new array of *nrows rows
 * (wq_named_rows_free). *is_array tells which shape was given (may be NULL). Errors name the
 * array index, the key, or jansson's line and column. */
wq_status wq_predjson_rows_parse(const char *text, size_t len, wq_named_row **rows, size_t *nrows,
                                 int *is_array, char *err, size_t errlen);

/* Frees a row's arrays and zeroes it; accepts NULL. */
void wq_named_row_clear(wq_named_row *row);

/* Frees n rows and the array; accepts NULL. */
void wq_named_rows_free(wq_named_row *rows, size_t n);

/* Builds the reference stack's response object for a prediction: quality, probabilities keyed by
 * the class label (omitted when the model has none), model name and version (version <= 0 gives
 * null: a bundle that is not a registered version). New reference, owned by the caller. */
json_t *wq_predjson_prediction_build(const wq_prediction *p, const char *model, long long version);

#endif
