"""Helpers for the projects, AI-key and export tests: test data through the API, raw requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import FastAPI

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context, create_app
from tests.support.signin import SignedIn

TEST_SERVER = "http://testserver"


async def new_project(api: httpx.AsyncClient, user: SignedIn, name: str = "Demo") -> dict[str, Any]:
    response = await api.post("/v1/projects", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def file_paths(api: httpx.AsyncClient, user: SignedIn, project_id: str) -> list[str]:
    response = await api.get(f"/v1/projects/{project_id}/files", headers=user.headers)
    assert response.status_code == 200, response.text
    return [item["path"] for item in response.json()["items"]]


async def raw_request(
    app: FastAPI,
    method: str,
    raw_path: bytes,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """Send exactly `raw_path` as the request target, as an ASGI server would pass it on.

    httpx (like browsers) removes `.` and `..` segments before sending; a hostile client
    does not, so literal dot segments are tested at the ASGI boundary, decoded the way uvicorn
    decodes them (`unquote` for `path`, the bytes as sent for `raw_path`).
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


@asynccontextmanager
async def app_with(
    settings: Settings, prepared: PreparedDatabase, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database with some settings changed (e.g. small limits)."""
    ctx = build_context(settings.model_copy(update=overrides), prepared)
    transport = httpx.ASGITransport(app=create_app(ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=TEST_SERVER) as client:
            yield client
    finally:
        await ctx.close()
