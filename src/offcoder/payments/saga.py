"""Asking a provider to move money about one of our objects, once: lock, ask, record.

A top-up's checkout and an admin's refund are both a row of ours made first (committed, so a
lost answer leaves a trace), then one call to the provider, then the answer recorded. The call
happens outside any row lock (a provider can be slow) but inside the object's provider-call
lock (`locks.provider_call`), so two retries of one object take turns: the second finds the
first's answer recorded and asks nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.payments import locks
from offcoder.payments.providers.common import ProviderRefused

Answer = TypeVar("Answer")
Result = TypeVar("Result")


async def call_provider_once(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    object_id: uuid.UUID,
    *,
    recorded: Callable[[AsyncSession], Awaitable[Result | None]],
    ask: Callable[[], Awaitable[Answer]],
    record: Callable[[Answer], Awaitable[Result]],
    refused: Callable[[ProviderRefused], Awaitable[object]],
) -> Result:
    """Hold `object_id`'s provider-call lock (in a `transaction` of its own); unless `recorded`
    finds an answer already recorded, `ask` the provider and `record` its answer, or record its
    refusal (`refused`) and raise it. `record` and `refused` write in transactions of their own,
    committed before the lock is let go."""
    async with transaction() as call:
        await locks.provider_call(call, object_id)
        earlier = await recorded(call)
        if earlier is not None:
            return earlier
        try:
            answer = await ask()
        except ProviderRefused as refusal:
            await refused(refusal)
            raise
        return await record(answer)
