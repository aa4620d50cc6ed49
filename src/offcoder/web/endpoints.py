"""Service endpoints: health, readiness, JWKS, security.txt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from offcoder.auth.dependencies import Context
from offcoder.problems import Problem

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: Context) -> dict[str, Any]:
    try:
        async with ctx.database.anonymous_session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Problem(503, "not-ready", "The database is not reachable.") from exc
    return {"status": "ok", "database": "ok"}


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Context) -> JSONResponse:
    return JSONResponse(ctx.signer.jwks(), headers={"cache-control": "public, max-age=300"})


@router.get("/.well-known/security.txt", response_class=PlainTextResponse)
async def security_txt(ctx: Context) -> PlainTextResponse:
    template = resources.files("offcoder.web").joinpath("security.txt").read_text()
    expires = (datetime.now(UTC) + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = template.format(expires=expires, base=ctx.settings.public_url.rstrip("/"))
    return PlainTextResponse(body, media_type="text/plain; charset=utf-8")
