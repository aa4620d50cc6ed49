"""Live job logs over Socket.IO at `/socket.io` (D2; the contract is in docs/api.md).

A connection authenticates at connect with an access token (`auth: {"token": ...}`) whose device
session is live; browsers must come from an allowed web origin. Each `job:subscribe` checks, under
the caller's row-level security, that the job is theirs: another user's job and an unknown one get
the same `{"ok": false, "error": "not_found"}` and nothing is joined.

A subscription is a cursor over the job's stored chunks, not a room: it sends the backlog after
`after_seq` (or, with `tail`, the last chunks stored), then, on each of the job's events (the
worker's NOTIFY at commit, see `offcoder.realtime.signals`), rereads what follows the last `seq`
it sent. One reader per subscription means the switch from backlog to live can neither skip nor
repeat a chunk, a client resuming with `after_seq` continues exactly where it left, and every
replica serves its own clients from the shared database, whichever worker runs the job. A client
that asks for `batch` gets consecutive chunks several to a `job:logs` packet instead of one
`job:log` each; `job:earlier` answers a page before a seq (scrolling back from a tail).

A slow client stalls only its own subscriptions: the worker writes to PostgreSQL and never waits
for a reader. Before each packet the subscription looks at the connection's unsent queue; while
it is over `live_max_queued_packets` it waits, and past `live_behind_grace_s` the client gets
`job:behind {"job_id","seq"}` (the last seq sent) and the subscription ends, to be resumed with
`after_seq`.

Every event a client sends counts against its connection's limits (`rate_limit_live_messages`,
and `job:subscribe` / `job:earlier` each a cap of their own), counted in this process: a refused
event is answered `{"ok": false, "error": "rate_limited", "retry_after": s}`, and a connection
that sends `live_refusals_before_disconnect` refused events in a row gets `live:error
{"error": "rate_limited"}` and is disconnected.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio
import structlog
from limits import RateLimitItem, parse, parse_many

from offcoder.auth import service as auth_service
from offcoder.auth.cookies import ACCESS_COOKIE, browser_cookie_name
from offcoder.auth.tokens import AccessClaims, InvalidAccessToken
from offcoder.context import AppContext
from offcoder.jobs import service as jobs
from offcoder.jobs.models import FINISHED, JobStatus
from offcoder.problems import NotFound
from offcoder.ratelimits.service import ConnectionLimits
from offcoder.realtime.signals import SAFETY_REREAD_S

log = structlog.get_logger(__name__)

# Socket.IO packets from clients are small (a subscribe is ~100 bytes): anything larger is refused
# by the engine before it is parsed.
MAX_CLIENT_PACKET_BYTES = 16 * 1024
BEHIND_POLL_S = 0.05
# Chunks (each up to 16 KiB) a job's feed keeps in memory for its subscribers in this process.
FEED_MEMORY = 2048
FEED_READ_ATTEMPTS = 4
# A `job:logs` packet carries consecutive chunks up to about this much text (and always one).
BATCH_MAX_CHARS = 256 * 1024
# A `job:earlier` answer holds at most this much text: the chunks nearest `before_seq` first.
EARLIER_MAX_CHARS = 1024 * 1024
EARLIER_PER_MINUTE = 300  # `job:earlier` pages per connection (scrolling back through a log)

Chunk = tuple[int, str, str, str]  # seq, stream, data, when stored (ISO 8601)


class Behind(Exception):
    """The client has not read what was sent to it for too long."""


@dataclass
class Connection:
    claims: AccessClaims
    subscriptions: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)
    refusals_in_a_row: int = 0  # rate-limited events since the last one admitted
    pending: int = 0  # subscribes between their cap check and their task (they await the DB)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    unregister_session: Any = None


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


@dataclass(frozen=True)
class Subscribe:
    """A `job:subscribe`: where to start (after `after_seq`, or the last `tail` chunks) and
    whether the client takes chunks several to a packet (`job:logs`) or one each (`job:log`)."""

    job_id: uuid.UUID
    after_seq: int = 0
    tail: int | None = None
    batch: bool = False


@dataclass(frozen=True)
class Earlier:
    """A `job:earlier`: the last `limit` chunks before `before_seq`."""

    job_id: uuid.UUID
    before_seq: int
    limit: int


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
        self.limits = ConnectionLimits()
        # What a connection may send: any event, and the two that read the database, each
        # in a window of its own.
        self.windows: dict[str, tuple[RateLimitItem, ...]] = {
            "event": tuple(parse_many(settings.rate_limit_live_messages)),
            "job:subscribe": (parse(f"{settings.live_subscribes_per_minute}/minute"),),
            "job:earlier": (parse(f"{EARLIER_PER_MINUTE}/minute"),),
        }
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("job:subscribe", self._subscribe)
        self.sio.on("job:unsubscribe", self._unsubscribe)
        self.sio.on("job:earlier", self._earlier)
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
        return await self._admit(sid) or _error("unknown_event")

    async def _admit(self, sid: str, event: str | None = None) -> dict[str, Any] | None:
        """Count an event of the connection (and against `event`'s own cap, if it has one);
        None when admitted, else the answer that refuses it. A connection that keeps sending
        refused events is told once (`live:error`) and dropped: it is not reading answers."""
        connection = self.connections.get(sid)
        if connection is None:
            return None  # not connected (any more): the handler answers that itself
        wait = await self.limits.hit(self.windows["event"], "event", sid)
        if wait is None and event is not None:
            wait = await self.limits.hit(self.windows[event], event, sid)
        if wait is None:
            connection.refusals_in_a_row = 0
            return None
        connection.refusals_in_a_row += 1
        if connection.refusals_in_a_row == self.ctx.settings.live_refusals_before_disconnect:
            with contextlib.suppress(Exception):
                await self.sio.emit(
                    "live:error",
                    {"error": "rate_limited", "detail": "Too many refused events."},
                    to=sid,
                    ignore_queue=True,
                )
            # After this event's answer has gone out: dropped from inside the handler, the
            # client would see the disconnect but not why.
            task = asyncio.get_running_loop().create_task(self._drop(sid, "rate_limited"))
            connection.tasks.append(task)
        return {"ok": False, "error": "rate_limited", "retry_after": wait}

    # ------------------------------------------------------------------ subscribe

    async def _subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        refused = await self._admit(sid, "job:subscribe")
        if refused is not None:
            return refused
        connection = self.connections.get(sid)
        if connection is None:
            return _error("not_connected")
        settings = self.ctx.settings
        request = _parse_subscribe(data)
        if request is None:
            return _error("invalid")
        job_id = request.job_id
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
                # D2: ownership, every time; a log deleted for retention is not an empty log.
                await jobs.with_log(session, claims.user_id, job_id)
        except NotFound:
            return _error("not_found")
        except jobs.LogPurged:
            return _error("log_purged")
        finally:
            connection.pending -= 1
        if sid not in self.connections:
            return _error("not_connected")
        previous = connection.subscriptions.pop(job_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(self._follow(sid, request))
        connection.subscriptions[job_id] = task
        task.add_done_callback(lambda t: _forget(connection, job_id, t))
        return {"ok": True}

    async def _unsubscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        refused = await self._admit(sid)
        if refused is not None:
            return refused
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

    async def _earlier(self, sid: str, data: Any = None) -> dict[str, Any]:
        """A page of the job's output before `before_seq`, in the answer (scrolling back from a
        tail): `{"ok": true, "chunks": [...], "has_earlier"}`."""
        refused = await self._admit(sid, "job:earlier")
        if refused is not None:
            return refused
        connection = self.connections.get(sid)
        if connection is None:
            return _error("not_connected")
        request = _parse_earlier(data)
        if request is None:
            return _error("invalid")
        claims = connection.claims
        try:
            async with self.ctx.database.user_session(claims.user_id) as session:
                if await auth_service.live_session(session, claims.session_id) is None:
                    await self._drop(sid, "session_ended")
                    return _error("unauthorized")
                # D2: under the caller's RLS, and another user's job is not_found.
                window = await jobs.log_window(
                    session,
                    claims.user_id,
                    request.job_id,
                    limit=request.limit,
                    before_seq=request.before_seq,
                )
        except NotFound:
            return _error("not_found")
        except jobs.LogPurged:
            return _error("log_purged")
        chunks, has_earlier = window.chunks, window.has_earlier
        size = 0
        for kept, chunk in enumerate(reversed(chunks)):
            size += len(chunk.data)
            if size > EARLIER_MAX_CHARS and kept:
                chunks, has_earlier = chunks[len(chunks) - kept :], True
                break
        return {
            "ok": True,
            "job_id": str(request.job_id),
            "chunks": [
                {"seq": c.seq, "stream": c.stream, "data": c.data, "at": _at(c.created_at)}
                for c in chunks
            ],
            "has_earlier": has_earlier,
        }

    # ------------------------------------------------------------------ following a job

    async def _follow(self, sid: str, request: Subscribe) -> None:
        connection = self.connections.get(sid)
        if connection is None:
            return
        user_id, job_id = connection.claims.user_id, request.job_id
        last_seq, last_status = request.after_seq, None
        feed: JobFeed | None = None
        try:
            if request.tail is not None:
                async with self.ctx.database.user_session(user_id) as session:
                    window = await jobs.log_window(session, user_id, job_id, limit=request.tail)
                tail = [(c.seq, c.stream, c.data, _at(c.created_at)) for c in window.chunks]
                for event, payload, seq in _log_events(job_id, tail, request.batch):
                    await self._send(sid, event, payload)
                    last_seq = seq
            # Read on from where the tail ended: a new feed need not read what came before.
            feed = self._feed(job_id, user_id, last_seq)
            while True:
                version = feed.version
                chunks = feed.after(last_seq)
                if chunks is None:  # before the feed's memory: the backlog, from the database
                    async with self.ctx.database.user_session(user_id) as session:
                        rows, _ = await jobs.logs(session, user_id, job_id, last_seq)
                    chunks = [(c.seq, c.stream, c.data, _at(c.created_at)) for c in rows]
                status, exit_code = feed.status, feed.exit_code
                if status is not None and status not in FINISHED and status is not last_status:
                    await self._send(sid, "job:status", _status(job_id, status, None))
                    last_status = status
                for event, payload, seq in _log_events(job_id, chunks, request.batch):
                    await self._send(sid, event, payload)
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
            if feed is not None:
                feed.subscribers -= 1
                if feed.subscribers == 0:
                    feed.stop()
                    self.feeds.pop(job_id, None)

    def _feed(self, job_id: uuid.UUID, user_id: uuid.UUID, start_seq: int) -> JobFeed:
        """The job's feed here, or a new one reading after `start_seq` (a later subscriber
        behind that reads its backlog from the database, as behind the feed's memory)."""
        feed = self.feeds.get(job_id)
        if feed is None or feed.stopped:
            feed = JobFeed(self.ctx, job_id, user_id, start_seq)
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

    def __init__(
        self, ctx: AppContext, job_id: uuid.UUID, user_id: uuid.UUID, start_seq: int = 0
    ) -> None:
        self.ctx, self.job_id, self.user_id = ctx, job_id, user_id
        self.memory: collections.deque[Chunk] = collections.deque(maxlen=FEED_MEMORY)
        self.last_seq = start_seq  # the last seq read into memory (or skipped at the start)
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

    def after(self, seq: int) -> list[Chunk] | None:
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
            self.memory.append((chunk.seq, chunk.stream, chunk.data, _at(chunk.created_at)))
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


