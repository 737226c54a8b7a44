#!/usr/bin/env bash
# Creates benchmarks/.venv-peers with the peer libraries the benchmarks compare against. They are
# NOT project dependencies. torch==2.13.0 goes in first (the same CPU build as the project's .venv),
# so the peers' unpinned "torch" requirement is already satisfied and pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=benchmarks/.venv-peers
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q numpy scipy pandas "loss-landscapes==3.0.6" "pyhessian==0.1"
"$VENV/bin/python" -c "import torch, loss_landscapes, pyhessian; print('peers ready: torch', torch.__version__)"
