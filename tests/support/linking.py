"""Helpers of the linking tests (A2): a link as a client does it, step by step."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.providers import at_provider
from tests.support.signin import REDIRECT_URI, pkce_pair


def account_number() -> int:
    """A GitHub account id no other test uses (the database lives for the whole run)."""
    return 10_000_000 + uuid.uuid4().int % 10**9


async def providers_of(api: httpx.AsyncClient, user: dict[str, Any]) -> list[str]:
    listed = (await api.get("/v1/me/identities", headers=user["_headers"])).json()["items"]
    return sorted(i["provider"] for i in listed)


async def start_link(
    api: httpx.AsyncClient, headers: dict[str, str], provider: str, state: str = "link-1"
) -> tuple[str, str]:
    """A signed-in client starts linking `provider`: the provider's URL and the PKCE verifier."""
    verifier, challenge = pkce_pair()
    started = await api.post(
        f"/v1/me/identities/{provider}",
        headers=headers,
        json={"redirect_uri": REDIRECT_URI, "state": state, "code_challenge": challenge},
    )
    assert started.status_code == 200, started.text
    return started.json()["authorize_url"], verifier


async def provider_step(
    api: httpx.AsyncClient, authorize_url: str, provider: str, who: str
) -> dict[str, list[str]]:
    """Whoever opens the URL signs in at the provider as `who`, in a browser of their own (no
    cookie, no token of ours); returns the query our callback sends that browser to."""
    back = urlsplit(await at_provider(authorize_url, provider, who))
    landing = await api.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302, landing.text
    target = urlsplit(landing.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT_URI
    return parse_qs(target.query)


async def complete(
    api: httpx.AsyncClient, headers: dict[str, str], provider: str, code: str, verifier: str
) -> httpx.Response:
    return await api.post(
        f"/v1/me/identities/{provider}/complete",
        headers=headers,
        json={"code": code, "code_verifier": verifier},
    )


async def link(
    api: httpx.AsyncClient, headers: dict[str, str], provider: str, who: str
) -> httpx.Response:
    """The whole link as a client does it: start, the provider step, then the link code."""
    url, verifier = await start_link(api, headers, provider)
    landing = await provider_step(api, url, provider, who)
    assert sorted(landing) == ["code", "state"] and landing["state"] == ["link-1"], landing
    return await complete(api, headers, provider, landing["code"][0], verifier)


def refused_as_invalid_grant(response: httpx.Response) -> bool:
    return (
        response.status_code == 400
        and response.headers["content-type"].startswith("application/problem+json")
        and response.json()["error"] == "invalid_grant"
    )
