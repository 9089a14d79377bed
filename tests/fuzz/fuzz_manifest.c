/* Bundle manifests (wq_bundle_load): MANIFEST.json written into a bundle directory whose other
 * files are a real tiny bundle's (tests/fuzz/fixtures/bundle), so inputs that keep the reference
 * stack's checksums get past verification into the model, reference and decision checks. A bundle
 * that loads predicts one row. */
#include "fuzz_common.h"
#include "ml/wq_bundle.h"
#include "base/wq_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifndef WQ_FUZZ_SRCDIR
#define WQ_FUZZ_SRCDIR "."
#endif

static char dir[300];

static void copy_fixture(const char *name)
{
	char from[600], to[600];
	FILE *in, *out;
	char buf[4096];
	size_t n;

	snprintf(from, sizeof(from), "%s/tests/fuzz/fixtures/bundle/%s", WQ_FUZZ_SRCDIR, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	in = fopen(from, "rb");
	out = fopen(to, "wb");
	if (in == NULL || out == NULL) {
		fprintf(stderr, "fuzz_manifest: cannot copy %s\n", from);
		abort();
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			abort();
	fclose(in);
	if (fclose(out) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/bundle", fz_tmpdir());
	if (mkdir(dir, 0700) != 0)
		abort();
	copy_fixture("model.svm");
	copy_fixture("reference.csv");
	copy_fixture("reference_predictions.csv");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[400];
	wq_bundle *b = NULL;
	char err[512];

	snprintf(path, sizeof(path), "%s/MANIFEST.json", dir);
	if (fz_write_file(path, data, size) != 0)
		abort();
	if (wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &b, err, sizeof(err)) == 0) {
		double raw[64] = {10.5, 0.3, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
		wq_prediction p;

		if (b->nfeatures <= 64)
			wq_bundle_predict(b, raw, &p, err, sizeof(err));
		wq_bundle_free(b);
	}
	return 0;
}
