"""A small PyTorch network exported with torch.onnx.export, with a dynamic batch axis.

An MLP (4 -> 16 -> 3) trained on three synthetic clusters; its forward returns the class
probabilities and the predicted class. ONNX input `input` FP32 [N, 4]; outputs `probabilities`
FP32 [N, 3] and `label` INT64 [N].
usage: python pytorch_mlp.py <output folder>
"""

import io

import numpy as np
import onnx
import torch

from common import TARGET_OPSET, write


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def forward(self, x):
        probabilities = torch.softmax(self.layers(x), dim=1)
        return probabilities, torch.argmax(probabilities, dim=1)


torch.manual_seed(0)
rng = np.random.default_rng(0)
centres = rng.normal(scale=1.0, size=(3, 4))
y = rng.integers(0, 3, size=300)
X = (centres[y] + rng.normal(size=(300, 4))).astype(np.float32)

model = MLP()
optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
for _ in range(50):
    optimiser.zero_grad()
    torch.nn.functional.cross_entropy(model.layers(inputs), targets).backward()
    optimiser.step()
model.eval()

# torch >= 2.5 has a second exporter, dynamo (the default from 2.9; it needs onnxscript): keep the
# TorchScript exporter, which the call below is written for, in every version
major_minor = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
exporter = {"dynamo": False} if major_minor >= (2, 5) else {}

buffer = io.BytesIO()
torch.onnx.export(
    model,
    (torch.zeros(1, 4),),  # an example input: its values do not matter, its shape and dtype do
    buffer,
    input_names=["input"],
    output_names=["probabilities", "label"],
    # axis 0 of each is the batch: any size at inference (without this, only batches of 1)
    dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}},
    opset_version=TARGET_OPSET[""],
    **exporter,
)
onx = onnx.load_model_from_string(buffer.getvalue())

rows = X[:7]
with torch.no_grad():
    probabilities, label = model(torch.from_numpy(rows))
write(
    onx,
    {"input": rows},
    {"probabilities": probabilities.numpy(), "label": label.numpy().astype(np.int64)},
    "MLP 4-16-3 in PyTorch, torch.onnx.export with a dynamic batch axis",
)
