"""The Files and Code panes of the project page in Chromium, at a phone's size and a laptop's:
files made, renamed, deleted and uploaded from the tree; CodeMirror with colours, autosave and
its visible state; a refused save that says why and keeps the text; tabs; the key row of touch
screens. The app is served with a 4 KiB per-file limit so a refusal is quick to provoke."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from offcoder.context import AppContext
from tests.support.browser import chromium
from tests.support.console import SIZES, checked, signed_in_page
from tests.support.served import served_at_its_own_url

MAX_FILE_BYTES = 4096

pytestmark = pytest.mark.parametrize("size", SIZES)


@pytest.fixture(scope="module")
async def console(context: AppContext) -> AsyncIterator[str]:
    small = context.settings.model_copy(update={"max_file_bytes": MAX_FILE_BYTES})
    async with served_at_its_own_url(dataclasses.replace(context, settings=small)) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def new_project(browser: Browser, console: str, size: str, what: str) -> Page:
    _, page = await signed_in_page(
        browser, console, f"{what}-{size}-{secrets.token_hex(3)}@example.test", **SIZES[size]
    )
    await page.get_by_label("New project").fill(f"{what} {size}")
    await page.get_by_role("button", name="Create").click()
    await expect(page.locator("h1")).to_have_text(f"{what} {size}")
    # The panes' module has loaded (it shows the tree's buttons) and listed the files.
    await expect(page.locator(".files-actions:not([hidden])")).to_have_count(1)
    await expect(page.locator("#files.tree")).to_have_count(1)
    return page


async def create_file(page: Page, size: str, path: str) -> None:
    if size == "phone":
        await page.get_by_role("tab", name="Files").click()
    await page.get_by_role("button", name="New file", exact=True).first.click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill(path)
    await dialog.get_by_role("button", name="Create").click()
    await expect(dialog).to_be_hidden()
    # Opening a file shows the Code pane (on a phone, in place of the Files pane).
    await expect(page.locator(".editor-tab-name[aria-current=true]")).to_have_text(
        path.split("/")[-1]
    )
    await expect(page.locator("#pane-editor")).to_be_visible()


def code(page: Page) -> Locator:
    return page.locator("#pane-editor .cm-content")


async def file_menu(page: Page, size: str, path: str, action: str) -> None:
    if size == "phone":
        await page.get_by_role("tab", name="Files").click()
    await page.get_by_role("button", name=f"Actions for {path}", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name=action, exact=True).click()


async def test_write_a_file_see_saved_and_find_it_after_a_reload(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "write")
    try:
        await create_file(page, size, "hello.py")
        await code(page).click()
        await page.keyboard.type('def greet(name):\nreturn "hi " + name\n')
        await expect(page.locator(".save-state")).to_have_text("Saved")
        # Python's colours: the keyword and the string have their own classes.
        await expect(code(page).locator(".tok-keyword").first).to_have_text("def")
        await expect(code(page).locator(".tok-string")).to_have_text('"hi "')
        await expect(page.locator(".cm-lineNumbers").first).to_contain_text("3")
        await checked(page, f"editor-{size}")

        # No draft left behind: after a reload the text comes from the server.
        await page.evaluate("localStorage.clear()")
        await page.reload()
        await expect(code(page)).to_contain_text('return "hi " + name')
        await expect(page.locator(".save-state")).to_have_text("Saved")

        # Undo from the bar (phones have no Ctrl+Z), and the search panel.
        await code(page).click()
        await page.keyboard.press("End")
        await page.keyboard.type("  # x")
        await expect(code(page)).to_contain_text("# x")
        await page.get_by_role("button", name="Undo").click()
        await expect(code(page)).not_to_contain_text("# x")
        await page.get_by_role("button", name="Search").click()
        # The field to type in has the focus (inside the editor's shadow root).
        focused = "() => document.querySelector('.editor-host').shadowRoot.activeElement?.ariaLabel"
        assert await page.evaluate(focused) == "Find"
        await checked(page, f"editor-search-{size}")
    finally:
        await page.context.close()


async def test_two_files_open_as_tabs_keep_their_unsaved_text(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "tabs")
    try:
        await create_file(page, size, "app.js")
        await code(page).click()
        await page.keyboard.type("const answer = 42;")
        await create_file(page, size, "README.md")
        await code(page).click()
        await page.keyboard.type("# Notes")
        await expect(page.locator(".editor-tab")).to_have_count(2)

        tabs = page.get_by_role("group", name="Open files")
        await tabs.locator(".editor-tab-name", has_text="app.js").click()
        await expect(code(page)).to_have_text("const answer = 42;")
        await expect(code(page).locator(".tok-keyword")).to_have_text("const")
        await tabs.locator(".editor-tab-name", has_text="README.md").click()
        await expect(code(page)).to_have_text("# Notes")
        await expect(page.locator(".save-state")).to_have_text("Saved")
        await checked(page, f"editor-tabs-{size}")

        await page.get_by_role("button", name="Close README.md").click()
        await expect(page.locator(".editor-tab")).to_have_count(1)
        await expect(code(page)).to_have_text("const answer = 42;")
    finally:
        await page.context.close()


async def test_rename_into_a_folder_and_delete(browser: Browser, console: str, size: str) -> None:
    page = await new_project(browser, console, size, "rename")
    try:
        await create_file(page, size, "a.py")
        await code(page).click()
        await page.keyboard.type("x = 1")
        await expect(page.locator(".save-state")).to_have_text("Saved")

        if size == "phone":
            await page.get_by_role("tab", name="Files").click()
        await page.get_by_role("button", name="Actions for a.py", exact=True).click()
        dialog = page.get_by_role("dialog")
        await expect(dialog.get_by_role("button", name="Delete", exact=True)).to_be_visible()
        await checked(page, f"files-actions-{size}")
        await dialog.get_by_role("button", name="Rename", exact=True).click()
        await dialog.get_by_label("New name").fill("src/b.py")
        await dialog.get_by_role("button", name="Rename").click()
        await expect(dialog).to_be_hidden()
        tree = page.locator("#files")
        await expect(tree.locator("[data-folder=src]")).to_have_text("src")
        await expect(tree.locator('[data-path="src/b.py"]')).to_have_text("b.py")
        await expect(tree.locator('[data-path="a.py"]')).to_have_count(0)
        await expect(page.locator(".editor-tab-name")).to_have_text("b.py")
        await checked(page, f"files-tree-{size}")

        # A taken name is refused in the dialog, which stays open with the reason.
        await create_file(page, size, "c.py")
        await file_menu(page, size, "c.py", "Rename")
        await dialog.get_by_label("New name").fill("src/b.py")
        await dialog.get_by_role("button", name="Rename").click()
        await expect(dialog.locator(".sheet-error")).to_have_text(
            "A file named src/b.py already exists; rename or delete it first."
        )
        await checked(page, f"files-dialog-{size}")
        await dialog.get_by_role("button", name="Cancel").click()

        await file_menu(page, size, "src", "Delete folder")
        await expect(dialog).to_contain_text("Its 1 file will be deleted.")
        await dialog.get_by_role("button", name="Delete").click()
        await expect(dialog).to_be_hidden()
        await expect(tree.locator("[data-folder=src]")).to_have_count(0)
        await file_menu(page, size, "c.py", "Delete")
        await dialog.get_by_role("button", name="Delete").click()
        await expect(tree).to_contain_text("No files yet.")
        await expect(page.locator(".editor-tab")).to_have_count(0)
    finally:
        await page.context.close()


async def test_upload_several_files_and_refuse_one_too_big(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "upload")
    try:
        if size == "phone":
            await page.get_by_role("tab", name="Files").click()
        await page.locator("#files-upload").set_input_files(
            [
                {"name": "data.json", "mimeType": "application/json", "buffer": b'{"a": 1}\n'},
                {"name": "run.sh", "mimeType": "text/x-sh", "buffer": b"echo hi\n"},
                {"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89" * 6000},
            ]
        )
        message = page.locator(".files-message")
        await expect(message).to_have_text(
            "Uploaded 2 files. photo.png is 5.9 KB; one file may be at most 4 KB."
        )
        tree = page.locator("#files")
        await expect(tree.locator('[data-path="data.json"]')).to_be_visible()
        await expect(tree.locator('[data-path="run.sh"]')).to_be_visible()
        await expect(tree.locator('[data-path="photo.png"]')).to_have_count(0)
        await checked(page, f"files-upload-{size}")

        await tree.locator('[data-path="run.sh"]').click()
        await expect(code(page)).to_have_text("echo hi")
        await expect(code(page).locator(".tok-variableName")).to_have_text("echo")
    finally:
        await page.context.close()


async def test_a_refused_save_says_why_and_keeps_the_text(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "refused")
    try:
        await create_file(page, size, "big.txt")
        await code(page).click()
        # Pasted in one go: more than the 4 KiB one file may hold here.
        await page.keyboard.insert_text("line of text\n" * 400)
        state = page.locator(".save-state")
        await expect(state).to_have_text(
            "Not saved: This file is larger than 4 KB, the most one file may hold."
        )
        await expect(page.get_by_role("button", name="Retry")).to_be_visible()
        kept = await page.evaluate("() => window.offcoder.editor.current().content")
        assert kept == "line of text\n" * 400
        await checked(page, f"editor-refused-{size}")

        # Kept across a reload too, and saved once it fits.
        await page.reload()
        await expect(state).to_have_text(
            "Not saved: This file is larger than 4 KB, the most one file may hold."
        )
        await code(page).click()
        await page.keyboard.press("ControlOrMeta+a")
        await page.keyboard.type("short now")
        await expect(state).to_have_text("Saved")
        await page.evaluate("localStorage.clear()")
        await page.reload()
        await expect(code(page)).to_have_text("short now")
    finally:
        await page.context.close()


async def test_the_key_row_types_on_touch_screens_only(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "keys")
    try:
        await create_file(page, size, "k.py")
        keys = page.get_by_role("toolbar", name="Keys")
        if size == "desktop":
            await expect(keys).to_be_hidden()
            return
        await code(page).click()
        await page.keyboard.type("print")
        await keys.get_by_role("button", name="(", exact=True).tap()
        await keys.get_by_role("button", name="Double quote").tap()
        await page.keyboard.type("hi")
        await keys.get_by_role("button", name="Right").tap()
        await keys.get_by_role("button", name=")", exact=True).tap()
        await keys.get_by_role("button", name="Colon").tap()
        await expect(code(page)).to_have_text('print("hi"):')
        await expect(page.locator(".save-state")).to_have_text("Saved")
        heights = await keys.get_by_role("button").evaluate_all(
            "(keys) => keys.map((k) => k.getBoundingClientRect().height)"
        )
        assert len(heights) == 17 and min(heights) >= 44, heights
    finally:
        await page.context.close()


async def test_the_assistants_edit_is_one_undoable_change_and_saved(
    browser: Browser, console: str, size: str
) -> None:
    page = await new_project(browser, console, size, "apply")
    try:
        # What the other panes hear (bus.js), recorded from the first event on.
        await page.evaluate(
            """() => {
              window.heard = [];
              for (const name of ["file-opened", "file-saved", "files-changed"]) {
                document.addEventListener(`offcoder:${name}`,
                  (e) => window.heard.push([name, e.detail.path || null]));
              }
            }"""
        )
        await create_file(page, size, "main.py")
        await code(page).click()
        await page.keyboard.type("print('old')")
        await expect(page.locator(".save-state")).to_have_text("Saved")
        current = await page.evaluate("() => window.offcoder.editor.current()")
        assert current == {"path": "main.py", "content": "print('old')"}

        await page.evaluate(
            """() => document.dispatchEvent(new CustomEvent("offcoder:apply-edit",
                 {detail: {path: "main.py", content: "print('new')\\n"}}))"""
        )
        await expect(code(page)).to_have_text("print('new')")
        await expect(page.locator(".save-state")).to_have_text("Saved")
        heard = await page.evaluate("() => window.heard")
        assert ["files-changed", None] in heard
        assert ["file-opened", "main.py"] in heard
        assert heard.count(["file-saved", "main.py"]) >= 2

        await page.evaluate("localStorage.clear()")
        await page.reload()
        await expect(code(page)).to_have_text("print('new')")

        # After a reload the history starts again; an applied edit is undone in one step.
        await page.evaluate("() => window.offcoder.editor.apply('main.py', 'x = 2\\n')")
        await expect(code(page)).to_have_text("x = 2")
        await page.get_by_role("button", name="Undo").click()
        await expect(code(page)).to_have_text("print('new')")
        await expect(page.locator(".save-state")).to_have_text("Saved")
    finally:
        await page.context.close()


async def test_dark_mode_uses_one_dark(browser: Browser, console: str, size: str) -> None:
    _, page = await signed_in_page(
        browser,
        console,
        f"dark-{size}-{secrets.token_hex(3)}@example.test",
        color_scheme="dark",
        **SIZES[size],
    )
    try:
        await page.get_by_label("New project").fill(f"dark {size}")
        await page.get_by_role("button", name="Create").click()
        await expect(page.locator(".files-actions:not([hidden])")).to_have_count(1)
        await create_file(page, size, "style.css")
        await code(page).click()
        await page.keyboard.type("body { color: red; }")
        await expect(page.locator(".save-state")).to_have_text("Saved")
        # One-dark's colours (its red, #e06c75) on the console's dark surface (#151b23).
        colour = "(e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        name = code(page).locator(".tok-propertyName")
        await expect(name).to_have_text("color")
        assert (await name.evaluate(colour))[0] == "rgb(224, 108, 117)"
        editor = page.locator("#pane-editor .cm-editor")
        assert (await editor.evaluate(colour))[1] == "rgb(21, 27, 35)"
        await checked(page, f"editor-dark-{size}")
    finally:
        await page.context.close()
