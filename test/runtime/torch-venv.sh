#!/usr/bin/env bash
# usage: torch-venv.sh <venv> <requirements file> <python imports that prove it is complete>
# Creates the venv of docs/convert/pytorch_mlp.py (torch and its CUDA libraries: about 1.7 GB to
# download, 3.4 GB on disk, 2 to 3 minutes) unless it is already complete, and prints its python last.
# flock: test/run.ts starts this in the background and the test runs it again; the second waits for
# the first and then finds the venv made.
set -euo pipefail
venv=$1 requirements=$2 imports=$3
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$imports" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi
rm -rf "$venv".tmp-* # left by a run that was killed (we hold the lock)
tmp="$venv.tmp-$$"
trap 'rm -rf "$tmp"' EXIT
echo "creating $venv (pip install -r $requirements: about 1.7 GB to download, 3.4 GB on disk; once per machine)" >&2
start=$SECONDS
python3 -m venv "$tmp"
# --no-cache-dir: a copy of the 1.7 GB of wheels in pip's cache would only take disk
"$tmp/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check -r "$requirements" >&2
rm -rf "$venv"
mv "$tmp" "$venv" # venv scripts keep the old path; python itself works from the renamed folder
"$venv/bin/python" -c "$imports"
echo "created $venv in $((SECONDS - start)) s ($(du -sh "$venv" | cut -f1))" >&2
echo "$venv/bin/python"
