"""Signals between processes over PostgreSQL NOTIFY: "this job changed" and "this session ended".

Job events: a worker's "this job changed" signal, fanned out to whoever waits in this process.

A worker announces a job's status changes and each stored log batch with `NOTIFY` inside the
transaction that writes them, so PostgreSQL delivers the signal only at commit: a listener that
rereads after a signal always finds the row it was told about, and a rolled-back write is never
announced. The signal carries only the job id and what changed; what a client may see is read
again under its own row-level security (D1), never taken from the notification.

Every API process holds one `JobEvents`: one listening connection, shared by all its waiters
(long-polls now, Socket.IO subscribers later). Several API replicas each listen, so a job run by
any worker on any host reaches every replica without another broker. A lost connection wakes
every waiter (they reread) and is reopened; waiters also reread on their own every few seconds,
so a missed signal costs latency, never a hang.

Session events: ending a device session (logout, revocation, refresh-token reuse) announces it in
the same transaction, and every process drops that session's open Socket.IO connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)

EVENTS_CHANNEL = "offcoder_job_events"
SESSIONS_CHANNEL = "offcoder_session_ended"
# How long a waiter trusts the signal alone before rereading anyway.
SAFETY_REREAD_S = 5.0
RECONNECT_DELAY_S = 1.0

Listener = Callable[[str], None]


async def announce(session: AsyncSession, job_id: uuid.UUID, kind: str) -> None:
    """Queue the signal in `session`'s transaction; it is delivered when that transaction commits.

    `kind` is `status` or `log`.
    """
    await session.execute(select(func.pg_notify(EVENTS_CHANNEL, f"{job_id}:{kind}")))


async def announce_session_ended(session: AsyncSession, session_id: uuid.UUID) -> None:
    """Queue "this device session ended" in `session`'s transaction (delivered at commit)."""
    await session.execute(select(func.pg_notify(SESSIONS_CHANNEL, str(session_id))))


class JobEvents:
    """One LISTEN connection per process, dispatching job signals to registered listeners."""

    def __init__(self, url: URL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listeners: dict[uuid.UUID, set[Listener]] = {}
        self._session_listeners: dict[uuid.UUID, set[Callable[[], None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    # ------------------------------------------------------------------ registration

    def listen(self, job_id: uuid.UUID, listener: Listener) -> Callable[[], None]:
        """Call `listener(kind)` on each signal for `job_id` (and `"reconnect"` after a gap).

        Returns the function that unregisters it. The listener runs on the event loop and must
        not block.
        """
        self._ensure_started()
        self._listeners.setdefault(job_id, set()).add(listener)

        def unregister() -> None:
            listeners = self._listeners.get(job_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[job_id]

        return unregister

    def on_session_ended(
        self, session_id: uuid.UUID, listener: Callable[[], None]
    ) -> Callable[[], None]:
        """Call `listener()` when device session `session_id` ends; returns the unregister."""
        self._ensure_started()
        self._session_listeners.setdefault(session_id, set()).add(listener)

        def unregister() -> None:
            listeners = self._session_listeners.get(session_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._session_listeners[session_id]

        return unregister

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
    def watched_jobs(self) -> int:
        return len(self._listeners)

    # ------------------------------------------------------------------ the connection

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    await conn.execute(f"LISTEN {SESSIONS_CHANNEL}")
                    self._ready.set()
                    # Whatever happened while we were not listening, waiters reread now.
                    self._dispatch_all("reconnect")
                    async for notice in conn.notifies():
                        if notice.channel == SESSIONS_CHANNEL:
                            self._session_ended(notice.payload)
                        else:
                            self._dispatch(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job events listener reconnecting", error=str(exc))
            self._ready.clear()
            self._dispatch_all("reconnect")
            await asyncio.sleep(RECONNECT_DELAY_S)

    def _dispatch(self, payload: str) -> None:
        job, _, kind = payload.partition(":")
        try:
            job_id = uuid.UUID(job)
        except ValueError:
            return
        for listener in list(self._listeners.get(job_id, ())):
            self._call(listener, kind)

    def _session_ended(self, payload: str) -> None:
        try:
            session_id = uuid.UUID(payload)
        except ValueError:
            return
        for listener in list(self._session_listeners.get(session_id, ())):
            try:
                listener()
            except Exception as exc:
                log.warning("session listener failed", error=str(exc))

    def _dispatch_all(self, kind: str) -> None:
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                self._call(listener, kind)

    @staticmethod
    def _call(listener: Listener, kind: str) -> None:
        try:
            listener(kind)
        except Exception as exc:  # one broken listener must not starve the others
            log.warning("job event listener failed", error=str(exc))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._ready.clear()
