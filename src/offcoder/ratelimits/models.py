from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base


class RateLimitCounter(Base):
    """One fixed window of one limit for one client address or user (the `limits` key), as
    `storage.PostgresCounters` counts it. UNLOGGED (migration 0015): counts need no crash
    safety, and skipping the write-ahead log is most of what a hit costs."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    # The hits counted in this window (refused ones too: a client that keeps calling while
    # refused stays refused until the window ends).
    hits: Mapped[int] = mapped_column(BigInteger)
    # The window ends here (the database's clock, so replicas with skewed clocks agree); a hit
    # after it starts a new window. Indexed for the purge of windows nobody came back to.
    expires_at: Mapped[datetime] = mapped_column(index=True)
