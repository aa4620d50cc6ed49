"""Signals between our processes over PostgreSQL NOTIFY, and the one listener that hears them.

What is signalled, and who hears it:
- `signal_job(session, job, status | log)`: a job's row or its stored output changed. Every API
  process hears it (its long polls and Socket.IO feeds reread).
- `signal_job(session, job, cancel)`: the job's owner asked to stop it. Every worker hears it;
  only the one running that job acts on it, by rereading that one row.
- `wake_workers(session)`: a job was queued. Every worker hears it and tries to claim.
- `signal_session_ended(session, id)`: a device session ended (logout, revocation, refresh-token
  reuse). Every API process drops that session's open Socket.IO connections.

Every signal is sent one way: `pg_notify` inside the caller's transaction, so PostgreSQL delivers
it only at commit. A hearer that rereads after a signal always finds the row it was told about,
and a rolled-back write is never announced. A signal carries only an id and what happened; what
anyone acts on is read again under its own rules (a client's under its row-level security, D1),
never taken from the notification.

`Signals` is the one listener: a process holds one LISTEN connection on the channels it hears
(`Signals.for_api`, `Signals.for_workers`) and dispatches to what registered, per job, per device
session, or for wake-ups. Several API replicas and workers on several hosts each listen to the
same database, so no other broker is needed. A lost connection is reopened every second, and
once it is listening again every job listener hears `reconnect` and every wake listener is
called, since anything may have been missed meanwhile. Every hearer also rereads on its own
timer (waiters every few seconds, the worker's claim loop every second, its heartbeat re-checks
cancels), so a lost signal costs latency, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import TypeVar

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)


class JobSignal(StrEnum):
    """What happened to a job."""

    status = "status"  # its row changed state (API processes hear it)
    log = "log"  # a batch of its output was stored (API processes hear it)
    cancel = "cancel"  # its owner asked to stop it (workers hear it)


# Told to every job listener after a gap in listening: reread, something may have been missed.
RECONNECT = "reconnect"

JOB_EVENTS_CHANNEL = "offcoder_job_events"  # "<job>:status", "<job>:log"
# "" (a job was queued) and "<job>:cancel". The name is the queue's since the first worker: a
# worker of the previous release hears a cancel as a wake-up and re-checks its jobs.
WORKERS_CHANNEL = "offcoder_jobs"
SESSIONS_CHANNEL = "offcoder_session_ended"  # "<session>"
_CHANNEL_OF = {
    JobSignal.status: JOB_EVENTS_CHANNEL,
    JobSignal.log: JOB_EVENTS_CHANNEL,
    JobSignal.cancel: WORKERS_CHANNEL,
}

# How long a waiter trusts the signal alone before rereading anyway.
SAFETY_REREAD_S = 5.0
RECONNECT_DELAY_S = 1.0

JobListener = Callable[[str], None]
Wake = Callable[[], None]
K = TypeVar("K")
L = TypeVar("L")


async def _notify(session: AsyncSession, channel: str, payload: str) -> None:
    await session.execute(select(func.pg_notify(channel, payload)))


async def signal_job(session: AsyncSession, job_id: uuid.UUID, kind: JobSignal) -> None:
    """Signal `kind` for the job in `session`'s transaction; it is delivered at commit."""
    await _notify(session, _CHANNEL_OF[kind], f"{job_id}:{kind.value}")


async def wake_workers(session: AsyncSession) -> None:
    """Tell the workers a job was queued, in `session`'s transaction (delivered at commit)."""
    await _notify(session, WORKERS_CHANNEL, "")


async def signal_session_ended(session: AsyncSession, session_id: uuid.UUID) -> None:
    """Signal "this device session ended" in `session`'s transaction (delivered at commit)."""
    await _notify(session, SESSIONS_CHANNEL, str(session_id))


def _register(table: dict[K, set[L]], key: K, listener: L) -> Callable[[], None]:
    table.setdefault(key, set()).add(listener)

    def unregister() -> None:
        listeners = table.get(key)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del table[key]

    return unregister


