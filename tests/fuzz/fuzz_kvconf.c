/* The daemons' configuration files (wq_kvconf): parsed, then turned into the "--key=value"
 * arguments the programs read before their command line. */
#include "fuzz_common.h"
#include "base/wq_kvconf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_kvconf c;
	char **argv = NULL;
	int argc = 0;
	char err[256];

	if (wq_kvconf_parse((const char *)data, size, "fuzz.conf", &c, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < c.n; i++)
		if (wq_kvconf_get(&c, c.entries[i].key) != c.entries[i].value)
			abort(); /* keys are unique: the lookup finds this very entry */
	if (wq_kvconf_args(&c, "fuzz", &argv, &argc) == 0) {
		if (argc != (int)c.n + 1 || argv[argc] != NULL)
			abort();
		wq_kvconf_args_free(argv, argc);
	}
	wq_kvconf_clear(&c);
	return 0;
}
