"""Admin roles (O4) behind a recent second factor (A5): who may call the admin API, for how
long, and that grants and calls are audited."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from offcoder.admin.roles import Role
from offcoder.audit.models import AuditEvent
from offcoder.auth.models import DeviceSession
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.admin import granted
from tests.support.mfa import with_mfa
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("O4"), pytest.mark.promise("A5")]


async def audit_actions(context: AppContext, target: str) -> list[str]:
    async with context.database.system_session() as s:
        rows = await s.scalars(select(AuditEvent.action).where(AuditEvent.target == target))
        return list(rows)


async def test_the_gate_needs_the_role_and_a_recent_second_factor(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    # No role: refused, with or without MFA.
    plain = await api.get("/v1/admin/users", headers=user.headers)
    assert plain.status_code == 403 and plain.json()["type"].endswith("/forbidden")
    await granted(context, await user_id(api, user), Role.support)
    # The role without a second factor: refused, and told what to do.
    no_mfa = await api.get("/v1/admin/users", headers=user.headers)
    assert no_mfa.status_code == 403 and no_mfa.json()["type"].endswith("/mfa-required")
    mfa_headers = await with_mfa(api, user)
    allowed = await api.get("/v1/admin/users", headers=mfa_headers)
    assert allowed.status_code == 200, allowed.text
    me = await user_id(api, user)
    assert str(me) in [u["id"] for u in allowed.json()["items"]]
    assert (await api.get("/v1/admin/me", headers=mfa_headers)).json()["roles"] == ["support"]
    # Every call is audited, as the admin.
    assert "admin.users.list" in await audit_actions(context, "users")

    # Absolute lifetime: a second factor proved more than an hour ago no longer counts.
    session_id = context.signer.verify(user.access_token).session_id
    async with context.database.system_session() as s:
        await s.execute(
            update(DeviceSession)
            .where(DeviceSession.id == session_id)
            .values(mfa_at=utcnow() - timedelta(seconds=context.settings.admin_mfa_max_age_s + 5))
        )
    expired = await api.get("/v1/admin/users", headers=mfa_headers)
    assert expired.status_code == 403 and expired.json()["type"].endswith("/mfa-expired")

    # Idle lifetime: a recent factor, but the session unused for longer than the idle limit.
    async with context.database.system_session() as s:
        await s.execute(
            update(DeviceSession)
            .where(DeviceSession.id == session_id)
            .values(
                mfa_at=utcnow(),
                last_used_at=utcnow() - timedelta(seconds=context.settings.admin_idle_s + 5),
            )
        )
    idle = await api.get("/v1/admin/users", headers=mfa_headers)
    assert idle.status_code == 403 and idle.json()["type"].endswith("/mfa-expired")


async def test_roles_are_least_privilege(api: httpx.AsyncClient, context: AppContext) -> None:
    finance, boss = await signed_in_user(context), await signed_in_user(context)
    await granted(context, await user_id(api, finance), Role.finance)
    await granted(context, await user_id(api, boss), Role.superadmin)
    finance_headers = await with_mfa(api, finance)
    refused = await api.get("/v1/admin/users", headers=finance_headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
    assert (await api.get("/v1/admin/me", headers=finance_headers)).status_code == 200
    boss_headers = await with_mfa(api, boss)
    assert (await api.get("/v1/admin/users", headers=boss_headers)).status_code == 200
    # An ended session's MFA token is worth nothing.
    assert (await api.post("/v1/auth/logout", headers=boss.headers)).status_code == 204
    assert (await api.get("/v1/admin/users", headers=boss_headers)).status_code == 401


async def test_the_operator_grants_from_the_command_line_and_it_is_audited(
    api: httpx.AsyncClient,
    context: AppContext,
    settings: Settings,
    prepared: PreparedDatabase,
    state_dir: Path,
) -> None:
    user = await signed_in_user(context)
    who = str(await user_id(api, user))
    env = {
        **os.environ,
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
    }
    for args, expected in ((["grant", who, "safety"], 0), (["grant", who, "emperor"], 2)):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "offcoder.cli", "admin", *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == expected, stderr.decode()
    assert "admin.role.granted" in await audit_actions(context, f"user:{who}")
    headers = await with_mfa(api, user)
    assert (await api.get("/v1/admin/me", headers=headers)).json()["roles"] == ["safety"]
