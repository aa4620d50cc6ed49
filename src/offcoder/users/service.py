"""The signed-in user's own account (application role, under RLS)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.problems import Conflict, NotFound
from offcoder.users.models import User
from offcoder.users.schemas import UserUpdate


async def get(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("user")
    return user


async def update(session: AsyncSession, user_id: uuid.UUID, changes: UserUpdate) -> User:
    user = await get(session, user_id)
    fields = changes.model_dump(exclude_unset=True)
    for name, value in fields.items():
        setattr(user, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("That handle is taken.") from exc
    return user


async def erase(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete the account and, by cascade, every row it owns (V3 erasure)."""
    await record(
        session,
        "user.erased",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
    )
    await session.execute(delete(User).where(User.id == user_id))
