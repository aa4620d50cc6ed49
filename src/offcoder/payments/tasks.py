"""Handling stored provider events (P2): after the webhook answered, in the API process right
away and in every worker as a sweep, so an event survives a crash between store and handle.

Each event is claimed with FOR UPDATE SKIP LOCKED and handled in its own transaction; the
money it moves is keyed by the payment, so two events about one payment, handled at once by
two processes, still credit once (they also meet on the top-up's row lock).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.payments import service
from offcoder.payments.models import PaymentEvent, Provider, Topup, UserPlan
from offcoder.payments.providers import VerifiedEvent
from offcoder.users.models import User

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 20
MAX_BACKOFF_S = 3600


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


def _object(doc: dict[str, Any]) -> dict[str, Any]:
    data = doc.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _notes(entity: dict[str, Any]) -> dict[str, Any]:
    """Razorpay sends empty notes as a list."""
    notes = entity.get("notes")
    return notes if isinstance(notes, dict) else {}


def _entity(doc: dict[str, Any], name: str) -> dict[str, Any]:
    payload = doc.get("payload")
    part = payload.get(name) if isinstance(payload, dict) else None
    entity = part.get("entity") if isinstance(part, dict) else None
    return entity if isinstance(entity, dict) else {}


async def _topup(session: AsyncSession, provider: Provider, **where: Any) -> Topup | None:
    """The top-up an event is about, locked for the length of its handling."""
    query = select(Topup).where(Topup.provider == provider.value).with_for_update()
    if "topup_id" in where:
        try:
            query = query.where(Topup.id == uuid.UUID(str(where["topup_id"])))
        except ValueError:
            return None
    elif "provider_ref" in where:
        query = query.where(Topup.provider_ref == str(where["provider_ref"]))
    else:
        query = query.where(Topup.provider_payment_id == str(where["payment_id"]))
    return await session.scalar(query)


async def handle(session: AsyncSession, event: PaymentEvent) -> str | None:
    """Apply one event; returns a flag when it was stored but moved no money."""
    doc = json.loads(event.body)
    if event.provider == Provider.stripe.value:
        return await _stripe(session, event.type, _object(doc))
    return await _razorpay(session, event.type, doc)


async def _stripe(session: AsyncSession, kind: str, obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("mode") == "subscription":
            return await _stripe_subscription(session, obj.get("subscription"), metadata, "active")
        if obj.get("payment_status") != "paid":
            return None  # an async payment method: its own event comes later
        topup = await _topup(session, Provider.stripe, provider_ref=obj.get("id"))
        if topup is None:
            return "unknown_payment"
        return await service.credit_payment(
            session,
            topup,
            payment_id=obj.get("payment_intent"),
            amount=int(obj.get("amount_total") or 0),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "payment_intent.succeeded":
        topup = None
        if metadata.get("topup_id"):
            topup = await _topup(session, Provider.stripe, topup_id=metadata["topup_id"])
        if topup is None:
            return "unknown_payment"
        return await service.credit_payment(
            session,
            topup,
            payment_id=obj.get("id"),
            amount=int(obj.get("amount_received") or obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "charge.refunded":
        topup = await _stripe_topup_of(session, obj)
        flags = [await _credit_implied(session, topup, obj.get("payment_intent"))]
        for refund in (obj.get("refunds") or {}).get("data") or []:
            flags.append(await _stripe_refund(session, topup, refund))
        return _first(flags)
    if kind in ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated"):
        topup = await _stripe_topup_of(session, obj)
        flags = [await _credit_implied(session, topup, obj.get("payment_intent"))]
        flags.append(await _stripe_refund(session, topup, obj))
        return _first(flags)
    if kind.startswith("customer.subscription."):
        status = "canceled" if kind.endswith(".deleted") else str(obj.get("status") or "active")
        return await _stripe_subscription(session, obj.get("id"), metadata, status)
    return None  # an event we do not act on: stored, handled, nothing to do


def _first(flags: list[str | None]) -> str | None:
    return next((f for f in flags if f), None)


async def _stripe_refund(session: AsyncSession, topup: Topup, refund: dict[str, Any]) -> str | None:
    """One Stripe refund: taken when it succeeded, given back when it failed or was cancelled,
    left alone while pending (its later event decides)."""
    ours = (refund.get("metadata") or {}).get("refund_id")
    status = refund.get("status")
    if status == "succeeded":
        return await service.record_provider_refund(
            session,
            topup,
            provider_refund_id=str(refund["id"]),
            amount=int(refund.get("amount") or 0),
            our_refund_id=ours,
        )
    if status in ("failed", "canceled"):
        return await service.provider_refund_failed(
            session, topup, provider_refund_id=str(refund["id"]), our_refund_id=ours
        )
    return None


async def _stripe_topup_of(session: AsyncSession, obj: dict[str, Any]) -> Topup:
    """The top-up a refund or charge is about. Stripe's refunds carry only the payment intent,
    which we learn from the payment's own event: until that is handled, wait (RetryLater)."""
    metadata = obj.get("metadata") or {}
    found = None
    if metadata.get("topup_id"):
        found = await _topup(session, Provider.stripe, topup_id=metadata["topup_id"])
    if found is None and obj.get("payment_intent"):
        found = await _topup(session, Provider.stripe, payment_id=obj["payment_intent"])
    if found is None:
        raise RetryLater(f"no top-up known for payment {obj.get('payment_intent')!r} yet")
    return found


