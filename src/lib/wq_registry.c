#include "wq_registry.h"

#include "wq_error.h"

#include <stdlib.h>
#include <string.h>

int wq_registry_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen)
{
	if (cfg == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_registry_open: invalid arguments");
	if (cfg->tracking_kind == WQ_TRACKING_SQLITE)
		return wq_registry_local_open(cfg, out, err, errlen);
	return wq_err_set(
	    err, errlen, WQ_EUNSUPPORTED,
	    "tracking URI %s names a remote wineqd: this build has no remote registry "
	    "yet (use sqlite:///path/registry.db)",
	    cfg->tracking_uri);
}

void wq_registry_close(wq_registry *r)
{
	if (r == NULL)
		return;
	r->ops->close(r);
}
