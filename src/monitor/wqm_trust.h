/* What wineq-monitor believes of a prediction event: which model it may be about and where
 * that model's reference sample may come from. The feed is outside input (anyone who can
 * publish on the feed address can send events), so an event never chooses a file to load:
 * references come only from the registry, as models:/NAME/VERSION of a model name the
 * operator allowed, or from the operator's own --reference. */
#ifndef WQM_TRUST_H
#define WQM_TRUST_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQM_TRUST_MAX_NAMES 64
/* Fits "NAME@VERSION" for any valid model name (wq_name.h). */
#define WQM_TRUST_KEY_MAX 288

typedef struct wqm_trust {
	const char *const *names; /* the model names allowed; n == 0: any valid name */
	size_t n;
	const char *reference; /* the operator's --reference URI, or NULL */
} wqm_trust;

typedef enum wqm_trust_verdict {
	WQM_TRUST_OK = 0,    /* monitor it: key and uri are set */
	WQM_TRUST_NONE,      /* no model to look up: no name and no URI, or a name without a
	                        version (reason "reference") */
	WQM_TRUST_MODEL,     /* a model name not allowed, or not a valid name (reason "model") */
	WQM_TRUST_UNTRUSTED, /* the only reference it offers is a URI or path of its own (no
	                        name, or no version), which is never loaded (reason "untrusted") */
} wqm_trust_verdict;

/* The verdict on an event's ModelRef (name, version and uri may be NULL or empty). On
 * WQM_TRUST_OK, key (what the event's reference is cached by: "NAME@VERSION" or "override")
 * and uri (the registry URI or the operator's reference) are written. */
wqm_trust_verdict wqm_trust_check(const wqm_trust *t, const char *name, int64_t version,
                                  const char *uri, char key[WQM_TRUST_KEY_MAX], char *ref_uri,
                                  size_t ref_len);

/* Splits a comma-separated list of model names into *names (appended, at most
 * WQM_TRUST_MAX_NAMES in all; names and *n are written only on success). Each name must pass
 * wq_name_check. The strings point into list, which must outlive them (it is modified: commas
 * become NULs). WQ_EINVAL with detail for a bad name, WQ_ERANGE for too many. */
wq_status wqm_trust_add_names(char *list, const char **names, size_t *n, char *err, size_t errlen);

#endif
