"""One transaction story: a request is one transaction, opened by a dependency.

The dependency commits when the endpoint returns and rolls back when it raises, with one
exception: a `CommitThenRefuse` is committed first and raised after, so a refusal can keep
what the request did before it (a spent code, an ended session, a counted attempt). Services
never commit and never return refusals for their callers to raise.

Endpoints that open transactions by hand say why on the line above (a long poll that must not
hold a connection while it waits, a stream, a call to a provider between two transactions).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.context import AppContext, get_context
from offcoder.problems import CommitThenRefuse


@asynccontextmanager
async def committing_refusals(
    transaction: AbstractAsyncContextManager[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """`transaction`, committed also when a `CommitThenRefuse` leaves the block (then raised)."""
    async with transaction as session:
        try:
            yield session
        except CommitThenRefuse:
            # The opener's own exit sees a finished transaction and leaves it alone.
            await session.commit()
            raise


def system_transaction(ctx: AppContext) -> AbstractAsyncContextManager[AsyncSession]:
    """A transaction as the system role (bypasses RLS), keeping `CommitThenRefuse` refusals."""
    return committing_refusals(ctx.database.system_session())


async def _system_session(
    ctx: Annotated[AppContext, Depends(get_context)],
) -> AsyncIterator[AsyncSession]:
    async with system_transaction(ctx) as session:
        yield session


# The request's transaction as the system role, for code that serves no single user under RLS:
# sign-in before anyone is known, and admin routes behind their role gate (admin/auth.py).
# scope="function": committed before the response is sent, like `UserSession`.
SystemSession = Annotated[AsyncSession, Depends(_system_session, scope="function")]
