"""A dense ONNX model of about --mb megabytes with random weights, for the pod-start benchmark.

    python make-model.py --out DIR --mb 100 [--seed 7]

Graph: x FP32 [N, 64] -> MatMul [64, 4096] -> Relu -> MatMul [4096, H] -> Relu -> MatMul [H, 4] -> y FP32 [N, 4],
H chosen so the weights total about --mb * 10^6 bytes (the middle matrix is nearly all of it).
Writes DIR/model.onnx, DIR/model.onnx.sha256 and DIR/expected.json (one input row and the output numpy
computes for it, in float32). Needs onnx and numpy only (docs/convert/requirements.txt pins both).
"""

import argparse
import hashlib
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IN, HIDDEN, OUT = 64, 4096, 4
# onnxruntime-node reads IR <= 10 and opset <= 21 (as examples/make-models.py pins)
OPSET, IR_VERSION = 17, 8


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--mb", type=float, default=100.0)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    floats = int(a.mb * 1e6 / 4)
    h2 = max(OUT, (floats - IN * HIDDEN - OUT * HIDDEN) // (HIDDEN + OUT))

    def dense(rows: int, cols: int) -> np.ndarray:
        # scaled so activations stay O(1) through the layers
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(rows)).astype(np.float32)

    w1, w2, w3 = dense(IN, HIDDEN), dense(HIDDEN, h2), dense(h2, OUT)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("MatMul", ["a1", "w2"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("MatMul", ["a2", "w3"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "podstart_dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", OUT])],
        [numpy_helper.from_array(w, n) for w, n in ((w1, "w1"), (w2, "w2"), (w3, "w3"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="modelship-bench-podstart")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "model.onnx")
    onnx.save(model, path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(path + ".sha256", "w") as f:
        f.write(f"{digest}  model.onnx\n")
    x = rng.standard_normal((1, IN), dtype=np.float32)
    y = np.maximum(np.maximum(x @ w1, 0) @ w2, 0) @ w3
    expected = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, IN], "data": x.ravel().tolist()}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, OUT], "data": y.ravel().tolist()}],
    }
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(json.dumps({"path": path, "bytes": os.path.getsize(path), "sha256": digest, "hidden": [HIDDEN, h2]}))


if __name__ == "__main__":
    main()
