#include "serve/wq_predjson.h"

#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "ml/wq_dataset.h"

#include <math.h>
#include <stdbool.h>
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

/* text (1 to WQ_PREDJSON_MAX_BYTES bytes; none: WQ_EPARSE with empty_msg) as JSON into *doc
 * (a new reference). Duplicate keys would make "which value wins" ambiguous: they are refused.
 * Integers are read as reals. */
static wq_status json_load_checked(const char *text, size_t len, const char *empty_msg,
                                   json_t **doc, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *r;

	if (text == NULL || len == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "%s", empty_msg);
	if (len > WQ_PREDJSON_MAX_BYTES)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "JSON input of %zu bytes exceeds the %d-byte limit", len,
		                  WQ_PREDJSON_MAX_BYTES);
	r = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	if (r == NULL)
		return wq_err_set(err, errlen, WQ_EPARSE, "invalid JSON at line %d, column %d: %s",
		                  jerr.line, jerr.column, jerr.text);
	*doc = r;
	return WQ_OK;
}

/* text as one object or a non-empty array of at most WQ_PREDJSON_MAX_ROWS items; *root a new
 * reference, *count its items (1 for a non-array). */
static wq_status rows_load(const char *text, size_t len, json_t **root, size_t *count, char *err,
                           size_t errlen)
{
	json_t *r;
	size_t k = 1;
	wq_status rc = json_load_checked(text, len, "empty JSON input", &r, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (json_is_array(r)) {
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
			wq_err_set(err, errlen, rc, "item %zu: %s", i + 1, detail);
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

/* ---------------------------------------------------------------------------------------
 * Unused UCI columns */

static bool name_in(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static bool is_uci_column(const char *name)
{
	for (size_t i = 0; wq_uci_columns[i] != NULL; i++)
		if (strcmp(name, wq_uci_columns[i]) == 0)
			return true;
	return false;
}

void wq_named_row_drop_unused(wq_named_row *row, const char *const *features, size_t nfeatures)
{
	size_t k = 0;

	for (size_t i = 0; i < row->n; i++) {
		if (is_uci_column(row->names[i]) && !name_in(row->names[i], features, nfeatures)) {
			free(row->names[i]);
			continue;
		}
		row->names[k] = row->names[i];
		row->values[k++] = row->values[i];
	}
	row->n = k;
}

/* ---------------------------------------------------------------------------------------
 * MLflow's scoring protocol */

static const char *const mlflow_keys[] = {"dataframe_split", "dataframe_records", "instances",
                                          "inputs"};
#define NKEYS     (sizeof(mlflow_keys) / sizeof(mlflow_keys[0]))
#define KEYS_TEXT "\"dataframe_split\", \"dataframe_records\", \"instances\" or \"inputs\""

const char *wq_predjson_mlflow_key(const json_t *obj)
{
	if (!json_is_object(obj))
		return NULL;
	for (size_t i = 0; i < NKEYS; i++)
		if (json_object_get(obj, mlflow_keys[i]) != NULL)
			return mlflow_keys[i];
	return NULL;
}

/* A new zeroed array of n rows, each with room for ncols names and values. */
static wq_status rows_alloc(size_t n, size_t ncols, wq_named_row **out, char *err, size_t errlen)
{
	wq_named_row *rows = calloc(n, sizeof(*rows));

	for (size_t i = 0; rows != NULL && i < n; i++) {
		rows[i].names = calloc(ncols, sizeof(char *));
		rows[i].values = calloc(ncols, sizeof(double));
		if (rows[i].names == NULL || rows[i].values == NULL) {
			wq_named_rows_free(rows, i + 1);
			rows = NULL;
		}
	}
	if (rows == NULL)
		return wq_nomem(err, errlen);
	*out = rows;
	return WQ_OK;
}

/* Appends name = v to row (room made by rows_alloc). */
static wq_status row_put(wq_named_row *row, const char *name, double v, char *err, size_t errlen)
{
	row->names[row->n] = strdup(name);
	if (row->names[row->n] == NULL)
		return wq_nomem(err, errlen);
	row->values[row->n++] = v;
	return WQ_OK;
}

/* A cell: a finite JSON number (integers are read as reals). */
static wq_status cell_value(const json_t *v, size_t row, const char *col, double *out, char *err,
                            size_t errlen)
{
	if (!json_is_number(v))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "row %zu, column \"%s\": expected a number, got %s", row, col,
		                  json_type_name(v));
	*out = json_number_value(v);
	if (!isfinite(*out))
		return wq_err_set(err, errlen, WQ_EINVAL, "row %zu, column \"%s\": not finite", row,
		                  col);
	return WQ_OK;
}

/* Hands rows over on success (rc WQ_OK), frees them otherwise; returns rc. */
static wq_status rows_done(wq_status rc, wq_named_row *rows, size_t n, wq_named_row **out,
                           size_t *nrows)
{
	if (rc != WQ_OK) {
		wq_named_rows_free(rows, n);
		return rc;
	}
	*out = rows;
	*nrows = n;
	return WQ_OK;
}

/* Row count n of a list named what: 1 to WQ_PREDJSON_MAX_ROWS. */
static wq_status count_check(size_t n, const char *what, char *err, size_t errlen)
{
	if (n == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "%s holds no rows: nothing to predict",
		                  what);
	if (n > WQ_PREDJSON_MAX_ROWS)
		return wq_err_set(err, errlen, WQ_ERANGE, "%s holds %zu rows (limit %d)", what, n,
		                  WQ_PREDJSON_MAX_ROWS);
	return WQ_OK;
}

/* Column names: 1 to WQ_PREDJSON_MAX_FEATURES distinct strings. */
static wq_status columns_check(const json_t *cols, char *err, size_t errlen)
{
	size_t n = json_array_size(cols);

	if (!json_is_array(cols) || n == 0)
		return wq_err_set(
		    err, errlen, WQ_EPARSE,
		    "\"dataframe_split\" needs \"columns\", a non-empty list of names");
	if (n > WQ_PREDJSON_MAX_FEATURES)
		return wq_err_set(err, errlen, WQ_ERANGE, "too many columns: %zu (limit %d)", n,
		                  WQ_PREDJSON_MAX_FEATURES);
	for (size_t i = 0; i < n; i++) {
		const json_t *c = json_array_get(cols, i);

		if (!json_is_string(c))
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "\"columns\" item %zu: expected a name, got %s", i + 1,
			                  json_type_name(c));
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_string_value(c),
			           json_string_value(json_array_get(cols, j))) == 0)
				return wq_err_set(err, errlen, WQ_EINVAL, "duplicate column \"%s\"",
				                  json_string_value(c));
	}
	return WQ_OK;
}

