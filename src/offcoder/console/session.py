"""The web console's browser session: tokens in cookies, CSRF on every form.

The console is one more client of the identity core: it signs in through the same broker
(`/v1/auth/{provider}/authorize`, PKCE, a one-time code) and holds the access and refresh tokens of
its own device session in `HttpOnly`, `SameSite=Lax` cookies (`Secure` unless the server is plain
HTTP outside production). An expired access token is rotated with the refresh token on the next
page, with the same reuse detection as any client (A4).

CSRF: every state-changing form carries the value of a random per-browser cookie (double submit),
compared in constant time; with `SameSite=Lax` session cookies a cross-site POST carries neither.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from offcoder.auth import service as auth_service
from offcoder.auth.cookies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    browser_cookie_name,
    csrf_token_ok,
    page_request_ok,
)
from offcoder.auth.cookies import secure_cookies as settings_secure_cookies
from offcoder.auth.tokens import AccessClaims, InvalidAccessToken
from offcoder.context import AppContext
from offcoder.kit.transactions import system_transaction
from offcoder.problems import CommitThenRefuse

SIGNIN_COOKIE = "oc_signin"
# A link in flight: provider, state, PKCE verifier and the browser binding (A2). `__Host-` when
# Secure, like every console cookie, so no sibling subdomain can plant one.
LINK_COOKIE = "oc_link"
CSRF_FIELD = "csrf"
# A page to come back to after signing in (the device sign-in page and its code), followed once.
NEXT_COOKIE = "oc_next"


def secure_cookies(ctx: AppContext) -> bool:
    return settings_secure_cookies(ctx.settings)


def cookie_name(ctx: AppContext, base: str) -> str:
    """`__Host-` when Secure (auth/cookies.browser_cookie_name)."""
    return browser_cookie_name(ctx.settings, base)


def read_cookie(request: Request, ctx: AppContext, base: str) -> str | None:
    return request.cookies.get(cookie_name(ctx, base))


def delete_cookie(response: Response, ctx: AppContext, base: str) -> None:
    response.delete_cookie(cookie_name(ctx, base), path="/", secure=secure_cookies(ctx))


def set_cookie(response: Response, ctx: AppContext, base: str, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(ctx, base),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=secure_cookies(ctx),
        samesite="lax",
    )


def clear_session(response: Response, ctx: AppContext) -> None:
    for base in (ACCESS_COOKIE, REFRESH_COOKIE):
        delete_cookie(response, ctx, base)


def store_tokens(response: Response, ctx: AppContext, issued: dict[str, object]) -> None:
    settings = ctx.settings
    set_cookie(
        response, ctx, ACCESS_COOKIE, str(issued["access_token"]), settings.access_token_ttl_s
    )
    set_cookie(
        response, ctx, REFRESH_COOKIE, str(issued["refresh_token"]), settings.refresh_token_ttl_s
    )


def csrf_token(request: Request, response: Response, ctx: AppContext) -> str:
    """This browser's CSRF token (made, and set as a cookie, on first use)."""
    token = read_cookie(request, ctx, CSRF_COOKIE)
    if not token or len(token) != 43:
        token = secrets.token_urlsafe(32)
        set_cookie(response, ctx, CSRF_COOKIE, token, 30 * 24 * 3600)
    return token


def csrf_ok(request: Request, ctx: AppContext, submitted: str | None) -> bool:
    """The form's token matches this browser's cookie, and a browser-sent Origin is ours."""
    return csrf_token_ok(request.cookies, request.headers, ctx.settings, submitted)


@dataclass
class Browser:
    """Who is signed in in this browser, and cookies to set on the answer (after a rotation)."""

    claims: AccessClaims
    access_token: str
    renewed: dict[str, object] | None = None


async def signed_in(request: Request, ctx: AppContext) -> Browser | None:
    """The console user, rotating an expired access token with the refresh token once.

    Remembered for the request: presenting the same refresh token twice (a page that fails
    after rotating, rendered again as an error page) would look like token theft and end the
    session (A4).
    """
    if hasattr(request.state, "console_browser"):
        known: Browser | None = request.state.console_browser
        return known
    browser = await _signed_in(request, ctx)
    request.state.console_browser = browser
    return browser


async def _signed_in(request: Request, ctx: AppContext) -> Browser | None:
    access = read_cookie(request, ctx, ACCESS_COOKIE)
    if access:
        try:
            return Browser(ctx.signer.verify(access), access)
        except InvalidAccessToken:
            pass
    refresh = read_cookie(request, ctx, REFRESH_COOKIE)
    if not refresh:
        return None
    try:
        # Its own transaction: this runs inside other dependencies, before any request
        # transaction, and a refused rotation must still commit (reuse ends the session).
        async with system_transaction(ctx) as session:
            rotated = await auth_service.refresh(session, ctx, refresh)
    except CommitThenRefuse:
        return None
    issued = rotated.as_response()
    token = str(issued["access_token"])
    return Browser(ctx.signer.verify(token), token, renewed=issued)


async def renewed_tokens(request: Request, ctx: AppContext) -> dict[str, object] | None:
    """A rotation of this browser's refresh token, asked for by one of our pages' scripts
    (their access token expired under a long-open editor). None when signed out or refused."""
    refresh = read_cookie(request, ctx, REFRESH_COOKIE)
    if not refresh:
        return None
    try:
        async with system_transaction(ctx) as session:
            rotated = await auth_service.refresh(session, ctx, refresh)
    except CommitThenRefuse:
        return None
    return rotated.as_response()


def from_our_page(request: Request, ctx: AppContext) -> bool:
    return page_request_ok(request.cookies, request.headers, ctx.settings)
