"""Shared by the conversion scripts: write model.onnx and expected.json (V2 tensors) into a folder."""

import json
import os
import sys

import numpy as np

# onnxruntime-node 1.30 (the runtime) reads IR <= 10, opset <= 21, ai.onnx.ml <= 4
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

V2 = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(np.float64): "FP64"}


def tensor(name, arr):
    arr = np.asarray(arr)
    if arr.dtype.kind in ("U", "O"):
        return {"name": name, "datatype": "BYTES", "shape": list(arr.shape), "data": [str(v) for v in arr.reshape(-1)]}
    return {"name": name, "datatype": V2[arr.dtype], "shape": list(arr.shape), "data": arr.reshape(-1).tolist()}


def write(onx, inputs, outputs, description):
    """onx: the converted ModelProto; inputs/outputs: {name: array} as the framework saw and predicted them."""
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    expected = {
        "description": description,
        "inputs": [tensor(n, a) for n, a in inputs.items()],
        "outputs": [tensor(n, a) for n, a in outputs.items()],
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {out_dir}/model.onnx and expected.json")
