"""The admin dashboard's own app (issue 18 item 1): sign-in through the broker, a second factor
before any page, server-side sessions with idle and absolute limits, roles read again on every
request, step-up, CSRF, headers, and each action in the audit log with its factor."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from offcoder.admin.dashboard.models import AdminSession
from offcoder.admin.roles import Role, revoke
from offcoder.audit.models import AuditEvent
from offcoder.auth.models import DeviceSession
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.users.models import User
from tests.support.admin import granted
from tests.support.admin_dashboard import admin_client, broker_sign_in, desk_session, with_desk
from tests.support.mfa import enrolled, next_code
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("A5"), pytest.mark.promise("O4"), pytest.mark.promise("O3")]


@pytest.fixture(scope="module")
async def admin(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(context) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_no_openapi_strict_headers_and_a_sign_in_page(admin: httpx.AsyncClient) -> None:
    admin.cookies.clear()
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert (await admin.get(path)).status_code == 404
    home = await admin.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/signin"
    signin = await admin.get("/signin")
    assert signin.status_code == 200 and "Sign in with" in signin.text
    csp = signin.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert signin.headers["x-frame-options"] == "DENY"
    # No inline script or style: the one script is our own file.
    scripts = re.findall(r"<script[^>]*>", signin.text)
    assert scripts == ['<script type="module" src="/static/webauthn.js">'], scripts
    assert 'style="' not in signin.text and "<style" not in signin.text


async def test_broker_sign_in_then_totp_then_pages(
    admin: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    subject = f"desk-{secrets.token_hex(4)}@example.test"
    user = await signed_in_user(context, subject)
    totp, _ = await enrolled(api, user)
    me = await user_id(api, user)
    await granted(context, me, Role.support)
    admin.cookies.clear()
    landed = await broker_sign_in(admin, api, subject)
    assert landed.status_code == 303 and landed.headers["location"] == "/factor"
    assert "oc_admin" in landed.headers["set-cookie"]
    assert "httponly" in landed.headers["set-cookie"].lower()
    # Signed in, but no page before the second factor.
    before = await admin.get("/users")
    assert before.status_code == 303 and before.headers["location"].startswith("/factor")
    factor = await admin.get("/factor")
    wrong = await admin.post("/factor", data={"csrf": csrf_of(factor), "code": "000000"})
    assert wrong.status_code == 400 and "not valid" in wrong.text
    # No CSRF token: refused before the code is even looked at.
    forged = await admin.post("/factor", data={"code": next_code(totp)})
    assert forged.status_code == 403
    right = await admin.post(
        "/factor", data={"csrf": csrf_of(factor), "code": next_code(totp), "next": "/users"}
    )
    assert right.status_code == 303 and right.headers["location"] == "/users"
    found = await admin.get("/users", params={"q": subject.upper()})
    assert found.status_code == 200 and str(me) in found.text
    # The session is server-side and names the factor.
    async with context.database.system_session() as s:
        row = await s.scalar(select(AdminSession).where(AdminSession.user_id == me))
        assert row is not None and row.factor == "totp" and row.factor_at is not None
    # A revoked role is refused on the very next request.
    async with context.database.system_session() as s:
        await revoke(s, str(me), Role.support, "operator:test")
    assert (await admin.get("/users", params={"q": subject})).status_code == 403


async def test_a_suspended_account_cannot_sign_in(
    admin: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    subject = f"susp-{secrets.token_hex(4)}@example.test"
    user = await signed_in_user(context, subject)
    me = await user_id(api, user)
    async with context.database.system_session() as s:
        await s.execute(update(User).where(User.id == me).values(suspended_at=utcnow()))
    admin.cookies.clear()
    refused = await broker_sign_in(admin, api, subject)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/signin?error=")
    assert "suspended" in refused.headers["location"]


@pytest.mark.parametrize(
    ("idle_s", "age_s", "reason"),
    [(15 * 60 + 5, 60 * 20, "idle"), (10, 8 * 3600 + 5, "expired")],
)
async def test_idle_and_absolute_limits_end_the_session(
    admin: httpx.AsyncClient, context: AppContext, idle_s: int, age_s: int, reason: str
) -> None:
    user = await signed_in_user(context)
    await granted(context, context.signer.verify(user.access_token).user_id, Role.superadmin)
    token = await desk_session(context, user, factor_age_s=10, idle_s=idle_s, age_s=age_s)
    with_desk(admin, token)
    answer = await admin.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    async with context.database.system_session() as s:
        row = await s.scalar(
            select(AdminSession).where(AdminSession.device_session_id == uuid.UUID(user.session_id))
        )
        assert row is not None and row.end_reason == reason
    # Within the limits, the same kind of session is let in.
    fresh = await desk_session(context, user, factor_age_s=10, idle_s=60, age_s=3600)
    with_desk(admin, fresh)
    assert (await admin.get("/")).status_code == 200


async def test_an_ended_device_session_ends_the_dashboard_session(
    admin: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    await granted(context, context.signer.verify(user.access_token).user_id, Role.support)
    token = await desk_session(context, user)
    with_desk(admin, token)
    assert (await admin.get("/")).status_code == 200
    async with context.database.system_session() as s:
        await s.execute(
            update(DeviceSession)
            .where(DeviceSession.id == uuid.UUID(user.session_id))
            .values(ended_at=utcnow())
        )
    assert (await admin.get("/")).headers["location"] == "/signin"


async def test_suspend_ends_the_users_sessions_and_is_audited_with_its_factor(
    admin: httpx.AsyncClient, api: httpx.AsyncClient, context: AppContext
) -> None:
    support = await signed_in_user(context)
    support_id = context.signer.verify(support.access_token).user_id
    await granted(context, support_id, Role.support)
    target = await signed_in_user(context)
    target_id = await user_id(api, target)
    csrf = with_desk(admin, await desk_session(context, support, factor_age_s=42))
    done = await admin.post(
        f"/users/{target_id}/suspend",
        data={"csrf": csrf},
        headers={"x-request-id": "req-suspend-1"},
    )
    assert done.status_code == 303, done.text
    # The target's tokens stop working at once: its session ended.
    assert (await api.get("/v1/me", headers=target.headers)).status_code == 401
    refreshed = await api.post(
        "/v1/auth/token",
        json={"grant_type": "refresh_token", "refresh_token": target.refresh_token},
    )
    assert refreshed.status_code == 400
    async with context.database.system_session() as s:
        event = await s.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "admin.user.suspended")
            .where(AuditEvent.target == f"user:{target_id}")
        )
    assert event is not None
    assert event.actor_id == support_id and event.actor_kind == "admin"
    assert event.request_id == "req-suspend-1"
    assert event.details["roles"] == ["support"] and event.details["factor"] == "totp"
    assert 42 <= event.details["factor_age_s"] < 60
    assert event.details["before"] == {"suspended": False}
    assert event.details["after"] == {"suspended": True}
    view = await admin.get(f"/users/{target_id}")
    assert "suspended since" in view.text
    restored = await admin.post(f"/users/{target_id}/unsuspend", data={"csrf": csrf})
    assert restored.status_code == 303
    assert "suspended since" not in (await admin.get(f"/users/{target_id}")).text


async def test_role_grants_need_a_step_up(admin: httpx.AsyncClient, context: AppContext) -> None:
    boss = await signed_in_user(context)
    await granted(context, context.signer.verify(boss.access_token).user_id, Role.superadmin)
    target = await signed_in_user(context)
    target_id = context.signer.verify(target.access_token).user_id
    step_up = context.settings.admin_step_up_s
    csrf = with_desk(admin, await desk_session(context, boss, factor_age_s=step_up + 30))
    # The factor is older than the step-up: pages work, the grant asks for the factor again.
    assert (await admin.get(f"/users/{target_id}")).status_code == 200
    stale = await admin.post(
        f"/users/{target_id}/roles", data={"csrf": csrf, "role": "safety", "change": "grant"}
    )
    assert stale.status_code == 303 and "step_up=true" in stale.headers["location"]
    csrf = with_desk(admin, await desk_session(context, boss, factor_age_s=5))
    fresh = await admin.post(
        f"/users/{target_id}/roles", data={"csrf": csrf, "role": "safety", "change": "grant"}
    )
    assert fresh.status_code == 303 and "granted" in fresh.headers["location"]
    assert "safety" in (await admin.get(f"/users/{target_id}")).text


async def test_a_post_from_another_origin_is_refused(
    admin: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    await granted(context, context.signer.verify(user.access_token).user_id, Role.superadmin)
    csrf = with_desk(admin, await desk_session(context, user))
    evil = await admin.post(
        "/audit/verify", data={"csrf": csrf}, headers={"origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    ours = await admin.post(
        "/audit/verify", data={"csrf": csrf}, headers={"origin": context.settings.admin_base_url}
    )
    assert ours.status_code == 303 and "intact" in ours.headers["location"]


async def test_audit_filters(admin: httpx.AsyncClient, context: AppContext) -> None:
    user = await signed_in_user(context)
    me = context.signer.verify(user.access_token).user_id
    await granted(context, me, Role.superadmin)
    with_desk(admin, await desk_session(context, user))
    since = (utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    mine = await admin.get("/audit", params={"actor": str(me), "action": "admin.", "since": since})
    assert mine.status_code == 200
    assert "admin.dashboard.signed_in" not in mine.text  # minted session: no sign-in event
    granted_row = await admin.get("/audit", params={"target": f"user:{me}"})
    assert "admin.role.granted" in granted_row.text
    bad = await admin.get("/audit", params={"actor": "someone", "since": "yesterday"})
    assert "The actor must be a user id." in bad.text and "From must be" in bad.text
