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


# Names a test's browser may resolve: loopback only (`localhost` and its subdomains, which the
# browser answers itself with loopback, RFC 6761: the preview hosts of the tests). Anything else
# fails in the browser, before any DNS query leaves the machine (a page that asks for a CDN is a
# failing test, not traffic).
LOOPBACK_ONLY = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1"
RULES = "--host-resolver-rules="


def with_loopback_only(args: tuple[str, ...]) -> list[str]:
    """`args`, their own host mappings (if any) tried before everything else is refused."""
    own = [a.removeprefix(RULES) for a in args if a.startswith(RULES)]
    rest = [a for a in args if not a.startswith(RULES)]
    return [*rest, RULES + ", ".join([*own, LOOPBACK_ONLY])]


@asynccontextmanager
async def chromium(*args: str) -> AsyncIterator[Browser]:
    """The machine's Chromium, launched with `args` besides `--no-sandbox` (root in CI), able to
    resolve loopback names only (and what `args` map with --host-resolver-rules)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", *with_loopback_only(args)]
        )
        try:
            yield launched
        finally:
            await launched.close()
