from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow
from offcoder.kit.columns import StrEnumColumn
from offcoder.runtime.policy import NetworkMode


class JobStatus(StrEnum):
    queued = "queued"
    starting = "starting"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


class JobKind(StrEnum):
    """What a job is for: a command of its owner's, or the install of the project's
    dependency layer (its command is ours, and it builds the layer later runs mount)."""

    run = "run"
    install = "install"


FINISHED = frozenset(
    {JobStatus.succeeded, JobStatus.failed, JobStatus.timed_out, JobStatus.cancelled}
)


class Job(Base):
    """One run of a command in a sandbox. The row is also the queue entry (status `queued`)."""

    __tablename__ = "jobs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "user_id"], ["projects.id", "projects.user_id"], ondelete="CASCADE"
        ),
        # Claiming and the per-user limits: by status, then person, oldest first (0013).
        Index("ix_jobs_status_user", "status", "user_id", "created_at"),
        # When a person was last served, and this month's usage (0013).
        Index("ix_jobs_user_finished", "user_id", "finished_at"),
        # The retention purge's ended jobs whose log is still kept (0013).
        Index("ix_jobs_log_kept", "finished_at", postgresql_where=text("log_purged_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    status: Mapped[JobStatus] = mapped_column(
        StrEnumColumn(JobStatus, 16), default=JobStatus.queued
    )
    kind: Mapped[JobKind] = mapped_column(StrEnumColumn(JobKind, 16), default=JobKind.run)
    image: Mapped[str] = mapped_column(String(32))
    command: Mapped[list[str]] = mapped_column(JSONB)
    timeout_s: Mapped[int] = mapped_column(Integer)
    network: Mapped[NetworkMode] = mapped_column(StrEnumColumn(NetworkMode, 16))
    ports: Mapped[list[int]] = mapped_column(JSONB, default=list)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # Why a job failed, timed out or was cancelled, in a word a client can switch on.
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    # Who asked the cancel: `owner` or `operator` (jobs.outcome.Canceller), told in `detail`.
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    worker_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]
    container_id: Mapped[str | None] = mapped_column(String(80))
    usage: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    log_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    preview_url: Mapped[str | None] = mapped_column(String(255))
    # Preview mode: container port -> the 127.0.0.1 port the engine published it on.
    published_ports: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    # Charging: the price and reservation taken at submit (so a price change later does not
    # touch a job already accepted), and what the job cost once settled.
    charge_currency: Mapped[str | None] = mapped_column(String(3))
    price_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    reserved_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    charged_amount: Mapped[int | None] = mapped_column(BigInteger)
    # When the job's output was deleted, its log kept for `log_retention_days` after it ended.
    log_purged_at: Mapped[datetime | None]

    @property
    def usage_report(self) -> dict[str, Any]:
        """What the job used, as the API shows it: the worker's measures and the output kept."""
        return {**(self.usage or {}), "output_bytes": self.log_bytes}

    @property
    def charge(self) -> Charge | None:
        """The price and hold taken at submit, and the cost once settled; None if it ran free."""
        if not self.charge_currency or self.price_per_minute is None:
            return None
        return Charge(
            self.charge_currency, self.price_per_minute, self.reserved_amount, self.charged_amount
        )


@dataclass(frozen=True)
class Charge:
    """What a charged job holds or was charged, in the currency's minor units."""

    currency: str
    price_per_minute: int
    reserved: int
    charged: int | None


class JobLogChunk(Base):
    """A piece of a job's output. `seq` starts at 1 and grows by 1 per chunk, per job."""

    __tablename__ = "job_log_chunks"
    __table_args__ = (ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),)

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    stream: Mapped[str] = mapped_column(String(6))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
