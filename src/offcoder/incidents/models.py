"""The breach register (V2), the e-mails that tell people (V2) and the sub-processor list (V4).

`incident_versions` and `subprocessor_versions` are append-only in the database (migration
0020: a trigger refuses UPDATE, DELETE and TRUNCATE, and the system role holds only SELECT and
INSERT): every change to an incident or a sub-processor is a new row, the newest is the current
state, and the rows before it are the history a regulator may ask for. `notification_emails`
is a queue: its send columns change as the worker tries, its rows are never deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class IncidentVersion(Base):
    """One state of one incident: the whole record, as the ICO log, GDPR Art. 33(3)/(5) and
    DPDP Rule 7 ask for it, written whenever anything in it changed."""

    __tablename__ = "incident_versions"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "admin:<uuid>" or "operator:<login>": a string, not a foreign key, so that an admin's
    # erasure never has to touch (update) a row of the register.
    recorded_by: Mapped[str] = mapped_column(String(120))
    change_note: Mapped[str] = mapped_column(Text, default="")

    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)  # what happened (Art. 33(3)(a), Rule 7(2)(b)(i))
    status: Mapped[str] = mapped_column(String(16))  # open | contained | closed
    detected_at: Mapped[datetime]  # when the breach was first noticed by anyone
    aware_at: Mapped[datetime]  # when we became aware: the 72-hour clocks start here
    occurred_at: Mapped[datetime | None]
    contained_at: Mapped[datetime | None]
    nature: Mapped[list[str]] = mapped_column(JSONB)  # confidentiality/integrity/availability
    data_categories: Mapped[list[str]] = mapped_column(JSONB)
    people_count: Mapped[int | None]
    people_estimated: Mapped[bool]
    records_count: Mapped[int | None]
    records_estimated: Mapped[bool]
    jurisdictions: Mapped[list[str]] = mapped_column(JSONB)  # EU, UK, IN
    consequences: Mapped[str] = mapped_column(Text)
    measures_taken: Mapped[str] = mapped_column(Text)
    measures_planned: Mapped[str] = mapped_column(Text)
    advice: Mapped[str] = mapped_column(Text)  # what people should do (Art. 34(2))
    # ENISA (2013): SE = DPC x EI + CB, the inputs kept so the level can be re-derived.
    severity_dpc: Mapped[float | None]
    severity_ei: Mapped[float | None]
    severity_cb: Mapped[float | None]
    severity: Mapped[str | None] = mapped_column(String(16))
    notify_authority: Mapped[bool | None]
    notify_people: Mapped[bool | None]
    decision_reason: Mapped[str] = mapped_column(Text)
    # [{jurisdiction, authority, deadline, notified_at, reference, note}]
    authority_notifications: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class NotificationEmail(Base):
    """One e-mail to one affected person, queued and sent by the worker (V2)."""

    __tablename__ = "notification_emails"
    __table_args__ = (UniqueConstraint("incident_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    incident_version: Mapped[int]  # the version whose words the e-mail carries
    # Kept after the person's erasure (SET NULL): the proof that we told them is a record we
    # must keep (GDPR Art. 17(3)(b)); the address stays with it for the same reason.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_by: Mapped[str] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True, default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # given up after the last attempt
    last_error: Mapped[str | None] = mapped_column(Text)


class SubprocessorVersion(Base):
    """One change to one sub-processor (added, changed, removed): the list is the newest row
    of each name not removed, the change log is every row (V4)."""

    __tablename__ = "subprocessor_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), index=True)
    change: Mapped[str] = mapped_column(String(16))  # added | changed | removed
    purpose: Mapped[str] = mapped_column(Text)
    data_categories: Mapped[list[str]] = mapped_column(JSONB)
    location: Mapped[str] = mapped_column(String(200))
    transfer_mechanism: Mapped[str] = mapped_column(String(200))
    added_on: Mapped[datetime]
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text, default="")
