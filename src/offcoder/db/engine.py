"""Engines and transactions: one request or one task is one transaction (D1).

`Database.user_session(user_id)` is the only way request code reaches PostgreSQL. It connects as
the application role (no table ownership, no BYPASSRLS) and sets `app.user_id` with
`set_config(..., true)`: transaction-local, so a pooled connection never carries one user's id
into another user's transaction. `Database.system_session()` connects as the system role, which
bypasses RLS; only sign-in, webhooks, workers and admin code may use it (a test checks who
imports it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class Database:
    """The two engines the server runs with, built from the role URLs."""

    def __init__(
        self, app_url: URL, system_url: URL, *, pool_size: int = 10, max_overflow: int | None = None
    ) -> None:
        overflow = pool_size if max_overflow is None else max_overflow
        # hide_parameters: a failed statement's error would otherwise carry its bound values
        # (a job's output, sealed secrets, tokens' hashes) into whatever logs the error (R3).
        self.app_engine: AsyncEngine = create_async_engine(
            app_url,
            pool_size=pool_size,
            max_overflow=overflow,
            pool_pre_ping=True,
            hide_parameters=True,
        )
        self.system_engine: AsyncEngine = create_async_engine(
            system_url,
            pool_size=max(2, pool_size // 2),
            max_overflow=overflow,
            pool_pre_ping=True,
            hide_parameters=True,
        )
        self._app_sessions = async_sessionmaker(self.app_engine, expire_on_commit=False)
        self._system_sessions = async_sessionmaker(self.system_engine, expire_on_commit=False)

    @asynccontextmanager
    async def user_session(self, user_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A transaction in which row-level security scopes every row to `user_id`.

        Commits when the block ends normally, rolls back on any exception.
        """
        async with self._app_sessions() as session, session.begin():
            await session.execute(select(func.set_config("app.user_id", str(user_id), True)))
            yield session

    @asynccontextmanager
    async def anonymous_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction as the application role with no user: RLS shows it no user rows."""
        async with self._app_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def system_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction that bypasses RLS: sign-in, webhooks, workers and admin code only."""
        async with self._system_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.app_engine.dispose()
        await self.system_engine.dispose()
