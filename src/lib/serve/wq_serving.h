/* wq_serving: the model a server answers with, and its atomic replacement.
 *
 * A served model is an immutable, reference-counted bundle plus where it came from. The
 * current model is swapped with wq_serving_swap(); a request holds a reference for as long
 * as it uses the model, so a swap never frees a model in use and never shows half of one.
 *
 * Hot path: worker threads keep their own reference in a slot and call wq_serving_cached(),
 * which costs one atomic load of the generation counter unless the model changed (then it
 * takes the mutex once to exchange references). Threads that serve rarely use
 * wq_serving_get()/wq_served_model_put(). */
#ifndef WQ_SERVING_H
#define WQ_SERVING_H

#include "base/wq_error.h"
#include "ml/wq_bundle.h"
#include "base/wq_sha256.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_served_model {
	wq_bundle *bundle; /* owned; loaded with its reference sample */
	char *name;        /* registered name or the bundle's name hint; owned */
	int64_t version;   /* 0: a plain bundle, not a registered version */
	char *stage;       /* "None", "Staging", "Production", "Archived" or ""; owned */
	char *uri;         /* the URI it was resolved from; owned */
	char *run_id;      /* source run or ""; owned */
	char sha256[WQ_SHA256_HEXLEN]; /* of the bundle's MANIFEST.json, which covers every file:
	                                  the model's identity, as the registry records it */
	char version_str[24];          /* version as text ("3"), "" when 0: for labels/JSON */
	uint64_t generation;           /* 1, 2, ... in installation order */
	int refs;                      /* private: atomic reference count */
} wq_served_model;

typedef struct wq_serving wq_serving;

/* *out owned by the caller (wq_serving_free). */
wq_status wq_serving_new(wq_serving **out);
/* Drops the current model; accepts NULL. Every reference must have been put back. */
void wq_serving_free(wq_serving *s);

/* Makes a served model from a bundle loaded from bundle_dir (takes ownership of b, also on
 * failure) and its registry identity (name may be NULL: the bundle's hint; stage/uri/run_id
 * may be NULL). *out holds one reference owned by the caller. */
wq_status wq_served_model_new(wq_bundle *b, const char *bundle_dir, const char *name,
                              int64_t version, const char *stage, const char *uri,
                              const char *run_id, wq_served_model **out, char *err, size_t errlen);
/* Releases one reference; the last frees the model. Accepts NULL. */
void wq_served_model_put(wq_served_model *m);

/* Installs m as the current model (takes the caller's reference) and releases the previous
 * one. Requests already holding the old model finish with it. */
void wq_serving_swap(wq_serving *s, wq_served_model *m);

/* A new reference to the current model, or NULL when none is loaded. */
wq_served_model *wq_serving_get(wq_serving *s);

/* Refreshes *slot (a reference owned by the calling thread, NULL at first) to the current
 * model and returns it (NULL when none). Put the slot back with wq_served_model_put when the
 * thread ends. */
wq_served_model *wq_serving_cached(wq_serving *s, wq_served_model **slot);

/* Generation of the current model (0: none yet). */
uint64_t wq_serving_generation(const wq_serving *s);

/* Predicts from named raw feature values (any order; each model feature exactly once; no
 * unknown names; finite values). WQ_EINVAL with the offending name in err. Thread-safe. */
wq_status wq_serving_predict(const wq_served_model *m, const char *const *names,
                             const double *values, size_t n, wq_prediction *out, char *err,
                             size_t errlen);

#endif
