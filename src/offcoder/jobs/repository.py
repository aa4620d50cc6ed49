"""The worker's reads and writes of job rows, in the system role (the worker serves no request).

The job row is the queue entry (decision 0005): `claim` takes one, `heartbeat` keeps a
worker's jobs alive, `finish` ends one with its `Outcome` (settling its hold, auditing an
ending of ours, announcing it), and `end_lost` ends those whose worker went silent.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobStatus
from offcoder.jobs.outcome import Canceller, EndReason, Outcome, cancelled
from offcoder.realtime.signals import JobSignal, signal_job, wake_workers
from offcoder.wallet import service as wallet

log = structlog.get_logger(__name__)

RUNNING = frozenset({JobStatus.starting.value, JobStatus.running.value})


# Everyone with a job waiting, and since when: their oldest queued job.
_WAITING = (
    select(Job.user_id, func.min(Job.created_at).label("first_queued"))
    .where(Job.status == JobStatus.queued)
    .group_by(Job.user_id)
    .subquery()
)


def _running_of(user_id: Any) -> Any:
    """How many jobs the person has starting or running."""
    return (
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_(list(RUNNING)))
        .scalar_subquery()
    )


# Everyone with a job starting or running: how many, and their latest heartbeat. Only running
# jobs are read, a few per worker, however many are queued or ended.
_SERVING = (
    select(
        Job.user_id,
        func.count().label("running"),
        func.max(Job.heartbeat_at).label("last_beat"),
    )
    .where(Job.status.in_(list(RUNNING)))
    .group_by(Job.user_id)
    .subquery()
)
# When a waiting person's last job that a worker took ended: one step back along
# ix_jobs_user_finished, whatever the length of their history.
_LAST_ENDED = (
    select(func.max(Job.finished_at))
    .where(Job.user_id == _WAITING.c.user_id, Job.heartbeat_at.is_not(None))
    .scalar_subquery()
)


def _next_in_line(max_running: int) -> Select[Any]:
    """A few people under their running limit, longest waiting first, in case other workers
    hold some of their jobs locked.

    Someone is last served when a job of theirs last beat (claimed, starting or running) or
    else when the last one a worker took ended; GREATEST skips a NULL, so someone never served
    has waited since their oldest queued job.
    """
    last_served = func.greatest(_SERVING.c.last_beat, _LAST_ENDED)
    return (
        select(_WAITING.c.user_id)
        .outerjoin(_SERVING, _SERVING.c.user_id == _WAITING.c.user_id)
        .where(func.coalesce(_SERVING.c.running, 0) < max_running)
        .order_by(func.greatest(_WAITING.c.first_queued, last_served), _WAITING.c.first_queued)
        .limit(8)
    )


async def claim(database: Database, worker_id: str, max_running: int) -> Job | None:
    """The oldest queued job of the person who has waited longest, now `starting` on this
    worker (FOR UPDATE SKIP LOCKED), unless they already have `max_running` jobs starting or
    running: then their jobs stay queued and the next person's is taken.

    Fair to every user: someone with a hundred jobs queued is served once, then whoever has
    waited longer since they were last served goes first, so one person's backlog never holds
    up another's single job.
    """
    async with database.system_session() as s:
        job = None
        for user_id in await s.scalars(_next_in_line(max_running)):
            # Workers claiming for one person at once take turns (a transaction-scoped lock,
            # released at commit); a worker that finds it taken serves someone else. Counted
            # again once held: this statement sees every claim committed before it.
            if not await s.scalar(select(func.pg_try_advisory_xact_lock(_running_lock(user_id)))):
                continue
            if (await s.scalar(select(_running_of(user_id))) or 0) >= max_running:
                continue
            job = await s.scalar(
                select(Job)
                .where(Job.user_id == user_id, Job.status == JobStatus.queued)
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is not None:
                break
        if job is None:
            return None
        job.status = JobStatus.starting
        job.worker_id = worker_id
        job.heartbeat_at = utcnow()
        await signal_job(s, job.id, JobSignal.status)
        return job


def _running_lock(user_id: uuid.UUID) -> Any:
    return func.hashtextextended(f"jobs.running:{user_id}", 0)


async def heartbeat(database: Database, worker_id: str, job_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Keep this worker's jobs alive; return those of them whose cancel was asked (the
    fallback for a cancel signal the worker did not hear), in the same statement."""
    async with database.system_session() as s:
        beaten = await s.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.worker_id == worker_id)
            .values(heartbeat_at=utcnow())
            .returning(Job.id, Job.cancel_requested_at)
        )
        return {job_id for job_id, requested in beaten if requested is not None}


async def cancel_requested(database: Database, job_id: uuid.UUID) -> bool:
    """Whether the job's owner asked to stop it (what a cancel signal makes the worker read)."""
    async with database.system_session() as s:
        requested = await s.scalar(select(Job.cancel_requested_at).where(Job.id == job_id))
    return requested is not None


