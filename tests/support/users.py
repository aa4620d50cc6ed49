"""Who a test user is, as the API says."""

from __future__ import annotations

import uuid

import httpx

from tests.support.signin import SignedIn


async def user_id(api: httpx.AsyncClient, user: SignedIn) -> uuid.UUID:
    response = await api.get("/v1/me", headers=user.headers)
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["id"])
