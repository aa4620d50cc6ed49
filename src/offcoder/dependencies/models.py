from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, TimestampMixin, utcnow


class DependencyLayer(TimestampMixin, Base):
    """A project's installed packages of one ecosystem, kept between its jobs.

    The layer its jobs mount is the volume built by `install_job_id` (named after it), from the
    manifest whose hash is `manifest_sha256`. A rebuild goes into a new volume
    (`building_job_id`) and replaces the layer only when it succeeds, so a failed install
    leaves the layer as it was (`failed_job_id` says which install failed; its log is that
    job's). `size_bytes` is what the layer takes on the runtime host's disk.
    """

    __tablename__ = "dependency_layers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "user_id"], ["projects.id", "projects.user_id"], ondelete="CASCADE"
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ecosystem: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    install_job_id: Mapped[uuid.UUID | None]
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    built_at: Mapped[datetime | None]
    building_job_id: Mapped[uuid.UUID | None]
    building_manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    failed_job_id: Mapped[uuid.UUID | None]


class DependencyVolume(Base):
    """A layer volume this deployment asked the proxy for, until it is removed.

    The workers' own bookkeeping, reached by the system role only: it is how the reconciler
    knows a layer volume on a shared engine is ours after its project, and with it every row
    naming the volume, was deleted. It holds no user data: a job id and when it was made.
    """

    __tablename__ = "dependency_volumes"

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
