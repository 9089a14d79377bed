/* Prediction request bodies in the Python reference stack's JSON shapes (wq_predjson): one
 * object of name -> number or an array of them, as HTTP /predict, `wineq-client predict`
 * and the Kinesis bridge read them. */
#include "fuzz_common.h"
#include "serve/wq_predjson.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_named_row *rows = NULL;
	size_t n = 0;
	int is_array = -1;
	char err[256];

	if (wq_predjson_rows_parse((const char *)data, size, &rows, &n, &is_array, err,
	                           sizeof(err)) != 0)
		return 0;
	if (n == 0 || rows == NULL || (is_array != 0 && is_array != 1))
		abort();
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < rows[i].n; j++)
			if (!isfinite(rows[i].values[j]) || rows[i].names[j] == NULL)
				abort(); /* the contract: finite numbers, named */
	wq_named_rows_free(rows, n);
	return 0;
}
