"""The console's consent page (V3, issue 18 item 4) at a phone's size and a laptop's: after
sign-in, before any other page, a person accepts the current policy versions; withdrawal on the
account page asks again; a new version asks again."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from offcoder.context import AppContext
from offcoder.privacy.consent import Document
from tests.support.browser import chromium
from tests.support.consent import policy_desk
from tests.support.console import SIZES, checked, signed_in_page
from tests.support.served import served_at_its_own_url

pytestmark = pytest.mark.promise("V3")


@pytest.fixture(scope="module")
async def console(context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.parametrize("size", SIZES)
async def test_consent_comes_first_and_withdrawal_asks_again(
    browser: Browser, console: str, context: AppContext, size: str
) -> None:
    async with policy_desk(context) as desk:
        terms = await desk.publish(Document.terms, url="https://example.test/terms")
        privacy = await desk.publish(Document.privacy)
        asked = re.compile(re.escape(f"{console}/console/consent?next=") + ".*projects")
        browsing, page = await signed_in_page(
            browser,
            console,
            f"consent-{secrets.token_hex(3)}@example.test",
            lands=asked,
            **SIZES[size],
        )
        try:
            await expect(page.get_by_role("heading", name="Terms of service")).to_be_visible()
            await expect(page.get_by_role("heading", name="Privacy policy")).to_be_visible()
            await expect(page.locator("#consent")).to_contain_text(terms)
            await expect(page.locator("#consent")).to_contain_text(privacy)
            await checked(page, f"consent-{size}")
            # Other pages wait for it too.
            await page.goto(f"{console}/console/wallet")
            await expect(page).to_have_url(re.compile(r"/console/consent\?next=.*wallet"))
            await page.get_by_role("button", name="Accept and continue").click()
            await expect(page).to_have_url(f"{console}/console/wallet")

            await page.goto(f"{console}/console/account#policies")
            section = page.locator("#policies")
            await expect(section).to_contain_text(f"version {terms}, accepted")
            await checked(page, f"account-consents-{size}")
            await section.get_by_role(
                "button", name="Withdraw acceptance of the privacy policy"
            ).click()
            await expect(page.locator("#policy-notice")).to_contain_text("You withdrew")
            await expect(page.locator("#policies")).to_contain_text(
                f"version {privacy}, not accepted"
            )
            # The account page stays open; any other page asks again.
            await page.goto(f"{console}/console/projects")
            await expect(page).to_have_url(re.compile(r"/console/consent\?next="))
            await expect(page.get_by_role("heading", name="Privacy policy")).to_be_visible()
            await expect(page.get_by_role("heading", name="Terms of service")).to_have_count(0)
            await page.get_by_role("button", name="Accept and continue").click()
            await expect(page).to_have_url(f"{console}/console/projects")

            # A new version of the terms: asked again, marked as updated.
            newer = await desk.publish(Document.terms)
            await page.goto(f"{console}/console/projects")
            await expect(page.locator("#consent")).to_contain_text(f"Updated: version {newer}")
            await page.get_by_role("button", name="Accept and continue").click()
            await expect(page).to_have_url(f"{console}/console/projects")
        finally:
            await browsing.close()


async def test_with_no_policy_published_nobody_is_asked(browser: Browser, console: str) -> None:
    browsing, page = await signed_in_page(
        browser, console, f"noconsent-{secrets.token_hex(3)}@example.test"
    )
    try:
        await page.goto(f"{console}/console/consent?next=//elsewhere.test/x")
        # Nothing to accept: on to the projects, never to another site.
        await expect(page).to_have_url(f"{console}/console/projects")
    finally:
        await browsing.close()
