#!/usr/bin/env bash
# Installs everything into .venv, runs the solutions notebook end to end (the full sweep through
# the engine) into build/, and renders the reference figures into images/ (plus the README's
# results table). The PNGs need a Chrome or Chromium that kaleido can find.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
python scripts/build_notebooks.py --execute-to build/part4_double_descent_solutions.ipynb
if ! python scripts/make_figures.py; then
    echo "Could not write the PNGs: kaleido needs Chrome or Chromium (e.g. Debian's chromium)." >&2
    exit 1
fi
