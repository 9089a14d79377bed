#!/usr/bin/python3
"""Generates tests/data/drift_golden.json: drift statistics computed by SciPy, the reference
that src/lib/drift/wq_stats.c and wq_drift.c must reproduce (tests/unit/test_drift.c checks every case).

Run from anywhere with Debian's interpreter (python3-scipy 1.10, python3-numpy):
    /usr/bin/python3 tests/tools/drift_golden.py [OUTPUT]

Samples are stored in one of four forms, so that the file stays small:
  [v, ...]                                   the values themselves
  {"counts": [[v, k], ...]}                  k copies of each v, in that order (categorical
                                             samples such as predicted classes)
  {"file": "white"|"red", "column": NAME, "start": A, "stop": B}
                                             rows A..B-1 of a column of data/winequality-*.csv
  {"gen": {"n": N, "a": A, "b": B, "m": M, "s": S, "o": O}}
                                             v_i = float((A*i + B) % M) * S + O, i = 0..N-1
                                             (integer arithmetic, then two IEEE operations:
                                             the C test rebuilds the same doubles)
Floats are written with repr(), which round-trips exactly.
"""

import csv
import json
import os
import sys

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance
from scipy.stats import kstwo

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FILES = {"white": "data/winequality-white.csv", "red": "data/winequality-red.csv"}

# Must match the C side (src/lib/drift/wq_stats.h and wq_drift.h).
NBINS = 10
EMPTY_SHARE = 0.0001
STD_FLOOR = 0.001


def load(name):
    with open(os.path.join(SRC, FILES[name]), newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header = rows[0]
    data = np.array([[float(v) for v in r] for r in rows[1:]], dtype=np.float64)
    return header, data


HEADERS = {}
DATA = {}
for _name in FILES:
    HEADERS[_name], DATA[_name] = load(_name)


def col(file, column, start, stop):
    spec = {"file": file, "column": column, "start": start, "stop": stop}
    values = DATA[file][start:stop, HEADERS[file].index(column)].copy()
    return spec, values


def gen(n, a, b, m, s, o):
    spec = {"gen": {"n": n, "a": a, "b": b, "m": m, "s": s, "o": o}}
    values = np.array([float((a * i + b) % m) * s + o for i in range(n)], dtype=np.float64)
    return spec, values


def lit(values):
    values = [float(v) for v in values]
    return values, np.array(values, dtype=np.float64)


rng = np.random.default_rng(20240601)


def rnd(n, loc=0.0, scale=1.0, decimals=6):
    return lit(np.round(rng.normal(loc, scale, n), decimals))


def rint(n, lo, hi):
    return lit(rng.integers(lo, hi, n).astype(float))


FEATURES = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
            "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates",
            "alcohol", "quality"]

# ---- ks_2samp -------------------------------------------------------------------------------

