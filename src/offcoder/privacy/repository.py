"""Sign-in records of one user, read for export (its identities: `auth/identities`)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth.models import DeviceSession


async def device_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[DeviceSession]:
    """Every device session, ended ones included: they are personal data too."""
    statement = (
        select(DeviceSession)
        .where(DeviceSession.user_id == user_id)
        .order_by(DeviceSession.created_at)
    )
    return list(await session.scalars(statement))
