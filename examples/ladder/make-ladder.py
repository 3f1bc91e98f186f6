"""Build the benchmark model ladder: ONNX models of real size with seeded random weights (no training).

Run through examples/ladder/make-ladder.sh, which creates a venv with pinned onnx, onnxruntime and numpy
and skips models already built by the same generator. Usage: make-ladder.py OUT_DIR NAME [NAME ...]
Writes, per model, OUT_DIR/<name>/:
  model.onnx      the model (opset 17, IR 8: what onnxruntime-node 1.30 reads), dynamic batch axis "N"
  expected.json   a few input rows and the outputs onnxruntime (Python, pinned) computes for them,
                  in the shape of examples/models/*/expected.json
  request.json    a one-row Open Inference Protocol request body (what the benchmark sends)
Models:
  mlp       dense 1024 -> 2048 -> 1024 -> 16, ReLU (~16 MB; memory-bound, ~1 ms per row on one core)
  resnet18  ResNet-18 layout (conv/relu/add/maxpool/global-avgpool/gemm, batch norm folded into the
            convolutions), input FP32 [N,3,224,224], 1000 logits (~45 MB)
  big       dense 1024 -> 4096 -> 4096 -> 1024 -> 16 (~96 MB), for the pod-start benchmark
The iris model (examples/models/iris) is the ladder's tiny rung and is not built here.
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
SEED = 12


def f32(v) -> float:
    """A float32 written with its shortest repr (0.018427128, not 0.018427127599716187)."""
    return float(str(np.float32(v)))


def tensor_json(name: str, arr: np.ndarray) -> dict:
    return {"name": name, "datatype": "FP32", "shape": list(arr.shape), "data": [f32(v) for v in arr.reshape(-1)]}


class Graph:
    """Accumulates nodes and initializers; names are unique and stable so reruns give identical files."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, prefix: str, arr: np.ndarray) -> str:
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), n))
        return n

    def node(self, op: str, inputs: list, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def dense(self, x: str, fan_in: int, fan_out: int, relu: bool) -> str:
        w = self.rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        b = self.rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.01)
        y = self.node("Gemm", [x, self.const("w", w), self.const("b", b)])
        return self.node("Relu", [y]) if relu else y

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool, scale: float = 1.0) -> str:
        # He-initialised weights; the bias stands for a batch norm folded into the convolution
        w = self.rng.standard_normal((cout, cin, k, k), dtype=np.float32) * np.float32(scale * np.sqrt(2.0 / (cin * k * k)))
        b = self.rng.standard_normal(cout, dtype=np.float32) * np.float32(0.01)
        p = k // 2
        y = self.node("Conv", [x, self.const("w", w), self.const("b", b)], kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p])
        return self.node("Relu", [y]) if relu else y

    def model(self, name: str, x: str, in_shape: list, out_name: str, out_shape: list) -> onnx.ModelProto:
        # the last node's output takes the graph output's name
        self.nodes[-1].output[0] = out_name
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
            self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="modelship-ladder")
        m.ir_version = IR_VERSION
        return m


def dense_net(name: str, widths: list, out_width: int) -> tuple:
    g = Graph(np.random.default_rng(SEED))
    x = "input"
    y = x
    for a, b in zip(widths, widths[1:]):
        y = g.dense(y, a, b, relu=True)
    g.dense(y, widths[-1], out_width, relu=False)
    m = g.model(name, x, ["N", widths[0]], "scores", ["N", out_width])
    rows = np.round(np.random.default_rng(SEED + 1).uniform(-1, 1, (4, widths[0])), 3).astype(np.float32)
    return m, rows


def resnet18() -> tuple:
    g = Graph(np.random.default_rng(SEED))
    x = "input"
    y = g.conv(x, 3, 64, 7, 2, relu=True)
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            h = g.conv(y, cin, cout, 3, s, relu=True)
            # the second convolution scaled down so the residual sums stay of order one over 8 blocks
            h = g.conv(h, cout, cout, 3, 1, relu=False, scale=0.5)
            short = g.conv(y, cin, cout, 1, s, relu=False) if (s != 1 or cin != cout) else y
            y = g.node("Relu", [g.node("Add", [h, short])])
            cin = cout
    y = g.node("GlobalAveragePool", [y])
    y = g.node("Flatten", [y], axis=1)
    g.dense(y, 512, 1000, relu=False)
    m = g.model("resnet18", x, ["N", 3, 224, 224], "logits", ["N", 1000])
    rows = np.round(np.random.default_rng(SEED + 1).uniform(-1, 1, (2, 3, 224, 224)), 2).astype(np.float32)
    return m, rows


BUILDERS = {
    "mlp": lambda: dense_net("mlp", [1024, 2048, 1024], 16),
    "resnet18": resnet18,
    "big": lambda: dense_net("big", [1024, 4096, 4096, 1024], 16),
}


def build(out_dir: str, name: str) -> None:
    model, rows = BUILDERS[name]()
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    (got,) = sess.run(None, {"input": rows})
    if not np.all(np.isfinite(got)):
        sys.exit(f"{name}: onnxruntime output is not finite")
    # one run per row as well: the expected outputs must not depend on the batch size they ran in
    for i in range(rows.shape[0]):
        (one,) = sess.run(None, {"input": rows[i : i + 1]})
        if not np.allclose(one[0], got[i], rtol=1e-4, atol=1e-4 * float(np.abs(got).max())):
            sys.exit(f"{name}: row {i} alone differs from the batch")
    expected = {
        "description": f"{name}: seeded random weights (examples/ladder/make-ladder.py); outputs by onnxruntime {ort.__version__}",
        "inputs": [tensor_json("input", rows)],
        "outputs": [tensor_json(out_name, got)],
    }
    request = {"inputs": [tensor_json("input", rows[:1])]}
    tmp = os.path.join(out_dir, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(tmp, "model.onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(tmp, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")
    with open(os.path.join(tmp, "request.json"), "w") as f:
        json.dump(request, f)
        f.write("\n")
    # the generator's hash (make-ladder.sh): a model built by another generator or pins is rebuilt
    with open(os.path.join(tmp, ".generator"), "w") as f:
        f.write(os.environ.get("LADDER_HASH", "unknown") + "\n")
    final = os.path.join(out_dir, name)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    print(f"{name}: {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR NAME [NAME ...] (names: {', '.join(BUILDERS)})")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name in sys.argv[2:]:
        if name not in BUILDERS:
            sys.exit(f"unknown ladder model {name!r} (names: {', '.join(BUILDERS)})")
    for name in sys.argv[2:]:
        build(out_dir, name)


if __name__ == "__main__":
    main()
