"""Build the exercises and solutions notebooks from one source, `course/part4_double_descent.py`.

The source is a jupytext percent-format script. Inside a code cell, the lines between
`# BEGIN SOLUTION` and `# END SOLUTION` are the reference code:
- solutions notebook: the marker lines are dropped, the code stays;
- exercises notebook: the block becomes `# YOUR CODE HERE` + `raise NotImplementedError()`, and a
  folded `<details>` cell with the full reference code follows the exercise cell.

Usage:
    python scripts/build_notebooks.py            # write both notebooks, execute the solutions one
    python scripts/build_notebooks.py --no-execute   # structure only (fast; for iterating)
    python scripts/build_notebooks.py --execute-to build/x.ipynb   # only run the solutions

The solutions notebook is stored executed so that readers see results; `tests/test_notebooks.py`
fails when either notebook is stale relative to the source. It is stored for readers who run
nothing (GitHub, Colab before running, nbviewer): each plotly figure carries a PNG beside its JSON
(plotly's `plotly_mimetype+png` renderer, the PNG drawn by kaleido), and each widget its static
view (`static_views.py`). kaleido needs Chrome or Chromium: without one, writing the committed
notebook stops with a message, while `--execute-to` (what `replicate.sh` runs) writes a notebook
with interactive figures only and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
from browsers import GET_BROWSER, find_chromium
from static_views import without_widgets

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "part4_double_descent.py"
EXERCISES = ROOT / "exercises" / "part4_double_descent_exercises.ipynb"
SOLUTIONS = ROOT / "solutions" / "part4_double_descent_solutions.ipynb"
README = ROOT / "README.md"

# The one place that names the repository: notebooks' setup cell and the README badges use it.
REPO_URL = "https://github.com/superposition-course/double-descent"
# Where the notebooks' markdown finds the reference figures: an absolute address, so that they show
# in Colab and on GitHub as well as in a local Jupyter (`make_report.py` maps it back to images/).
IMAGES_URL = (
    f"https://raw.githubusercontent.com/{REPO_URL.removeprefix('https://github.com/')}/main/images"
)

BEGIN, END, OPTIONAL = "# BEGIN SOLUTION", "# END SOLUTION", " (optional)"
BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}(?P<optional>{re.escape(OPTIONAL)})?\n"
    rf"(?P<body>.*?)^[ \t]*{re.escape(END)}\n?",
    re.MULTILINE | re.DOTALL,
)
# An optional block (the challenge) becomes a placeholder that runs, so that Run All on the
# exercises notebook ends cleanly for a student who has not attempted it.
OPTIONAL_PLACEHOLDER = (
    "# YOUR CODE HERE (optional: until you write it, this cell only prints a reminder)\n"
    'print("Challenge not attempted yet: your analysis goes in this cell.")\n'
)
BADGES = re.compile(r"(<!-- badges:start -->\n).*?(<!-- badges:end -->)", re.DOTALL)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
RENDERER_WITH_IMAGES = "plotly_mimetype+png"
"""plotly's JSON (JupyterLab, VS Code, the report) and a PNG beside it (viewers without JS)."""
RENDERER_WITHOUT_IMAGES = "plotly_mimetype"


def colab_url(notebook: Path) -> str:
    """The 'Open in Colab' address of a notebook in this repository's main branch."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/main/{notebook.relative_to(ROOT)}"


def badge(notebook: Path) -> str:
    """Markdown for an 'Open in Colab' badge."""
    return (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )


def substitute(text: str, notebook: Path) -> str:
    """Fill the source's `{{REPO_URL}}`, `{{IMAGES_URL}}` and `{{COLAB_BADGE}}` placeholders."""
    return (
        text.replace("{{REPO_URL}}", REPO_URL)
        .replace("{{IMAGES_URL}}", IMAGES_URL)
        .replace("{{COLAB_BADGE}}", badge(notebook))
    )


def require_paired_markers(source: str) -> None:
    """Refuses a cell whose solution markers are unmatched or nested (they would leak code)."""
    depth = 0
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker in (BEGIN, BEGIN + OPTIONAL):
            depth += 1
        elif marker == END:
            depth -= 1
        elif BEGIN in marker or END in marker:
            raise ValueError(f"line {number} of a cell: malformed solution marker {marker!r}")
        if depth not in (0, 1):
            problem = "nested" if depth > 1 else f"{END!r} without {BEGIN!r}"
            raise ValueError(f"line {number} of a cell: {problem} solution marker:\n{source}")
    if depth:
        raise ValueError(f"a cell opens {BEGIN!r} and never closes it:\n{source}")


def as_solution(source: str) -> str:
    """Drop the solution markers, keep the reference code."""
    require_paired_markers(source)
    return BLOCK.sub(lambda m: m.group("body"), source).rstrip("\n")


def placeholder(match: re.Match) -> str:
    """The exercise's stand-in for one solution block, at the block's indentation."""
    indent = match.group("indent")
    if match.group("optional"):
        return "".join(indent + line + "\n" for line in OPTIONAL_PLACEHOLDER.splitlines())
    return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n"


def as_exercise(source: str) -> str:
    """Replace every solution block by a placeholder at the block's indentation."""
    require_paired_markers(source)
    return BLOCK.sub(placeholder, source).rstrip("\n")


