"""Render an executed notebook as one HTML report that opens offline in any browser.

nbconvert's lab template does the rendering. Before it, the notebook is prepared so that nothing
needs the network or a Jupyter server:
- plotly outputs (`application/vnd.plotly.v1+json`) get an HTML rendering, with plotly.js
  embedded once, in the first figure;
- widgets (which need a kernel) are replaced by a static view (`static_views.py`): the outputs
  their `Output` widgets held when the notebook ran (the explorer's figure and text for one T),
  under a note;
- the reference figures, addressed in the notebooks by URL (`build_notebooks.IMAGES_URL`), are
  read from `images/` and embedded, except those that repeat the live figure just drawn above
  them (all but `FIGURES_NOT_DRAWN_LIVE`): each chart appears once; the Colab badge (an image
  from the network) is left out;
- plotly's PNGs are dropped (the report draws the interactive figure instead).
Formulas are converted from TeX to MathML while the report is written (latex2mathml), which
browsers draw natively: no MathJax, nothing fetched. The report is one self-contained HTML file.

Usage:
    python scripts/make_report.py [NOTEBOOK] [-o REPORT.html]
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import build_notebooks as build
import jinja2
import nbformat
import plotly.io as pio
from latex2mathml.converter import convert as tex_to_mathml
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from static_views import WIDGET_STATE, static_outputs

NOTEBOOK = build.ROOT / "build" / "part4_double_descent_solutions.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
# The lab template without require.js (from a CDN; plotly.js would register with it as an AMD
# module instead of defining `Plotly`; nothing in the prepared notebook needs it) and without
# MathJax (from a CDN; the formulas arrive as MathML).
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""
FIGURES_NOT_DRAWN_LIVE = {"learning_dynamics.png"}
"""Reference figures that show something the notebook draws no live figure of (the learning
dynamics' strip of snapshots, beside the live figure's slider): kept in the report."""
REFERENCE_IMAGE = re.compile(r"^!\[[^\]]*\]\((?P<url>[^)\s]+)\)[ \t]*\n?", re.MULTILINE)
SEE_BELOW = re.compile(r"^You should see something like this[^\n]*:[ \t]*\n\n?", re.MULTILINE)


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer with the formulas written as MathML instead of TeX."""

    def block_math(self, body: str) -> str:
        """Display math (`$$...$$`) as a block <math> element."""
        return tex_to_mathml(body.strip(), display="block")

    def inline_math(self, body: str) -> str:
        """Inline math (`$...$`) as an inline <math> element."""
        return tex_to_mathml(body.strip())


class OfflineHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter whose markdown cells carry MathML (see `MathMLRenderer`)."""

    @jinja2.pass_context
    def markdown2html(self, context: dict, source: str) -> str:
        """Markdown to HTML, as nbconvert does it, with the math converted to MathML."""
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


def without_repeated_figures(markdown: str) -> str:
    """A markdown cell without the reference figures (`build.IMAGES_URL`) that repeat the live
    figure above them, nor the sentence that introduces them."""

    def keep(match: re.Match) -> str:
        url = match.group("url")
        repeated = url.startswith(build.IMAGES_URL) and (
            url.rsplit("/", 1)[-1] not in FIGURES_NOT_DRAWN_LIVE
        )
        return "" if repeated else match.group(0)

    cleaned = REFERENCE_IMAGE.sub(keep, markdown)
    if cleaned != markdown:
        cleaned = SEE_BELOW.sub("", cleaned)
    return cleaned.strip("\n")


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
            # The Colab badge is an image from the network, and a link the report has no use for.
            source = cell.source.replace(build.badge(build.SOLUTIONS), "")
            cell.source = without_repeated_figures(source).replace(build.IMAGES_URL, images_dir)
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs = [new for out in cell.outputs for new in static_outputs(out, state)]
        for output in cell.outputs:
            if add_plotly_html(output, embed_plotlyjs=not plotlyjs_embedded):
                plotlyjs_embedded = True
                for image in IMAGE_TYPES:  # the figure is drawn from its JSON: once
                    output["data"].pop(image, None)
    notebook.cells = [c for c in notebook.cells if c.cell_type != "markdown" or c.source]
    return notebook


def to_html(notebook: nbformat.NotebookNode, exclude_input: bool = False) -> str:
    """The report's HTML, with the reference figures read from images/ and embedded."""
    exporter = OfflineHTMLExporter(
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
