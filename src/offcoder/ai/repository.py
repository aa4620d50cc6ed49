"""Queries for a user's AI provider keys; `owned_keys` is the one place with the owner filter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from offcoder.ai.models import AIKey
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
