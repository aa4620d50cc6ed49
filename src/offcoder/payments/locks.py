"""The row locks on money from outside, taken in one order everywhere.

Every path that changes a top-up or its refunds (a customer's checkout, an admin's refund, a
provider's event, the sweep) takes, in this order and never the other way round:

1. the provider-call lock of one of our objects (`provider_call`), alone in its own
   transaction, which stays open while the provider is asked;
2. the top-up's row (`topup`, `topup_named`);
3. its refunds' rows (`refund`, `reported_refund`: they lock the top-up first);
4. the wallet's row, last, inside `wallet.ledger.post`.

Two transactions that each held a lock the other wanted would deadlock, and PostgreSQL would
abort one of them (an admin's refund recording the provider's refusal while the provider's own
event about it was handled did, when one path took the refund first and the other the top-up).
Taking them only through this module keeps the order in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.payments.models import Provider, Refund, Topup
from offcoder.payments.notices import ByCheckout, ByPayment, ByTopupId, TopupName


async def provider_call(session: AsyncSession, object_id: uuid.UUID) -> None:
    """Serialise calls to a provider about one of our objects (a top-up, a refund) until the
    caller's transaction ends. Razorpay has no idempotency header: without this, two retries at
    once could both find nothing by receipt and both create."""
    key = int.from_bytes(object_id.bytes[:8], "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def topup(session: AsyncSession, topup_id: uuid.UUID) -> Topup | None:
    """One top-up, locked until the caller's transaction ends."""
    return await session.scalar(
        select(Topup)
        .where(Topup.id == topup_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def topup_named(
    session: AsyncSession, provider: Provider, names: Iterable[TopupName]
) -> Topup | None:
    """The top-up of `provider` a provider's event names, trying each name in turn, locked."""
    for name in names:
        query = select(Topup).where(Topup.provider == provider.value)
        match name:
            case ByTopupId(topup_id):
                query = query.where(Topup.id == topup_id)
            case ByCheckout(provider_ref):
                query = query.where(Topup.provider_ref == provider_ref)
            case ByPayment(payment_id):
                query = query.where(Topup.provider_payment_id == payment_id)
        found = await session.scalar(
            query.with_for_update().execution_options(populate_existing=True)
        )
        if found is not None:
            return found
    return None


async def refund(session: AsyncSession, refund_id: uuid.UUID) -> tuple[Topup, Refund] | None:
    """A refund and its top-up, both locked: the top-up first (a refund never changes the
    top-up it belongs to, so reading that first without a lock is safe)."""
    topup_id = await session.scalar(select(Refund.topup_id).where(Refund.id == refund_id))
    if topup_id is None:
        return None
    locked = await topup(session, topup_id)
    found = await session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
    if locked is None or found is None:
        return None
    return locked, found


async def reported_refund(
    session: AsyncSession, locked_topup: Topup, provider_refund_id: str, our_refund_id: str | None
) -> Refund | None:
    """The refund a provider's event is about: by the provider's id, else by the id we sent
    along with it (our refund whose answer has not been stored yet). Locked when it belongs to
    `locked_topup` (already locked by the caller); one of another top-up is returned unlocked,
    for the caller to flag and leave alone (locking it would take a refund without its top-up)."""
    found = await session.scalar(
        select(Refund).where(
            Refund.provider == locked_topup.provider,
            Refund.provider_refund_id == provider_refund_id,
        )
    )
    if found is None and our_refund_id:
        try:
            found = await session.get(Refund, uuid.UUID(our_refund_id))
        except ValueError:
            return None
    if found is None or found.topup_id != locked_topup.id:
        return found
    return await session.get(Refund, found.id, with_for_update=True, populate_existing=True)
