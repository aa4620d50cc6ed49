"""What one person may store: how many projects, and how many bytes their projects' files take
together (docs/api.md "Storage quotas"). Past either, a clear refusal and nothing changed.

A person's writes that count against the quota take turns (`hold`): a transaction-scoped lock on
their id, released at commit, so writes sent at once cannot all see room for one more. What
counts is `bytes_stored`; anything else a person stores that should count goes there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.problems import Problem
from offcoder.projects import repository


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
    def __init__(self, limit: int, used: int, adding: int) -> None:
        super().__init__(
            413,
            "storage-quota-exceeded",
            f"Your projects' files would take {used + adding} bytes, more than the {limit} this "
            "server keeps for one person; delete files or projects to make room.",
            title="Storage quota exceeded",
            limit=limit,
            used=used,
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
    `replacing` (project id, path), which a write would replace."""
    return await repository.file_bytes_of_user(session, user_id, replacing=replacing)


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
        raise StorageQuotaExceeded(quota.file_bytes, used, size)
