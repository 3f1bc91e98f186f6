#!/usr/bin/env bash
# Build the benchmark model ladder (see make-ladder.py) into $MODELSHIP_LADDER_DIR
# (default ~/.cache/modelship/ladder), once: a model already built by the same generator and pins is kept.
# Usage: make-ladder.sh [NAME ...]   (default: mlp resnet18; also: big). Prints one "<name> <dir>" line per model.
# The models are not committed (tens of MB each); the venv (pinned onnx, onnxruntime, numpy from PyPI) is
# cached under ~/.cache/modelship, named after its pins.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MODELSHIP_CACHE_DIR:-$HOME/.cache/modelship}"
out="${MODELSHIP_LADDER_DIR:-$cache/ladder}"
pins=(onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(mlp resnet18)

pins_hash="$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-8)"
hash="$( (cat "$here/make-ladder.py"; printf '%s\n' "${pins[@]}") | sha256sum | cut -c1-16)"
todo=()
for n in "${names[@]}"; do
  case "$n" in mlp | resnet18 | big) ;; *) echo "make-ladder.sh: unknown model '$n' (mlp, resnet18, big)" >&2; exit 2 ;; esac
  if [ ! -f "$out/$n/model.onnx" ] || [ "$(cat "$out/$n/.generator" 2>/dev/null)" != "$hash" ]; then todo+=("$n"); fi
done

if [ ${#todo[@]} -gt 0 ]; then
  venv="$cache/ladder-venv-$pins_hash"
  if ! "$venv/bin/python" -c 'import onnx, onnxruntime, numpy' 2>/dev/null; then
    echo "make-ladder.sh: creating $venv (pip install ${pins[*]}; once per machine)" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >&2
  fi
  mkdir -p "$out"
  # one builder at a time per output folder (tests and benchmarks may ask at once)
  (
    flock 9
    left=()
    for n in "${todo[@]}"; do
      if [ "$(cat "$out/$n/.generator" 2>/dev/null)" != "$hash" ]; then left+=("$n"); fi
    done
    if [ ${#left[@]} -gt 0 ]; then LADDER_HASH="$hash" "$venv/bin/python" "$here/make-ladder.py" "$out" "${left[@]}" >&2; fi
  ) 9>"$out/.lock"
fi
for n in "${names[@]}"; do echo "$n $out/$n"; done
