"""Every console page at a phone's size and a laptop's: no serious accessibility finding, nothing
wider than the screen, tap targets of 44 px; the project page shows one pane at a time on a
phone, chosen in the tab bar, and all of them side by side on a wide screen."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from offcoder.context import AppContext
from tests.support.browser import chromium
from tests.support.console import SIZES, checked, signed_in_page
from tests.support.served import served_at_its_own_url


@pytest.fixture(scope="module")
async def console(context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.parametrize("size", SIZES)
async def test_the_development_sign_in_page_is_styled_and_loads_nothing_from_elsewhere(
    browser: Browser, console: str, size: str
) -> None:
    context = await browser.new_context(**SIZES[size])
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    page = await context.new_page()
    try:
        await page.goto(f"{console}/console")
        await checked(page, f"signin-{size}")
        await page.get_by_role("link", name=re.compile("Sign in with")).click()
        await expect(page.get_by_label("Sign in as")).to_be_visible()
        await checked(page, f"dev-provider-{size}")
        await page.get_by_label("Sign in as").fill(f"styled-{secrets.token_hex(3)}@example.test")
        await page.get_by_role("button", name="Authorize").click()
        await expect(page).to_have_url(f"{console}/console/projects")
    finally:
        await context.close()
    hosts = {urlsplit(url).hostname for url in asked}
    assert hosts <= {"127.0.0.1", "localhost"}, sorted(asked)


@pytest.mark.parametrize("size", SIZES)
async def test_projects_and_a_project_at_each_size(
    browser: Browser, console: str, size: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"shell-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
    )
    try:
        await checked(page, f"projects-{size}")
        await page.get_by_label("New project").fill("Pocket app")
        await page.get_by_role("button", name="Create").click()
        await expect(page.locator("h1")).to_have_text("Pocket app")
        await checked(page, f"project-{size}")
        files, run = page.locator("#pane-files"), page.locator("#pane-run")
        if size == "phone":
            await expect(files).to_be_visible()
            await expect(run).to_be_hidden()
            await page.get_by_role("tab", name="Run").click()
            await expect(run).to_be_visible()
            await expect(files).to_be_hidden()
            await checked(page, f"project-run-{size}")
        else:
            await expect(page.get_by_role("tab", name="Run")).to_be_hidden()
            await expect(files).to_be_visible()
            await expect(run).to_be_visible()
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_a_missing_page_is_a_friendly_page_at_each_size(
    browser: Browser, console: str, size: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"lost-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
    )
    try:
        answer = await page.goto(f"{console}/console/jobs/{uuid.uuid4()}")
        assert answer is not None and answer.status == 404
        await expect(page.locator("h1")).to_have_text("404 Not Found")
        await expect(page.get_by_role("link", name="Back to your projects")).to_be_visible()
        await checked(page, f"not-found-{size}")
    finally:
        await context.close()


async def test_dark_mode_follows_the_system(browser: Browser, console: str) -> None:
    context, page = await signed_in_page(
        browser,
        console,
        f"night-{secrets.token_hex(3)}@example.test",
        color_scheme="dark",
        **SIZES["phone"],
    )
    try:
        background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(c) for c in background[4:-1].split(",")[:3])
        assert red + green + blue < 120, background  # dark, and axe checks the contrast
        await checked(page, "projects-phone-dark")
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_the_wallet_and_the_disclosure_policy_at_each_size(
    browser: Browser, console: str, size: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"wallet-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
    )
    try:
        await page.get_by_role("link", name="Wallet").click()
        await expect(page.locator("h1")).to_have_text("Wallet")
        await checked(page, f"wallet-{size}")
        await page.goto(f"{console}/security/disclosure")
        await checked(page, f"disclosure-{size}")
    finally:
        await context.close()
