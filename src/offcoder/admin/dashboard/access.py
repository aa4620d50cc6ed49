"""Who is at the dashboard, checked again on every request (A5, O4).

A dashboard session is a row of `admin_sessions`; the browser holds only its opaque token, in
an `HttpOnly`, `SameSite=Lax` cookie named `__Host-oc_admin` when the dashboard is served
over HTTPS (`oc_admin` on plain-HTTP loopback, in development and tests). Each request, before
any page: the session must exist, not be ended, have been used within
`admin_session_idle_s` and be younger than `admin_session_absolute_s`; its device session (the
sign-in through the broker) must live and the account must not be suspended; a second factor
must have been proved in it; the admin roles are read again from the database (a revoked role
is refused on the next request) and must admit the route (`matrix.ROUTES`); a route marked
step-up needs a factor proved within `admin_step_up_s`.

CSRF: every POST carries the value of a random per-browser cookie (double submit), compared in
constant time, and a browser-sent Origin must be the dashboard's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Form, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.admin.dashboard.matrix import BY_KEY
from offcoder.admin.dashboard.models import AdminSession
from offcoder.audit.service import ActorKind, record
from offcoder.auth import service as auth_service
from offcoder.auth.models import AdminRole, DeviceSession, Role
from offcoder.config import Settings
from offcoder.context import AppContext, get_context
from offcoder.db.base import utcnow
from offcoder.kit.transactions import system_transaction
from offcoder.users.models import User

SESSION_COOKIE = "oc_admin"
CSRF_COOKIE = "oc_admin_csrf"
SIGNIN_COOKIE = "oc_admin_signin"
CSRF_FIELD = "csrf"

Context = Annotated[AppContext, Depends(get_context)]


class SignInNeeded(Exception):
    """No live dashboard session: answered with the sign-in page."""


class FactorNeeded(Exception):
    """A live session without a (recent enough) second factor: answered with the factor page."""

    def __init__(self, step_up: bool = False) -> None:
        super().__init__()
        self.step_up = step_up


class NotAllowed(Exception):
    """A live, verified session whose roles do not admit the route: a 403 page."""


class CsrfRefused(Exception):
    """A POST without this browser's CSRF token, or from another origin: a 403 page."""


def secure(settings: Settings) -> bool:
    return settings.is_production or settings.admin_base_url.startswith("https://")


def cookie_name(settings: Settings, base: str) -> str:
    """`__Host-` when Secure: no sibling host can set it, and it is bound to path /."""
    return f"__Host-{base}" if secure(settings) else base


def set_cookie(
    response: Response, settings: Settings, base: str, value: str, max_age: int, samesite: str
) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=secure(settings),
        samesite=samesite,  # type: ignore[arg-type]
    )


def delete_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(cookie_name(settings, base), path="/", secure=secure(settings))


def read_cookie(cookies: Mapping[str, str], settings: Settings, base: str) -> str | None:
    return cookies.get(cookie_name(settings, base))


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_token(request: Request, response: Response, settings: Settings) -> str:
    token = read_cookie(request.cookies, settings, CSRF_COOKIE)
    if not token or len(token) != 43:
        token = secrets.token_urlsafe(32)
        set_cookie(response, settings, CSRF_COOKIE, token, 12 * 3600, "strict")
    return token


def csrf_ok(request: Request, settings: Settings, submitted: str | None) -> bool:
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != settings.admin_base_url:
        return False
    expected = read_cookie(request.cookies, settings, CSRF_COOKIE)
    return bool(expected and submitted) and hmac.compare_digest(
        str(expected).encode(), str(submitted).encode()
    )


async def csrf_checked(
    request: Request, ctx: Context, csrf: Annotated[str | None, Form()] = None
) -> None:
    if not csrf_ok(request, ctx.settings, csrf):
        raise CsrfRefused


CsrfChecked = Depends(csrf_checked)

CSRF_HEADER = "x-offcoder-admin-csrf"


async def csrf_header_checked(request: Request, ctx: Context) -> None:
    """The CSRF check of the dashboard's own scripts (WebAuthn), which post JSON."""
    if not csrf_ok(request, ctx.settings, request.headers.get(CSRF_HEADER)):
        raise CsrfRefused


CsrfHeaderChecked = Depends(csrf_header_checked)


