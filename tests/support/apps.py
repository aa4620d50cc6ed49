"""A second app on the same database, with some settings changed (limits, lifetimes, grace)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context, create_app

TEST_SERVER = "http://testserver"


@asynccontextmanager
async def app_with(
    settings: Settings, prepared: PreparedDatabase, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    ctx = build_context(settings.model_copy(update=overrides), prepared)
    transport = httpx.ASGITransport(app=create_app(ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=TEST_SERVER) as client:
            yield client, ctx
    finally:
        await ctx.close()
