"""WSGI entry of the reference stack for gunicorn: `app` serves the model app.py fits on the
training CSV named by the environment variable WINEQ_REF_TRAIN (each worker fits its own).

    WINEQ_REF_TRAIN=TRAIN.csv gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench/reference wsgi:app
"""
import os

from app import create_app

app = create_app(os.environ["WINEQ_REF_TRAIN"])
