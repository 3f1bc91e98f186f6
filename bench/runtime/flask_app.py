"""Benchmark peer: the hand-written service Modelship replaces.

Flask + a pickled (joblib) scikit-learn model on POST /predict with {"instances": [[...], ...]},
answering {"predictions": [...], "probabilities": [...]} (the same work as the runtime: label
and class probabilities). Run under gunicorn (`gunicorn -w <cores> flask_app:app`, optionally `-k gthread`) or
Flask's own server (`python flask_app.py <port>`). MODEL_PATH points at the joblib file.
"""

import os
import sys

import joblib
import numpy as np
from flask import Flask, jsonify, request

model = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
app = Flask(__name__)


@app.post("/predict")
def predict():
    x = np.asarray(request.get_json()["instances"], dtype=np.float32)
    return jsonify(predictions=model.predict(x).tolist(), probabilities=model.predict_proba(x).tolist())


@app.get("/health")
def health():
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
