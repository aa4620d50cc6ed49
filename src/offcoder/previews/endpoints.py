"""The console's half of the preview ticket exchange (C7): on the API's origin, where the
browser's console sign-in says who it is, a ticket for the owner's own project only."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from offcoder.auth.dependencies import Context
from offcoder.console.auth import ConsoleSession, ConsoleUser
from offcoder.previews.edge import ENTER_PATH
from offcoder.previews.labels import label_of_host
from offcoder.previews.passes import mint_ticket
from offcoder.problems import InvalidInput, Problem
from offcoder.projects.models import Project

router = APIRouter(prefix="/console/previews", tags=["console"], include_in_schema=False)


@router.get("/enter")
async def enter(
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
    host: str,
    next: str = "/",
) -> RedirectResponse:
    """Send the signed-in owner back to their preview with a one-minute ticket; anyone else
    gets the console's page saying the preview is not theirs."""
    label = label_of_host(ctx.settings, host)
    if label is None:
        raise InvalidInput("That is not a preview address of this server.")
    # Under the visitor's RLS: another person's project is simply not found.
    project_id = await session.scalar(select(Project.id).where(Project.preview_label == label))
    if project_id is None:
        raise Problem(
            403,
            "forbidden",
            "This preview belongs to a project of another account. Sign in with the account "
            "that owns it to open it.",
        )
    ticket = await mint_ticket(ctx.database, browser.claims.user_id, project_id)
    scheme = urlsplit(ctx.settings.public_url).scheme
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    query = urlencode({"ticket": ticket, "next": target})
    return RedirectResponse(f"{scheme}://{host}{ENTER_PATH}?{query}", status_code=303)