async def note(database: Database, job_id: uuid.UUID, **values: Any) -> None:
    """Record what a running job's row shows (its container, that it runs, its preview)."""
    async with database.system_session() as s:
        await s.execute(update(Job).where(Job.id == job_id).values(**values))
        if "status" in values:
            await signal_job(s, job_id, JobSignal.status)


async def finish(
    database: Database,
    job: Job,
    outcome: Outcome,
    usage: dict[str, Any],
    *,
    had_sandbox: bool,
) -> bool:
    """End a running job with its sandbox's `outcome`: charged by its sandbox time unless it
    never ran or ended by our fault. False when it had already ended elsewhere (reconcile took
    its worker for lost): that ending stands."""
    async with database.system_session() as s:
        current = await s.scalar(select(Job).where(Job.id == job.id).with_for_update())
        if current is None or current.status not in RUNNING:
            log.warning("job already ended elsewhere", job_id=str(job.id))
            return False
        charged = had_sandbox and outcome.charged
        await end(
            s,
            current,
            outcome,
            usage=(current.usage or {}) | usage,
            charged_ms=usage["wall_ms"] if charged else None,
            audit_if_free=had_sandbox,
        )
        # A place is free: on this worker, and under its owner's running limit, which a queued
        # job of theirs may have been waiting for.
        await wake_workers(s)
    return True


async def end(
    session: AsyncSession,
    job: Job,
    outcome: Outcome,
    *,
    usage: dict[str, Any],
    charged_ms: int | None,
    audit_if_free: bool,
) -> None:
    """The one way a job row reaches its final state, in the caller's transaction (the worker's
    `finish`, and a queued job's cancel): the ending written, the hold settled (`charged_ms`
    None charges nothing), a free ending of ours audited, the change announced."""
    reason = outcome.reason
    await settle_hold(session, job, charged_ms)
    job.status = outcome.status
    job.exit_code = outcome.exit_code
    job.reason = reason.value if reason is not None else None
    job.detail = outcome.detail
    if reason is EndReason.cancelled:
        # Only the row knows who asked: its owner, or an operator.
        canceller = Canceller(job.cancelled_by) if job.cancelled_by else None
        job.detail = cancelled(outcome.exit_code, canceller).detail
    elif reason is not None and not job.detail:
        job.detail = reason.message  # every ending that is not a success says why in words
    job.finished_at = utcnow()
    job.usage = usage
    if audit_if_free and not outcome.charged:
        # A run let go free because it did not end by its own doing (we failed it, or its
        # sandbox was removed from outside): an operator should see each one.
        await record(
            session,
            f"job.{reason}",
            actor_id=None,
            actor_kind=ActorKind.system,
            target=f"job:{job.id}",
            details={"user_id": str(job.user_id), "detail": outcome.detail},
        )
    await signal_job(session, job.id, JobSignal.status)


def hold_of(job: Job) -> wallet.JobHold | None:
    """The hold recorded on the job's row at submission; None when nothing was held."""
    if job.charge_currency is None or job.price_per_minute is None or job.reserved_amount <= 0:
        return None
    return wallet.JobHold(job.charge_currency, job.price_per_minute, job.reserved_amount)


async def settle_hold(session: AsyncSession, job: Job, charged_ms: int | None) -> int:
    """Settle the job's hold (`charged_ms` None charges nothing) and record what it cost."""
    hold = hold_of(job)
    cost = await wallet.settle_job(session, job.user_id, job.id, hold, charged_ms)
    if hold is not None:
        job.charged_amount = cost
    return cost


async def end_lost(
    database: Database, lost_after_s: float, labelled: set[uuid.UUID]
) -> set[uuid.UUID]:
    """End the jobs whose worker stopped beating (`worker_lost`, their hold released); return
    which of the `labelled` jobs (those with a sandbox on the engine) have ended."""
    lost_before = utcnow() - timedelta(seconds=lost_after_s)
    async with database.system_session() as s:
        lost = await s.scalars(
            update(Job)
            .where(Job.status.in_(list(RUNNING)), Job.heartbeat_at < lost_before)
            .values(
                status=JobStatus.failed.value,
                reason=EndReason.worker_lost.value,
                detail=EndReason.worker_lost.message,
                finished_at=utcnow(),
            )
            .returning(Job.id)
        )
        for lost_job in list(lost):
            await signal_job(s, lost_job, JobSignal.status)
            # The worker died, not the job's fault: its whole hold goes back. One job's
            # settlement failing must not undo the others' endings.
            lost_row = await s.get(Job, lost_job)
            if lost_row is not None:
                try:
                    async with s.begin_nested():
                        await settle_hold(s, lost_row, None)
                except Exception as exc:
                    log.warning("settling a lost job failed", job_id=str(lost_job), error=str(exc))
        return set(
            await s.scalars(
                select(Job.id).where(Job.id.in_(labelled), Job.status.not_in(list(RUNNING)))
            )
        )


async def known_jobs(database: Database, job_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `job_ids` this database holds a row for."""
    if not job_ids:
        return set()
    async with database.system_session() as s:
        return set(await s.scalars(select(Job.id).where(Job.id.in_(job_ids))))
