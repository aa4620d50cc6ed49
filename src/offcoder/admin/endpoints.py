"""The admin API (`/v1/admin/...`): every endpoint behind a role and a recent second factor
(`admin.roles.require`), every call in the audit log (O3, O4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from offcoder.admin.auth import AnyAdmin, SupportAdmin, SystemSession
from offcoder.audit.service import ActorKind, record
from offcoder.users.models import User

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    handle: str | None
    email: str | None
    created_at: datetime


class AdminUserList(BaseModel):
    items: list[AdminUserOut]


class AdminSelf(BaseModel):
    id: uuid.UUID
    roles: list[str]


@router.get("/me")
async def admin_me(admin: AnyAdmin) -> AdminSelf:
    """Who you are as an admin: your roles."""
    return AdminSelf(id=admin.user_id, roles=sorted(admin.roles))


@router.get("/users")
async def admin_users(
    admin: SupportAdmin,
    session: SystemSession,
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AdminUserList:
    """Users, newest first (support)."""
    query = select(User).order_by(User.created_at.desc()).limit(limit)
    if email:
        query = query.where(User.email == email)
    users = list(await session.scalars(query))
    await record(
        session,
        "admin.users.list",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target="users",
        details={"email": email, "count": len(users)},
    )
    return AdminUserList(items=[AdminUserOut.model_validate(u) for u in users])
