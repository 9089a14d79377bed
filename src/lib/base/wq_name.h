/* wq_name: validation of user-chosen names (experiments, models, aliases, params, metrics,
 * tags, artifact paths). Names end up in artifact keys and paths, so anything that could
 * escape the artifact store or confuse a terminal is refused. */
#ifndef WQ_NAME_H
#define WQ_NAME_H

#include "base/wq_error.h"

#include <stddef.h>

#define WQ_NAME_MAX 255 /* bytes */

/* Checks a single-segment name: 1..WQ_NAME_MAX bytes, valid UTF-8, no '/', no '\\', not "."
 * or "..", no ".." anywhere, no control characters (< 0x20, 0x7f), no leading or trailing
 * blank. kind ("model name", "alias", ...) is used in the message. WQ_OK or WQ_EINVAL. */
wq_status wq_name_check(const char *kind, const char *name, char *err, size_t errlen);

/* Checks a relative artifact path: segments separated by single '/', each segment passing
 * wq_name_check rules; no leading '/', no empty segment; at most 1024 bytes in all. */
wq_status wq_name_check_path(const char *kind, const char *path, char *err, size_t errlen);

#endif
