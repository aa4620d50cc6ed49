"""Signing a test user in through the whole broker, over HTTP, against the local OIDC provider."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from offcoder.auth.pkce import pkce_challenge

REDIRECT_URI = "offcoder://auth/callback"


@dataclass
class SignedIn:
    access_token: str
    refresh_token: str
    session_id: str
    subject: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = pkce_challenge(verifier)
    return verifier, challenge


async def provider_consent(authorize_url: str, subject: str) -> str:
    """Act as the person at the provider's page: choose `subject`, return the callback URL."""
    async with httpx.AsyncClient() as browser:
        response = await browser.post(authorize_url, data={"sub": subject})
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def one_time_code(
    api: httpx.AsyncClient, subject: str, *, challenge: str, device_name: str = "test phone"
) -> str:
    state = secrets.token_urlsafe(8)
    start = await api.get(
        "/v1/auth/oidc/authorize",
        params={
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "device_name": device_name,
        },
    )
    assert start.status_code == 302, start.text
    callback = await provider_consent(start.headers["location"], subject)
    parts = urlsplit(callback)
    back = await api.get(parts.path + "?" + parts.query)
    assert back.status_code == 302, back.text
    landing = urlsplit(back.headers["location"])
    assert f"{landing.scheme}://{landing.netloc}{landing.path}" == REDIRECT_URI
    query = parse_qs(landing.query)
    assert query["state"] == [state]
    return query["code"][0]


async def sign_in(
    api: httpx.AsyncClient, subject: str | None = None, *, device_name: str = "test phone"
) -> SignedIn:
    subject = subject or f"user-{secrets.token_hex(6)}@example.test"
    verifier, challenge = pkce_pair()
    code = await one_time_code(api, subject, challenge=challenge, device_name=device_name)
    response = await api.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedIn(body["access_token"], body["refresh_token"], body["session_id"], subject)
