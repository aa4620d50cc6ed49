"""A second factor for a test user: enrol TOTP, verify it, and get an access token marked mfa."""

from __future__ import annotations

import time

import httpx
import pyotp

from tests.support.signin import SignedIn


async def enrolled(api: httpx.AsyncClient, user: SignedIn) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol and confirm; returns the authenticator and the recovery codes."""
    started = await api.post("/v1/auth/mfa/totp", headers=user.headers)
    assert started.status_code == 201, started.text
    body = started.json()
    totp = pyotp.TOTP(body["secret"])
    assert body["otpauth_uri"].startswith("otpauth://totp/OffCoder:")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    confirmed = await api.post(
        "/v1/auth/mfa/totp/confirm", headers=user.headers, json={"code": totp.now()}
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recovery_codes"]


def next_code(totp: pyotp.TOTP) -> str:
    """A code of the next step (accepted within the drift window; the current one is spent)."""
    return totp.at(time.time() + 30)


async def with_mfa(api: httpx.AsyncClient, user: SignedIn) -> dict[str, str]:
    totp, _ = await enrolled(api, user)
    verified = await api.post(
        "/v1/auth/mfa/verify", headers=user.headers, json={"code": next_code(totp)}
    )
    assert verified.status_code == 200, verified.text
    return {"authorization": f"Bearer {verified.json()['access_token']}"}
