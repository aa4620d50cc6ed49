"""A project's dependency layers, for the signed-in user (under RLS).

`install` queues one install job per ecosystem whose manifest the project has and whose layer
was not built from that very manifest (or every one, with `rebuild`). The job runs our command
in the ecosystem's image with egress to the package registries only; the worker makes its
layer the project's when it succeeds (`dependencies/runtime.py`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.dependencies.ecosystems import ECOSYSTEMS, MANIFEST_FILES, Ecosystem
from offcoder.dependencies.models import DependencyLayer
from offcoder.dependencies.schemas import DependencyLayerOut, LayerStatus
from offcoder.jobs import service as jobs
from offcoder.jobs.models import FINISHED, Job, JobKind
from offcoder.problems import Conflict, InvalidInput, PayloadTooLarge
from offcoder.projects import quota
from offcoder.projects import service as projects
from offcoder.projects.models import ProjectFile
from offcoder.runtime.policy import NetworkMode


async def install(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    rebuild: bool = False,
) -> tuple[list[DependencyLayerOut], bool]:
    """Queue the installs the project's manifests ask for; its layers, and whether any
    install was queued. Nothing is queued when any manifest is refused, nor when the person's
    storage quota has no room for a layer (413)."""
    # Locked until commit: two requests for one project are taken one after the other, so
    # they cannot both see no install running and both start one.
    await projects.get_project(session, user_id, project_id, lock=True)
    if not settings.dependency_registry_hosts:
        raise InvalidInput("Dependency installs are not enabled on this server.")
    files = await _manifests(session, user_id, project_id)
    wanted = [e for e in ECOSYSTEMS.values() if e.manifest in files]
    if not wanted:
        names = " or ".join(e.manifest for e in ECOSYSTEMS.values())
        raise InvalidInput(f"The project has no {names} at its top level to install from.")
    limit = settings.dependency_manifest_max_bytes
    for ecosystem in wanted:
        size = len(files[ecosystem.manifest])
        if size > limit:
            raise PayloadTooLarge(
                f"{ecosystem.manifest} is {size} bytes; a dependency manifest may be at most "
                f"{limit} bytes."
            )
    rows = await _rows(session, user_id, project_id)
    running = await _running(session, user_id, rows)
    timeout_s = min(settings.dependency_install_timeout_s, settings.job_max_timeout_s)
    queued = False
    for ecosystem in wanted:
        row = rows.get(ecosystem.name)
        if row is None:
            row = DependencyLayer(
                project_id=project_id, ecosystem=ecosystem.name, user_id=user_id, size_bytes=0
            )
            session.add(row)
            rows[ecosystem.name] = row
        if row.building_job_id in running:
            raise Conflict(
                f"The {ecosystem.name} layer is being installed (job {row.building_job_id}); "
                "wait for that job to end."
            )
        sha256 = ecosystem.manifest_sha256(files)
        if not rebuild and row.install_job_id is not None and row.manifest_sha256 == sha256:
            continue
        # The worker holds the install to the room left when it starts (`runtime.install_cap`);
        # with less than the smallest layer it could not install anything.
        replacing = row.size_bytes if row.install_job_id is not None else 0
        await quota.check_layer(
            session, user_id, quota.StorageQuota.of(settings), replacing=replacing
        )
        job = await jobs.enqueue(
            session,
            settings,
            user_id,
            project_id,
            image=ecosystem.image,
            command=list(ecosystem.command),
            timeout_s=timeout_s,
            network=NetworkMode.egress,
            ports=[],
            kind=JobKind.install,
        )
        row.building_job_id, row.building_manifest_sha256 = job.id, sha256
        running.add(job.id)
        queued = True
    await session.flush()
    return _views(settings, rows, files, running), queued


async def layers(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, project_id: uuid.UUID
) -> list[DependencyLayerOut]:
    """The project's layers: one per ecosystem it has a manifest or a layer for."""
    await projects.get_project(session, user_id, project_id)
    files = await _manifests(session, user_id, project_id)
    rows = await _rows(session, user_id, project_id)
    return _views(settings, rows, files, await _running(session, user_id, rows))


async def _manifests(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> dict[str, bytes]:
    found = await session.execute(
        select(ProjectFile.path, ProjectFile.content).where(
            ProjectFile.user_id == user_id,
            ProjectFile.project_id == project_id,
            ProjectFile.path.in_(sorted(MANIFEST_FILES)),
        )
    )
    return {path: content for path, content in found}


async def _rows(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> dict[str, DependencyLayer]:
    found = await session.scalars(
        select(DependencyLayer)
        .where(DependencyLayer.user_id == user_id, DependencyLayer.project_id == project_id)
        .with_for_update()
    )
    return {row.ecosystem: row for row in found}


async def _running(
    session: AsyncSession, user_id: uuid.UUID, rows: dict[str, DependencyLayer]
) -> set[uuid.UUID]:
    """The installs of these rows that have not ended (one whose worker was lost has)."""
    building = [row.building_job_id for row in rows.values() if row.building_job_id]
    if not building:
        return set()
    found = await session.scalars(
        select(Job.id).where(
            Job.user_id == user_id, Job.id.in_(building), Job.status.not_in(list(FINISHED))
        )
    )
    return set(found)


def _views(
    settings: Settings,
    rows: dict[str, DependencyLayer],
    files: dict[str, bytes],
    running: set[uuid.UUID],
) -> list[DependencyLayerOut]:
    return [
        _view(settings, ecosystem, rows.get(ecosystem.name), files, running)
        for ecosystem in ECOSYSTEMS.values()
        if ecosystem.name in rows or ecosystem.manifest in files
    ]


def _view(
    settings: Settings,
    ecosystem: Ecosystem,
    row: DependencyLayer | None,
    files: dict[str, bytes],
    running: set[uuid.UUID],
) -> DependencyLayerOut:
    building = row.building_job_id if row and row.building_job_id in running else None
    built = row.install_job_id if row else None
    failed = row.failed_job_id if row else None
    status: LayerStatus = (
        "building" if building else "ready" if built else "failed" if failed else "none"
    )
    return DependencyLayerOut(
        ecosystem=ecosystem.name,
        manifest=ecosystem.manifest,
        mount=ecosystem.mount,
        status=status,
        stale=row is not None
        and built is not None
        and row.manifest_sha256 != ecosystem.manifest_sha256(files),
        manifest_sha256=row.manifest_sha256 if row else None,
        size_bytes=row.size_bytes if row else 0,
        max_bytes=settings.dependency_layer_max_bytes,
        built_at=row.built_at if row else None,
        install_job_id=built,
        building_job_id=building,
        failed_job_id=failed,
    )
