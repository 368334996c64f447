"""The explorer widget redraws in a real front end: JupyterLab in headless Chromium.

A notebook that builds a `SweepExplorer` (on made-up tensors: the widget does not care where its
numbers come from) is opened in a JupyterLab server started for this test, run from the Run menu,
and its dropdown is changed. The plotly figure drawn in the page must follow: subplot titles for
the first size, then for the chosen one. Playwright drives Debian's Chromium (no browser
download). Skips, with the reason in pytest's summary, where Chromium is missing, and fails
instead under `COURSE_REQUIRE_BROWSER=1`, as CI sets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

from headless import FLAGS, require_chromium  # noqa: E402

SIZES = (5, 50)
NOTEBOOK_CODE = f"""\
import sys
import torch
sys.path.insert(0, {str(ROOT)!r})
import part4_analysis as analysis
torch.manual_seed(0)
sizes = {list(SIZES)}
analysis.SweepExplorer(
    sizes,
    [torch.randn(2, 1000) for _ in sizes],
    [torch.randn(2, T) for T in sizes],
    [torch.rand(1000) for _ in sizes],
    [torch.rand(T) for T in sizes],
    torch.rand(len(sizes), 3),
    torch.rand(len(sizes), 3),
    ["memorising", "generalising"],
).widget()
"""
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """URL of the test notebook in a JupyterLab server of this environment."""
    require_chromium()
    pytest.importorskip("jupyterlab", reason="JupyterLab is in requirements-dev.txt")
    pytest.importorskip("playwright", reason="playwright is in requirements-dev.txt")
    root = tmp_path_factory.mktemp("lab")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CODE)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, root / "explorer.ipynb")
    port = free_port()
    log = open(root / "server.log", "w")
    env = os.environ | {
        "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "server.log").read_text()[-3000:]
                    pytest.fail(f"JupyterLab did not start:\n{tail}")
                time.sleep(0.5)
        yield f"{base}/lab/tree/explorer.ipynb"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_dropdown_change_redraws_the_figure_in_jupyterlab(lab: str, tmp_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    titles = (
        "() => [...document.querySelectorAll('.js-plotly-plot .annotation-text')]"
        ".map(e => e.textContent)"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            select_kernel = page.locator(".jp-Dialog button", has_text="Select")
            try:  # JupyterLab may ask which kernel to start, even for the only one there is
                select_kernel.click(timeout=15_000)
            except PlaywrightTimeout:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            page.click("text=Run >> nth=0")
            page.click("text=Run All Cells")
            page.wait_for_selector(".jupyter-widgets select")
            page.wait_for_selector(".js-plotly-plot .annotation-text")
            first = page.evaluate(titles)
            assert first == [f"features (T = {SIZES[0]})", f"hidden datapoints (T = {SIZES[0]})"]
            page.select_option(".jupyter-widgets select", label=f"T = {SIZES[1]}")
            page.wait_for_function(
                f"() => ({titles})().some(t => t.includes('T = {SIZES[1]}'))", timeout=60_000
            )
            page.screenshot(path=str(tmp_path / "explorer.png"))
            assert page.evaluate(titles) == [
                f"features (T = {SIZES[1]})",
                f"hidden datapoints (T = {SIZES[1]})",
            ]
            assert len(page.query_selector_all(".js-plotly-plot")) == 1, "one figure, redrawn"
            summary = page.inner_text(".jupyter-widgets .jp-OutputArea-output pre")
            assert summary.startswith(f"T = {SIZES[1]} (generalising)"), summary
        finally:
            browser.close()
