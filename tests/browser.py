"""A real headless browser for the tests of pgjax's HTML pages (`pgjax report`, `pgjax explain --html`).

``open_page(path)`` loads a local HTML file in headless Chromium through Playwright and yields the page, with
every JavaScript error and console error collected in ``page.errors`` (a test should assert it is empty).
Chromium is Debian's (``/usr/bin/chromium``, or ``$PGJAX_CHROMIUM``); `.ci/run` installs it and sets
``PGJAX_REQUIRE_BROWSER=1``, so in CI a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Flags for a headless Chromium on a machine with no network beyond localhost (no background connections).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    return os.environ.get("PGJAX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The Chromium executable; skips the test when there is none, or fails it when CI requires one."""
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("PGJAX_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail("PGJAX_REQUIRE_BROWSER is set but Chromium or playwright is missing")
        pytest.skip("no headless Chromium (apt-get install chromium) or playwright (pip install playwright)")
    return path


@contextlib.contextmanager
def open_page(path: str | Path, width: int = 1200, height: int = 900) -> Iterator:
    """A Playwright page showing the local file ``path``; ``page.errors`` lists its JavaScript errors."""
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
            page.goto(Path(path).resolve().as_uri())
            page.wait_for_load_state("load")
            yield page
        finally:
            browser.close()
