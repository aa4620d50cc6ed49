"""The console's Run pane and job page in Chromium, for the run tests: a project made on the
projects page, files and settings written through /v1 from the page (the console's cookie with
its CSRF header, as the page's own scripts call it), and the pane opened at either size."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

# fetch() from the page: the session cookie goes along, and the page's CSRF token in the header
# the API asks for beside a cookie.
CALL = """async ([method, path, body, raw]) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const init = {method, credentials: "same-origin", headers: {"X-OffCoder-CSRF": csrf}};
  if (raw !== null) { init.body = raw; }
  else if (body !== null) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const answer = await fetch(path, init);
  const text = await answer.text();
  return {status: answer.status, body: text ? JSON.parse(text) : null};
}"""


async def call(page: Page, method: str, path: str, body: Any = None) -> Any:
    """A /v1 call from the page; asserts it succeeded and returns its JSON."""
    answer = await page.evaluate(CALL, [method, path, body, None])
    assert 200 <= answer["status"] < 300, answer
    return answer["body"]


async def put_file(page: Page, project_id: str, path: str, content: str) -> None:
    answer = await page.evaluate(
        CALL, ["PUT", f"/v1/projects/{project_id}/files/{path}", None, content]
    )
    assert answer["status"] == 200, answer


async def new_project(page: Page, name: str) -> str:
    """Create a project on the projects page (where a signed-in page starts); its id."""
    await page.get_by_label("New project").fill(name)
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url.rsplit("/", 1)[-1]


async def open_run_pane(page: Page, console: str, project_id: str) -> None:
    """The project page with its Run pane showing (a tab on a phone, a column on a laptop)."""
    await page.goto(f"{console}/console/projects/{project_id}")
    tab = page.get_by_role("tab", name="Run")
    if await tab.is_visible():
        await tab.click()
    await expect(page.locator("#pane-run")).to_be_visible()


async def stop_if_running(page: Page, job_id: str) -> None:
    """Cancel a job the test left running, so the module's one worker is free for the next."""
    job = await call(page, "GET", f"/v1/jobs/{job_id}")
    if job["status"] in ("queued", "starting", "running"):
        await call(page, "POST", f"/v1/jobs/{job_id}/cancel")


# The job-started and job-ended events of the page's bus, recorded for the test to read.
RECORD_BUS = """() => {
  window.__bus = [];
  for (const name of ["job-started", "job-ended"]) {
    document.addEventListener(`offcoder:${name}`, (e) => window.__bus.push({name, ...e.detail}));
  }
}"""