class Signals:
    """One LISTEN connection per process, dispatching the signals it hears to registered
    listeners (see the module's docstring)."""

    def __init__(self, url: URL, channels: tuple[str, ...]) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channels = channels
        self._jobs: dict[uuid.UUID, set[JobListener]] = {}
        self._sessions: dict[uuid.UUID, set[Wake]] = {}
        self._wakes: set[Wake] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @classmethod
    def for_api(cls, url: URL) -> Signals:
        """What an API process hears: its jobs' changes and ended device sessions."""
        return cls(url, (JOB_EVENTS_CHANNEL, SESSIONS_CHANNEL))

    @classmethod
    def for_workers(cls, url: URL) -> Signals:
        """What a worker hears: queued jobs and cancels."""
        return cls(url, (WORKERS_CHANNEL,))

    # ------------------------------------------------------------------ registration

    def listen(self, job_id: uuid.UUID, listener: JobListener) -> Callable[[], None]:
        """Call `listener(kind)` on each signal for `job_id` (and `reconnect` after a gap).

        Returns the function that unregisters it. The listener runs on the event loop and must
        not block. Signals for jobs nobody here registered cost one dictionary lookup.
        """
        self._ensure_started()
        return _register(self._jobs, job_id, listener)

    def on_session_ended(self, session_id: uuid.UUID, listener: Wake) -> Callable[[], None]:
        """Call `listener()` when device session `session_id` ends; returns the unregister."""
        self._ensure_started()
        return _register(self._sessions, session_id, listener)

    def on_wake(self, listener: Wake) -> Callable[[], None]:
        """Call `listener()` when a job is queued (and after a gap); returns the unregister."""
        self._ensure_started()
        self._wakes.add(listener)
        return lambda: self._wakes.discard(listener)

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set on every signal for `job_id` while the block runs.

        Clear it before each reread, then wait on it: a signal that arrives during the reread
        sets it again, so none is missed between reading and waiting.
        """
        changed = asyncio.Event()
        unregister = self.listen(job_id, lambda _kind: changed.set())
        try:
            yield changed
        finally:
            unregister()

    async def wait_ready(self) -> None:
        """Return once the LISTEN is in place (bound it with `asyncio.timeout`)."""
        self._ensure_started()
        await self._ready.wait()

    @property
    def connected(self) -> bool:
        """Whether the LISTEN is in place right now (signals sent meanwhile are heard)."""
        return self._ready.is_set()

    @property
    def watched_jobs(self) -> int:
        """How many jobs have a listener here."""
        return len(self._jobs)

    # ------------------------------------------------------------------ the connection

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        import psycopg
        from psycopg import sql

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    for channel in self._channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._ready.set()
                    # Whatever happened while we were not listening, hearers reread now.
                    self._after_gap()
                    async for notice in conn.notifies():
                        self._dispatch(notice.channel, notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("signal listener reconnecting", error=str(exc))
            # Hearers are told when listening resumes, not at each failed attempt: meanwhile a
            # reread would find the database as unreachable as the listener did, and their own
            # timers (the waiters' safety reread, the claim poll, the heartbeat) carry on.
            self._ready.clear()
            await asyncio.sleep(RECONNECT_DELAY_S)

    def _dispatch(self, channel: str, payload: str) -> None:
        if not payload:
            self._call_all(self._wakes)
            return
        if channel == SESSIONS_CHANNEL:
            with contextlib.suppress(ValueError):
                self._call_all(self._sessions.get(uuid.UUID(payload), ()))
            return
        job, _, kind = payload.partition(":")
        try:
            job_id = uuid.UUID(job)
        except ValueError:
            return
        for listener in list(self._jobs.get(job_id, ())):
            self._call(listener, kind)

    def _after_gap(self) -> None:
        for listeners in list(self._jobs.values()):
            for listener in list(listeners):
                self._call(listener, RECONNECT)
        self._call_all(self._wakes)

    @staticmethod
    def _call(listener: JobListener, kind: str) -> None:
        try:
            listener(kind)
        except Exception as exc:  # one broken listener must not starve the others
            log.warning("signal listener failed", error=str(exc))

    @staticmethod
    def _call_all(listeners: Iterable[Wake]) -> None:
        for listener in list(listeners):
            try:
                listener()
            except Exception as exc:
                log.warning("signal listener failed", error=str(exc))

    async def close(self) -> None:
        """Stop listening (registrations stay, and restart it if used again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._ready.clear()
