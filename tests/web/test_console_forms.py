"""The console's typed dependencies: `ConsoleUser` sends strangers to sign in, `FormUser` holds
the CSRF check, `ConsoleSession` is the page's one transaction (after a refused write the page
is still read in it, and nothing of the refused write is kept)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.main import create_app
from tests.support.signin import SignedIn, signed_in_user

CSRF = secrets.token_urlsafe(32)  # 43 characters, the shape the console makes


@pytest.fixture(scope="module")
async def web(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    # A client of its own: the console's answers set cookies, which must not reach the shared
    # API client's jar.
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def browser(user: SignedIn | None, *, csrf: str | None = CSRF) -> dict[str, str]:
    cookies = {"oc_csrf": csrf} if csrf else {}
    if user is not None:
        cookies["oc_access"] = user.access_token
    return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


async def projects_of(api: httpx.AsyncClient, user: SignedIn) -> list[str]:
    listed = await api.get("/v1/projects", headers=user.headers)
    return [p["name"] for p in listed.json()["items"]]


async def test_a_page_without_a_signed_in_user_goes_to_the_sign_in_page(
    web: httpx.AsyncClient,
) -> None:
    response = await web.get("/console/projects", headers=browser(None))
    assert response.status_code == 303 and response.headers["location"] == "/console"


async def test_a_form_needs_its_csrf_token_and_changes_nothing_without_it(
    web: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    for token in (None, "x" * 43):
        refused = await web.post(
            "/console/projects", data={"name": "forged", "csrf": token or ""}, headers=browser(user)
        )
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
    assert await projects_of(api, user) == []


async def test_a_form_of_a_stranger_goes_to_the_sign_in_page(web: httpx.AsyncClient) -> None:
    response = await web.post(
        "/console/projects", data={"name": "p", "csrf": CSRF}, headers=browser(None)
    )
    assert response.status_code == 303 and response.headers["location"] == "/console"


async def test_a_form_with_its_token_writes_in_the_request_transaction(
    web: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    created = await web.post(
        "/console/projects", data={"name": "From the console", "csrf": CSRF}, headers=browser(user)
    )
    assert created.status_code == 303
    assert created.headers["location"].startswith("/console/projects/")
    # Committed before the redirect was sent.
    assert await projects_of(api, user) == ["From the console"]


async def test_after_a_refused_write_nothing_is_kept_and_the_page_is_still_read(
    web: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    await web.post("/console/projects", data={"name": "kept", "csrf": CSRF}, headers=browser(user))
    project = (await api.get("/v1/projects", headers=user.headers)).json()["items"][0]["id"]

    # A secret whose value is over the project's limit: refused, shown on its settings page.
    refused = await web.post(
        f"/console/projects/{project}/secrets",
        data={"name": "BIG", "value": "x" * 65_537, "csrf": CSRF},
        headers=browser(user),
    )

    assert refused.status_code in (413, 422), refused.status_code
    assert "kept" in refused.text  # the page was read in the same transaction, after the undo
    secrets_ = await api.get(f"/v1/projects/{project}/secrets", headers=user.headers)
    assert secrets_.json()["items"] == []


@pytest.mark.parametrize("path", ["/console/no-such-page", "/console/projects/not-a-project-id"])
async def test_an_address_the_console_does_not_have_is_a_page_not_json(
    web: httpx.AsyncClient, context: AppContext, path: str
) -> None:
    """A browser that follows a wrong or cut-off console link gets a page saying so, never the
    API's problem+json (which stays for everything outside /console)."""
    user = await signed_in_user(context)
    response = await web.get(path, headers={"Cookie": f"oc_access={user.access_token}"})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "There is no such page." in response.text
    api = await web.get("/v1/no-such-thing")
    assert api.headers["content-type"].startswith("application/problem+json")
