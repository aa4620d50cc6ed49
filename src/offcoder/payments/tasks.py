"""Handling stored provider events (P2): after the webhook answered, in the API process right
away, and in every worker as a periodic sweep (`sweep`, registered with the worker host), so an
event survives a crash between store and handle.

Each event is claimed with FOR UPDATE SKIP LOCKED and handled in its own transaction: its
provider's `parse` turns it into a notice, and the notice is acted on here. The money it moves
is keyed by the payment, so two events about one payment, handled at once by two processes,
still credit once (they also meet on the top-up's row lock, `payments.locks`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.payments import locks, providers, service
from offcoder.payments.models import (
    EventFlag,
    PaymentEvent,
    PlanSource,
    PlanStatus,
    Provider,
    Topup,
    UserPlan,
)
from offcoder.payments.notices import (
    Notice,
    PaymentNotice,
    RefundNotice,
    RefundOutcome,
    SubscriptionNotice,
)
from offcoder.payments.providers import VerifiedEvent
from offcoder.users.models import User

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 20
MAX_BACKOFF_S = 3600
# How often each worker sweeps for events stored but not handled (the API process that stored
# one died before handling it): the workers are their second chance (P2).
SWEEP_EVERY_S = 5.0


class RetryLater(Exception):
    """The event cannot be applied yet (it names a payment whose own event has not been handled
    yet): keep it, try again after a pause."""


async def store(session: AsyncSession, provider: Provider, event: VerifiedEvent) -> bool:
    """Keep a verified event once; False when this event id was already stored (a replay).
    The row is the queue entry: it is handled after the answer and by the workers' sweep."""
    inserted = await session.scalar(
        insert(PaymentEvent)
        .values(
            id=uuid.uuid4(),
            provider=provider.value,
            event_id=event.event_id,
            type=event.type,
            body=event.body,
            received_at=utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(constraint="uq_payment_events_event")
        .returning(PaymentEvent.id)
    )
    return inserted is not None


async def handle_pending(database: Database, limit: int = 100) -> int:
    """Handle stored, unhandled events that are due, one transaction each; returns how many were
    handled. An event that fails is tried again later, with a growing pause."""
    handled = 0
    for _ in range(limit):
        failed: tuple[uuid.UUID, str, int] | None = None
        async with database.system_session() as session:
            now = utcnow()
            event = await session.scalar(
                select(PaymentEvent)
                .where(
                    PaymentEvent.handled_at.is_(None),
                    PaymentEvent.attempts < MAX_ATTEMPTS,
                    PaymentEvent.next_attempt_at.is_(None) | (PaymentEvent.next_attempt_at <= now),
                )
                .order_by(PaymentEvent.received_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if event is None:
                return handled
            try:
                async with session.begin_nested():
                    event.flag = await handle(session, event)
            except RetryLater as wait:
                failed = (event.id, str(wait), event.attempts + 1)
            except Exception as exc:
                log.exception("payment event failed", event_id=event.event_id)
                failed = (event.id, f"{type(exc).__name__}: {exc}"[:1000], event.attempts + 1)
            else:
                event.handled_at = utcnow()
                event.error = None
                handled += 1
            event.attempts += 1
        if failed is not None:
            event_id, error, attempts = failed
            pause = min(MAX_BACKOFF_S, 2**attempts)
            async with database.system_session() as session:
                await session.execute(
                    update(PaymentEvent)
                    .where(PaymentEvent.id == event_id)
                    .values(error=error, next_attempt_at=utcnow() + timedelta(seconds=pause))
                )
    return handled


async def sweep(database: Database) -> int:
    """The workers' periodic pass over events stored but not handled yet."""
    return await handle_pending(database)


async def handle(session: AsyncSession, event: PaymentEvent) -> EventFlag | None:
    """Apply one stored event; returns a flag when it was stored but moved no money."""
    provider = Provider(event.provider)
    notice = providers.parse(provider, VerifiedEvent(event.event_id, event.type, event.body))
    return await act_on(session, notice)


async def act_on(session: AsyncSession, notice: Notice | None) -> EventFlag | None:
    """Do what a provider's notice asks, in the caller's transaction."""
    match notice:
        case PaymentNotice():
            return await _payment(session, notice)
        case RefundNotice():
            return await _refunds(session, notice)
        case SubscriptionNotice():
            return await _subscription(session, notice)
        case None:
            return None  # an event we do not act on: stored, handled, nothing to do


async def _payment(session: AsyncSession, notice: PaymentNotice) -> EventFlag | None:
    topup = await locks.topup_named(session, notice.provider, notice.names)
    if topup is None:
        return EventFlag.unknown_payment
    if not notice.captured:
        return None  # not final yet: its later event credits
    return await service.credit_payment(
        session,
        topup,
        payment_id=notice.payment_id,
        amount=notice.amount,
        currency=notice.currency,
    )


async def _refunds(session: AsyncSession, notice: RefundNotice) -> EventFlag | None:
    topup = await locks.topup_named(session, notice.provider, notice.names)
    if any(r.provider_refund_id is None for r in notice.refunds):
        return EventFlag.unknown_refund
    if topup is None:
        # Stripe's refunds carry only the payment intent, learnt from the payment's own event:
        # until that is handled, wait.
        raise RetryLater(f"no top-up known for payment {notice.payment_id!r} yet")
    flags = [await _credit_implied(session, topup, notice.payment_id)]
    for refund in notice.refunds:
        assert refund.provider_refund_id is not None  # refused above
        if refund.outcome is RefundOutcome.succeeded:
            flags.append(
                await service.record_provider_refund(
                    session,
                    topup,
                    provider_refund_id=refund.provider_refund_id,
                    amount=refund.amount,
                    our_refund_id=refund.our_refund_id,
                )
            )
        elif refund.outcome is RefundOutcome.failed:
            flags.append(
                await service.provider_refund_failed(
                    session,
                    topup,
                    provider_refund_id=refund.provider_refund_id,
                    our_refund_id=refund.our_refund_id,
                )
            )
    return next((f for f in flags if f), None)


async def _credit_implied(
    session: AsyncSession, topup: Topup, payment_id: str | None
) -> EventFlag | None:
    """A refund proves its payment: credit it first if its own event has not come yet (unless
    that payment's amount was found not to match: then a person decides)."""
    if topup.credited_at is None and topup.failure:
        return EventFlag.amount_mismatch
    return await service.credit_payment(
        session, topup, payment_id=payment_id, amount=topup.amount, currency=topup.currency
    )


async def _subscription(session: AsyncSession, notice: SubscriptionNotice) -> EventFlag | None:
    user_id, plan, subscription_id = notice.user_id, notice.plan, notice.subscription_id
    if user_id is None or plan is None or subscription_id is None:
        return EventFlag.unknown_subscription
    if await session.get(User, user_id) is None:
        return EventFlag.unknown_subscription
    current = await session.get(UserPlan, user_id, with_for_update=True)
    if (
        current is not None
        and current.provider_subscription_id == subscription_id
        and current.status == PlanStatus.canceled
    ):
        # A cancelled Stripe subscription never comes back: a late event about it (delivered
        # after its deletion) changes nothing.
        return None
    await service.set_plan(
        session,
        user_id,
        plan=plan,
        source=PlanSource.stripe,
        status=notice.status,
        subscription_id=subscription_id,
    )
    return None
