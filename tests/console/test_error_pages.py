"""In a browser every console error is a page (no problem+json, no bare "Internal Server
Error"), with the status, a sentence and a way on; the API's answers stay problem+json."""

from __future__ import annotations

import httpx

from offcoder.context import AppContext
from offcoder.main import create_app


async def test_an_unexpected_failure_in_a_console_page_is_a_friendly_page(
    context: AppContext,
) -> None:
    app = create_app(context)

    async def broken() -> None:
        raise RuntimeError("a bug of ours")

    # Routes added to this one app for the test: a page and an API path that fail the same way.
    app.add_api_route("/console/broken-for-a-test", broken)
    app.add_api_route("/v1/broken-for-a-test", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        page = await web.get("/console/broken-for-a-test")
        api = await web.get("/v1/broken-for-a-test")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side" in page.text
    assert 'href="/console"' in page.text  # signed out here: the way on is signing in
    assert "a bug of ours" not in page.text  # nothing of the failure's inside is shown
    assert api.status_code == 500
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_a_wrong_method_on_a_console_page_is_a_page(context: AppContext) -> None:
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        answer = await web.delete("/console/projects")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
