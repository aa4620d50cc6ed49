"""The worker's export task, running beside a test's server (the API alone makes no archive)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from offcoder.context import AppContext
from offcoder.privacy import exports
from offcoder.worker.periodic import PeriodicTask, repeat


@asynccontextmanager
async def making_exports(context: AppContext) -> AsyncIterator[None]:
    """The same periodic task WorkerHost runs, polling often so a test does not wait."""
    task = PeriodicTask(
        "data exports",
        0.1,
        partial(exports.run_pending, context.database, context.settings.export_ttl_s),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(repeat(task, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
