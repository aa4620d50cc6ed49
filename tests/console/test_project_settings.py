"""A project's settings page in Chromium at a phone's size and a laptop's: rename (a refused
name shown next to its field), the project's secrets (set by the form, deleted by /v1), and
deleting the project once its name is typed. Project names may repeat, as in the API: the list
and the settings page tell twins apart by slug, and the one deleted is the one of the page."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

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


async def create(page: Page, console: str, name: str) -> str:
    """Create a project from the list page; the address of its page."""
    await page.goto(f"{console}/console/projects")
    await page.get_by_label("New project").fill(name)
    await page.get_by_role("button", name="Create").click()
    await expect(page).to_have_url(re.compile(r"/console/projects/[0-9a-f-]{36}$"))
    return page.url


async def csrf(page: Page) -> str:
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    return token


@pytest.mark.parametrize("size", SIZES)
async def test_rename_secrets_and_delete_from_the_settings_page(
    browser: Browser, console: str, size: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"settings-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
    )
    try:
        await checked(page, f"projects-list-empty-{size}")
        project_url = await create(page, console, "Pocket app")
        await page.get_by_role("link", name="Settings", exact=True).click()
        await expect(page).to_have_url(f"{project_url}/settings")
        await expect(page.locator("h1")).to_contain_text("Pocket app")
        await expect(page.locator("h1 .slug")).to_have_text("pocket-app")
        await checked(page, f"project-settings-{size}")

        # Rename: an empty name is refused next to the field, in a sentence.
        name = page.get_by_label("Project name")
        await name.fill("   ")
        await page.get_by_role("button", name="Rename").click()
        await expect(page.locator("#name-error")).to_have_text("A project name must not be empty.")
        await expect(name).to_have_attribute("aria-invalid", "true")
        await checked(page, f"project-settings-refused-{size}")
        await name.fill("Pocket app two")
        await page.get_by_role("button", name="Rename").click()
        await expect(page.locator("#rename-form [data-form-ok]")).to_have_text("Renamed.")
        await expect(page.locator("#name-error")).to_be_hidden()
        await expect(page.locator("#project-name")).to_have_text("Pocket app two")
        await page.reload()
        await expect(page.locator("#project-name")).to_have_text("Pocket app two")
        await expect(page.locator("h1 .slug")).to_have_text("pocket-app")  # slugs stay

        # Secrets: the form sets one (the value never comes back), /v1 deletes it.
        form = page.locator("#secret-form")
        await form.get_by_label("Name").fill("API_TOKEN")
        await form.get_by_label("Value").fill("s3cret-value-xyz")
        await form.get_by_role("button", name="Save secret").click()
        await expect(page).to_have_url(re.compile(r"/settings#secrets-section$"))
        await expect(page.locator("#secrets")).to_contain_text("API_TOKEN")
        assert "s3cret-value-xyz" not in await page.content()
        await form.get_by_label("Name").fill("9BAD")
        await form.get_by_label("Value").fill("x")
        await form.evaluate("f => f.noValidate = true")  # the server's answer, not the browser's
        await form.get_by_role("button", name="Save secret").click()
        await expect(page.locator("main > p.error")).to_contain_text("name")
        await checked(page, f"project-settings-secret-{size}")
        await page.get_by_role("button", name="Delete secret API_TOKEN").click()
        await expect(page.locator("#secrets")).to_have_text("No secrets.")
        await page.reload()
        await expect(page.locator("#secrets")).not_to_contain_text("API_TOKEN")

        # Delete: the button waits for the name, typed exactly.
        delete = page.get_by_role("button", name="Delete this project")
        confirm = page.get_by_label("Type Pocket app two to confirm")
        await expect(delete).to_be_disabled()
        await confirm.fill("Pocket app")
        await expect(delete).to_be_disabled()
        await confirm.fill("Pocket app two")
        await expect(delete).to_be_enabled()
        await delete.click()
        await expect(page).to_have_url(f"{console}/console/projects")
        await expect(page.locator("main")).to_contain_text("No projects yet.")
        gone = await page.goto(f"{project_url}/settings")
        assert gone is not None and gone.status == 404
    finally:
        await context.close()


async def test_the_server_checks_the_typed_name_and_names_may_repeat(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"twins-{secrets.token_hex(3)}@example.test", **SIZES["phone"]
    )
    try:
        first = await create(page, console, "Twin")
        second = await create(page, console, "Twin")
        other = await create(page, console, "Other")
        await page.goto(f"{console}/console/projects")
        rows = page.locator("#projects > li")
        await expect(rows).to_have_count(3)
        await expect(page.locator("#projects .slug")).to_have_text(["other", "twin-2", "twin"])
        await expect(page.locator("#projects .name")).to_have_text(["Other", "Twin", "Twin"])
        await checked(page, "projects-list-phone")

        # Renaming to a name in use is accepted, as by PATCH /v1/projects/{id}: the slug stays.
        await page.goto(f"{other}/settings")
        await page.get_by_label("Project name").fill("Twin")
        await page.get_by_role("button", name="Rename").click()
        await expect(page.locator("#rename-form [data-form-ok]")).to_have_text("Renamed.")
        await expect(page.locator("h1 .slug")).to_have_text("other")

        # Without this page's CSRF token, the right name deletes nothing.
        forged = await page.request.post(f"{second}/delete", form={"confirm": "Twin"})
        assert forged.status == 403
        # Without the script, a wrong name is refused by the server and nothing is deleted.
        refused = await page.request.post(
            f"{second}/delete", form={"confirm": "twin", "csrf": await csrf(page)}
        )
        assert refused.status == 422
        assert "Type Twin exactly to delete the project." in await refused.text()
        # Typing the shared name deletes this page's project, not its twins.
        await page.goto(f"{second}/settings")
        await page.get_by_label("Type Twin to confirm").fill("Twin")
        await page.get_by_role("button", name="Delete this project").click()
        await expect(page).to_have_url(f"{console}/console/projects")
        await expect(page.locator("#projects .slug")).to_have_text(["other", "twin"])
        assert (await page.goto(first)) is not None
        await expect(page.locator("h1")).to_have_text("Twin")
    finally:
        await context.close()


async def test_a_name_too_long_is_refused_in_a_sentence_as_by_the_api(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"long-{secrets.token_hex(3)}@example.test"
    )
    try:
        answer = await page.request.post(
            f"{console}/console/projects", form={"name": "x" * 101, "csrf": await csrf(page)}
        )
        assert answer.status == 422, await answer.text()
        assert "A project name has at most 100 characters." in await answer.text()
        project_url = await create(page, console, "Short")
        await page.goto(f"{project_url}/settings")
        await page.get_by_label("Project name").evaluate("i => i.removeAttribute('maxlength')")
        await page.get_by_label("Project name").fill("y" * 101)
        await page.get_by_role("button", name="Rename").click()
        await expect(page.locator("#name-error")).to_have_text(
            "A project name is 1 to 100 characters."
        )
    finally:
        await context.close()


async def test_the_list_says_when_a_project_or_its_files_last_changed(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(
        browser, console, f"dated-{secrets.token_hex(3)}@example.test"
    )
    try:
        await create(page, console, "Dated")
        await page.goto(f"{console}/console/projects")
        when = page.locator("#projects time")
        created = await when.get_attribute("datetime")
        await page.get_by_role("link", name=re.compile("^Dated")).click()
        # The plain editor page (what the Files pane's links open without scripts).
        await page.goto(f"{page.url}/edit?path=main.py")
        await page.locator("textarea[name=content]").fill("print('hi')\n")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#files")).to_contain_text("main.py")
        await page.goto(f"{console}/console/projects")
        saved = await when.get_attribute("datetime")
        assert created and saved and saved > created, (created, saved)
    finally:
        await context.close()
