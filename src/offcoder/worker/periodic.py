"""Work a worker does every so often, beside its jobs: each task runs at start, then every
`every_s` seconds until the worker stops; a failure is logged and tried again next time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]


async def repeat(task: PeriodicTask, stop: asyncio.Event) -> None:
    """Run `task` now and then every `task.every_s` seconds until `stop` is set."""
    while not stop.is_set():
        try:
            await task.run()
        except Exception as exc:  # the next round tries again
            log.warning("periodic task failed", task=task.name, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=task.every_s)
