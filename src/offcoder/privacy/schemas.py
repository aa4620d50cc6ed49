"""The export document: everything we hold about a person, minus anything secret (R3, V3).

Secret values, AI keys and provider tokens are not part of any model here, so no code path can
put them into an export.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from offcoder.privacy.consent import Document


class PolicyVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    document: str
    version: str
    url: str | None
    summary: str | None
    published_at: datetime


class PolicyList(BaseModel):
    items: list[PolicyVersionOut]


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    document: str
    version: str
    accepted_at: datetime
    withdrawn_at: datetime | None


class ConsentState(BaseModel):
    current: list[PolicyVersionOut]
    missing: list[PolicyVersionOut]
    consents: list[ConsentOut]


class ConsentAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: Document
    version: StrictStr = Field(min_length=1, max_length=64)


class AccountExport(BaseModel):
    id: uuid.UUID
    handle: str | None
    display_name: str | None
    email: str | None
    email_verified: bool
    created_at: datetime
    updated_at: datetime


class IdentityExport(BaseModel):
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    created_at: datetime


class DeviceSessionExport(BaseModel):
    id: uuid.UUID
    device_name: str
    provider: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    ip_prefix: str | None


class FileExport(BaseModel):
    path: str
    size: int
    sha256: str
    created_at: datetime
    updated_at: datetime


class SecretNameExport(BaseModel):
    name: str
    created_at: datetime
    updated_at: datetime


class ProjectExport(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime
    files: list[FileExport]
    secrets: list[SecretNameExport]


class AIKeyExport(BaseModel):
    provider: str
    last4: str
    created_at: datetime
    updated_at: datetime


class MfaExport(BaseModel):
    """The second factor as held: its state and times, never the secret or the codes."""

    totp: str  # "off", "pending" (enrolled, not confirmed) or "on"
    confirmed_at: datetime | None = None
    recovery_codes_left: int = 0


class LedgerLineExport(BaseModel):
    id: uuid.UUID
    kind: str
    reference: str | None
    balance_after: int
    created_at: datetime


class TopupExport(BaseModel):
    id: uuid.UUID
    provider: str
    amount: int
    currency: str
    status: str
    amount_refunded: int
    created_at: datetime


class WalletExport(BaseModel):
    balance: int
    reserved: int
    currency: str
    transactions: list[LedgerLineExport]
    topups: list[TopupExport]


class DataExport(BaseModel):
    exported_at: datetime
    account: AccountExport
    identities: list[IdentityExport]
    device_sessions: list[DeviceSessionExport]
    mfa: MfaExport
    projects: list[ProjectExport]
    ai_keys: list[AIKeyExport]
    wallet: WalletExport | None = None
    # Every acceptance of a policy version, withdrawn ones included (V3).
    consents: list[ConsentOut] = []


class ExportOut(BaseModel):
    """An export archive's state (V3): poll until `status` is `ready`, then get `download`."""

    id: uuid.UUID
    status: str
    percent: int
    requested_at: datetime
    finished_at: datetime | None
    expires_at: datetime
    size: int | None
    error: str | None
    download: str | None
