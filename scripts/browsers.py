"""Find the Chrome or Chromium that kaleido (PNG export) would start, without starting it.

kaleido looks in `BROWSER_PATH`, then `PATH`, then the usual install places, then the copy that
`plotly_get_chrome` downloads. `find_chromium` asks the same lookup, so setting
`BROWSER_PATH=/nonexistent` hides every browser from this process and its children: that is how
the no-browser path is tested on a machine that has one.
"""

from __future__ import annotations

import os

GET_BROWSER = (
    "`sudo apt-get install chromium` (Debian/Ubuntu), or `plotly_get_chrome -y` inside .venv "
    "(downloads Chrome for Testing)"
)
"""The commands that give kaleido a browser."""


def find_chromium() -> str | None:
    """Path of the Chrome/Chromium executable kaleido would use, or None if it has none."""
    from choreographer.browsers.chromium import Chromium

    path = Chromium.find_browser(skip_local=False)
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None
