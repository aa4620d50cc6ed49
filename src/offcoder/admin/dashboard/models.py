from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, IdMixin


class AdminSession(IdMixin, Base):
    """A dashboard session, server-side (A5, O4): the browser holds an opaque token whose
    SHA-256 is `token_hash`. It lives while its device session (the sign-in through the
    broker) lives, `admin_session_idle_s` after its last request and never longer than
    `admin_session_absolute_s`; `factor_at` is when the second factor was last proved here."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("device_sessions.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    factor: Mapped[str | None] = mapped_column(String(16))
    factor_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # The challenge of the WebAuthn ceremony in progress in this session (one at a time).
    webauthn_challenge: Mapped[bytes | None] = mapped_column(LargeBinary(64))


class WebAuthnCredential(IdMixin, Base):
    """An admin's security key or passkey (A5): its public key, verified by py_webauthn."""

    __tablename__ = "admin_webauthn_credentials"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