ks_pairs = [
    ("disjoint 5 vs 5", lit([1, 2, 3, 4, 5]), lit([6, 7, 8, 9, 10])),
    ("disjoint 3 vs 7", lit([10, 11, 12]), lit([1, 2, 3, 4, 5, 6, 7])),
    ("identical 6", lit([1.5, 2, 2, 3, 7, 9]), lit([9, 7, 3, 2, 2, 1.5])),
    ("single vs single", lit([1.0]), lit([2.0])),
    ("single equal", lit([3.0]), lit([3.0])),
    ("1 vs 4", lit([2.5]), lit([1, 2, 3, 4])),
    ("interleaved 4 vs 4", lit([1, 3, 5, 7]), lit([2, 4, 6, 8])),
    ("ties small ints", rint(30, 0, 5), rint(30, 0, 5)),
    ("ties unequal", rint(25, 0, 4), rint(40, 1, 6)),
    ("normal 10 vs 10", rnd(10), rnd(10, 0.5)),
    ("normal 20 vs 20 same", rnd(20), rnd(20)),
    ("normal 50 vs 50 shifted", rnd(50), rnd(50, 1.0)),
    ("normal 7 vs 13", rnd(7), rnd(13, 0.3)),
    ("normal 20 vs 35", rnd(20), rnd(35, 0.2, 1.5)),
    ("normal 100 vs 60", rnd(100), rnd(60, 0.4)),
    ("normal 105 vs 95", rnd(105), rnd(95)),
    ("normal 300 vs 1000", rnd(300), rnd(1000, 0.05)),
    ("normal 1000 vs 1000", rnd(1000), rnd(1000, 0.08)),
    ("negative and zero", lit([-0.0, 0.0, -1, -2, 5]), lit([0.0, 1, 1, -3])),
    ("asymp 12000 vs 11000 same", gen(12000, 7919, 13, 10007, 0.001, 0.0),
     gen(11000, 104729, 7, 10009, 0.001, 0.0)),
    ("asymp 12000 vs 11000 shifted", gen(12000, 7919, 13, 10007, 0.001, 0.0),
     gen(11000, 104729, 7, 10009, 0.001, 0.15)),
    ("asymp 10001 vs 50", gen(10001, 7919, 13, 10007, 0.001, 0.0),
     gen(50, 31, 3, 97, 0.1, 0.5)),
    ("asymp 10001 vs 300 ties", gen(10001, 7, 1, 11, 1.0, 0.0), gen(300, 5, 2, 13, 1.0, 0.0)),
    ("asymp 20000 vs 10001 shifted", gen(20000, 7919, 13, 10007, 0.0001, 0.0),
     gen(10001, 104729, 7, 10009, 0.0001, 0.03)),
]
for c in FEATURES:
    ks_pairs.append((f"white train vs white test: {c}", col("white", c, 0, 3918),
                     col("white", c, 3918, 4898)))
    ks_pairs.append((f"white train vs red 1000: {c}", col("white", c, 0, 3918),
                     col("red", c, 0, 1000)))
    ks_pairs.append((f"white halves: {c}", col("white", c, 0, 2449), col("white", c, 2449, 4898)))
for c in ["alcohol", "sulphates", "pH"]:
    ks_pairs.append((f"red 1000 vs white 3918: {c}", col("red", c, 0, 1000),
                     col("white", c, 0, 3918)))
    ks_pairs.append((f"white 1000 vs white 1000: {c}", col("white", c, 0, 1000),
                     col("white", c, 3898, 4898)))
    ks_pairs.append((f"white 3918 vs white 1000 window: {c}", col("white", c, 0, 3918),
                     col("white", c, 3898, 4898)))

ks_cases = []
for name, (xs, xv), (ys, yv) in ks_pairs:
    r = stats.ks_2samp(xv, yv)
    ks_cases.append({"name": name, "x": xs, "y": ys, "statistic": float(r.statistic),
                     "pvalue": float(r.pvalue),
                     "method": "exact" if max(len(xv), len(yv)) <= 10000 else "asymp"})

# ---- kstwo.sf (the asymptotic branch's distribution), every branch of kolmogn ---------------

kstwo_points = []
for n in [1, 2, 3, 5, 10, 37, 100, 140]:
    for x in [0.3 / n, 0.75 / n, 1.0 / n, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1 - 1.5 / n, 0.99]:
        kstwo_points.append((n, x))
for n in [141, 500, 2000, 12345, 100000, 100001, 250000, 1000000, 2000001]:
    # (n >= 10^6: fewer points in the Smirnov tail, whose sum takes ~0.3 s in C there)
    for z in ([0.3, 0.5, 0.8, 1.0, 1.2, 1.36, 1.6, 2.0, 3.0, 6.0] if n < 10**6
              else [0.5, 1.0, 1.36, 2.0, 6.0]):
        kstwo_points.append((n, z / np.sqrt(n)))
    kstwo_points.append((n, 0.6 / n))
    kstwo_points.append((n, 0.55))
kstwo_cases = []
for n, x in kstwo_points:
    x = float(x)
    if not (0 < x < 1):
        continue
    kstwo_cases.append({"n": n, "x": x, "sf": float(kstwo.sf(x, n))})

# ---- wasserstein_distance ---------------------------------------------------------------------

