"""Train small scikit-learn models, convert them to ONNX and record expected outputs.

Run through examples/make-models.sh, which creates examples/.venv with pinned packages.
Outputs, per model, under examples/models/<name>/:
  model.onnx          the converted model (what the runtime serves)
  model.onnx.sha256   its sha256 (hex, as `sha256sum` prints it)
  expected.json       inputs and the outputs scikit-learn computed for them
  model.joblib        (iris only) the fitted scikit-learn model, for the benchmark peers
                      (Flask + pickle, MLServer); the runtime never loads it.
Plus examples/models/broken/model.onnx: bytes that are not an ONNX model.
And two misbehaving test fixtures with iris's signature (input FP32 [-1,4] -> label, probabilities), built
by adding nodes to the iris graph: iris-flaky (onnxruntime raises for rows with sepal length > 7.0, so the
runtime answers 500 for requests holding such a row) and iris-slow (a loop of matrix products makes every
run much slower; the answers stay iris's).
"""

import hashlib
import json
import os
import sys

import joblib
import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
# onnxruntime-node 1.30 reads IR <= 10 and opset <= 21 (ai.onnx.ml <= 4); pin below both.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
IR_VERSION = 8


def rename(model: onnx.ModelProto, mapping: dict) -> None:
    """Rename graph outputs (and every reference to them)."""
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
    for out in model.graph.output:
        if out.name in mapping:
            out.name = mapping[out.name]


def save(name: str, model: onnx.ModelProto, expected: dict) -> None:
    model.ir_version = IR_VERSION
    model.graph.name = name  # skl2onnx picks a random uuid; fix it so reruns give identical files
    onnx.checker.check_model(model)
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    data = model.SerializeToString()
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "model.onnx.sha256"), "w") as f:
        f.write(f"{digest}  model.onnx\n")
    # Cross-check with onnxruntime (python) so a conversion problem fails here, not in tests.
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {
        i["name"]: np.array(i["data"], dtype=DTYPES[i["datatype"]]).reshape(i["shape"])
        for i in expected["inputs"]
    }
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    # a ZipMap output (a list of {class: probability}) compares as the [N, classes] matrix the runtime serves
    got = {k: [list(d.values()) for d in v] if isinstance(v, list) and v and isinstance(v[0], dict) else v for k, v in got.items()}
    for o in expected["outputs"]:
        if o["datatype"] in ("BYTES", "BOOL"):
            if np.asarray(got[o["name"]]).reshape(-1).tolist() != o["data"]:
                sys.exit(f"{name}: onnxruntime output {o['name']} differs")
            continue
        g = np.asarray(got[o["name"]]).reshape(-1).astype(np.float64)
        e = np.asarray(o["data"], dtype=np.float64).reshape(-1)
        if not np.allclose(g, e, rtol=1e-4, atol=1e-4):
            sys.exit(f"{name}: onnxruntime output {o['name']} {g} differs from scikit-learn {e}")
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"{name}: {len(data)} bytes sha256 {digest}")


DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16, "INT16": np.int16,
    "UINT32": np.uint32, "INT32": np.int32, "UINT64": np.uint64, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": object,
}


