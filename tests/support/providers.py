"""Signing in with one of the five named providers, step by step as a client and a person do."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.oauth_standins import OIDC_NAMED
from tests.support.signin import REDIRECT_URI, pkce_pair, provider_consent


async def start(api: httpx.AsyncClient, provider: str) -> tuple[str, str]:
    """Begin a sign-in with `provider`; returns the provider's URL and our PKCE verifier."""
    verifier, challenge = pkce_pair()
    response = await api.get(
        f"/v1/auth/{provider}/authorize",
        params={
            "redirect_uri": REDIRECT_URI,
            "state": "app-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "device_name": "phone",
        },
    )
    assert response.status_code == 302, response.text
    return response.headers["location"], verifier


async def at_provider(location: str, provider: str, who: str) -> str:
    """The person signs in at the provider; returns where the provider sends the browser."""
    if provider in OIDC_NAMED:
        return await provider_consent(location, who)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(location + "&as=" + who)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def sign_in_with(api: httpx.AsyncClient, provider: str, who: str) -> dict[str, Any]:
    location, verifier = await start(api, provider)
    back = urlsplit(await at_provider(location, provider, who))
    assert back.path == f"/v1/auth/{provider}/callback"
    landing = await api.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302, landing.text
    query = parse_qs(urlsplit(landing.headers["location"]).query)
    assert "code" in query, query
    issued = await api.post(
        "/v1/auth/token",
        json={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "code_verifier": verifier,
        },
    )
    assert issued.status_code == 200, issued.text
    headers = {"authorization": f"Bearer {issued.json()['access_token']}"}
    me: dict[str, Any] = (await api.get("/v1/me", headers=headers)).json()
    me["_headers"] = headers  # for further calls as this user
    me["_tokens"] = issued.json()
    return me
