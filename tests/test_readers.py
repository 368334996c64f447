"""Readers who run nothing see every figure, and the HTML report works offline.

- The committed solutions notebook, exported by nbconvert's default HTML and opened in headless
  Chromium with JavaScript off and the network blocked (as GitHub, nbviewer without scripts or
  Colab before running show it), draws one image per figure output.
- The HTML report, opened with the network blocked, shows its formulas as MathML (no TeX left),
  draws each figure once, and asks the network for nothing.
- The build's renderer and static views work on a tiny notebook, and the build refuses to write
  the committed notebook without a browser.
The browser tests skip where no Chrome or Chromium is found, and fail instead under
`COURSE_REQUIRE_BROWSER=1` (CI).
"""

from __future__ import annotations

import base64
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402
import make_report  # noqa: E402
import static_views  # noqa: E402
from headless import FLAGS, require_chromium  # noqa: E402

PLOTLY = "application/vnd.plotly.v1+json"
SIZE_BUDGET = 8_000_000
"""Bytes the committed solutions notebook may take, images included."""


@pytest.fixture(scope="module")
def solutions() -> nbformat.NotebookNode:
    return nbformat.read(build.SOLUTIONS, as_version=4)


def figure_outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    """Every output that holds a plotly figure (the explorer's figure included)."""
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if PLOTLY in output.get("data", {})
    ]


def open_offline(path: Path, javascript: bool) -> Iterator:
    """A Playwright page showing `path`, every request but file: and data: aborted; yields
    (page, the URLs it tried to fetch)."""
    pytest.importorskip("playwright", reason="playwright is in requirements-dev.txt")
    from playwright.sync_api import sync_playwright

    fetched: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            fetched.append(url)
            request_route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=FLAGS, headless=True)
        context = browser.new_context(
            java_script_enabled=javascript, viewport=dict(width=1200, height=900)
        )
        context.route("**/*", route)
        page = context.new_page()
        page.goto(path.as_uri(), wait_until="load", timeout=120_000)
        yield page, fetched
        browser.close()


# ---------------------------------------------------------------------------------- the notebook


def test_solutions_notebook_fits_the_size_budget():
    size = build.SOLUTIONS.stat().st_size
    assert size <= SIZE_BUDGET, f"{size / 1e6:.2f} MB > {SIZE_BUDGET / 1e6:.0f} MB"


def test_every_figure_output_stores_a_png_and_no_widget_is_left(solutions):
    figures = figure_outputs(solutions)
    assert len(figures) >= 15, "the course draws 14 figures and the explorer's"
    missing = [o[PLOTLY]["layout"].get("title", {}) for o in figures if "image/png" not in o.data]
    assert not missing, f"{len(missing)} figure outputs have no PNG (build without a browser?)"
    widgets = [
        o
        for cell in solutions.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if static_views.WIDGET_VIEW in o.get("data", {})
    ]
    assert not widgets and "widgets" not in solutions.metadata, "widget outputs left"


def test_progress_bar_is_stored_finished(solutions):
    cell = next(c for c in solutions.cells if "optimizer_steps_progress(" in c.source)
    text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
    total = 4 * 10_000  # SMALL_SIZES × SMALL_STEPS: every optimizer step ticks the bar
    assert "SMALL_SIZES, SMALL_STEPS = (3, 4, 5, 8), 10_000" in cell.source
    assert f"{total}/{total}" in text and "100%" in text, f"progress bar stored as {text!r}"


def test_javascript_off_render_shows_every_figure(solutions, tmp_path):
    """nbconvert's default HTML, scripts off: one decoded image, at least 200 px wide on the
    page, per figure output."""
    from nbconvert import HTMLExporter

    page_path = tmp_path / "notebook.html"
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(solutions)
    page_path.write_text(body, encoding="utf-8")
    expected = len(figure_outputs(solutions))
    for page, _ in open_offline(page_path, javascript=False):
        images = page.query_selector_all(".jp-OutputArea-output img")
        shown = 0
        for image in images:
            box = image.bounding_box()
            src = image.get_attribute("src") or ""
            if not (box and box["width"] >= 200 and box["height"] >= 100):
                continue
            png = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
            shown += png.width >= 200 and png.height >= 100
        assert shown == expected, f"{shown} of {expected} figure outputs show an image, JS off"


