"""`GET /v1/me/identities` and `DELETE /v1/me/identities/{id}` (A2). Thin: the logic is in
`auth/identities`. Included in `auth/endpoints.link_router`, beside the link routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from offcoder.auth import identities
from offcoder.auth.dependencies import CurrentUser, UserSession
from offcoder.auth.schemas import IdentityList, IdentityOut

router = APIRouter(prefix="/identities")


@router.get("")
async def my_identities(principal: CurrentUser, session: UserSession) -> IdentityList:
    """The provider accounts you sign in with."""
    rows = await identities.list_identities(session, principal.user_id)
    return IdentityList(items=[IdentityOut.model_validate(r) for r in rows])


@router.delete("/{identity_id}", status_code=204)
async def unlink_identity(
    identity_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> Response:
    """Stop signing in with one provider account; never the last one (409)."""
    await identities.unlink(session, principal.user_id, identity_id)
    return Response(status_code=204)
