"""`GET /v1/me/export` (V3). Mounted by main.py next to the `/v1/me` router."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.privacy import exports, service
from offcoder.privacy.models import DataExportArchive
from offcoder.privacy.schemas import DataExport, ExportOut

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("/export")
async def export(principal: CurrentUser, session: UserSession, response: Response) -> DataExport:
    """Everything OffCoder holds about the caller, as JSON; secrets by name only."""
    response.headers["Content-Disposition"] = 'attachment; filename="offcoder-export.json"'
    return await service.export(session, principal.user_id)


def export_out(export: DataExportArchive) -> ExportOut:
    ready = export.status == "ready"
    return ExportOut(
        id=export.id,
        status=export.status,
        percent=export.percent,
        requested_at=export.requested_at,
        finished_at=export.finished_at,
        expires_at=export.expires_at,
        size=export.size,
        error=export.error,
        download=f"/v1/me/exports/{export.id}/archive" if ready else None,
    )


@router.post("/exports", status_code=202)
async def request_archive(principal: CurrentUser, session: UserSession, ctx: Context) -> ExportOut:
    """Ask for an archive of everything you own (zip: JSON and your files), made in the
    background; poll `GET /v1/me/exports/{id}` for its progress. One at a time: asking while
    one is queued or running returns that one. Audited."""
    export = await exports.request_export(session, principal.user_id, ctx.settings.export_ttl_s)
    return export_out(export)


@router.get("/exports/{export_id}")
async def archive_status(
    export_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> ExportOut:
    """Status (queued, running, ready, failed) and percent; `download` once ready. 404 after
    it expired (a day after it was made)."""
    return export_out(await exports.find(session, principal.user_id, export_id))


@router.get(
    "/exports/{export_id}/archive",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def archive_download(
    export_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> Response:
    """The zip (409 until ready, 404 once expired). Each download is audited."""
    _, data = await exports.download(session, principal.user_id, export_id)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="offcoder-export.zip"'},
    )
