/* Record data as Kinesis and Lambda carry it (wq_base64): strict decoding, and what decodes
 * must encode back to the same text. */
#include "fuzz_common.h"
#include "base/wq_base64.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t n = 0;

	if (wq_base64_decode((const char *)data, size, &out, &n) == 0) {
		char *back = malloc(wq_base64_encoded_len(n) + 1);

		if (back == NULL)
			abort();
		wq_base64_encode(out, n, back);
		if (strlen(back) != size || memcmp(back, data, size) != 0)
			abort();
		free(back);
		free(out);
	}
	return 0;
}
