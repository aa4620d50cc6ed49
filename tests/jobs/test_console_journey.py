"""A person's whole first session in the console, in Chromium at a phone's size and a laptop's,
each screen checked (axe-core, width, tap targets) with a screenshot: sign in, choose a handle,
make a project, write a program in the editor, run it, stop it, run it again, serve it as a
preview and open it, ask the assistant (their own key, a local OpenAI stand-in), flag the
answer, download their data, delete the account."""

from __future__ import annotations

import json
import secrets
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support import ai_standins as ais
from tests.support.browser import chromium
from tests.support.console import (
    SIZES,
    account_page_ready,
    checked,
    project_page_ready,
    signed_in_page,
)
from tests.support.runtime import runtime_app
from tests.support.served import served_at_its_own_url

pytestmark = [pytest.mark.docker]

KEY = "sk-journey-test-9Xw4"
# Typed into the editor as a person would: no indentation for the editor to add to.
PROGRAM = 'import time\nprint("\\033[32mhello from a phone\\033[0m", flush=True)\ntime.sleep(60)\n'


@pytest.fixture(scope="module")
def openai_standin() -> Iterator[ais.OpenAIStandIn]:
    with ais.running_openai(KEY) as standin:
        yield standin


@pytest.fixture(scope="module")
async def console(
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
    openai_standin: ais.OpenAIStandIn,
) -> AsyncIterator[str]:
    """The whole app with a worker on the engine, its AI calls sent to the stand-in."""
    async with (
        runtime_app(
            settings,
            prepared,
            proxy_socket,
            ai_base_urls={"openai": f"{openai_standin.url}/v1"},
            ai_timeout_s=5.0,
        ) as (_, ctx, _worker),
        served_at_its_own_url(ctx) as url,
    ):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def show(page: Page, size: str, pane: str, tab: str) -> None:
    """A pane of the project page: its tab on a phone; on a laptop the panes stand side by
    side (the assistant's column opened from the page's header)."""
    await project_page_ready(page)
    if size == "phone":
        await page.get_by_role("tab", name=tab).click()
    elif pane == "ai" and not await page.locator("#pane-ai").is_visible():
        await page.get_by_role("button", name="Assistant", exact=True).click()
    await expect(page.locator(f"#pane-{pane}")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
async def test_a_first_session_from_sign_in_to_deleting_the_account(
    browser: Browser, console: str, size: str, tmp_path: Path
) -> None:
    subject = f"journey-{size}-{secrets.token_hex(3)}@example.test"
    handle = f"j{size[0]}{secrets.token_hex(4)}"
    context, page = await signed_in_page(browser, console, subject, **SIZES[size])
    try:
        # A handle first: previews are named after it.
        await page.get_by_role("link", name="Account").click()
        await account_page_ready(page)
        await page.get_by_label("Handle").fill(handle)
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.get_by_label("Handle")).to_have_value(handle)
        await checked(page, f"journey-account-{size}")

        # A project, and a program written in the editor.
        await page.get_by_role("link", name="Projects").click()
        await page.get_by_label("New project").fill("Pocket script")
        await page.get_by_role("button", name="Create").click()
        await expect(page.locator("h1")).to_have_text("Pocket script")
        await show(page, size, "files", "Files")
        await page.get_by_role("button", name="New file", exact=True).first.click()
        await page.get_by_role("dialog").get_by_label("Name").fill("main.py")
        await page.get_by_role("dialog").get_by_role("button", name="Create").click()
        await expect(page.locator("#pane-editor")).to_be_visible()
        code = page.locator("#pane-editor .cm-content")
        await code.click()
        await page.keyboard.type(PROGRAM)
        await expect(page.locator(".save-state")).to_have_text("Saved")
        await expect(code.locator(".tok-string").first).to_be_visible()  # coloured
        await checked(page, f"journey-editor-{size}")

        # Run it: coloured output arrives live; stop it; run it again.
        await show(page, size, "run", "Run")
        await page.locator("#run-line").fill("python3 main.py")
        run = page.locator("#run")
        await run.click()
        log = page.locator("#job-log")
        await expect(log).to_contain_text("hello from a phone", timeout=60_000)
        await expect(run).to_have_text("Stop")
        assert await log.locator("[class*=ansi]").count() > 0  # the colour, as a class
        await run.click()
        await expect(page.locator("#job-status")).to_have_text("Stopped", timeout=30_000)
        await expect(page.locator("#job-detail")).to_have_text("Stopped: cancelled by you.")
        await expect(run).to_have_text("Run again")
        await checked(page, f"journey-stopped-{size}")
        await run.click()
        await expect(page.locator("#job-status")).to_have_text("Running", timeout=60_000)
        await expect(log).to_contain_text("hello from a phone", timeout=60_000)
        await run.click()
        await expect(run).to_have_text("Run again", timeout=30_000)

        # Serve it as a preview, and open it.
        await page.locator("#run-line").fill("python3 -m http.server 8000")
        await page.locator("#run-network").select_option("preview")
        await page.locator("#run-port").select_option("8000")
        await run.click()
        link = page.locator("#job-preview-link")
        await expect(link).to_be_visible(timeout=60_000)
        await checked(page, f"journey-preview-{size}")
        preview_url = await link.get_attribute("href")
        assert preview_url is not None
        host = urlsplit(preview_url).hostname
        assert host is not None and host.startswith(f"{handle}--")
        async with page.expect_popup() as opened:
            await link.click()
        tab = await opened.value
        # The worker names the preview on the test settings' public URL; this server listens
        # on a port of its own, where the same host serves the program's page to its owner.
        await tab.goto(f"http://{host}:{urlsplit(console).port}/")
        await expect(tab.locator("body")).to_contain_text("main.py", timeout=30_000)
        await tab.close()
        await run.click()  # stop the server
        await expect(run).to_have_text("Run again", timeout=30_000)

        # Ask the assistant with their own key, and flag the answer.
        await show(page, size, "ai", "Assistant")
        if await page.locator("#ai-keys").is_hidden():
            await page.get_by_role("button", name="Keys").click()
        await page.locator("#ai-key-provider").select_option("openai")
        await page.get_by_label("Key", exact=True).fill(KEY)
        await page.get_by_role("button", name="Save key").click()
        await expect(page.locator("#ai-key-list")).to_contain_text(f"OpenAI …{KEY[-4:]}")
        await page.get_by_label("Model").fill("gpt-test")
        await page.get_by_label("Ask the assistant").fill("What does my program print?")
        await page.get_by_role("button", name="Send").click()
        answer = page.locator("#ai-log .ai-theirs").last
        flag = answer.get_by_role("button", name="Flag this answer")
        await expect(flag).to_be_visible(timeout=30_000)  # a finished answer
        await flag.click()
        await answer.get_by_label("Why flag it?").select_option("It is wrong or misleading")
        await answer.get_by_role("button", name="Send flag").click()
        await expect(answer).to_contain_text("Flagged for review. Thank you.")
        await checked(page, f"journey-assistant-{size}")

        # Their data, as a file; then the account goes.
        await page.get_by_role("link", name="Account").click()
        await account_page_ready(page)
        async with page.expect_download() as started:
            await page.get_by_role("button", name="Download my data").click()
        # The archive is made by the worker this app runs (privacy/exports, a periodic task).
        saved = tmp_path / "export.zip"
        await (await started.value).save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            exported = json.loads(archive.read("export.json"))
        assert [p["name"] for p in exported["projects"]] == ["Pocket script"]
        await page.get_by_label(f"Type {handle} to confirm").fill(handle)
        await page.get_by_role("button", name="Delete my account").click()
        await expect(page.locator("h1")).to_have_text("Your account is deleted")
        await checked(page, f"journey-deleted-{size}")
    finally:
        await context.close()
