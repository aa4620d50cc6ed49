"""Dependency layers in the worker: which layer a job mounts, what an install's ending does to
the project's layer, and the removal of layers nothing needs any more (C6).

An install job writes a new layer (`SandboxRun` provisions it through the proxy). When it
succeeds, the project's layer row names the new one, under the owner's RLS, and the previous
layer goes; when it fails in any way, the new layer goes and the project's layer stays as it
was. Either way this happens before the job's ending is recorded, so a client that sees the
install `succeeded` submits its next job against the new layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.dependencies import repository
from offcoder.dependencies.ecosystems import Ecosystem, for_image
from offcoder.dependencies.models import DependencyLayer
from offcoder.jobs.models import Job, JobStatus
from offcoder.jobs.outcome import EndReason, Outcome
from offcoder.projects import quota
from offcoder.runtime.client import RuntimeClient
from offcoder.runtime.policy import LAYER_MIN_BYTES, layer_mount

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LayerUse:
    """How a job uses its project's layer: the read-only mount and the variables to find it."""

    mount: dict[str, Any]
    environment: dict[str, str]


async def layer_for_run(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, image: str
) -> LayerUse | None:
    """The project's built layer for a job in `image`, read-only; None when there is none."""
    ecosystem = for_image(image)
    if ecosystem is None:
        return None
    built = await session.scalar(
        select(DependencyLayer.install_job_id).where(
            DependencyLayer.user_id == user_id,
            DependencyLayer.project_id == project_id,
            DependencyLayer.ecosystem == ecosystem.name,
        )
    )
    if built is None:
        return None
    return LayerUse(
        layer_mount(built, ecosystem.mount, read_only=True), ecosystem.run_environment()
    )


async def install_cap(
    session: AsyncSession, settings: Settings, job: Job, ecosystem: Ecosystem
) -> int:
    """The most install `job` may write: the per-layer cap, or the room left in its owner's
    storage quota when less. The ready layer it would replace counts as room: it is removed
    when the install succeeds. Never below the smallest layer the proxy makes: the request had
    that room, and files written since that took it leave the person past the quota by at most
    that much."""
    replacing = await session.scalar(
        select(DependencyLayer.size_bytes).where(
            DependencyLayer.user_id == job.user_id,
            DependencyLayer.project_id == job.project_id,
            DependencyLayer.ecosystem == ecosystem.name,
            DependencyLayer.install_job_id.is_not(None),
        )
    )
    room = await quota.layer_room(
        session, job.user_id, quota.StorageQuota.of(settings), replacing=replacing or 0
    )
    return min(settings.dependency_layer_max_bytes, max(LAYER_MIN_BYTES, room))


async def settle_install(
    database: Database,
    client: RuntimeClient | None,
    job: Job,
    outcome: Outcome,
    manifest_sha256: str | None,
) -> Outcome:
    """Make the install's new layer the project's if it succeeded, else remove it; the job's
    outcome, which becomes our failure when the layer could not be kept."""
    ecosystem = for_image(job.image)
    name = ecosystem.name if ecosystem is not None else job.image
    try:
        succeeded = outcome.status is JobStatus.succeeded
        if succeeded and client is not None and manifest_sha256 is not None:
            size = await asyncio.to_thread(client.layer_size, job.id)
            if size is None:
                lost = "the new dependency layer was lost before it could be kept"
                outcome = Outcome(
                    JobStatus.failed, outcome.exit_code, EndReason.internal_error, lost
                )
            else:
                switched, previous = await _switch(database, job, name, manifest_sha256, size)
                if switched:
                    if previous is not None:
                        with contextlib.suppress(Exception):  # else the reconciler removes it
                            await remove(database, client, previous)
                    return outcome
        if outcome.status is not JobStatus.succeeded:
            await _failed(database, job, name)
    except Exception as exc:
        log.exception("settling a dependency install failed", job_id=str(job.id))
        outcome = Outcome(JobStatus.failed, None, EndReason.internal_error, type(exc).__name__)
        with contextlib.suppress(Exception):
            await _failed(database, job, name)
    if client is not None:  # without one, the runtime was never reached: nothing was made
        with contextlib.suppress(Exception):  # else the reconciler removes it
            await remove(database, client, job.id)
    return outcome


async def _switch(
    database: Database, job: Job, ecosystem: str, manifest_sha256: str, size: int
) -> tuple[bool, uuid.UUID | None]:
    """Point the project's layer at the one `job` built: whether it was (not when the project,
    and its row, is gone), and the layer it replaced."""
    async with database.user_session(job.user_id) as s:
        row = await _row(s, job, ecosystem)
        if row is None:
            return False, None
        previous = row.install_job_id
        row.install_job_id = job.id
        row.manifest_sha256 = manifest_sha256
        row.size_bytes = size
        row.built_at = utcnow()
        row.failed_job_id = None
        if row.building_job_id == job.id:
            row.building_job_id = row.building_manifest_sha256 = None
    log.info("dependency layer replaced", job_id=str(job.id), size_bytes=size)
    return True, previous


async def _failed(database: Database, job: Job, ecosystem: str) -> None:
    async with database.user_session(job.user_id) as s:
        row = await _row(s, job, ecosystem)
        if row is not None:
            row.failed_job_id = job.id
            if row.building_job_id == job.id:
                row.building_job_id = row.building_manifest_sha256 = None


async def _row(s: AsyncSession, job: Job, ecosystem: str) -> DependencyLayer | None:
    return await s.scalar(
        select(DependencyLayer)
        .where(
            DependencyLayer.user_id == job.user_id,
            DependencyLayer.project_id == job.project_id,
            DependencyLayer.ecosystem == ecosystem,
        )
        .with_for_update()
    )


async def remove(database: Database, client: RuntimeClient, job_id: uuid.UUID) -> bool:
    """Remove the layer built by `job_id` from the engine and from our list; False while a
    container still mounts it (the reconciler tries again)."""
    removed = await asyncio.to_thread(client.remove_layer, job_id)
    if removed is None:
        return False
    await repository.forget(database, job_id)
    return True


async def reconcile(database: Database, client: RuntimeClient) -> None:
    """Remove our layers that nothing needs: replaced ones a job was still mounting, those of
    deleted projects and erased accounts, and those of installs whose worker was lost."""
    for job_id in await repository.retired(database):
        try:
            if await remove(database, client, job_id):
                log.info("retired dependency layer removed", job_id=str(job_id))
        except Exception as exc:
            log.warning("removing a dependency layer failed", job_id=str(job_id), error=str(exc))
