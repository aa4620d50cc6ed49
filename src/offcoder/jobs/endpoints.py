"""Jobs: the paths of api.md (C1-C7 are kept by the worker and the runtime)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from offcoder.auth.dependencies import Claims, Context, CurrentUser, UserSession, live_user_session
from offcoder.jobs import service
from offcoder.jobs.models import FINISHED, Job, JobStatus
from offcoder.jobs.schemas import (
    JobAccepted,
    JobCreate,
    JobList,
    JobLogs,
    JobOut,
    LogChunkOut,
)
from offcoder.jobs.service import MAX_WAIT_S
from offcoder.kit.pagination import DEFAULT_LIMIT, Limit

router = APIRouter(tags=["jobs"])


@router.post("/v1/projects/{project_id}/jobs", status_code=202)
async def submit_job(
    project_id: uuid.UUID,
    body: JobCreate,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
) -> JobAccepted:
    """Queue a command to run in a sandbox; poll the job or subscribe to its logs."""
    job = await service.submit(session, ctx.settings, principal.user_id, project_id, body)
    return JobAccepted(id=job.id)


@router.get("/v1/projects/{project_id}/jobs")
async def list_jobs(
    project_id: uuid.UUID,
    principal: CurrentUser,
    session: UserSession,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JobList:
    rows, next_cursor = await service.list_for_project(
        session, principal.user_id, project_id, cursor, limit
    )
    return JobList(items=[JobOut.model_validate(j) for j in rows], next_cursor=next_cursor)


@router.get("/v1/jobs/{job_id}")
async def get_job(
    job_id: uuid.UUID,
    claims: Claims,
    ctx: Context,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
    seen_status: Annotated[JobStatus | None, Query()] = None,
) -> JobOut:
    """The job. With `wait_s`, the answer is held (up to that many seconds) until the job's
    status differs from `seen_status`, or, without `seen_status`, until the job has ended."""

    async def read() -> tuple[Job, bool]:
        async with live_user_session(ctx, claims) as session:
            job = await service.get(session, claims.user_id, job_id)
        if seen_status is None:
            return job, JobStatus(job.status) in FINISHED
        return job, job.status != seen_status.value

    return JobOut.model_validate(
        await service.long_poll(
            ctx.events,
            ctx.long_polls,
            job_id,
            wait_s,
            read,
            user_id=claims.user_id,
            max_waiting=ctx.settings.max_waiting_requests_per_user,
        )
    )


@router.post("/v1/jobs/{job_id}/cancel", status_code=202)
async def cancel_job(job_id: uuid.UUID, principal: CurrentUser, session: UserSession) -> JobOut:
    """Stop the job; 409 when it has already ended."""
    return JobOut.model_validate(await service.cancel(session, principal.user_id, job_id))


@router.get("/v1/jobs/{job_id}/logs")
async def job_logs(
    job_id: uuid.UUID,
    claims: Claims,
    ctx: Context,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> JobLogs:
    """Stored output after `after_seq`, in order. With `wait_s`, an empty page is held (up to
    that many seconds) until output arrives or the job ends."""

    async def read() -> tuple[JobLogs, bool]:
        async with live_user_session(ctx, claims) as session:
            chunks, done = await service.logs(session, claims.user_id, job_id, after_seq)
        page = JobLogs(
            chunks=[LogChunkOut(seq=c.seq, stream=c.stream, data=c.data) for c in chunks],
            done=done,
        )
        return page, bool(chunks) or done

    return await service.long_poll(
        ctx.events,
        ctx.long_polls,
        job_id,
        wait_s,
        read,
        user_id=claims.user_id,
        max_waiting=ctx.settings.max_waiting_requests_per_user,
    )
