"""The web console end to end in the machine's Chromium (Playwright, no browser download): sign in
at the provider, create a project, write main.py, run it in the Run pane and watch its output
arrive live; a second user can open neither the first one's project nor their job. Without
scripts the run form and the job page still work."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from tests.support.browser import chromium
from tests.support.served import served_at_its_own_url
from tests.support.stored_logs import chunked_log, finished_job_with_log

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
    async with served_at_its_own_url(runtime[1]) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def signed_in_page(
    browser: Browser, console: str, subject: str, **context_options: Any
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**context_options)
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

    # The plain (no-script) editor page, as the Files pane's links open it without scripts.
    await page.goto(f"{project_url}/edit?path=main.py")
    await page.locator("textarea[name=content]").fill(PROGRAM)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#files")).to_contain_text("main.py")

    # Secrets are on the project's settings page.
    await page.get_by_role("link", name="Settings", exact=True).click()
    secret_form = page.locator("#secret-form")
    await secret_form.get_by_label("Name").fill("API_TOKEN")
    await secret_form.get_by_label("Value").fill("s3cret-value-xyz")
    await secret_form.get_by_role("button", name="Save secret").click()
    await expect(page.locator("#secrets")).to_contain_text("API_TOKEN")
    assert "s3cret-value-xyz" not in await page.content()  # names only once saved
    await page.goto(project_url)

    # Run in the Run pane: the output shows below it, the page stays.
    await page.get_by_role("button", name="Run", exact=True).click()
    log = page.locator("#job-log")
    # Live: the first line shows while the job is still running, before the last is printed.
    await expect(log).to_contain_text("tick 0", timeout=60_000)
    assert "done" not in await log.inner_text()
    assert await page.locator("#job-status").inner_text() in {"Starting", "Running"}
    await expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=60_000)
    whole = "".join(f"tick {i}\n" for i in range(6)) + "done\n"
    await expect(log).to_have_text(whole)
    await expect(page.locator("#job-exit-code")).to_have_text("exit 0")
    assert page.url == project_url

    # The history lists the job, and its page shows the same output.
    await page.goto(project_url)
    await expect(page.locator("#jobs")).to_contain_text("python3 main.py")
    await page.locator("#jobs a").first.click()
    await expect(page).to_have_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
    job_url = page.url
    await expect(page.locator("#job-status")).to_have_text("Succeeded")
    await expect(page.locator("#job-log")).to_have_text(whole)
    await page.goto(project_url)

    # A form posted without this browser's CSRF token changes nothing.
    forged = await page.request.post(
        f"{project_url}/secrets", form={"name": "FORGED", "value": "x"}, max_redirects=0
    )
    assert forged.status == 403
    await page.goto(f"{project_url}/settings")
    await expect(page.locator("#secrets")).to_contain_text("API_TOKEN")
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
    """`notacommand --flag` in the Run pane: the ending's code, the engine's sentence and exit 127
    show as soon as it ends (from the live status), and again on reload, and on the job page."""
    context, page = await signed_in_page(browser, console, "typo@example.test")
    await page.get_by_label("New project").fill("Typo")
    await page.get_by_role("button", name="Create").click()
    await page.goto(f"{page.url}/edit?path=main.py")
    await page.locator("textarea[name=content]").fill("print('unused')\n")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#files")).to_contain_text("main.py")
    await page.get_by_label("Command").fill("notacommand --flag")
    await expect(page.locator("#run-argv")).to_have_text("notacommand --flag")  # plain words
    await page.get_by_role("button", name="Run", exact=True).click()
    sentence = 'exec: "notacommand": executable file not found in $PATH'
    for where in ("live", "reloaded", "job page"):
        if where == "reloaded":
            await page.reload()
        if where == "job page":
            await page.locator("#jobs a").first.click()
            await expect(page).to_have_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
        status = page.locator("#job-status")
        await expect(status).to_have_text("Command not found", timeout=60_000)
        await expect(status).to_have_attribute("data-status", "failed")
        await expect(page.locator("#job-reason")).to_have_text("command_not_found")
        await expect(page.locator("#job-detail")).to_have_text(f"Command not found: {sentence}.")
        await expect(page.locator("#job-exit-code")).to_have_text("exit 127")
        await expect(page.locator("#job-log")).to_contain_text(sentence)
    await context.close()


async def test_without_scripts_the_run_form_and_the_job_page_work(
    browser: Browser, console: str
) -> None:
    """A browser with JavaScript off: the Run pane is a form that starts the job, remembers the
    line and opens the job's page, which shows its state, ending and last output as rendered."""
    context, page = await signed_in_page(
        browser, console, "noscript@example.test", java_script_enabled=False
    )
    await page.get_by_label("New project").fill("No script")
    await page.get_by_role("button", name="Create").click()
    await page.get_by_role("button", name="Open").click()
    await page.locator("textarea[name=content]").fill("print('plain page')\n")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#files")).to_contain_text("main.py")
    line = "python3 main.py && echo 'and the shell'"
    await page.get_by_label("Command").fill(line)
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
    await expect(page.locator("h1")).to_have_text(f"sh -c '{line}'")
    for _ in range(120):  # no script updates it: the person reloads
        if await page.locator("#job-status").inner_text() == "Succeeded":
            break
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(page.locator("#job-status")).to_have_text("Succeeded")
    await expect(page.locator("#job-detail")).to_have_text(
        "Finished: the program exited with code 0."
    )
    await expect(page.locator("noscript pre, pre.log:not(#job-log)")).to_have_text(
        "plain page\nand the shell\n"
    )
    await page.get_by_role("link", name="← Project").click()
    await expect(page.get_by_label("Command")).to_have_value(line)  # remembered
    await context.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LONG_LOG_BYTES = 4 * 1024 * 1024
