#!/usr/bin/python3
"""Independent expected drift values for the monitor's end-to-end test, computed with SciPy
from the same inputs the monitor sees: the bundle's reference.csv (training sample) and the
current rows (features) plus the predicted classes.

  drift_expect.py REFERENCE_CSV CURRENT_CSV PREDICTIONS_JSONL LAST_N

Prints JSON {column: {"wasserstein_normed", "ks_stat", "ks_pvalue"} | {"js"}} for the model's
features and the prediction column, over the last LAST_N rows of CURRENT_CSV.
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


def main():
    rhead, rrows = read(sys.argv[1])
    chead, crows = read(sys.argv[2])
    preds = [json.loads(line)["quality"] for line in open(sys.argv[3]) if line.strip()]
    n = int(sys.argv[4])
    crows, preds = crows[-n:], preds[-n:]
    out = {}
    target = rhead[-1]
    for i, name in enumerate(rhead[:-1]):
        ref = np.array([r[i] for r in rrows])
        cur = np.array([r[chead.index(name)] for r in crows])
        ks = stats.ks_2samp(ref, cur)
        out[name] = {
            "wasserstein_normed": stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001),
            "ks_stat": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
        }
    labels = sorted(set(int(r[-1]) for r in rrows) | set(preds))
    ref_counts = np.array([sum(1 for r in rrows if int(r[-1]) == k) for k in labels], float)
    cur_counts = np.array([sum(1 for p in preds if p == k) for k in labels], float)
    out["prediction"] = {"js": float(distance.jensenshannon(ref_counts, cur_counts, base=2))}
    print(json.dumps(out))


sys.exit(main())
