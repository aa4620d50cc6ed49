from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class ReservedPreviewLabel(Base):
    """Every preview label ever given, by its hash, kept after its project is gone: a label is
    never given twice, so an old link cannot lead to someone else's preview (review F6). Only
    the hash stays once the project is deleted: the label holds the owner's handle."""

    __tablename__ = "preview_labels"

    label_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Several for one project when a submit failed after reserving a random-suffixed label;
    # only `Project.preview_label` is ever served.
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PreviewShare(Base):
    """Who may open a project's preview of one port: its owner alone unless a row says more
    (`owner`, `authenticated`: anyone signed in to OffCoder, `public`: anyone). The owner's to
    set, under RLS."""

    __tablename__ = "preview_shares"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "user_id"], ["projects.id", "projects.user_id"], ondelete="CASCADE"
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    level: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PreviewPass(Base):
    """A browser's way into one project's preview: a one-minute, single-use ticket minted on
    the API's origin for a signed-in owner, then the session it is exchanged for on the preview
    host (its cookie). Only a hash of the secret is stored; the system role alone reads them."""

    __tablename__ = "preview_passes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(8))  # "ticket" | "session" | "link"
    secret_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # A session opened by a share link ends with it: revoking the link deletes its sessions.
    link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("preview_passes.id", ondelete="CASCADE"), index=True
    )
    port: Mapped[int | None] = mapped_column(Integer)  # a link's port
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
