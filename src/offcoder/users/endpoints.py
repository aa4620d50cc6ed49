from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from sqlalchemy import select

from offcoder.audit.service import ActorKind, record
from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.privacy import repository as privacy_repository
from offcoder.problems import Conflict, NotFound
from offcoder.users import service
from offcoder.users.models import User
from offcoder.users.schemas import IdentityList, IdentityOut, UserOut, UserUpdate

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("")
async def me(principal: CurrentUser, session: UserSession) -> UserOut:
    """Your account."""
    return UserOut.model_validate(await service.get(session, principal.user_id))


@router.patch("")
async def update_me(changes: UserUpdate, principal: CurrentUser, session: UserSession) -> UserOut:
    """Change your handle or display name (409 for a taken handle)."""
    return UserOut.model_validate(await service.update(session, principal.user_id, changes))


@router.delete("", status_code=204)
async def erase_me(principal: CurrentUser, session: UserSession, ctx: Context) -> Response:
    """Erase the account and everything it owns, and the pending link codes that name it."""
    await service.forget_link_codes(session, ctx.database, principal.user_id)
    await service.erase(session, principal.user_id)
    return Response(status_code=204)


@router.get("/identities")
async def my_identities(principal: CurrentUser, session: UserSession) -> IdentityList:
    """The provider accounts you sign in with."""
    rows = await privacy_repository.identities(session, principal.user_id)
    return IdentityList(
        items=[
            IdentityOut(
                id=r.id,
                provider=r.provider,
                email=r.email,
                email_verified=r.email_verified,
                created_at=r.created_at,
            )
            for r in rows
        ]
    )


@router.delete("/identities/{identity_id}", status_code=204)
async def unlink_identity(
    identity_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> Response:
    """Stop signing in with one provider account; never the last one (409)."""
    # The user row is the lock: two unlinks at once cannot each leave the other's identity last.
    await session.execute(select(User.id).where(User.id == principal.user_id).with_for_update())
    rows = await privacy_repository.identities(session, principal.user_id)
    target = next((r for r in rows if r.id == identity_id), None)
    if target is None:
        raise NotFound("identity")
    if len(rows) == 1:
        raise Conflict("This is your only way to sign in; link another provider first.")
    await session.delete(target)
    await record(
        session,
        "auth.identity.unlinked",
        actor_id=principal.user_id,
        actor_kind=ActorKind.user,
        target=f"user:{principal.user_id}",
        details={"provider": target.provider},
    )
    return Response(status_code=204)