/* The shape of a "dataframe_split" value: keys, columns, data rows as long as columns, and an
 * index as long as data. */
static wq_status split_check(const json_t *v, char *err, size_t errlen)
{
	const json_t *cols = json_object_get(v, "columns"), *data = json_object_get(v, "data");
	const json_t *index = json_object_get(v, "index"), *item;
	const char *key;
	wq_status rc;

	if (!json_is_object(v))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "\"dataframe_split\" must be an object {\"columns\": [...], "
		                  "\"data\": [[...], ...]}, got %s",
		                  json_type_name(v));
	json_object_foreach((json_t *)v, key, item)
	{
		if (strcmp(key, "columns") != 0 && strcmp(key, "data") != 0 &&
		    strcmp(key, "index") != 0)
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "unknown key \"%.64s\" in \"dataframe_split\" (its keys: "
			                  "columns, data, index)",
			                  key);
	}
	rc = columns_check(cols, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (!json_is_array(data))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "\"dataframe_split\" needs \"data\", a list of rows");
	rc = count_check(json_array_size(data), "\"data\"", err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (index != NULL && json_array_size(index) != json_array_size(data))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "\"index\" must be a list as long as \"data\" (%zu)",
		                  json_array_size(data));
	for (size_t i = 0; i < json_array_size(data); i++) {
		item = json_array_get(data, i);
		if (!json_is_array(item) || json_array_size(item) != json_array_size(cols))
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "\"data\" row %zu must be a list of %zu values, one per "
			                  "column",
			                  i, json_array_size(cols));
	}
	return WQ_OK;
}

static wq_status split_parse(const json_t *v, wq_named_row **out, size_t *nrows, char *err,
                             size_t errlen)
{
	const json_t *cols = json_object_get(v, "columns"), *data = json_object_get(v, "data");
	size_t n, ncols;
	wq_named_row *rows = NULL;
	wq_status rc = split_check(v, err, errlen);

	if (rc != WQ_OK)
		return rc;
	n = json_array_size(data);
	ncols = json_array_size(cols);
	rc = rows_alloc(n, ncols, &rows, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		for (size_t j = 0; rc == WQ_OK && j < ncols; j++) {
			const char *name = json_string_value(json_array_get(cols, j));
			double x = 0;

			rc = cell_value(json_array_get(json_array_get(data, i), j), i, name, &x,
			                err, errlen);
			if (rc == WQ_OK)
				rc = row_put(&rows[i], name, x, err, errlen);
		}
	}
	return rows_done(rc, rows, n, out, nrows);
}

