"""Benchmark peer: BentoML serving the same ONNX model with its adaptive batching on.

POST /infer with {"input": [[...row...]]} (one row per request; BentoML concatenates queued requests along
axis 0 into one call, up to max_batch_size rows, its dispatcher learns how long to wait; max_latency_ms 30 s like the runtime's request timeout, since
BentoML answers 503 to a request that has waited longer), answering the output rows
as a JSON array (a model with several outputs, e.g. iris's label and probabilities: each row is the outputs'
values concatenated, outputs in the order of their names, so every output is computed and sent). MODEL_PATH: the .onnx file; BENTO_WORKERS: worker processes (each with its own session and
batcher); ORT_THREADS: intra-op threads per session. Run: `bentoml serve bentoml_service:OnnxModel --port P`.
"""

import os

import bentoml
import numpy as np
import onnxruntime as ort

WORKERS = int(os.environ.get("BENTO_WORKERS", "1"))


@bentoml.service(workers=WORKERS, traffic={"timeout": 120})
class OnnxModel:
    def __init__(self) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.environ["MODEL_PATH"], opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = sorted(o.name for o in self.session.get_outputs())

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=32, max_latency_ms=30000)
    def infer(self, input: np.ndarray) -> np.ndarray:
        ys = self.session.run(self.output_names, {self.input_name: input.astype(np.float32, copy=False)})
        if len(ys) == 1:
            return ys[0]
        return np.concatenate([y.reshape(y.shape[0], -1).astype(np.float32) for y in ys], axis=1)
