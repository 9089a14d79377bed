/* wq_features: which columns feed the model. Default: the reference stack's three features; or the
 * top-K columns by |Pearson correlation| with the target. */
#ifndef WQ_FEATURES_H
#define WQ_FEATURES_H

#include "base/wq_error.h"
#include "base/wq_strv.h"
#include "ml/wq_dataset.h"

#include <stddef.h>

#define WQ_FEATURES_DEFAULT_COUNT 3

/* {"alcohol", "volatile acidity", "sulphates", NULL}: the reference stack's features, in this
 * order. */
extern const char *const wq_features_default[];

/* Pearson correlation between columns a and b over the given rows (all rows when rows is
 * NULL). A constant column gives WQ_ERANGE (correlation undefined). */
wq_status wq_features_pearson(const wq_dataset *ds, size_t a, size_t b, const size_t *rows,
                              size_t nrows, double *out);

/* Picks the k columns (excluding target) with the largest |r| with target over the given rows
 * (all when rows is NULL); ties keep column order; constant columns are skipped. *names is a
 * new array of k new strings (wq_strv_free), *r (may be NULL) a new array of their
 * correlations (free()). k must be in 1..ncols-1. */
wq_status wq_features_top_k(const wq_dataset *ds, const char *target, size_t k, const size_t *rows,
                            size_t nrows, char ***names, double **r, char *err, size_t errlen);

/* Parses a comma-separated list ("alcohol,volatile acidity") into new strings; surrounding
 * blanks are trimmed; empty items and duplicates are rejected. */
wq_status wq_features_parse_list(const char *list, char ***names, size_t *n, char *err,
                                 size_t errlen);

/* How a feature name given with a row relates to a model's features: every path that takes
 * named values (flags, --input JSON, HTTP, RPC, the bridge) applies this one rule. */
typedef enum wq_feature_match {
	WQ_FEATURE_USED,    /* one of the model's features: its index */
	WQ_FEATURE_UNUSED,  /* another UCI wine column (wq_uci_columns): accepted and ignored */
	WQ_FEATURE_UNKNOWN, /* neither: an error, with the nearest known name when one is close */
} wq_feature_match;

/* Matches name exactly against features[0..nf) (*index set for WQ_FEATURE_USED) and then the
 * twelve UCI columns. For WQ_FEATURE_UNKNOWN, *suggestion (may be NULL) is the closest of those
 * names after folding case and reading '_' and '-' as blanks, within a small edit distance, or
 * NULL; it points into features or wq_uci_columns (not owned). */
wq_feature_match wq_features_match(const char *name, const char *const *features, size_t nf,
                                   size_t *index, const char **suggestion);

/* Writes "unknown feature 'NAME'" with " (did you mean 'SUGGESTION'?)" when suggestion is not
 * NULL into err; returns WQ_EINVAL. */
wq_status wq_features_unknown_error(char *err, size_t errlen, const char *name,
                                    const char *suggestion);

#endif
