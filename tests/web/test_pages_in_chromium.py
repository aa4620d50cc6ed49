"""The pages of issue 16 items 5, 7 and 8 in the machine's Chromium, under their real CSP:

- /docs and /redoc render the API's operations with the network cut to our own origin, and no
  request leaves for another (their libraries are ours, not a CDN's);
- the disclosure policy reads well on a phone (390x844) and a desktop, with tap targets of at
  least 44 px;
- the console opened on `localhost` while the public URL is `127.0.0.1` signs in.

No page logs a CSP violation. Screenshots go to build/test-artifacts/screenshots/."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    expect,
)

from offcoder.context import AppContext
from tests.support.browser import chromium
from tests.support.served import served_at_its_own_url

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
async def site(context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclasses.dataclass
class Watched:
    context: BrowserContext
    page: Page
    violations: list[str]
    refused: list[str]


async def watched(browser: Browser, origin: str | None, **options: object) -> Watched:
    """A page whose CSP violations are recorded; with `origin`, every request for another
    origin is refused and recorded (the network cut to our own server)."""
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    refused: list[str] = []
    if origin is not None:

        async def only_ours(route: Route) -> None:
            url = route.request.url
            if url == origin or url.startswith(origin + "/"):
                await route.continue_()
            else:
                refused.append(url)
                await route.abort()

        await context.route("**/*", only_ours)
    page = await context.new_page()
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    return Watched(context, page, violations, refused)


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


async def small_tap_targets(page: Page, selector: str) -> list[str]:
    """The elements matching `selector` smaller than 44x44 px on screen."""
    small: list[str] = await page.eval_on_selector_all(
        selector,
        """els => els.filter(e => e.offsetParent !== null).map(e => {
            const r = e.getBoundingClientRect();
            const label = `${e.textContent.trim()} ${r.width}x${r.height}`;
            return r.width < 44 || r.height < 44 ? label : null;
        }).filter(Boolean)""",
    )
    return small


def shown(page: Page, text: str) -> Locator:
    return page.get_by_text(text, exact=True).filter(visible=True).first


@pytest.mark.parametrize(
    ("path", "operation", "blocked"),
    [
        # Swagger UI: an operation's path in the list
        ("/docs", "/v1/projects/{project_id}/jobs", []),
        # ReDoc: the first operation's summary. Its footer shows Redocly's logo from their CDN;
        # the CSP refuses it before any request is made (and ReDoc then hides it).
        ("/redoc", "Healthz", ["Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg'"]),
    ],
)
async def test_the_docs_render_with_the_network_cut(
    browser: Browser, site: str, path: str, operation: str, blocked: list[str]
) -> None:
    # given a browser that can reach only our server
    w = await watched(browser, site, viewport=PHONE)
    try:
        # when it opens the docs page
        await w.page.goto(site + path)

        # then the operations are listed, and nothing was asked of another origin
        await expect(shown(w.page, operation)).to_be_visible()
        await screenshot(w.page, f"docs{path.replace('/', '-')}-phone")
        await w.page.set_viewport_size(DESKTOP)
        await expect(shown(w.page, operation)).to_be_visible()
        await screenshot(w.page, f"docs{path.replace('/', '-')}-desktop")
        assert w.refused == []
        # Nothing inline was refused (the page works as it is meant to), and the CSP refused
        # exactly the foreign loads we know of.
        refused_by_csp = sorted({v.split(" violates")[0] for v in w.violations})
        assert refused_by_csp == blocked
    finally:
        await w.context.close()


async def test_the_disclosure_policy_reads_well_on_a_phone_and_a_desktop(
    browser: Browser, site: str
) -> None:
    w = await watched(browser, site, viewport=PHONE)
    try:
        await w.page.goto(site + "/security/disclosure")
        await expect(
            w.page.get_by_role("heading", name="Reporting a vulnerability")
        ).to_be_visible()
        await expect(w.page.locator(".severities")).to_contain_text("Critical: within 7 days")
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            await w.page.set_viewport_size(viewport)
            await screenshot(w.page, f"disclosure-{name}")
            # Nothing wider than the screen, and every button-like target at least 44 px (our
            # stylesheet applied under the CSP: unstyled, the contact link is 19 px high).
            width = await w.page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], name
            assert await small_tap_targets(w.page, "header a, header button, a.button") == []
        await expect(w.page.get_by_role("link", name="security@offcoder.com")).to_be_visible()
        assert w.refused == [] and w.violations == []
    finally:
        await w.context.close()


async def test_the_console_opened_on_localhost_signs_in(browser: Browser, site: str) -> None:
    # given the public URL is 127.0.0.1 and the browser is given localhost
    port = site.rsplit(":", 1)[1]
    w = await watched(browser, None, viewport=PHONE)
    try:
        # when the person opens the console there and signs in
        await w.page.goto(f"http://localhost:{port}/console")
        await expect(w.page).to_have_url(f"{site}/console")
        await w.page.get_by_role("link", name=re.compile("Sign in with")).click()
        await w.page.locator('input[name="sub"]').fill("grace@example.test")  # the provider's page
        await w.page.get_by_role("button", name="Authorize").click()

        # then they arrive signed in, on the public URL's origin
        await expect(w.page).to_have_url(f"{site}/console/projects")
        await expect(w.page.get_by_role("button", name="Sign out")).to_be_visible()
        assert w.violations == []
    finally:
        await w.context.close()