def _log_events(
    job_id: uuid.UUID, chunks: list[Chunk], batch: bool
) -> Iterator[tuple[str, dict[str, Any], int]]:
    """The packets that send `chunks` in order, with the last seq each carries: a `job:log`
    per chunk, or with `batch` a `job:logs` per run of about `BATCH_MAX_CHARS` of text."""
    if not batch:
        for seq, stream, data, at in chunks:
            payload = {"job_id": str(job_id), "seq": seq, "stream": stream, "data": data}
            yield "job:log", payload | {"at": at}, seq
        return
    packet: list[dict[str, Any]] = []
    size = 0
    for seq, stream, data, at in chunks:
        if packet and size + len(data) > BATCH_MAX_CHARS:
            yield "job:logs", {"job_id": str(job_id), "chunks": packet}, packet[-1]["seq"]
            packet, size = [], 0
        packet.append({"seq": seq, "stream": stream, "data": data, "at": at})
        size += len(data)
    if packet:
        yield "job:logs", {"job_id": str(job_id), "chunks": packet}, packet[-1]["seq"]


def _at(stored: datetime) -> str:
    """A chunk's time as the REST log shows it (ISO 8601, UTC)."""
    return stored.isoformat().replace("+00:00", "Z")


def _job_id(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _whole(value: Any, low: int, high: int) -> int | None:
    """`value` when it is an int (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _parse_subscribe(data: Any) -> Subscribe | None:
    if not isinstance(data, dict) or set(data) - {"job_id", "after_seq", "tail", "batch"}:
        return None
    if "tail" in data and "after_seq" in data:
        return None  # two starting points
    job_id = _job_id(data.get("job_id"))
    after = _whole(data.get("after_seq", 0), 0, 2**62)
    tail = _whole(data["tail"], 1, jobs.LOG_PAGE) if "tail" in data else None
    batch = data.get("batch", False)
    if job_id is None or after is None or ("tail" in data and tail is None):
        return None
    if not isinstance(batch, bool):
        return None
    return Subscribe(job_id, after, tail, batch)


def _parse_earlier(data: Any) -> Earlier | None:
    if not isinstance(data, dict) or set(data) - {"job_id", "before_seq", "limit"}:
        return None
    job_id = _job_id(data.get("job_id"))
    before = _whole(data.get("before_seq"), 1, 2**62)
    limit = _whole(data.get("limit", jobs.LOG_PAGE), 1, jobs.LOG_PAGE)
    if job_id is None or before is None or limit is None:
        return None
    return Earlier(job_id, before, limit)


def _forget(connection: Connection, job_id: uuid.UUID, task: asyncio.Task[None]) -> None:
    if connection.subscriptions.get(job_id) is task:
        del connection.subscriptions[job_id]
    if not task.cancelled() and task.exception() is not None:
        log.warning("live subscription failed", error=str(task.exception()))
