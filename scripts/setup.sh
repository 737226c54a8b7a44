#!/usr/bin/env bash
# Creates .venv and installs the project with everything it needs. Idempotent: a second run only
# checks a stamp. torch==2.13.0 goes in first (a CPU wheel), so the looser range in pyproject.toml
# is already satisfied and pip never pulls a multi-GB CUDA build on a CPU-only machine
# (TORCH_VERSION=... picks another torch). setuptools >= 77 goes in too: tests/test_packaging.py
# builds the wheel with this venv's own (--no-build-isolation, offline), and Python 3.11's venv
# brings setuptools 65. pip's output goes to .venv/install.log and is shown only when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing packages into .venv (first run only, about a minute)" >&2
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install --upgrade pip "setuptools>=77" \
         && .venv/bin/python -m pip install "torch==${TORCH_VERSION:-2.13.0}" \
         && .venv/bin/python -m pip install -e ".[test]"; } > "$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -30 >&2
    echo "setup: pip failed; the whole log is in $log" >&2
    exit 1
  fi
  .venv/bin/python -c "import torch, PyQt6, pyqtgraph, pandas, scipy, imageio_ffmpeg" \
    || { echo "setup: the installed packages do not import; see $log" >&2; exit 1; }
  rm -f .venv/.installed-* && touch "$stamp"
fi
