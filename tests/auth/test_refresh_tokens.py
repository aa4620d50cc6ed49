"""A4: refresh tokens rotate on every use; a reused one ends its device session, audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.signin import SignedIn, sign_in

pytestmark = pytest.mark.promise("A4")


async def refresh(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
    )


async def me(api: httpx.AsyncClient, access: str) -> int:
    return (await api.get("/v1/me", headers={"Authorization": f"Bearer {access}"})).status_code


async def audit_actions(context: AppContext, session_id: str) -> list[str]:
    async with context.database.system_session() as s:
        rows = await s.execute(
            text("SELECT action FROM audit_events WHERE target = :t ORDER BY seq"),
            {"t": f"device_session:{session_id}"},
        )
        return [r.action for r in rows]


async def test_refresh_rotates_and_answers_the_contract(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    response = await refresh(api, alice.refresh_token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "session_id"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["session_id"] == alice.session_id
    assert body["refresh_token"] != alice.refresh_token
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    assert await me(api, body["access_token"]) == 200


async def test_reused_refresh_token_ends_the_device_session_and_is_audited(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    victim = await sign_in(api, device_name="phone")
    other_device = await sign_in(api, victim.subject, device_name="tablet")
    rotated = (await refresh(api, victim.refresh_token)).json()

    # Someone replays the old token (stolen before the rotation).
    replay = await refresh(api, victim.refresh_token)
    assert replay.status_code == 400
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert replay.json()["error"] == "invalid_grant"

    # The whole device session is gone: the newest refresh token and the access token too.
    assert (await refresh(api, rotated["refresh_token"])).status_code == 400
    assert await me(api, rotated["access_token"]) == 401
    assert "auth.session.refresh_token_reuse" in await audit_actions(context, victim.session_id)
    # ...but only that device session: the same user's tablet keeps working.
    assert await me(api, other_device.access_token) == 200
    assert (await refresh(api, other_device.refresh_token)).status_code == 200


async def test_two_racing_refreshes_with_one_token_cannot_both_win(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    first, second = await asyncio.gather(
        refresh(api, alice.refresh_token), refresh(api, alice.refresh_token)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 400]
    winner = first if first.status_code == 200 else second
    # The loser presented a used token: theft is assumed, the session ends.
    assert (await refresh(api, winner.json()["refresh_token"])).status_code == 400


async def test_grace_window_tolerates_only_the_immediate_predecessor(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with app_with(settings, prepared, refresh_reuse_grace_s=30) as (api, _):
        user = await sign_in(api)
        second = (await refresh(api, user.refresh_token)).json()["refresh_token"]
        # A lost response: the client retries with the token it still has. Tolerated once.
        retried = await refresh(api, user.refresh_token)
        assert retried.status_code == 200
        third = (await refresh(api, retried.json()["refresh_token"])).json()["refresh_token"]
        # `second` is now two generations old: reuse, the session ends.
        assert (await refresh(api, second)).status_code == 400
        assert (await refresh(api, third)).status_code == 400


async def test_grace_is_off_by_default(api: httpx.AsyncClient, alice: SignedIn) -> None:
    assert (await refresh(api, alice.refresh_token)).status_code == 200
    assert (await refresh(api, alice.refresh_token)).status_code == 400


async def test_expired_refresh_token_is_refused(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn
) -> None:
    async with context.database.system_session() as s:
        await s.execute(
            text("UPDATE refresh_tokens SET expires_at = now() - :d WHERE session_id = :s"),
            {"d": timedelta(seconds=1), "s": uuid.UUID(alice.session_id)},
        )
    response = await refresh(api, alice.refresh_token)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_session_absolute_lifetime_bounds_refresh(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn
) -> None:
    async with context.database.system_session() as s:
        await s.execute(
            text(
                "UPDATE device_sessions SET expires_at = now() - interval '1 second' WHERE id = :s"
            ),
            {"s": uuid.UUID(alice.session_id)},
        )
    assert (await refresh(api, alice.refresh_token)).status_code == 400
    assert await me(api, alice.access_token) == 401


@pytest.mark.parametrize(
    "body",
    [
        {"grant_type": "refresh_token", "refresh_token": "ocr_unknown"},
        {"grant_type": "refresh_token"},
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "refresh_token", "refresh_token": "x", "extra": 1},
        ["not", "an", "object"],
    ],
)
async def test_bad_refresh_requests_are_400_with_an_oauth_error(
    api: httpx.AsyncClient, body: object
) -> None:
    response = await api.post("/v1/auth/token", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"] in {
        "invalid_grant",
        "invalid_request",
        "unsupported_grant_type",
    }


async def test_logout_kills_the_refresh_and_the_access_token(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn
) -> None:
    assert (await api.post("/v1/auth/logout", headers=alice.headers)).status_code == 204
    assert await me(api, alice.access_token) == 401
    assert (await refresh(api, alice.refresh_token)).status_code == 400
    assert "auth.session.logout" in await audit_actions(context, alice.session_id)


async def test_sessions_listing_and_revocation(api: httpx.AsyncClient, context: AppContext) -> None:
    phone = await sign_in(api, device_name="phone")
    laptop = await sign_in(api, phone.subject, device_name="laptop")
    stranger = await sign_in(api)

    listing = (await api.get("/v1/auth/sessions", headers=phone.headers)).json()
    assert listing["next_cursor"] is None
    by_id = {item["id"]: item for item in listing["items"]}
    assert set(by_id) == {phone.session_id, laptop.session_id}
    assert by_id[phone.session_id]["current"] is True
    assert by_id[laptop.session_id]["current"] is False
    assert by_id[laptop.session_id]["device_name"] == "laptop"
    assert {"created_at", "last_used_at"} <= set(by_id[phone.session_id])

    # Another user's session is not found, whatever its id.
    denied = await api.delete(f"/v1/auth/sessions/{laptop.session_id}", headers=stranger.headers)
    assert denied.status_code == 404
    assert await me(api, laptop.access_token) == 200

    assert (
        await api.delete(f"/v1/auth/sessions/{laptop.session_id}", headers=phone.headers)
    ).status_code == 204
    assert await me(api, laptop.access_token) == 401
    assert (await refresh(api, laptop.refresh_token)).status_code == 400
    assert (
        await api.delete(f"/v1/auth/sessions/{laptop.session_id}", headers=phone.headers)
    ).status_code == 404
    remaining = (await api.get("/v1/auth/sessions", headers=phone.headers)).json()["items"]
    assert [item["id"] for item in remaining] == [phone.session_id]
    assert "auth.session.revoked" in await audit_actions(context, laptop.session_id)


async def test_signing_out_everywhere_else_keeps_only_the_calling_session(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    phone = await sign_in(api, device_name="phone")
    laptop = await sign_in(api, phone.subject, device_name="laptop")
    tablet = await sign_in(api, phone.subject, device_name="tablet")
    stranger = await sign_in(api)

    answer = await api.post("/v1/auth/sessions/revoke-others", headers=phone.headers)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ended": 2}
    assert await me(api, phone.access_token) == 200
    for other in (laptop, tablet):
        assert await me(api, other.access_token) == 401
        assert (await refresh(api, other.refresh_token)).status_code == 400
        assert "auth.session.revoked" in await audit_actions(context, other.session_id)
    remaining = (await api.get("/v1/auth/sessions", headers=phone.headers)).json()["items"]
    assert [item["id"] for item in remaining] == [phone.session_id]
    # Someone else's sessions are not theirs to end.
    assert await me(api, stranger.access_token) == 200
    again = await api.post("/v1/auth/sessions/revoke-others", headers=phone.headers)
    assert again.json() == {"ended": 0}
