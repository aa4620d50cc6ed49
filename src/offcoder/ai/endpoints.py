"""AI provider keys (BYOK). Thin: the logic is in `service`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from offcoder.ai import service
from offcoder.ai.schemas import AIKeyIn, AIKeyList, AIKeyOut
from offcoder.auth.dependencies import Context, CurrentUser, UserSession

router = APIRouter(prefix="/v1/ai", tags=["ai"])


@router.get("/keys")
async def list_keys(principal: CurrentUser, session: UserSession) -> AIKeyList:
    """Provider and last four characters of each stored key; never the key (R3)."""
    return AIKeyList(items=await service.list_keys(session, principal.user_id))


@router.put("/keys/{provider}")
async def put_key(
    provider: str, body: AIKeyIn, principal: CurrentUser, session: UserSession, ctx: Context
) -> AIKeyOut:
    """Store or replace the key for a provider of the allow-list (any other: 404)."""
    return await service.put_key(session, ctx.keyring, principal.user_id, provider, body.api_key)


@router.delete("/keys/{provider}", status_code=204)
async def delete_key(provider: str, principal: CurrentUser, session: UserSession) -> Response:
    await service.delete_key(session, principal.user_id, provider)
    return Response(status_code=204)
