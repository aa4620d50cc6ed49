"""How much CPU a person's jobs get: their plan's cap while the plan is in force and listed in
`job_cpus_by_plan`, else `job_cpus`. The worker applies it to each sandbox (the engine's
NanoCpus) and `GET /v1/me/usage` shows it, from this one rule."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.payments.models import PlanStatus, UserPlan

_PLAN_IN_FORCE = (PlanStatus.active.value, PlanStatus.trialing.value)


def job_cores(settings: Settings, plan: UserPlan | None) -> float:
    """Cores a job may use: the plan's, when it is in force and listed; else the default."""
    if (
        plan is not None
        and plan.status in _PLAN_IN_FORCE
        and (plan.until is None or plan.until > utcnow())
    ):
        return settings.job_cpus_by_plan.get(plan.plan, settings.job_cpus)
    return settings.job_cpus


def cpu_cap(settings: Settings, plan: UserPlan | None) -> int:
    """The cap in billionths of a core, as the engine takes it (NanoCpus)."""
    return round(job_cores(settings, plan) * 1_000_000_000)


async def plan_of(session: AsyncSession, user_id: uuid.UUID) -> UserPlan | None:
    """The person's plan row, read when it is used: a plan changed since a submit counts."""
    return await session.scalar(select(UserPlan).where(UserPlan.user_id == user_id))
