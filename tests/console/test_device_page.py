"""The device sign-in page (/console/device, RFC 8628's verification page) in Chromium at a
phone's size and a laptop's: the code form, what asks for access (device name, address prefix,
time) with Approve and Deny, and the answers; each checked for accessibility, width and tap
targets."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context
from tests.support.browser import chromium
from tests.support.console import SIZES, checked, signed_in_page
from tests.support.served import served_at_its_own_url


@pytest.fixture(scope="module")
async def console(settings: Settings, prepared: PreparedDatabase) -> AsyncIterator[str]:
    # Every browser here comes from 127.0.0.1 and tries more codes than a person would in a
    # minute; the limit has its own test (tests/auth/test_device_grant.py).
    ctx = build_context(
        settings.model_copy(update={"rate_limit_device_verify": "10000/minute"}), prepared
    )
    try:
        async with served_at_its_own_url(ctx) as url:
            yield url
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def codes_for(console: str, device_name: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=console) as terminal:
        answer = await terminal.post("/v1/auth/device/code", data={"device_name": device_name})
    assert answer.status_code == 200, answer.text
    codes: dict[str, str] = answer.json()
    return codes


async def test_the_device_page_at_each_size(browser: Browser, console: str) -> None:
    for size in SIZES:
        context, page = await signed_in_page(
            browser, console, f"device-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
        )
        try:
            # typed by hand, from the address the terminal shows
            typed = await codes_for(console, "raspberry pi in the garage")
            await page.goto(f"{console}/console/device")
            await checked(page, f"device-enter-{size}")
            await page.get_by_label("Code").fill(typed["user_code"].lower())
            await page.get_by_role("button", name="Continue").click()
            await expect(page.locator("#device-code")).to_have_text(typed["user_code"])
            await expect(page.locator("#device-name")).to_have_text("raspberry pi in the garage")
            await expect(page.locator("#device-address")).to_have_text("127.0.0.0/24")
            await checked(page, f"device-confirm-{size}")
            await page.get_by_role("button", name="Approve").click()
            await expect(page.get_by_role("status")).to_contain_text("Approved")
            await checked(page, f"device-approved-{size}")

            # a wrong code: a sentence, and the form again
            await page.goto(f"{console}/console/device?user_code=BBBB-BBBB")
            await expect(page.get_by_role("alert")).to_contain_text(
                "That code is not waiting for approval."
            )
            await checked(page, f"device-wrong-{size}")

            # from the complete address (as a QR code or a link would open it), then denied
            linked = await codes_for(console, "laptop")
            await page.goto(linked["verification_uri_complete"])
            await expect(page.locator("#device-code")).to_have_text(linked["user_code"])
            await page.get_by_role("button", name="Deny").click()
            await expect(page.get_by_role("status")).to_contain_text("Denied")
            await checked(page, f"device-denied-{size}")
        finally:
            await context.close()


async def test_a_signed_out_phone_signs_in_and_lands_on_the_code(
    browser: Browser, console: str
) -> None:
    codes = await codes_for(console, "remote box")
    context = await browser.new_context(**SIZES["phone"])
    try:
        page = await context.new_page()
        await page.goto(codes["verification_uri_complete"])
        await expect(page).to_have_url(f"{console}/console")
        await expect(page.get_by_role("status")).to_contain_text("approve a device")
        await checked(page, "device-signin-phone")
        await page.get_by_role("link", name=re.compile("Sign in with")).click()
        await page.locator('input[name="sub"]').fill(f"away-{secrets.token_hex(3)}@example.test")
        await page.get_by_role("button", name="Authorize").click()
        await expect(page).to_have_url(codes["verification_uri_complete"])
        await expect(page.locator("#device-code")).to_have_text(codes["user_code"])
        await expect(page.locator("#device-name")).to_have_text("remote box")
    finally:
        await context.close()
