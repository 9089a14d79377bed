#include "base/wq_strv.h"

#include <stdlib.h>
#include <string.h>

void wq_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

wq_status wq_strv_dup(const char *const *v, size_t n, char ***out)
{
	char **c;

	if (n == 0) {
		*out = NULL;
		return WQ_OK;
	}
	c = calloc(n, sizeof(*c));
	if (c == NULL)
		return WQ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (v[i] != NULL && (c[i] = strdup(v[i])) == NULL) {
			wq_strv_free(c, i);
			return WQ_ENOMEM;
		}
	}
	*out = c;
	return WQ_OK;
}
