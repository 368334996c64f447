"""The solutions notebook's printed tables do not depend on the engine's backend (reduced size).

The notebook pins `backend="numba"` so that `python -m pytest solutions/` compares like with like
on any machine. This covers the other path, which `backend="auto"` takes on a GPU: the notebook's
own code runs, from its first cell, with a small sweep, once through each backend (the torch one
on the CPU here, the same code as on CUDA), and every output that nbval would compare, from the
sweep to the test-loss table, must agree at the precision the notebook prints.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402

CONFIG = "config = SweepConfig()"
SWEEP = 'result = run_sweep(config, backend="numba")'
SMALL = "config = SweepConfig(sizes=(3, 8, 40), n_instances=2, steps=3_000, warmup_steps=300)"
IGNORED = "nbval-ignore-output"
TABLE_END = "Peak mean test loss"  # the last table that the sweep's numbers feed
SMALL_SWEEP = "SMALL_SIZES, SMALL_STEPS = (3, 4, 5, 8), 10_000"
SHORT_SMALL_SWEEP = "SMALL_SIZES, SMALL_STEPS = (3, 4, 5, 8), 500"  # the student's own loop


def code_cells() -> list[tuple[str, list[str]]]:
    """(source, tags) of the solutions notebook's code cells."""
    notebook = build.build("solutions")
    return [(c.source, c.metadata.get("tags", [])) for c in notebook.cells if c.cell_type == "code"]


def sweep_index(cells: list[tuple[str, list[str]]]) -> int:
    found = [i for i, (source, _) in enumerate(cells) if CONFIG in source and SWEEP in source]
    assert len(found) == 1, f"expected one cell with `{CONFIG}` and `{SWEEP}`: update this test"
    return found[0]


def run(source: str, namespace: dict, name: str) -> str:
    """Execute one cell's code; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, name, "exec"), namespace)
    return printed.getvalue()


@pytest.fixture(scope="module")
def before_sweep() -> dict:
    """The namespace of a kernel that has run every cell before the sweep."""
    cells = code_cells()
    namespace: dict = {}
    cwd = os.getcwd()
    try:
        assert any(SMALL_SWEEP in source for source, _ in cells), "update SMALL_SWEEP"
        for i, (source, _) in enumerate(cells[: sweep_index(cells)]):
            run(source.replace(SMALL_SWEEP, SHORT_SMALL_SWEEP), namespace, f"<cell {i}>")
    finally:
        os.chdir(cwd)  # the setup cell moves to the repository root
    return namespace


def printed_outputs(namespace: dict, backend: str) -> str:
    """What the cells from the sweep to the test-loss table print, on a small sweep.

    Every cell runs, since later ones use names that figure cells define; only the outputs that
    nbval compares, those of cells not tagged `nbval-ignore-output`, are kept. A figure cell may
    not fit the small sweep (e.g. it picks sizes the small sweep lacks): its error is noted in
    the result, the same for both backends, and the run goes on.
    """
    cells = code_cells()
    start = sweep_index(cells)
    end = next(i for i, (source, _) in enumerate(cells) if i > start and TABLE_END in source)
    sweep = cells[start][0].replace(CONFIG, SMALL)
    sweep = sweep.replace(SWEEP, f'result = run_sweep(config, backend="{backend}", cache_dir=None)')
    namespace = dict(namespace)
    printed = [run(sweep, namespace, "<sweep>")]
    for i, (source, tags) in enumerate(cells[start + 1 : end + 1], start + 1):
        if IGNORED not in tags:
            printed.append(f"--- cell {i}\n" + run(source, namespace, f"<cell {i}>"))
            continue
        try:
            run(source, namespace, f"<cell {i}>")
        except Exception as error:  # noqa: BLE001 (not compared by nbval; see the docstring)
            printed.append(f"--- cell {i} (not compared) raised {type(error).__name__}")
    return "\n".join(printed)


def test_cells_run_to_the_test_loss_table(before_sweep):
    """The student's path on its own (what `scripts/test_colab_versions.sh` runs on Colab's older
    versions, where another numba may move last digits, so no comparison is made there)."""
    assert TABLE_END in printed_outputs(before_sweep, "numba"), "the test-loss table did not run"


def test_tables_agree_between_the_numba_and_torch_backends(before_sweep):
    numba = printed_outputs(before_sweep, "numba")
    torch = printed_outputs(before_sweep, "torch")
    assert TABLE_END in numba, "the test-loss table did not run"
    assert numba == torch
