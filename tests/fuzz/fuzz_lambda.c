/* Lambda Runtime API answers (wq_lambda): each input is the raw HTTP response (status line,
 * headers, body) a loopback peer sends; the first byte picks the call: `next` (the
 * invocation's headers and event), or the response, error and init-error posts (their
 * answers and the API's error JSON). */
#include "fuzz_common.h"
#include "aws/wq_lambda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wq_lambda *lam;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char api[64], err[256];

	(void)argc;
	(void)argv;
	snprintf(api, sizeof(api), "127.0.0.1:%d", fz_http_start());
	if (wq_lambda_open(api, &lam, err, sizeof(err)) != 0 ||
	    wq_lambda_set_timeouts(lam, 2000, 3000, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_lambda: %s\n", err);
		abort();
	}
	fz_nosleep_this_thread();
	return 0;
}

/* libcurl 7.88.1 (Debian 12) reads freed memory when a handle that stored a previous
 * answer's headers gets a header section starting with a folded line (tests/fuzz/pending/
 * lambda): such answers are skipped until the fix (curl 8.1) is in the distribution. */
static int folded_first_header(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (d[i] == '\n')
			return d[i + 1] == ' ' || d[i + 1] == '\t';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_lambda_invocation inv;
	char err[512];
	int rc;

	if (size < 1 || folded_first_header(data + 1, size - 1))
		return 0;
	fz_http_set_answer(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		memset(&inv, 0, sizeof(inv));
		rc = wq_lambda_next(lam, &inv, err, sizeof(err));
		if (rc == 0 && (inv.request_id[0] == '\0' || inv.deadline_ms <= 0 ||
		                (inv.body == NULL && inv.len > 0)))
			abort();
		wq_lambda_invocation_clear(&inv);
		break;
	case 1:
		wq_lambda_respond(lam, "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "{}", 2, err,
		                  sizeof(err));
		break;
	case 2:
		wq_lambda_fail(lam, "8476a536", "Function.Fuzz", "bad \xff input", err,
		               sizeof(err));
		break;
	default:
		wq_lambda_init_fail(lam, NULL, NULL, err, sizeof(err));
		break;
	}
	return 0;
}