w_pairs = [
    ("scipy doc 1", lit([0, 1, 3]), lit([5, 6, 8])),
    ("scipy doc 2", lit([0, 1]), lit([0, 1])),
    ("single", lit([1.0]), lit([4.5])),
    ("ties", rint(40, 0, 5), rint(25, 1, 7)),
    ("normal 30 vs 70", rnd(30), rnd(70, 0.5, 2)),
    ("normal 1000 vs 300", rnd(1000), rnd(300, -0.2)),
    ("gen 12000 vs 11000", gen(12000, 7919, 13, 10007, 0.001, 0.0),
     gen(11000, 104729, 7, 10009, 0.001, 0.15)),
]
for c in FEATURES:
    w_pairs.append((f"white train vs white test: {c}", col("white", c, 0, 3918),
                    col("white", c, 3918, 4898)))
    w_pairs.append((f"white train vs red 1000: {c}", col("white", c, 0, 3918),
                    col("red", c, 0, 1000)))
w_cases = []
for name, (us, uv), (vs, vv) in w_pairs:
    w_cases.append({"name": name, "u": us, "v": vs,
                    "distance": float(stats.wasserstein_distance(uv, vv))})

# ---- chisquare --------------------------------------------------------------------------------

chi_pairs = [
    ("scipy doc", [16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]),
    ("uniform", [16, 18, 16, 14, 12, 12], [14.666666666666666] * 6),
    ("perfect fit", [10, 20, 30], [10, 20, 30]),
    ("two categories", [48, 52], [50, 50]),
    ("small p", [600, 100, 150, 150], [250, 250, 250, 250]),
    ("tiny p near underflow", [1832, 168], [1000, 1000]),
    ("p underflows in cephes", [1845, 155], [1000, 1000]),
    ("p underflows", [4000, 0, 0], [4000 / 3] * 3),
    ("zero observed", [0, 30, 70], [20, 30, 50]),
    ("fractional expected", [3, 5, 9, 12, 1], [2.5, 6.25, 8.75, 11.0, 1.5]),
]
# 31 categories (30 degrees of freedom), large statistic near the mean and in the tail
obs = rng.integers(20, 60, 31).astype(float)
exp = np.full(31, obs.sum() / 31)
chi_pairs.append(("31 categories", list(obs), list(exp)))
obs2 = obs.copy()
obs2[0] += 200
obs2[1:] -= 0
chi_pairs.append(("31 categories drifted", list(obs2), list(np.full(31, obs2.sum() / 31))))
# Evidently-like: reference proportions times the current size
white_q = DATA["white"][:3918, HEADERS["white"].index("quality")]
red_q = DATA["red"][:1000, HEADERS["red"].index("quality")]
cats = sorted(set(white_q) | set(red_q))
ref_p = np.array([(white_q == c).sum() / len(white_q) for c in cats])
ref_p = np.where(ref_p == 0, EMPTY_SHARE, ref_p)
ref_p = ref_p / ref_p.sum()
chi_pairs.append(("quality red vs white proportions",
                  [float((red_q == c).sum()) for c in cats], list(ref_p * len(red_q))))
test_q = DATA["white"][3918:, HEADERS["white"].index("quality")]
chi_pairs.append(("quality white test vs white proportions",
                  [float((test_q == c).sum()) for c in cats], list(ref_p * len(test_q))))
chi_cases = []
for name, fo, fe in chi_pairs:
    r = stats.chisquare(np.array(fo, dtype=float), np.array(fe, dtype=float))
    chi_cases.append({"name": name, "f_obs": [float(v) for v in fo],
                      "f_exp": [float(v) for v in fe], "statistic": float(r.statistic),
                      "pvalue": float(r.pvalue)})

# ---- jensenshannon base 2 -------------------------------------------------------------------

js_pairs = [
    ("disjoint", [1, 0, 0], [0, 1, 0]),
    ("identical", [0.5, 0.5], [0.5, 0.5]),
    ("scipy doc", [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]),
    ("scipy doc 2", [1.0, 0.0], [0.5, 0.5]),
    ("unnormalised", [1, 2, 3, 4], [4, 3, 2, 1]),
    ("length 1", [3.0], [5.0]),
    ("with zeros", [0.2, 0.0, 0.3, 0.5], [0.1, 0.4, 0.0, 0.5]),
    ("counts", [12, 55, 140, 33, 7], [20, 60, 100, 50, 2]),
]
for k in [3, 10, 64]:
    p = rng.random(k)
    q = rng.random(k)
    js_pairs.append((f"random {k}", list(p), list(q)))
