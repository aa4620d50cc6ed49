"""The machine's Chromium, which Playwright drives (no browser download)."""

from __future__ import annotations

import shutil


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:  # make test installs it (scripts/ensure-services.sh chromium)
        raise RuntimeError("Chromium is not installed: apt-get install chromium")
    return found
