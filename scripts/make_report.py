"""Render an executed notebook as one HTML report that opens offline in any browser.

nbconvert's lab template does the rendering. Before it, the notebook is prepared so that nothing
needs the network or a Jupyter server:
- plotly outputs (`application/vnd.plotly.v1+json`) get an HTML rendering, with plotly.js
  embedded once, in the first figure;
- widgets (which need a kernel) are replaced by a static view: the outputs their `Output` widgets
  held when the notebook ran (the explorer's figure and text for one T), under a note;
- the reference figures, addressed in the notebooks by URL (`build_notebooks.IMAGES_URL`), are
  read from `images/` and embedded.
Math is typeset by MathJax from its CDN when online, and shown as TeX source offline.

Usage:
    python scripts/make_report.py [NOTEBOOK] [-o REPORT.html]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import build_notebooks as build
import nbformat
import plotly.io as pio

NOTEBOOK = build.ROOT / "build" / "part4_double_descent_solutions.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STATIC_NOTE = (
    "<p><em>Static view of an interactive widget: what it showed when the notebook ran. Open the "
    "notebook in Jupyter or Colab to use it.</em></p>"
)
# The lab template without require.js (from a CDN; plotly.js would register with it as an AMD
# module instead of defining `Plotly`). Nothing in the prepared notebook needs require.js.
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
"""


def widget_outputs(state: dict, model_id: str) -> list[dict]:
    """The outputs held by every `Output` widget in the widget tree under `model_id`."""
    model = state.get(model_id)
    if model is None:
        return []
    if model["model_name"] == "OutputModel":
        return list(model["state"].get("outputs", []))
    children = model["state"].get("children", [])
    return [out for child in children for out in widget_outputs(state, child.split("_", 2)[-1])]


def static_outputs(output: dict, state: dict) -> list[dict]:
    """What replaces one output in the report: widgets become their static view."""
    data = output.get("data", {})
    if WIDGET_VIEW not in data:
        return [output]
    held = widget_outputs(state, data[WIDGET_VIEW]["model_id"])
    if not held:  # e.g. a progress bar: its text/plain fallback says enough
        plain = {k: v for k, v in data.items() if k != WIDGET_VIEW}
        return [nbformat.from_dict({**output, "data": plain})] if plain else []
    note = nbformat.v4.new_output("display_data", data={"text/html": STATIC_NOTE})
    return [note, *(nbformat.from_dict(o) for o in held)]


def add_plotly_html(output: dict, embed_plotlyjs: bool) -> bool:
    """Give a plotly output an HTML rendering; True if it had one to render."""
    figure = output.get("data", {}).get(PLOTLY)
    if figure is None:
        return False
    output["data"]["text/html"] = pio.to_html(
        figure, include_plotlyjs=embed_plotlyjs, full_html=False, validate=False
    )
    return True


def prepare(notebook: nbformat.NotebookNode, images_dir: str) -> nbformat.NotebookNode:
    """A copy of `notebook` that renders offline (see the module docstring)."""
    notebook = copy.deepcopy(notebook)
    state = notebook.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    plotlyjs_embedded = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace(build.IMAGES_URL, images_dir)
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [new for out in cell.outputs for new in static_outputs(out, state)]
        for output in cell.outputs:
            if add_plotly_html(output, embed_plotlyjs=not plotlyjs_embedded):
                plotlyjs_embedded = True
    return notebook


def to_html(notebook: nbformat.NotebookNode, exclude_input: bool = False) -> str:
    """The report's HTML, with the reference figures read from images/ and embedded."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file="report.html.j2",
        extra_loaders=[jinja2.DictLoader({"report.html.j2": TEMPLATE})],
        embed_images=True,
        exclude_input=exclude_input,
    )
    prepared = prepare(notebook, images_dir="images")
    body, _ = exporter.from_notebook_node(
        prepared, resources={"metadata": {"path": str(build.ROOT)}}
    )
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK)
    parser.add_argument("-o", "--output", type=Path, help="default: the notebook's path, .html")
    args = parser.parse_args()
    if not args.notebook.exists():
        raise SystemExit(
            f"make_report.py: {args.notebook} does not exist; run the notebook first "
            "(bash scripts/replicate.sh)."
        )
    output = args.output or args.notebook.with_suffix(".html")
    html = to_html(nbformat.read(args.notebook, as_version=4))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    print(f"wrote {output} ({len(html) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
