from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    """A person. There is no password anywhere (A1): identities prove who they are."""

    __tablename__ = "users"

    handle: Mapped[str | None] = mapped_column(String(39), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    # Set only when a provider asserted the address as verified (A2 relies on it later).
    email_verified_at: Mapped[datetime | None]
    # Set by a support admin (admin dashboard): the user's sessions were ended then and no new
    # one opens until it is cleared (auth/service.suspend_user, open_device_session).
    suspended_at: Mapped[datetime | None]

    @property
    def email_verified(self) -> bool:
        """Whether a provider asserted `email` as verified."""
        return self.email_verified_at is not None