def tensor(name: str, datatype: str, arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    flat = arr.reshape(-1)
    # FP32 values written with their shortest float32 repr (5.1, not 5.099999904632568)
    data = [float(str(np.float32(v))) for v in flat] if datatype == "FP32" else flat.tolist()
    return {"name": name, "datatype": datatype, "shape": list(arr.shape), "data": data}


def iris_model() -> tuple:
    """The iris LogisticRegression, its ONNX conversion (outputs renamed) and its expected.json."""
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    onx = convert_sklearn(
        clf,
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(clf): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    rename(onx, {"output_label": "label", "output_probability": "probabilities"})
    # rows far from decision boundaries, one per class, plus one more
    rows = X[[0, 50, 100, 149]]
    expected = {
        "description": "LogisticRegression on iris; probabilities FP32 [-1,3], label INT64 [-1]",
        "inputs": [tensor("input", "FP32", rows)],
        "outputs": [
            tensor("probabilities", "FP32", clf.predict_proba(rows).astype(np.float32)),
            tensor("label", "INT64", clf.predict(rows).astype(np.int64)),
        ],
    }
    return clf, onx, expected


def iris() -> None:
    clf, onx, expected = iris_model()
    save("iris", onx, expected)
    joblib.dump(clf, os.path.join(ROOT, "iris", "model.joblib"))


def rewire_outputs(model: onnx.ModelProto, suffix: str) -> tuple:
    """Renames the nodes' outputs `label` and `probabilities` to <name><suffix> (the graph outputs keep
    their names, to be produced by nodes added after); returns the two new names."""
    label, probs = f"label{suffix}", f"probabilities{suffix}"
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name == "label":
                node.output[i] = label
            elif name == "probabilities":
                node.output[i] = probs
    return label, probs


def add_to_outputs(model: onnx.ModelProto, zeros_n: str, label: str, probs: str) -> None:
    """Makes both graph outputs depend on `zeros_n` (FP32 [N], all zeros when the run succeeds), so
    onnxruntime runs the added nodes whichever outputs a request fetches."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    g = model.graph
    g.initializer.append(helper.make_tensor("fx_axis1", TensorProto.INT64, [1], [1]))
    g.node.extend(
        [
            helper.make_node("Unsqueeze", [zeros_n, "fx_axis1"], ["fx_zeros_n1"]),
            helper.make_node("Add", [probs, "fx_zeros_n1"], ["probabilities"]),
            helper.make_node("Cast", [zeros_n], ["fx_zeros_i64"], to=TensorProto.INT64),
            helper.make_node("Add", [label, "fx_zeros_i64"], ["label"]),
        ]
    )


# iris-flaky fails every row whose sepal length (input column 0) is above this: 12 of iris's 150 rows
FLAKY_SEPAL_LENGTH = 7.0


def iris_flaky() -> None:
    """Iris that loads and serves but fails at run time for some inputs: a Gather whose index is 0 for
    a row with sepal length <= 7.0 and 1000 (out of range) above it, so onnxruntime raises."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    clf, onx, expected = iris_model()
    label, probs = rewire_outputs(onx, "_iris")
    g = onx.graph
    g.initializer.extend(
        [
            helper.make_tensor("fx_col0", TensorProto.INT64, [], [0]),
            helper.make_tensor("fx_limit", TensorProto.FLOAT, [], [FLAKY_SEPAL_LENGTH]),
            helper.make_tensor("fx_out_of_range", TensorProto.INT64, [], [1000]),
            helper.make_tensor("fx_table", TensorProto.FLOAT, [1], [0.0]),
        ]
    )
    g.node.extend(
        [
            helper.make_node("Gather", ["input", "fx_col0"], ["fx_sepal"], axis=1),
            helper.make_node("Greater", ["fx_sepal", "fx_limit"], ["fx_bad"]),
            helper.make_node("Cast", ["fx_bad"], ["fx_bad_i64"], to=TensorProto.INT64),
            helper.make_node("Mul", ["fx_bad_i64", "fx_out_of_range"], ["fx_index"]),
            helper.make_node("Gather", ["fx_table", "fx_index"], ["fx_zeros"], axis=0),
        ]
    )
    add_to_outputs(onx, "fx_zeros", label, probs)
    X, _ = load_iris(return_X_y=True)
    failing = X[X[:, 0] > FLAKY_SEPAL_LENGTH].astype(np.float32)
    expected = {
        **expected,
        "description": "iris-flaky (test fixture): iris's LogisticRegression; a request holding a row with "
        f"sepal length (input column 0) > {FLAKY_SEPAL_LENGTH} fails in onnxruntime (HTTP 500); "
        f"{len(failing)} of iris's 150 rows do. `failing_inputs` holds one such row.",
        "failing_inputs": [tensor("input", "FP32", failing[:1])],
    }
    save("iris-flaky", onx, expected)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    try:
        sess.run(None, {"input": failing[:1]})
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
        print(f"iris-flaky: a failing row raises as intended ({type(err).__name__})")
    else:
        sys.exit("iris-flaky: the failing row did not fail")


# iris-slow's cost: SLOW_ITERATIONS products of a [N,SLOW_WIDTH] activation with a [SLOW_WIDTH,SLOW_WIDTH] matrix
SLOW_WIDTH = 512
SLOW_ITERATIONS = 2000


def iris_slow() -> None:
    """Iris with a Loop of SLOW_ITERATIONS MatMul+Tanh steps on a [N,256] activation built from the input;
    the loop's result, times zero, is added to the outputs, so the answers are iris's, only later."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    clf, onx, expected = iris_model()
    label, probs = rewire_outputs(onx, "_iris")
    g = onx.graph
    # the matrix is made in the graph (Expand of a scalar), so the file stays small
    g.initializer.extend(
        [
            helper.make_tensor("fx_w_value", TensorProto.FLOAT, [], [1.0 / SLOW_WIDTH]),
            helper.make_tensor("fx_w_shape", TensorProto.INT64, [2], [SLOW_WIDTH, SLOW_WIDTH]),
            helper.make_tensor("fx_spread", TensorProto.INT64, [2], [1, SLOW_WIDTH // 4]),
            helper.make_tensor("fx_trips", TensorProto.INT64, [], [SLOW_ITERATIONS]),
            helper.make_tensor("fx_true", TensorProto.BOOL, [], [True]),
            helper.make_tensor("fx_zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("fx_axes1", TensorProto.INT64, [1], [1]),
        ]
    )
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "fx_w"], ["h_mm"]),
            helper.make_node("Tanh", ["h_mm"], ["h_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "slow_body",
        [
            helper.make_tensor_value_info("iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["N", SLOW_WIDTH]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["N", SLOW_WIDTH]),
        ],
    )
    g.node.extend(
        [
            helper.make_node("Expand", ["fx_w_value", "fx_w_shape"], ["fx_w"]),
            helper.make_node("Tile", ["input", "fx_spread"], ["fx_h0"]),
            helper.make_node("Loop", ["fx_trips", "fx_true", "fx_h0"], ["fx_h"], body=body),
            helper.make_node("ReduceSum", ["fx_h", "fx_axes1"], ["fx_sum"], keepdims=0),
            helper.make_node("Mul", ["fx_sum", "fx_zero"], ["fx_zeros"]),
        ]
    )
    add_to_outputs(onx, "fx_zeros", label, probs)
    expected = {
        **expected,
        "description": f"iris-slow (test fixture): iris's LogisticRegression and answers, after a Loop of "
        f"{SLOW_ITERATIONS} MatMul+Tanh steps on a [N,{SLOW_WIDTH}] activation (much slower per request)",
    }
    save("iris-slow", onx, expected)


def regressor() -> None:
    X, y = load_diabetes(return_X_y=True)
    X = X.astype(np.float32)
    reg = LinearRegression().fit(X, y)
    onx = convert_sklearn(reg, initial_types=[("input", FloatTensorType([None, 10]))], target_opset=TARGET_OPSET)
    rename(onx, {"variable": "prediction"})
    rows = X[:3]
    expected = {
        "description": "LinearRegression on diabetes; input FP32 [-1,10], prediction FP32 [-1,1]",
        "inputs": [tensor("input", "FP32", rows)],
        "outputs": [tensor("prediction", "FP32", reg.predict(rows).reshape(-1, 1).astype(np.float32))],
    }
    save("regressor", onx, expected)


def two_inputs() -> None:
    """Two named inputs of different types: numeric features FP32 [-1,2] and a category id INT64 [-1,1]."""
    rng = np.random.default_rng(7)
    n = 200
    features = np.round(rng.normal(size=(n, 2)), 2).astype(np.float32)
    cat = rng.integers(0, 3, size=(n, 1)).astype(np.int64)
    y = features[:, 0] * 2.0 - features[:, 1] + cat[:, 0] * 3.0
    X = np.hstack([features.astype(np.float64), cat.astype(np.float64)])
    pre = ColumnTransformer(
        [("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(handle_unknown="ignore"), [2])]
    )
    pipe = Pipeline([("pre", pre), ("reg", LinearRegression())]).fit(X, y)
    onx = convert_sklearn(
        pipe,
        initial_types=[("features", FloatTensorType([None, 2])), ("cat", Int64TensorType([None, 1]))],
        target_opset=TARGET_OPSET,
    )
    rename(onx, {"variable": "prediction"})
    rows = slice(0, 3)
    expected = {
        "description": "ColumnTransformer(StandardScaler, OneHotEncoder) + LinearRegression; "
        "inputs features FP32 [-1,2], cat INT64 [-1,1]; prediction FP32 [-1,1]",
        "inputs": [tensor("features", "FP32", features[rows]), tensor("cat", "INT64", cat[rows])],
        "outputs": [tensor("prediction", "FP32", pipe.predict(X[rows]).reshape(-1, 1).astype(np.float32))],
    }
    save("two-inputs", onx, expected)


def fixed_shape() -> None:
    """A fixed [3,4] input (no batch dimension): StandardScaler fitted on iris."""
    X, _ = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    sc = StandardScaler().fit(X)
    onx = convert_sklearn(sc, initial_types=[("matrix", FloatTensorType([3, 4]))], target_opset=TARGET_OPSET)
    rename(onx, {"variable": "scaled"})
    # make the output shape explicit too
    for d, v in zip(onx.graph.output[0].type.tensor_type.shape.dim, [3, 4]):
        d.ClearField("dim_param")
        d.dim_value = v
    rows = X[[0, 50, 100]]
    expected = {
        "description": "StandardScaler on iris with a fixed input shape [3,4]; scaled FP32 [3,4]",
        "inputs": [tensor("matrix", "FP32", rows)],
        "outputs": [tensor("scaled", "FP32", sc.transform(rows).astype(np.float32))],
    }
    save("fixed-shape", onx, expected)


def dtypes() -> None:
    """Identity for every V2 datatype onnxruntime supports (a protocol fixture, not a trained model)."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    types = [
        ("b", "BOOL", TensorProto.BOOL, [True, False, False, True]),
        ("u8", "UINT8", TensorProto.UINT8, [0, 255, 7, 8]),
        ("i8", "INT8", TensorProto.INT8, [-128, 127, -1, 0]),
        ("u16", "UINT16", TensorProto.UINT16, [0, 65535, 1, 2]),
        ("i16", "INT16", TensorProto.INT16, [-32768, 32767, -3, 4]),
        ("u32", "UINT32", TensorProto.UINT32, [0, 4294967295, 5, 6]),
        ("i32", "INT32", TensorProto.INT32, [-2147483648, 2147483647, -7, 8]),
        ("u64", "UINT64", TensorProto.UINT64, [0, 9007199254740991, 9, 10]),
        ("i64", "INT64", TensorProto.INT64, [-9007199254740991, 9007199254740991, -11, 12]),
        ("f16", "FP16", TensorProto.FLOAT16, [0.5, -2.25, 65504.0, 0.0]),
        ("f32", "FP32", TensorProto.FLOAT, [0.5, -2.25, 3.0e38, 1.0e-30]),
        ("f64", "FP64", TensorProto.DOUBLE, [0.1, -2.25, 1.0e300, 5.0e-324]),
        ("s", "BYTES", TensorProto.STRING, ["hello", "", "wörld", "a\"b"]),
    ]
    inputs = [helper.make_tensor_value_info(n, t, ["batch", 2]) for n, _, t, _ in types]
    outputs = [helper.make_tensor_value_info(f"out_{n}", t, ["batch", 2]) for n, _, t, _ in types]
    nodes = [helper.make_node("Identity", [n], [f"out_{n}"]) for n, _, _, _ in types]
    graph = helper.make_graph(nodes, "dtypes", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelship-examples")
    tensors = [{"name": n, "datatype": dt, "shape": [2, 2], "data": data} for n, dt, _, data in types]
    expected = {
        "description": "Identity per datatype: inputs <name> [-1,2] -> outputs out_<name>; every V2 datatype onnxruntime supports",
        "inputs": tensors,
        "outputs": [{**t, "name": f"out_{t['name']}"} for t in tensors],
    }
    save("dtypes", model, expected)


def iris_zipmap() -> None:
    """What most users convert first: a scikit-learn classifier with string classes through skl2onnx's
    defaults, ZipMap included (the runtime removes it at load and serves the probabilities as a tensor)."""
    data = load_iris()
    X = data.data.astype(np.float32)
    y = data.target_names[data.target]
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    onx = convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=TARGET_OPSET)
    rows = X[[0, 50, 100, 149]]
    expected = {
        "description": "LogisticRegression on iris with string classes, skl2onnx defaults (ZipMap): output_label BYTES [-1], "
        "output_probability FP32 [-1,3] as served (the ZipMap removed), classes " + ",".join(clf.classes_),
        "inputs": [tensor("input", "FP32", rows)],
        "outputs": [
            tensor("output_label", "BYTES", clf.predict(rows)),
            tensor("output_probability", "FP32", clf.predict_proba(rows).astype(np.float32)),
        ],
    }
    save("iris-zipmap", onx, expected)


def broken() -> None:
    d = os.path.join(ROOT, "broken")
    os.makedirs(d, exist_ok=True)
    data = b"this is not an ONNX model\n"
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, "model.onnx.sha256"), "w") as f:
        f.write(f"{hashlib.sha256(data).hexdigest()}  model.onnx\n")
    print("broken: written")


if __name__ == "__main__":
    iris()
    iris_flaky()
    iris_slow()
    regressor()
    two_inputs()
    fixed_shape()
    dtypes()
    iris_zipmap()
    broken()
