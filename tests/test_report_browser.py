"""The HTML report renders its plotly figures in a real browser (headless Chromium), offline.

The report is made from the committed, executed solutions notebook (no sweep is run). Skips, with
the reason in pytest's summary, where kaleido's browser lookup finds no Chrome or Chromium
(`BROWSER_PATH=/nonexistent` hides it); fails instead under `COURSE_REQUIRE_BROWSER=1`, which CI
sets after installing Debian's `chromium`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks as build  # noqa: E402
import make_report  # noqa: E402
from headless import FLAGS, require_chromium  # noqa: E402


def chromium(tmp_path: Path, page: Path, *args: str) -> str:
    """Run headless Chromium on a local page; its stdout."""
    browser = require_chromium()
    result = subprocess.run(
        [
            browser,
            "--headless",
            *FLAGS,
            "--virtual-time-budget=30000",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"chromium failed: {result.stderr[-2000:]}"
    return result.stdout


def plotly_outputs(notebook: nbformat.NotebookNode) -> int:
    """How many plotly figures the report of `notebook` must draw."""
    prepared = make_report.prepare(notebook, images_dir="images")
    return sum(
        make_report.PLOTLY in output.get("data", {})
        for cell in prepared.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.fixture(scope="module")
def solutions() -> nbformat.NotebookNode:
    return nbformat.read(build.SOLUTIONS, as_version=4)


def test_every_figure_of_the_report_is_drawn_offline(solutions, tmp_path):
    report = tmp_path / "report.html"
    report.write_text(make_report.to_html(solutions), encoding="utf-8")
    expected = plotly_outputs(solutions)
    assert expected >= 8, "the solutions notebook should hold the course's plotly figures"
    dom = chromium(tmp_path, report, "--dump-dom")
    containers = len(re.findall(r'class="plot-container plotly"', dom))
    svgs = len(re.findall(r'class="main-svg"', dom))
    assert containers == expected, f"{containers} of {expected} plotly figures were drawn"
    assert svgs >= 2 * expected, "plotly draws two SVG layers per figure"
    assert "Peak mean test loss" in dom, "the printed tables are missing from the report"


def test_the_figures_are_not_blank_in_a_screenshot(solutions, tmp_path):
    """Only the figures (no code, whose highlighting is colourful too) fill the window."""
    figures = nbformat.v4.new_notebook(
        cells=[
            cell
            for cell in solutions.cells
            if cell.cell_type == "code"
            and any(make_report.PLOTLY in o.get("data", {}) for o in cell.outputs)
        ][:3]
    )
    report = tmp_path / "figures.html"
    report.write_text(make_report.to_html(figures, exclude_input=True), encoding="utf-8")
    screenshot = tmp_path / "figures.png"
    chromium(tmp_path, report, f"--screenshot={screenshot}", "--window-size=1200,1800")
    pixels = np.asarray(Image.open(screenshot).convert("RGB"), dtype=int).reshape(-1, 3)
    coloured = (pixels.max(1) - pixels.min(1) > 60).mean()
    assert coloured > 0.002, f"{coloured:.2%} of the pixels are coloured: are the figures blank?"
    distinct = len(np.unique(pixels, axis=0))
    assert distinct > 200, f"{distinct} distinct colours in the screenshot: a blank page?"
