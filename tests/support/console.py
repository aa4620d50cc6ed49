"""The web console in the machine's Chromium, for tests of its pages: sign in at the provider's
page, the two screen sizes every page is checked at, an accessibility check with axe-core (from
npm, `make assets`) and screenshots in test-screenshots/ to look at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "src/offcoder/console/static/vendor/axe.min.js"
SCREENSHOTS = ROOT / "test-screenshots"

# A phone (iPhone 12-14 class) and a laptop.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
SIZES = {"phone": PHONE, "desktop": DESKTOP}


async def signed_in_page(
    browser: Browser,
    console: str,
    subject: str,
    lands: str | re.Pattern[str] = "/console/projects",
    **context_options: Any,
) -> tuple[BrowserContext, Page]:
    """A new browser context signed in as `subject` (the local provider's consent page).

    It lands on the projects, as on a server with no policy published (the tests' default:
    tests/support/consent takes back what a test publishes); a consent test says where else."""
    context = await browser.new_context(**context_options)
    page = await context.new_page()
    await page.goto(f"{console}/console")
    await page.get_by_role("link", name=re.compile("Sign in with")).click()
    await page.locator('input[name="sub"]').fill(subject)
    await page.get_by_role("button", name="Authorize").click()
    if isinstance(lands, str):
        await expect(page).to_have_url(f"{console}{lands}")
    else:
        await expect(page).to_have_url(lands)
    return context, page


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the browser's debugging protocol, which the page's CSP does not
        # govern (a <script> tag would be refused, as it should be).
        await page.evaluate(AXE.read_text() + "\n;0")
    results = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


async def small_tap_targets(page: Page, minimum: float = 44) -> list[str]:
    """Visible links, buttons and form controls under `minimum` px tall (text links inside a
    paragraph excepted, as WCAG 2.5.8 allows)."""
    found: list[str] = await page.evaluate(
        """(minimum) => {
          const out = [];
          for (const el of document.querySelectorAll(
              'a[href], button, input:not([type=hidden]), select, textarea, '
              + '[role=button], [role=tab]')) {
            const box = el.getBoundingClientRect();
            const style = getComputedStyle(el);
            if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
            if (box.right <= 0 || box.bottom <= 0) continue;  // moved off screen (a skip link)
            if (el.tagName === 'A' && el.closest('p, li.prose, .prose, td')) continue;
            if (el.closest('.cm-editor')) continue;  // the editor's own text surface
            if (box.height + 0.5 < minimum) {
              const label = (el.innerText || el.value || el.name || '').trim().slice(0, 30);
              out.push(`${el.tagName.toLowerCase()} "${label}" ${Math.round(box.height)}px`);
            }
          }
          return out;
        }""",
        minimum,
    )
    return found


async def wider_than_screen(page: Page) -> bool:
    width: bool = await page.evaluate(
        "() => document.documentElement.scrollWidth > window.innerWidth + 1"
    )
    return width


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in test-screenshots/<name>.png, for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def checked(page: Page, name: str) -> None:
    """The checks every page passes at every size: no serious accessibility finding, nothing
    wider than the screen, every tap target at least 44 px; and a screenshot."""
    await screenshot(page, name)
    violations = await serious_violations(page)
    assert violations == [], f"{name}: {violations}"
    assert not await wider_than_screen(page), f"{name}: wider than the screen"
    small = await small_tap_targets(page)
    assert small == [], f"{name}: {small}"


async def project_page_ready(page: Page) -> None:
    """Wait until the project page's panes have their scripts (a click before would be lost)."""
    await expect(page.locator("#ide")).to_have_attribute("data-ready", "true")


async def account_page_ready(page: Page) -> None:
    """Wait until the account page's script has given its buttons their handlers."""
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
