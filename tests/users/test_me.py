"""The signed-in user's account: read, update, erase (V3)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import text

from offcoder.context import AppContext
from tests.support.signin import SignedIn, sign_in, signed_in_user


async def test_update_handle_and_display_name(api: httpx.AsyncClient, alice: SignedIn) -> None:
    handle = f"al-{secrets.token_hex(3)}"
    response = await api.patch(
        "/v1/me", headers=alice.headers, json={"handle": handle, "display_name": "Alice"}
    )
    assert response.status_code == 200
    assert response.json()["handle"] == handle and response.json()["display_name"] == "Alice"
    assert (await api.get("/v1/me", headers=alice.headers)).json()["handle"] == handle


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "Has-Upper"},
        {"handle": "-lead"},
        {"handle": "trail-"},
        {"handle": "a"},
        {"handle": "x" * 40},
        {"handle": "dou--ble"},
        {"handle": "ünï"},
        {"display_name": ""},
        {"email": "me@evil.test"},
        {"password": "hunter2"},
    ],
)
async def test_bad_updates_are_422_and_change_nothing(
    api: httpx.AsyncClient, alice: SignedIn, body: dict[str, object]
) -> None:
    before = (await api.get("/v1/me", headers=alice.headers)).json()
    response = await api.patch("/v1/me", headers=alice.headers, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in response.text
    assert (await api.get("/v1/me", headers=alice.headers)).json() == before


async def test_taken_handle_is_409(api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn) -> None:
    handle = f"taken-{secrets.token_hex(3)}"
    assert (
        await api.patch("/v1/me", headers=alice.headers, json={"handle": handle})
    ).status_code == 200
    response = await api.patch("/v1/me", headers=bob.headers, json={"handle": handle})
    assert response.status_code == 409
    assert (await api.get("/v1/me", headers=bob.headers)).json()["handle"] is None


@pytest.mark.promise("V3")
async def test_erasure_deletes_the_account_and_everything_it_owns(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    # A real sign-in first: it leaves what erasure must take too (its spent one-time code).
    user = await sign_in(api)
    other_device = await signed_in_user(context, user.subject, device_name="tablet")
    user_id = (await api.get("/v1/me", headers=user.headers)).json()["id"]
    project = await api.post("/v1/projects", headers=user.headers, json={"name": "doomed"})

    assert (await api.delete("/v1/me", headers=user.headers)).status_code == 204
    assert (await api.get("/v1/me", headers=other_device.headers)).status_code == 401
    async with context.database.system_session() as s:
        counts = {
            table: (
                await s.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {col} = :u"), {"u": user_id}
                )
            ).scalar()
            for table, col in (
                ("users", "id"),
                ("oauth_identities", "user_id"),
                ("device_sessions", "user_id"),
                ("refresh_tokens", "user_id"),
                ("authorization_codes", "user_id"),
                ("projects", "user_id"),
            )
        }
        erased = (
            await s.execute(
                text(
                    "SELECT count(*) FROM audit_events"
                    " WHERE action = 'user.erased' AND actor_id = :u"
                ),
                {"u": user_id},
            )
        ).scalar()
    assert counts == dict.fromkeys(counts, 0)
    assert erased == 1
    if project.status_code == 201:
        assert (
            await api.get(f"/v1/projects/{project.json()['id']}", headers=user.headers)
        ).status_code == 401
    # Signing in again (through the broker) with the same provider account starts a fresh,
    # empty account.
    again = await sign_in(api, user.subject)
    assert (await api.get("/v1/me", headers=again.headers)).json()["id"] != user_id
