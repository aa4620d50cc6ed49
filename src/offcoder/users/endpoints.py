from __future__ import annotations

from fastapi import APIRouter, Response

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.users import service
from offcoder.users.models import User
from offcoder.users.schemas import UserOut, UserUpdate

router = APIRouter(prefix="/v1/me", tags=["me"])


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        handle=user.handle,
        display_name=user.display_name,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
    )


@router.get("")
async def me(principal: CurrentUser, session: UserSession) -> UserOut:
    return _out(await service.get(session, principal.user_id))


@router.patch("")
async def update_me(changes: UserUpdate, principal: CurrentUser, session: UserSession) -> UserOut:
    return _out(await service.update(session, principal.user_id, changes))


@router.delete("", status_code=204)
async def erase_me(principal: CurrentUser, session: UserSession, ctx: Context) -> Response:
    """Erase the account and everything it owns, and the pending link codes that name it."""
    await service.forget_link_codes(session, ctx.database, principal.user_id)
    await service.erase(session, principal.user_id)
    return Response(status_code=204)
