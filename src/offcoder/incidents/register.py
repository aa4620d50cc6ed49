"""The breach register (V2): incidents as append-only versions, their deadline clocks, the
people a breach touched, and the e-mails that tell them. Callable from the admin API, the
admin dashboard's pages and the command line alike: each function takes the caller's
transaction (the system role) and writes its audit event in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai.models import AIKey
from offcoder.audit.service import ActorKind, record
from offcoder.auth.models import DeviceSession, MfaTotp
from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.incidents.models import IncidentVersion, NotificationEmail
from offcoder.incidents.schemas import (
    AuthorityNotification,
    DataCategory,
    DeadlineOut,
    IncidentChange,
    IncidentCreate,
    Jurisdiction,
    Severity,
    Status,
)
from offcoder.payments.models import Topup
from offcoder.problems import Conflict, NotFound
from offcoder.projects.models import ProjectFile, ProjectSecret
from offcoder.users.models import User

# GDPR Art. 33(1) and UK GDPR: "not later than 72 hours after having become aware". DPDP Rule
# 7(2) (2025): the detailed report to the Board "within seventy-two hours of becoming aware"
# (its first intimation "without delay" comes before; the Board may allow longer). So one
# default for all three, from `aware_at`; an operator can set another deadline per authority
# (an extension the Board allowed, or an earlier one chosen for the "without delay" intimation).
AUTHORITY_DEADLINE = timedelta(hours=72)
AUTHORITIES = {
    Jurisdiction.EU: "Lead supervisory authority (GDPR Art. 33)",
    Jurisdiction.UK: "Information Commissioner's Office (UK GDPR Art. 33)",
    Jurisdiction.IN: "Data Protection Board of India (DPDP Rule 7)",
}

CATEGORY_LABELS = {
    DataCategory.accounts: "your account details (e-mail address and handle)",
    DataCategory.sessions: "your signed-in sessions (devices and when they were used)",
    DataCategory.ai_keys: "the AI provider keys you stored with us",
    DataCategory.project_secrets: "the secrets stored in your projects",
    DataCategory.project_files: "the files in your projects",
    DataCategory.mfa_secrets: "your second-factor (authenticator app) secret",
    DataCategory.payments: "your payment records (amounts and references, not card numbers)",
}


def severity(dpc: float | None, ei: float | None, cb: float | None) -> Severity | None:
    """ENISA's method (Recommendations for a methodology of the assessment of severity of
    personal data breaches, 2013): SE = DPC x EI + CB; below 2 low, below 3 medium, below 4
    high, else very high. None until all three are assessed."""
    if dpc is None or ei is None or cb is None:
        return None
    score = dpc * ei + cb
    if score < 2:
        return Severity.low
    if score < 3:
        return Severity.medium
    if score < 4:
        return Severity.high
    return Severity.very_high


def _copy(row: IncidentVersion) -> dict[str, Any]:
    """A version's fields, to be carried into the next one."""
    skip = {"id", "recorded_at", "recorded_by", "change_note"}
    return {
        c.key: getattr(row, c.key) for c in IncidentVersion.__table__.columns if c.key not in skip
    }


def _jsonable(change: IncidentChange) -> dict[str, Any]:
    data = change.model_dump(exclude_unset=True, exclude={"change_note"})
    for key in ("nature", "data_categories", "jurisdictions"):
        if key in data:
            data[key] = sorted({str(v) for v in data[key]})
    if "status" in data:
        data["status"] = str(data["status"])
    return data


async def _write(
    session: AsyncSession, fields: dict[str, Any], actor: str, note: str, action: str
) -> IncidentVersion:
    fields["severity"] = severity(
        fields.get("severity_dpc"), fields.get("severity_ei"), fields.get("severity_cb")
    )
    row = IncidentVersion(
        id=uuid.uuid4(), recorded_at=utcnow(), recorded_by=actor, change_note=note, **fields
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        action,
        actor_id=_actor_id(actor),
        actor_kind=ActorKind.admin if actor.startswith("admin:") else ActorKind.operator,
        target=f"incident:{row.incident_id}",
        details={"version": row.version, "note": note, "changed": sorted(fields)},
    )
    return row


def _actor_id(actor: str) -> uuid.UUID | None:
    kind, _, rest = actor.partition(":")
    return uuid.UUID(rest) if kind == "admin" else None


async def record_incident(
    session: AsyncSession, new: IncidentCreate, actor: str
) -> IncidentVersion:
    """Write a new incident down: version 1."""
    fields: dict[str, Any] = {
        "incident_id": uuid.uuid4(),
        "version": 1,
        "status": Status.open.value,
        "occurred_at": None,
        "contained_at": None,
        "people_count": None,
        "people_estimated": True,
        "records_count": None,
        "records_estimated": True,
        "consequences": "",
        "measures_taken": "",
        "measures_planned": "",
        "advice": "",
        "severity_dpc": None,
        "severity_ei": None,
        "severity_cb": None,
        "notify_authority": None,
        "notify_people": None,
        "decision_reason": "",
        "authority_notifications": [],
    }
    fields.update(_jsonable(new))
    return await _write(session, fields, actor, new.change_note, "incident.recorded")


