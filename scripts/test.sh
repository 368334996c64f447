#!/usr/bin/env bash
# Installs everything into .venv and runs the whole test suite: lint, unit tests, notebook checks
# and nbval on the executed solutions notebook.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
ruff check .
ruff format --check .
python -m pytest
