"""Job logs are kept `log_retention_days` after their job ends, then deleted (docs/api.md
"Jobs: usage, limits and retention"). The job row stays, with its ending, usage and cost, and
says when its log was purged, so the logs API can say so instead of showing an empty log.

It runs across every user's jobs, in the system role: as a periodic task of every worker
(worker/host.py) and as `offcoder jobs purge`. Workers purging at once share the work (each
batch's rows are locked, SKIP LOCKED), and each batch is its own short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobLogChunk

# How often each worker runs the purge (and once at its start).
PURGE_EVERY_S = 3600.0
# Ended jobs whose logs one transaction deletes.
PURGE_BATCH = 200


@dataclass(frozen=True)
class Purged:
    """What a purge deleted: the logs of `jobs` jobs (those that had printed something), in
    `chunks` chunks holding `bytes` bytes of UTF-8 text."""

    jobs: int = 0
    chunks: int = 0
    bytes: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(self.jobs + other.jobs, self.chunks + other.chunks, self.bytes + other.bytes)


def cutoff(older_than_days: int, now: datetime | None = None) -> datetime:
    """Jobs that ended before this instant have had their log kept long enough."""
    return (now or utcnow()) - timedelta(days=older_than_days)


async def purge_logs(database: Database, older_than_days: int) -> Purged:
    """Delete the logs of the jobs that ended more than `older_than_days` days ago, batch by
    batch, marking each job's row; jobs already purged are not counted again."""
    before = cutoff(older_than_days)
    total = Purged()
    while True:
        async with database.system_session() as s:
            rows = (
                await s.execute(
                    select(Job.id, Job.last_seq, Job.log_bytes)
                    .where(Job.log_purged_at.is_(None), Job.finished_at < before)
                    .order_by(Job.finished_at)
                    .limit(PURGE_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return total
            job_ids = [row.id for row in rows]
            deleted = await s.execute(delete(JobLogChunk).where(JobLogChunk.job_id.in_(job_ids)))
            chunks = cast(CursorResult[Any], deleted).rowcount
            await s.execute(update(Job).where(Job.id.in_(job_ids)).values(log_purged_at=utcnow()))
        printed = [row for row in rows if row.last_seq > 0]
        total += Purged(len(printed), chunks, sum(int(row.log_bytes) for row in printed))
        if len(rows) < PURGE_BATCH:
            return total


async def would_purge(database: Database, older_than_days: int) -> Purged:
    """What `purge_logs` would delete now, deleting nothing."""
    before = cutoff(older_than_days)
    due = Job.log_purged_at.is_(None), Job.finished_at < before
    async with database.system_session() as s:
        jobs, log_bytes = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(Job.log_bytes), 0)).where(
                    *due, Job.last_seq > 0
                )
            )
        ).one()
        chunks = await s.scalar(select(func.count()).select_from(JobLogChunk).join(Job).where(*due))
    return Purged(int(jobs), int(chunks or 0), int(log_bytes))
