"""Typed dependencies: who is calling, and their row-level-secured transaction.

`UserSession` is the one database handle request code gets: a transaction as the application
role with `app.user_id` set to the caller. It also proves the caller's device session is still
live, so an access token dies with its session (logout, revocation, reuse detection).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth import service
from offcoder.auth.cookies import ACCESS_COOKIE, cookie_value, page_request_ok
from offcoder.auth.tokens import AccessClaims, InvalidAccessToken
from offcoder.config import Settings
from offcoder.context import AppContext, get_context
from offcoder.db.base import utcnow
from offcoder.kit.transactions import committing_refusals
from offcoder.problems import Problem, Unauthorized
from offcoder.ratelimits.service import LimitKind

log = structlog.get_logger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def caller_token(request: Request, settings: Settings) -> str:
    """The bearer token, or else the console's access cookie from one of our own pages.

    The cookie alone is refused (403): a foreign site can make the browser send it (a link, a
    form, an image), never the CSRF header beside it (auth/cookies.page_request_ok).
    """
    if "authorization" in request.headers:
        return bearer_token(request)
    cookie = cookie_value(request.cookies, settings, ACCESS_COOKIE)
    if not cookie:
        raise Unauthorized()
    if not page_request_ok(request.cookies, request.headers, settings):
        raise Problem(
            403,
            "csrf",
            "This request carries the console's session cookie without the page's CSRF token; "
            "reload the page, or send an access token in the Authorization header.",
        )
    return cookie


async def access_claims(
    request: Request, ctx: Annotated[AppContext, Depends(get_context)]
) -> AccessClaims:
    """The caller's verified claims; each request with them counts against the user's API
    limit (counted only once the token is verified, so nobody spends another's budget)."""
    try:
        claims = ctx.signer.verify(caller_token(request, ctx.settings))
    except InvalidAccessToken as exc:
        log.info("access token refused", reason=str(exc))
        raise Unauthorized("The access token is invalid or expired.") from exc
    await ctx.rate_limits.hit(LimitKind.api, str(claims.user_id))
    return claims


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    mfa: bool


@asynccontextmanager
async def live_user_session(ctx: AppContext, claims: AccessClaims) -> AsyncIterator[AsyncSession]:
    """The caller's RLS transaction, opened only while their device session is live.

    Like every request transaction it commits a `CommitThenRefuse` before letting it go on.
    """
    async with committing_refusals(ctx.database.user_session(claims.user_id)) as session:
        device = await service.live_session(session, claims.session_id)
        if device is None:
            raise Unauthorized("The session of this access token has ended.")
        now = utcnow()
        if now - device.last_used_at > LAST_USED_RESOLUTION:
            device.last_used_at = now
        yield session


async def user_transaction(
    claims: Annotated[AccessClaims, Depends(access_claims)],
    ctx: Annotated[AppContext, Depends(get_context)],
) -> AsyncIterator[AsyncSession]:
    async with live_user_session(ctx, claims) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a client never
# sees success for a change that did not commit.
UserSession = Annotated[AsyncSession, Depends(user_transaction, scope="function")]


async def current_principal(
    claims: Annotated[AccessClaims, Depends(access_claims)],
    _: UserSession,
) -> Principal:
    return Principal(user_id=claims.user_id, session_id=claims.session_id, mfa=claims.mfa)


CurrentUser = Annotated[Principal, Depends(current_principal)]
Context = Annotated[AppContext, Depends(get_context)]


# For requests that wait (long-polls): the token is checked here, and the endpoint opens its own
# short transactions with `live_user_session`, so no pooled connection is held while it waits.
Claims = Annotated[AccessClaims, Depends(access_claims)]
