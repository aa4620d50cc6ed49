from __future__ import annotations

import httpx

from tests.support.signin import SignedIn


async def test_signed_in_user_reads_their_account(api: httpx.AsyncClient, alice: SignedIn) -> None:
    response = await api.get("/v1/me", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.subject