/* A list of records: objects of name -> number. */
static wq_status records_parse(const json_t *v, const char *what, wq_named_row **out, size_t *nrows,
                               char *err, size_t errlen)
{
	size_t n = json_array_size(v);
	wq_named_row *rows = NULL;
	wq_status rc;

	if (!json_is_array(v))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "%s must be a list of records ({\"column\": value, ...}), got %s",
		                  what, json_type_name(v));
	rc = count_check(n, what, err, errlen);
	if (rc == WQ_OK) {
		rows = calloc(n, sizeof(*rows));
		if (rows == NULL)
			rc = wq_nomem(err, errlen);
	}
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		const json_t *item = json_array_get(v, i);
		char detail[256];

		if (!json_is_object(item))
			return rows_done(wq_err_set(err, errlen, WQ_EPARSE,
			                            "%s item %zu: expected a record (an object), "
			                            "got %s",
			                            what, i + 1, json_type_name(item)),
			                 rows, n, out, nrows);
		rc = wq_predjson_row_from_object(item, &rows[i], detail, sizeof(detail));
		/* the record's shape is right: what it holds is a wrong value */
		if (rc == WQ_EPARSE)
			rc = WQ_EINVAL;
		if (rc != WQ_OK)
			wq_err_set(err, errlen, rc, "%s item %zu: %s", what, i + 1, detail);
	}
	return rows_done(rc, rows, n, out, nrows);
}

/* A list of rows: arrays of nfeatures values, in the order of features. */
static wq_status tensor_parse(const json_t *v, const char *what, const char *const *features,
                              size_t nfeatures, wq_named_row **out, size_t *nrows, char *err,
                              size_t errlen)
{
	size_t n = json_array_size(v);
	wq_named_row *rows = NULL;
	wq_status rc = count_check(n, what, err, errlen);

	if (rc == WQ_OK && (features == NULL || nfeatures == 0))
		rc = wq_err_set(err, errlen, WQ_EPARSE,
		                "%s rows without column names need a model's features", what);
	if (rc == WQ_OK)
		rc = rows_alloc(n, nfeatures, &rows, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		const json_t *row = json_array_get(v, i);

		if (json_array_size(row) != nfeatures) {
			rc = wq_err_set(err, errlen, WQ_EPARSE,
			                "%s item %zu has %zu values; a row without names holds the "
			                "model's %zu features in its order (GET /v1/models)",
			                what, i + 1, json_array_size(row), nfeatures);
			break;
		}
		for (size_t j = 0; rc == WQ_OK && j < nfeatures; j++) {
			double x = 0;

			rc = cell_value(json_array_get(row, j), i, features[j], &x, err, errlen);
			if (rc == WQ_OK)
				rc = row_put(&rows[i], features[j], x, err, errlen);
		}
	}
	return rows_done(rc, rows, n, out, nrows);
}

/* {"column": [values], ...}: every list as long as the first. */
static wq_status columns_parse(const json_t *v, wq_named_row **out, size_t *nrows, char *err,
                               size_t errlen)
{
	size_t ncols = json_object_size(v), n = 0;
	wq_named_row *rows = NULL;
	const char *key;
	json_t *col;
	bool first = true;
	wq_status rc = WQ_OK;

	if (ncols == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "\"inputs\" holds no columns");
	if (ncols > WQ_PREDJSON_MAX_FEATURES)
		return wq_err_set(err, errlen, WQ_ERANGE, "too many columns: %zu (limit %d)", ncols,
		                  WQ_PREDJSON_MAX_FEATURES);
	json_object_foreach((json_t *)v, key, col)
	{
		if (!json_is_array(col))
			return wq_err_set(
			    err, errlen, WQ_EPARSE,
			    "\"inputs\" column \"%s\": expected a list of values, got %s", key,
			    json_type_name(col));
		if (first)
			n = json_array_size(col);
		first = false;
		if (json_array_size(col) != n)
			return wq_err_set(
			    err, errlen, WQ_EPARSE,
			    "\"inputs\" column \"%s\" has %zu values, the first has %zu", key,
			    json_array_size(col), n);
	}
	rc = count_check(n, "\"inputs\"", err, errlen);
	if (rc == WQ_OK)
		rc = rows_alloc(n, ncols, &rows, err, errlen);
	json_object_foreach((json_t *)v, key, col)
	{
		for (size_t i = 0; rc == WQ_OK && i < n; i++) {
			double x = 0;

			rc = cell_value(json_array_get(col, i), i, key, &x, err, errlen);
			if (rc == WQ_OK)
				rc = row_put(&rows[i], key, x, err, errlen);
		}
	}
	return rows_done(rc, rows, n, out, nrows);
}

