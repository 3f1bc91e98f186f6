"""Benchmark peer: Ray Serve serving the same ONNX model with @serve.batch.

Starts a local Ray (no dashboard, usage stats off) and one deployment taking the same V2 JSON as the runtime
on POST /v2/models/<name>/infer (queued requests are concatenated along axis 0 by @serve.batch, up to 32
rows, waiting at most 1 ms for more), answering V2 JSON. Usage: python rayserve_app.py MODEL.onnx PORT NAME.
RAY_REPLICAS: replicas (each with its own session); ORT_THREADS: intra-op threads per session.
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

MODEL, PORT, NAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
REPLICAS = int(os.environ.get("RAY_REPLICAS", "1"))
THREADS = int(os.environ.get("ORT_THREADS", "1"))
DATATYPES = {np.dtype("float32"): "FP32", np.dtype("int64"): "INT64", np.dtype("float64"): "FP64"}


@serve.deployment(num_replicas=REPLICAS, max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class OnnxModel:
    def __init__(self, path: str) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.001)
    async def run(self, xs: list) -> list:
        """Queued requests' inputs in, each request's outputs (one array per model output) back."""
        cuts = np.cumsum([x.shape[0] for x in xs])[:-1]
        ys = self.session.run(self.output_names, {self.input_name: np.concatenate(xs)})
        per_output = [np.split(y, cuts) for y in ys]
        return list(zip(*per_output))

    async def __call__(self, request: Request):
        try:
            body = json.loads(await request.body())
            (i,) = body["inputs"]
            x = np.asarray(i["data"], dtype=np.float32).reshape(i["shape"])
        except (ValueError, KeyError, TypeError) as err:
            return JSONResponse({"error": f"bad request: {err}"}, status_code=400)
        ys = await self.run(x)
        outputs = [
            {"name": n, "datatype": DATATYPES.get(y.dtype, "FP32"), "shape": list(y.shape), "data": y.reshape(-1).tolist()}
            for n, y in zip(self.output_names, ys)
        ]
        return JSONResponse({"outputs": outputs})


if __name__ == "__main__":
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(OnnxModel.bind(MODEL), name="onnx", route_prefix=f"/v2/models/{NAME}/infer")
    print("ready", flush=True)
    while True:
        time.sleep(3600)
