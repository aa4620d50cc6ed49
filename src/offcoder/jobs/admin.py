"""Operators stop jobs (O4): the support role with a recent second factor cancels any person's
job, with a reason kept in the audit log (in the same transaction as the cancel); the job's
owner is told it was an operator."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from offcoder.admin.auth import SupportAdmin, SystemSession
from offcoder.audit.service import ActorKind, record
from offcoder.jobs import service
from offcoder.jobs.models import Job
from offcoder.jobs.outcome import Canceller
from offcoder.jobs.schemas import JobOut
from offcoder.problems import NotFound

router = APIRouter(prefix="/v1/admin/jobs", tags=["admin"])


class OperatorCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1, max_length=500, description="Why, for the audit log (not shown to the owner)"
    )


@router.post("/{job_id}/cancel", status_code=202)
async def cancel_job(
    job_id: uuid.UUID, body: OperatorCancel, admin: SupportAdmin, session: SystemSession
) -> JobOut:
    """Cancel anyone's job; its ending says `cancelled_by: operator`."""
    job = await session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None:
        raise NotFound("job")
    first_ask = job.cancel_requested_at is None
    await service.stop(session, job, Canceller.operator)
    if first_ask:
        await record(
            session,
            "admin.job.cancelled",
            actor_id=admin.user_id,
            actor_kind=ActorKind.admin,
            target=f"job:{job.id}",
            details={"user_id": str(job.user_id), "reason": body.reason},
        )
    return JobOut.model_validate(job)
