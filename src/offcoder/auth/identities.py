"""The provider accounts a user signs in with (A2): listing them and unlinking one.

`owned_identities` is the one place with the owner filter; the sealed provider tokens are never
loaded here (a listing, an export or an unlink has no use for them). Linking another provider is
the sign-in broker's (`auth/service.begin_link`, `complete_link`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from offcoder.audit.service import ActorKind, record
from offcoder.auth.models import OAuthIdentity
from offcoder.problems import Conflict, NotFound
from offcoder.users.models import User


def owned_identities(user_id: uuid.UUID) -> Select[OAuthIdentity]:
    """The user's identities, oldest first, without their sealed tokens (RLS is the second
    wall)."""
    return (
        select(OAuthIdentity)
        .where(OAuthIdentity.user_id == user_id)
        .options(
            defer(OAuthIdentity.access_token_enc, raiseload=True),
            defer(OAuthIdentity.refresh_token_enc, raiseload=True),
        )
        .order_by(OAuthIdentity.created_at)
    )


async def list_identities(session: AsyncSession, user_id: uuid.UUID) -> list[OAuthIdentity]:
    """Every provider account the user signs in with, oldest first."""
    return list(await session.scalars(owned_identities(user_id)))


async def unlink(session: AsyncSession, user_id: uuid.UUID, identity_id: uuid.UUID) -> None:
    """Stop signing in with one provider account: 404 when it is not the user's, 409 when it is
    their last; audited."""
    # The user row is the lock: two unlinks at once cannot each leave the other's identity last.
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    rows = await list_identities(session, user_id)
    target = next((r for r in rows if r.id == identity_id), None)
    if target is None:
        raise NotFound("identity")
    if len(rows) == 1:
        raise Conflict("This is your only way to sign in; link another provider first.")
    await session.delete(target)
    await record(
        session,
        "auth.identity.unlinked",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
        details={"provider": target.provider},
    )
