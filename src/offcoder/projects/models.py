from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, IdMixin, TimestampMixin, utcnow


class Project(IdMixin, TimestampMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        UniqueConstraint("user_id", "slug", name="uq_projects_user_slug"),
        # Lets child rows reference (id, user_id), so a file can never belong to a project of
        # another user even if application code got the owner wrong.
        UniqueConstraint("id", "user_id", name="uq_projects_id_user"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(63))
    # Its preview host's first label (`<handle>--<slug>`, previews/labels.py), given at its
    # first preview and never changed: links stay the project's when its owner's handle changes.
    preview_label: Mapped[str | None] = mapped_column(String(63), unique=True)
    # The shell line the console's Run button runs (0017); NULL until its owner sets one.
    run_command: Mapped[str | None] = mapped_column(String(4096))


class ProjectFile(Base):
    __tablename__ = "project_files"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "user_id"], ["projects.id", "projects.user_id"], ondelete="CASCADE"
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectSecret(Base):
    """A project's secret; its value is AES-256-GCM ciphertext bound to this row (R2)."""

    __tablename__ = "project_secrets"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "user_id"], ["projects.id", "projects.user_id"], ondelete="CASCADE"
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
