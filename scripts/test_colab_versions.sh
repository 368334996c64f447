#!/usr/bin/env bash
# The student's path on Colab's own (older) package versions: creates .venv-colab from
# requirements-colab.txt and runs the simulated Colab setup cell, the checks on the reference
# solutions, the notebook's cells at reduced size (to the test-loss table), and the explorer
# widget's redraw. No nbval and no digit-for-digit comparisons here: the stored outputs were made
# with requirements.txt's versions, and another numba may move last digits.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${COLAB_VENV:-.venv-colab}"
PYTHON="${COLAB_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements-colab.txt
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
names = ("torch", "numpy", "pandas", "plotly", "ipywidgets", "numba", "tqdm", "einops", "jaxtyping")
print("Colab versions under test:", ", ".join(f"{n} {md.version(n)}" for n in names))
PY
"$VENV/bin/python" -m pytest -p no:nbval -p no:cacheprovider -o addopts="-ra" \
    tests/test_colab.py tests/test_checks_reference.py tests/test_part4_analysis.py \
    tests/test_notebook_backends.py::test_cells_run_to_the_test_loss_table
