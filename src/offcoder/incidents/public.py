"""The published sub-processor list (V4): a page under the pages' CSP and the same as JSON,
each with the change log and the grievance officer's contact. Read by the system role (the
application role has no grant on the list); no sign-in needed."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from offcoder.auth.dependencies import Context
from offcoder.incidents import subprocessors
from offcoder.incidents.schemas import (
    GrievanceOfficer,
    SubprocessorChangeOut,
    SubprocessorOut,
    SubprocessorPublication,
)

templates = Jinja2Templates(directory=str(Path(__file__).parents[1] / "console" / "templates"))
router = APIRouter(include_in_schema=False)
PAGE_PATH = "/legal/sub-processors"


async def publication(ctx: Context) -> SubprocessorPublication:
    async with ctx.database.system_session() as session:
        listed = await subprocessors.current_list(session)
        changes = await subprocessors.change_log(session)
    settings = ctx.settings
    return SubprocessorPublication(
        updated_at=changes[0].changed_at if changes else None,
        subprocessors=[SubprocessorOut.model_validate(r) for r in listed],
        changes=[SubprocessorChangeOut.model_validate(r) for r in changes],
        grievance_officer=GrievanceOfficer(
            name=settings.grievance_officer_name, email=settings.grievance_officer_email
        ),
        privacy_contact=settings.privacy_contact,
    )


@router.get(PAGE_PATH, response_class=HTMLResponse)
async def subprocessors_page(request: Request, ctx: Context) -> HTMLResponse:
    """Who processes personal data for us, and whom to write to."""
    published = await publication(ctx)
    return templates.TemplateResponse(
        request, "subprocessors.html", {"signed_in": False, **dict(published)}
    )


@router.get(PAGE_PATH + ".json")
async def subprocessors_json(ctx: Context) -> SubprocessorPublication:
    return await publication(ctx)
