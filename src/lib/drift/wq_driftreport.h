/* wq_driftreport: a drift result for people and for machines.
 *
 * HTML: one self-contained page in the spirit of Evidently's data-drift report: a banner
 * (dataset drift detected or not, "n of m columns drifted", share and threshold; or, when the
 * current sample is below meta.min_rows, "Not enough data: n of min rows" and no verdict), a
 * summary table (column, kind, method, score, threshold, verdict), the optional sections
 * (classification quality, history, data quality; each only when meta gives it), then per
 * column its statistics and a reference-vs-current chart as inline SVG.
 *
 * Numerical charts are histograms over the reference's quantile bins drawn at their true
 * widths on a linear value axis (ticks at round values, the bin edges marked under the axis):
 * bar height is density (share of rows / bin width), so bar area is the share and a wide tail
 * bin no longer reads as a tall bar; tooltips give each bin's range and share. Bins narrower
 * than one unit of the SVG are widened to one unit. Current values outside the reference's
 * range (wq_drift_column.cur_below / cur_above) are taken out of the outer bins and drawn as
 * overflow bars beside the axis (left: below the minimum, right: above the maximum) on a
 * 0-100 % share scale, labelled "< min" / "> max" and with their share. Bins that cannot be
 * drawn to scale (a constant reference, edges that do not increase) and categorical columns
 * get grouped bars in equal slots with share heights.
 *
 * No scripts, no external fetches, no fonts or images from elsewhere: it renders the same
 * offline and under a strict CSP (inline <style> only). Every text from the data (column
 * names, model names, descriptions, titles, notes) is HTML-escaped: & < > " ' as entities,
 * ':' as &#58; (so no URL from the data appears literally in the source), invalid UTF-8 and
 * control characters as U+FFFD. Non-finite numbers print as "n/a"; magnitudes below 0.001
 * (small p-values) or from 1e6 up in scientific notation ("1.23e-5"); a p-value of exactly 0
 * (see WQ_DRIFT_PVALUE_FLOOR) prints as "< 1e-300", never "0".
 *
 * Stable hooks for tests (tests/tools/check_report_html.py reads them):
 *   #banner            class "drift", "no-drift" or "insufficient"; .banner-title "Dataset
 *                      drift detected" / "No dataset drift" / "Not enough data: n of k rows";
 *                      .banner-detail "n of m columns drifted (share s, threshold t)" (or why
 *                      there is no verdict)
 *   #summary           the summary table, one tr#row-<i> (class "drift" / "ok" / "na") per
 *                      column; while insufficient its verdict cell is td.verdict.na "—"
 *   section#col-<i>    one per column, in result order: data-drifted="true|false" (false
 *                      while insufficient), data-verdict="drift|ok|none", data-kind,
 *                      data-name; h2.col-name; table.stats (tr.decisive is the deciding score);
 *                      one svg.hist (numerical at true widths: class "hist dens") with exactly
 *                      2 * bars + overflow + 2 <rect>s: rect.bar.ref and rect.bar.cur per bin /
 *                      category (with <title> tooltips), one rect.bar.cur.overflow per side
 *                      with current values outside the reference's range (0, 1 or 2), and the
 *                      two legend swatches rect.swatch; axes, grid and edge marks are <line>s,
 *                      labels <text> (text.xtick value ticks for numerical, text.xlab
 *                      categories / equal-slot bins)
 *   #meta-model, #meta-reference (with span#meta-refpred for the reference predictions note),
 *   #meta-current, #meta-generated (<time datetime>)
 *   section#quality    when meta.quality: div.kpi#kpi-labelled, #kpi-unmatched, #kpi-lag-p50,
 *                      #kpi-lag-p90, #kpi-accuracy, #kpi-balanced-accuracy, #kpi-f1-macro
 *                      (span.kpi-value); without metrics p#quality-empty, else table#per-class
 *                      (tr.class-row: quality, true, predicted, recall, precision, F1) and
 *                      svg.confusion#confusion: k * k rect.cell (row = true, column =
 *                      predicted, data-count="n", shaded by the row share; .diag on the
 *                      diagonal) each followed by its text.count
 *   section#history    when meta.nhistory > 0: svg.history#history-drift (line.threshold at the
 *                      dataset-drift share, one circle.pt per drawn point, class "ok" /
 *                      "drift" / "insufficient", plus one of each in the legend) and, when
 *                      any point has an accuracy or balanced accuracy,
 *                      svg.history#history-quality (polyline.accuracy,
 *                      polyline.balanced-accuracy); at most 720 points are drawn: longer
 *                      histories are thinned evenly (every k-th point and the last; the JSON
 *                      keeps every point)
 *   section#data-quality  when meta.dq: table#dq, one tr.dq-row#dq-<i> per feature (class
 *                      "warn" when anything is off), td.oor count, td.oor-share, td.missing,
 *                      td.invalid (each with class "hit" when nonzero)
 *
 * JSON: the same data, for /report.json and `wineq-monitor report --format json`. */
#ifndef WQ_DRIFTREPORT_H
#define WQ_DRIFTREPORT_H

#include "base/wq_error.h"
#include "drift/wq_drift.h"
#include "ml/wq_metrics.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Live model quality from true labels joined to predictions (the monitor's classification
 * section, in the spirit of Evidently's classification preset). */
typedef struct wq_driftreport_quality {
	const wq_metrics *metrics; /* of the labelled predictions (y_true = label, y_pred = served
	                              quality); NULL (or no classes): no label yet; more than 64
	                              classes are not drawn (treated as NULL) */
	size_t labelled;           /* predictions with a label in the join window */
	size_t unmatched;          /* labels that named no known prediction */
	double label_lag_p50_s;    /* label time - prediction time, median / p90 (NaN: none) */
	double label_lag_p90_s;
} wq_driftreport_quality;