js_cases = []
for name, p, q in js_pairs:
    js_cases.append({"name": name, "p": [float(v) for v in p], "q": [float(v) for v in q],
                     "distance": float(distance.jensenshannon(np.array(p, dtype=float),
                                                              np.array(q, dtype=float),
                                                              base=2))})

# ---- quantile bins and the Evidently-style evaluation -----------------------------------------


def merged_edges(ref, nbins):
    e = np.quantile(ref, np.arange(nbins + 1) / nbins)
    out = []
    for v in e:
        if not out or v != out[-1]:
            out.append(float(v))
    if len(out) == 1:
        out.append(out[0])
    return out


def shares(values, edges):
    """Independent implementation of the documented binning: [e_b, e_b+1), last bin closed,
    outside values clamped to the first / last bin."""
    nb = len(edges) - 1
    counts = np.zeros(nb)
    for v in values:
        b = int(np.searchsorted(np.array(edges[1:-1]), v, side="right"))
        counts[min(b, nb - 1)] += 1
    return counts / len(values)


def psi(r, c):
    r = np.where(r == 0, EMPTY_SHARE, r)
    c = np.where(c == 0, EMPTY_SHARE, c)
    return float(np.sum((c - r) * np.log(c / r)))


edge_cases = []
for c in ["alcohol", "volatile acidity", "sulphates", "quality", "density", "chlorides"]:
    spec, v = col("white", c, 0, 3918)
    for nb in [NBINS, 4, 64]:
        edge_cases.append({"sample": spec, "nbins": nb, "edges": merged_edges(np.sort(v), nb)})
edge_cases.append({"sample": [2.0, 2.0, 2.0], "nbins": 10, "edges": [2.0, 2.0]})
edge_cases.append({"sample": [1.0], "nbins": 3, "edges": [1.0, 1.0]})
edge_cases.append({"sample": [0.0, 1.0], "nbins": 4, "edges": [0.0, 0.25, 0.5, 0.75, 1.0]})


def evaluate(name, ref_file, ref_rows, cur_file, cur_rows, columns, kinds, small_reference=1000):
    nref = ref_rows[1] - ref_rows[0]
    out = {"name": name,
           "reference": {"file": ref_file, "start": ref_rows[0], "stop": ref_rows[1]},
           "current": {"file": cur_file, "start": cur_rows[0], "stop": cur_rows[1]},
           "columns": columns, "kinds": kinds, "expected": []}
    ndrift = 0
    for c, kind in zip(columns, kinds):
        _, r = col(ref_file, c, *ref_rows)
        _, x = col(cur_file, c, *cur_rows)
        e = {"name": c, "ref_mean": float(np.mean(r)), "ref_std": float(np.std(r)),
             "cur_mean": float(np.mean(x)), "cur_std": float(np.std(x))}
        if kind == "numerical":
            ks = stats.ks_2samp(r, x)
            w = stats.wasserstein_distance(r, x)
            edges = merged_edges(np.sort(r), NBINS)
            rs, cs = shares(r, edges), shares(x, edges)
            e.update({"ks_stat": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
                      "wasserstein": float(w),
                      "wasserstein_norm": float(w / max(np.std(r), STD_FLOOR)),
                      "edges": edges, "ref_share": [float(v) for v in rs],
                      "cur_share": [float(v) for v in cs], "psi": psi(rs, cs),
                      "js": float(distance.jensenshannon(rs, cs, base=2))})
            if nref <= small_reference:
                e.update({"method": "ks", "score": e["ks_pvalue"], "threshold": 0.05,
                          "drifted": e["ks_pvalue"] <= 0.05})
            else:
                e.update({"method": "wasserstein", "score": e["wasserstein_norm"],
                          "threshold": 0.1, "drifted": e["wasserstein_norm"] >= 0.1})
        else:
            cats_ = sorted(set(r) | set(x))
            rsh = np.array([(r == k).sum() / len(r) for k in cats_])
            csh = np.array([(x == k).sum() / len(x) for k in cats_])
            p = np.where(rsh == 0, EMPTY_SHARE, rsh)
            p = p / p.sum()
            chi = stats.chisquare(np.array([(x == k).sum() for k in cats_], dtype=float),
                                  p * len(x))
            e.update({"cats": [float(k) for k in cats_], "ref_cat_share": list(map(float, rsh)),
                      "cur_cat_share": list(map(float, csh)), "chi_stat": float(chi.statistic),
                      "chi_pvalue": float(chi.pvalue),
                      "js_cat": float(distance.jensenshannon(rsh, csh, base=2))})
            if nref <= small_reference:
                e.update({"method": "chisquare", "score": e["chi_pvalue"], "threshold": 0.05,
                          "drifted": e["chi_pvalue"] <= 0.05})
            else:
                e.update({"method": "jensenshannon", "score": e["js_cat"], "threshold": 0.1,
                          "drifted": e["js_cat"] >= 0.1})
        ndrift += e["drifted"]
        out["expected"].append(e)
    out["ndrifted"] = int(ndrift)
    out["share"] = ndrift / len(columns)
    out["dataset_drift"] = bool(out["share"] >= 0.5)
    return out


