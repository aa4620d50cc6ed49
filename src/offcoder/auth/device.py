"""The device authorization grant (RFC 8628, decision 0032): sign in a terminal that has no
browser (a remote machine over SSH) from any browser, a phone's included.

1. The terminal asks for a pair of codes (`start`): a device code, 256 random bits it keeps to
   itself, and a short user code it shows to the person with the verification address.
2. The person, signed in to the web console, enters the user code there, checks what asks for
   access (the device name, the requesting address's prefix, when it asked) and approves or
   denies it (`decide`): approving binds the request to that person's account.
3. Meanwhile the terminal polls the token endpoint with its device code (`exchange`): pending,
   slow down, denied, expired, or, once, the tokens of a new device session.

Both codes are kept only as their SHA-256. The user code is short enough to type on a phone, so
finding a request by it is rate-limited per person and per address (console/device.py), works
only while the request is pending and young, and yields nothing but the chance to approve it
for one's own account: tokens go only to whoever holds the device code.

Sign-in runs before anyone is known, so every function here works in a system-role transaction
handed in by its caller (the table is forced RLS, system role only: migration 0018).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth.models import DeviceAuthorization
from offcoder.auth.service import (
    PURGE_BATCH,
    GrantError,
    IssuedTokens,
    ip_prefix,
    open_device_session,
)
from offcoder.auth.tokens import DEVICE_CODE_PREFIX, digest, new_opaque
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.problems import CommitThenRefuse, Problem

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
# Consonants only, upper case, without vowels (no words), nor I, O, U or Y and their look-alikes
# 1 and 0 (RFC 8628 section 6.1's "BCDFGHJKLMNPQRSTVWXZ"): 20^8, about 2^34.6 codes.
ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP_S = 5
# A poll this much earlier than the interval still counts as on time: a client that sleeps the
# interval between polls must not be told to slow down because one answer took longer.
POLL_LEEWAY = timedelta(milliseconds=500)
VERIFICATION_PATH = "/console/device"


class DeviceStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    denied = "denied"


@dataclass(frozen=True)
class DeviceCodes:
    """RFC 8628 section 3.2's answer, but for the addresses (`as_response` adds them)."""

    device_code: str
    user_code: str  # as shown: XXXX-XXXX
    expires_in: int
    interval: int

    def as_response(self, public_url: str) -> dict[str, object]:
        verification = public_url.rstrip("/") + VERIFICATION_PATH
        return {
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": verification,
            "verification_uri_complete": f"{verification}?user_code={self.user_code}",
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


def new_user_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LENGTH))


def shown(code: str) -> str:
    """A user code as people read it: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def normalized(typed: str) -> str | None:
    """A user code as typed (any case, with or without the hyphen or spaces), or None when it
    cannot be one (so it is never looked up)."""
    cleaned = "".join(c for c in typed.upper() if c not in " -\t")
    if len(cleaned) != USER_CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


async def purge_expired(session: AsyncSession) -> None:
    """Delete a bounded batch of expired requests (at each start; the sign-in purge catches the
    rest). An expired request answers `expired_token` while its row lasts and `invalid_grant`
    after: either way the client must start again."""
    expired = (
        select(DeviceAuthorization.device_code_hash)
        .where(DeviceAuthorization.expires_at < utcnow())
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash.in_(expired))
        .execution_options(synchronize_session=False)
    )


async def start(
    session: AsyncSession, ctx: AppContext, *, device_name: str, ip: str | None
) -> DeviceCodes:
    """A new device authorization request, pending for `device_code_ttl_s`."""
    await purge_expired(session)
    for _ in range(5):
        user_code = new_user_code()
        taken = await session.scalar(
            select(DeviceAuthorization.device_code_hash).where(
                DeviceAuthorization.user_code_hash == digest(user_code)
            )
        )
        if taken is None:
            break
    else:  # five collisions in a space of 2^34.6: the table is being flooded
        raise Problem(503, "try-again", "No device code is free right now; try again shortly.")
    device_code = new_opaque(DEVICE_CODE_PREFIX)
    now = utcnow()
    settings = ctx.settings
    session.add(
        DeviceAuthorization(
            device_code_hash=digest(device_code),
            user_code_hash=digest(user_code),
            device_name=device_name,
            ip_prefix=ip_prefix(ip),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.device_code_ttl_s),
            interval_s=settings.device_code_interval_s,
            status=DeviceStatus.pending.value,
        )
    )
    return DeviceCodes(
        device_code=device_code,
        user_code=shown(user_code),
        expires_in=settings.device_code_ttl_s,
        interval=settings.device_code_interval_s,
    )


async def pending_request(
    session: AsyncSession, typed: str, *, for_update: bool = False
) -> DeviceAuthorization | None:
    """The pending, unexpired request of a user code as typed; None for anything else (unknown,
    decided, expired: the person is told the same sentence for all of them)."""
    code = normalized(typed)
    if code is None:
        return None
    query = select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == digest(code))
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None or row.status != DeviceStatus.pending or row.expires_at <= utcnow():
        return None
    return row


async def decide(
    session: AsyncSession,
    typed: str,
    *,
    user_id: uuid.UUID,
    provider: str,
    approve: bool,
) -> DeviceAuthorization | None:
    """Approve (for `user_id`, whose session signed in with `provider`) or deny a pending
    request; None when the code finds no pending request (it was decided already, expired, or
    never existed)."""
    row = await pending_request(session, typed, for_update=True)
    if row is None:
        return None
    row.status = (DeviceStatus.approved if approve else DeviceStatus.denied).value
    row.user_id = user_id
    row.provider = provider
    row.decided_at = utcnow()
    return row


class SlowDown(Problem):
    """RFC 8628's `slow_down`, with the interval the client must keep from now on."""

    def __init__(self, interval: int) -> None:
        super().__init__(
            400,
            "slow-down",
            f"Polling too fast: wait {interval} seconds between polls.",
            error="slow_down",
            interval=interval,
        )


async def exchange(
    session: AsyncSession, ctx: AppContext, device_code: str, ip: str | None
) -> IssuedTokens:
    """Answer a poll: the tokens of a new device session once the request is approved, exactly
    once; else RFC 8628 section 3.5's error. Refusals are `CommitThenRefuse`: the poll's time
    and a slowed interval commit with them."""
    row = await session.scalar(
        select(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash == digest(device_code))
        .with_for_update()
    )
    now = utcnow()
    if row is None:
        raise CommitThenRefuse(GrantError("The device code is unknown."))
    if row.used_at is not None:
        raise CommitThenRefuse(GrantError("The device code was already used."))
    if row.expires_at <= now:
        raise CommitThenRefuse(
            GrantError("The device code has expired; start again.", "expired_token")
        )
    if row.status == DeviceStatus.denied:
        raise CommitThenRefuse(GrantError("The sign-in was denied.", "access_denied"))
    if row.status == DeviceStatus.pending:
        too_soon = (
            row.last_polled_at is not None
            and now - row.last_polled_at < timedelta(seconds=row.interval_s) - POLL_LEEWAY
        )
        row.last_polled_at = now
        if too_soon:
            row.interval_s += SLOW_DOWN_STEP_S
            raise CommitThenRefuse(SlowDown(row.interval_s))
        raise CommitThenRefuse(
            GrantError("The sign-in is waiting for approval.", "authorization_pending")
        )
    # Both set by `decide`.
    assert row.user_id is not None
    assert row.provider is not None
    row.used_at = now
    return await open_device_session(
        session, ctx, row.user_id, device_name=row.device_name, provider=row.provider, ip=ip
    )
