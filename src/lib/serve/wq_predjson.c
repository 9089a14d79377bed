#include "serve/wq_predjson.h"

#include "base/wq_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wq_named_row_clear(wq_named_row *row)
{
	if (row == NULL)
		return;
	for (size_t i = 0; i < row->n; i++)
		free(row->names[i]);
	free(row->names);
	free(row->values);
	memset(row, 0, sizeof(*row));
}

void wq_named_rows_free(wq_named_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		wq_named_row_clear(&rows[i]);
	free(rows);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	default:
		return "a number";
	}
}

wq_status wq_predjson_row_from_object(const json_t *obj, wq_named_row *out, char *err,
                                      size_t errlen)
{
	wq_named_row row = {0};
	const char *key;
	json_t *val;
	size_t n;

	if (obj == NULL || !json_is_object(obj))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "expected a JSON object of feature values, got %s",
		                  obj == NULL ? "nothing" : json_type_name(obj));
	n = json_object_size(obj);
	if (n == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "no features given (empty object)");
	if (n > WQ_PREDJSON_MAX_FEATURES)
		return wq_err_set(err, errlen, WQ_ERANGE, "too many features: %zu (limit %d)", n,
		                  WQ_PREDJSON_MAX_FEATURES);
	row.names = calloc(n, sizeof(*row.names));
	row.values = calloc(n, sizeof(*row.values));
	if (row.names == NULL || row.values == NULL)
		goto nomem;
	json_object_foreach((json_t *)obj, key, val)
	{
		double x;

		if (!json_is_number(val)) {
			wq_err_set(err, errlen, WQ_EPARSE,
			           "feature \"%s\": expected a number, got %s", key,
			           json_type_name(val));
			wq_named_row_clear(&row);
			return WQ_EPARSE;
		}
		x = json_number_value(val);
		if (!isfinite(x)) {
			wq_err_set(err, errlen, WQ_EPARSE, "feature \"%s\": value is not finite",
			           key);
			wq_named_row_clear(&row);
			return WQ_EPARSE;
		}
		row.names[row.n] = strdup(key);
		if (row.names[row.n] == NULL)
			goto nomem;
		row.values[row.n++] = x;
	}
	*out = row;
	return WQ_OK;
nomem:
	wq_named_row_clear(&row);
	return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
}

/* text as one object or a non-empty array of at most WQ_PREDJSON_MAX_ROWS items; *root a new
 * reference, *count its items (1 for a non-array). */
static wq_status rows_load(const char *text, size_t len, json_t **root, size_t *count, char *err,
                           size_t errlen)
{
	json_error_t jerr;
	json_t *r;
	size_t k = 1;

	if (text == NULL || len == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "empty JSON input");
	if (len > WQ_PREDJSON_MAX_BYTES)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "JSON input of %zu bytes exceeds the %d-byte limit", len,
		                  WQ_PREDJSON_MAX_BYTES);
	/* duplicate keys would make "which value wins" ambiguous: refuse them */
	r = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	if (r == NULL)
		return wq_err_set(err, errlen, WQ_EPARSE, "invalid JSON at line %d, column %d: %s",
		                  jerr.line, jerr.column, jerr.text);
	if (json_is_array(r)) {
		wq_status rc = WQ_OK;

		k = json_array_size(r);
		if (k == 0)
			rc = wq_err_set(err, errlen, WQ_EPARSE,
			                "empty JSON array: nothing to predict");
		else if (k > WQ_PREDJSON_MAX_ROWS)
			rc = wq_err_set(err, errlen, WQ_ERANGE,
			                "JSON array of %zu rows exceeds the %d-row limit", k,
			                WQ_PREDJSON_MAX_ROWS);
		if (rc != WQ_OK) {
			json_decref(r);
			return rc;
		}
	}
	*root = r;
	*count = k;
	return WQ_OK;
}

/* fn over each item into its element (the root itself when not an array); an array item's
 * error is prefixed "item I: ". */
static wq_status rows_each(json_t *root, size_t count, wq_predjson_item_fn fn, char *rows,
                           size_t size, char *err, size_t errlen)
{
	char detail[256];
	wq_status rc = WQ_OK;

	if (!json_is_array(root))
		return fn(root, rows, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < count; i++) {
		rc = fn(json_array_get(root, i), rows + i * size, detail, sizeof(detail));
		if (rc != WQ_OK)
			wq_err_set(err, errlen, rc, "item %zu: %s", i, detail);
	}
	return rc;
}

wq_status wq_predjson_rows_decode(const char *text, size_t len, size_t size, wq_predjson_item_fn fn,
                                  wq_predjson_rows_free_fn free_fn, void **rows, size_t *nrows,
                                  int *is_array, char *err, size_t errlen)
{
	json_t *root;
	void *out;
	size_t count;
	wq_status rc = rows_load(text, len, &root, &count, err, errlen);

	if (rc != WQ_OK)
		return rc;
	out = calloc(count, size);
	if (out == NULL)
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	else
		rc = rows_each(root, count, fn, out, size, err, errlen);
	if (rc == WQ_OK && is_array != NULL)
		*is_array = json_is_array(root);
	json_decref(root);
	if (rc != WQ_OK) {
		if (out != NULL)
			free_fn(out, count);
		return rc;
	}
	*rows = out;
	*nrows = count;
	return WQ_OK;
}

static wq_status named_row_item(json_t *item, void *row, char *err, size_t errlen)
{
	return wq_predjson_row_from_object(item, row, err, errlen);
}

static void named_rows_free(void *rows, size_t n)
{
	wq_named_rows_free(rows, n);
}

wq_status wq_predjson_rows_parse(const char *text, size_t len, wq_named_row **rows, size_t *nrows,
                                 int *is_array, char *err, size_t errlen)
{
	void *out;
	wq_status rc = wq_predjson_rows_decode(text, len, sizeof(wq_named_row), named_row_item,
	                                       named_rows_free, &out, nrows, is_array, err, errlen);

	if (rc == WQ_OK)
		*rows = out;
	return rc;
}

json_t *wq_predjson_prediction_build(const wq_prediction *p, const char *model, long long version)
{
	json_t *o = json_object();
	json_t *probs = NULL;

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "quality", json_integer(p->quality)) != 0)
		goto fail;
	if (p->has_probabilities) {
		probs = json_object();
		if (probs == NULL)
			goto fail;
		for (size_t i = 0; i < p->nclass; i++) {
			char key[16];

			snprintf(key, sizeof(key), "%d", p->classes[i]);
			if (json_object_set_new(probs, key, json_real(p->probabilities[i])) != 0)
				goto fail;
		}
		if (json_object_set_new(o, "probabilities", probs) != 0) {
			probs = NULL; /* set_new consumed it even on failure */
			goto fail;
		}
		probs = NULL;
	}
	if (json_object_set_new(o, "model", model != NULL ? json_string(model) : json_null()) != 0)
		goto fail;
	if (json_object_set_new(o, "version", version > 0 ? json_integer(version) : json_null()) !=
	    0)
		goto fail;
	return o;
fail:
	json_decref(probs);
	json_decref(o);
	return NULL;
}
