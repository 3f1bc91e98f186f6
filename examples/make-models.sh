#!/usr/bin/env bash
# Recreate the example ONNX models under examples/models/ (see examples/README.md).
# Creates examples/.venv (gitignored) with pinned packages from PyPI, then runs make-models.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 joblib==1.6.0
# skl2onnx names some nodes in set order, which follows Python's string hashing: a fixed seed makes the
# files reproducible byte for byte (3 reproduces the committed ones; another seed changes two-inputs)
PYTHONHASHSEED=3 "$venv/bin/python" "$here/make-models.py"
