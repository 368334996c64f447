#!/usr/bin/env bash
# Installs everything into .venv, runs the solutions notebook end to end (the full sweep through
# the engine) into build/, and renders the reference figures into images/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
python scripts/build_notebooks.py --execute-to build/part4_double_descent_solutions.ipynb
if python -c "import choreographer.utils._which as w; assert w.browser_which()" 2>/dev/null; then
    python scripts/make_figures.py
else
    echo "No Chromium found: skipped the PNGs in images/ (install one, e.g. Debian's chromium)."
fi
