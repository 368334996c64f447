"""The notebooks are built from the one source, are up to date, and are usable by students."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402

CHECK_CALL = re.compile(r"^utils\.(test_\w+)\(", re.MULTILINE)


def structure(notebook: nbformat.NotebookNode) -> list[tuple]:
    """What the source decides for each cell: type, id, source and tags (not outputs)."""
    return [
        (cell.cell_type, cell.id, cell.source, cell.metadata.get("tags", []))
        for cell in notebook.cells
    ]


@pytest.fixture(scope="module")
def exercises() -> nbformat.NotebookNode:
    return nbformat.read(build.EXERCISES, as_version=4)


@pytest.fixture(scope="module")
def solutions() -> nbformat.NotebookNode:
    return nbformat.read(build.SOLUTIONS, as_version=4)


def test_exercises_notebook_is_up_to_date(exercises):
    fresh = build.build("exercises")
    assert structure(exercises) == structure(fresh), (
        "exercises notebook is stale: run `python scripts/build_notebooks.py`"
    )


def test_solutions_notebook_is_up_to_date(solutions):
    fresh = build.build("solutions")
    assert structure(solutions) == structure(fresh), (
        "solutions notebook is stale: run `python scripts/build_notebooks.py`"
    )


def test_readme_badges_are_up_to_date():
    readme = build.README.read_text()
    assert build.readme_with_badges(readme) == readme, "README badges are stale: rebuild"
    for notebook in (build.EXERCISES, build.SOLUTIONS):
        assert build.colab_url(notebook) in readme


def test_exercises_notebook_is_stored_without_outputs(exercises):
    for cell in exercises.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_solutions_notebook_is_stored_executed_without_errors(solutions):
    code_cells = [cell for cell in solutions.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "not executed"
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []


def test_solutions_have_no_markers_or_placeholders(solutions):
    text = "\n".join(cell.source for cell in solutions.cells)
    assert build.BEGIN not in text and build.END not in text
    assert "NotImplementedError" not in text


def test_every_exercise_has_placeholder_check_hint_and_folded_solution(exercises):
    cells = exercises.cells
    placeholders = [i for i, c in enumerate(cells) if "raise NotImplementedError()" in c.source]
    assert len(placeholders) >= 9
    for i in placeholders:
        assert CHECK_CALL.search(cells[i].source), f"cell {i}: no check call after placeholder"
        assert cells[i + 1].source.startswith("<details><summary>Solution</summary>")
        assert "<details><summary>Hint" in cells[i - 1].source, f"cell {i}: no hint before it"
        heading = next(c.source for c in reversed(cells[:i]) if "### Exercise" in c.source)
        for field in ("Difficulty", "Importance", "minutes"):
            assert field in heading, f"exercise before cell {i}: no {field}"


def setup_namespace() -> dict:
    """Run the notebook's setup cell and first imports, as a student's kernel would."""
    notebook = build.build("exercises")
    setup = next(c.source for c in notebook.cells if "IN_COLAB" in c.source)
    namespace: dict = {}
    exec(compile(setup, "<setup>", "exec"), namespace)
    return namespace


def placeholder_cells() -> list[tuple[str, str]]:
    notebook = build.build("exercises")
    return [
        (CHECK_CALL.search(c.source).group(1), c.source)
        for c in notebook.cells
        if "raise NotImplementedError()" in c.source
    ]


@pytest.mark.parametrize("check, source", placeholder_cells(), ids=lambda v: v[:30])
def test_every_check_fails_on_its_placeholder(check, source):
    """Running an exercise cell unchanged must fail: no check passes on a placeholder."""
    namespace = setup_namespace()
    namespace["ToyModel"] = object  # earlier exercises left unimplemented too
    with pytest.raises((NotImplementedError, AssertionError, TypeError)):
        exec(compile(source, f"<{check}>", "exec"), namespace)


def test_exercises_and_solutions_have_the_same_code_outside_exercises(exercises, solutions):
    ex_code = [c.source for c in exercises.cells if c.cell_type == "code"]
    sol_code = [c.source for c in solutions.cells if c.cell_type == "code"]
    assert len(ex_code) == len(sol_code)
    differing = [i for i, (a, b) in enumerate(zip(ex_code, sol_code)) if a != b]
    assert all("raise NotImplementedError()" in ex_code[i] for i in differing)


def test_notebook_json_is_stable():
    """Building twice gives byte-identical JSON (stable ids, no timestamps)."""
    first = json.dumps(build.build("exercises"), sort_keys=True)
    assert first == json.dumps(build.build("exercises"), sort_keys=True)
