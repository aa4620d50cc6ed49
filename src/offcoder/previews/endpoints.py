"""Previews on the API's origin (C7): the console's half of the ticket exchange, and the
owner's sharing of a preview (its level, and share links they can revoke)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.console.auth import ConsoleSession, ConsoleUser
from offcoder.jobs.schemas import PREVIEW_PORTS
from offcoder.previews import passes
from offcoder.previews.edge import ENTER_PATH, LINK_PATH, preview_job
from offcoder.previews.labels import label_of_host, preview_url, project_of_label
from offcoder.previews.models import PreviewShare
from offcoder.previews.passes import LINK_MAX_TTL, ShareLevel
from offcoder.problems import Conflict, InvalidInput, NotFound, Problem
from offcoder.projects import service as projects
from offcoder.projects.models import Project

console_router = APIRouter(prefix="/console/previews", tags=["console"], include_in_schema=False)
router = APIRouter(tags=["previews"])


# ---------------------------------------------------------------------- the ticket exchange
@console_router.get("/enter")
async def enter(
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
    host: str,
    next: str = "/",
) -> RedirectResponse:
    """Send the signed-in visitor back to the preview with a one-minute ticket: its owner, or
    anyone signed in when the preview is shared beyond its owner; anyone else gets a page
    saying the preview is not theirs."""
    label = label_of_host(ctx.settings, host)
    if label is None:
        raise InvalidInput("That is not a preview address of this server.")
    # Under the visitor's RLS: another person's project is not found this way.
    project_id = await session.scalar(select(Project.id).where(Project.preview_label == label))
    if project_id is None:
        project_id = await _shared_project(ctx, label)
    if project_id is None:
        raise Problem(
            403,
            "forbidden",
            "This preview belongs to a project of another account. Sign in with the account "
            "that owns it to open it.",
        )
    ticket = await passes.mint_ticket(ctx.database, browser.claims.user_id, project_id)
    scheme = urlsplit(ctx.settings.public_url).scheme
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    query = urlencode({"ticket": ticket, "next": target})
    return RedirectResponse(f"{scheme}://{host}{ENTER_PATH}?{query}", status_code=303)


async def _shared_project(ctx: Context, label: str) -> uuid.UUID | None:
    """Another person's project whose served preview is shared with everyone signed in."""
    async with ctx.database.system_session() as system:
        project = await project_of_label(system, label)
    if project is None:
        return None
    job = await preview_job(ctx.database, project.id)
    if job is None:
        return None
    level = await passes.share_level(ctx.database, project.id, min(job.ports))
    return project.id if level is not ShareLevel.owner else None


# ---------------------------------------------------------------------- sharing
class ShareSet(BaseModel):
    share: ShareLevel = Field(
        description="owner: its owner alone (the default); authenticated: anyone signed in to "
        "OffCoder; public: anyone, after a page saying the content is the program's"
    )


class ShareOut(BaseModel):
    port: int
    share: ShareLevel


class ShareList(BaseModel):
    items: list[ShareOut]


class LinkCreate(BaseModel):
    expires_in_s: int = Field(
        default=86_400, ge=60, le=int(LINK_MAX_TTL.total_seconds()), description="1 min to 30 days"
    )


class LinkOut(BaseModel):
    id: uuid.UUID
    port: int
    expires_at: datetime
    created_at: datetime
    url: str | None = Field(default=None, description="Only in the answer that creates it")


class LinkList(BaseModel):
    items: list[LinkOut]


def _check_port(port: int) -> None:
    if port not in PREVIEW_PORTS:
        raise InvalidInput(f"port {port} is not one of {sorted(PREVIEW_PORTS)}.")


@router.get("/v1/projects/{project_id}/previews")
async def list_shares(
    project_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> ShareList:
    """The ports of the project whose preview is shared beyond its owner."""
    await projects.get_project(session, principal.user_id, project_id)
    rows = await session.scalars(
        select(PreviewShare)
        .where(PreviewShare.project_id == project_id)
        .order_by(PreviewShare.port)
    )
    return ShareList(items=[ShareOut(port=r.port, share=ShareLevel(r.level)) for r in rows])


@router.put("/v1/projects/{project_id}/previews/{port}")
async def set_share(
    project_id: uuid.UUID, port: int, body: ShareSet, principal: CurrentUser, session: UserSession
) -> ShareOut:
    """Who may open the project's preview of `port`, from now on (checked on every request)."""
    _check_port(port)
    await projects.get_project(session, principal.user_id, project_id)
    await session.execute(
        insert(PreviewShare)
        .values(project_id=project_id, port=port, user_id=principal.user_id, level=body.share)
        .on_conflict_do_update(
            index_elements=[PreviewShare.project_id, PreviewShare.port],
            set_={"level": body.share.value},
        )
    )
    return ShareOut(port=port, share=body.share)


@router.post("/v1/projects/{project_id}/previews/{port}/links", status_code=201)
async def create_link(
    project_id: uuid.UUID,
    port: int,
    body: LinkCreate,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
) -> LinkOut:
    """A link that opens the preview for whoever holds it, until it expires or is revoked."""
    _check_port(port)
    project = await projects.get_project(session, principal.user_id, project_id)
    if project.preview_label is None:
        raise Conflict(
            "This project has not served a preview yet: run a preview job first, then share it."
        )
    row, token = await passes.create_link(
        ctx.database, principal.user_id, project_id, port, timedelta(seconds=body.expires_in_s)
    )
    url = f"{preview_url(ctx.settings, project.preview_label)}{LINK_PATH}?token={token}"
    return LinkOut(
        id=row.id, port=port, expires_at=row.expires_at, created_at=row.created_at, url=url
    )


@router.get("/v1/projects/{project_id}/previews/{port}/links")
async def list_links(
    project_id: uuid.UUID, port: int, principal: CurrentUser, session: UserSession, ctx: Context
) -> LinkList:
    _check_port(port)
    await projects.get_project(session, principal.user_id, project_id)
    rows = await passes.links(ctx.database, project_id, port)
    return LinkList(
        items=[
            LinkOut(id=r.id, port=port, expires_at=r.expires_at, created_at=r.created_at)
            for r in rows
        ]
    )


@router.delete("/v1/projects/{project_id}/previews/{port}/links/{link_id}", status_code=204)
async def revoke_link(
    project_id: uuid.UUID,
    port: int,
    link_id: uuid.UUID,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
) -> Response:
    """Revoke a share link: it and every browser session it opened stop working at once."""
    _check_port(port)
    await projects.get_project(session, principal.user_id, project_id)
    if not await passes.revoke_link(ctx.database, project_id, link_id):
        raise NotFound("No such link.")
    return Response(status_code=204)
