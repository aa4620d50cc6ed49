"""Suspending an account (auth/service.suspend_user, used by the admin dashboard): its live
sessions end at once and no new one opens, through any sign-in road, until it is restored."""

from __future__ import annotations

import httpx
import pytest

from offcoder.auth import service
from offcoder.context import AppContext
from tests.support.signin import one_time_code, pkce_pair, sign_in, signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("O4"), pytest.mark.promise("A4")]


async def test_a_suspended_account_loses_its_sessions_and_cannot_sign_in_until_restored(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    other = await signed_in_user(context)
    who = await user_id(api, user)
    admin = await user_id(api, other)
    async with context.database.system_session() as s:
        was = await service.suspend_user(s, who, actor_id=admin, suspended=True)
    assert was is False
    # Its access token and its refresh token stop working at once.
    assert (await api.get("/v1/me", headers=user.headers)).status_code == 401
    refreshed = await api.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 400
    # Another account is untouched.
    assert (await api.get("/v1/me", headers=other.headers)).status_code == 200
    # A new sign-in through the broker is refused at the code exchange, in a sentence.
    verifier, challenge = pkce_pair()
    code = await one_time_code(api, user.subject, challenge=challenge)
    refused = await api.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/account-suspended")
    assert "suspended" in refused.json()["detail"]
    # Restored, the same person signs in again.
    async with context.database.system_session() as s:
        assert await service.suspend_user(s, who, actor_id=admin, suspended=False) is True
    again = await sign_in(api, user.subject)
    assert (await api.get("/v1/me", headers=again.headers)).json()["id"] == str(who)
