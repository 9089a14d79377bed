/* Model URIs as users, configuration and feed events give them (wq_model_uri), and the
 * stage names inside them. */
#include "fuzz_common.h"
#include "track/wq_model_uri.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	wq_model_uri u;
	int stage;
	char err[512];

	if (wq_model_uri_parse(s, &u, err, sizeof(err)) == 0)
		wq_model_uri_clear(&u);
	if (wq_stage_parse(s, &stage, err, sizeof(err)) == 0 && wq_stage_name(stage) == NULL)
		abort();
	free(s);
	return 0;
}