/* "instances" or "inputs": a list of records or of rows ("inputs" also a dict of columns). */
static wq_status tf_parse(const json_t *v, const char *key, const char *const *features,
                          size_t nfeatures, wq_named_row **out, size_t *nrows, char *err,
                          size_t errlen)
{
	char what[32];
	size_t nobj = 0, narr = 0, n = json_array_size(v);

	snprintf(what, sizeof(what), "\"%s\"", key);
	if (json_is_object(v) && strcmp(key, "inputs") == 0)
		return columns_parse(v, out, nrows, err, errlen);
	if (!json_is_array(v))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "%s must be a list of records or of rows%s, got %s", what,
		                  strcmp(key, "inputs") == 0 ? ", or an object of columns" : "",
		                  json_type_name(v));
	for (size_t i = 0; i < n; i++) {
		nobj += json_is_object(json_array_get(v, i));
		narr += json_is_array(json_array_get(v, i));
	}
	if (nobj == n)
		return records_parse(v, what, out, nrows, err, errlen);
	if (narr == n)
		return tensor_parse(v, what, features, nfeatures, out, nrows, err, errlen);
	return wq_err_set(err, errlen, WQ_EPARSE,
	                  "%s must hold records (objects) only or rows (lists) only", what);
}

/* The request object's one format key (*key, *value); "params" is allowed beside it. */
static wq_status format_key(const json_t *doc, const char **key, const json_t **value, char *err,
                            size_t errlen)
{
	const char *k, *found = NULL;
	json_t *v;
	size_t count = 0;

	if (!json_is_object(doc))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "the input must be a JSON object with exactly one of " KEYS_TEXT
		                  "; got %s",
		                  json_type_name(doc));
	json_object_foreach((json_t *)doc, k, v)
	{
		size_t i = 0;

		while (i < NKEYS && strcmp(k, mlflow_keys[i]) != 0)
			i++;
		if (i < NKEYS) {
			count++;
			found = found != NULL ? found : mlflow_keys[i];
		} else if (strcmp(k, "params") != 0) {
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "unknown key \"%.64s\": the input must be a JSON object "
			                  "with exactly one of " KEYS_TEXT " (and optionally "
			                  "\"params\")",
			                  k);
		}
	}
	if (count != 1)
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "the input must be a JSON object with exactly one of " KEYS_TEXT
		                  "; got %zu of them",
		                  count);
	*key = found;
	*value = json_object_get(doc, found);
	return WQ_OK;
}

wq_status wq_predjson_mlflow_parse(const char *text, size_t len, const char *const *features,
                                   size_t nfeatures, wq_named_row **rows, size_t *nrows, char *err,
                                   size_t errlen)
{
	json_t *doc;
	const json_t *v = NULL;
	const char *key = NULL;
	wq_status rc;

	rc = json_load_checked(text, len,
	                       "empty body: the input must be a JSON object with exactly one "
	                       "of " KEYS_TEXT,
	                       &doc, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = format_key(doc, &key, &v, err, errlen);
	if (rc == WQ_OK && strcmp(key, "dataframe_split") == 0)
		rc = split_parse(v, rows, nrows, err, errlen);
	else if (rc == WQ_OK && strcmp(key, "dataframe_records") == 0)
		rc = records_parse(v, "\"dataframe_records\"", rows, nrows, err, errlen);
	else if (rc == WQ_OK)
		rc = tf_parse(v, key, features, nfeatures, rows, nrows, err, errlen);
	json_decref(doc);
	return rc;
}

wq_status wq_predjson_csv_parse(const char *text, size_t len, wq_named_row **rows, size_t *nrows,
                                char *err, size_t errlen)
{
	wq_csv_opts opts = {.max_bytes = WQ_PREDJSON_MAX_BYTES};
	wq_dataset *ds = NULL;
	wq_named_row *out = NULL;
	size_t n = 0;
	wq_status rc;

	if (text == NULL || len == 0)
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "empty body: expected a CSV with a header line");
	rc = wq_dataset_parse_csv("body", text, len, &opts, &ds, err, errlen);
	if (rc != WQ_OK)
		return rc == WQ_ENOMEM ? rc : WQ_EPARSE;
	n = ds->nrows;
	rc = count_check(n, "the CSV", err, errlen);
	if (rc == WQ_OK && ds->ncols > WQ_PREDJSON_MAX_FEATURES)
		rc = wq_err_set(err, errlen, WQ_ERANGE, "too many columns: %zu (limit %d)",
		                ds->ncols, WQ_PREDJSON_MAX_FEATURES);
	if (rc == WQ_OK)
		rc = rows_alloc(n, ds->ncols, &out, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		for (size_t j = 0; rc == WQ_OK && j < ds->ncols; j++)
			rc = row_put(&out[i], ds->names[j], ds->values[i * ds->ncols + j], err,
			             errlen);
	wq_dataset_free(ds);
	return rows_done(rc, out, n, rows, nrows);
}

/* ---------------------------------------------------------------------------------------
 * Writing JSON */

wq_status wq_predjson_dump(const json_t *j, wq_buf *b)
{
	return wq_jsonout_dump(j, 0, 0, b);
}
