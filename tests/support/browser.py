"""The machine's Chromium, which Playwright drives (no browser download)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, async_playwright


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:  # make test installs it (scripts/ensure-services.sh chromium)
        raise RuntimeError("Chromium is not installed: apt-get install chromium")
    return found


@asynccontextmanager
async def chromium(*args: str) -> AsyncIterator[Browser]:
    """The machine's Chromium, launched with `args` besides `--no-sandbox` (root in CI)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", *args]
        )
        try:
            yield launched
        finally:
            await launched.close()
