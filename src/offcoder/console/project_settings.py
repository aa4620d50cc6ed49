"""A project's settings page (issue 17, item 7): rename, its secrets, and deleting it. Renaming
and deleting a secret are `/v1` calls from the page (assets/src/account); setting a secret and
deleting the project are forms too, so they work before the scripts load."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth.dependencies import Context
from offcoder.console.auth import ConsoleSession, ConsoleUser, FormUser
from offcoder.console.rendering import go, page
from offcoder.console.session import Browser
from offcoder.context import AppContext
from offcoder.projects import service as projects

router = APIRouter(prefix="/console", include_in_schema=False)


async def settings_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    error: str | None = None,
    delete_error: str | None = None,
    status_code: int = 200,
) -> Response:
    user = browser.claims.user_id
    project = await projects.get_project(session, user, project_id)
    secrets_, _ = await projects.list_secrets(session, user, project_id, None, 200)
    return page(
        request,
        ctx,
        "project_settings.html",
        {
            "project": project,
            "secrets": secrets_,
            "error": error,
            "delete_error": delete_error,
        },
        browser,
        status_code=status_code,
    )


@router.get("/projects/{project_id}/settings", response_class=HTMLResponse)
async def settings_view(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
) -> Response:
    """A project's name, secrets and deletion."""
    return await settings_page(request, ctx, browser, session, project_id)


@router.post("/projects/{project_id}/delete")
async def project_delete(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: FormUser,
    session: ConsoleSession,
    confirm: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Delete the project once its name was typed (names may repeat: the one deleted is the
    one of this page, by id), then go back to the list."""
    project = await projects.get_project(session, browser.claims.user_id, project_id)
    if not hmac.compare_digest(confirm.strip().encode(), project.name.encode()):
        return await settings_page(
            request,
            ctx,
            browser,
            session,
            project_id,
            delete_error=f"Type {project.name} exactly to delete the project.",
            status_code=422,
        )
    await projects.delete_project(session, browser.claims.user_id, project_id)
    return go("/console/projects", ctx, browser)
