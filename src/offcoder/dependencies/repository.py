"""The workers' list of the layer volumes they asked the proxy for, in the system role.

A layer volume outlives its install job and may outlive its project (a job still mounting it
when the project was deleted): this list is what lets the reconciler remove it later, and tell
it from a volume of another deployment sharing the engine, which it never touches.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, union
from sqlalchemy.dialects.postgresql import insert

from offcoder.db.engine import Database
from offcoder.dependencies.models import DependencyLayer, DependencyVolume
from offcoder.jobs.models import FINISHED, Job


async def record(database: Database, job_id: uuid.UUID) -> None:
    """Before the proxy makes install job `job_id`'s layer: from now on it is ours to remove."""
    async with database.system_session() as s:
        await s.execute(insert(DependencyVolume).values(job_id=job_id).on_conflict_do_nothing())


async def forget(database: Database, job_id: uuid.UUID) -> None:
    """The layer built by `job_id` is gone from the engine."""
    async with database.system_session() as s:
        await s.execute(delete(DependencyVolume).where(DependencyVolume.job_id == job_id))


async def retired(database: Database) -> set[uuid.UUID]:
    """Our layers nothing needs: no project's layer, and not the work of a job still going."""
    needed = union(
        select(DependencyLayer.install_job_id).where(DependencyLayer.install_job_id.is_not(None)),
        select(Job.id).where(
            Job.id.in_(select(DependencyVolume.job_id)), Job.status.not_in(list(FINISHED))
        ),
    ).subquery()
    async with database.system_session() as s:
        rows = await s.scalars(
            select(DependencyVolume.job_id).where(
                DependencyVolume.job_id.not_in(select(needed.c[0]))
            )
        )
        return set(rows)
