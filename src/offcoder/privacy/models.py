"""Policy versions and consents (V3): what operators publish, and what each user accepted or
withdrew, when, and which version."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class PolicyVersion(Base):
    """One published version of a policy document (`terms`, `privacy`). The newest published
    version of a document is its current one; older ones stay, since consents name them."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("document", "version", name="document"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    document: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(200))


class Consent(Base):
    """One acceptance of one version; withdrawal sets `withdrawn_at` and keeps the row, so the
    record of what was agreed, and until when, survives."""

    __tablename__ = "consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    document: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]


class ExportStatus(StrEnum):
    queued = "queued"  # asked for; a worker takes it on its next round
    running = "running"
    ready = "ready"  # the archive can be downloaded until expires_at
    failed = "failed"


class DataExportArchive(Base):
    """A user's export archive (V3): asked for through the API, made by a worker, downloadable
    for a day, then purged (the row with its bytes). The archive lives in the row: the API and
    the worker may run on different hosts, and the purge is one DELETE."""

    __tablename__ = "data_exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.queued.value)
    percent: Mapped[int] = mapped_column(default=0)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    size: Mapped[int | None] = mapped_column(BigInteger)
    archive: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
