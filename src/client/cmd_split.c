/* wineq-client split: the train/test split `train` makes, written out as CSV files, so the
 * held-out rows can be replayed against a server (and the monitor) or inspected. */
#include "cli_common.h"

#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_split.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "split"

static void split_usage(FILE *out)
{
	fprintf(out,
	        "Usage: wineq-client split --data FILE --test-out FILE [--train-out FILE]\n"
	        "                          [--test-fraction F] [--seed N] [--stratify] "
	        "[--target NAME]\n\n"
	        "Writes the rows `wineq-client train` holds out (and, optionally, the rows it\n"
	        "trains on) with the same --data, --test-fraction, --seed and --stratify, as\n"
	        "comma-separated CSV with every column of the input. Output files must not\n"
	        "exist.\n"
	        "  --test-fraction F      0 < F < 1 (default 0.2)\n"
	        "  --seed N               default 42\n"
	        "  --stratify             split stratified by the target's classes\n"
	        "  --target NAME          the label column (default quality)\n");
}

wq_exit cmd_split(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
	                                     {"test-out", required_argument, NULL, 't'},
	                                     {"train-out", required_argument, NULL, 'r'},
	                                     {"test-fraction", required_argument, NULL, 'f'},
	                                     {"seed", required_argument, NULL, 's'},
	                                     {"stratify", no_argument, NULL, 'S'},
	                                     {"target", required_argument, NULL, 'T'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *data = NULL, *test_out = NULL, *train_out = NULL, *target = "quality";
	double fraction = 0.2;
	uint64_t seed = 42;
	int stratify = 0, c, rc, ex = WQ_EXIT_OK;
	wq_csv_opts copts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
	wq_dataset *ds = NULL;
	int *labels = NULL;
	wq_split sp = {0};
	char err[1024] = "";

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 't':
			test_out = optarg;
			break;
		case 'r':
			train_out = optarg;
			break;
		case 'T':
			target = optarg;
			break;
		case 'S':
			stratify = 1;
			break;
		case 'f':
			if (wq_cli_parse_double(optarg, &fraction) != WQ_OK || !(fraction > 0) ||
			    !(fraction < 1)) {
				cli_error(CMD, "--test-fraction: expected 0 < F < 1, got '%s'",
				          optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case 's':
			if (wq_cli_parse_u64(optarg, &seed) != WQ_OK) {
				cli_error(CMD, "--seed: expected a non-negative integer, got '%s'",
				          optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case 'h':
			split_usage(stdout);
			return WQ_EXIT_OK;
		case ':':
		default:
			return cli_option_error(CMD, c, argv);
		}
	}
	if (optind < argc || data == NULL || test_out == NULL) {
		cli_error(CMD, "give --data FILE and --test-out FILE (see --help)");
		return WQ_EXIT_USAGE;
	}
	rc = wq_dataset_read_csv(data, &copts, &ds, err, sizeof(err));
	if (rc == WQ_OK && stratify)
		rc = wq_dataset_labels_extract(ds, target, &labels, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_split_make(ds->nrows, labels, fraction, seed, stratify, &sp, err,
		                   sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s: %s", data, err);
		ex = rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
		goto out;
	}
	rc = wq_dataset_write_csv(ds, sp.test, sp.ntest, test_out, err, sizeof(err));
	if (rc == WQ_OK && train_out != NULL)
		rc = wq_dataset_write_csv(ds, sp.train, sp.ntrain, train_out, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "%s", err);
		ex = WQ_EXIT_FAILURE;
		goto out;
	}
	printf("test rows:  %zu -> %s\n", sp.ntest, test_out);
	if (train_out != NULL)
		printf("train rows: %zu -> %s\n", sp.ntrain, train_out);
out:
	wq_split_free(&sp);
	free(labels);
	wq_dataset_free(ds);
	return ex;
}
