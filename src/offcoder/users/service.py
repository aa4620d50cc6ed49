"""The signed-in user's own account (application role, under RLS)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.auth import service as auth_service
from offcoder.auth.models import OAuthIdentity
from offcoder.crypto.keyring import Keyring
from offcoder.db.engine import Database
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


async def forget_link_codes(session: AsyncSession, database: Database, user_id: uuid.UUID) -> None:
    """Before erasure: the pending link codes that start from or name this account (V3, A2).

    They sit in a table only the system role reaches, so they are deleted in a system-role
    transaction of their own, committed here before `erase` (the account's delete cascades to
    the codes it started and would wait on rows that transaction still held). Those it
    started go by cascade anyway; those naming its e-mail or a provider account of it may
    belong to someone else's link (the attack of issue 12, where the victim's address sits
    under the attacker's user_id).
    """
    user = await get(session, user_id)
    rows = (
        await session.execute(
            select(OAuthIdentity.provider, OAuthIdentity.subject, OAuthIdentity.email).where(
                OAuthIdentity.user_id == user_id
            )
        )
    ).all()
    emails = {e for e in (user.email, *(r.email for r in rows)) if e}
    # Its own system-role transaction, committed first: see above.
    async with database.system_session() as system:
        await auth_service.forget_link_codes(
            system, user_id, emails=emails, identities={(r.provider, r.subject) for r in rows}
        )


async def erase(session: AsyncSession, user_id: uuid.UUID, keyring: Keyring) -> None:
    """Delete the account and, by cascade, every row it owns, and destroy the user's data key
    so that their sealed values in earlier database backups no longer open (V3 erasure by
    crypto-shredding, decision 0033)."""
    # Destroyed inside the transaction, before the commit: a commit that then fails leaves an
    # account whose sealed values no longer open (which its owner asked for), never an erased
    # account whose key survives.
    shredded = keyring.destroy_data_key(user_id)
    await record(
        session,
        "user.erased",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
        details={"data_key_destroyed": shredded},
    )
    await session.execute(delete(User).where(User.id == user_id))