# ------------------------------------------------------------------------------------ the report


def test_report_typesets_offline_and_draws_each_figure_once(solutions, tmp_path):
    report = tmp_path / "report.html"
    report.write_text(make_report.to_html(solutions), encoding="utf-8")
    kept = sum(
        f"{build.IMAGES_URL}/{name}" in cell.source
        for cell in solutions.cells
        if cell.cell_type == "markdown"
        for name in make_report.FIGURES_NOT_DRAWN_LIVE
    )
    for page, fetched in open_offline(report, javascript=True):
        page.wait_for_timeout(3000)
        text = page.inner_text("body")
        assert "$$" not in text and "\\mathbb" not in text and "\\frac" not in text, (
            "raw TeX in the rendered report"
        )
        assert page.locator("math").count() >= 50, "the formulas are not MathML"
        containers = page.locator(".plot-container.plotly").count()
        expected = len(figure_outputs(make_report.prepare(solutions, images_dir="images")))
        assert containers == expected, f"{containers} live figures drawn, of {expected}"
        images = page.locator(".jp-RenderedImage img, .jp-MarkdownOutput img").count()
        assert images == kept, f"{images} images besides the live figures (expected {kept})"
        assert fetched == [], f"the report asked the network for {fetched[:3]}"


def test_report_drops_the_reference_figure_after_its_live_figure():
    markdown = (
        "You should see something like this (the reference figure):\n\n"
        f"![geometry]({build.IMAGES_URL}/geometry.png)\n\n### Next\n\n"
        f"![learning]({build.IMAGES_URL}/learning_dynamics.png)\n"
    )
    cleaned = make_report.without_repeated_figures(markdown)
    assert "geometry.png" not in cleaned and "You should see" not in cleaned
    assert "learning_dynamics.png" in cleaned and "### Next" in cleaned


# ------------------------------------------------------------------------------------- the build

TINY = """\
import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display
from tqdm.auto import tqdm

for _ in tqdm(range(3), desc="steps"):
    pass
figure = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]), layout=dict(width=400, height=300))
figure
"""
TINY_WIDGET = """\
out = widgets.Output()
out.outputs = ({"output_type": "stream", "name": "stdout", "text": "held text\\n"},)
widgets.VBox([widgets.Dropdown(options=["a"]), out])
"""


def tiny_notebook() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(TINY), nbformat.v4.new_code_cell(TINY_WIDGET)],
        metadata={"kernelspec": build.KERNELSPEC},
    )


@pytest.mark.parametrize("images", [True, False])
def test_execute_stores_pngs_and_static_widget_views(images):
    if images:
        require_chromium()
    notebook = build.execute(tiny_notebook(), timeout=300, images=images)
    first, second = (cell.outputs for cell in notebook.cells)
    figure = next(o for o in first if PLOTLY in o.get("data", {}))
    assert ("image/png" in figure.data) is images
    if images:
        png = Image.open(io.BytesIO(base64.b64decode(figure.data["image/png"])))
        assert png.size == (400, 300), "the PNG is drawn at the figure's own size"
    plain = [o.get("data", {}).get("text/plain", "") for o in first]
    bar = [text for text in plain if "steps" in text]
    assert bar and "3/3" in bar[0], f"progress bar stored as {bar}"
    assert [o.get("text") for o in second if o.output_type == "stream"] == ["held text\n"]
    assert "widgets" not in notebook.metadata
    assert os.environ.get("PLOTLY_RENDERER") != build.RENDERER_WITH_IMAGES, "renderer leaked"


def test_build_refuses_without_a_browser(monkeypatch):
    """With kaleido's browser lookup pointed nowhere, the build stops, in one line naming what
    to install, before writing or running anything."""
    calls = []
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent")
    monkeypatch.setattr(build, "write", lambda *args: calls.append("write"))
    monkeypatch.setattr(build, "execute", lambda *args, **kw: calls.append("execute"))
    monkeypatch.setattr(sys, "argv", ["build_notebooks.py"])
    with pytest.raises(SystemExit) as stop:
        build.main()
    message = str(stop.value)
    assert "\n" not in message and "Chromium" in message and "apt-get" in message, message
    assert calls == [], f"the build went on to {calls} without a browser"
