"""Real tritonclient against the runtime, with tritonclient's default binary settings.

usage: python test/runtime/tritonclient_check.py <host:port> <expected.json path> <model name>
Run by test/runtime/tritonclient.test.ts when a Python with tritonclient[http] is available
(MODELSHIP_TRITONCLIENT_PYTHON, or the benchmark venv); exits non-zero on any mismatch.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient

NP = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_,
      "UINT8": np.uint8, "INT8": np.int8, "UINT16": np.uint16, "INT16": np.int16, "UINT32": np.uint32,
      "UINT64": np.uint64, "FP16": np.float16, "BYTES": np.object_}

url, expected_path, model = sys.argv[1], sys.argv[2], sys.argv[3]
expected = json.load(open(expected_path))
client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live(), "server not live"
assert client.is_server_ready(), "server not ready"
assert client.is_model_ready(model), "model not ready"
meta = client.get_model_metadata(model)
assert meta["name"] == model, meta

for binary in (True, False):
    inputs = []
    for t in expected["inputs"]:
        arr = np.array(t["data"], dtype=NP[t["datatype"]]).reshape(t["shape"])
        if t["datatype"] == "BYTES":
            arr = np.array([s.encode() for s in t["data"]], dtype=np.object_).reshape(t["shape"])
        i = httpclient.InferInput(t["name"], t["shape"], t["datatype"])
        i.set_data_from_numpy(arr, binary_data=binary)  # default: binary_data=True
        inputs.append(i)
    outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=binary) for o in expected["outputs"]]
    # once with explicit outputs, once with none (tritonclient then asks for binary_data_output)
    for outs in (outputs, None):
        result = client.infer(model, inputs, outputs=outs, request_id="tc-1")
        assert result.get_response()["id"] == "tc-1", result.get_response()
        for o in expected["outputs"]:
            got = result.as_numpy(o["name"])
            assert got is not None, f"no output {o['name']}"
            assert list(got.shape) == o["shape"], (o["name"], got.shape)
            if o["datatype"] == "BYTES":
                assert [x.decode() if isinstance(x, bytes) else x for x in got.reshape(-1)] == o["data"], (o["name"], got)
            else:
                assert np.allclose(got.reshape(-1).astype(np.float64), np.array(o["data"], dtype=np.float64), rtol=1e-4, atol=1e-4), (o["name"], got, o["data"])
print("tritonclient ok")
