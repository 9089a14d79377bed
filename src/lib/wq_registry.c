#include "wq_registry.h"

#include "wq_error.h"

#include <stdlib.h>
#include <string.h>

int wq_registry_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen)
{
	int kind;

	if (cfg == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_registry_open: invalid arguments");
	if (cfg->tracking_kind == WQ_TRACKING_SQLITE)
		return wq_registry_local_open(cfg, out, err, errlen);
	if (cfg->tracking_kind == WQ_TRACKING_REMOTE)
		return wq_registry_remote_open(cfg, out, err, errlen);
	kind = cfg->tracking_kind;
	wq_config_clear(cfg); /* ownership is taken whatever the outcome */
	return wq_err_set(err, errlen, WQ_EINVAL, "unknown tracking kind %d", kind);
}

void wq_registry_close(wq_registry *r)
{
	if (r == NULL)
		return;
	r->ops->close(r);
}
