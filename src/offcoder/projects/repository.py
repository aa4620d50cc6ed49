"""Queries for projects, their files and secrets, always scoped to one user.

Every statement starts from one of the `owned_*` functions below, the single place where the
owner filter is written. Row-level security (D1) is the second wall behind it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, delete, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.crypto.keyring import MAGIC, NONCE_BYTES, OWNER_MAGIC
from offcoder.db.base import utcnow
from offcoder.projects.models import Project, ProjectFile, ProjectSecret

# Paths sort by their bytes, so listings page the same way whatever the database's locale is.
_PATH_ORDER = ProjectFile.path.collate("C")


def owned_projects(user_id: uuid.UUID) -> Select[Project]:
    return select(Project).where(Project.user_id == user_id)


def owned_files(user_id: uuid.UUID) -> Select[ProjectFile]:
    return select(ProjectFile).where(ProjectFile.user_id == user_id)


def owned_secrets(user_id: uuid.UUID) -> Select[ProjectSecret]:
    return select(ProjectSecret).where(ProjectSecret.user_id == user_id)


def _scope(statement: Select[Any]) -> Any:
    """The owner filter of an `owned_*` statement, for UPDATE and DELETE statements."""
    return statement.whereclause


# --- projects ---------------------------------------------------------------------------------


async def get_project(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, *, lock: bool = False
) -> Project | None:
    """The user's project; with `lock`, its row stays locked (FOR UPDATE) until commit."""
    statement = owned_projects(user_id).where(Project.id == project_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def files_last_changed(
    session: AsyncSession, user_id: uuid.UUID, project_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When a file of each project was last written (projects without files are absent)."""
    if not project_ids:
        return {}
    rows = await session.execute(
        select(ProjectFile.project_id, func.max(ProjectFile.updated_at))
        .where(ProjectFile.user_id == user_id, ProjectFile.project_id.in_(project_ids))
        .group_by(ProjectFile.project_id)
    )
    return {project_id: changed for project_id, changed in rows}


async def list_projects(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Project]:
    """Newest first, keyed on (created_at, id)."""
    statement = owned_projects(user_id)
    if after is not None:
        statement = statement.where(tuple_(Project.created_at, Project.id) < tuple_(*after))
    statement = statement.order_by(Project.created_at.desc(), Project.id.desc()).limit(limit)
    return list(await session.scalars(statement))


async def slugs_starting_with(session: AsyncSession, user_id: uuid.UUID, base: str) -> set[str]:
    # `base` holds only [a-z0-9-], none of which LIKE treats specially.
    statement = owned_projects(user_id).where(Project.slug.like(f"{base[:20]}%"))
    return {p.slug for p in await session.scalars(statement)}


async def all_projects(session: AsyncSession, user_id: uuid.UUID) -> list[Project]:
    statement = owned_projects(user_id).order_by(Project.created_at, Project.id)
    return list(await session.scalars(statement))


async def count_projects(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(owned_projects(user_id).with_only_columns(func.count()))
    return int(count or 0)


async def delete_project(session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    """Delete the project; its files and secrets go by cascade. False when there was none."""
    result = await session.execute(
        delete(Project)
        .where(_scope(owned_projects(user_id)), Project.id == project_id)
        .returning(Project.id)
    )
    return result.first() is not None


# --- files ------------------------------------------------------------------------------------


async def get_file(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> ProjectFile | None:
    statement = owned_files(user_id).where(
        ProjectFile.project_id == project_id, ProjectFile.path == path
    )
    return (await session.scalars(statement)).one_or_none()


async def list_files(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    after: str | None,
    limit: int,
) -> list[ProjectFile]:
    """By path, bytewise; without loading contents."""
    statement = (
        owned_files(user_id).where(ProjectFile.project_id == project_id).options(_no_content())
    )
    if after is not None:
        statement = statement.where(after < _PATH_ORDER)
    statement = statement.order_by(_PATH_ORDER).limit(limit)
    return list(await session.scalars(statement))


async def all_files(
    session: AsyncSession, user_id: uuid.UUID, project_ids: list[uuid.UUID]
) -> list[ProjectFile]:
    """Every file of these projects, without contents."""
    statement = (
        owned_files(user_id)
        .where(ProjectFile.project_id.in_(project_ids))
        .options(_no_content())
        .order_by(ProjectFile.project_id, _PATH_ORDER)
    )
    return list(await session.scalars(statement))


async def bytes_used_except(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> int:
    """Total size of the project's files other than `path` (which a write would replace)."""
    used = await session.scalar(
        owned_files(user_id)
        .with_only_columns(func.coalesce(func.sum(ProjectFile.size), 0))
        .where(ProjectFile.project_id == project_id, ProjectFile.path != path)
    )
    return int(used or 0)


async def file_bytes_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, replacing: tuple[uuid.UUID, str] | None = None
) -> int:
    """Total size of all the user's files, less the one at `replacing` (project id, path)."""
    statement = owned_files(user_id).with_only_columns(func.coalesce(func.sum(ProjectFile.size), 0))
    if replacing is not None:
        project_id, path = replacing
        statement = statement.where(
            tuple_(ProjectFile.project_id, ProjectFile.path) != tuple_(project_id, path)
        )
    return int(await session.scalar(statement) or 0)


async def upsert_file(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    path: str,
    content: bytes,
    sha256: str,
) -> tuple[int, str, datetime]:
    now = utcnow()
    values: dict[str, Any] = {
        "project_id": project_id,
        "path": path,
        "user_id": user_id,
        "content": content,
        "size": len(content),
        "sha256": sha256,
        "created_at": now,
        "updated_at": now,
    }
    statement = insert(ProjectFile).values(**values)
    upsert = statement.on_conflict_do_update(
        index_elements=[ProjectFile.project_id, ProjectFile.path],
        set_={
            "content": statement.excluded.content,
            "size": statement.excluded.size,
            "sha256": statement.excluded.sha256,
            "updated_at": statement.excluded.updated_at,
        },
        where=_scope(owned_files(user_id)),
    ).returning(ProjectFile.size, ProjectFile.sha256, ProjectFile.updated_at)
    row = (await session.execute(upsert)).one()
    return int(row.size), str(row.sha256), row.updated_at


async def delete_file(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> bool:
    result = await session.execute(
        delete(ProjectFile)
        .where(
            _scope(owned_files(user_id)),
            ProjectFile.project_id == project_id,
            ProjectFile.path == path,
        )
        .returning(ProjectFile.path)
    )
    return result.first() is not None


async def paths_at_or_under(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> list[str]:
    """The file at `path`, if any, and every file under the folder `path` + "/", by path."""
    folder = path + "/"
    statement = (
        owned_files(user_id)
        .with_only_columns(ProjectFile.path)
        .where(
            ProjectFile.project_id == project_id,
            (ProjectFile.path == path) | func.starts_with(ProjectFile.path, folder),
        )
        .order_by(_PATH_ORDER)
    )
    return list(await session.scalars(statement))


async def existing_paths(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, paths: list[str]
) -> set[str]:
    statement = (
        owned_files(user_id)
        .with_only_columns(ProjectFile.path)
        .where(ProjectFile.project_id == project_id, ProjectFile.path.in_(paths))
    )
    return set(await session.scalars(statement))


async def move_files(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    paths: list[str],
    *,
    source: str,
    target: str,
) -> list[tuple[str, int, str, datetime]]:
    """Give each of `paths` (all `source` or under it) the path `target` + the rest after
    `source`, content untouched, in one statement: the rows are deleted and inserted again
    under their new keys, so a folder can move onto paths some of its own files held.
    Returns (path, size, sha256, updated_at) of each moved file."""
    moved = (
        delete(ProjectFile)
        .where(
            _scope(owned_files(user_id)),
            ProjectFile.project_id == project_id,
            ProjectFile.path.in_(paths),
        )
        .returning(
            ProjectFile.project_id,
            ProjectFile.path,
            ProjectFile.user_id,
            ProjectFile.content,
            ProjectFile.size,
            ProjectFile.sha256,
            ProjectFile.created_at,
        )
        .cte("moved")
    )
    # substr counts characters from 1, as len() counts code points: what follows `source`.
    new_path = literal(target) + func.substr(moved.c.path, len(source) + 1)
    statement = (
        insert(ProjectFile)
        .from_select(
            [
                "project_id",
                "path",
                "user_id",
                "content",
                "size",
                "sha256",
                "created_at",
                "updated_at",
            ],
            select(
                moved.c.project_id,
                new_path,
                moved.c.user_id,
                moved.c.content,
                moved.c.size,
                moved.c.sha256,
                moved.c.created_at,
                literal(utcnow()),
            ),
        )
        .returning(ProjectFile.path, ProjectFile.size, ProjectFile.sha256, ProjectFile.updated_at)
    )
    rows = (await session.execute(statement)).all()
    return sorted((str(r.path), int(r.size), str(r.sha256), r.updated_at) for r in rows)


def _no_content() -> Any:
    from sqlalchemy.orm import defer

    return defer(ProjectFile.content, raiseload=True)


# --- secrets ----------------------------------------------------------------------------------


async def list_secrets(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    after: str | None,
    limit: int,
) -> list[ProjectSecret]:
    statement = (
        owned_secrets(user_id).where(ProjectSecret.project_id == project_id).options(_no_value())
    )
    if after is not None:
        statement = statement.where(ProjectSecret.name > after)
    statement = statement.order_by(ProjectSecret.name).limit(limit)
    return list(await session.scalars(statement))


async def all_secrets(
    session: AsyncSession, user_id: uuid.UUID, project_ids: list[uuid.UUID]
) -> list[ProjectSecret]:
    """Every secret of these projects, without their sealed values."""
    statement = (
        owned_secrets(user_id)
        .where(ProjectSecret.project_id.in_(project_ids))
        .options(_no_value())
        .order_by(ProjectSecret.project_id, ProjectSecret.name)
    )
    return list(await session.scalars(statement))


async def sealed_secrets(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> list[ProjectSecret]:
    """The project's secrets with their sealed values, for opening in memory (C4)."""
    statement = (
        owned_secrets(user_id)
        .where(ProjectSecret.project_id == project_id)
        .order_by(ProjectSecret.name)
    )
    return list(await session.scalars(statement))


# The sealed envelopes (crypto/keyring). Under the keyring: MAGIC, the key id's length in one
# byte, the key id, the nonce, the ciphertext (as long as the plaintext) and the AES-GCM tag.
# Under the owner's data key (decision 0033): OWNER_MAGIC, the nonce, the ciphertext, the tag.
_GCM_TAG_BYTES = 16
_ENVELOPE_FIXED_BYTES = len(MAGIC) + 1 + NONCE_BYTES + _GCM_TAG_BYTES
_OWNER_ENVELOPE_BYTES = len(OWNER_MAGIC) + NONCE_BYTES + _GCM_TAG_BYTES


def plaintext_bytes() -> Any:
    """A secret's value size in bytes of UTF-8, from its sealed length: no value is opened."""
    sealed = func.octet_length(ProjectSecret.value_enc)
    return case(
        (
            func.substring(ProjectSecret.value_enc, 1, len(OWNER_MAGIC)) == OWNER_MAGIC,
            sealed - _OWNER_ENVELOPE_BYTES,
        ),
        else_=sealed - _ENVELOPE_FIXED_BYTES - func.get_byte(ProjectSecret.value_enc, len(MAGIC)),
    )


async def secret_usage_except(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, name: str
) -> tuple[int, int]:
    """How many secrets the project has other than `name` (which a write would replace), and
    how many bytes their values add up to."""
    row = (
        await session.execute(
            owned_secrets(user_id)
            .with_only_columns(func.count(), func.coalesce(func.sum(plaintext_bytes()), 0))
            .where(ProjectSecret.project_id == project_id, ProjectSecret.name != name)
        )
    ).one()
    return int(row[0]), int(row[1])


async def upsert_secret(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    name: str,
    value_enc: bytes,
) -> tuple[datetime, datetime]:
    now = utcnow()
    statement = insert(ProjectSecret).values(
        project_id=project_id,
        name=name,
        user_id=user_id,
        value_enc=value_enc,
        created_at=now,
        updated_at=now,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[ProjectSecret.project_id, ProjectSecret.name],
        set_={
            "value_enc": statement.excluded.value_enc,
            "updated_at": statement.excluded.updated_at,
        },
        where=_scope(owned_secrets(user_id)),
    ).returning(ProjectSecret.created_at, ProjectSecret.updated_at)
    row = (await session.execute(upsert)).one()
    return row.created_at, row.updated_at


async def delete_secret(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, name: str
) -> bool:
    result = await session.execute(
        delete(ProjectSecret)
        .where(
            _scope(owned_secrets(user_id)),
            ProjectSecret.project_id == project_id,
            ProjectSecret.name == name,
        )
        .returning(ProjectSecret.name)
    )
    return result.first() is not None


def _no_value() -> Any:
    from sqlalchemy.orm import defer

    return defer(ProjectSecret.value_enc, raiseload=True)
