from __future__ import annotations

from fastapi import APIRouter, Response

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.users import service, usage
from offcoder.users.schemas import UsageOut, UserOut, UserUpdate

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("")
async def me(principal: CurrentUser, session: UserSession) -> UserOut:
    """Your account."""
    return UserOut.model_validate(await service.get(session, principal.user_id))


@router.get("/usage")
async def my_usage(principal: CurrentUser, session: UserSession, ctx: Context) -> UsageOut:
    """Your limits and quotas with what you use of them now, and this month's job usage."""
    return await usage.usage(session, ctx.settings, principal.user_id)


@router.patch("")
async def update_me(changes: UserUpdate, principal: CurrentUser, session: UserSession) -> UserOut:
    """Change your handle or display name (409 for a taken handle)."""
    return UserOut.model_validate(await service.update(session, principal.user_id, changes))


@router.delete("", status_code=204)
async def erase_me(principal: CurrentUser, session: UserSession, ctx: Context) -> Response:
    """Erase the account and everything it owns, and the pending link codes that name it."""
    await service.forget_link_codes(session, ctx.database, principal.user_id)
    await service.erase(session, principal.user_id, ctx.keyring)
    return Response(status_code=204)
