"""Row locks in one order (issue 13, item 4): an admin's refund and the provider's event about
the same refund, handled at the same moment in two transactions, neither deadlock nor abort.

Both paths lock the top-up and its refund. Taken in opposite orders (refund then top-up on the
admin's path, top-up then refund on the event's), two transactions can each hold the lock the
other waits for, and PostgreSQL aborts one of them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.db.engine import Database
from offcoder.payments import service, tasks
from offcoder.payments.models import PaymentEvent, Provider, Refund, Topup
from offcoder.payments.providers import VerifiedEvent
from offcoder.wallet.models import LedgerTransaction, Wallet
from tests.payments.conftest import Paying, new_key
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("P3")]

# Pairs raced at once: each pair is one refund; several make the interleaving that deadlocks
# all but certain to happen in at least one of them when the order is inverted.
PAIRS = 4


@pytest.fixture
async def db(prepared: PreparedDatabase) -> AsyncIterator[Database]:
    # Its own pool, large enough that every transaction of the race holds a connection at once.
    database = prepared.open(pool_size=2 * PAIRS + 2)
    yield database
    await database.dispose()


async def paid_topup(paying: Paying, amount: int) -> tuple[uuid.UUID, uuid.UUID]:
    """A Stripe top-up paid and credited through its signed events: (user, top-up)."""
    user = await paying.user()
    topup, events = await paying.paid_topup(user, amount)
    for event in events.values():
        assert (await paying.deliver_stripe(event)).status_code == 200
    assert (await paying.wallet(user))["balance"] == amount
    return uuid.UUID(str(await user_id(paying.api, user))), uuid.UUID(topup["id"])


async def requested_refund(db: Database, topup_id: uuid.UUID, amount: int) -> Refund:
    """An admin's refund, debited and waiting for the provider's answer."""
    async with db.system_session() as s:
        _, refund, created = await service.begin_refund(
            s, topup_id, amount, "asked", new_key(), uuid.uuid4()
        )
    assert created
    return refund


async def stored_refund_failed(db: Database, topup_id: uuid.UUID, refund: Refund) -> uuid.UUID:
    """Stripe's signed `refund.failed` about our refund, stored as the webhook stores it."""
    async with db.system_session() as s:
        topup = await s.get_one(Topup, topup_id)
        event_id = f"evt_{uuid.uuid4().hex}"
        body = {
            "id": event_id,
            "object": "event",
            "type": "refund.failed",
            "data": {
                "object": {
                    "id": f"re_{uuid.uuid4().hex[:24]}",
                    "object": "refund",
                    "amount": refund.amount,
                    "currency": topup.currency.lower(),
                    "payment_intent": topup.provider_payment_id,
                    "status": "failed",
                    "metadata": {"refund_id": str(refund.id)},
                }
            },
        }
        verified = VerifiedEvent(event_id, "refund.failed", json.dumps(body))
        assert await tasks.store(s, Provider.stripe, verified)
        stored = await s.scalar(select(PaymentEvent.id).where(PaymentEvent.event_id == event_id))
    assert stored is not None
    return stored


async def test_an_admin_refund_and_the_providers_event_about_it_never_deadlock(
    paying: Paying, db: Database
) -> None:
    # given paid top-ups, each with an admin's refund debited and awaiting the provider
    cases = []
    for _ in range(PAIRS):
        owner, topup_id = await paid_topup(paying, 2000)
        refund = await requested_refund(db, topup_id, 800)
        event_row = await stored_refund_failed(db, topup_id, refund)
        cases.append((owner, refund.id, event_row))
    barrier = asyncio.Barrier(2 * PAIRS)

    # when, for each, the admin's path records the provider's refusal while the provider's
    # `refund.failed` event about the same refund is handled, both in their own transaction
    async def admin_path(refund_id: uuid.UUID) -> None:
        async with db.system_session() as s:
            await s.execute(select(1))  # the transaction is open before the race starts
            await barrier.wait()
            await service.fail_refund(s, refund_id, "refused by the provider")

    async def event_path(row_id: uuid.UUID) -> None:
        async with db.system_session() as s:
            event = await s.get_one(PaymentEvent, row_id, with_for_update=True)
            await barrier.wait()
            async with s.begin_nested():
                event.flag = await tasks.handle(s, event)
            event.handled_at = utcnow()

    await asyncio.wait_for(
        asyncio.gather(
            *(admin_path(refund_id) for _, refund_id, _ in cases),
            *(event_path(row_id) for _, _, row_id in cases),
        ),
        timeout=60,
    )

    # then every refund failed once: the money it took came back once, and nothing else moved
    async with db.system_session() as s:
        for owner, refund_id, row_id in cases:
            refund = await s.get_one(Refund, refund_id)
            assert refund.status == "failed"
            wallet = await s.get_one(Wallet, owner)
            assert wallet.balance == 2000
            reversals = await s.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(
                    LedgerTransaction.user_id == owner,
                    LedgerTransaction.kind == "refund.reversed",
                )
            )
            assert reversals == 1
            event = await s.get_one(PaymentEvent, row_id)
            assert event.handled_at is not None and event.flag is None
