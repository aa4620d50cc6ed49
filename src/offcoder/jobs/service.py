"""Jobs as the signed-in user sees them: submit, read, list, cancel, read logs (under RLS)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.jobs import repository
from offcoder.jobs.models import FINISHED, Job, JobKind, JobLogChunk, JobStatus
from offcoder.jobs.outcome import Canceller, EndReason, Outcome
from offcoder.jobs.schemas import JobCreate
from offcoder.kit.pagination import INSTANT, UUID, Keyset
from offcoder.limits import PerUserSlots
from offcoder.problems import Conflict, InvalidInput, NotFound, Problem, TooManyRequests
from offcoder.projects import service as projects
from offcoder.projects.models import ProjectFile
from offcoder.realtime import signals
from offcoder.realtime.signals import JobSignal
from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.policy import NetworkMode
from offcoder.users.models import User
from offcoder.wallet import service as wallet

LOG_PAGE = 1000
# The longest a GET may be held waiting for a job to change (long-poll).
MAX_WAIT_S = 30.0
# A project's jobs, newest first.
JOB_PAGES: Keyset[Job] = Keyset("jobs", (INSTANT, UUID), lambda j: (j.created_at, j.id))


def owned_jobs(user_id: uuid.UUID) -> Select[Job]:
    """Every read of jobs starts here: the caller's own, whatever RLS would also enforce."""
    return select(Job).where(Job.user_id == user_id)


async def submit(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    body: JobCreate,
) -> Job:
    """Validate, insert the job and wake a worker, all in the caller's transaction."""
    await projects.get_project(session, user_id, project_id)
    if body.image not in IMAGES:
        raise InvalidInput(f"Unknown image {body.image!r}; available: {', '.join(sorted(IMAGES))}.")
    if body.timeout_s > settings.job_max_timeout_s:
        raise InvalidInput(f"timeout_s may be at most {settings.job_max_timeout_s}.")
    if body.network is NetworkMode.egress and not settings.egress_allow_hosts:
        raise InvalidInput("Network mode 'egress' is not enabled on this server.")
    if body.network is NetworkMode.preview:
        if not body.ports:
            raise InvalidInput("A preview publishes at least one port: give `ports`.")
        handle = await session.scalar(select(User.handle).where(User.id == user_id))
        if not handle:
            raise InvalidInput(
                "Previews are served at <handle>-<project>; choose a handle first (PATCH /v1/me)."
            )
    elif body.ports:
        raise InvalidInput("ports are published only in preview mode.")
    has_files = await session.scalar(
        select(func.count())
        .select_from(ProjectFile)
        .where(ProjectFile.user_id == user_id, ProjectFile.project_id == project_id)
    )
    if not has_files:
        raise InvalidInput("The project has no files to run.")
    return await enqueue(
        session,
        settings,
        user_id,
        project_id,
        image=body.image,
        command=list(body.command),
        timeout_s=body.timeout_s,
        network=body.network,
        ports=list(body.ports),
    )


async def enqueue(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    image: str,
    command: list[str],
    timeout_s: int,
    network: NetworkMode,
    ports: list[int],
    kind: JobKind = JobKind.run,
) -> Job:
    """Queue a checked job: the queue's room, the job row with its hold, a worker woken."""
    await _check_queue_room(session, settings, user_id)
    job = Job(
        id=uuid.uuid4(),
        user_id=user_id,
        project_id=project_id,
        status=JobStatus.queued.value,
        kind=kind,
        image=image,
        command=command,
        timeout_s=timeout_s,
        network=network.value,
        ports=ports,
        usage={},
        log_bytes=0,
        last_seq=0,
        created_at=utcnow(),
    )
    # The job's greatest cost is held in the same transaction: no job without its reservation.
    hold = await wallet.reserve_for_job(session, settings, user_id, job.id, job.timeout_s)
    if hold is not None:
        job.charge_currency, job.price_per_minute = hold.currency, hold.price_per_minute
        job.reserved_amount = hold.amount
    session.add(job)
    await session.flush()
    # Delivered at commit: a worker never wakes for a job that was rolled back.
    await signals.wake_workers(session)
    return job


# How long a refused submission is asked to wait: about one short job's run.
QUEUE_RETRY_AFTER_S = 5


async def _check_queue_room(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> None:
    """429 when the user already has `job_max_queued_per_user` jobs waiting to run.

    A person's submissions are counted one after the other (a transaction-scoped advisory lock
    on their id, released at commit), so jobs sent at once cannot all see room for one more.
    """
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"jobs.queue:{user_id}", 0)))
    )
    queued = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status == JobStatus.queued)
    )
    limit = settings.job_max_queued_per_user
    if queued is not None and queued >= limit:
        raise TooManyRequests(
            f"You have {queued} jobs waiting to run, the most this server queues for one "
            "person; wait for one to start or cancel one.",
            retry_after_s=QUEUE_RETRY_AFTER_S,
        )