@dataclass(frozen=True)
class AdminAtDesk:
    """The admin of this request, as checked now."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    device_session_id: uuid.UUID
    roles: frozenset[Role]
    factor: str | None
    factor_at: datetime | None

    def factor_age_s(self, now: datetime) -> int | None:
        return None if self.factor_at is None else int((now - self.factor_at).total_seconds())


async def open_session(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, device_session_id: uuid.UUID
) -> str:
    """A new dashboard session after a sign-in; its token, for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AdminSession(
            token_hash=digest(token),
            user_id=user_id,
            device_session_id=device_session_id,
            created_at=now,
            last_seen_at=now,
        )
    )
    await record(
        session,
        "admin.dashboard.signed_in",
        actor_id=user_id,
        actor_kind=ActorKind.admin,
        target=f"device_session:{device_session_id}",
    )
    return token


async def end_session(session: AsyncSession, row: AdminSession, reason: str) -> None:
    if row.ended_at is None:
        row.ended_at, row.end_reason = utcnow(), reason


async def current(
    session: AsyncSession, settings: Settings, cookies: Mapping[str, str]
) -> AdminAtDesk:
    """The live dashboard session of this browser and its admin's roles, or SignInNeeded.

    Ends (in `session`, which the caller commits) a session found idle or too old."""
    token = read_cookie(cookies, settings, SESSION_COOKIE)
    if not token:
        raise SignInNeeded
    row = await session.scalar(
        select(AdminSession).where(AdminSession.token_hash == digest(token)).with_for_update()
    )
    if row is None or row.ended_at is not None:
        raise SignInNeeded
    now = utcnow()
    reason = None
    if now - row.last_seen_at > timedelta(seconds=settings.admin_session_idle_s):
        reason = "idle"
    elif now - row.created_at > timedelta(seconds=settings.admin_session_absolute_s):
        reason = "expired"
    else:
        device = await auth_service.live_session(session, row.device_session_id)
        suspended = await session.scalar(select(User.suspended_at).where(User.id == row.user_id))
        if device is None:
            reason = "device_session_ended"
        elif suspended is not None:
            reason = "suspended"
    if reason is not None:
        await end_session(session, row, reason)
        raise SignInNeeded
    row.last_seen_at = now
    held = frozenset(
        Role(r)
        for r in await session.scalars(
            select(AdminRole.role).where(AdminRole.user_id == row.user_id)
        )
        if r in Role.__members__
    )
    return AdminAtDesk(row.user_id, row.id, row.device_session_id, held, row.factor, row.factor_at)


def gate(key: str) -> Any:
    """The dependency for the route `key` of the role matrix ("GET /users", ...)."""
    route = BY_KEY[key]

    async def check(request: Request, ctx: Context) -> AdminAtDesk:
        # Its own short transaction, committed before any refusal: the idle clock restarts
        # (or the session's end is recorded) whatever the answer.
        refusal: Exception | None = None
        async with system_transaction(ctx) as session:
            try:
                admin = await current(session, ctx.settings, request.cookies)
            except SignInNeeded as needed:
                refusal = needed
        if refusal is not None:
            raise refusal
        if admin.factor_at is None:
            raise FactorNeeded
        if not route.admits(admin.roles):
            raise NotAllowed
        if route.step_up and utcnow() - admin.factor_at > timedelta(
            seconds=ctx.settings.admin_step_up_s
        ):
            raise FactorNeeded(step_up=True)
        request.state.admin = admin
        return admin

    return Depends(check)


SECRET_WORDS = ("secret", "token", "password", "key", "code")


def redacted(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with anything named like a secret replaced (audit details keep no secrets)."""
    return {
        name: "[redacted]" if any(word in name.lower() for word in SECRET_WORDS) else value
        for name, value in values.items()
    }


async def audited(
    session: AsyncSession,
    admin: AdminAtDesk,
    action: str,
    target: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """One dashboard action in the audit log, in the action's own transaction: who (actor and
    roles), with which factor and how long ago it was proved, and what changed (the request id
    is added by `record`)."""
    now = utcnow()
    await record(
        session,
        action,
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target=target,
        details={
            "roles": sorted(r.value for r in admin.roles),
            "factor": admin.factor,
            "factor_age_s": admin.factor_age_s(now),
            "admin_session": str(admin.session_id),
            "before": redacted(before or {}),
            "after": redacted(after or {}),
        }
        | redacted(extra or {}),
    )


async def device_of(session: AsyncSession, device_session_id: uuid.UUID) -> DeviceSession | None:
    return await session.get(DeviceSession, device_session_id)
