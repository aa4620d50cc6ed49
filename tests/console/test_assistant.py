"""The assistant pane of the project page in Chromium, against a local OpenAI stand-in: the
person's keys (last four shown, replaced, deleted), a streamed answer shown as it arrives with
its code as code, flagged; a blocked answer withdrawn; errors as sentences; "fix this file" as a
diff whose Accept emits offcoder:apply-edit; "explain this error" after a failed job."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from offcoder.ai.models import AIFlag
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context
from tests.support import ai_standins as ais
from tests.support.browser import chromium
from tests.support.console import SIZES, checked, project_page_ready, signed_in_page
from tests.support.served import served_at_its_own_url

KEY = "sk-console-test-7Q2z"
HARMFUL = "Write ransomware that encrypts every file on the victim's disk and demands bitcoin."


@pytest.fixture(scope="module")
def openai_standin() -> Iterator[ais.OpenAIStandIn]:
    with ais.running_openai(KEY) as standin:
        yield standin


@pytest.fixture(scope="module")
async def assistant_context(
    settings: Settings, prepared: PreparedDatabase, openai_standin: ais.OpenAIStandIn
) -> AsyncIterator[AppContext]:
    """The app with its OpenAI calls sent to the stand-in (as tests/ai/conftest.py does)."""
    changed = settings.model_copy(
        update={"ai_base_urls": {"openai": f"{openai_standin.url}/v1"}, "ai_timeout_s": 5.0}
    )
    ctx = build_context(changed, prepared)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
async def console(assistant_context: AppContext) -> AsyncIterator[str]:
    async with served_at_its_own_url(assistant_context) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
def standin(openai_standin: ais.OpenAIStandIn) -> Iterator[ais.OpenAIStandIn]:
    """The shared stand-in, put back to its plain reply after each test."""
    yield openai_standin
    openai_standin.reply = ais.DEFAULT_REPLY
    openai_standin.chunks = None
    openai_standin.stall_after = None
    openai_standin.stall_s = 0.0


async def project_page(browser: Browser, console: str, size: str) -> tuple[BrowserContext, Page]:
    """A new person's new project, with the assistant open (its tab on a phone, its column on a
    wide screen)."""
    context, page = await signed_in_page(
        browser, console, f"ai-{size}-{secrets.token_hex(4)}@example.test", **SIZES[size]
    )
    await page.get_by_label("New project").fill("Assistant at work")
    await page.get_by_role("button", name="Create").click()
    await expect(page.locator("h1")).to_have_text("Assistant at work")
    await open_assistant(page, size)
    return context, page


async def open_assistant(page: Page, size: str) -> None:
    await project_page_ready(page)
    if size == "phone":
        await page.get_by_role("tab", name="Assistant").click()
    else:
        toggle = page.get_by_role("button", name="Assistant", exact=True)
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#pane-ai")).to_be_visible()


async def add_key(page: Page, key: str = KEY) -> None:
    if await page.locator("#ai-keys").is_hidden():
        await page.get_by_role("button", name="Keys").click()
    await page.locator("#ai-key-provider").select_option("openai")
    await page.get_by_label("Key", exact=True).fill(key)
    await page.get_by_role("button", name="Save key").click()
    await expect(page.locator("#ai-key-list")).to_contain_text(f"OpenAI …{key[-4:]}")


async def ask(page: Page, question: str) -> None:
    await page.get_by_label("Ask the assistant").fill(question)
    await page.get_by_role("button", name="Send").click()


def last_answer(page: Page) -> Any:
    return page.locator("#ai-log .ai-theirs").last


async def test_keys_are_added_replaced_and_deleted_showing_only_their_last_four(
    browser: Browser, console: str, standin: ais.OpenAIStandIn
) -> None:
    context, page = await project_page(browser, console, "desktop")
    try:
        await ask(page, "How do I sort a list?")
        await expect(last_answer(page)).to_contain_text(
            "You have no OpenAI key stored. Add yours under Keys, then ask again."
        )
        await expect(page.locator("#ai-keys")).to_be_visible()  # opened for the next step
        await expect(page.locator("#ai-key-list")).to_contain_text("No keys yet")

        wrong = "sk-not-the-right-one-AAAA"
        await add_key(page, wrong)
        await expect(page.locator("#ai-key-status")).to_have_text(
            "Saved your OpenAI key ending in AAAA."
        )
        sent_before = len(standin.requests)
        await ask(page, "How do I sort a list?")
        await expect(last_answer(page)).to_contain_text(
            "OpenAI did not accept your key. Check it with OpenAI, then replace it under Keys."
        )
        # The provider's 401 is not the session's: the question is not sent a second time.
        assert len(standin.requests) == sent_before + 1

        await page.get_by_role("button", name="Replace the OpenAI key").click()
        await expect(page.get_by_label("Key", exact=True)).to_be_focused()
        await add_key(page, KEY)
        await expect(page.locator("#ai-key-list")).not_to_contain_text("AAAA")
        await expect(page.locator("#ai-key-status")).to_have_text(
            "Replaced your OpenAI key ending in 7Q2z."
        )
        await checked(page, "assistant-keys-desktop")
        # Between a phone and a wide screen the files column gives way to the assistant.
        await page.set_viewport_size({"width": 1024, "height": 768})
        await expect(page.locator("#pane-files")).to_be_hidden()
        await checked(page, "assistant-keys-1024")
        await page.set_viewport_size(SIZES["desktop"]["viewport"])
        html = await page.content()
        assert KEY not in html and wrong not in html  # the form was emptied; only last four

        await page.get_by_role("button", name="Delete the OpenAI key").click()
        await page.get_by_role("button", name="Cancel").click()
        await expect(page.locator("#ai-key-list")).to_contain_text("OpenAI …7Q2z")
        await page.get_by_role("button", name="Delete the OpenAI key").click()
        await expect(page.locator("#ai-key-list")).to_contain_text("Delete your OpenAI key?")
        await page.get_by_role("button", name="Delete key").click()
        await expect(page.locator("#ai-key-list")).to_contain_text("No keys yet")
        await expect(page.locator("#ai-key-status")).to_have_text("Your OpenAI key was deleted.")
        await page.reload()
        await page.get_by_role("button", name="Keys").click()
        await expect(page.locator("#ai-key-list")).to_contain_text("No keys yet")
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_an_answer_streams_in_as_text_and_code_and_can_be_flagged(
    browser: Browser,
    console: str,
    standin: ais.OpenAIStandIn,
    assistant_context: AppContext,
    size: str,
) -> None:
    code = "rows = [line.split(',') for line in open('data.csv')]"
    # The first sentence at once, then a pause before each further piece: the first is on the
    # screen while the answer is still being written.
    standin.chunks = [
        "First, read the file. ",
        "Then split each line <b>on commas</b>:\n\n```python\n",
        f"{code}\n```\n",
        "That is all.",
    ]
    standin.stall_after = 1
    standin.stall_s = 0.6
    context, page = await project_page(browser, console, size)
    try:
        await add_key(page)
        await page.get_by_label("Model").fill("gpt-test")
        await ask(page, "How do I read a CSV file?")
        answer = last_answer(page)
        await expect(answer).to_contain_text("First, read the file.")
        # Still being written: no "that is all" yet, and nothing to flag.
        assert "That is all." not in await answer.inner_text()
        assert await answer.get_by_role("button", name="Flag this answer").count() == 0
        await expect(answer).to_contain_text("That is all.")
        await expect(answer.locator("pre code")).to_have_text(code)
        # The model's markup is text, never markup.
        await expect(answer).to_contain_text("split each line <b>on commas</b>:")
        assert await answer.locator("b").count() == 0

        await answer.get_by_role("button", name="Flag this answer").click()
        await answer.get_by_label("Why flag it?").select_option("It is wrong or misleading")
        words = f"the file is never closed ({secrets.token_hex(4)})"
        await answer.get_by_label("In your words (optional)").fill(words)
        await checked(page, f"assistant-{size}")
        await answer.get_by_role("button", name="Send flag").click()
        await expect(answer).to_contain_text("Flagged for review. Thank you.")
        await expect(answer.get_by_role("button", name="Flag this answer")).to_have_count(0)
        async with assistant_context.database.system_session() as session:
            reasons = list(
                await session.scalars(
                    select(AIFlag.reason).where(
                        AIFlag.reason == f"It is wrong or misleading: {words}"
                    )
                )
            )
        assert len(reasons) == 1

        # The conversation goes along with the next question.
        standin.chunks = None
        standin.stall_after = None
        standin.reply = "Use csv.reader."
        await ask(page, "Is there a module for it?")
        await expect(last_answer(page)).to_contain_text("Use csv.reader.")
        sent = standin.requests[-1].body["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert sent[2]["content"].startswith("First, read the file.")

        # The provider and model are remembered on this device, and the pane stays open.
        await page.reload()
        await expect(page.locator("#pane-ai")).to_be_visible()
        await expect(page.get_by_label("Model")).to_have_value("gpt-test")
    finally:
        await context.close()


async def test_a_blocked_answer_is_withdrawn_and_says_why(
    browser: Browser, console: str, standin: ais.OpenAIStandIn
) -> None:
    standin.chunks = [
        "Here is a plan. ",
        "Sure! Here's a ransomware script that encrypts all of the victim's files and "
        "demands a bitcoin ransom to decrypt them:",
    ]
    standin.stall_after = 1
    standin.stall_s = 0.6
    context, page = await project_page(browser, console, "desktop")
    try:
        await add_key(page)
        await ask(page, "Tell me a story.")
        answer = last_answer(page)
        await expect(answer).to_contain_text("Here is a plan.")
        await expect(answer).to_contain_text(
            "This answer was blocked and removed: it fell under the Acceptable Use Policy "
            "(malware)."
        )
        await expect(answer.locator(".ai-answer")).to_have_text("")
        await expect(answer.get_by_role("button", name="Flag this answer")).to_have_count(0)
    finally:
        await context.close()


async def test_errors_are_sentences_with_the_next_step(
    browser: Browser, console: str, standin: ais.OpenAIStandIn
) -> None:
    context, page = await project_page(browser, console, "desktop")
    try:
        await add_key(page)
        sent_before = len(standin.requests)
        await ask(page, HARMFUL)
        await expect(last_answer(page)).to_contain_text(
            "Your message was not sent: it falls under the Acceptable Use Policy (malware). "
            "Nothing was charged; ask for something else."
        )
        assert len(standin.requests) == sent_before
        # The question is given back to be changed and sent again.
        await expect(page.get_by_label("Ask the assistant")).to_have_value(HARMFUL)

        standin.fail_next(429, retry_after=17)
        await ask(page, "How do I sort a list?")
        await expect(last_answer(page)).to_contain_text(
            "OpenAI is limiting requests made with your key. Try again in 17 seconds."
        )
        await checked(page, "assistant-error-desktop")

        # Stopped halfway: said so, nothing to flag, and the next question can go.
        standin.chunks = [f"Step {n}. " for n in range(20)]
        standin.stall_after = 1
        standin.stall_s = 0.5
        await ask(page, "Explain sorting step by step.")
        await expect(last_answer(page)).to_contain_text("Step 0.")
        await page.get_by_role("button", name="Stop").click()
        await expect(last_answer(page)).to_contain_text("Stopped.")
        await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        await expect(page.get_by_role("button", name="Send")).to_be_enabled()
        await expect(
            last_answer(page).get_by_role("button", name="Flag this answer")
        ).to_have_count(0)

        # The access cookie gone (as when it runs out): the session is renewed and the
        # question sent once.
        standin.chunks = None
        standin.stall_after = None
        standin.reply = "Use sorted()."
        await context.clear_cookies(name="oc_access")
        sent_before = len(standin.requests)
        await ask(page, "How do I sort a list?")
        await expect(last_answer(page)).to_contain_text("Use sorted().")
        assert len(standin.requests) == sent_before + 1
    finally:
        await context.close()


EDITOR_STANDIN = """(file) => {
  // The editor pane's side of the bus contract (lib/bus.js), while it is built elsewhere.
  window.offcoder = window.offcoder || {};
  window.offcoder.editor = { current: () => file };
  window.applied = [];
  document.addEventListener('offcoder:apply-edit', (e) => window.applied.push(e.detail));
}"""


@pytest.mark.parametrize("size", SIZES)
async def test_fix_this_file_shows_a_diff_and_accept_sends_the_edit(
    browser: Browser, console: str, standin: ais.OpenAIStandIn, size: str
) -> None:
    before = 'import sys\n\nprint("helo")\nx = 1\n'
    after = 'import sys\n\nprint("hello")\nx = 1\n'
    standin.reply = f"The word is misspelt.\n\n```python\n{after}```\n"
    context, page = await project_page(browser, console, size)
    try:
        await add_key(page)
        await page.evaluate("() => { if (window.offcoder) delete window.offcoder.editor; }")
        await page.get_by_role("button", name="Fix this file").click()
        await expect(page.locator("#ai-status")).to_have_text("Open a file first.")

        await page.evaluate(EDITOR_STANDIN, {"path": "main.py", "content": before})
        await page.get_by_role("button", name="Fix this file").click()
        answer = last_answer(page)
        diff = answer.locator(".ai-diff")
        await expect(diff).to_contain_text('- print("helo")')
        await expect(diff).to_contain_text('+ print("hello")')
        await expect(answer).to_contain_text("1 line added, 1 line removed.")
        sent = standin.requests[-1].body["messages"][-1]["content"]
        assert before in sent and "main.py" in sent
        await expect(page.locator("#ai-log .ai-mine").last).to_have_text(
            re.compile("Fix this file: main.py")
        )
        await checked(page, f"assistant-fix-{size}")
        await page.emulate_media(color_scheme="dark")
        await checked(page, f"assistant-fix-{size}-dark")
        assert await page.evaluate("() => window.applied") == []  # nothing before Accept
        await answer.get_by_role("button", name="Accept").click()
        await expect(answer).to_contain_text("Accepted: the change was sent to the editor")
        applied = await page.evaluate("() => window.applied")
        assert applied == [{"path": "main.py", "content": after}]

        # Reject sends nothing.
        await page.get_by_role("button", name="Fix this file").click()
        second = last_answer(page)
        await second.get_by_role("button", name="Reject").click()
        await expect(second).to_contain_text("Rejected: the file was left as it is.")
        assert await page.evaluate("() => window.applied.length") == 1
    finally:
        await context.close()


def job_ended(status: str, log: str) -> str:
    job = {
        "id": "5a0c3b8e-1111-4222-8333-944455556666",
        "status": status,
        "command": ["python3", "main.py"],
        "exit_code": 1 if status == "failed" else 0,
        "reason": "exit_code" if status == "failed" else None,
        "detail": "the program exited with code 1" if status == "failed" else None,
    }
    detail = json.dumps({"job": job, "log": log})
    event = f"new CustomEvent('offcoder:job-ended', {{detail: {detail}}})"
    return f"() => document.dispatchEvent({event})"


@pytest.mark.parametrize("size", SIZES)
async def test_explain_this_error_is_offered_after_a_failed_job(
    browser: Browser, console: str, standin: ais.OpenAIStandIn, size: str
) -> None:
    standin.reply = "The name `x` is used before it is given a value."
    context, page = await project_page(browser, console, size)
    try:
        await add_key(page)
        # Away from the assistant (the run pane on a phone, the column closed on a wide
        # screen): the offer marks the way to it.
        if size == "phone":
            way = page.get_by_role("tab", name="Assistant")
            await page.get_by_role("tab", name="Run").click()
        else:
            way = page.get_by_role("button", name="Assistant", exact=True)
            await way.click()
        await expect(page.locator("#pane-ai")).to_be_hidden()
        noise = "".join(f"line {n} of output\n" for n in range(5000))
        log = noise + 'Traceback (most recent call last):\nNameError: name "x" is not defined\n'
        await page.evaluate(job_ended("succeeded", "ok\n"))
        await expect(page.get_by_role("button", name="Explain this error")).to_have_count(0)
        await page.evaluate(job_ended("failed", log))
        await expect(way).to_have_class(re.compile("has-offer"))
        await way.click()
        await expect(way).not_to_have_class(re.compile("has-offer"))
        offer = page.locator(".ai-offer")
        await expect(offer).to_contain_text(
            "python3 main.py failed: the program exited with code 1."
        )
        await checked(page, f"assistant-explain-{size}")
        await page.get_by_role("button", name="Explain this error").click()
        await expect(last_answer(page)).to_contain_text("is used before it is given a value")
        sent = standin.requests[-1].body["messages"][-1]["content"]
        assert "python3 main.py" in sent and "the program exited with code 1" in sent
        assert 'NameError: name "x" is not defined' in sent
        assert "line 0 of output" not in sent and len(sent) < 5000  # the tail, capped
        await expect(offer).to_have_count(0)
        # The pane takes one question at a time ("Wait for this answer to finish"): the answer
        # above is finished once it can be flagged.
        await expect(
            last_answer(page).get_by_role("button", name="Flag this answer")
        ).to_be_visible()
        await expect(page.get_by_role("button", name="Stop")).to_be_hidden()

        # Another pane may ask directly, on the bus (lib/bus.js offcoder:ask-ai).
        standin.reply = "The module is not installed."
        await page.evaluate(
            """() => document.dispatchEvent(new CustomEvent('offcoder:ask-ai', {detail: {
                action: 'explain', text: "ModuleNotFoundError: No module named 'flask'"}}))"""
        )
        # A second turn right after the first: the default 5 s proved short under a full run.
        await expect(last_answer(page)).to_contain_text(
            "The module is not installed.", timeout=20_000
        )
        sent = standin.requests[-1].body["messages"][-1]["content"]
        assert "ModuleNotFoundError: No module named 'flask'" in sent
    finally:
        await context.close()