async def current(session: AsyncSession, incident_id: uuid.UUID) -> IncidentVersion:
    row = await session.scalar(
        select(IncidentVersion)
        .where(IncidentVersion.incident_id == incident_id)
        .order_by(IncidentVersion.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound("incident")
    return row


async def amend(
    session: AsyncSession, incident_id: uuid.UUID, change: IncidentChange, actor: str
) -> IncidentVersion:
    """A new version: the current one with `change` applied. Concurrent amendments of one
    incident: the second to commit fails on (incident_id, version), never overwrites."""
    fields = _copy(await current(session, incident_id))
    fields.update(_jsonable(change))
    fields["version"] += 1
    return await _write(session, fields, actor, change.change_note, "incident.amended")


async def notify_authority(
    session: AsyncSession,
    incident_id: uuid.UUID,
    jurisdiction: Jurisdiction,
    notice: AuthorityNotification,
    actor: str,
) -> IncidentVersion:
    """Set one authority's deadline, or record that it was notified (a new version)."""
    fields = _copy(await current(session, incident_id))
    entries = [e for e in fields["authority_notifications"] if e["jurisdiction"] != jurisdiction]
    entry = notice.model_dump(mode="json")
    entry["jurisdiction"] = jurisdiction.value
    entry["authority"] = notice.authority or AUTHORITIES[jurisdiction]
    entries.append(entry)
    fields["authority_notifications"] = sorted(entries, key=lambda e: str(e["jurisdiction"]))
    if jurisdiction.value not in fields["jurisdictions"]:
        fields["jurisdictions"] = sorted({*fields["jurisdictions"], jurisdiction.value})
    fields["version"] += 1
    note = notice.note or (
        f"{jurisdiction.value}: notified"
        if notice.notified_at
        else f"{jurisdiction.value}: deadline set"
    )
    return await _write(session, fields, actor, note, "incident.authority_notification")


async def history(session: AsyncSession, incident_id: uuid.UUID) -> list[IncidentVersion]:
    rows = list(
        await session.scalars(
            select(IncidentVersion)
            .where(IncidentVersion.incident_id == incident_id)
            .order_by(IncidentVersion.version)
        )
    )
    if not rows:
        raise NotFound("incident")
    return rows


async def all_current(session: AsyncSession, limit: int = 100) -> list[IncidentVersion]:
    """Every incident's newest version, the most recently aware first."""
    latest = (
        select(IncidentVersion.incident_id, func.max(IncidentVersion.version).label("version"))
        .group_by(IncidentVersion.incident_id)
        .subquery()
    )
    return list(
        await session.scalars(
            select(IncidentVersion)
            .join(
                latest,
                (IncidentVersion.incident_id == latest.c.incident_id)
                & (IncidentVersion.version == latest.c.version),
            )
            .order_by(IncidentVersion.aware_at.desc())
            .limit(limit)
        )
    )


def deadlines(row: IncidentVersion, now: datetime | None = None) -> list[DeadlineOut]:
    """The clock per authority: every jurisdiction of the incident, unless the decision is
    recorded not to notify authorities (then none runs; the reason is in the record)."""
    if row.notify_authority is False:
        return []
    now = now or utcnow()
    entries = {e["jurisdiction"]: e for e in row.authority_notifications}
    clocks = []
    for code in row.jurisdictions:
        jurisdiction = Jurisdiction(code)
        entry = entries.get(code, {})
        deadline = (
            datetime.fromisoformat(entry["deadline"])
            if entry.get("deadline")
            else row.aware_at + AUTHORITY_DEADLINE
        )
        notified = (
            datetime.fromisoformat(entry["notified_at"]) if entry.get("notified_at") else None
        )
        clocks.append(
            DeadlineOut(
                jurisdiction=jurisdiction,
                authority=entry.get("authority") or AUTHORITIES[jurisdiction],
                deadline=deadline,
                notified_at=notified,
                reference=entry.get("reference"),
                seconds_left=None if notified else int((deadline - now).total_seconds()),
                overdue=notified is None and now > deadline,
                late=notified is not None and notified > deadline,
            )
        )
    return clocks


async def email_counts(session: AsyncSession, incident_id: uuid.UUID) -> dict[str, int]:
    e = NotificationEmail
    row = (
        await session.execute(
            select(
                func.count().filter(e.sent_at.is_(None) & e.failed_at.is_(None)),
                func.count().filter(e.sent_at.is_not(None)),
                func.count().filter(e.failed_at.is_not(None)),
            ).where(e.incident_id == incident_id)
        )
    ).one()
    return {"queued": row[0], "sent": row[1], "failed": row[2]}


# --- Who was affected ---------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """`until` is required (the moment the breach ended, or now); `since` may be open."""

    since: datetime | None
    until: datetime


def _stored(column: Any, window: Window) -> ColumnElement[bool]:
    # Data at rest: a row stored by the end of the window was there to be taken.
    clause: ColumnElement[bool] = column <= window.until
    return clause & (column >= window.since) if window.since else clause


def affected_query(category: DataCategory, window: Window) -> Select[Any]:
    """The ids of users whose data of `category` the breach may have touched."""
    if category is DataCategory.sessions:
        # Sessions used in the window: begun by its end and used after its start.
        clause = DeviceSession.created_at <= window.until
        if window.since:
            clause &= DeviceSession.last_used_at >= window.since
        return select(DeviceSession.user_id).where(clause)
    if category is DataCategory.accounts:
        return select(User.id).where(_stored(User.created_at, window))
    table: dict[DataCategory, Any] = {
        DataCategory.ai_keys: AIKey,
        DataCategory.project_secrets: ProjectSecret,
        DataCategory.project_files: ProjectFile,
        DataCategory.mfa_secrets: MfaTotp,
        DataCategory.payments: Topup,
    }
    model = table[category]
    return select(model.user_id).where(_stored(model.created_at, window))


async def affected_users(
    session: AsyncSession, category: DataCategory, window: Window, limit: int = 10_000
) -> list[User]:
    ids = affected_query(category, window).distinct().subquery()
    return list(
        await session.scalars(
            select(User).where(User.id.in_(select(ids))).order_by(User.created_at).limit(limit)
        )
    )


# --- Telling them -------------------------------------------------------------------------


def compose(row: IncidentVersion, user: User, settings: Settings) -> tuple[str, str]:
    """The e-mail (GDPR Art. 34(2), DPDP Rule 7(1)): what happened, which data, the likely
    consequences, what we did, what they should do, and whom to contact. Plain text: it reads
    the same in every client and carries nothing to click but an address."""
    greeting = f"Hello {user.handle}," if user.handle else "Hello,"
    data = (
        "\n".join(f"- {CATEGORY_LABELS.get(DataCategory(c), c)}" for c in row.data_categories)
        or "- (being established)"
    )
    done = row.measures_taken.strip()
    if row.measures_planned.strip():
        done += f"\n\nWhat we will still do:\n{row.measures_planned.strip()}"
    sections = [
        greeting,
        "We are writing to tell you about a security incident at OffCoder that affected "
        "your data. We are sorry.",
        f"WHAT HAPPENED\n{row.summary.strip()}\nWe became aware of it on "
        f"{row.aware_at:%d %B %Y at %H:%M} UTC.",
        f"WHICH OF YOUR DATA\n{data}",
        f"LIKELY CONSEQUENCES\n{row.consequences.strip() or 'We are still assessing them.'}",
        f"WHAT WE HAVE DONE\n{done or 'We are still working on it.'}",
        f"WHAT YOU SHOULD DO\n{row.advice.strip() or 'Nothing at this time.'}",
        f"CONTACT\nWrite to {settings.privacy_contact} with any question about this "
        f"incident. Our grievance officer is {settings.grievance_officer_name}, "
        f"{settings.grievance_officer_email}.",
        f"Reference: incident {row.incident_id}",
        "OffCoder",
    ]
    subject = f"Security incident affecting your OffCoder account: {row.title}"[:200]
    return subject, "\n\n".join(sections) + "\n"


async def notify_people(
    session: AsyncSession,
    incident_id: uuid.UUID,
    users: Sequence[User],
    settings: Settings,
    actor: str,
) -> tuple[int, int, int]:
    """Queue one e-mail per person (once per incident, whatever is asked twice); the worker
    sends them. Returns (queued, already queued, without an address)."""
    row = await current(session, incident_id)
    if row.notify_people is False:
        # The record says people are not to be told: the decision is changed first (a new
        # version, with its reason), so the register never contradicts what was sent.
        raise Conflict("This incident records a decision not to notify people: change it first.")
    queued = already = unreachable = 0
    for user in users:
        if not user.email:
            unreachable += 1
            continue
        subject, body = compose(row, user, settings)
        result = await session.execute(
            insert(NotificationEmail)
            .values(
                id=uuid.uuid4(),
                incident_id=incident_id,
                incident_version=row.version,
                user_id=user.id,
                to_address=user.email,
                subject=subject,
                body=body,
                queued_at=utcnow(),
                queued_by=actor,
                attempts=0,
                next_attempt_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "user_id"])
            .returning(NotificationEmail.id)
        )
        if result.scalar_one_or_none() is None:
            already += 1
        else:
            queued += 1
    await record(
        session,
        "incident.people_notified",
        actor_id=_actor_id(actor),
        actor_kind=ActorKind.admin if actor.startswith("admin:") else ActorKind.operator,
        target=f"incident:{incident_id}",
        details={"queued": queued, "already": already, "unreachable": unreachable},
    )
    return queued, already, unreachable


async def emails(session: AsyncSession, incident_id: uuid.UUID) -> list[NotificationEmail]:
    return list(
        await session.scalars(
            select(NotificationEmail)
            .where(NotificationEmail.incident_id == incident_id)
            .order_by(NotificationEmail.queued_at)
        )
    )
