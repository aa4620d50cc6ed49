"""The published sub-processor page (V4) in Chromium at a phone's size and a laptop's: no
serious accessibility finding, nothing wider than the screen, tap targets of 44 px."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from offcoder.context import AppContext
from offcoder.incidents import subprocessors
from offcoder.incidents.schemas import SubprocessorIn
from tests.support.browser import chromium
from tests.support.console import SIZES, checked
from tests.support.served import served_at_its_own_url

pytestmark = pytest.mark.promise("V4")


@pytest.fixture(scope="module")
async def site(context: AppContext) -> AsyncIterator[str]:
    async with context.database.system_session() as s:
        names = {r.name for r in await subprocessors.current_list(s)}
        if "Example Cloud Hosting Incorporated" not in names:
            await subprocessors.add(
                s,
                SubprocessorIn(
                    name="Example Cloud Hosting Incorporated",
                    purpose="Runs the servers, databases and sandboxes OffCoder is made of.",
                    data_categories=["account details", "project files", "job logs"],
                    location="Frankfurt, Germany (EU) and Mumbai, India",
                    transfer_mechanism="EU Standard Contractual Clauses (2021/914), module 3",
                ),
                "operator:test",
            )
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.parametrize("size", SIZES)
async def test_the_sub_processor_page_at_each_size(browser: Browser, site: str, size: str) -> None:
    context = await browser.new_context(**SIZES[size])
    page = await context.new_page()
    try:
        await page.goto(f"{site}/legal/sub-processors")
        await expect(page.get_by_role("heading", name="Sub-processors", level=1)).to_be_visible()
        await expect(
            page.get_by_role("heading", name="Example Cloud Hosting Incorporated")
        ).to_be_visible()
        await expect(page.get_by_role("heading", name="Questions and complaints")).to_be_visible()
        await checked(page, f"subprocessors-{size}")
    finally:
        await context.close()
