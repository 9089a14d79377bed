#!/usr/bin/python3
"""Independent expected drift values for the monitor's end-to-end test, computed with SciPy
from the same inputs the monitor sees: the bundle's reference.csv (reference sample), the
model's own predictions on those reference rows, and the current rows (features) plus the
predicted classes.

  drift_expect.py REFERENCE_CSV CURRENT_CSV PREDICTIONS_JSONL LAST_N REF_PREDICTIONS [--target]

REF_PREDICTIONS: the model's predictions on the rows of REFERENCE_CSV, in order: JSON lines
with "quality" (what `wineq-client predict --bundle DIR --csv reference.csv --format json`
prints) or a CSV with a "prediction" column (the bundle's reference_predictions.csv).
The prediction column compares the current predicted classes with those (Evidently's
"prediction" column: the model's predictions on the reference data, not the labels).
--target adds the target column: the reference's labels against the true labels (the
quality column of CURRENT_CSV) of the same LAST_N rows.

Prints JSON {column: {"wasserstein_normed", "ks_stat", "ks_pvalue"} | {"js"}} for the model's
features, "prediction" (and "target"), over the last LAST_N rows of CURRENT_CSV.
"""
import csv
import json
import sys

import numpy as np
from scipy import stats
from scipy.spatial import distance


def read(path):
    with open(path, newline="") as f:
        text = f.read()
    delim = ";" if ";" in text.splitlines()[0] else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    head = [h.strip().strip('"') for h in rows[0]]
    return head, [[float(x) for x in r] for r in rows[1:] if r]


def read_ref_predictions(path):
    if path.endswith(".csv"):
        head, rows = read(path)
        return [int(r[head.index("prediction")]) for r in rows]
    return [json.loads(line)["quality"] for line in open(path) if line.strip()]


def js(ref, cur):
    labels = sorted(set(ref) | set(cur))
    ref_counts = np.array([sum(1 for p in ref if p == k) for k in labels], float)
    cur_counts = np.array([sum(1 for p in cur if p == k) for k in labels], float)
    return float(distance.jensenshannon(ref_counts, cur_counts, base=2))


def main():
    if len(sys.argv) not in (6, 7) or (len(sys.argv) == 7 and sys.argv[6] != "--target"):
        sys.stderr.write(__doc__)
        return 2
    rhead, rrows = read(sys.argv[1])
    chead, crows = read(sys.argv[2])
    preds = [json.loads(line)["quality"] for line in open(sys.argv[3]) if line.strip()]
    n = int(sys.argv[4])
    ref_preds = read_ref_predictions(sys.argv[5])
    if len(ref_preds) != len(rrows):
        sys.stderr.write(f"{len(ref_preds)} reference predictions for {len(rrows)} rows\n")
        return 2
    crows, preds = crows[-n:], preds[-n:]
    out = {}
    for i, name in enumerate(rhead[:-1]):
        ref = np.array([r[i] for r in rrows])
        cur = np.array([r[chead.index(name)] for r in crows])
        ks = stats.ks_2samp(ref, cur)
        out[name] = {
            "wasserstein_normed": stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001),
            "ks_stat": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
        }
    out["prediction"] = {"js": js(ref_preds, preds)}
    if len(sys.argv) == 7:
        target = rhead[-1]
        out["target"] = {
            "js": js([int(r[-1]) for r in rrows], [int(r[chead.index(target)]) for r in crows])
        }
    print(json.dumps(out))
    return 0


sys.exit(main())
