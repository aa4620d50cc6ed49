from __future__ import annotations

import httpx

from tests.support.signin import sign_in


async def test_signed_in_user_reads_their_account(api: httpx.AsyncClient) -> None:
    """The whole sign-in (the broker, the provider, the code exchange), then a first call."""
    alice = await sign_in(api)
    response = await api.get("/v1/me", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.subject
