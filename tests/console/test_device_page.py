"""The device sign-in page (/console/device, RFC 8628's verification page) in Chromium at a
phone's size and a laptop's: the code form, what asks for access (device name, address prefix,
time) with Approve and Deny, and the answers; each checked for accessibility, width and tap
targets."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
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