async def _credit_implied(session: AsyncSession, topup: Topup, payment_id: object) -> str | None:
    """A refund proves its payment: credit it first if its own event has not come yet (unless
    that payment's amount was found not to match: then a person decides)."""
    if topup.credited_at is None and topup.failure:
        return "amount_mismatch"
    return await service.credit_payment(
        session,
        topup,
        payment_id=str(payment_id) if payment_id else None,
        amount=topup.amount,
        currency=topup.currency,
    )


async def _stripe_subscription(
    session: AsyncSession, subscription_id: object, metadata: dict[str, Any], status: str
) -> str | None:
    try:
        user_id = uuid.UUID(str(metadata.get("user_id")))
    except ValueError:
        return "unknown_subscription"
    plan = metadata.get("plan")
    if not plan or not subscription_id:
        return "unknown_subscription"
    if await session.get(User, user_id) is None:
        return "unknown_subscription"
    current = await session.get(UserPlan, user_id, with_for_update=True)
    if (
        current is not None
        and current.provider_subscription_id == str(subscription_id)
        and current.status == "canceled"
    ):
        # A cancelled Stripe subscription never comes back: a late event about it (delivered
        # after its deletion) changes nothing.
        return None
    await service.set_plan(
        session,
        user_id,
        plan=str(plan),
        source="stripe",
        status=status,
        subscription_id=str(subscription_id),
    )
    return None


async def _razorpay(session: AsyncSession, kind: str, doc: dict[str, Any]) -> str | None:
    payment = _entity(doc, "payment")
    if kind in ("payment.captured", "order.paid"):
        order_id = payment.get("order_id") or _entity(doc, "order").get("id")
        topup = await _topup(session, Provider.razorpay, provider_ref=order_id)
        if topup is None:
            return "unknown_payment"
        if payment.get("status") not in (None, "captured"):
            return None
        return await service.credit_payment(
            session,
            topup,
            payment_id=payment.get("id"),
            amount=int(payment.get("amount") or 0),
            currency=str(payment.get("currency") or ""),
        )
    if kind in ("refund.processed", "refund.failed"):
        refund = _entity(doc, "refund")
        topup = None
        if payment.get("order_id"):
            topup = await _topup(session, Provider.razorpay, provider_ref=payment["order_id"])
        if topup is None and refund.get("payment_id"):
            topup = await _topup(session, Provider.razorpay, payment_id=refund["payment_id"])
        if not refund.get("id"):
            return "unknown_refund"
        if topup is None:
            raise RetryLater(f"no top-up known for payment {refund.get('payment_id')!r} yet")
        ours = _notes(refund).get("refund_id") or refund.get("receipt")
        flags = [await _credit_implied(session, topup, refund.get("payment_id"))]
        if kind == "refund.failed":
            flags.append(
                await service.provider_refund_failed(
                    session, topup, provider_refund_id=str(refund["id"]), our_refund_id=ours
                )
            )
        else:
            flags.append(
                await service.record_provider_refund(
                    session,
                    topup,
                    provider_refund_id=str(refund["id"]),
                    amount=int(refund.get("amount") or 0),
                    our_refund_id=ours,
                )
            )
        return _first(flags)
    return None
