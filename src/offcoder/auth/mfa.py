"""A second factor (A5): TOTP (RFC 6238) with one-time recovery codes.

Enrolment stores a fresh secret sealed with the keyring (R2); the first correct code confirms it
and yields ten recovery codes, shown once and stored only as SHA-256 (each is 80 random bits, so
a fast hash is enough: there is nothing to guess from). Verifying a code marks the device session
as having proved a second factor: its access tokens, now and after every refresh, carry
`amr: ["oauth", "mfa"]`.

A code is accepted for the current 30-second step or the one before or after (clock drift), and
only for a step later than the last one accepted: a code cannot be replayed, not even within its
window. Five wrong codes lock verification for five minutes; every attempt is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.auth.models import DeviceSession, MfaRecoveryCode, MfaTotp
from offcoder.context import AppContext
from offcoder.crypto.bindings import mfa_totp_secret
from offcoder.db.base import utcnow
from offcoder.problems import CommitThenRefuse, Conflict, Problem
from offcoder.users.models import User

ISSUER = "OffCoder"
STEP_S = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)


class MfaRefused(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "mfa-refused", detail)


class MfaLocked(Problem):
    def __init__(self, seconds: int) -> None:
        super().__init__(
            429,
            "mfa-locked",
            f"Too many wrong codes; try again in {seconds} s.",
            headers={"retry-after": str(max(seconds, 1))},
        )


@dataclass
class Enrolment:
    secret: str
    otpauth_uri: str


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(10)  # 80 bits
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def _matching_step(secret: str, code: str, after: int | None, now: float) -> int | None:
    """The step `code` belongs to, within the drift window and later than `after`."""
    totp = pyotp.TOTP(secret, interval=STEP_S)
    current = int(now // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


async def enrol(session: AsyncSession, ctx: AppContext, user_id: uuid.UUID) -> Enrolment:
    """A new secret for the caller (replacing an unconfirmed one); 409 once MFA is on."""
    factor = await session.get(MfaTotp, user_id, with_for_update=True)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("A second factor is already set up for this account.")
    secret = pyotp.random_base32()
    sealed = ctx.keyring.seal_text(secret, mfa_totp_secret(user_id))
    if factor is None:
        session.add(MfaTotp(user_id=user_id, secret_enc=sealed, failures=0))
    else:
        factor.secret_enc, factor.last_step, factor.failures = sealed, None, 0
    handle = await session.scalar(select(User.handle).where(User.id == user_id))
    label = handle or str(user_id)
    await record(
        session, "auth.mfa.enrol", actor_id=user_id, actor_kind=ActorKind.user, target="mfa"
    )
    uri = pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(name=label, issuer_name=ISSUER)
    return Enrolment(secret, uri)


async def confirm(
    session: AsyncSession, ctx: AppContext, user_id: uuid.UUID, code: str
) -> list[str]:
    """The first correct code turns the factor on and returns the recovery codes.

    Refusals are `CommitThenRefuse`, so the attempt's record commits with them.
    """
    factor = await session.get(MfaTotp, user_id, with_for_update=True)
    if factor is None:
        raise Conflict("Start with POST /v1/auth/mfa/totp.")
    if factor.confirmed_at is not None:
        raise Conflict("The second factor is already confirmed.")
    refusal = _locked(factor)
    if refusal is not None:
        raise refusal
    secret = ctx.keyring.open_text(factor.secret_enc, mfa_totp_secret(user_id))
    step = _matching_step(secret, code, factor.last_step, time.time())
    if step is None:
        raise CommitThenRefuse(await _failed(session, factor, user_id, "auth.mfa.confirm_failed"))
    factor.confirmed_at, factor.last_step, factor.failures = utcnow(), step, 0
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for recovery in codes:
        session.add(MfaRecoveryCode(user_id=user_id, code_hash=_digest(recovery)))
    await record(
        session, "auth.mfa.confirmed", actor_id=user_id, actor_kind=ActorKind.user, target="mfa"
    )
    return codes


async def verify(
    session: AsyncSession,
    ctx: AppContext,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    code: str | None,
    recovery_code: str | None,
) -> str:
    """Prove the second factor for this device session: a new access token with `mfa`."""
    factor = await session.get(MfaTotp, user_id, with_for_update=True)
    if factor is None or factor.confirmed_at is None:
        raise Conflict("No second factor is set up for this account.")
    refusal = _locked(factor)
    if refusal is not None:
        raise refusal
    method = "totp"
    if code is not None:
        secret = ctx.keyring.open_text(factor.secret_enc, mfa_totp_secret(user_id))
        step = _matching_step(secret, code, factor.last_step, time.time())
        if step is None:
            raise CommitThenRefuse(
                await _failed(session, factor, user_id, "auth.mfa.verify_failed")
            )
        factor.last_step = step
    else:
        method = "recovery_code"
        stored = await session.scalar(
            select(MfaRecoveryCode)
            .where(
                MfaRecoveryCode.user_id == user_id,
                MfaRecoveryCode.code_hash == _digest((recovery_code or "").strip().lower()),
                MfaRecoveryCode.used_at.is_(None),
            )
            .with_for_update()
        )
        if stored is None:
            raise CommitThenRefuse(
                await _failed(session, factor, user_id, "auth.mfa.verify_failed")
            )
        stored.used_at = utcnow()
    factor.failures = 0
    device = await session.get(DeviceSession, session_id)
    if device is None:
        raise CommitThenRefuse(
            Problem(401, "unauthorized", "The session of this access token has ended.")
        )
    device.mfa_at = utcnow()
    await record(
        session,
        "auth.mfa.verified",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"device_session:{session_id}",
        details={"method": method},
    )
    return ctx.signer.issue(user_id, session_id, ["oauth", "mfa"])


def _locked(factor: MfaTotp) -> Problem | None:
    if factor.locked_until is not None and factor.locked_until > utcnow():
        return MfaLocked(int((factor.locked_until - utcnow()).total_seconds()) + 1)
    return None


async def _failed(
    session: AsyncSession, factor: MfaTotp, user_id: uuid.UUID, action: str
) -> Problem:
    factor.failures += 1
    locked = factor.failures >= MAX_FAILURES
    if locked:
        factor.failures, factor.locked_until = 0, utcnow() + LOCKOUT
    await record(
        session,
        action,
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target="mfa",
        details={"locked": locked},
    )
    if locked:
        return MfaLocked(int(LOCKOUT.total_seconds()))
    return MfaRefused("The code is not valid (or was already used).")
