"""The console installs as an app on a phone (a manifest with its icons, under the pages' CSP),
and opens a page saying it is offline when the network is gone, having kept nothing of anyone's
account: its service worker stores the shell only."""

from __future__ import annotations

import secrets
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from offcoder.context import AppContext
from tests.support.browser import chromium
from tests.support.console import PHONE, checked, signed_in_page
from tests.support.served import served_at_its_own_url


@pytest.fixture(scope="module")
async def console(context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_manifest_names_the_app_and_its_icons_exist(console: str) -> None:
    async with httpx.AsyncClient(base_url=console) as web:
        page = await web.get("/console")
        assert '<link rel="manifest" href="/console/manifest.webmanifest">' in page.text
        answer = await web.get("/console/manifest.webmanifest")
        assert answer.headers["content-type"].startswith("application/manifest+json")
        manifest = answer.json()
        assert manifest["display"] == "standalone"
        assert manifest["start_url"].startswith(manifest["scope"]) and manifest["name"]
        sizes = set()
        for icon in manifest["icons"]:
            image = await web.get(icon["src"])
            assert image.status_code == 200
            width, height = png_size(image.content)
            assert f"{width}x{height}" == icon["sizes"]
            sizes.add((width, icon.get("purpose", "any")))
        # What an install prompt needs: 192 and 512 px, and a maskable one for Android.
        assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes
        csp = page.headers["content-security-policy"]
        assert "manifest-src 'self'" in csp


async def test_offline_the_console_says_so_and_keeps_nothing_of_the_account(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"offline-{secrets.token_hex(3)}@example.test", **PHONE
    )
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    try:
        await page.goto(f"{console}/console/projects")
        await page.evaluate("() => navigator.serviceWorker.ready")
        await page.reload()  # now under the worker's control
        assert await page.evaluate("() => !!navigator.serviceWorker.controller")
        kept: list[str] = await page.evaluate(
            """async () => {
                const out = [];
                for (const name of await caches.keys()) {
                  for (const r of await (await caches.open(name)).keys()) out.push(r.url);
                }
                return out;
            }"""
        )
        paths = {u.removeprefix(console) for u in kept}
        assert "/console/offline" in paths
        assert all(p == "/console/offline" or p.startswith("/console/static/") for p in paths)

        await context.set_offline(True)
        await page.goto(f"{console}/console/projects")
        await expect(page.locator("h1")).to_have_text("You are offline")
        await checked(page, "offline-phone")
        await context.set_offline(False)
        await page.get_by_role("link", name="Try again").click()
        await expect(page.locator("h1")).to_have_text("Projects")
    finally:
        await context.close()
    assert refused == []
