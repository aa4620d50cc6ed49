"""Top-ups, refunds, grants and plans: where outside money meets the ledger.

Crediting happens only from a signed provider event, exactly once per payment whatever the
order and number of deliveries: each payment's handling locks its top-up row, and the ledger
key `topup:<id>:credit` makes a second credit a replay. A refund event implies the payment, so
a refund that arrives before the payment's own event credits the payment first. Every lock on a
top-up or a refund is taken through `payments.locks`, in its one order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.payments import locks
from offcoder.payments.models import (
    EventFlag,
    PlanSource,
    PlanStatus,
    Refund,
    RefundStatus,
    Topup,
    TopupStatus,
    UserPlan,
)
from offcoder.problems import Conflict, InvalidInput, NotFound, Problem
from offcoder.wallet import ledger
from offcoder.wallet.ledger import IdempotencyKeyReused, Posting, check_amount, request_hash
from offcoder.wallet.models import Account, LedgerEntry, LedgerTransaction, Wallet

log = structlog.get_logger(__name__)


class ProviderNotConfigured(Problem):
    def __init__(self, provider: str, configured: list[str]) -> None:
        offered = ", ".join(configured) or "none"
        super().__init__(
            422,
            "payment-provider-not-configured",
            f"Payments through {provider!r} are not available on this server (available: "
            f"{offered}).",
            provider=provider,
        )


def check_currency(settings: Settings, currency: str) -> str:
    """The currency code in capitals, if this server accepts it (422 otherwise)."""
    code = currency.upper()
    if code not in {c.upper() for c in settings.currencies}:
        raise InvalidInput(
            f"Unknown currency {currency!r}; accepted: {', '.join(settings.currencies)}."
        )
    return code


# ---------------------------------------------------------------------------------- top-ups


@dataclass(frozen=True)
class TopupRequest:
    provider: str
    amount: int
    currency: str


async def begin_topup(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    request: TopupRequest,
    idempotency_key: str,
) -> Topup:
    """Our row for a top-up (or the earlier one for this key), before the provider is asked."""
    amount = check_amount(request.amount)
    if not settings.topup_min <= amount <= settings.topup_max:
        raise InvalidInput(
            f"A top-up is between {settings.topup_min} and {settings.topup_max} minor units."
        )
    fingerprint = request_hash(
        {"provider": request.provider, "amount": amount, "currency": request.currency}
    )
    earlier = await session.scalar(
        select(Topup).where(Topup.user_id == user_id, Topup.idempotency_key == idempotency_key)
    )
    if earlier is not None:
        if earlier.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        return earlier
    wallet = await ledger.open_wallet(session, user_id, request.currency)
    if wallet.currency != request.currency:
        raise InvalidInput(
            f"Your wallet holds {wallet.currency}: top up in {wallet.currency}.",
        )
    topup = Topup(
        id=uuid.uuid4(),
        user_id=user_id,
        provider=request.provider,
        amount=amount,
        currency=request.currency,
        status=TopupStatus.creating.value,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        amount_refunded=0,
    )
    session.add(topup)
    await session.flush()
    return topup


async def credit_payment(
    session: AsyncSession,
    topup: Topup,
    *,
    payment_id: str | None,
    amount: int,
    currency: str,
) -> EventFlag | None:
    """Credit a paid top-up (locked by the caller) once. Returns a flag when the event cannot
    be trusted to credit."""
    if amount != topup.amount or currency.upper() != topup.currency:
        log.warning("payment does not match its top-up", topup_id=str(topup.id))
        topup.failure = f"the provider reported {amount} {currency.upper()}"
        return EventFlag.amount_mismatch
    if payment_id and topup.provider_payment_id is None:
        topup.provider_payment_id = payment_id
    if topup.credited_at is not None:
        return None
    await ledger.post(
        session,
        topup.user_id,
        kind="topup",
        idempotency_key=f"topup:{topup.id}:credit",
        currency=topup.currency,
        postings=[
            Posting(Account.wallet, topup.amount),
            Posting(Account.clearing(topup.provider), -topup.amount),
        ],
        reference=f"topup:{topup.id}",
    )
    topup.status = TopupStatus.paid.value
    topup.credited_at = utcnow()
    topup.updated_at = utcnow()
    return None


async def _posted(session: AsyncSession, user_id: uuid.UUID, key: str) -> uuid.UUID | None:
    """The ledger transaction already written under `key`, if any."""
    return await session.scalar(
        select(LedgerTransaction.id).where(
            LedgerTransaction.user_id == user_id, LedgerTransaction.idempotency_key == key
        )
    )


async def debit_refund(
    session: AsyncSession, topup: Topup, refund: Refund, *, strict: bool = False
) -> EventFlag | None:
    """Take a refund out of the wallet (once: the key is the refund's). `strict` refuses (402)
    a refund the unspent balance cannot cover; otherwise (a refund already made on the
    provider's side) the part already spent or held for jobs is written off, the wallet never
    goes negative, and the flag `refund_exceeds_balance` asks a person to follow up."""
    key = f"refund:{refund.id}"
    if await _posted(session, topup.user_id, key) is not None:
        return None
    for attempt in range(3):
        wallet = await session.get(Wallet, topup.user_id, populate_existing=True)
        available = wallet.balance if wallet is not None else 0
        taken = refund.amount if strict else min(available, refund.amount)
        try:
            await ledger.post(
                session,
                topup.user_id,
                kind="refund",
                idempotency_key=key,
                currency=topup.currency,
                postings=[
                    Posting(Account.wallet, -taken),
                    Posting(Account.write_off, taken - refund.amount),
                    Posting(Account.clearing(topup.provider), refund.amount),
                ],
                reference=f"topup:{topup.id}",
                memo=refund.reason,
            )
            break
        except ledger.InsufficientFunds:
            if strict or attempt == 2:
                raise
            continue  # spent meanwhile: read the balance again
    topup.amount_refunded += refund.amount
    topup.updated_at = utcnow()
    return EventFlag.refund_exceeds_balance if taken < refund.amount else None


async def record_provider_refund(
    session: AsyncSession,
    topup: Topup,
    *,
    provider_refund_id: str,
    amount: int,
    our_refund_id: str | None,
) -> EventFlag | None:
    """A refund the provider reports about a top-up (locked by the caller): ours (found by the
    id we sent along) or one made on the provider's dashboard (recorded now). Debits the wallet
    once either way."""
    refund = await locks.reported_refund(session, topup, provider_refund_id, our_refund_id)
    if refund is not None and refund.topup_id != topup.id:
        return EventFlag.refund_mismatch
    if refund is None:
        if amount <= 0 or topup.amount_refunded + amount > topup.amount:
            return EventFlag.refund_exceeds_payment
        refund = Refund(
            id=uuid.uuid4(),
            topup_id=topup.id,
            user_id=topup.user_id,
            provider=topup.provider,
            amount=amount,
            currency=topup.currency,
            status=RefundStatus.succeeded.value,
            provider_refund_id=provider_refund_id,
            reason="refunded at the provider",
        )
        session.add(refund)
        await session.flush()
        return await debit_refund(session, topup, refund)
    if refund.provider_refund_id not in (None, provider_refund_id):
        # One of ours, but a second refund at the provider (a lost answer retried by hand):
        # money left twice while we took it once. Nothing automatic is safe: flag it.
        return EventFlag.duplicate_provider_refund
    refund.provider_refund_id = provider_refund_id
    if refund.status == RefundStatus.failed.value:
        return EventFlag.refund_reported_after_failure
    if refund.status != RefundStatus.succeeded.value:
        refund.status = RefundStatus.succeeded.value
        refund.updated_at = utcnow()
    return await debit_refund(session, topup, refund)


async def provider_refund_failed(
    session: AsyncSession, topup: Topup, *, provider_refund_id: str, our_refund_id: str | None
) -> EventFlag | None:
    """The provider says a refund of a top-up (locked by the caller) failed or was cancelled:
    whatever we took for it goes back."""
    refund = await locks.reported_refund(session, topup, provider_refund_id, our_refund_id)
    if refund is None or refund.topup_id != topup.id:
        return None  # never recorded as taken: nothing to give back
    await fail_refund(session, refund.id, "failed at the provider")
    return None


async def begin_refund(
    session: AsyncSession,
    topup_id: uuid.UUID,
    amount: object,
    reason: str | None,
    idempotency_key: str,
    admin_id: uuid.UUID,
) -> tuple[Topup, Refund, bool]:
    """An admin's refund (and whether this call made it), debited now, before the provider is
    asked, so the money cannot be spent meanwhile; a refund the provider refuses is reversed."""
    topup = await locks.topup(session, topup_id)
    if topup is None:
        raise NotFound("top-up")
    fingerprint = request_hash({"amount": amount, "topup": str(topup_id)})
    earlier = await session.scalar(
        select(Refund).where(Refund.topup_id == topup_id, Refund.idempotency_key == idempotency_key)
    )
    if earlier is not None:
        if earlier.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        return topup, earlier, False
    value = check_amount(amount)
    if topup.credited_at is None or topup.provider_payment_id is None:
        raise Conflict("This top-up has not been paid; there is nothing to refund.")
    refundable = topup.amount - topup.amount_refunded
    if value > refundable:
        raise InvalidInput(
            f"At most {refundable} {topup.currency} (minor units) of this top-up can still be "
            "refunded."
        )
    wallet = await session.get(Wallet, topup.user_id)
    if wallet is None or wallet.balance < value:
        raise Conflict(
            f"The user has {wallet.balance if wallet else 0} left unspent; a refund of {value} "
            "would take the wallet below zero."
        )
    refund = Refund(
        id=uuid.uuid4(),
        topup_id=topup.id,
        user_id=topup.user_id,
        provider=topup.provider,
        amount=value,
        currency=topup.currency,
        status=RefundStatus.requested.value,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        reason=reason,
        requested_by=admin_id,
    )
    session.add(refund)
    await session.flush()
    await debit_refund(session, topup, refund, strict=True)
    return topup, refund, True


async def refund_made(
    session: AsyncSession, refund_id: uuid.UUID, provider_refund_id: str
) -> Refund:
    """The provider made our refund: record its id (unless its event recorded it first)."""
    locked = await locks.refund(session, refund_id)
    if locked is None:
        raise NotFound("refund")
    _, refund = locked
    refund.provider_refund_id = refund.provider_refund_id or provider_refund_id
    refund.status = RefundStatus.succeeded.value
    refund.updated_at = utcnow()
    return refund


async def fail_refund(session: AsyncSession, refund_id: uuid.UUID, failure: str) -> None:
    """The provider refused or later failed a refund: give back what was taken for it (once)."""
    locked = await locks.refund(session, refund_id)
    if locked is None:
        return
    topup, refund = locked
    if refund.status == RefundStatus.failed.value:
        return
    taken = await _posted(session, topup.user_id, f"refund:{refund.id}")
    if taken is not None:
        # The exact opposite of what was taken (a partial write-off included).
        entries = await session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.user_id == topup.user_id, LedgerEntry.transaction_id == taken
            )
        )
        await ledger.post(
            session,
            topup.user_id,
            kind="refund.reversed",
            idempotency_key=f"refund:{refund.id}:reversed",
            currency=topup.currency,
            postings=[Posting(Account(e.account), -e.amount) for e in entries],
            reference=f"topup:{topup.id}",
        )
        topup.amount_refunded -= refund.amount
    refund.status = RefundStatus.failed.value
    refund.failure = failure[:500]
    refund.updated_at = utcnow()


async def grant_credit(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    amount: object,
    currency: str | None,
    reason: str,
    idempotency_key: str,
) -> ledger.Posted:
    """Credit from the platform (an admin's grant), once per key."""
    value = check_amount(amount)
    code = check_currency(settings, currency or settings.default_currency)
    wallet = await ledger.open_wallet(session, user_id, code)
    if currency is None:
        code = wallet.currency
    return await ledger.post(
        session,
        user_id,
        kind="grant",
        idempotency_key=f"grant:{idempotency_key}",
        currency=code,
        postings=[Posting(Account.wallet, value), Posting(Account.grants, -value)],
        reference=f"grant:{idempotency_key}",
        memo=reason,
    )


async def set_plan(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    plan: str,
    source: PlanSource,
    status: PlanStatus,
    subscription_id: str | None = None,
    until: Any = None,
) -> UserPlan:
    """Put a user on a plan (a subscription's event, or an admin's grant)."""
    row = await session.get(UserPlan, user_id, with_for_update=True)
    if row is None:
        row = UserPlan(user_id=user_id, plan=plan, source=source, status=status)
        session.add(row)
    row.plan, row.source, row.status, row.until = plan, source, status, until
    if subscription_id is not None:
        row.provider_subscription_id = subscription_id
    row.updated_at = utcnow()
    await session.flush()
    return row
