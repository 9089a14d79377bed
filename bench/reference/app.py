"""The Python reference stack, for benchmark ratios only: scikit-learn's SVC behind a Flask /predict.

What the Python tutorial wineq replaces did: a StandardScaler + SVC(rbf, C=1, gamma="scale",
probability=True) pipeline trained on the same three features and the same train split, served
by Flask. Run with Debian's python3-sklearn and python3-flask (call /usr/bin/python3), under
gunicorn as the benchmark does (wsgi.py beside this file builds `app` from WINEQ_REF_TRAIN):

    WINEQ_REF_TRAIN=TRAIN.csv gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench/reference wsgi:app

or on Flask's own development server:

    /usr/bin/python3 bench/reference/app.py TRAIN.csv PORT

TRAIN.csv is `wineq-client split --train-out` (the rows wineq trains on). Answers
POST /predict with {"alcohol": .., "volatile acidity": .., "sulphates": ..} as wineqd does,
and GET /healthz.
"""
import csv
import logging
import sys

from flask import Flask, jsonify, request
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

FEATURES = ["alcohol", "volatile acidity", "sulphates"]


def read_rows(path):
    with open(path, newline="") as f:
        head = f.readline()
        f.seek(0)
        rows = list(csv.DictReader(f, delimiter=";" if ";" in head else ","))
    X = [[float(r[c]) for c in FEATURES] for r in rows]
    y = [int(float(r["quality"])) for r in rows]
    return X, y


def create_app(train):
    """The Flask application serving a model fitted on the rows of the CSV file train."""
    X, y = read_rows(train)
    model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, gamma="scale",
                                                probability=True, random_state=42))
    model.fit(X, y)
    app = Flask("seed")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    @app.post("/predict")
    def predict():
        wine = request.get_json(force=True)
        x = [[float(wine[c]) for c in FEATURES]]
        quality = int(model.predict(x)[0])
        probs = model.predict_proba(x)[0]
        return jsonify({"quality": quality,
                        "probabilities": {str(c): float(p) for c, p in
                                          zip(model.classes_, probs)}})

    @app.get("/healthz")
    def healthz():
        return "ok\n"

    return app


def main():
    train, port = sys.argv[1], int(sys.argv[2])
    app = create_app(train)
    print("seed: ready", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
