"""What the signed-in person uses against what they may (`GET /v1/me/usage`): the per-person
limits and quotas with their current use, the per-job limits, and this month's usage of their
jobs. Read under their RLS, in their request's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.jobs import cpu
from offcoder.jobs.models import Job, JobStatus
from offcoder.jobs.repository import RUNNING
from offcoder.projects import quota
from offcoder.projects import repository as projects
from offcoder.users.schemas import (
    Allowance,
    Cost,
    JobLimits,
    MonthUsage,
    Quotas,
    StorageAllowance,
    UsageOut,
)


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month, in UTC."""
    return (now or utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def usage(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> UsageOut:
    mine = Job.user_id == user_id
    queued = await session.scalar(
        select(func.count()).select_from(Job).where(mine, Job.status == JobStatus.queued)
    )
    running = await session.scalar(
        select(func.count()).select_from(Job).where(mine, Job.status.in_(list(RUNNING)))
    )
    return UsageOut(
        quotas=Quotas(
            queued_jobs=Allowance(used=queued or 0, limit=settings.job_max_queued_per_user),
            running_jobs=Allowance(used=running or 0, limit=settings.job_max_running_per_user),
            projects=Allowance(
                used=await projects.count_projects(session, user_id),
                limit=settings.max_projects_per_user,
            ),
            file_bytes=StorageAllowance(
                used=await quota.bytes_stored(session, user_id),
                limit=settings.max_file_bytes_per_user,
                dependency_bytes=await quota.dependency_bytes(session, user_id),
            ),
        ),
        limits=JobLimits(
            file_bytes=settings.max_file_bytes,
            project_file_bytes=settings.max_project_bytes,
            job_timeout_s=settings.job_max_timeout_s,
            job_output_bytes=settings.job_max_log_bytes,
            log_retention_days=settings.log_retention_days,
            job_cpus=cpu.job_cores(settings, await cpu.plan_of(session, user_id)),
        ),
        this_month=await month_usage(session, user_id, month_start()),
    )


async def month_usage(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> MonthUsage:
    """The person's jobs that ended since `since`, added up (ix_jobs_user_finished)."""
    ended = (Job.user_id == user_id, Job.finished_at >= since)
    jobs, wall_ms, cpu_ms, output_bytes = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Job.usage["wall_ms"].as_integer()), 0),
                func.coalesce(func.sum(Job.usage["cpu_ms"].as_integer()), 0),
                func.coalesce(func.sum(Job.log_bytes), 0),
            ).where(*ended)
        )
    ).one()
    costs = await session.execute(
        select(Job.charge_currency, func.sum(Job.charged_amount))
        .where(*ended, Job.charge_currency.is_not(None), Job.charged_amount.is_not(None))
        .group_by(Job.charge_currency)
        .order_by(Job.charge_currency)
    )
    return MonthUsage(
        since=since,
        jobs=jobs,
        wall_ms=wall_ms,
        cpu_ms=cpu_ms,
        output_bytes=output_bytes,
        cost=[Cost(currency=currency, amount=amount) for currency, amount in costs],
    )
