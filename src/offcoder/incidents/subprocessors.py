"""The sub-processor list (V4): kept by operators (admin API, `offcoder subprocessors`),
published at /legal/sub-processors with its change log. Every change is a new row of
`subprocessor_versions` (append-only in the database); the list is each name's newest row,
unless that row removed it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.db.base import utcnow
from offcoder.incidents.models import SubprocessorVersion
from offcoder.incidents.schemas import SubprocessorIn
from offcoder.problems import Conflict, NotFound


async def _latest(session: AsyncSession, name: str) -> SubprocessorVersion | None:
    return await session.scalar(
        select(SubprocessorVersion)
        .where(SubprocessorVersion.name == name)
        .order_by(SubprocessorVersion.changed_at.desc(), SubprocessorVersion.id)
        .limit(1)
    )


async def current_list(session: AsyncSession) -> list[SubprocessorVersion]:
    # Each name's newest row (the rows of one name are its history).
    newest = func.row_number().over(
        partition_by=SubprocessorVersion.name, order_by=SubprocessorVersion.changed_at.desc()
    )
    latest = select(SubprocessorVersion.id, newest.label("n")).subquery()
    rows = await session.scalars(
        select(SubprocessorVersion)
        .join(latest, (SubprocessorVersion.id == latest.c.id) & (latest.c.n == 1))
        .where(SubprocessorVersion.change != "removed")
        .order_by(SubprocessorVersion.name)
    )
    return list(rows)


async def change_log(session: AsyncSession, limit: int = 500) -> list[SubprocessorVersion]:
    return list(
        await session.scalars(
            select(SubprocessorVersion).order_by(SubprocessorVersion.changed_at.desc()).limit(limit)
        )
    )


def _actor(actor: str) -> dict[str, Any]:
    kind, _, rest = actor.partition(":")
    if kind == "admin":
        return {"actor_id": uuid.UUID(rest), "actor_kind": ActorKind.admin}
    return {"actor_id": None, "actor_kind": ActorKind.operator}


async def _append(
    session: AsyncSession, change: str, fields: dict[str, Any], actor: str, note: str
) -> SubprocessorVersion:
    row = SubprocessorVersion(
        id=uuid.uuid4(), change=change, changed_at=utcnow(), changed_by=actor, note=note, **fields
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        f"subprocessor.{change}",
        target=f"subprocessor:{row.name}",
        details={"note": note},
        **_actor(actor),
    )
    return row


async def add(session: AsyncSession, new: SubprocessorIn, actor: str) -> SubprocessorVersion:
    existing = await _latest(session, new.name)
    if existing is not None and existing.change != "removed":
        raise Conflict(f"{new.name} is already on the list.")
    fields = new.model_dump(exclude={"note"})
    fields["added_on"] = new.added_on or utcnow()
    return await _append(session, "added", fields, actor, new.note)


async def change(
    session: AsyncSession, name: str, new: SubprocessorIn, actor: str
) -> SubprocessorVersion:
    existing = await _latest(session, name)
    if existing is None or existing.change == "removed":
        raise NotFound("subprocessor")
    fields = new.model_dump(exclude={"note", "name"})
    fields["name"] = name
    fields["added_on"] = new.added_on or existing.added_on
    return await _append(session, "changed", fields, actor, new.note)


async def remove(session: AsyncSession, name: str, actor: str, note: str) -> SubprocessorVersion:
    existing = await _latest(session, name)
    if existing is None or existing.change == "removed":
        raise NotFound("subprocessor")
    fields = {
        "name": name,
        "purpose": existing.purpose,
        "data_categories": existing.data_categories,
        "location": existing.location,
        "transfer_mechanism": existing.transfer_mechanism,
        "added_on": existing.added_on,
    }
    return await _append(session, "removed", fields, actor, note)
