"""How much CPU a person's jobs get, and under which sandbox runtime: their plan's while the
plan is in force and listed in `job_cpus_by_plan` (`sandbox_runtime_by_plan`), else
`job_cpus` (`sandbox_runtime`). The worker applies both to each sandbox (the engine's NanoCpus
and Runtime) and `GET /v1/me/usage` shows them, from this one rule."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.payments.models import PlanStatus, UserPlan
from offcoder.runtime.policy import SandboxRuntime

_PLAN_IN_FORCE = (PlanStatus.active.value, PlanStatus.trialing.value)


def _in_force(plan: UserPlan | None) -> str | None:
    """The plan's name while it is in force, else None."""
    if (
        plan is not None
        and plan.status in _PLAN_IN_FORCE
        and (plan.until is None or plan.until > utcnow())
    ):
        return plan.plan
    return None


def job_cores(settings: Settings, plan: UserPlan | None) -> float:
    """Cores a job may use: the plan's, when it is in force and listed; else the default."""
    return settings.job_cpus_by_plan.get(_in_force(plan) or "", settings.job_cpus)


def job_runtime(settings: Settings, plan: UserPlan | None) -> SandboxRuntime:
    """The runtime a job runs under: the plan's, when it is in force and listed; else the
    default."""
    return settings.sandbox_runtime_by_plan.get(_in_force(plan) or "", settings.sandbox_runtime)


def cpu_cap(settings: Settings, plan: UserPlan | None) -> int:
    """The cap in billionths of a core, as the engine takes it (NanoCpus)."""
    return round(job_cores(settings, plan) * 1_000_000_000)


async def plan_of(session: AsyncSession, user_id: uuid.UUID) -> UserPlan | None:
    """The person's plan row, read when it is used: a plan changed since a submit counts."""
    return await session.scalar(select(UserPlan).where(UserPlan.user_id == user_id))
