"""The console's Run pane and job page in the machine's Chromium, against a real worker (issue 17
items 2-4): Run, Stop and Run again on a phone; a shell line runs as written and shown; ANSI
colours and stderr in red; the ending in words with what the job used; a preview's link, and the
hint to run a server again with preview; the run command kept on the project; every view checked
at a phone's size and a laptop's (axe-core, width, tap targets, screenshots)."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from tests.support.browser import chromium
from tests.support.console import PHONE, SIZES, checked, signed_in_page
from tests.support.run_console import (
    RECORD_BUS,
    call,
    new_project,
    open_run_pane,
    put_file,
    stop_if_running,
)
from tests.support.served import served_at_its_own_url

pytestmark = [pytest.mark.docker, pytest.mark.promise("D2")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

TICKER = """import time
for i in range(60):
    print(f"line {i}")
for i in range(200):
    print(f"tick {i}", flush=True)
    time.sleep(0.25)
"""


@pytest.fixture(scope="module")
async def console(runtime: Runtime) -> AsyncIterator[str]:
    async with served_at_its_own_url(runtime[1]) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    # Preview hosts resolve to loopback inside the browser alone: no lookup leaves it.
    async with chromium("--host-resolver-rules=MAP *.offcoder.localhost 127.0.0.1") as launched:
        yield launched


def user() -> str:
    return f"run-{secrets.token_hex(4)}@example.test"


async def shown_job_id(page: Page) -> str:
    job_id = await page.locator("#output").get_attribute("data-job-id")
    assert job_id, "no job shown"
    return job_id


async def test_run_stop_and_run_again_on_a_phone(browser: Browser, console: str) -> None:
    context, page = await signed_in_page(browser, console, user(), **PHONE)
    project_id = await new_project(page, "Ticker")
    await put_file(page, project_id, "main.py", TICKER)
    await open_run_pane(page, console, project_id)
    await page.evaluate(RECORD_BUS)
    run = page.locator("#run")
    await expect(page.locator("#run-line")).to_have_value("python3 main.py")  # from main.py
    await expect(run).to_have_text("Run")

    await run.click()
    log = page.locator("#job-log")
    await expect(log).to_contain_text("tick 1", timeout=60_000)  # live, while it runs
    await expect(page.locator("#job-status")).to_have_text("Running")
    await expect(run).to_have_text("Stop")
    first = await shown_job_id(page)

    # Scrolled up, the reader keeps their place while output arrives, until they jump back.
    at_end = "l => l.scrollTop + l.clientHeight >= l.scrollHeight - 4"
    await log.evaluate("l => { l.scrollTop = 0; }")
    jump = page.get_by_role("button", name="Jump to latest")
    await expect(jump).to_be_visible()
    ticks = await log.inner_text()
    await expect(log).not_to_have_text(ticks)  # more came
    assert await log.evaluate("l => l.scrollTop") == 0
    await jump.click()
    await expect(jump).to_be_hidden()
    assert await log.evaluate(at_end)
    ticks = await log.inner_text()
    await expect(log).not_to_have_text(ticks)
    assert await log.evaluate(at_end)  # following the end again

    await run.click()
    await expect(page.locator("#job-status")).to_have_text("Stopped", timeout=30_000)
    await expect(page.locator("#job-detail")).to_have_text("Stopped: cancelled by you.")
    await expect(page.locator("#job-reason")).to_have_text("cancelled")
    await expect(run).to_have_text("Run again")
    await checked(page, "run-stopped-phone")

    await run.click()
    await expect(page.locator("#job-status")).to_have_text("Running", timeout=60_000)
    second = await shown_job_id(page)
    assert second != first
    await expect(log).to_contain_text("tick 0")
    assert "cancelled" not in await page.locator("#job-detail").inner_text()
    await expect(run).to_have_text("Stop")
    # The history lists both, newest first, each a link to its page.
    await expect(page.locator("#jobs li")).to_have_count(2)
    await expect(page.locator("#jobs li").first.locator("a")).to_have_attribute(
        "href", f"/console/jobs/{second}"
    )
    await run.click()
    await expect(run).to_have_text("Run again", timeout=30_000)

    # job-ended follows the ending once the last output is in (the button may say "Run again"
    # a moment before): wait for it rather than read at once (seen short under a full run).
    await page.wait_for_function("() => window.__bus.length >= 4")
    bus = await page.evaluate("() => window.__bus")
    assert [(e["name"], e["job"]["id"]) for e in bus] == [
        ("job-started", first),
        ("job-ended", first),
        ("job-started", second),
        ("job-ended", second),
    ], bus
    assert "tick 0" in bus[1]["log"] and bus[1]["job"]["status"] == "cancelled"
    await context.close()


async def test_a_quoted_shell_line_runs_as_written_and_is_remembered(
    browser: Browser, console: str
) -> None:
    context, page = await signed_in_page(browser, console, user(), **PHONE)
    project_id = await new_project(page, "Shell line")
    await put_file(page, project_id, "notes.txt", "a project holds a file to run\n")
    await open_run_pane(page, console, project_id)
    line = """python3 -c "print('hi')" && echo done"""
    await page.locator("#run-line").fill(line)
    await expect(page.locator("#run-argv")).to_have_text(f"sh -c '{line}'")
    await page.locator("#run").click()
    await expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=60_000)
    await expect(page.locator("#job-log")).to_have_text("hi\ndone\n")
    job = await call(page, "GET", f"/v1/jobs/{await shown_job_id(page)}")
    assert job["command"] == ["sh", "-c", line]

    # Kept on the project: a reload (and any other browser) proposes it again.
    assert (await call(page, "GET", f"/v1/projects/{project_id}"))["run_command"] == line
    await page.reload()
    await expect(page.locator("#run-line")).to_have_value(line)
    await expect(page.locator("#run-argv")).to_have_text(f"sh -c '{line}'")
    # The finished job opens again, from its tail, with its ending.
    await expect(page.locator("#job-log")).to_have_text("hi\ndone\n")
    await expect(page.locator("#job-detail")).to_have_text(
        "Finished: the program exited with code 0."
    )
    await context.close()


COLOURS = r"""import sys, time
print("\x1b[31mred words\x1b[0m then plain", flush=True)
print("\x1b[1;38;2;10;200;30mtrue colour\x1b[0m <b>not bold</b>", flush=True)
print("oops on stderr", file=sys.stderr, flush=True)
sum(i * i for i in range(3_000_000))  # some CPU for the usage line
time.sleep(1.2)
sys.exit(3)
"""


async def test_colours_stderr_and_the_ending_with_usage(browser: Browser, console: str) -> None:
    context, page = await signed_in_page(browser, console, user())
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    project_id = await new_project(page, "Colours")
    await put_file(page, project_id, "main.py", COLOURS)
    await open_run_pane(page, console, project_id)
    await page.locator("#run").click()
    status = page.locator("#job-status")
    await expect(status).to_have_text("Failed", timeout=60_000)

    log = page.locator("#job-log")
    red = log.locator("span.ansi-red-fg")
    await expect(red).to_have_text("red words")
    assert await red.evaluate("e => getComputedStyle(e).color") == "rgb(255, 123, 114)"
    true_colour = log.locator("span.ansi-bold", has_text="true colour")
    assert await true_colour.evaluate("e => e.style.color") == "rgb(10, 200, 30)"
    assert await true_colour.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    await expect(log).to_contain_text("<b>not bold</b>")  # text, never markup
    assert await log.locator("b").count() == 0
    stderr = log.locator(".chunk.stderr")
    await expect(stderr).to_have_text("oops on stderr\n")
    assert await stderr.evaluate("e => getComputedStyle(e).color") == "rgb(255, 123, 114)"
    assert refused == [], refused  # no inline style refused by the page's CSP

    await expect(page.locator("#job-detail")).to_have_text(
        "Failed: the program exited with code 3."
    )
    await expect(page.locator("#job-reason")).to_have_text("exit_code")
    await expect(page.locator("#job-exit-code")).to_have_text("exit 3")
    usage = page.locator("#job-usage")
    took = r"[\d.]+ m?s"
    await expect(usage).to_have_text(
        re.compile(rf"^Exit code 3 · took {took} · CPU {took} · peak memory [\d.]+ (KiB|MiB)$")
    )

    # Times on demand: each line's start carries its time, shown only when asked for.
    first = log.locator(".chunk[data-time]").first
    assert re.fullmatch(r"\d\d:\d\d:\d\d", await first.get_attribute("data-time") or "")
    shown = "e => getComputedStyle(e, '::before').content"
    assert await first.evaluate(shown) == "none"
    await page.get_by_role("button", name="Times").click()
    assert re.fullmatch(r'"\d\d:\d\d:\d\d  "', await first.evaluate(shown))

    # The download is the whole log, as the API stores it.
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download").click()
    saved = (await (await downloading.value).path()).read_text()
    stored = await call(page, "GET", f"/v1/jobs/{await shown_job_id(page)}/logs")
    assert saved == "".join(c["data"] for c in stored["chunks"])
    assert "\x1b[31mred words\x1b[0m then plain\n" in saved and "oops on stderr\n" in saved

    # Search within the output: the count, and the match highlighted.
    await page.get_by_role("button", name="Search").click()
    await page.get_by_label("Search the output").fill("PLAIN")
    await expect(page.locator("#log-search-count")).to_have_text("1 of 1")
    assert await page.evaluate("() => CSS.highlights.get('log-match').size") == 1

    # The output stopped at its cap: "Stopped", in words, never "failed, exit 0".
    await page.locator("#run-line").fill("""python3 -c "print('x' * 400_000)" """)
    await page.locator("#run").click()
    await expect(page.locator("#job-reason")).to_have_text("output_limit", timeout=60_000)
    await expect(status).to_have_text("Stopped")
    await expect(page.locator("#job-detail")).to_have_text(
        re.compile(r"^Stopped: its output passed the limit of 256 KiB, so it was stopped\.$")
    )
    await context.close()


SERVER = """from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
print("Serving HTTP on 0.0.0.0 port 8000", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8000), SimpleHTTPRequestHandler).serve_forever()
"""


async def test_a_server_gets_the_preview_hint_and_a_preview_job_its_link(
    runtime: Runtime, browser: Browser, console: str
) -> None:
    _, ctx, _ = runtime
    context, page = await signed_in_page(browser, console, user(), **PHONE)
    await call(page, "PATCH", "/v1/me", {"handle": f"run{secrets.token_hex(4)}"})
    project_id = await new_project(page, "Web app")
    await put_file(page, project_id, "main.py", SERVER)
    await open_run_pane(page, console, project_id)
    await page.locator("#run").click()
    hint = page.locator("#job-hint")
    await expect(hint).to_contain_text("serves HTTP on port 8000", timeout=60_000)
    plain = await shown_job_id(page)
    await checked(page, "run-serve-hint-phone")
    await page.get_by_role("button", name="Run again with preview on port 8000").click()

    link = page.locator("#job-preview-link")
    await expect(link).to_be_visible(timeout=60_000)
    preview = await shown_job_id(page)
    assert preview != plain
    job = await call(page, "GET", f"/v1/jobs/{preview}")
    assert (job["network"], job["ports"]) == ("preview", [8000])
    assert (await call(page, "GET", f"/v1/jobs/{plain}"))["status"] == "cancelled"
    assert await link.get_attribute("href") == job["preview_url"]
    assert await link.get_attribute("target") == "_blank"
    await expect(page.locator("#job-preview-share")).to_have_text(
        "Port 8000. Private: only you can open it."
    )
    await expect(page.locator("#run-network")).to_have_value("preview")
    await expect(hint).to_be_hidden()  # it runs with preview on that port now
    await checked(page, "run-preview-phone")
    host = urlsplit(job["preview_url"]).hostname
    assert host is not None and host.endswith(f".{ctx.settings.preview_domain}")
    async with (
        page.expect_popup() as opened,
        context.expect_event("request", lambda r: urlsplit(r.url).hostname == host),
    ):
        await link.click()  # a new tab, asking for the job's preview address
    tab = await opened.value
    # The worker names the preview on the test app's public URL; this console is served on a
    # port of its own, where the same host shows the program's page to its owner.
    await tab.goto(f"http://{host}:{urlsplit(console).port}/")
    await expect(tab.locator("body")).to_contain_text("Directory listing", timeout=30_000)
    await stop_if_running(page, preview)
    await expect(page.locator("#job-preview")).to_have_text(
        "The preview on port 8000 stopped with the job.", timeout=30_000
    )
    await context.close()


@pytest.mark.parametrize("size", SIZES)
async def test_the_run_pane_and_the_job_page_at_each_size(
    browser: Browser, console: str, size: str
) -> None:
    context, page = await signed_in_page(browser, console, user(), **SIZES[size])
    project_id = await new_project(page, "Looks")
    await put_file(page, project_id, "main.py", 'print("\\x1b[32mready\\x1b[0m")\n' * 40)
    await open_run_pane(page, console, project_id)
    await checked(page, f"run-pane-empty-{size}")
    await page.locator("#run").click()
    await expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=60_000)
    await page.get_by_role("button", name="Search").click()
    await checked(page, f"run-pane-{size}")
    job_id = await shown_job_id(page)
    await page.locator("#jobs a").first.click()
    await expect(page).to_have_url(f"{console}/console/jobs/{job_id}")
    await expect(page.locator("#job-status")).to_have_text("Succeeded")
    await expect(page.locator("#job-log")).to_contain_text("ready")
    await expect(page.locator("#job-usage")).to_contain_text("Exit code 0")
    await checked(page, f"job-page-{size}")
    await context.close()
