"""Benchmark peer: the hand-written ONNX service a user would write instead of Modelship.

ONNX Runtime (Python) behind FastAPI on uvicorn, one InferenceSession per worker process created at startup,
a V2-style POST /v2/models/{name}/infer taking and answering Open Inference Protocol JSON (FP32 inputs), and
GET /v2/health/ready. Run: `MODEL_PATH=model.onnx uvicorn ort_fastapi:app --workers 2`. ORT_THREADS sets the
intra-op threads per session (the benchmark gives CPU count / workers, so the workers do not oversubscribe).
"""

import json
import os
from contextlib import asynccontextmanager

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

DATATYPES = {np.dtype("float32"): "FP32", np.dtype("int64"): "INT64", np.dtype("float64"): "FP64"}
state: dict = {}


@asynccontextmanager
async def lifespan(_app: FastAPI):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
    opts.inter_op_num_threads = 1
    state["session"] = ort.InferenceSession(os.environ["MODEL_PATH"], opts, providers=["CPUExecutionProvider"])
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/v2/health/ready")
async def ready():
    return Response(status_code=200 if "session" in state else 503)


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    try:
        body = json.loads(await request.body())
        feeds = {
            i["name"]: np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in body["inputs"]
        }
    except (ValueError, KeyError, TypeError) as err:
        return JSONResponse({"error": f"bad request: {err}"}, status_code=400)
    session: ort.InferenceSession = state["session"]
    results = await run_in_threadpool(session.run, None, feeds)
    outputs = [
        {"name": o.name, "datatype": DATATYPES.get(r.dtype, "FP32"), "shape": list(r.shape), "data": r.reshape(-1).tolist()}
        for o, r in zip(session.get_outputs(), results)
    ]
    return JSONResponse({"model_name": name, "outputs": outputs})
