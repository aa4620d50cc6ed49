"""Live job logs over Socket.IO at `/socket.io` (D2; the contract is in docs/api.md).

A connection authenticates at connect with an access token (`auth: {"token": ...}`) whose device
session is live; browsers must come from an allowed web origin. Each `job:subscribe` checks, under
the caller's row-level security, that the job is theirs: another user's job and an unknown one get
the same `{"ok": false, "error": "not_found"}` and nothing is joined.

A subscription is a cursor over the job's stored chunks, not a room: it sends the backlog after
`after_seq`, then, on each of the job's events (the worker's NOTIFY at commit, see
`offcoder.realtime.signals`), rereads what follows the last `seq` it sent. One reader per
subscription means the switch from backlog to live can neither skip nor repeat a chunk, a
client resuming with `after_seq` continues exactly where it left, and every replica serves its
own clients from the shared database, whichever worker runs the job.

A slow client stalls only its own subscriptions: the worker writes to PostgreSQL and never waits
for a reader. Before each packet the subscription looks at the connection's unsent queue; while
it is over `live_max_queued_packets` it waits, and past `live_behind_grace_s` the client gets
`job:behind {"job_id","seq"}` (the last seq sent) and the subscription ends, to be resumed with
`after_seq`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import socketio
import structlog

from offcoder.auth import service as auth_service
from offcoder.auth.cookies import ACCESS_COOKIE, browser_cookie_name
from offcoder.auth.tokens import AccessClaims, InvalidAccessToken
from offcoder.context import AppContext
from offcoder.jobs import service as jobs
from offcoder.jobs.models import FINISHED, JobStatus
from offcoder.problems import NotFound
from offcoder.realtime.signals import SAFETY_REREAD_S

log = structlog.get_logger(__name__)

# Socket.IO packets from clients are small (a subscribe is ~100 bytes): anything larger is refused
# by the engine before it is parsed.
MAX_CLIENT_PACKET_BYTES = 16 * 1024
BEHIND_POLL_S = 0.05
# Chunks (each up to 16 KiB) a job's feed keeps in memory for its subscribers in this process.
FEED_MEMORY = 2048
FEED_READ_ATTEMPTS = 4


class Behind(Exception):
    """The client has not read what was sent to it for too long."""


@dataclass
class Connection:
    claims: AccessClaims
    subscriptions: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)
    subscribe_times: list[float] = field(default_factory=list)
    pending: int = 0  # subscribes between their cap check and their task (they await the DB)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    unregister_session: Any = None


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


class LiveLogs:
    """The Socket.IO server of one API process."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        settings = ctx.settings
        manager = (
            socketio.AsyncRedisManager(settings.redis_url, channel=settings.socketio_channel)
            if settings.redis_url
            else None
        )
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=settings.allowed_web_origins,
            client_manager=manager,
            max_http_buffer_size=MAX_CLIENT_PACKET_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.connections: dict[str, Connection] = {}
        self.feeds: dict[uuid.UUID, JobFeed] = {}
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("job:subscribe", self._subscribe)
        self.sio.on("job:unsubscribe", self._unsubscribe)
        self.sio.on("*", self._unknown)

    def asgi(self) -> socketio.ASGIApp:
        """The ASGI app to mount at `/socket.io` (every path below it is the engine's)."""
        return socketio.ASGIApp(self.sio, socketio_path=None)

    # ------------------------------------------------------------------ connection

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is None and auth is None:
            # The web console's pages hold their token in an HttpOnly cookie; a browser only
            # sends it from an allowed origin (checked by the engine before this handler).
            token = _cookie(environ, browser_cookie_name(self.ctx.settings, ACCESS_COOKIE))
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        try:
            claims = self.ctx.signer.verify(token)
        except InvalidAccessToken as exc:
            log.info("live connection refused", reason=str(exc))
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc
        if not await self._session_is_live(claims):
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        open_here = sum(c.claims.user_id == claims.user_id for c in self.connections.values())
        if open_here >= self.ctx.settings.live_max_connections_per_user:
            raise socketio.exceptions.ConnectionRefusedError("too_many_connections")
        connection = Connection(claims)
        self.connections[sid] = connection

        def ended() -> None:
            task = asyncio.get_running_loop().create_task(self._drop(sid, "session_ended"))
            connection.tasks.append(task)

        connection.unregister_session = self.ctx.events.on_session_ended(claims.session_id, ended)
        connection.tasks.append(asyncio.get_running_loop().create_task(self._watch_session(sid)))

    async def _session_is_live(self, claims: AccessClaims) -> bool:
        async with self.ctx.database.user_session(claims.user_id) as session:
            return await auth_service.live_session(session, claims.session_id) is not None

    async def _watch_session(self, sid: str) -> None:
        """Also re-check now and then: a session can expire, or end while signals were lost."""
        while sid in self.connections:
            await asyncio.sleep(self.ctx.settings.live_session_check_s)
            connection = self.connections.get(sid)
            if connection is None:
                return
            try:
                live = await self._session_is_live(connection.claims)
            except Exception as exc:
                log.warning("live session check failed", error=str(exc))
                continue
            if not live:
                await self._drop(sid, "session_ended")
                return

    async def _drop(self, sid: str, reason: str) -> None:
        if sid in self.connections:
            log.info("live connection dropped", reason=reason)
            await self.sio.disconnect(sid, ignore_queue=True)

    async def _disconnect(self, sid: str, *_: Any) -> None:
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        if connection.unregister_session is not None:
            connection.unregister_session()
        current = asyncio.current_task()
        for task in [*connection.subscriptions.values(), *connection.tasks]:
            if task is not current:
                task.cancel()

    async def _unknown(self, event: str, sid: str, *_: Any) -> dict[str, Any]:
        return _error("unknown_event")

    # ------------------------------------------------------------------ subscribe

    async def _subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        connection = self.connections.get(sid)
        if connection is None:
            return _error("not_connected")
        settings = self.ctx.settings
        now = time.monotonic()
        recent = [t for t in connection.subscribe_times if now - t < 60]
        if len(recent) >= settings.live_subscribes_per_minute:
            connection.subscribe_times = recent
            return _error("rate_limited")
        connection.subscribe_times = [*recent, now]
        parsed = _parse_subscribe(data)
        if parsed is None:
            return _error("invalid")
        job_id, after_seq = parsed
        if (
            job_id not in connection.subscriptions
            and len(connection.subscriptions) + connection.pending
            >= settings.live_max_subscriptions
        ):
            return _error("too_many_subscriptions")
        claims = connection.claims
        connection.pending += 1  # handlers run concurrently: hold the slot across the await
        try:
            async with self.ctx.database.user_session(claims.user_id) as session:
                if await auth_service.live_session(session, claims.session_id) is None:
                    await self._drop(sid, "session_ended")
                    return _error("unauthorized")
                job = await jobs.get(session, claims.user_id, job_id)  # D2: ownership, every time
        except NotFound:
            return _error("not_found")
        finally:
            connection.pending -= 1
        if job.log_purged_at is not None and job.last_seq > 0:
            return _error("log_purged")  # deleted for retention: not an empty log
        if sid not in self.connections:
            return _error("not_connected")
        previous = connection.subscriptions.pop(job_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(self._follow(sid, job_id, after_seq))
        connection.subscriptions[job_id] = task
        task.add_done_callback(lambda t: _forget(connection, job_id, t))
        return {"ok": True}

    async def _unsubscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        connection = self.connections.get(sid)
        job = data.get("job_id") if isinstance(data, dict) else None
        try:
            job_id = uuid.UUID(job) if isinstance(job, str) else None
        except ValueError:
            job_id = None
        if connection is None or job_id is None:
            return _error("invalid")
        task = connection.subscriptions.pop(job_id, None)
        if task is not None:
            task.cancel()
        return {"ok": True}

    # ------------------------------------------------------------------ following a job

    async def _follow(self, sid: str, job_id: uuid.UUID, after_seq: int) -> None:
        connection = self.connections.get(sid)
        if connection is None:
            return
        user_id = connection.claims.user_id
        feed = self._feed(job_id, user_id)
        last_seq, last_status = after_seq, None
        try:
            while True:
                version = feed.version
                chunks = feed.after(last_seq)
                if chunks is None:  # before the feed's memory: the backlog, from the database
                    async with self.ctx.database.user_session(user_id) as session:
                        rows, _ = await jobs.logs(session, user_id, job_id, last_seq)
                    chunks = [(c.seq, c.stream, c.data) for c in rows]
                status, exit_code = feed.status, feed.exit_code
                if status is not None and status not in FINISHED and status is not last_status:
                    await self._send(sid, "job:status", _status(job_id, status, None))
                    last_status = status
                for seq, stream, data in chunks:
                    payload = {"job_id": str(job_id), "seq": seq, "stream": stream, "data": data}
                    await self._send(sid, "job:log", payload)
                    last_seq = seq
                if feed.failed is not None:
                    if isinstance(feed.failed, NotFound | jobs.LogPurged):
                        raise feed.failed
                    raise Behind  # the client resumes after last_seq on a fresh feed
                if status in FINISHED and feed.complete and last_seq >= feed.last_seq:
                    assert status is not None
                    final = _status(job_id, status, exit_code) | {
                        "reason": feed.reason,
                        "detail": feed.detail,
                    }
                    await self._send(sid, "job:status", final)
                    return
                if chunks:
                    continue  # more may be waiting (a backlog page, or the feed moved on)
                await feed.changed(version)
        except (NotFound, jobs.LogPurged):
            return  # the job is gone (its account was erased), or its log (retention)
        except Behind:
            with contextlib.suppress(Exception):
                await self.sio.emit(
                    "job:behind",
                    {"job_id": str(job_id), "seq": last_seq},
                    to=sid,
                    ignore_queue=True,
                )
        finally:
            feed.subscribers -= 1
            if feed.subscribers == 0:
                feed.stop()
                self.feeds.pop(job_id, None)

    def _feed(self, job_id: uuid.UUID, user_id: uuid.UUID) -> JobFeed:
        feed = self.feeds.get(job_id)
        if feed is None or feed.stopped:
            feed = JobFeed(self.ctx, job_id, user_id)
            self.feeds[job_id] = feed
            feed.start()
        feed.subscribers += 1
        return feed

    async def _send(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """Emit to this process's client, first waiting while its unsent queue is too long."""
        limit = self.ctx.settings.live_max_queued_packets
        deadline: float | None = None
        while self._queued(sid) > limit:
            now = time.monotonic()
            deadline = deadline or now + self.ctx.settings.live_behind_grace_s
            if now >= deadline:
                raise Behind
            await asyncio.sleep(BEHIND_POLL_S)
        await self.sio.emit(event, payload, to=sid, ignore_queue=True)

    def _queued(self, sid: str) -> int:
        try:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            socket = self.sio.eio.sockets.get(eio_sid) if eio_sid else None
        except Exception:
            return 0
        if socket is None:
            return 0
        queue = getattr(socket, "queue", None)
        return queue.qsize() if queue is not None else 0


class JobFeed:
    """One reader per job in this process, shared by all its subscriptions here.

    On each of the job's events it reads, once and under the owner's RLS (every subscriber of a
    job is its owner: `job:subscribe` checked), the chunks after the last one it read, and keeps
    the most recent `FEED_MEMORY` in memory. Subscriptions take from that memory while their
    cursor is inside it and read the database themselves otherwise (backlog), so a hundred
    subscribers cost one query per log batch, and no cursor can skip or repeat a chunk.
    """

    def __init__(self, ctx: AppContext, job_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.ctx, self.job_id, self.user_id = ctx, job_id, user_id
        self.memory: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=FEED_MEMORY)
        self.last_seq = 0  # the last seq read into memory
        self.status: JobStatus | None = None
        self.exit_code: int | None = None
        self.reason: str | None = None  # the ending's code and sentence, once it has ended
        self.detail: str | None = None
        self.complete = False  # the job has ended and every chunk has been read
        self._more = False  # the last read filled a page: read on without waiting
        self.failed: BaseException | None = None
        self.subscribers = 0
        self.stopped = False
        self.version = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        self.stopped = True
        if self._task is not None:
            self._task.cancel()

    def after(self, seq: int) -> list[tuple[int, str, str]] | None:
        """The chunks in memory after `seq`; None when `seq` is older than the memory."""
        if not self.memory:
            return [] if seq >= self.last_seq else None
        first = self.memory[0][0]
        if seq + 1 < first:
            return None
        return [c for c in self.memory if c[0] > seq] if seq < self.last_seq else []

    async def changed(self, version: int) -> None:
        """Return once the feed moved past `version` (or after the safety reread interval)."""
        if self.version != version:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), SAFETY_REREAD_S)

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _run(self) -> None:
        try:
            with self.ctx.events.watch(self.job_id) as signal:
                while not self.complete:
                    signal.clear()
                    await self._read()
                    self._bump()
                    if self.complete:
                        return
                    if self._more:
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(signal.wait(), SAFETY_REREAD_S)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the subscriptions, which end with it
            self.failed = exc
            self.stopped = True  # a new subscribe starts a fresh feed
            self._bump()

    async def _read(self) -> None:
        """One read, retried a few times over a passing database error before giving up."""
        for attempt in range(FEED_READ_ATTEMPTS):
            try:
                await self._read_once()
                return
            except (NotFound, jobs.LogPurged):
                raise
            except Exception as exc:
                if attempt == FEED_READ_ATTEMPTS - 1:
                    raise
                log.warning("live feed read failed, retrying", error=str(exc))
                await asyncio.sleep(0.2 * 2**attempt)

    async def _read_once(self) -> None:
        async with self.ctx.database.user_session(self.user_id) as session:
            job = await jobs.get(session, self.user_id, self.job_id)
            rows, done = await jobs.logs(session, self.user_id, self.job_id, self.last_seq)
        for chunk in rows:
            self.memory.append((chunk.seq, chunk.stream, chunk.data))
            self.last_seq = chunk.seq
        self.status, self.exit_code = JobStatus(job.status), job.exit_code
        self.reason, self.detail = job.reason, job.detail
        self._more = len(rows) >= jobs.LOG_PAGE
        self.complete = done


def _cookie(environ: dict[str, Any], name: str) -> str | None:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(str(environ.get("HTTP_COOKIE", "")))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _status(job_id: uuid.UUID, status: JobStatus, exit_code: int | None) -> dict[str, Any]:
    return {"job_id": str(job_id), "status": status.value, "exit_code": exit_code}


def _parse_subscribe(data: Any) -> tuple[uuid.UUID, int] | None:
    if not isinstance(data, dict) or set(data) - {"job_id", "after_seq"}:
        return None
    job, after = data.get("job_id"), data.get("after_seq", 0)
    if not isinstance(job, str) or len(job) > 64:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= 2**62:
        return None
    try:
        return uuid.UUID(job), after
    except ValueError:
        return None


def _forget(connection: Connection, job_id: uuid.UUID, task: asyncio.Task[None]) -> None:
    if connection.subscriptions.get(job_id) is task:
        del connection.subscriptions[job_id]
    if not task.cancelled() and task.exception() is not None:
        log.warning("live subscription failed", error=str(task.exception()))
