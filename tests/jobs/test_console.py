"""The web console end to end in the machine's Chromium (Playwright, no browser download): sign in
at the provider, create a project, write main.py, run it and watch its output arrive live; a
second user can open neither the first one's project nor their job."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from offcoder.main import create_app
from tests.support.browser import chromium_path
from tests.support.served import free_port, served

pytestmark = [pytest.mark.docker, pytest.mark.promise("D1"), pytest.mark.promise("D2")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

PROGRAM = """import time
for i in range(6):
    print(f"tick {i}", flush=True)
    time.sleep(0.7)
print("done")
"""


@pytest.fixture(scope="module")
async def console(runtime: Runtime) -> AsyncIterator[str]:
    _, ctx, _ = runtime
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The console's own origin: sign-in comes back here, cookies and Socket.IO are its.
    local = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"public_url": url}))
    async with served(create_app(local), port=port):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox"],  # root in CI
        )
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in_page(
    browser: Browser, console: str, subject: str
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console}/console")
    await page.get_by_role("link", name=re.compile("Sign in with")).click()
    await page.locator('input[name="sub"]').fill(subject)  # the provider's own page
    await page.get_by_role("button", name="Authorize").click()
    await expect(page).to_have_url(f"{console}/console/projects")
    return context, page


async def test_sign_in_write_run_and_watch_live_and_stay_private(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(browser, console, "ada@example.test")
    session = {c["name"]: c for c in await context.cookies()}
    for name in ("oc_access", "oc_refresh", "oc_csrf"):
        assert session[name]["httpOnly"] is True, name
        assert session[name]["sameSite"] == "Lax", name

    await page.get_by_label("New project").fill("Hello phone")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Hello phone")).to_be_visible()
    project_url = page.url

    await page.get_by_role("button", name="Open").click()
    await page.locator("textarea[name=content]").fill(PROGRAM)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#files")).to_contain_text("main.py")

    await page.get_by_label("Name").fill("API_TOKEN")
    await page.get_by_label("Value").fill("s3cret-value-xyz")
    await page.get_by_role("button", name="Save secret").click()
    await expect(page.locator("#secrets")).to_contain_text("API_TOKEN")
    assert "s3cret-value-xyz" not in await page.content()  # names only once saved

    await page.get_by_role("button", name="Run").click()
    await expect(page).to_have_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
    job_url = page.url
    log = page.locator("#log")
    # Live: the first line shows while the job is still running, before the last is printed.
    await expect(log).to_contain_text("tick 0", timeout=60_000)
    assert "done" not in await log.inner_text()
    assert await page.locator("#status").inner_text() in {"starting", "running"}
    await expect(page.locator("#status")).to_have_text("succeeded", timeout=60_000)
    await expect(log).to_have_text("".join(f"tick {i}\n" for i in range(6)) + "done\n")
    await expect(page.locator("#exit-code")).to_have_text("exit 0")

    # The history lists the job.
    await page.goto(project_url)
    await expect(page.locator("#jobs")).to_contain_text("python3 main.py")

    # A form posted without this browser's CSRF token changes nothing.
    forged = await page.request.post(
        f"{project_url}/secrets", form={"name": "FORGED", "value": "x"}, max_redirects=0
    )
    assert forged.status == 403
    await page.reload()
    await expect(page.locator("#secrets")).not_to_contain_text("FORGED")

    # With the right token but sent from another site's page: refused too.
    token = next(c["value"] for c in await context.cookies() if c["name"] == "oc_csrf")
    foreign = await page.request.post(
        f"{project_url}/secrets",
        form={"name": "FOREIGN", "value": "x", "csrf": token},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    assert foreign.status == 403

    # An expired access token is rotated once per request, even when the page is an error:
    # rotating twice would look like refresh-token theft and end the session (A4).
    await context.add_cookies([{"name": "oc_access", "value": "expired", "url": console}])
    missing = await page.goto(f"{console}/console/jobs/{uuid.uuid4()}")
    assert missing is not None and missing.status == 404
    await page.goto(f"{console}/console/projects")
    await expect(page).to_have_url(f"{console}/console/projects")
    await expect(page.locator("#projects")).to_contain_text("Hello phone")

    # Another person, in another browser context, can open neither.
    other_context, other = await signed_in_page(browser, console, "eve@example.test")
    for url in (project_url, job_url):
        response = await other.goto(url)
        assert response is not None and response.status == 404, url
        await expect(other.locator("h1")).to_have_text("404 Not Found")
        assert "Hello phone" not in await other.content()
        assert "tick" not in await other.content()
    await expect(other.locator("#projects")).to_have_count(0)

    # Signing out ends the session: the pages send back to sign-in.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{console}/console")
    await page.goto(project_url)
    await expect(page).to_have_url(f"{console}/console")
    await other_context.close()
    await context.close()


async def test_a_command_that_cannot_start_says_why_live_and_after_a_reload(
    browser: Browser, console: str
) -> None:
    """`notacommand --flag` in the console: the job page shows the ending's code, the engine's
    sentence and exit 127 as soon as it ends (from the live status), and again on reload."""
    context, page = await signed_in_page(browser, console, "typo@example.test")
    await page.get_by_label("New project").fill("Typo")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_role("button", name="Open").click()
    await page.locator("textarea[name=content]").fill("print('unused')\n")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#files")).to_contain_text("main.py")
    await page.get_by_label("Command").fill("notacommand --flag")
    await page.get_by_role("button", name="Run").click()
    await expect(page).to_have_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
    sentence = 'exec: "notacommand": executable file not found in $PATH'
    for reloaded in (False, True):
        if reloaded:
            await page.reload()
        await expect(page.locator("#status")).to_have_text("failed", timeout=60_000)
        await expect(page.locator("#reason")).to_have_text("(command_not_found)")
        await expect(page.locator("#detail")).to_have_text(sentence)
        await expect(page.locator("#exit-code")).to_have_text("exit 127")
        await expect(page.locator("#log")).to_contain_text(sentence)
    await context.close()
