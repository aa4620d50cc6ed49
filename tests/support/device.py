"""The device authorization grant (RFC 8628) as the tests drive it: a terminal's requests over
the API, and a person's browser signed in to the console deciding at /console/device."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.support.signin import provider_consent

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
NOT_WAITING = "That code is not waiting for approval."
TEST_SERVER = "http://testserver"


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client (a terminal, or a browser with its own cookie jar) whose calls come from
    `address`; the caller closes it."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=TEST_SERVER)


async def ask_for_codes(
    terminal: httpx.AsyncClient, device_name: str = "build box"
) -> dict[str, Any]:
    """`POST /v1/auth/device/code` as a form, as the CLI sends it."""
    answer = await terminal.post("/v1/auth/device/code", data={"device_name": device_name})
    assert answer.status_code == 200, answer.text
    codes: dict[str, Any] = answer.json()
    return codes


async def poll(terminal: httpx.AsyncClient, device_code: str) -> httpx.Response:
    return await terminal.post(
        "/v1/auth/token", data={"grant_type": GRANT, "device_code": device_code}
    )


def oauth_error(response: httpx.Response) -> str | None:
    """The RFC 6749 `error` of a 400 refusal (None for anything else)."""
    if response.status_code != 400:
        return None
    error = response.json().get("error")
    return error if isinstance(error, str) else None


async def console_sign_in(browser: httpx.AsyncClient, subject: str) -> str:
    """Sign in to the console in `browser` as `subject` (the local provider's consent); the
    page the console then sends the browser to (path and query)."""
    started = await browser.get("/console/signin/oidc")
    assert started.status_code == 303, started.text
    authorize = await browser.get(started.headers["location"])
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(await provider_consent(authorize.headers["location"], subject))
    to_console = await browser.get(f"{back.path}?{back.query}")
    assert to_console.status_code == 302, to_console.text
    landing = urlsplit(to_console.headers["location"])
    signed_in = await browser.get(f"{landing.path}?{landing.query}")
    assert signed_in.status_code == 303, signed_in.text
    return str(signed_in.headers["location"])


async def decide(browser: httpx.AsyncClient, user_code: str, decision: str) -> httpx.Response:
    """Press Approve or Deny for `user_code` on the console's device page (the page is read
    first, as a person would, for its CSRF token)."""
    shown = await browser.get("/console/device", params={"user_code": user_code})
    csrf = browser.cookies.get("oc_csrf")
    assert csrf, shown.text
    return await browser.post(
        "/console/device", data={"csrf": csrf, "user_code": user_code, "decision": decision}
    )
