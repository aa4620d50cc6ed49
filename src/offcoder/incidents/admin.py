"""The breach register and the sub-processor list in the admin API (V2, V4): superadmins with
a recent second factor (`admin.roles.require`), every call audited in its own transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.admin.auth import SuperAdmin, SystemSession
from offcoder.admin.roles import Admin
from offcoder.audit.service import ActorKind, record
from offcoder.auth.dependencies import Context
from offcoder.db.base import utcnow
from offcoder.incidents import register, subprocessors
from offcoder.incidents.models import IncidentVersion
from offcoder.incidents.schemas import (
    AffectedUser,
    AffectedUsers,
    AuthorityNotification,
    DataCategory,
    EmailList,
    EmailOut,
    IncidentChange,
    IncidentCreate,
    IncidentHistory,
    IncidentList,
    IncidentOut,
    IncidentView,
    Jurisdiction,
    NotifyPeople,
    NotifyResult,
    SubprocessorChangeOut,
    SubprocessorIn,
    SubprocessorOut,
)
from offcoder.problems import InvalidInput

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def actor(admin: Admin) -> str:
    return f"admin:{admin.user_id}"


async def view(session: AsyncSession, row: IncidentVersion) -> IncidentView:
    clocks = register.deadlines(row)
    return IncidentView(
        incident=IncidentOut.model_validate(row),
        deadlines=clocks,
        overdue=any(c.overdue for c in clocks),
        emails=await register.email_counts(session, row.incident_id),
    )


async def _read(session: AsyncSession, admin: Admin, action: str, target: str) -> None:
    await record(session, action, actor_id=admin.user_id, actor_kind=ActorKind.admin, target=target)


@router.get("/incidents")
async def list_incidents(admin: SuperAdmin, session: SystemSession) -> IncidentList:
    """Every incident's current version and deadline clock, the most recent first."""
    rows = await register.all_current(session)
    await _read(session, admin, "admin.incidents.list", "incidents")
    return IncidentList(items=[await view(session, r) for r in rows])


@router.post("/incidents", status_code=201)
async def create_incident(
    body: IncidentCreate, admin: SuperAdmin, session: SystemSession
) -> IncidentView:
    """Record a new incident (version 1); the authority clocks start at `aware_at`."""
    return await view(session, await register.record_incident(session, body, actor(admin)))


@router.get("/incidents/{incident_id}")
async def get_incident(
    incident_id: uuid.UUID, admin: SuperAdmin, session: SystemSession
) -> IncidentView:
    row = await register.current(session, incident_id)
    await _read(session, admin, "admin.incident.read", f"incident:{incident_id}")
    return await view(session, row)


@router.patch("/incidents/{incident_id}")
async def amend_incident(
    incident_id: uuid.UUID, body: IncidentChange, admin: SuperAdmin, session: SystemSession
) -> IncidentView:
    """Change an incident: a new version with the given fields; the old one stays."""
    return await view(session, await register.amend(session, incident_id, body, actor(admin)))


@router.get("/incidents/{incident_id}/versions")
async def incident_history(
    incident_id: uuid.UUID, admin: SuperAdmin, session: SystemSession
) -> IncidentHistory:
    """Every version of the incident, the first first."""
    rows = await register.history(session, incident_id)
    await _read(session, admin, "admin.incident.history", f"incident:{incident_id}")
    return IncidentHistory(items=[IncidentOut.model_validate(r) for r in rows])


@router.put("/incidents/{incident_id}/authority-notifications/{jurisdiction}")
async def authority_notification(
    incident_id: uuid.UUID,
    jurisdiction: Jurisdiction,
    body: AuthorityNotification,
    admin: SuperAdmin,
    session: SystemSession,
) -> IncidentView:
    """Set an authority's deadline, or record its notification (time and reference)."""
    row = await register.notify_authority(session, incident_id, jurisdiction, body, actor(admin))
    return await view(session, row)


def _window(since: datetime | None, until: datetime | None) -> register.Window:
    for value in (since, until):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("Give since and until with a time zone (e.g. ...Z).")
    window = register.Window(since, until or utcnow())
    if since and since > window.until:
        raise InvalidInput("since is after until.")
    return window


@router.get("/incidents/{incident_id}/affected-users")
async def affected_users(
    incident_id: uuid.UUID,
    admin: SuperAdmin,
    session: SystemSession,
    category: DataCategory,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> AffectedUsers:
    """The people whose data of `category` the breach may have touched in the window
    (stored by `until`, and since `since` if given; sessions: used in the window)."""
    await register.current(session, incident_id)
    window = _window(since, until)
    users = await register.affected_users(session, category, window)
    await record(
        session,
        "admin.incident.affected_users",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target=f"incident:{incident_id}",
        details={"category": category.value, "count": len(users)},
    )
    return AffectedUsers(
        category=category,
        since=window.since,
        until=window.until,
        count=len(users),
        reachable=sum(1 for u in users if u.email),
        items=[AffectedUser(id=u.id, email=u.email, handle=u.handle) for u in users],
    )


@router.post("/incidents/{incident_id}/user-notifications", status_code=202)
async def notify_people(
    incident_id: uuid.UUID,
    body: NotifyPeople,
    admin: SuperAdmin,
    session: SystemSession,
    ctx: Context,
) -> NotifyResult:
    """Queue the e-mail to everyone the affected-users query finds (once per person and
    incident); the worker sends them and records each try."""
    await register.current(session, incident_id)
    users = await register.affected_users(session, body.category, _window(body.since, body.until))
    queued, already, unreachable = await register.notify_people(
        session, incident_id, users, ctx.settings, actor(admin)
    )
    return NotifyResult(queued=queued, already_queued=already, unreachable=unreachable)


@router.get("/incidents/{incident_id}/user-notifications")
async def notification_emails(
    incident_id: uuid.UUID, admin: SuperAdmin, session: SystemSession
) -> EmailList:
    """Each e-mail: to whom, and its sending record."""
    await register.current(session, incident_id)
    rows = await register.emails(session, incident_id)
    await _read(session, admin, "admin.incident.emails", f"incident:{incident_id}")
    return EmailList(items=[EmailOut.model_validate(r) for r in rows])


@router.get("/subprocessors")
async def list_subprocessors(admin: SuperAdmin, session: SystemSession) -> list[SubprocessorOut]:
    return [SubprocessorOut.model_validate(r) for r in await subprocessors.current_list(session)]


@router.get("/subprocessors/changes")
async def subprocessor_changes(
    admin: SuperAdmin, session: SystemSession
) -> list[SubprocessorChangeOut]:
    return [
        SubprocessorChangeOut.model_validate(r) for r in await subprocessors.change_log(session)
    ]


@router.post("/subprocessors", status_code=201)
async def add_subprocessor(
    body: SubprocessorIn, admin: SuperAdmin, session: SystemSession
) -> SubprocessorOut:
    return SubprocessorOut.model_validate(await subprocessors.add(session, body, actor(admin)))


@router.put("/subprocessors/{name}")
async def change_subprocessor(
    name: str, body: SubprocessorIn, admin: SuperAdmin, session: SystemSession
) -> SubprocessorOut:
    row = await subprocessors.change(session, name, body, actor(admin))
    return SubprocessorOut.model_validate(row)


@router.delete("/subprocessors/{name}", status_code=204)
async def remove_subprocessor(
    name: str,
    admin: SuperAdmin,
    session: SystemSession,
    note: Annotated[str, Query(max_length=2000)] = "",
) -> None:
    await subprocessors.remove(session, name, actor(admin), note)