def folded_solution(code: str) -> nbformat.NotebookNode:
    """A markdown cell that shows the reference code when the student unfolds it."""
    return nbformat.v4.new_markdown_cell(
        f"<details><summary>Solution</summary>\n\n```python\n{code.rstrip()}\n```\n\n</details>"
    )


def cell_id(kind: str, source: str, seen: dict[str, int]) -> str:
    """A stable id: a hash of the source cell's text, numbered if the text repeats."""
    digest = hashlib.sha1(f"{kind}\n{source}".encode()).hexdigest()[:10]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def build(kind: str) -> nbformat.NotebookNode:
    """The exercises or solutions notebook, unexecuted, from the source."""
    if kind not in ("exercises", "solutions"):
        raise ValueError(f"kind: expected 'exercises' or 'solutions', got {kind!r}")
    target = EXERCISES if kind == "exercises" else SOLUTIONS
    source_nb = jupytext.read(SOURCE, fmt="py:percent")
    cells: list[nbformat.NotebookNode] = []
    seen: dict[str, int] = {}
    for cell in source_nb.cells:
        text = substitute(cell.source, target)
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(text)
        else:
            has_solution = BLOCK.search(text) is not None
            code = as_exercise(text) if kind == "exercises" else as_solution(text)
            new = nbformat.v4.new_code_cell(code)
        if tags:
            new.metadata["tags"] = tags
        new.id = cell_id("cell", cell.source, seen)
        cells.append(new)
        if cell.cell_type == "code" and kind == "exercises" and has_solution:
            folded = folded_solution(as_solution(text))
            folded.id = cell_id("solution", cell.source, seen)
            cells.append(folded)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    return notebook


KALEIDO_SERVER = "import kaleido\n\nkaleido.start_sync_server(silence_warnings=True)\n"
"""IPython startup code for the executing kernel: one persistent kaleido browser for every PNG.
Started afresh per figure, kaleido's page raced its own scripts on a loaded machine (a build
failed with `ReferenceError: kaleido_scopes is not defined` at the 10th figure)."""


@contextlib.contextmanager
def kernel_environment(renderer: str, images: bool) -> Iterator[None]:
    """Environment for the executing kernel only: the plotly renderer and, with images, an
    IPython profile whose startup starts kaleido's server. The caller's variables come back."""
    saved = {name: os.environ.get(name) for name in ("PLOTLY_RENDERER", "IPYTHONDIR")}
    with tempfile.TemporaryDirectory() as ipython_dir:
        os.environ["PLOTLY_RENDERER"] = renderer  # the kernel inherits it; students' runs do not
        if images:
            startup = Path(ipython_dir) / "profile_default" / "startup"
            startup.mkdir(parents=True)
            (startup / "00-kaleido-server.py").write_text(KALEIDO_SERVER)
            os.environ["IPYTHONDIR"] = ipython_dir
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def execute(
    notebook: nbformat.NotebookNode, timeout: int = 3600, images: bool = True
) -> nbformat.NotebookNode:
    """Run every cell in the solutions folder, as nbval will, and keep the outputs.

    With `images`, every plotly figure also stores a PNG (needs a browser for kaleido). Widget
    outputs are replaced by their static views either way (`static_views.without_widgets`).
    """
    from nbclient import NotebookClient

    renderer = RENDERER_WITH_IMAGES if images else RENDERER_WITHOUT_IMAGES
    with kernel_environment(renderer, images):
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(SOLUTIONS.parent)}},
        )
        client.execute()
    return without_widgets(notebook)


def require_browser() -> None:
    """Stop, with what to install, where kaleido has no browser to draw the figures' PNGs."""
    if find_chromium() is None:
        raise SystemExit(
            "build_notebooks.py: no Chrome or Chromium, which kaleido needs to store the figures "
            f"as images for readers; install one with {GET_BROWSER} (or use --no-execute)."
        )


def write(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook with stable formatting (so diffs stay readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(notebook)
    path.write_text(nbformat.writes(notebook, version=4) + "\n")


def readme_with_badges(readme: str) -> str:
    """The README with its badge block regenerated from REPO_URL."""
    block = "\n".join(f"{badge(nb)} `{nb.relative_to(ROOT)}`" for nb in (EXERCISES, SOLUTIONS))
    return BADGES.sub(lambda m: f"{m.group(1)}{block}\n{m.group(2)}", readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true", help="do not run the solutions")
    parser.add_argument(
        "--execute-to", type=Path, help="only run the solutions notebook, writing it to this path"
    )
    args = parser.parse_args()
    if args.execute_to:
        images = find_chromium() is not None
        write(execute(build("solutions"), images=images), args.execute_to)
        print(f"wrote {args.execute_to}")
        if not images:
            print(
                f"note: no Chrome or Chromium, so {args.execute_to} has interactive figures but no "
                f"images (a viewer without JavaScript shows none); get one with {GET_BROWSER}."
            )
        return
    if not args.no_execute:
        require_browser()
    write(build("exercises"), EXERCISES)
    solutions = build("solutions")
    write(solutions if args.no_execute else execute(solutions), SOLUTIONS)
    README.write_text(readme_with_badges(README.read_text()))
    print(f"wrote {EXERCISES.relative_to(ROOT)}, {SOLUTIONS.relative_to(ROOT)} and README badges")


if __name__ == "__main__":
    main()
