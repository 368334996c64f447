# Source this file: creates (once) and activates .venv with the course and dev requirements.
# PyTorch is installed first on its own: the pinned CPU build where one is available locally,
# so that the requirement files never pull a multi-GB CUDA build onto a CPU-only machine.
set -euo pipefail
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
fi
python -m pip install --quiet -r requirements-dev.txt
