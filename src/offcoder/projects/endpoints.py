"""Projects, files and secrets (api.md; R2, R3, D1). Thin: the logic is in `service`."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.kit.pagination import Limit
from offcoder.projects import rules, service
from offcoder.projects.quota import StorageQuota
from offcoder.projects.schemas import (
    FileList,
    FileMove,
    FileOut,
    MovedFiles,
    ProjectCreate,
    ProjectList,
    ProjectOut,
    ProjectUpdate,
    SecretIn,
    SecretList,
    SecretOut,
)


class FilePathConvertor(Convertor[str]):
    """Like Starlette's `path`, but also across newlines, so a path holding a control
    character reaches the path rules (422) instead of matching no route (404)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("filepath", FilePathConvertor())

router = APIRouter(prefix="/v1/projects", tags=["projects"])

Cursor = Annotated[
    str | None, Query(max_length=2048, description="next_cursor of the previous page")
]

# The file path as the client sent it, still percent-encoded (any root_path before it).
RAW_FILE_PATH = re.compile(rb"^.*?/v1/projects/[^/]+/files/(.*)$", re.DOTALL)

RAW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
RAW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    }
}


def _file_path(request: Request, decoded: str) -> str:
    """The file path, decoded from the raw request target so bad UTF-8 escapes are refused."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        match = RAW_FILE_PATH.match(raw)
        if match is not None:
            return rules.check_file_path(rules.decode_raw_path(match.group(1)))
    return rules.check_file_path(decoded)


# --- projects ---------------------------------------------------------------------------------


@router.post("", status_code=201)
async def create_project(
    body: ProjectCreate, principal: CurrentUser, session: UserSession, ctx: Context
) -> ProjectOut:
    """A new project; 409 `project-quota-exceeded` past the projects one person may have."""
    storage = StorageQuota.of(ctx.settings)
    return ProjectOut.model_validate(
        await service.create_project(session, principal.user_id, body.name, storage=storage)
    )


@router.get("")
async def list_projects(
    principal: CurrentUser,
    session: UserSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ProjectList:
    page, next_cursor = await service.list_projects(session, principal.user_id, cursor, limit)
    return ProjectList(items=[ProjectOut.model_validate(p) for p in page], next_cursor=next_cursor)


@router.get("/{project_id}")
async def get_project(
    project_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> ProjectOut:
    return ProjectOut.model_validate(
        await service.get_project(session, principal.user_id, project_id)
    )


@router.patch("/{project_id}")
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, principal: CurrentUser, session: UserSession
) -> ProjectOut:
    """Rename the project and/or set its run command; fields left out are kept."""
    changes = body.model_dump(include=body.model_fields_set)
    return ProjectOut.model_validate(
        await service.update_project(session, principal.user_id, project_id, changes)
    )


@router.delete("/{project_id}", status_code=204)
async def delete_project(
    project_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> Response:
    await service.delete_project(session, principal.user_id, project_id)
    return Response(status_code=204)


# --- files ------------------------------------------------------------------------------------


@router.get("/{project_id}/files")
async def list_files(
    project_id: uuid.UUID,
    principal: CurrentUser,
    session: UserSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> FileList:
    page, next_cursor = await service.list_files(
        session, principal.user_id, project_id, cursor, limit
    )
    return FileList(
        items=[FileOut.model_validate(f) for f in page],
        next_cursor=next_cursor,
    )


@router.post("/{project_id}/files:move")
async def move_files(
    project_id: uuid.UUID, body: FileMove, principal: CurrentUser, session: UserSession
) -> MovedFiles:
    """Rename a file, or a folder with everything under it, in one transaction (409 when a new
    path is taken; nothing moves then)."""
    return MovedFiles(
        items=await service.move_files(
            session, principal.user_id, project_id, body.source, body.target
        )
    )


@router.put("/{project_id}/files/{path:filepath}", openapi_extra=RAW_BODY)
async def put_file(
    project_id: uuid.UUID,
    path: str,
    request: Request,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
) -> FileOut:
    """Create or replace a file with the raw request body (per-file limit: the body limit;
    413 past the project's or the person's storage)."""
    file_path = _file_path(request, path)
    content = await request.body()
    return await service.put_file(
        session,
        principal.user_id,
        project_id,
        file_path,
        content,
        max_project_bytes=ctx.settings.max_project_bytes,
        storage=StorageQuota.of(ctx.settings),
    )


@router.get("/{project_id}/files/{path:filepath}", response_class=Response, responses=RAW_RESPONSE)
async def get_file(
    project_id: uuid.UUID, path: str, request: Request, principal: CurrentUser, session: UserSession
) -> Response:
    stored = await service.read_file(
        session, principal.user_id, project_id, _file_path(request, path)
    )
    return Response(
        content=stored.content,
        media_type="application/octet-stream",
        headers={"ETag": f'"{stored.sha256}"', "Content-Disposition": "attachment"},
    )


@router.delete("/{project_id}/files/{path:filepath}", status_code=204)
async def delete_file(
    project_id: uuid.UUID, path: str, request: Request, principal: CurrentUser, session: UserSession
) -> Response:
    await service.delete_file(session, principal.user_id, project_id, _file_path(request, path))
    return Response(status_code=204)


# --- secrets ----------------------------------------------------------------------------------


@router.get("/{project_id}/secrets")
async def list_secrets(
    project_id: uuid.UUID,
    principal: CurrentUser,
    session: UserSession,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> SecretList:
    """Names and times only (R3)."""
    page, next_cursor = await service.list_secrets(
        session, principal.user_id, project_id, cursor, limit
    )
    return SecretList(items=page, next_cursor=next_cursor)


@router.put("/{project_id}/secrets/{name}")
async def put_secret(
    project_id: uuid.UUID,
    name: str,
    body: SecretIn,
    principal: CurrentUser,
    session: UserSession,
    ctx: Context,
) -> SecretOut:
    """Create or replace a secret. The answer names it; the value is never returned (R3)."""
    return await service.put_secret(
        session,
        ctx.keyring,
        principal.user_id,
        project_id,
        name,
        body.value,
        max_secrets=ctx.settings.max_secrets_per_project,
        max_total_bytes=ctx.settings.max_project_secret_bytes,
    )


@router.delete("/{project_id}/secrets/{name}", status_code=204)
async def delete_secret(
    project_id: uuid.UUID, name: str, principal: CurrentUser, session: UserSession
) -> Response:
    await service.delete_secret(session, principal.user_id, project_id, name)
    return Response(status_code=204)
