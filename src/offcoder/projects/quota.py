"""What one person may store: how many projects, and how many bytes their projects' files and
dependency layers take together (docs/api.md "Storage quotas"). Past either, a clear refusal
and nothing changed.

A person's writes that count against the quota take turns (`hold`): a transaction-scoped lock on
their id, released at commit, so writes sent at once cannot all see room for one more. What
counts is `bytes_stored`; anything else a person stores that should count goes there.

A dependency layer counts once it is ready, at the size it takes on disk. One being built is
not counted: its size is known only when its install ends, and it may take no more than the
room there was when its install started (`layer_room`), which is what the worker makes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.dependencies.models import DependencyLayer
from offcoder.problems import Problem
from offcoder.projects import repository
from offcoder.runtime.policy import LAYER_MIN_BYTES


@dataclass(frozen=True)
class StorageQuota:
    projects: int
    file_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> StorageQuota:
        return cls(settings.max_projects_per_user, settings.max_file_bytes_per_user)


# The settings' defaults, for callers that do not pass the configured quota.
DEFAULT = StorageQuota(
    Settings.model_fields["max_projects_per_user"].default,
    Settings.model_fields["max_file_bytes_per_user"].default,
)


class ProjectQuotaExceeded(Problem):
    def __init__(self, limit: int, used: int) -> None:
        super().__init__(
            409,
            "project-quota-exceeded",
            f"You have {used} projects, the most this server keeps for one person; delete one "
            "before creating another.",
            title="Project quota exceeded",
            limit=limit,
            used=used,
        )


class StorageQuotaExceeded(Problem):
    def __init__(self, limit: int, used: int, detail: str) -> None:
        super().__init__(
            413,
            "storage-quota-exceeded",
            detail,
            title="Storage quota exceeded",
            limit=limit,
            used=used,
        )

    @classmethod
    def adding(cls, limit: int, used: int, adding: int) -> StorageQuotaExceeded:
        return cls(
            limit,
            used,
            f"Your projects' files and dependency layers would take {used + adding} bytes, more "
            f"than the {limit} this server keeps for one person; delete files or projects to make "
            "room.",
        )

    @classmethod
    def no_room_for_layer(cls, limit: int, used: int, room: int) -> StorageQuotaExceeded:
        return cls(
            limit,
            used,
            f"Your files and dependency layers leave {max(room, 0)} bytes of the {limit} this "
            f"server keeps for one person, less than the {LAYER_MIN_BYTES} a dependency layer "
            "needs; delete files or projects to make room.",
        )


async def hold(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Take the person's storage turn until the transaction ends."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"storage:{user_id}", 0)))
    )


async def bytes_stored(
    session: AsyncSession, user_id: uuid.UUID, *, replacing: tuple[uuid.UUID, str] | None = None
) -> int:
    """The bytes counted against the person's quota: their project files, less the file at
    `replacing` (project id, path), which a write would replace, and their ready layers."""
    files = await repository.file_bytes_of_user(session, user_id, replacing=replacing)
    return files + await dependency_bytes(session, user_id)


async def dependency_bytes(session: AsyncSession, user_id: uuid.UUID) -> int:
    """What the person's ready dependency layers take on disk."""
    taken = await session.scalar(
        select(func.coalesce(func.sum(DependencyLayer.size_bytes), 0)).where(
            DependencyLayer.user_id == user_id, DependencyLayer.install_job_id.is_not(None)
        )
    )
    return int(taken or 0)


async def layer_room(
    session: AsyncSession, user_id: uuid.UUID, quota: StorageQuota, *, replacing: int = 0
) -> int:
    """The bytes a new dependency layer may take within the person's quota (negative once they
    store more than it). `replacing` is the size of the ready layer it would replace: room too,
    since that layer is removed when the new one is kept."""
    return quota.file_bytes - await bytes_stored(session, user_id) + replacing


async def check_layer(
    session: AsyncSession, user_id: uuid.UUID, quota: StorageQuota, *, replacing: int = 0
) -> None:
    """413 when the person has no room for even the smallest dependency layer."""
    used = await bytes_stored(session, user_id)
    room = quota.file_bytes - used + replacing
    if room < LAYER_MIN_BYTES:
        raise StorageQuotaExceeded.no_room_for_layer(quota.file_bytes, used, room)


async def check_new_project(session: AsyncSession, user_id: uuid.UUID, quota: StorageQuota) -> None:
    """409 when the person already has `quota.projects` projects (call under `hold`)."""
    used = await repository.count_projects(session, user_id)
    if used >= quota.projects:
        raise ProjectQuotaExceeded(quota.projects, used)


async def check_file(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    path: str,
    size: int,
    quota: StorageQuota,
) -> None:
    """413 when writing `size` bytes at `path` would take the person past `quota.file_bytes`
    (call under `hold`)."""
    used = await bytes_stored(session, user_id, replacing=(project_id, path))
    if used + size > quota.file_bytes:
        raise StorageQuotaExceeded.adding(quota.file_bytes, used, size)
