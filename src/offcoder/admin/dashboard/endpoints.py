"""The dashboard's pages: sign-in through the broker, the second factor, then the pages of the
role matrix (matrix.ROUTES), each behind `access.gate` of its own row."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete, func, or_, select

from offcoder.admin.dashboard import access, webauthn_factor
from offcoder.admin.dashboard.access import (
    AdminAtDesk,
    Context,
    CsrfChecked,
    CsrfHeaderChecked,
    gate,
)
from offcoder.admin.dashboard.matrix import ROUTES
from offcoder.admin.dashboard.models import AdminSession, WebAuthnCredential
from offcoder.audit.models import AuditEvent
from offcoder.audit.service import ActorKind, record
from offcoder.audit.verify import verify_chain
from offcoder.auth import mfa
from offcoder.auth import service as auth_service
from offcoder.auth.models import AdminRole, DeviceSession, OAuthIdentity, Role
from offcoder.auth.pkce import pkce_challenge
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.kit.transactions import system_transaction
from offcoder.problems import CommitThenRefuse, Problem
from offcoder.users.models import User

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100


def page(
    request: Request,
    ctx: AppContext,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    carrier = Response()
    token = access.csrf_token(request, carrier, ctx.settings)
    admin: AdminAtDesk | None = getattr(request.state, "admin", None)
    rendered = templates.TemplateResponse(
        request,
        name,
        {"csrf": token, "csrf_field": access.CSRF_FIELD, "admin": admin} | context,
        status_code=status_code,
    )
    for key, value in carrier.headers.items():
        if key.lower() == "set-cookie":
            rendered.headers.append("set-cookie", value)
    return rendered


def go(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only a path of this dashboard (never `//host` nor a scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# ------------------------------------------------------------------ sign-in


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, ctx: Context, error: str | None = None) -> Response:
    providers = [{"name": p.name, "display_name": p.display_name} for p in ctx.providers.values()]
    return page(request, ctx, "signin.html", {"providers": providers, "error": error})


@router.get("/signin/{provider}")
async def signin(provider: str, ctx: Context) -> Response:
    """Start signing in through the broker of the public app, with PKCE between this browser
    and the dashboard; the broker comes back to /callback here."""
    if provider not in ctx.providers:
        return go("/signin")
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "redirect_uri": ctx.settings.admin_callback_url,
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            "device_name": "Admin dashboard",
        }
    )
    base = ctx.settings.public_url.rstrip("/")
    response = go(f"{base}/v1/auth/{quote(provider)}/authorize?{query}")
    # Lax, not Strict: the provider's redirect back here is a cross-site navigation.
    access.set_cookie(
        response, ctx.settings, access.SIGNIN_COOKIE, f"{state}.{verifier}", 600, "lax"
    )
    return response


@router.get("/callback")
async def callback(
    request: Request, ctx: Context, state: str = "", code: str | None = None
) -> Response:
    started, _, verifier = (
        access.read_cookie(request.cookies, ctx.settings, access.SIGNIN_COOKIE) or ""
    ).partition(".")
    if not code or not started or not verifier or not secrets.compare_digest(started, state):
        return go("/signin?error=" + quote("This sign-in did not start here; start again."))
    ip = request.client.host if request.client else None
    refused: str | None = None
    async with system_transaction(ctx) as session:
        try:
            issued = await auth_service.exchange_code(session, ctx, code, verifier, ip)
        except CommitThenRefuse as refusal:
            # Kept in this transaction (the spent code commits); told in a sentence.
            refused = refusal.detail
        else:
            user_id = ctx.signer.verify(issued.access_token).user_id
            token = await access.open_session(session, ctx.settings, user_id, issued.session_id)
    if refused is not None:
        return go("/signin?error=" + quote(refused))
    response = go("/factor")
    access.set_cookie(
        response,
        ctx.settings,
        access.SESSION_COOKIE,
        token,
        ctx.settings.admin_session_absolute_s,
        # Lax: this answer ends a redirect chain that began at the provider (another site),
        # and a Strict cookie set in it would not come back on the next page. Cross-site
        # POSTs still carry neither it nor the CSRF token.
        "lax",
    )
    access.delete_cookie(response, ctx.settings, access.SIGNIN_COOKIE)
    return response


@router.get("/factor", response_class=HTMLResponse)
async def factor_page(
    request: Request, ctx: Context, next: str | None = None, step_up: bool = False
) -> Response:
    has_keys = False
    async with system_transaction(ctx) as session:
        try:
            admin = await access.current(session, ctx.settings, request.cookies)
        except access.SignInNeeded:
            signed_in = False
        else:
            signed_in = True
            has_keys = await webauthn_factor.has_credentials(session, admin.user_id)
    if not signed_in:
        return go("/signin")
    return page(
        request,
        ctx,
        "factor.html",
        {"next": safe_next(next), "step_up": step_up, "error": None, "has_keys": has_keys},
    )


@router.post("/factor", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def factor_verify(
    request: Request,
    ctx: Context,
    code: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=300)] = "/",
) -> Response:
    """A TOTP code (or a recovery code) proved for this session, now."""
    error: str | None = None
    async with system_transaction(ctx) as session:
        try:
            admin = await access.current(session, ctx.settings, request.cookies)
        except access.SignInNeeded:
            return go("/signin")
        cleaned = code.strip().replace(" ", "")
        try:
            await mfa.verify(
                session,
                ctx,
                admin.user_id,
                admin.device_session_id,
                code=cleaned if cleaned.isdigit() else None,
                recovery_code=None if cleaned.isdigit() else cleaned,
            )
        except Problem as problem:
            error = _sentence(problem)
        else:
            row = await session.get(AdminSession, admin.session_id)
            assert row is not None
            row.factor, row.factor_at = "totp" if cleaned.isdigit() else "recovery", utcnow()
    if error is not None:
        return page(
            request,
            ctx,
            "factor.html",
            {"next": safe_next(next), "step_up": False, "error": error, "has_keys": False},
            status_code=400,
        )
    return go(safe_next(next))


def _sentence(problem: Problem) -> str:
    detail = problem.detail
    if detail.startswith("No second factor"):
        return (
            "Your account has no second factor yet: set one up on the console's account page, "
            "then come back."
        )
    return detail


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refused(sentence: str, status_code: int = 400) -> Response:
    return JSONResponse({"error": sentence}, status_code=status_code)


@router.post("/factor/webauthn/options", dependencies=[CsrfHeaderChecked])
async def factor_webauthn_options(request: Request, ctx: Context) -> Response:
    """A WebAuthn challenge for this session's admin's registered keys."""
    async with system_transaction(ctx) as session:
        try:
            admin = await access.current(session, ctx.settings, request.cookies)
        except access.SignInNeeded:
            return _refused("Sign in again.", 401)
        row = await session.get(AdminSession, admin.session_id)
        assert row is not None
        try:
            options = await webauthn_factor.authentication_options(session, ctx.settings, row)
        except webauthn_factor.WebAuthnRefused as refusal:
            return _refused(str(refusal))
    return JSONResponse(options)


@router.post("/factor/webauthn", dependencies=[CsrfHeaderChecked])
async def factor_webauthn(request: Request, ctx: Context) -> Response:
    """The browser's signed answer: the second factor proved for this session, now."""
    body = await _json_body(request)
    credential = body.get("credential")
    refused: str | None = None
    async with system_transaction(ctx) as session:
        try:
            admin = await access.current(session, ctx.settings, request.cookies)
        except access.SignInNeeded:
            return _refused("Sign in again.", 401)
        row = await session.get(AdminSession, admin.session_id)
        assert row is not None
        try:
            if not isinstance(credential, dict):
                raise webauthn_factor.WebAuthnRefused("The key's answer is missing.")
            used = await webauthn_factor.authenticate(session, ctx.settings, row, credential)
        except webauthn_factor.WebAuthnRefused as refusal:
            refused = str(refusal)
            await record(
                session,
                "admin.factor.webauthn_failed",
                actor_id=admin.user_id,
                actor_kind=ActorKind.admin,
                target=f"admin_session:{admin.session_id}",
            )
        else:
            row.factor, row.factor_at = "webauthn", utcnow()
            await record(
                session,
                "admin.factor.verified",
                actor_id=admin.user_id,
                actor_kind=ActorKind.admin,
                target=f"admin_session:{admin.session_id}",
                details={"method": "webauthn", "credential": str(used.id)},
            )
    if refused is not None:
        return _refused(refused)
    return JSONResponse({"next": safe_next(str(body.get("next") or "/"))})


