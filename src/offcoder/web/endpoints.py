"""Service endpoints: health, readiness, JWKS, security.txt, the root."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from sqlalchemy import text

from offcoder.auth.dependencies import Context
from offcoder.config import Settings
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
    """Whom to tell about a vulnerability, and under which policy (V1, RFC 9116)."""
    body = security_txt_body(ctx.settings, datetime.now(UTC))
    return PlainTextResponse(body, media_type="text/plain; charset=utf-8")


def security_txt_body(settings: Settings, now: datetime) -> str:
    """The file's fields, from the settings; Expires a fixed number of days after `now`."""
    expires = now + timedelta(days=settings.security_txt_valid_days)
    base = settings.public_url.rstrip("/")
    lines = [f"Contact: {contact}" for contact in settings.security_contacts]
    lines += [
        f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"Policy: {settings.disclosure_policy_url}",
        f"Preferred-Languages: {', '.join(settings.security_languages)}",
        f"Canonical: {base}/.well-known/security.txt",
    ]
    return "\n".join(lines) + "\n"


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """The server's root is the web console."""
    return RedirectResponse("/console", status_code=307)
