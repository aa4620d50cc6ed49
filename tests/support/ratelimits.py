"""An app with small rate limits, reached from client addresses of the test's choosing (httpx's
ASGI transport puts the address in the scope, as uvicorn puts the peer's; no packet is sent)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context, create_app

TEST_SERVER = "http://testserver"
REDIS_URL = "redis://127.0.0.1:6379/0"  # make test starts one (scripts/ensure-services.sh)


def an_address() -> str:
    """A loopback address of this test's own, so no other test's calls share its counts."""
    return "127." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


@dataclass
class LimitedApp:
    ctx: AppContext
    app: FastAPI
    stack: AsyncExitStack
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def at(self, address: str) -> httpx.AsyncClient:
        """A client whose calls come from `address` (one per address, kept for the app's life)."""
        if address not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
            client = httpx.AsyncClient(
                transport=transport, base_url=TEST_SERVER, follow_redirects=False
            )
            self.clients[address] = await self.stack.enter_async_context(client)
        return self.clients[address]


@asynccontextmanager
async def limited_app(
    settings: Settings, prepared: PreparedDatabase, **overrides: Any
) -> AsyncIterator[LimitedApp]:
    """An app on the test database with the settings `overrides` changed."""
    ctx = build_context(settings.model_copy(update=overrides), prepared)
    async with AsyncExitStack() as stack:
        try:
            yield LimitedApp(ctx, create_app(ctx), stack)
        finally:
            await stack.aclose()
            await ctx.close()


def assert_rate_limited(response: httpx.Response, window_s: int = 60) -> int:
    """The refusal every limit gives: 429 problem+json with Retry-After in whole seconds,
    within the window, and the same wait in the body. Returns the wait."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= window_s
    body = response.json()
    assert body["type"] == "https://offcoder.dev/problems/rate-limited"
    assert (body["status"], body["title"]) == (429, "Too Many Requests")
    assert body["retry_after"] == wait and body["detail"]
    return wait
