"""The test factory `signed_in_user` leaves what a real sign-in leaves: the API cannot tell.

Most tests mint their users straight into the database (tests/support/signin.py); this holds the
factory to the broker, so a change to what a sign-in writes or signs shows up here first.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from offcoder.auth.models import DeviceSession, OAuthIdentity, RefreshToken
from offcoder.context import AppContext
from offcoder.users.models import User
from tests.support.signin import SignedIn, sign_in, signed_in_user


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(s: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        return value

    header, claims, _ = token.split(".")
    return part(header), part(claims)


async def rows_of(ctx: AppContext, user: SignedIn) -> dict[str, Any]:
    """What the database holds of the signed-in user, without ids, instants and its subject."""

    def named(value: str | None) -> str | None:
        return "<subject>" if value == user.subject else value

    session_id = uuid.UUID(user.session_id)
    async with ctx.database.system_session() as s:
        device = await s.get(DeviceSession, session_id)
        assert device is not None
        person = await s.get(User, device.user_id)
        identities = list(
            await s.scalars(select(OAuthIdentity).where(OAuthIdentity.user_id == device.user_id))
        )
        tokens = list(
            await s.scalars(select(RefreshToken).where(RefreshToken.session_id == session_id))
        )
    assert person is not None
    return {
        "user": (person.handle, person.display_name, named(person.email), person.email_verified_at),
        "identities": [
            (
                i.provider,
                i.subject == user.subject,
                named(i.email),
                i.email_verified,
                i.access_token_enc is not None,
                i.refresh_token_enc is not None,
            )
            for i in identities
        ],
        "device": (
            device.device_name,
            device.provider,
            device.ip_prefix,
            device.expires_at - device.created_at,
            device.ended_at,
            device.mfa_at,
        ),
        "refresh_tokens": [
            (t.expires_at - t.created_at, t.used_at, t.replaced_by_id) for t in tokens
        ],
    }


async def test_a_minted_user_is_what_a_broker_sign_in_leaves(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    # given one user signed in through the broker and one minted by the factory
    real = await sign_in(api)
    minted = await signed_in_user(context)

    # then the tokens are alike: same header (kid), same claims, same lifetime
    (real_header, real_claims), (minted_header, minted_claims) = map(
        token_parts, (real.access_token, minted.access_token)
    )
    assert minted_header == real_header
    assert minted_claims.keys() == real_claims.keys()
    for claim in ("iss", "aud", "amr"):
        assert minted_claims[claim] == real_claims[claim]
    assert minted_claims["exp"] - minted_claims["iat"] == real_claims["exp"] - real_claims["iat"]
    assert minted_claims["sid"] == minted.session_id
    assert minted.refresh_token[:4] == real.refresh_token[:4] == "ocr_"
    # and so are the rows behind them
    assert await rows_of(context, minted) == await rows_of(context, real)
    # and so is what the API says of them
    real_me = (await api.get("/v1/me", headers=real.headers)).json()
    minted_me = (await api.get("/v1/me", headers=minted.headers)).json()
    assert minted_me.keys() == real_me.keys()
    own = {"id", "created_at"}
    assert {k: v for k, v in minted_me.items() if k not in own} == {
        k: (minted.subject if v == real.subject else v) for k, v in real_me.items() if k not in own
    }


async def test_a_minted_session_refreshes_and_logs_out_like_a_real_one(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    # given a minted user
    user = await signed_in_user(context)
    # when its refresh token is rotated
    rotated = await api.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    # then a new pair comes back for the same device session
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["session_id"] == user.session_id
    fresh = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
    sessions = await api.get("/v1/auth/sessions", headers=fresh)
    assert [s["id"] for s in sessions.json()["items"]] == [user.session_id]
    # when it logs out
    assert (await api.post("/v1/auth/logout", headers=fresh)).status_code == 204
    # then both access tokens are refused and the refresh token is dead
    assert (await api.get("/v1/me", headers=user.headers)).status_code == 401
    assert (await api.get("/v1/me", headers=fresh)).status_code == 401
    again = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
    )
    assert again.status_code == 400