DEFAULT = ["alcohol", "volatile acidity", "sulphates"]
eval_cases = [
    evaluate("white train vs white test rows (file order)", "white", (0, 3918), "white",
             (3918, 4898), DEFAULT + ["quality"], ["numerical"] * 3 + ["categorical"]),
    evaluate("white train vs red 1000", "white", (0, 3918), "red", (0, 1000),
             DEFAULT + ["quality"], ["numerical"] * 3 + ["categorical"]),
    evaluate("small reference: white 1000 vs red 600", "white", (0, 1000), "red", (0, 600),
             DEFAULT + ["quality"], ["numerical"] * 3 + ["categorical"]),
    evaluate("small reference: white 1000 vs white 1000", "white", (0, 1000), "white",
             (1000, 2000), DEFAULT + ["pH", "quality"], ["numerical"] * 4 + ["categorical"]),
]

# ---- the prediction column: predicted classes against the reference's predictions ------------
# Shaped like the monitor's prediction column: classes 3..9, the reference is a model's
# predictions on its training sample (a skewed mix: an unweighted model rarely predicts the
# outer classes, a class-weighted one predicts all of them), the current sample a window of
# 30..1000 served predictions, with classes missing on either side.


def counts_spec(counts):
    """counts: {class: k}; the spec and the expanded sample (classes ascending)."""
    pairs = [[float(c), int(k)] for c, k in sorted(counts.items()) if k > 0]
    values = np.array([v for v, k in pairs for _ in range(k)], dtype=np.float64)
    return {"counts": pairs}, values


def mix_counts(n, mix):
    classes = sorted(mix)
    p = np.array([mix[c] for c in classes], dtype=float)
    k = rng.multinomial(n, p / p.sum())
    return {c: int(v) for c, v in zip(classes, k)}


UNWEIGHTED = {4: 0.012, 5: 0.33, 6: 0.53, 7: 0.12, 8: 0.008}
WEIGHTED = {3: 0.012, 4: 0.07, 5: 0.27, 6: 0.31, 7: 0.22, 8: 0.11, 9: 0.008}
RED_LIKE = {3: 0.01, 4: 0.05, 5: 0.52, 6: 0.36, 7: 0.05, 8: 0.01}
HIGH = {6: 0.3, 7: 0.4, 8: 0.2, 9: 0.1}


