/* wq_driftreport: a drift result for people and for machines.
 *
 * HTML: one self-contained page in the spirit of Evidently's data-drift report: a banner
 * (dataset drift detected or not, "n of m columns drifted", share and threshold), a summary
 * table (column, kind, method, score, threshold, verdict), then per column its statistics and a
 * reference-vs-current histogram as inline SVG (numerical: the reference's quantile bins;
 * categorical: one bar pair per category). No scripts, no external fetches, no fonts or
 * images from elsewhere: it renders the same offline. Every text from the data (column names,
 * model names, descriptions, titles) is HTML-escaped: & < > " ' as entities, ':' as &#58; (so
 * no URL from the data appears literally in the source), invalid UTF-8 and control characters
 * as U+FFFD. Non-finite numbers print as "n/a"; magnitudes below 0.001 (small p-values) or from
 * 1e6 up in scientific notation ("1.23e-5").
 *
 * Stable hooks for tests (tests/tools/check_report_html.py reads them):
 *   #banner            class "drift" or "no-drift"; .banner-title "Dataset drift detected" /
 *                      "No dataset drift"; .banner-detail "n of m columns drifted (share s,
 *                      threshold t)"
 *   #summary           the summary table, one tr#row-<i> (class "drift" / "ok") per column
 *   section#col-<i>    one per column, in result order: data-drifted="true|false",
 *                      data-kind, data-name; h2.col-name; table.stats (tr.decisive is the
 *                      deciding score); one svg.hist with exactly 2 * bars + 2 <rect>s:
 *                      rect.bar.ref and rect.bar.cur per bin / category (with <title>
 *                      tooltips) and the two legend swatches rect.swatch; axes and grid are
 *                      <line>s, labels <text>
 *   #meta-model, #meta-reference, #meta-current, #meta-generated (<time datetime>)
 *
 * JSON: the same data, for /report.json and `wineq-monitor report --format json`. */
#ifndef WQ_DRIFTREPORT_H
#define WQ_DRIFTREPORT_H

#include "wq_drift.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wq_driftreport_meta {
	const char *title;          /* NULL: "Data drift report" */
	const char *model_name;     /* NULL or "": unknown */
	int64_t model_version;      /* 0: unknown / a plain bundle */
	const char *reference_desc; /* e.g. "training sample of wine-quality v3 (3918 rows)" */
	const char *current_desc;   /* e.g. "last 1000 predictions" or a CSV path */
	int64_t generated_unix_ms;  /* 0: now */
} wq_driftreport_meta;

/* The JSON document:
 * {"title", "generated" (RFC 3339 UTC), "model": {"name", "version"} | null,
 *  "reference": {"rows", "description"}, "current": {"rows", "description"},
 *  "dataset_drift": bool, "drifted_columns": n, "columns_total": m, "share": x,
 *  "share_threshold": x,
 *  "columns": [{"name", "kind": "numerical"|"categorical", "method", "score", "threshold",
 *               "drifted": bool, "drift_when": "score <= threshold" | "score >= threshold",
 *               "stats": numerical {"ks_stat", "ks_pvalue", "wasserstein", "wasserstein_norm",
 *                         "psi", "js", "ref_mean", "ref_std", "cur_mean", "cur_std"},
 *                        categorical {"chi_stat", "chi_pvalue", "js"},
 *               "histogram": {"edges": [...], "reference": [...], "current": [...]}   (numerical)
 *               "categories": {"values": [...], "reference": [...], "current": [...]} (categorical)
 *  }]}
 * "model" is null when neither name nor version is known (else an unknown part is null);
 * descriptions are null when not given; "generated" is null when the time has no four-digit
 * year. Non-finite numbers become null; invalid UTF-8 in texts becomes U+FFFD. m may be NULL
 * (all defaults). New reference owned by the caller; NULL on out of memory or an inconsistent
 * result (ncolumns, nedges or ncats beyond the arrays, or an unknown kind). */
json_t *wq_driftreport_json(const wq_drift_result *r, const wq_driftreport_meta *m);

/* The HTML page (see above); m may be NULL. *out (NUL-terminated, *len bytes, no size limit)
 * owned by the caller (free). WQ_EINVAL for NULL arguments or an inconsistent result (as for
 * the JSON), WQ_ENOMEM; *out and *len are written only on success. */
int wq_driftreport_html(const wq_drift_result *r, const wq_driftreport_meta *m, char **out,
                        size_t *len);

#endif
