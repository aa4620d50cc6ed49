"""The web console's wallet page in the machine's Chromium: a top-up goes to the provider's
hosted checkout (no card field on our page, P1), and the balance shows the credit once the
provider's signed event has arrived."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.payments.conftest import Paying
from tests.support.browser import chromium
from tests.support.served import served_at_its_own_url

pytestmark = pytest.mark.promise("P1")


@pytest.fixture(scope="module")
async def console(paying: Paying) -> AsyncIterator[str]:
    async with served_at_its_own_url(paying.context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def test_top_up_from_the_console(browser: Browser, console: str, paying: Paying) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console}/console")
    await page.get_by_role("link", name=re.compile("Sign in with")).click()
    await page.locator('input[name="sub"]').fill("payer@example.test")
    await page.get_by_role("button", name="Authorize").click()
    await expect(page).to_have_url(f"{console}/console/projects")

    await page.get_by_role("link", name="Wallet").click()
    await expect(page.locator("#balance")).to_contain_text("0.00 USD")
    form = page.locator("#topup-form")
    assert await form.locator("input").evaluate_all("inputs => inputs.map(i => i.name)") == [
        "csrf",
        "key",
        "amount",
    ]  # nothing about a card: Stripe's page takes it
    await page.get_by_label("Amount").fill("12.50")
    await page.get_by_label("Pay with").select_option("stripe")
    await page.get_by_role("button", name="Top up").click()
    pay = page.get_by_role("link", name="Pay with Stripe")
    await expect(pay).to_be_visible()
    checkout = await pay.get_attribute("href")
    assert checkout is not None and checkout.startswith(paying.stripe.url + "/pay/cs_")
    session = paying.stripe.sessions[checkout.rsplit("/", 1)[-1]]
    assert session["amount_total"] == 1250

    # The customer pays on Stripe's page; Stripe tells us (signed) and sends them back.
    events = paying.stripe.pay(session["id"])
    assert (await paying.deliver_stripe(events["checkout.session.completed"])).status_code == 200
    await page.goto(session["success_url"])
    await expect(page.locator("#topup")).to_contain_text("received")
    await expect(page.locator("#balance")).to_contain_text("12.50 USD")
    await expect(page.locator("#ledger")).to_contain_text("topup")

    # Bad input is shown on the page, and nothing is created.
    await page.get_by_label("Amount").fill("0")
    await page.get_by_role("button", name="Top up").click()
    await expect(page.get_by_role("alert")).to_contain_text("positive")
    await context.close()
