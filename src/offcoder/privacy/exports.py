"""Export archives (V3, issue 18 item 5): everything a user owns, as a zip of JSON and their
files, made in the background by a worker, with progress, downloadable for a day, then purged.

Why the worker (decision 0035): an archive of a user's files can take a while and much memory;
the worker process already runs the periodic tasks that must survive an API restart, and the
request lives in the database, so a queued export is taken by whichever worker runs next, even
after the API that took the request is gone. An asyncio task in the API would die with it.

The worker reads the user's data in the user's own RLS transaction (what the user could read
through the API, nothing more); only claiming a queued request, writing progress and the purge
use the system role.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai.models import AIFlag, AIOutput
from offcoder.audit.service import ActorKind, record
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobLogChunk
from offcoder.privacy import service
from offcoder.privacy.models import DataExportArchive, ExportStatus
from offcoder.problems import Conflict, NotFound
from offcoder.projects.models import Project, ProjectFile

log = structlog.get_logger(__name__)

RUN_EVERY_S = 2.0  # how soon a queued export is taken (a worker's periodic task)
PURGE_EVERY_S = 600.0
STALE_AFTER = timedelta(hours=1)
# Columns that are ours, not the user's, or name another person (the reviewing admin).
NOT_EXPORTED = {"worker_id", "container_id", "heartbeat_at", "resolved_by", "text_sha256"}


async def request_export(
    session: AsyncSession, user_id: uuid.UUID, ttl_s: int
) -> DataExportArchive:
    """Queue an export (audited); one already queued or running is returned instead."""
    pending = await session.scalar(
        select(DataExportArchive)
        .where(
            DataExportArchive.user_id == user_id,
            DataExportArchive.status.in_([ExportStatus.queued.value, ExportStatus.running.value]),
            # One a worker died making is not waited for forever.
            DataExportArchive.requested_at > utcnow() - STALE_AFTER,
        )
        .options(_no_archive())
    )
    if pending is not None:
        return pending
    now = utcnow()
    export = DataExportArchive(
        user_id=user_id,
        status=ExportStatus.queued.value,
        percent=0,
        requested_at=now,
        # Until made, it expires a day after the request (a request no worker takes is purged).
        expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(export)
    await session.flush()
    await record(
        session,
        "user.export.requested",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
        details={"export_id": str(export.id)},
    )
    return export


async def find(
    session: AsyncSession, user_id: uuid.UUID, export_id: uuid.UUID
) -> DataExportArchive:
    """The user's own export, if not expired (RLS hides the others' too)."""
    export = await session.scalar(
        select(DataExportArchive)
        .where(DataExportArchive.id == export_id, DataExportArchive.user_id == user_id)
        .options(_no_archive())
    )
    if export is None or export.expires_at <= utcnow():
        raise NotFound("export")
    return export


async def download(
    session: AsyncSession, user_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[DataExportArchive, bytes]:
    """The archive's bytes, audited in the transaction that reads them."""
    export = await find(session, user_id, export_id)
    if export.status != ExportStatus.ready.value:
        raise Conflict("The export is not ready yet: poll it until its status is ready.")
    archive = await session.scalar(
        select(DataExportArchive.archive).where(DataExportArchive.id == export_id)
    )
    assert archive is not None
    await record(
        session,
        "user.export.downloaded",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
        details={"export_id": str(export_id), "size": len(archive)},
    )
    return export, archive


def _no_archive() -> Any:
    from sqlalchemy.orm import defer

    return defer(DataExportArchive.archive)


def _row(row: object) -> dict[str, Any]:
    mapper = inspect(row).mapper
    return {a.key: getattr(row, a.key) for a in mapper.column_attrs if a.key not in NOT_EXPORTED}


def _json(value: object) -> bytes:
    def default(v: object) -> object:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace")
        return str(v)

    return json.dumps(value, default=default, indent=2, ensure_ascii=False).encode()


async def _progress(database: Database, export_id: uuid.UUID, percent: int) -> None:
    # Its own short transaction, so a client polling sees it while the archive is being made.
    async with database.system_session() as s:
        await s.execute(
            update(DataExportArchive)
            .where(DataExportArchive.id == export_id)
            .values(percent=percent)
        )


