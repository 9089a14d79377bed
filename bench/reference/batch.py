"""Writes a JSON batch for POST /predict: an array of N wines (the three features), cycling
through the rows of a wine-quality CSV file.

    /usr/bin/python3 bench/reference/batch.py DATA.csv N > batch.json
"""
import csv
import json
import sys

FEATURES = ["alcohol", "volatile acidity", "sulphates"]


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    with open(path, newline="") as f:
        head = f.readline()
        f.seek(0)
        rows = list(csv.DictReader(f, delimiter=";" if ";" in head else ","))
    wines = [{c: float(rows[i % len(rows)][c]) for c in FEATURES} for i in range(n)]
    json.dump(wines, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