def evaluate_prediction(name, ref_counts, cur_counts, small_reference=1000):
    rspec, r = counts_spec(ref_counts)
    cspec, x = counts_spec(cur_counts)
    cats_ = sorted(set(r) | set(x))
    rsh = np.array([(r == k).sum() / len(r) for k in cats_])
    csh = np.array([(x == k).sum() / len(x) for k in cats_])
    p = np.where(rsh == 0, EMPTY_SHARE, rsh)
    p = p / p.sum()
    chi = stats.chisquare(np.array([(x == k).sum() for k in cats_], dtype=float), p * len(x))
    e = {"name": name, "reference": rspec, "current": cspec,
         "ref_mean": float(np.mean(r)), "ref_std": float(np.std(r)),
         "cur_mean": float(np.mean(x)), "cur_std": float(np.std(x)),
         "cats": [float(k) for k in cats_], "ref_cat_share": list(map(float, rsh)),
         "cur_cat_share": list(map(float, csh)), "chi_stat": float(chi.statistic),
         "chi_pvalue": float(chi.pvalue),
         "js_cat": float(distance.jensenshannon(rsh, csh, base=2)),
         "ref_min": float(r.min()), "ref_max": float(r.max()),
         "cur_out_of_range": int(((x < r.min()) | (x > r.max())).sum())}
    if len(r) <= small_reference:
        e.update({"method": "chisquare", "score": e["chi_pvalue"], "threshold": 0.05,
                  "drifted": e["chi_pvalue"] <= 0.05})
    else:
        e.update({"method": "jensenshannon", "score": e["js_cat"], "threshold": 0.1,
                  "drifted": e["js_cat"] >= 0.1})
    return e


prediction_cases = []
for ref_name, ref_mix in [("unweighted", UNWEIGHTED), ("class-weighted", WEIGHTED)]:
    for nref in [3918, 1000, 400]:
        ref_counts = mix_counts(nref, ref_mix)
        for ncur in [30, 50, 100, 200, 500, 1000]:
            for cur_name, cur_mix in [("same mix", ref_mix), ("red-like", RED_LIKE),
                                      ("high", HIGH)]:
                if cur_name != "same mix" and ncur in (50, 200):
                    continue
                prediction_cases.append(evaluate_prediction(
                    f"{ref_name} {nref} vs {cur_name} {ncur}", ref_counts,
                    mix_counts(ncur, cur_mix)))
# hand-made shapes: one class only in the window, a window without the reference's main class,
# a class the reference never predicted (9) dominating, and an exact copy of the mix
prediction_cases.append(evaluate_prediction("window of one class", {5: 300, 6: 600, 7: 100},
                                            {6: 30}))
prediction_cases.append(evaluate_prediction("window without class 6", {5: 300, 6: 600, 7: 100},
                                            {5: 40, 7: 60}))
prediction_cases.append(evaluate_prediction("unseen class 9 dominates",
                                            {4: 20, 5: 1300, 6: 2000, 7: 560, 8: 38},
                                            {6: 20, 9: 80}))
prediction_cases.append(evaluate_prediction("unseen class 3 once", {5: 330, 6: 530, 7: 140},
                                            {3: 1, 5: 10, 6: 16, 7: 3}))
prediction_cases.append(evaluate_prediction("exact proportions",
                                            {4: 40, 5: 1200, 6: 2000, 7: 640, 8: 38},
                                            {4: 10, 5: 300, 6: 500, 7: 160, 8: 9}))

doc = {
    "generator": "tests/tools/drift_golden.py",
    "scipy": scipy.__version__,
    "numpy": np.__version__,
    "files": FILES,
    "nbins": NBINS,
    "empty_share": EMPTY_SHARE,
    "ks_2samp": ks_cases,
    "kstwo_sf": kstwo_cases,
    "wasserstein": w_cases,
    "chisquare": chi_cases,
    "jensenshannon": js_cases,
    "bins_quantile": edge_cases,
    "evaluate": eval_cases,
    "prediction": prediction_cases,
}

out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "tests", "data",
                                                               "drift_golden.json")
os.makedirs(os.path.dirname(out_path), exist_ok=True)
with open(out_path, "w") as f:
    json.dump(doc, f, indent=1, allow_nan=False)
    f.write("\n")
print(f"{out_path}: {len(ks_cases)} ks_2samp, {len(kstwo_cases)} kstwo, {len(w_cases)} "
      f"wasserstein, {len(chi_cases)} chisquare, {len(js_cases)} jensenshannon, "
      f"{len(edge_cases)} bins, {len(eval_cases)} evaluations, "
      f"{len(prediction_cases)} prediction columns")