async def get(session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = await session.scalar(owned_jobs(user_id).where(Job.id == job_id))
    if job is None:
        raise NotFound("job")
    return job


async def list_for_project(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    after: str | None,
    limit: int,
) -> tuple[list[Job], str | None]:
    """One page of the project's jobs, newest first, and the cursor of the next page."""
    await projects.get_project(session, user_id, project_id)
    key = JOB_PAGES.after(after or None)  # an empty cursor has always meant the first page
    statement = owned_jobs(user_id).where(Job.project_id == project_id)
    if key is not None:
        statement = statement.where(tuple_(Job.created_at, Job.id) < tuple_(*key))
    rows = await session.scalars(
        statement.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    )
    return JOB_PAGES.page(list(rows), limit)


async def cancel(session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """The owner's cancel (C6)."""
    job = await session.scalar(owned_jobs(user_id).where(Job.id == job_id).with_for_update())
    if job is None:
        raise NotFound("job")
    return await stop(session, job, Canceller.owner)


async def stop(session: AsyncSession, job: Job, by: Canceller) -> Job:
    """Cancel `job` (its row locked by the caller): a queued job ends at once; a running one is
    stopped by its worker, told by a signal at commit (and, were the signal lost, by its
    heartbeat's re-check) (C6). Who asked is kept for the ending to say."""
    if JobStatus(job.status) in FINISHED:
        raise Conflict(f"The job has already ended ({job.status}).")
    if job.cancel_requested_at is not None:
        return job  # asked already: the first to ask is who the ending names
    job.cancel_requested_at = utcnow()
    job.cancelled_by = by.value
    if job.status == JobStatus.queued.value:
        # Never ran: the whole hold comes back.
        ended = Outcome(JobStatus.cancelled, None, EndReason.cancelled)
        await repository.end(
            session, job, ended, usage=job.usage or {}, charged_ms=None, audit_if_free=False
        )
    else:
        await signals.signal_job(session, job.id, JobSignal.cancel)
    return job


class LogPurged(Problem):
    """The job printed something, but its log has been deleted for retention (410)."""

    def __init__(self, purged_at: datetime) -> None:
        super().__init__(
            410,
            "log-purged",
            f"This job's output was deleted on {purged_at:%Y-%m-%d}, when the time this server "
            "keeps a job's log after it ends had passed; the job, its ending and usage, is kept.",
            title="Log purged",
            purged_at=purged_at.isoformat(),
        )


async def with_log(session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """The caller's job, whose log can be read: 410 once it was purged (a job that printed
    nothing still has its empty log)."""
    job = await get(session, user_id, job_id)
    if job.log_purged_at is not None and job.last_seq > 0:
        raise LogPurged(job.log_purged_at)
    return job


async def logs(
    session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID, after_seq: int
) -> tuple[list[JobLogChunk], bool]:
    """A page of the job's stored output after `after_seq`, and whether it is the last; 410
    once its log was purged (a job that printed nothing still has its empty log)."""
    job = await with_log(session, user_id, job_id)
    finished = JobStatus(job.status) in FINISHED
    chunks = list(
        await session.scalars(
            select(JobLogChunk)
            .where(
                JobLogChunk.user_id == user_id,
                JobLogChunk.job_id == job_id,
                JobLogChunk.seq > after_seq,
            )
            .order_by(JobLogChunk.seq)
            .limit(LOG_PAGE)
        )
    )
    # Workers store every chunk before they record the final status, so a finished job whose
    # page is not full has nothing more to come.
    done = finished and len(chunks) < LOG_PAGE
    return chunks, done


@dataclass(frozen=True)
class LogWindow:
    """Up to a page of a job's chunks read from the end backwards, in ascending seq order."""

    chunks: list[JobLogChunk]
    done: bool  # the job has ended and no stored chunk comes after this window
    has_earlier: bool  # chunks before the window's first are stored


async def log_window(
    session: AsyncSession,
    user_id: uuid.UUID,
    job_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
) -> LogWindow:
    """The last `limit` chunks, or with `before_seq` the last `limit` of those before it: one
    query however long the log, where reading it forward takes a page per `LOG_PAGE` chunks.

    (PostgreSQL may still read the job's chunks to sort them, misjudging how many rows
    `user_id` and `job_id` select together: a few ms at the 4 MiB output cap.)"""
    job = await with_log(session, user_id, job_id)
    finished = JobStatus(job.status) in FINISHED
    own = (JobLogChunk.user_id == user_id, JobLogChunk.job_id == job_id)
    window = select(JobLogChunk).where(*own).order_by(JobLogChunk.seq.desc()).limit(limit)
    if before_seq is not None:
        window = window.where(JobLogChunk.seq < before_seq)
    chunks = list(await session.scalars(window))[::-1]
    has_earlier = bool(chunks) and bool(
        await session.scalar(select(exists().where(*own, JobLogChunk.seq < chunks[0].seq)))
    )
    if before_seq is None:
        # The job's status was read first, and workers store every chunk before they record
        # the final one: an ended job has nothing after its last stored chunk.
        return LogWindow(chunks, finished, has_earlier)
    later = await session.scalar(select(exists().where(*own, JobLogChunk.seq >= before_seq)))
    return LogWindow(chunks, finished and not later, has_earlier)


T = TypeVar("T")


async def long_poll(
    job_events: signals.Signals,
    waiting: PerUserSlots,
    job_id: uuid.UUID,
    wait_s: float,
    read: Callable[[], Awaitable[tuple[T, bool]]],
    *,
    user_id: uuid.UUID,
    max_waiting: int,
) -> T:
    """Reread with `read` until it says ready or `wait_s` has passed, woken by the job's events.

    Each reread is its own short transaction (no connection is held while waiting) and goes
    through the caller's RLS, so what the signal said is never trusted, only what is read.
    A user holds at most `max_waiting` of the `waiting` slots (the context's) at once (429).
    """
    if wait_s <= 0:
        value, _ = await read()
        return value
    refusal = f"At most {max_waiting} waiting requests at once; retry without wait_s or later."
    deadline = time.monotonic() + wait_s
    with waiting.held(user_id, max_waiting, refusal), job_events.watch(job_id) as changed:
        while True:
            changed.clear()
            value, ready = await read()
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return value
            # Jittered, so that waiters woken together (a LISTEN reconnect) spread out.
            safety = signals.SAFETY_REREAD_S * random.uniform(0.8, 1.2)  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, safety))
