"""A scikit-learn pipeline with preprocessing, converted with skl2onnx's default options.

Numeric columns are scaled, a string column is one-hot encoded, a LogisticRegression classifies.
ONNX inputs: `n0`, `n1`, `n2` FP32 [N, 1] and `city` BYTES [N, 1]; outputs `output_label` INT64 [N] and
`output_probability` FP32 [N, 2] (skl2onnx adds a ZipMap by default; the runtime removes it).
usage: python sklearn_pipeline.py <output folder>
"""

import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from common import TARGET_OPSET, write

rng = np.random.default_rng(7)
n = 400
num = rng.normal(size=(n, 3)).astype(np.float32)
city = rng.choice(["berlin", "lyon", "porto"], size=(n, 1))
y = ((num[:, 0] + (city[:, 0] == "lyon") * 1.5 - num[:, 2]) > 0.3).astype(np.int64)

# the ColumnTransformer selects columns by name; skl2onnx makes one ONNX input per column, same names
frame = pd.DataFrame({"n0": num[:, 0], "n1": num[:, 1], "n2": num[:, 2], "city": city[:, 0]})
pipe = Pipeline(
    [
        ("prep", ColumnTransformer([("scale", StandardScaler(), ["n0", "n1", "n2"]), ("onehot", OneHotEncoder(), ["city"])])),
        ("clf", LogisticRegression(max_iter=1000)),
    ]
).fit(frame, y)
onx = convert_sklearn(
    pipe,
    initial_types=[("n0", FloatTensorType([None, 1])), ("n1", FloatTensorType([None, 1])), ("n2", FloatTensorType([None, 1])), ("city", StringTensorType([None, 1]))],
    target_opset=TARGET_OPSET,
)
rows = frame.iloc[:5]
write(
    onx,
    {"n0": num[:5, 0:1], "n1": num[:5, 1:2], "n2": num[:5, 2:3], "city": city[:5]},
    {"output_label": pipe.predict(rows).astype(np.int64), "output_probability": pipe.predict_proba(rows).astype(np.float32)},
    "scikit-learn Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder), LogisticRegression), skl2onnx defaults",
)
