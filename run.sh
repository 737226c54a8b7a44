#!/usr/bin/env bash
# Sets up .venv on first use, then starts Loss Landscape Lab (default scenario, or: ./run.sh open FILE,
# ./run.sh run FILE --out DIR, ./run.sh check scenarios/, ./run.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python main.py "$@"
