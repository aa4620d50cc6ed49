"""Sign-in records of one user, read for export; sealed provider tokens are never loaded."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from offcoder.auth.models import DeviceSession, OAuthIdentity


async def identities(session: AsyncSession, user_id: uuid.UUID) -> list[OAuthIdentity]:
    statement = (
        select(OAuthIdentity)
        .where(OAuthIdentity.user_id == user_id)
        .options(
            defer(OAuthIdentity.access_token_enc, raiseload=True),
            defer(OAuthIdentity.refresh_token_enc, raiseload=True),
        )
        .order_by(OAuthIdentity.created_at)
    )
    return list(await session.scalars(statement))


async def device_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[DeviceSession]:
    """Every device session, ended ones included: they are personal data too."""
    statement = (
        select(DeviceSession)
        .where(DeviceSession.user_id == user_id)
        .order_by(DeviceSession.created_at)
    )
    return list(await session.scalars(statement))
