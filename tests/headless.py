"""Headless Chromium for the browser tests: where it is, the flags it needs here, and what a test
does when there is none (skip with the reason, or fail under `COURSE_REQUIRE_BROWSER=1`, which CI
sets after installing Debian's `chromium`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from browsers import GET_BROWSER, find_chromium  # noqa: E402

CHROMIUM = find_chromium()
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Root in a sandbox with no GPU and a closed network: without the last four, Chromium keeps
trying to reach Google's hosts."""


def require_chromium() -> str:
    """The browser's path; skips the calling test (fails it in CI) when there is none."""
    if CHROMIUM is None:
        reason = f"no Chrome or Chromium found; get one with {GET_BROWSER}"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (COURSE_REQUIRE_BROWSER=1: this test must run here)")
        pytest.skip(reason)
    return CHROMIUM
