"""Dependency layers (api.md "Dependency layers"; C2, C6). Thin: the logic is in `service`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.dependencies import service
from offcoder.dependencies.schemas import DependencyInstall, DependencyLayers

router = APIRouter(prefix="/v1/projects", tags=["dependencies"])


@router.post(
    "/{project_id}/dependencies",
    status_code=202,
    responses={200: {"model": DependencyLayers, "description": "Every layer is up to date"}},
)
async def install_dependencies(
    project_id: uuid.UUID,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
    response: Response,
    body: DependencyInstall | None = None,
) -> DependencyLayers:
    """Install the project's requirements.txt / package.json into its dependency layers: one
    install job per manifest whose layer is missing or was built from another version of it
    (202; follow each `building_job_id` like any job). 200 when every layer is up to date."""
    items, queued = await service.install(
        session,
        ctx.settings,
        principal.user_id,
        project_id,
        rebuild=body.rebuild if body is not None else False,
    )
    if not queued:
        response.status_code = 200
    return DependencyLayers(items=items)


@router.get("/{project_id}/dependencies")
async def list_dependencies(
    project_id: uuid.UUID, principal: CurrentUser, session: UserSession, ctx: Context
) -> DependencyLayers:
    """The project's dependency layers: what is installed, how big, and from which manifest."""
    items = await service.layers(session, ctx.settings, principal.user_id, project_id)
    return DependencyLayers(items=items)
