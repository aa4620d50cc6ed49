"""The console's pages call the API with the browser's session cookie, never a token in script.

`/v1` takes the console's `HttpOnly` access cookie only together with the `X-OffCoder-CSRF`
header carrying this browser's CSRF token (which the page holds and a foreign site cannot read)
and, when the browser names one, our own Origin. A cross-site form or image sends the cookie
(SameSite=Lax lets top-level GETs through) but never the header: it gets 403 and reads nothing.
An expired access token is renewed by `POST /console/session/refresh`, under the same check.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.main import create_app
from tests.support.signin import SignedIn, sign_in, signed_in_user

CSRF = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
async def web(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def cookie_header(access: str | None = None, refresh: str | None = None) -> str:
    jar = {"oc_csrf": CSRF}
    if access:
        jar["oc_access"] = access
    if refresh:
        jar["oc_refresh"] = refresh
    return "; ".join(f"{k}={v}" for k, v in jar.items())


async def test_the_cookie_with_its_csrf_header_is_the_signed_in_user(
    web: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    me = await web.get(
        "/v1/me", headers={"cookie": cookie_header(user.access_token), "x-offcoder-csrf": CSRF}
    )
    assert me.status_code == 200, me.text
    created = await web.post(
        "/v1/projects",
        json={"name": "from the page"},
        headers={
            "cookie": cookie_header(user.access_token),
            "x-offcoder-csrf": CSRF,
            "origin": context.settings.public_url.rstrip("/"),
        },
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a cross-site link, form or image: the cookie alone
        {"x-offcoder-csrf": "x" * 43},  # a guessed token
        {"x-offcoder-csrf": ""},
        {"x-offcoder-csrf": CSRF, "origin": "https://elsewhere.example"},  # a foreign page
    ],
    ids=["cookie-alone", "wrong-token", "empty-token", "foreign-origin"],
)
async def test_the_cookie_without_its_header_reads_and_writes_nothing(
    web: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext, headers: dict[str, str]
) -> None:
    user = await signed_in_user(context)
    sent = {"cookie": cookie_header(user.access_token)} | headers
    read = await web.get("/v1/projects", headers=sent)
    assert read.status_code == 403, read.text
    assert read.headers["content-type"].startswith("application/problem+json")
    wrote = await web.post("/v1/projects", json={"name": "forged"}, headers=sent)
    assert wrote.status_code == 403
    listed = await api.get("/v1/projects", headers=user.headers)
    assert listed.json()["items"] == []


async def test_a_bearer_token_wins_over_a_cookie(
    web: httpx.AsyncClient, context: AppContext
) -> None:
    owner = await signed_in_user(context)
    other = await signed_in_user(context)
    me = await web.get(
        "/v1/me",
        headers={
            "cookie": cookie_header(other.access_token),
            "authorization": f"Bearer {owner.access_token}",
        },
    )
    assert me.status_code == 200
    other_me = await web.get(
        "/v1/me", headers={"cookie": cookie_header(other.access_token), "x-offcoder-csrf": CSRF}
    )
    assert me.json()["id"] != other_me.json()["id"]


async def test_no_cookie_and_no_token_is_401(web: httpx.AsyncClient) -> None:
    response = await web.get("/v1/me", headers={"x-offcoder-csrf": CSRF, "cookie": cookie_header()})
    assert response.status_code == 401


async def test_the_page_renews_an_expired_access_token_under_the_same_check(
    web: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    user: SignedIn = await sign_in(api, f"renew-{secrets.token_hex(4)}")
    refused = await web.post(
        "/console/session/refresh", headers={"cookie": cookie_header(refresh=user.refresh_token)}
    )
    assert refused.status_code == 403
    renewed = await web.post(
        "/console/session/refresh",
        headers={"cookie": cookie_header(refresh=user.refresh_token), "x-offcoder-csrf": CSRF},
    )
    assert renewed.status_code == 204, renewed.text
    access = renewed.cookies.get("oc_access")
    assert access and access != user.access_token
    me = await web.get("/v1/me", headers={"cookie": cookie_header(access), "x-offcoder-csrf": CSRF})
    assert me.status_code == 200
    # Signed out (no refresh cookie): 401, and the page sends the person to sign in.
    gone = await web.post(
        "/console/session/refresh", headers={"cookie": cookie_header(), "x-offcoder-csrf": CSRF}
    )
    assert gone.status_code == 401
