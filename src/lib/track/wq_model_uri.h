/* wq_model_uri: the model URIs users type, parsed (resolution is the registry's job):
 *   models:/NAME/VERSION     models:/NAME/STAGE (None|Staging|Production|Archived, any case)
 *   models:/NAME@ALIAS       models:/NAME/latest
 *   runs:/RUN_ID/PATH        (RUN_ID: 32 lower-case hex digits; PATH relative, e.g. model)
 *   file:///abs/path, s3://bucket/key, or a plain local path (a bundle directory) */
#ifndef WQ_MODEL_URI_H
#define WQ_MODEL_URI_H

#include "base/wq_error.h"
#include <stddef.h>
#include <stdint.h>

/* Model-version stages (MLflow's). */
enum wq_stage { WQ_STAGE_NONE = 0, WQ_STAGE_STAGING, WQ_STAGE_PRODUCTION, WQ_STAGE_ARCHIVED };
#define WQ_STAGE_COUNT 4

/* "None", "Staging", "Production", "Archived"; NULL for an invalid value. */
const char *wq_stage_name(int stage);

/* Case-insensitive; WQ_EINVAL with the valid stages listed in err. */
wq_status wq_stage_parse(const char *name, int *out, char *err, size_t errlen);

enum wq_model_uri_kind {
	WQ_MODEL_URI_VERSION = 0, /* models:/NAME/3 */
	WQ_MODEL_URI_STAGE,       /* models:/NAME/Production */
	WQ_MODEL_URI_ALIAS,       /* models:/NAME@champion */
	WQ_MODEL_URI_LATEST,      /* models:/NAME/latest */
	WQ_MODEL_URI_RUN,         /* runs:/ID/PATH */
	WQ_MODEL_URI_ARTIFACT,    /* file:// or s3:// */
	WQ_MODEL_URI_PATH         /* plain local path */
};

typedef struct wq_model_uri {
	int kind;
	char *name;      /* model name (models:) or NULL; owned */
	int64_t version; /* VERSION */
	int stage;       /* STAGE: enum wq_stage */
	char *alias;     /* ALIAS; owned */
	char *run_id;    /* RUN; owned */
	char *path;      /* RUN: artifact path; ARTIFACT: the URI; PATH: the path; owned */
} wq_model_uri;

/* Parses uri; names and aliases are checked with wq_name_check. WQ_EINVAL with a message
 * that shows the accepted forms. *out owned by the caller (wq_model_uri_clear). */
wq_status wq_model_uri_parse(const char *uri, wq_model_uri *out, char *err, size_t errlen);

/* Frees and zeroes; accepts NULL. */
void wq_model_uri_clear(wq_model_uri *u);

#endif
