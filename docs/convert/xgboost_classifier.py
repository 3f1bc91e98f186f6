"""An XGBoost classifier converted with onnxmltools.

ONNX input `input` FP32 [N, 4]; outputs `label` INT64 [N] and `probabilities` FP32 [N, 3].
usage: python xgboost_classifier.py <output folder>
"""

import numpy as np
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from xgboost import XGBClassifier

from common import TARGET_OPSET, write

X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
clf = XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
onx = convert_xgboost(clf, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=15)  # the newest onnxmltools 1.16 writes
rows = X[[0, 50, 100, 149, 70]]
write(
    onx,
    {"input": rows},
    {"label": clf.predict(rows).astype(np.int64), "probabilities": clf.predict_proba(rows).astype(np.float32)},
    "XGBClassifier on iris, onnxmltools.convert_xgboost",
)