/* One point of the monitor's history (a periodic snapshot). NaN: not known at that time. */
typedef struct wq_driftreport_point {
	int64_t time_unix_ms;
	size_t window_events;
	int insufficient;        /* the window was below the minimum: no verdict */
	int dataset_drift;       /* 0/1 (meaningless when insufficient) */
	double drift_share;      /* drifted columns / columns */
	double prediction_score; /* the prediction column's drift score */
	size_t labelled;
	double accuracy, balanced_accuracy, f1_macro;
} wq_driftreport_point;

/* Data quality of the current sample per feature: values outside the reference's range, and
 * values that were missing or invalid (events rejected for them, counted by the caller). */
typedef struct wq_driftreport_dq {
	const char *column;
	size_t out_of_range; /* current values < reference min or > reference max */
	size_t current_rows;
	size_t missing, invalid;
	double ref_min, ref_max;
} wq_driftreport_dq;

typedef struct wq_driftreport_meta {
	const char *title;          /* NULL: "Data drift report" */
	const char *model_name;     /* NULL or "": unknown */
	int64_t model_version;      /* 0: unknown / a plain bundle */
	const char *reference_desc; /* e.g. "training sample of wine-quality v3 (3918 rows)" */
	const char *current_desc;   /* e.g. "last 1000 predictions" or a CSV path */
	int64_t generated_unix_ms;  /* 0: now */
	/* Optional sections (NULL / 0: the section is left out). */
	size_t min_rows; /* the minimum window for a verdict; when the current sample has
	                    fewer rows the report says the data is insufficient, shows no
	                    drift badge and no verdict (statistics stay visible) */
	const char *reference_predictions_note; /* e.g. "computed at load: the bundle predates
	                                           stored reference predictions"; NULL: none */
	const wq_driftreport_quality *quality;  /* classification quality section */
	const wq_driftreport_point *history;    /* drift and quality over time, oldest first */
	size_t nhistory;
	const wq_driftreport_dq *dq; /* data-quality section, one per feature */
	size_t ndq;
} wq_driftreport_meta;

/* The JSON document:
 * {"title", "generated" (RFC 3339 UTC), "model": {"name", "version"} | null,
 *  "reference": {"rows", "description", "predictions_note"},
 *  "current": {"rows", "description"},
 *  "insufficient": bool (current rows < min_rows), "min_rows": n | null (not given),
 *  "dataset_drift": bool | null (null while insufficient), "drifted_columns": n (columns over
 *  their thresholds, also while insufficient), "columns_total": m, "share": x,
 *  "share_threshold": x, "pvalue_floor": 1e-300 (a p-value of 0 means "below this"),
 *  "columns": [{"name", "kind": "numerical"|"categorical", "method", "score", "threshold",
 *               "drifted": bool | null (null while insufficient),
 *               "drift_when": "score <= threshold" | "score >= threshold",
 *               "pvalue_below_floor": bool (its K-S or chi-square p-value is 0),
 *               "range": {"ref_min", "ref_max", "cur_min", "cur_max", "below", "above"},
 *               "stats": numerical {"ks_stat", "ks_pvalue", "wasserstein", "wasserstein_norm",
 *                         "psi", "js", "ref_mean", "ref_std", "cur_mean", "cur_std"},
 *                        categorical {"chi_stat", "chi_pvalue", "js"},
 *               "histogram": {"edges": [...], "reference": [...], "current": [...]}   (numerical;
 *                            shares as computed: overflow counted in the outer bins)
 *               "categories": {"values": [...], "reference": [...], "current": [...]} (categorical)
 *  }],
 *  "data_quality": [{"column", "ref_min", "ref_max", "current_rows", "out_of_range",
 *                    "out_of_range_share", "missing", "invalid"}] | null,
 *  "quality": {"labelled", "unmatched", "label_lag_p50_s", "label_lag_p90_s", "samples",
 *              "accuracy", "balanced_accuracy", "f1_macro" (null without metrics),
 *              "per_class": [{"label", "support", "predicted", "recall", "precision", "f1"}],
 *              "confusion": {"labels": [...], "matrix": [[...]] (row = true)} | null} | null,
 *  "history": [{"time" (RFC 3339 | null), "time_unix_ms", "window_events", "insufficient",
 *               "dataset_drift": bool | null (null when insufficient), "drift_share",
 *               "prediction_score", "labelled", "accuracy", "balanced_accuracy",
 *               "f1_macro"}] | null}
 * "model" is null when neither name nor version is known (else an unknown part is null);
 * descriptions and the note are null when not given; "generated" is null when the time has no
 * four-digit year. Non-finite numbers become null (a per-class recall or precision of 0/0
 * too); invalid UTF-8 in texts becomes U+FFFD. m may be NULL (all defaults). New reference
 * owned by the caller; NULL on out of memory or an inconsistent result (ncolumns, nedges or
 * ncats beyond the arrays, or an unknown kind). */
json_t *wq_driftreport_json(const wq_drift_result *r, const wq_driftreport_meta *m);

/* The HTML page (see above); m may be NULL. *out (NUL-terminated, *len bytes, no size limit)
 * owned by the caller (free). WQ_EINVAL for NULL arguments or an inconsistent result (as for
 * the JSON), WQ_ENOMEM (or the output buffer's WQ_ERANGE when the page would not fit in
 * memory); *out and *len are written only on success. */
wq_status wq_driftreport_html(const wq_drift_result *r, const wq_driftreport_meta *m, char **out,
                              size_t *len);

#endif