@router.post("/signout", dependencies=[CsrfChecked])
async def signout(request: Request, ctx: Context) -> Response:
    """End this dashboard session and the device session behind it."""
    token = access.read_cookie(request.cookies, ctx.settings, access.SESSION_COOKIE)
    if token:
        async with system_transaction(ctx) as session:
            row = await session.scalar(
                select(AdminSession).where(AdminSession.token_hash == access.digest(token))
            )
            if row is not None:
                await access.end_session(session, row, "logout")
                device = await auth_service.live_session(session, row.device_session_id)
                if device is not None:
                    await auth_service.end_device_session(
                        session,
                        device,
                        auth_service.EndReason.logout,
                        actor_kind=ActorKind.admin,
                        actor_id=row.user_id,
                    )
    response = go("/signin")
    access.delete_cookie(response, ctx.settings, access.SESSION_COOKIE)
    return response


# ------------------------------------------------------------------ pages


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, ctx: Context, admin: Annotated[AdminAtDesk, gate("GET /")]
) -> Response:
    """What this admin may do here, from the role matrix."""
    mine = [r for r in ROUTES if r.method == "GET" and r.path != "/" and "{" not in r.path]
    actions = [r for r in ROUTES if r.admits(admin.roles) and r.path != "/"]
    return page(
        request,
        ctx,
        "home.html",
        {
            "pages": [r for r in mine if r.admits(admin.roles)],
            "actions": actions,
            "roles": sorted(r.value for r in admin.roles),
        },
    )


