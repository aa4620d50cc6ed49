"""Signed-in test users: through the whole broker over HTTP (`sign_in`, for the tests whose point
is the sign-in), or minted straight into the database (`signed_in_user`, for everything else)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from offcoder.auth import service
from offcoder.auth.models import DeviceSession
from offcoder.auth.oidc import ProviderIdentity
from offcoder.auth.pkce import pkce_challenge
from offcoder.context import AppContext
from offcoder.db.base import utcnow

REDIRECT_URI = "offcoder://auth/callback"
PROVIDER = "oidc"  # the local OpenID Connect provider of tests/conftest.py
ASGI_CLIENT_IP = "127.0.0.1"  # the client address httpx.ASGITransport gives every request


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


async def signed_in_user(
    ctx: AppContext, subject: str | None = None, *, device_name: str = "test phone"
) -> SignedIn:
    """A new user signed in on one device, written straight to the database: no broker round.

    What the broker's callback and token endpoint would leave behind, made by the same service
    code (`_user_for_identity`, `_issue`) in one system transaction: the user and its `oidc`
    identity (as the local provider asserts it: the subject as an unverified e-mail, its tokens
    sealed), a live `DeviceSession`, a stored refresh token and an access token from the
    app's own signer (same claims, same `kid`). The API cannot tell it from a real sign-in;
    logout, refresh and revocation work on it. Tests whose point is the sign-in use `sign_in`.
    """
    subject = subject or f"user-{secrets.token_hex(6)}@example.test"
    identity = ProviderIdentity(
        subject=subject,
        email=subject,
        email_verified=False,
        name=None,
        access_token=secrets.token_urlsafe(32),
        refresh_token=secrets.token_urlsafe(32),
    )
    now = utcnow()
    async with ctx.database.system_session() as session:
        user = await service._user_for_identity(session, ctx, PROVIDER, identity)
        device = DeviceSession(
            id=uuid.uuid4(),
            user_id=user.id,
            device_name=device_name,
            provider=PROVIDER,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.session_absolute_ttl_s),
            ip_prefix=service.ip_prefix(ASGI_CLIENT_IP),
        )
        session.add(device)
        await session.flush()
        issued = await service._issue(session, ctx, device)
    return SignedIn(issued.access_token, issued.refresh_token, str(issued.session_id), subject)
