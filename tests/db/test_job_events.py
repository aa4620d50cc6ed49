"""Job events ride on PostgreSQL NOTIFY: delivered at commit, never for a rolled-back write."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from offcoder.context import AppContext
from offcoder.realtime.signals import JobEvents, announce

pytestmark = pytest.mark.db


async def test_a_signal_arrives_at_commit_and_never_after_a_rollback(context: AppContext) -> None:
    events = JobEvents(context.database.app_engine.url)
    job, other = uuid.uuid4(), uuid.uuid4()
    received: list[str] = []
    heard = asyncio.Event()

    def hear(kind: str) -> None:
        received.append(kind)
        heard.set()

    try:
        unregister = events.listen(job, hear)
        async with asyncio.timeout(10):
            await events.wait_ready()
        received.clear()  # the "reconnect" wake-up sent when the LISTEN starts
        heard.clear()

        async def rolled_back() -> None:
            async with context.database.system_session() as s:
                await announce(s, job, "log")
                raise LookupError

        with pytest.raises(LookupError):
            await rolled_back()
        async with context.database.system_session() as s:
            await announce(s, other, "status")  # someone else's job: not ours to hear
            await announce(s, job, "status")
            await asyncio.sleep(0.3)
            assert received == []  # not before the commit
        async with asyncio.timeout(5):
            await heard.wait()
        await asyncio.sleep(0.3)
        assert received == ["status"]

        unregister()
        async with context.database.system_session() as s:
            await announce(s, job, "status")
        await asyncio.sleep(0.5)
        assert received == ["status"]
        assert events.watched_jobs == 0
    finally:
        await events.close()
