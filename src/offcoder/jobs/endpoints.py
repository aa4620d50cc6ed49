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
from offcoder.jobs.service import LOG_PAGE, MAX_WAIT_S
from offcoder.kit.pagination import DEFAULT_LIMIT, Limit
from offcoder.problems import InvalidInput

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


@router.get("/v1/jobs/{job_id}/logs", response_model_exclude_none=True)
async def job_logs(
    job_id: uuid.UUID,
    claims: Claims,
    ctx: Context,
    after_seq: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    tail: Annotated[int | None, Query(ge=1, le=LOG_PAGE)] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int | None, Query(ge=1, le=LOG_PAGE)] = None,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> JobLogs:
    """Stored output after `after_seq` (default 0), in order; or the last `tail` chunks; or
    the last `limit` before `before_seq` (paging back from a tail). The last two also say
    `has_earlier`. With `wait_s`, an empty page is held (up to that many seconds) until output
    arrives or the job ends (not with `before_seq`: what is before it never changes)."""
    _one_way_of_reading(after_seq, tail, before_seq, limit, wait_s)

    async def read() -> tuple[JobLogs, bool]:
        async with live_user_session(ctx, claims) as session:
            if tail is None and before_seq is None:
                chunks, done = await service.logs(session, claims.user_id, job_id, after_seq or 0)
                has_earlier = None
            else:
                window = await service.log_window(
                    session,
                    claims.user_id,
                    job_id,
                    limit=tail or limit or LOG_PAGE,
                    before_seq=before_seq,
                )
                chunks, done, has_earlier = window.chunks, window.done, window.has_earlier
        page = JobLogs(
            chunks=[
                LogChunkOut(seq=c.seq, stream=c.stream, data=c.data, at=c.created_at)
                for c in chunks
            ],
            done=done,
            has_earlier=has_earlier,
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


def _one_way_of_reading(
    after_seq: int | None,
    tail: int | None,
    before_seq: int | None,
    limit: int | None,
    wait_s: float,
) -> None:
    """A page is read forward (`after_seq`), from the end (`tail`) or back from `before_seq`
    (with its `limit`): asking for two at once is a 422 naming them."""
    given = {"after_seq": after_seq, "tail": tail, "before_seq": before_seq}
    ways = [name for name, value in given.items() if value is not None]
    if len(ways) > 1:
        raise InvalidInput(
            f"Give one of after_seq, tail and before_seq, not {' and '.join(ways)}.",
            errors=[_conflict(name, "only one of after_seq, tail, before_seq") for name in ways],
        )
    if limit is not None and before_seq is None:
        raise InvalidInput(
            "limit goes with before_seq (tail is its own count; after_seq pages hold up to 1000).",
            errors=[_conflict("limit", "only with before_seq")],
        )
    if before_seq is not None and wait_s > 0:
        raise InvalidInput(
            "wait_s waits for new output; the page before before_seq is already all there.",
            errors=[_conflict("wait_s", "not with before_seq")],
        )


def _conflict(name: str, why: str) -> dict[str, object]:
    return {"loc": ["query", name], "msg": why, "type": "conflict"}
