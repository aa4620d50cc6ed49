"""Sign-in rows are deleted once they can no longer change an answer (docs/api.md "Rate
limits", review F8): sign-in requests, one-time codes, link codes and device authorization
requests past their expiry, and refresh tokens that can neither be redeemed nor reveal a theft.

An expired request or code is refused exactly as an unknown one, so deleting it changes no
answer. A used refresh token of a live session is kept even past its expiry: presented again it
still ends its session as a theft (A4). It goes with its session's end (logout, revocation,
reuse, the absolute lifetime), after which every token of the session is refused whatever it
is. Each sign-in start already deletes a small batch of expired requests and link codes
(`service.purge_expired`); this purge catches the rest, as a worker's periodic task
(worker/host.py) and as `offcoder auth purge`. It runs in the system role across users, each
batch its own short transaction; workers purging at once skip each other's rows.

Worker code: imports nothing of the token signer (tests/jobs/test_worker_host.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, exists, func, or_, select

from offcoder.auth.models import (
    AuthorizationCode,
    AuthorizationRequest,
    DeviceAuthorization,
    DeviceSession,
    IdentityLinkCode,
    RefreshToken,
)
from offcoder.db.base import Base, utcnow
from offcoder.db.engine import Database

# How often each worker runs the purge (and once at its start). Sign-in requests live 10
# minutes by default, so with the sign-in limit an address holds at most about 20 minutes'
# worth of rows.
PURGE_EVERY_S = 600.0
PURGE_BATCH = 1000


@dataclass(frozen=True)
class Purged:
    """Rows a purge deleted (or would delete), by table."""

    sign_in_requests: int = 0
    authorization_codes: int = 0
    link_codes: int = 0
    refresh_tokens: int = 0
    device_codes: int = 0

    def __str__(self) -> str:
        return ", ".join(
            f"{getattr(self, f.name)} {f.name.replace('sign_in', 'sign-in').replace('_', ' ')}"
            for f in fields(self)
        )


def _doomed(now: datetime) -> list[tuple[type[Base], Any, ColumnElement[bool]]]:
    """Each table with its key and which of its rows may go."""
    session_over = exists().where(
        DeviceSession.id == RefreshToken.session_id,
        or_(DeviceSession.ended_at.is_not(None), DeviceSession.expires_at <= now),
    )
    return [
        (
            AuthorizationRequest,
            AuthorizationRequest.state_hash,
            AuthorizationRequest.expires_at < now,
        ),
        (AuthorizationCode, AuthorizationCode.code_hash, AuthorizationCode.expires_at < now),
        (IdentityLinkCode, IdentityLinkCode.code_hash, IdentityLinkCode.expires_at < now),
        (
            RefreshToken,
            RefreshToken.id,
            or_(
                # Never used and expired: nobody can redeem it, and it was never rotated, so
                # presenting it reveals nothing.
                (RefreshToken.used_at.is_(None) & (RefreshToken.expires_at <= now)),
                session_over,
            ),
        ),
        # Expired device authorization requests, decided or not, used or not: an expired
        # device code is refused whatever its state (auth/device.exchange).
        (
            DeviceAuthorization,
            DeviceAuthorization.device_code_hash,
            DeviceAuthorization.expires_at < now,
        ),
    ]


async def purge_expired(database: Database) -> Purged:
    """Delete every sign-in row that can no longer change an answer, batch by batch."""
    now = utcnow()
    counts = []
    for table, key, condition in _doomed(now):
        total = 0
        while True:
            async with database.system_session() as s:
                batch = (
                    select(key)
                    .where(condition)
                    .limit(PURGE_BATCH)
                    .with_for_update(skip_locked=True)
                )
                result = await s.execute(
                    delete(table).where(key.in_(batch)).execution_options(synchronize_session=False)
                )
            deleted = cast(CursorResult[Any], result).rowcount
            total += deleted
            if deleted < PURGE_BATCH:
                break
        counts.append(total)
    return Purged(*counts)


async def would_purge(database: Database) -> Purged:
    """What `purge_expired` would delete now, deleting nothing."""
    now = utcnow()
    async with database.system_session() as s:
        counts = [
            int(await s.scalar(select(func.count()).select_from(table).where(condition)) or 0)
            for table, _, condition in _doomed(now)
        ]
    return Purged(*counts)
