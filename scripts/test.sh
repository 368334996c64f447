#!/usr/bin/env bash
# Installs everything into .venv and runs the whole test suite: lint, unit tests, notebook checks
# and nbval on the executed solutions notebook; then the student's path on Colab's own package
# versions, in .venv-colab (scripts/test_colab_versions.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
ruff check .
ruff format --check .
python -m pytest
bash scripts/test_colab_versions.sh
