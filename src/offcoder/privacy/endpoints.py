"""`GET /v1/me/export` (V3). Mounted by main.py next to the `/v1/me` router."""

from __future__ import annotations

from fastapi import APIRouter, Response

from offcoder.auth.dependencies import CurrentUser, UserSession
from offcoder.privacy import service
from offcoder.privacy.schemas import DataExport

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("/export")
async def export(principal: CurrentUser, session: UserSession, response: Response) -> DataExport:
    """Everything OffCoder holds about the caller, as JSON; secrets by name only."""
    response.headers["Content-Disposition"] = 'attachment; filename="offcoder-export.json"'
    return await service.export(session, principal.user_id)
