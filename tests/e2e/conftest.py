"""Headless Debian Chromium for the browser tests (Playwright's sync API), one per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT = 30_000  # ms; an extractive answer takes well under a second once the page is up
DOCS = Path(__file__).resolve().parents[2] / "docs"


def screenshot(page: Page, name: str, tmp: Path) -> Path:
    """A screenshot of the page: into docs/ as `name` when UPDATE_SCREENSHOT=1 (`make
    screenshot`: the README's pictures), else into `tmp` (a plain test run changes nothing)."""
    import os

    shot = (DOCS if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp) / name
    page.screenshot(path=str(shot))
    return shot


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
