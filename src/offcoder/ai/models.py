from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class AIKey(Base):
    """A user's own AI provider key (BYOK, S3), encrypted and bound to its owner (R2)."""

    __tablename__ = "ai_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AIOutput(Base):
    """A reply the gateway delivered (S2: every output can be flagged by its `id`). Kept with its
    text, under the user's RLS, so that a flagged output can be reviewed."""

    __tablename__ = "ai_outputs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SafetyEvent(Base):
    """A blocked prompt or output (S1): who, when, which category and rule, and a SHA-256 of
    the text. The text itself is kept only outside the CSAM category, for review."""

    __tablename__ = "ai_safety_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(8))  # "prompt" | "output"
    category: Mapped[str] = mapped_column(String(16), index=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    text_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AIFlag(Base):
    """A user's report of an AI output (S2), waiting in the safety review queue until an admin
    with the safety role upholds or dismisses it."""

    __tablename__ = "ai_flags"
    # One open flag per output and reporter (a report repeated returns it; migration 0008).
    __table_args__ = (
        Index(
            "uq_ai_flags_open",
            "output_id",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    output_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_outputs.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | upheld | dismissed
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[uuid.UUID | None]
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SafetyExemplar(Base):
    """A phrase an upheld flag taught the classifier: from then on a text containing it (after
    normalisation) is blocked in `category`."""

    __tablename__ = "ai_safety_exemplars"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    phrase: Mapped[str] = mapped_column(Text)
    flag_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_flags.id", ondelete="SET NULL")
    )
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
