"""What the breach register and the sub-processor list take and answer (V2, V4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Nature(StrEnum):
    """The three kinds of personal-data breach (Art. 29 WP250, ENISA): several may apply."""

    confidentiality = "confidentiality"
    integrity = "integrity"
    availability = "availability"


class Jurisdiction(StrEnum):
    """Where affected people live, and so which authority and which clock applies."""

    EU = "EU"  # GDPR Art. 33: the lead supervisory authority, 72 hours from awareness
    UK = "UK"  # UK GDPR Art. 33: the ICO, 72 hours from awareness
    IN = "IN"  # DPDP Rule 7(2): the Data Protection Board, 72 hours from awareness


class DataCategory(StrEnum):
    """The kinds of data we hold, each mapped to the table the affected-users query reads."""

    accounts = "accounts"  # users: e-mail, handle
    sessions = "sessions"  # device_sessions: devices, IP prefixes, use times
    ai_keys = "ai_keys"  # ai_keys: people's own AI provider keys (sealed)
    project_secrets = "project_secrets"  # project_secrets (sealed values)
    project_files = "project_files"  # project_files: people's code
    mfa_secrets = "mfa_secrets"  # mfa_totp: second-factor secrets (sealed)
    payments = "payments"  # topups: amounts, provider references


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    very_high = "very high"


class Status(StrEnum):
    open = "open"
    contained = "contained"
    closed = "closed"


Text = Annotated[str, Field(max_length=20_000)]
Count = Annotated[int, Field(ge=0)]
# ENISA 2013: DPC 1..4 (after its adjustments, so any value in the range), EI one of 0.25,
# 0.5, 0.75, 1, CB the sum of the circumstances (confidentiality, integrity, availability,
# malicious intent: up to 0.5 each).
Dpc = Annotated[float, Field(ge=1, le=4)]
Ei = Annotated[float, Field(ge=0.25, le=1)]
Cb = Annotated[float, Field(ge=0, le=2)]


class IncidentChange(BaseModel):
    """A change to an incident: only the fields given change; the rest are carried over."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    summary: Text | None = None
    status: Status | None = None
    detected_at: AwareDatetime | None = None
    aware_at: AwareDatetime | None = None
    occurred_at: AwareDatetime | None = None
    contained_at: AwareDatetime | None = None
    nature: list[Nature] | None = None
    data_categories: list[DataCategory] | None = None
    people_count: Count | None = None
    people_estimated: bool | None = None
    records_count: Count | None = None
    records_estimated: bool | None = None
    jurisdictions: list[Jurisdiction] | None = None
    consequences: Text | None = None
    measures_taken: Text | None = None
    measures_planned: Text | None = None
    advice: Text | None = None
    severity_dpc: Dpc | None = None
    severity_ei: Ei | None = None
    severity_cb: Cb | None = None
    notify_authority: bool | None = None
    notify_people: bool | None = None
    decision_reason: Text | None = None
    change_note: Text = ""


class IncidentCreate(IncidentChange):
    """A new incident: what is known when it is first written down."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    summary: Text
    detected_at: AwareDatetime
    aware_at: AwareDatetime
    nature: Annotated[list[Nature], Field(min_length=1)]
    data_categories: list[DataCategory]
    jurisdictions: list[Jurisdiction]


class AuthorityNotification(BaseModel):
    """A notification to one authority: its deadline (the 72-hour default unless set) and,
    once sent, when and under which reference."""

    model_config = ConfigDict(extra="forbid")
    authority: Annotated[str, Field(max_length=200)] | None = None
    deadline: AwareDatetime | None = None
    notified_at: AwareDatetime | None = None
    reference: Annotated[str, Field(max_length=200)] | None = None
    note: Text = ""


class AuthorityNotificationOut(BaseModel):
    jurisdiction: Jurisdiction
    authority: str
    deadline: datetime | None  # None: the 72-hour default (see `deadlines`)
    notified_at: datetime | None
    reference: str | None
    note: str


class DeadlineOut(BaseModel):
    jurisdiction: Jurisdiction
    authority: str
    deadline: datetime
    notified_at: datetime | None
    reference: str | None
    seconds_left: int | None  # None once notified
    overdue: bool  # past the deadline and not notified
    late: bool  # notified after the deadline (Art. 33(1): give the reasons for the delay)


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    incident_id: uuid.UUID
    version: int
    recorded_at: datetime
    recorded_by: str
    change_note: str
    title: str
    summary: str
    status: str
    detected_at: datetime
    aware_at: datetime
    occurred_at: datetime | None
    contained_at: datetime | None
    nature: list[str]
    data_categories: list[str]
    people_count: int | None
    people_estimated: bool
    records_count: int | None
    records_estimated: bool
    jurisdictions: list[str]
    consequences: str
    measures_taken: str
    measures_planned: str
    advice: str
    severity_dpc: float | None
    severity_ei: float | None
    severity_cb: float | None
    severity: str | None
    notify_authority: bool | None
    notify_people: bool | None
    decision_reason: str
    authority_notifications: list[AuthorityNotificationOut]


class IncidentView(BaseModel):
    """An incident's current version with its deadline clock and its e-mails' counts."""

    incident: IncidentOut
    deadlines: list[DeadlineOut]
    overdue: bool
    emails: dict[str, int]  # queued, sent, failed


class IncidentList(BaseModel):
    items: list[IncidentView]


class IncidentHistory(BaseModel):
    items: list[IncidentOut]


class AffectedUser(BaseModel):
    id: uuid.UUID
    email: str | None
    handle: str | None


class AffectedUsers(BaseModel):
    category: DataCategory
    since: datetime | None
    until: datetime
    count: int
    reachable: int  # with an e-mail address to write to
    items: list[AffectedUser]


class NotifyPeople(BaseModel):
    """Whom to tell: the people the affected-users query finds."""

    model_config = ConfigDict(extra="forbid")
    category: DataCategory
    since: AwareDatetime | None = None
    until: AwareDatetime


class NotifyResult(BaseModel):
    queued: int
    already_queued: int
    unreachable: int


class EmailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    user_id: uuid.UUID | None
    to_address: str
    subject: str
    incident_version: int
    queued_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


class EmailList(BaseModel):
    items: list[EmailOut]


class SubprocessorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=120)]
    purpose: Annotated[str, Field(min_length=1, max_length=2000)]
    data_categories: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1)]
    location: Annotated[str, Field(min_length=1, max_length=200)]
    transfer_mechanism: Annotated[str, Field(min_length=1, max_length=200)]
    added_on: AwareDatetime | None = None  # today unless given
    note: Annotated[str, Field(max_length=2000)] = ""


class SubprocessorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    purpose: str
    data_categories: list[str]
    location: str
    transfer_mechanism: str
    added_on: datetime


class SubprocessorChangeOut(SubprocessorOut):
    change: str
    changed_at: datetime
    note: str


class GrievanceOfficer(BaseModel):
    name: str
    email: str


class SubprocessorPublication(BaseModel):
    """The public JSON (V4): the list, its change log and whom to write to."""

    updated_at: datetime | None
    subprocessors: list[SubprocessorOut]
    changes: list[SubprocessorChangeOut]
    grievance_officer: GrievanceOfficer
    privacy_contact: str
