"""Signals ride on PostgreSQL NOTIFY: delivered at commit, never for a rolled-back write, and
heard only by the processes they are for."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from offcoder.context import AppContext
from offcoder.realtime.signals import JobSignal, Signals, signal_job, wake_workers

pytestmark = pytest.mark.db


async def test_a_signal_arrives_at_commit_and_never_after_a_rollback(context: AppContext) -> None:
    events = Signals.for_api(context.database.app_engine.url)
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
                await signal_job(s, job, JobSignal.log)
                raise LookupError

        with pytest.raises(LookupError):
            await rolled_back()
        async with context.database.system_session() as s:
            await signal_job(s, other, JobSignal.status)  # someone else's job: not ours to hear
            await signal_job(s, job, JobSignal.status)
            await asyncio.sleep(0.3)
            assert received == []  # not before the commit
        async with asyncio.timeout(5):
            await heard.wait()
        await asyncio.sleep(0.3)
        assert received == ["status"]

        unregister()
        async with context.database.system_session() as s:
            await signal_job(s, job, JobSignal.status)
        await asyncio.sleep(0.5)
        assert received == ["status"]
        assert events.watched_jobs == 0
    finally:
        await events.close()


async def test_workers_hear_queued_jobs_and_cancels_and_api_processes_do_not(
    context: AppContext,
) -> None:
    """A cancel reaches the listener registered for its job on a worker, at commit; a worker
    does not hear job changes meant for the API, and the API does not hear cancels."""
    workers = Signals.for_workers(context.database.system_engine.url)
    api = Signals.for_api(context.database.app_engine.url)
    job, other = uuid.uuid4(), uuid.uuid4()
    on_worker: list[str] = []
    on_api: list[str] = []
    woken = asyncio.Event()
    try:
        workers.listen(job, on_worker.append)
        workers.on_wake(woken.set)
        api.listen(job, on_api.append)
        async with asyncio.timeout(10):
            await workers.wait_ready()
            await api.wait_ready()
        on_worker.clear()  # the "reconnect" each hears when its LISTEN starts
        on_api.clear()
        woken.clear()

        async with context.database.system_session() as s:
            await wake_workers(s)
            await signal_job(s, other, JobSignal.cancel)  # another worker's job
            await signal_job(s, job, JobSignal.cancel)
            await signal_job(s, job, JobSignal.log)
            await asyncio.sleep(0.3)
            assert not woken.is_set() and on_worker == []  # not before the commit
        async with asyncio.timeout(5):
            await woken.wait()
        await asyncio.sleep(0.5)
        assert on_worker == ["cancel"]
        assert on_api == ["log"]
    finally:
        await workers.close()
        await api.close()
