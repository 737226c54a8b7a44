#!/usr/bin/env bash
# Creates .venv and installs the project with everything it needs. Idempotent: a second run only
# checks. torch==2.13.0 goes in first (a CPU wheel), so the looser range in pyproject.toml is
# already satisfied and pip never pulls a multi-GB CUDA build on a CPU-only machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing packages into .venv (first run only)" >&2
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import torch, PyQt6, pyqtgraph, pandas, scipy" || { echo "setup: install failed" >&2; exit 1; }
  rm -f .venv/.installed-* && touch "$stamp"
fi
