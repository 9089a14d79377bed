/* Prediction request bodies, every decoder of wq_predjson: the Python reference stack's JSON
 * shapes (one object of name -> number or an array of them, as HTTP /predict,
 * `wineq-client predict` and the Kinesis bridge read them), MLflow's scoring protocol and CSV
 * (HTTP /invocations), and the writer of answers on what was read. */
#include "fuzz_common.h"
#include "base/wq_buf.h"
#include "serve/wq_predjson.h"

#include <math.h>
#include <stdlib.h>

static const char *const features[] = {"alcohol", "volatile acidity", "sulphates"};

/* The contract of every decoder: 1 to WQ_PREDJSON_MAX_ROWS rows of finite, named values. */
static void rows_check(wq_named_row *rows, size_t n)
{
	if (n == 0 || n > WQ_PREDJSON_MAX_ROWS || rows == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < rows[i].n; j++)
			if (!isfinite(rows[i].values[j]) || rows[i].names[j] == NULL)
				abort();
		wq_named_row_drop_unused(&rows[i], features, 3);
	}
	wq_named_rows_free(rows, n);
}

/* What was read, written back: the text must parse again. */
static void dump_check(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	wq_buf b = WQ_BUF_INIT;

	if (j == NULL)
		return;
	if (wq_predjson_dump(j, &b) == WQ_OK) {
		json_t *again = json_loads(b.data, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

		if (again == NULL)
			abort();
		json_decref(again);
	}
	wq_buf_free(&b);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_named_row *rows = NULL;
	size_t n = 0;
	int is_array = -1;
	char err[256];

	if (wq_predjson_rows_parse((const char *)data, size, &rows, &n, &is_array, err,
	                           sizeof(err)) == WQ_OK) {
		if (is_array != 0 && is_array != 1)
			abort();
		rows_check(rows, n);
	}
	if (wq_predjson_mlflow_parse((const char *)data, size, features, 3, &rows, &n, err,
	                             sizeof(err)) == WQ_OK)
		rows_check(rows, n);
	if (wq_predjson_csv_parse((const char *)data, size, &rows, &n, err, sizeof(err)) == WQ_OK)
		rows_check(rows, n);
	dump_check(data, size);
	return 0;
}
