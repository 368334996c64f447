"""The reference solutions, taken from the course source, so the tests hold no copy of their own.

The code cells of `course/part4_double_descent.py` that hold a `# BEGIN SOLUTION` block are read
with the notebook build's own parser (`build_notebooks.as_solution`, which also refuses
unmatched markers); their function and class definitions are executed in a namespace that holds
the notebook's imports, as the solutions notebook runs them. The checks the cells call are not
run. Import the solutions by name: `from course_reference import ToyModel, train`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import jupytext

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402

COURSE_MODULES = ("part4_utils", "part4_analysis", "sweep_engine")
"""The course's own modules, which the notebook imports but the solutions don't use."""


def _imports(tree: ast.Module) -> list[ast.stmt]:
    """The top-level imports of a cell, except those of the course's own modules."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and not any(
            name.split(".")[0] in COURSE_MODULES
            for name in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        )
    ]


def _solutions() -> dict[str, Any]:
    """Every function and class defined in a solution cell, by name, in the source's order."""
    code_cells = [
        cell.source
        for cell in jupytext.read(build.SOURCE, fmt="py:percent").cells
        if cell.cell_type == "code"
    ]
    trees = [ast.parse(build.as_solution(source)) for source in code_cells]
    solution_trees = [
        tree for tree, source in zip(trees, code_cells) if build.BLOCK.search(source) is not None
    ]
    definitions = [
        node
        for tree in solution_trees
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    ]
    statements = [node for tree in trees for node in _imports(tree)] + definitions
    namespace: dict[str, Any] = {"__name__": "course_reference_solutions"}
    module = ast.Module(statements, type_ignores=[])
    exec(compile(module, "<solution cells of course/part4_double_descent.py>", "exec"), namespace)
    return {node.name: namespace[node.name] for node in definitions}


SOLUTIONS = _solutions()
"""The reference solutions by name: linear_warmup_lr, ..., ToyModel, train, hidden_datapoints."""

globals().update(SOLUTIONS)
__all__ = list(SOLUTIONS)