@router.get("/users", response_class=HTMLResponse)
async def users(
    request: Request,
    ctx: Context,
    admin: Annotated[AdminAtDesk, gate("GET /users")],
    q: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    """Find users by id, e-mail or handle (exact, case-insensitive for the latter two)."""
    found: list[User] = []
    wanted = q.strip()
    if wanted:
        async with system_transaction(ctx) as session:
            query = select(User).order_by(User.created_at.desc()).limit(PAGE_SIZE)
            try:
                query = query.where(User.id == uuid.UUID(wanted))
            except ValueError:
                lowered = wanted.lower().lstrip("@")
                query = query.where(
                    or_(func.lower(User.email) == lowered, func.lower(User.handle) == lowered)
                )
            found = list(await session.scalars(query))
            await access.audited(
                session, admin, "admin.users.search", "users", extra={"found": len(found)}
            )
    return page(request, ctx, "users.html", {"q": wanted, "users": found})


async def _user_view(ctx: AppContext, user_id: uuid.UUID) -> dict[str, Any] | None:
    async with system_transaction(ctx) as session:
        user = await session.get(User, user_id)
        if user is None:
            return None
        now = utcnow()
        live = await session.scalar(
            select(func.count())
            .select_from(DeviceSession)
            .where(
                DeviceSession.user_id == user_id,
                DeviceSession.ended_at.is_(None),
                DeviceSession.expires_at > now,
            )
        )
        providers = list(
            await session.scalars(
                select(OAuthIdentity.provider).where(OAuthIdentity.user_id == user_id)
            )
        )
        roles = sorted(
            await session.scalars(select(AdminRole.role).where(AdminRole.user_id == user_id))
        )
    return {"user": user, "live_sessions": live or 0, "providers": providers, "roles": roles}


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_page(
    request: Request,
    ctx: Context,
    user_id: uuid.UUID,
    admin: Annotated[AdminAtDesk, gate("GET /users/{user_id}")],
    notice: str | None = None,
) -> Response:
    view = await _user_view(ctx, user_id)
    if view is None:
        return page(request, ctx, "missing.html", {"what": "user"}, status_code=404)
    return page(
        request,
        ctx,
        "user.html",
        view
        | {
            "notice": notice,
            "all_roles": [r.value for r in Role],
            "may_grant": Role.superadmin in admin.roles,
            "may_suspend": Role.support in admin.roles or Role.superadmin in admin.roles,
            "is_self": user_id == admin.user_id,
        },
    )


async def _suspend(ctx: AppContext, admin: AdminAtDesk, user_id: uuid.UUID, on: bool) -> Response:
    async with system_transaction(ctx) as session:
        if await session.get(User, user_id) is None:
            return go("/users")
        before = await auth_service.suspend_user(
            session, user_id, actor_id=admin.user_id, suspended=on
        )
        await access.audited(
            session,
            admin,
            "admin.user.suspended" if on else "admin.user.unsuspended",
            f"user:{user_id}",
            before={"suspended": before},
            after={"suspended": on},
        )
    said = "The user is suspended; their sessions ended." if on else "The user is restored."
    return go(f"/users/{user_id}?notice={quote(said)}")


@router.post("/users/{user_id}/suspend", dependencies=[CsrfChecked])
async def suspend(
    ctx: Context,
    user_id: uuid.UUID,
    admin: Annotated[AdminAtDesk, gate("POST /users/{user_id}/suspend")],
) -> Response:
    if user_id == admin.user_id:
        return go(f"/users/{user_id}?notice={quote('You cannot suspend yourself.')}")
    return await _suspend(ctx, admin, user_id, True)


@router.post("/users/{user_id}/unsuspend", dependencies=[CsrfChecked])
async def unsuspend(
    ctx: Context,
    user_id: uuid.UUID,
    admin: Annotated[AdminAtDesk, gate("POST /users/{user_id}/unsuspend")],
) -> Response:
    return await _suspend(ctx, admin, user_id, False)


@router.post("/users/{user_id}/roles", dependencies=[CsrfChecked])
async def change_role(
    ctx: Context,
    user_id: uuid.UUID,
    admin: Annotated[AdminAtDesk, gate("POST /users/{user_id}/roles")],
    role: Annotated[str, Form(max_length=16)] = "",
    change: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Grant or revoke a role (superadmin, after a step-up); never one's own roles."""
    if role not in Role.__members__ or change not in ("grant", "revoke"):
        return go(f"/users/{user_id}?notice={quote('Choose a role and grant or revoke.')}")
    if user_id == admin.user_id:
        return go(f"/users/{user_id}?notice={quote('You cannot change your own roles.')}")
    async with system_transaction(ctx) as session:
        if await session.get(User, user_id) is None:
            return go("/users")
        held = await session.get(AdminRole, (user_id, role))
        if change == "grant" and held is None:
            session.add(AdminRole(user_id=user_id, role=role, granted_by=f"admin:{admin.user_id}"))
        elif change == "revoke":
            await session.execute(
                delete(AdminRole).where(AdminRole.user_id == user_id, AdminRole.role == role)
            )
        await access.audited(
            session,
            admin,
            f"admin.role.{'granted' if change == 'grant' else 'revoked'}",
            f"user:{user_id}",
            before={"role": role, "held": held is not None},
            after={"role": role, "held": change == "grant"},
        )
    said = f"Role {role} {'granted' if change == 'grant' else 'revoked'}."
    return go(f"/users/{user_id}?notice={quote(said)}")


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(
    request: Request, ctx: Context, admin: Annotated[AdminAtDesk, gate("GET /keys")]
) -> Response:
    async with system_transaction(ctx) as session:
        keys = list(
            await session.scalars(
                select(WebAuthnCredential)
                .where(WebAuthnCredential.user_id == admin.user_id)
                .order_by(WebAuthnCredential.created_at)
            )
        )
    return page(request, ctx, "keys.html", {"keys": keys})


@router.post("/keys/options", dependencies=[CsrfHeaderChecked])
async def keys_options(
    request: Request, ctx: Context, admin: Annotated[AdminAtDesk, gate("POST /keys/options")]
) -> Response:
    async with system_transaction(ctx) as session:
        row = await session.get(AdminSession, admin.session_id)
        user = await session.get(User, admin.user_id)
        assert row is not None
        assert user is not None
        name = user.handle or user.email or str(user.id)
        options = await webauthn_factor.registration_options(session, ctx.settings, row, name)
    return JSONResponse(options)


@router.post("/keys", dependencies=[CsrfHeaderChecked])
async def keys_add(
    request: Request, ctx: Context, admin: Annotated[AdminAtDesk, gate("POST /keys")]
) -> Response:
    """Register a security key (only in a session that already proved a factor)."""
    body = await _json_body(request)
    credential = body.get("credential")
    refused: str | None = None
    async with system_transaction(ctx) as session:
        row = await session.get(AdminSession, admin.session_id)
        assert row is not None
        try:
            if not isinstance(credential, dict):
                raise webauthn_factor.WebAuthnRefused("The key's answer is missing.")
            added = await webauthn_factor.register(session, ctx.settings, row, credential)
        except webauthn_factor.WebAuthnRefused as refusal:
            refused = str(refusal)
        else:
            await access.audited(
                session,
                admin,
                "admin.webauthn.registered",
                f"user:{admin.user_id}",
                after={"credential": str(added.id)},
            )
    if refused is not None:
        return _refused(refused)
    return JSONResponse({"next": "/keys"})


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    ctx: Context,
    admin: Annotated[AdminAtDesk, gate("GET /audit")],
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target: Annotated[str, Query(max_length=255)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    verified: str | None = None,
) -> Response:
    """The newest events matching every filter given (actor id, action prefix, target,
    a time window), newest first."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE)
    problems: list[str] = []
    if actor.strip():
        try:
            query = query.where(AuditEvent.actor_id == uuid.UUID(actor.strip()))
        except ValueError:
            problems.append("The actor must be a user id.")
    if action.strip():
        query = query.where(AuditEvent.action.startswith(action.strip(), autoescape=True))
    if target.strip():
        query = query.where(AuditEvent.target == target.strip())
    for name, value, compare in (
        ("From", since, AuditEvent.occurred_at.__ge__),
        ("Until", until, AuditEvent.occurred_at.__le__),
    ):
        moment = _moment(value)
        if value and moment is None:
            problems.append(f"{name} must be a date and time like 2026-12-07T20:00.")
        elif moment is not None:
            if moment.tzinfo is None:
                from datetime import UTC

                moment = moment.replace(tzinfo=UTC)
            query = query.where(compare(moment))
    events: list[AuditEvent] = []
    if not problems:
        async with system_transaction(ctx) as session:
            events = list(await session.scalars(query))
    return page(
        request,
        ctx,
        "audit.html",
        {
            "events": events,
            "filters": {
                "actor": actor,
                "action": action,
                "target": target,
                "since": since,
                "until": until,
            },
            "problems": problems,
            "verified": verified,
        },
    )


@router.post("/audit/verify", dependencies=[CsrfChecked])
async def audit_verify(
    ctx: Context, admin: Annotated[AdminAtDesk, gate("POST /audit/verify")]
) -> Response:
    """Recompute the whole chain (audit/verify.py, as `offcoder audit verify` does)."""
    async with system_transaction(ctx) as session:
        report = await verify_chain(session)
    async with system_transaction(ctx) as session:
        await access.audited(
            session,
            admin,
            "admin.audit.verified",
            "audit_events",
            extra={"intact": report.intact, "events": report.events},
        )
    return go("/audit?verified=" + quote(report.summary()))
