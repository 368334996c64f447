#!/usr/bin/env bash
# Installs everything into .venv, runs the solutions notebook end to end (the full sweep through
# the engine) into build/, renders it as an HTML report (no browser needed), and renders the
# reference figures into images/ (plus the README's results table). Images need a Chrome or
# Chromium that kaleido can find: without one, the executed notebook in build/ has interactive
# figures but no PNGs beside them, the reference PNGs are skipped and images/ is kept; each step
# says so, and the run still succeeds.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
NOTEBOOK=build/part4_double_descent_solutions.ipynb
REPORT=build/part4_double_descent_solutions.html

step=""
hint=""
begin() {  # begin STEP HINT: announce a step and what to do if it fails
    step=$1
    hint=$2
    echo "==> [${SECONDS}s] $step"
}
trap 'echo "replicate.sh: FAILED while $step. $hint If the error above says \"No space left on device\", free disk space and run again." >&2' ERR

begin "installing the environment into ${VENV:-.venv} (scripts/setup_env.sh)" \
    "Check the pip error above (network, Python 3.10+ with venv), delete ${VENV:-.venv} and run again."
. scripts/setup_env.sh
begin "running the solutions notebook into $NOTEBOOK (the sweep takes minutes)" \
    "The failing cell and its traceback are above; a finished or partial sweep is kept in .sweep_cache/ and reused on the next run."
python scripts/build_notebooks.py --execute-to "$NOTEBOOK"
begin "writing the HTML report $REPORT (scripts/make_report.py)" \
    "The traceback above says which output could not be rendered."
python scripts/make_report.py "$NOTEBOOK" -o "$REPORT"
begin "rendering the reference figures and the README results table (scripts/make_figures.py)" \
    "The traceback above says which figure failed."
python scripts/make_figures.py
trap - ERR
if python -c "import sys; sys.path.insert(0, 'scripts'); from browsers import find_chromium; sys.exit(find_chromium() is None)"; then
    images="with a PNG beside each figure"
else
    images="without figure images (no Chrome or Chromium: a viewer without JavaScript shows no figures)"
fi

cat <<EOF

Replication finished in ${SECONDS}s. Results:
  $REPORT   the HTML report: open it in any browser (works offline)
  $NOTEBOOK  the executed notebook, $images
  images/*.png, README.md (results table)  the reference figures and numbers (PNGs need a browser: see above)
EOF