async def build(database: Database, export: DataExportArchive, ttl_s: int) -> None:
    """Make one archive: export.json (the account document of GET /v1/me/export, consents
    included), jobs.json (jobs with their logs), ai.json (outputs and flags), and every
    project's files under files/<project slug>/."""
    user_id = export.user_id
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        async with database.user_session(user_id) as s:
            document = await service.export(s, user_id)
            archive.writestr("export.json", document.model_dump_json(indent=2))
            jobs = list(await s.scalars(select(Job).order_by(Job.created_at)))
            chunks = list(await s.scalars(select(JobLogChunk).order_by(JobLogChunk.seq)))
            logs: dict[uuid.UUID, list[dict[str, Any]]] = {}
            for c in chunks:
                logs.setdefault(c.job_id, []).append(_row(c))
            archive.writestr(
                "jobs.json", _json([{**_row(j), "logs": logs.get(j.id, [])} for j in jobs])
            )
            outputs = list(await s.scalars(select(AIOutput).order_by(AIOutput.created_at)))
            flags = list(await s.scalars(select(AIFlag).order_by(AIFlag.created_at)))
            archive.writestr(
                "ai.json",
                _json({"outputs": [_row(o) for o in outputs], "flags": [_row(f) for f in flags]}),
            )
            projects = {p.id: p.slug for p in await s.scalars(select(Project))}
            paths: Sequence[tuple[uuid.UUID, str]] = [
                (row.project_id, row.path)
                for row in await s.execute(
                    select(ProjectFile.project_id, ProjectFile.path).order_by(ProjectFile.path)
                )
            ]
        await _progress(database, export.id, 10)
        for done, (project_id, path) in enumerate(paths, start=1):
            # One file at a time: the archive's memory, not the user's whole tree at once.
            async with database.user_session(user_id) as s:
                content = await s.scalar(
                    select(ProjectFile.content).where(
                        ProjectFile.project_id == project_id, ProjectFile.path == path
                    )
                )
            if content is not None:
                archive.writestr(f"files/{projects.get(project_id, project_id)}/{path}", content)
            if done % 20 == 0 or done == len(paths):
                await _progress(database, export.id, 10 + 85 * done // len(paths))
    data = buffer.getvalue()
    now = utcnow()
    async with database.system_session() as s:
        await s.execute(
            update(DataExportArchive)
            .where(DataExportArchive.id == export.id)
            .values(
                status=ExportStatus.ready.value,
                percent=100,
                archive=data,
                size=len(data),
                finished_at=now,
                expires_at=now + timedelta(seconds=ttl_s),
            )
        )


async def run_pending(database: Database, ttl_s: int) -> int:
    """Take queued exports one by one and make them (a worker's periodic task). Returns how
    many were made. A request another worker took is skipped (SKIP LOCKED)."""
    made = 0
    while True:
        async with database.system_session() as s:
            export = await s.scalar(
                select(DataExportArchive)
                .where(DataExportArchive.status == ExportStatus.queued.value)
                .order_by(DataExportArchive.requested_at)
                .limit(1)
                .with_for_update(skip_locked=True)
                .options(_no_archive())
            )
            if export is None:
                return made
            export.status = ExportStatus.running.value
            export.started_at = utcnow()
            s.expunge(export)
        try:
            await build(database, export, ttl_s)
            made += 1
        except Exception as exc:
            log.warning("export failed", export_id=str(export.id), error=str(exc))
            async with database.system_session() as s:
                await s.execute(
                    update(DataExportArchive)
                    .where(DataExportArchive.id == export.id)
                    .values(
                        status=ExportStatus.failed.value,
                        error="The export could not be made; ask for a new one.",
                        finished_at=utcnow(),
                    )
                )


async def purge_expired(database: Database) -> int:
    """Delete archives (and requests) past their expiry, every user's."""
    async with database.system_session() as s:
        result = await s.execute(
            delete(DataExportArchive).where(DataExportArchive.expires_at <= utcnow())
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
