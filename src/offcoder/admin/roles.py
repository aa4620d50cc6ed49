"""Admin roles (O4) and the gate in front of every admin endpoint (A5).

Roles are least-privilege and additive: `support` (users and sessions), `finance` (wallets and
refunds), `safety` (AI-flag review), `superadmin` (everything, and nothing else implies it). An
operator grants them from the command line (`offcoder admin grant EMAIL ROLE`), audited; the
application role can read a user's own roles and never write one.

`require` makes the gate (typed per role in `admin/auth.py`). It admits a request only with: a
valid access token of a live session; the role; a second factor proved by that session (`amr`
holds `mfa`) no longer ago than `admin_mfa_max_age_s` (the absolute lifetime of an admin
session: one hour by default, then verify again); and a session used within `admin_idle_s`
(15 minutes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.auth import service as auth_service
from offcoder.auth.dependencies import access_claims
from offcoder.auth.models import AdminRole
from offcoder.auth.models import Role as Role  # defined beside its table; importers read it here
from offcoder.auth.tokens import AccessClaims
from offcoder.context import AppContext, get_context
from offcoder.db.base import utcnow
from offcoder.problems import NotFound, Problem, Unauthorized
from offcoder.users.models import User


class AdminForbidden(Problem):
    def __init__(self, type_: str, detail: str) -> None:
        super().__init__(403, type_, detail)


@dataclass(frozen=True)
class Admin:
    user_id: uuid.UUID
    session_id: uuid.UUID
    roles: frozenset[Role]


def require(*allowed: Role) -> Any:
    """A dependency admitting holders of any of `allowed` (or superadmin), MFA-verified."""

    async def gate(
        claims: Annotated[AccessClaims, Depends(access_claims)],
        ctx: Annotated[AppContext, Depends(get_context)],
    ) -> Admin:
        settings = ctx.settings
        # Its own short transaction, committed before any refusal below: the use is recorded
        # (the idle clock restarts) whatever the answer, and no connection is held after it.
        async with ctx.database.user_session(claims.user_id) as session:
            device = await auth_service.live_session(session, claims.session_id)
            if device is None:
                raise Unauthorized("The session of this access token has ended.")
            held = {
                Role(r)
                for r in await session.scalars(
                    select(AdminRole.role).where(AdminRole.user_id == claims.user_id)
                )
                if r in Role.__members__
            }
            now = utcnow()
            idle = now - device.last_used_at
            device.last_used_at = now
        if not held & {*allowed, Role.superadmin}:
            raise AdminForbidden("forbidden", "This needs an admin role you do not hold.")
        if not claims.mfa or device.mfa_at is None:
            raise AdminForbidden(
                "mfa-required", "Admin actions need a second factor: POST /v1/auth/mfa/verify."
            )
        if now - device.mfa_at > timedelta(seconds=settings.admin_mfa_max_age_s):
            raise AdminForbidden(
                "mfa-expired", "The admin session has expired: verify your second factor again."
            )
        if idle > timedelta(seconds=settings.admin_idle_s):
            raise AdminForbidden(
                "mfa-expired",
                "The admin session was idle too long: verify your second factor again.",
            )
        return Admin(claims.user_id, claims.session_id, frozenset(held))

    return Depends(gate)


async def find_user(session: AsyncSession, who: str) -> User:
    """A user by id, or by an e-mail the identity core has verified (never an unverified one:
    whoever typed it at an unverifying provider must not receive a role)."""
    try:
        user = await session.get(User, uuid.UUID(who))
    except ValueError:
        user = await session.scalar(
            select(User).where(User.email == who, User.email_verified_at.is_not(None))
        )
    if user is None:
        raise NotFound("user (by id, or by verified e-mail)")
    return user


async def grant(session: AsyncSession, who: str, role: Role, operator: str) -> uuid.UUID:
    """Give `role` to a user; audited as an operator action."""
    user = await find_user(session, who)
    if await session.get(AdminRole, (user.id, role.value)) is None:
        session.add(AdminRole(user_id=user.id, role=role.value, granted_by=operator))
    await record(
        session,
        "admin.role.granted",
        actor_id=None,
        actor_kind=ActorKind.operator,
        target=f"user:{user.id}",
        details={"role": role.value, "operator": operator},
    )
    return user.id


async def revoke(session: AsyncSession, who: str, role: Role, operator: str) -> None:
    user = await find_user(session, who)
    await session.execute(
        delete(AdminRole).where(AdminRole.user_id == user.id, AdminRole.role == role.value)
    )
    await record(
        session,
        "admin.role.revoked",
        actor_id=None,
        actor_kind=ActorKind.operator,
        target=f"user:{user.id}",
        details={"role": role.value, "operator": operator},
    )
