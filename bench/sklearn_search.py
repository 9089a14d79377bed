#!/usr/bin/env python3
"""The same hyper-parameter search with scikit-learn's SVC, for a side-by-side ratio.

Reads the trials wineq ran (JSON from `wineq-client runs list --experiment wine-svm`), the
training rows of wineq's best bundle (reference.csv: the raw training part) and the full data
file; the test part is the data minus the training rows. Scales with StandardScaler fitted on
the training part, like wineq, and times fitting + scoring every trial (probability off), then
the top-K retrain with probability=True (wall and CPU seconds). Prints one JSON object.
"""
import argparse
import collections
import csv
import json
import time

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def read_rows(path, delimiter):
    with open(path, newline="") as f:
        r = csv.reader(f, delimiter=delimiter)
        header = [h.strip('"') for h in next(r)]
        return header, [[float(x) for x in row] for row in r if row]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--trials", required=True)
    ap.add_argument("--best-k", type=int, default=5)
    ap.add_argument("--per-trial", action="store_true",
                    help="also list every trial's seconds, scikit-learn's and wineq's")
    a = ap.parse_args()

    ref_header, ref_rows = read_rows(a.reference, ",")
    features, target = ref_header[:-1], ref_header[-1]
    data_header, data_rows = read_rows(a.data, ";")
    idx = [data_header.index(c) for c in features + [target]]
    projected = [tuple(row[i] for i in idx) for row in data_rows]
    train_count = collections.Counter(tuple(r) for r in ref_rows)
    test = []
    for row in projected:
        if train_count[row] > 0:
            train_count[row] -= 1
        else:
            test.append(row)
    train = np.array(ref_rows)
    test = np.array(test)
    scaler = StandardScaler().fit(train[:, :-1])
    xtr, ytr = scaler.transform(train[:, :-1]), train[:, -1].astype(int)
    xte, yte = scaler.transform(test[:, :-1]), test[:, -1].astype(int)

    with open(a.trials) as f:
        runs = json.load(f)["runs"]
    trials = []
    for r in runs:
        p = r["params"]
        trials.append({
            "trial": int(p["trial"]),
            "kernel": p["kernel"],
            "C": float(p["C"]),
            "gamma": float(p.get("gamma", "0") or 0),
            "class_weight": None if p["class_weight"] == "none" else "balanced",
            "wineq_balanced_accuracy": r["metrics"].get("balanced_accuracy"),
            "wineq_seconds": r["metrics"].get("fit_seconds"),
        })
    trials.sort(key=lambda t: t["trial"])

    def model(t, probability):
        kw = dict(kernel=t["kernel"], C=t["C"], class_weight=t["class_weight"],
                  probability=probability, random_state=42)
        if t["kernel"] == "rbf":
            kw["gamma"] = t["gamma"]
        return SVC(**kw)

    t0, c0 = time.perf_counter(), time.process_time()
    for t in trials:
        t1 = time.perf_counter()
        pred = model(t, False).fit(xtr, ytr).predict(xte)
        t["seconds"] = time.perf_counter() - t1
        t["balanced_accuracy"] = balanced_accuracy_score(yte, pred)
        t["accuracy"] = accuracy_score(yte, pred)
    search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
    ranked = sorted(trials, key=lambda t: (-t["balanced_accuracy"], -t["accuracy"], t["trial"]))
    t0, c0 = time.perf_counter(), time.process_time()
    best_test = None
    for t in ranked[:a.best_k]:
        pred = model(t, True).fit(xtr, ytr).predict(xte)
        bal = balanced_accuracy_score(yte, pred)
        best_test = bal if best_test is None else max(best_test, bal)
    retrain_s, retrain_cpu = time.perf_counter() - t0, time.process_time() - c0
    same = sum(1 for t in trials if t["wineq_balanced_accuracy"] is not None
               and abs(t["wineq_balanced_accuracy"] - t["balanced_accuracy"]) < 1e-9)
    print(json.dumps({
        "train_rows": int(len(train)), "test_rows": int(len(test)), "trials": len(trials),
        "search_seconds": search_s, "retrain_seconds": retrain_s,
        "cpu_seconds": search_cpu + retrain_cpu,
        "best_balanced_accuracy": ranked[0]["balanced_accuracy"],
        "best_retrained_balanced_accuracy": best_test,
        "trials_with_identical_score": same,
        "per_trial": [{"trial": t["trial"], "kernel": t["kernel"], "C": t["C"],
                       "gamma": t["gamma"], "class_weight": t["class_weight"] or "none",
                       "seconds": t["seconds"], "wineq_seconds": t["wineq_seconds"]}
                      for t in trials] if a.per_trial else None,
    }))


if __name__ == "__main__":
    main()
