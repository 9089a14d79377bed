#!/usr/bin/python3
"""Small JSON assertions for the shell integration tests (exit 0 when the check holds).

  jcheck.py same-predictions A B   every JSON line of A and B: same quality, probabilities
                                   within 1e-9 (model/version fields are not compared)
  jcheck.py expr FILE PYEXPR       PYEXPR is true for j = the JSON document in FILE
"""
import json
import sys


def lines(path):
    with open(path) as f:
        text = f.read().strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def same(a, b):
    la, lb = lines(a), lines(b)
    if len(la) != len(lb) or not la:
        print(f"{len(la)} vs {len(lb)} predictions")
        return 1
    for i, (x, y) in enumerate(zip(la, lb)):
        if x["quality"] != y["quality"]:
            print(f"item {i}: quality {x['quality']} vs {y['quality']}")
            return 1
        px, py = x.get("probabilities") or {}, y.get("probabilities") or {}
        if set(px) != set(py) or any(abs(px[k] - py[k]) > 1e-6 for k in px):
            print(f"item {i}: probabilities {px} vs {py}")
            return 1
    return 0


def main():
    if sys.argv[1] == "same-predictions":
        return same(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "expr":
        with open(sys.argv[2]) as f:
            j = json.load(f)
        ok = eval(sys.argv[3], {"j": j})
        if not ok:
            print(f"false: {sys.argv[3]} for {json.dumps(j)[:400]}")
        return 0 if ok else 1
    return 2


sys.exit(main())
