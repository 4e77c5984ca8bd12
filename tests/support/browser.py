"""The Chromium the browser tests drive: Debian's headless shell (.ci/run installs it), never a
browser downloaded by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

# Chromium's own background traffic (updates, sync, field trials) would otherwise try other hosts.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """The browser's path; without one the test fails when HELIOGRAPH_REQUIRE_BROWSER is set (CI),
    else it is skipped."""
    found = (
        os.environ.get("HELIOGRAPH_CHROMIUM")
        or shutil.which("chromium-headless-shell")
        or shutil.which("chromium")
    )
    if found:
        return found
    message = "no Chromium: apt-get install chromium-headless-shell (or set HELIOGRAPH_CHROMIUM)"
    if os.environ.get("HELIOGRAPH_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)
