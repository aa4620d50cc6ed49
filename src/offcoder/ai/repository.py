"""Queries for a user's AI provider keys (`owned_keys` is the one place with the owner filter),
and the chat's two statements that also check the caller's device session is live.

A chat has two short transactions, one before the provider call (the key) and one after (the
output), and holds no connection while the provider works. Each asks whether the device session
is live in the same statement as its own work, rather than in a statement before it: one round
trip fewer each (docs/performance.md, "AI gateway").
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, literal, select, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from offcoder.ai.models import AIKey, AIOutput
from offcoder.auth.models import DeviceSession
from offcoder.db.base import utcnow


def owned_keys(user_id: uuid.UUID) -> Select[AIKey]:
    return select(AIKey).where(AIKey.user_id == user_id)


def _scope(statement: Select[Any]) -> Any:
    """The owner filter of `owned_keys`, for DELETE statements."""
    return statement.whereclause


async def list_keys(session: AsyncSession, user_id: uuid.UUID) -> list[AIKey]:
    """Without the sealed keys: listings never load them (R3)."""
    statement = (
        owned_keys(user_id).options(defer(AIKey.key_enc, raiseload=True)).order_by(AIKey.provider)
    )
    return list(await session.scalars(statement))


async def get_sealed_key(session: AsyncSession, user_id: uuid.UUID, provider: str) -> AIKey | None:
    statement = owned_keys(user_id).where(AIKey.provider == provider)
    return (await session.scalars(statement)).one_or_none()


async def upsert_key(
    session: AsyncSession, user_id: uuid.UUID, provider: str, key_enc: bytes, last4: str
) -> tuple[datetime, datetime]:
    now = utcnow()
    statement = insert(AIKey).values(
        user_id=user_id,
        provider=provider,
        key_enc=key_enc,
        last4=last4,
        created_at=now,
        updated_at=now,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[AIKey.user_id, AIKey.provider],
        set_={
            "key_enc": statement.excluded.key_enc,
            "last4": statement.excluded.last4,
            "updated_at": statement.excluded.updated_at,
        },
    ).returning(AIKey.created_at, AIKey.updated_at)
    row = (await session.execute(upsert)).one()
    return row.created_at, row.updated_at


async def delete_key(session: AsyncSession, user_id: uuid.UUID, provider: str) -> bool:
    result = await session.execute(
        delete(AIKey)
        .where(_scope(owned_keys(user_id)), AIKey.provider == provider)
        .returning(AIKey.provider)
    )
    return result.first() is not None


def live_device(session_id: uuid.UUID, now: datetime) -> ColumnElement[bool]:
    """The device session is live: the rule of `auth.service.live_session` (not ended, not
    expired), as a condition a statement can carry."""
    return and_(
        DeviceSession.id == session_id,
        DeviceSession.ended_at.is_(None),
        DeviceSession.expires_at > now,
    )


async def sealed_key_of_live_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    provider: str,
    *,
    touch_after: timedelta,
) -> tuple[bool, bytes | None]:
    """Whether the device session is live, and the sealed key for `provider` (None when none
    is stored), in one statement; the session's `last_used_at` is touched when older than
    `touch_after`, as `auth.dependencies.live_user_session` touches it."""
    now = utcnow()
    key = owned_keys(user_id).where(AIKey.provider == provider).with_only_columns(AIKey.key_enc)
    row = (
        await session.execute(
            select(DeviceSession.last_used_at, key.scalar_subquery()).where(
                live_device(session_id, now)
            )
        )
    ).first()
    if row is None:
        return False, None
    last_used_at, key_enc = row
    if now - last_used_at > touch_after:
        await session.execute(
            update(DeviceSession).where(DeviceSession.id == session_id).values(last_used_at=now)
        )
    return True, key_enc


async def insert_output_of_live_session(
    session: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    provider: str,
    model: str,
    content: str,
) -> uuid.UUID | None:
    """Store a shown reply, only while the device session is live (None when it has ended)."""
    output_id, now = uuid.uuid4(), utcnow()
    values = select(
        literal(output_id, UUID),
        literal(user_id, UUID),
        literal(provider, AIOutput.provider.type),
        literal(model, AIOutput.model.type),
        literal(content, AIOutput.content.type),
        literal(now, AIOutput.created_at.type),
    ).where(select(DeviceSession.id).where(live_device(session_id, now)).exists())
    statement = (
        insert(AIOutput)
        .from_select(
            ["id", "user_id", "provider", "model", "content", "created_at"],
            values,
        )
        .returning(AIOutput.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()