# Whether the log's last line is on screen: its text is the log's end, and the rectangle of its
# last line lies inside both the log box and the window. Returns the ms since navigation then.
LAST_LINE_SHOWN = """(last) => {
  const log = document.getElementById("job-log");
  if (!log || !log.lastChild || !log.textContent.endsWith(last)) { return false; }
  let node = log.lastChild;
  while (node.lastChild) { node = node.lastChild; }
  const range = document.createRange();
  range.setStart(node, Math.max(0, node.textContent.length - last.length));
  range.setEnd(node, node.textContent.length - 1);
  const line = range.getBoundingClientRect();
  const box = log.getBoundingClientRect();
  const inside = line.height > 0 && line.top >= box.top - 1 && line.bottom <= box.bottom + 1
    && line.top >= 0 && line.bottom <= window.innerHeight;
  return inside ? performance.now() : false;
}"""
# The first line of the log's text and where it is on screen (relative to the window).
FIRST_LINE = """() => {
  const log = document.getElementById("job-log");
  const text = log.textContent;
  return text.slice(0, text.indexOf("\\n") + 1);
}"""
# Where on screen the line with `needle` is (its top, in CSS pixels from the window's top).
LINE_TOP = """(needle) => {
  const log = document.getElementById("job-log");
  const walker = document.createTreeWalker(log, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.textContent.indexOf(needle);
    if (at >= 0) {
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + needle.length);
      return range.getBoundingClientRect().top;
    }
  }
  return null;
}"""


async def test_a_long_finished_log_opens_at_its_last_screen_and_pages_earlier_output_in(
    runtime: Runtime, browser: Browser, console: str
) -> None:
    """A finished job with 4 MiB of output (4195 chunks of ten lines) opened on a phone: its last
    line is on screen within 1 s of navigation; scrolling the log up brings earlier output in
    above without moving what is on screen, down to the first line, each line exactly once."""
    _, ctx, _ = runtime
    context, page = await signed_in_page(browser, console, "long@example.test", **PHONE)
    await page.get_by_label("New project").fill("Long log")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Long log")).to_be_visible()
    project_id = page.url.rsplit("/", 1)[-1]
    chunks = chunked_log(LONG_LOG_BYTES)
    job_id = await finished_job_with_log(ctx.database, project_id, chunks)
    last_line = chunks[-1].splitlines(keepends=True)[-1]

    await page.goto(f"{console}/console/jobs/{job_id}")
    shown = await page.wait_for_function(LAST_LINE_SHOWN, arg=last_line, timeout=90_000)
    shown_after_ms = await shown.json_value()
    assert shown_after_ms < 1000, f"the last line showed {shown_after_ms:.0f} ms after navigation"
    await expect(page.locator("#job-status")).to_have_text("Succeeded")

    # Scrolling up pages earlier output in above, keeping the line that was on top in place.
    log = page.locator("#job-log")
    first = await page.evaluate(FIRST_LINE)
    assert first != chunks[0].splitlines(keepends=True)[0], "the whole log was loaded at once"
    await log.evaluate("log => { log.scrollTop = 0; }")
    await page.wait_for_function(f"(first) => ({FIRST_LINE})() !== first", arg=first)
    box_top = await log.evaluate("log => log.getBoundingClientRect().top")
    line_top = await page.evaluate(LINE_TOP, first.strip())
    assert 0 <= line_top - box_top < 40, "what was on screen moved away"
    # On up to the first line, and nothing is missing, repeated or out of order.
    for _ in range(len(chunks)):
        if await page.evaluate(FIRST_LINE) == chunks[0].splitlines(keepends=True)[0]:
            break
        await log.evaluate("log => { log.scrollTop = 0; }")
        await page.wait_for_timeout(50)
    assert await log.evaluate("log => log.textContent") == "".join(chunks)
    await context.close()
