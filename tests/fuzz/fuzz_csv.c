/* CSV tables (wq_dataset): training data, reference samples, uploads. The first byte picks
 * the options (detected delimiter and any names, or the UCI columns with ';'); on success the
 * extractors the trainer uses run over the table. */
#include "fuzz_common.h"
#include "ml/wq_dataset.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_csv_opts opts = {0};
	wq_dataset *ds = NULL;
	char err[256];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		opts.delimiter = ';';
		opts.allowed = wq_uci_columns;
	}
	if (data[0] & 2)
		opts.max_bytes = 4096;
	if (wq_dataset_parse_csv("fuzz.csv", (const char *)data + 1, size - 1, &opts, &ds, err,
	                         sizeof(err)) == 0) {
		const char *names[2] = {ds->names[0], ds->names[ds->ncols - 1]};
		double *m = NULL;
		int *labels = NULL;

		if (wq_dataset_matrix_extract(ds, names, 2, &m, err, sizeof(err)) == 0)
			free(m);
		if (wq_dataset_labels_extract(ds, names[1], &labels, err, sizeof(err)) == 0)
			free(labels);
		wq_dataset_free(ds);
	}
	return 0;
}
