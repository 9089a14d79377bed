/* S3 answers (wq_s3, through its public calls: the XML listing and error parsers are static):
 * each input is the raw HTTP response (status line, headers, body) a loopback peer sends to
 * every request of one call; the first byte picks the call (ListObjectsV2 with continuation,
 * GetObject with and without an expected size, DeleteObject, PutObject, CreateBucket). */
#include "fuzz_common.h"
#include "aws/wq_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static wq_s3 *s3;
static char obj[300], src[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	wq_s3_config cfg = {0};
	char endpoint[64], err[256];
	static const uint8_t body[] = "model";

	(void)argc;
	(void)argv;
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", fz_http_start());
	cfg.region = "us-east-1";
	cfg.endpoint_url = endpoint;
	cfg.access_key = "S3RVER";
	cfg.secret_key = "S3RVER";
	cfg.timeout_ms = 3000;
	if (wq_s3_open(&cfg, &s3, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_s3: %s\n", err);
		abort();
	}
	snprintf(obj, sizeof(obj), "%s/object", fz_tmpdir());
	snprintf(src, sizeof(src), "%s/upload", fz_tmpdir());
	if (fz_write_file(src, body, 5) != 0)
		abort();
	fz_nosleep_this_thread();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* SHA-256 of "model" */
	static const char sum[WQ_SHA256_HEXLEN] =
	    "9372c470eeadd5ecd9c3c74c2b3cb633f8e2f2fad799250a0f70d652b6b825e4";
	char **keys = NULL;
	size_t n = 0;
	char err[512];

	if (size < 1)
		return 0;
	fz_http_set_answer(data + 1, size - 1);
	switch (data[0] % 6) {
	case 0:
		if (wq_s3_list(s3, "bucket", "models/", &keys, &n, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < n; i++)
				free(keys[i]);
			free(keys);
		}
		break;
	case 1:
		wq_s3_get_file(s3, "bucket", "models/m", obj, NULL, err, sizeof(err));
		break;
	case 2:
		wq_s3_get_file_sized(s3, "bucket", "models/m", obj, sum, 5, err, sizeof(err));
		break;
	case 3:
		wq_s3_delete(s3, "bucket", "models/m", err, sizeof(err));
		break;
	case 4:
		wq_s3_put_file(s3, "bucket", "models/m", src, sum, err, sizeof(err));
		break;
	default:
		wq_s3_bucket_create(s3, "bucket", err, sizeof(err));
		break;
	}
	unlink(obj);
	return 0;
}
