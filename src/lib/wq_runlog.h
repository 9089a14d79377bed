/* wq_runlog: records a trained bundle as a tracking run: its hyper-parameters and data lineage
 * as params, its test metrics, the bundle as the run's "model" artifact. */
#ifndef WQ_RUNLOG_H
#define WQ_RUNLOG_H

#include "wq_bundle.h"
#include "wq_registry.h"

#include <stddef.h>

/* Starts a run in experiment, logs b (saved at bundle_dir) and ends the run FINISHED; on any
 * failure after the start the run is ended FAILED and the first error is returned. id gets
 * the run id (also on failure once the run exists, else ""). */
int wq_runlog_bundle(wq_registry *r, const char *experiment, const char *run_name,
                     const wq_bundle *b, const char *bundle_dir, char id[WQ_RUN_ID_LEN + 1],
                     char *err, size_t errlen);

#endif
