"""Handling stored provider events (P2): after the webhook answered, in the API process right
away and in every worker as a sweep, so an event survives a crash between store and handle.

Each event is claimed with FOR UPDATE SKIP LOCKED and handled in its own transaction; the
money it moves is keyed by the payment, so two events about one payment, handled at once by
two processes, still credit once (they also meet on the top-up's row lock).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.payments import service
from offcoder.payments.models import PaymentEvent, Provider, Topup
from offcoder.payments.providers import VerifiedEvent

log = structlog.get_logger(__name__)

PAYMENTS_CHANNEL = "offcoder_payments"
MAX_ATTEMPTS = 10


async def store(session: AsyncSession, provider: Provider, event: VerifiedEvent) -> bool:
    """Keep a verified event once; False when this event id was already stored (a replay)."""
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
    if inserted is not None:
        await session.execute(text(f"NOTIFY {PAYMENTS_CHANNEL}"))
    return inserted is not None


async def handle_pending(database: Database, limit: int = 100) -> int:
    """Handle stored, unhandled events, one transaction each; returns how many were handled."""
    handled = 0
    for _ in range(limit):
        failed: tuple[uuid.UUID, str] | None = None
        async with database.system_session() as session:
            event = await session.scalar(
                select(PaymentEvent)
                .where(PaymentEvent.handled_at.is_(None), PaymentEvent.attempts < MAX_ATTEMPTS)
                .order_by(PaymentEvent.received_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if event is None:
                return handled
            try:
                async with session.begin_nested():
                    event.flag = await handle(session, event)
            except Exception as exc:
                log.exception("payment event failed", event_id=event.event_id)
                failed = (event.id, f"{type(exc).__name__}: {exc}"[:1000])
            else:
                event.handled_at = utcnow()
                handled += 1
            event.attempts += 1
        if failed is not None:
            async with database.system_session() as session:
                await session.execute(
                    update(PaymentEvent).where(PaymentEvent.id == failed[0]).values(error=failed[1])
                )
    return handled


def _object(doc: dict[str, Any]) -> dict[str, Any]:
    data = doc.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


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
        if topup is None:
            return "unknown_payment"
        flag = await _credit_implied(session, topup, obj.get("payment_intent"))
        for refund in (obj.get("refunds") or {}).get("data") or []:
            if refund.get("status") in ("succeeded", "pending"):
                flag = flag or await service.record_provider_refund(
                    session,
                    topup,
                    provider_refund_id=str(refund["id"]),
                    amount=int(refund.get("amount") or 0),
                    our_refund_id=(refund.get("metadata") or {}).get("refund_id"),
                )
        return flag
    if kind in ("refund.created", "refund.updated", "charge.refund.updated"):
        if obj.get("status") not in ("succeeded", "pending"):
            return None
        topup = await _stripe_topup_of(session, obj)
        if topup is None:
            return "unknown_payment"
        flag = await _credit_implied(session, topup, obj.get("payment_intent"))
        return flag or await service.record_provider_refund(
            session,
            topup,
            provider_refund_id=str(obj["id"]),
            amount=int(obj.get("amount") or 0),
            our_refund_id=metadata.get("refund_id"),
        )
    if kind.startswith("customer.subscription."):
        status = "canceled" if kind.endswith(".deleted") else str(obj.get("status") or "active")
        return await _stripe_subscription(session, obj.get("id"), metadata, status)
    return None  # an event we do not act on: stored, handled, nothing to do


async def _stripe_topup_of(session: AsyncSession, obj: dict[str, Any]) -> Topup | None:
    metadata = obj.get("metadata") or {}
    if metadata.get("topup_id"):
        found = await _topup(session, Provider.stripe, topup_id=metadata["topup_id"])
        if found is not None:
            return found
    if obj.get("payment_intent"):
        return await _topup(session, Provider.stripe, payment_id=obj["payment_intent"])
    return None


async def _credit_implied(session: AsyncSession, topup: Topup, payment_id: object) -> str | None:
    """A refund proves its payment: credit it first if its own event has not come yet."""
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
    from offcoder.users.models import User

    if await session.get(User, user_id) is None:
        return "unknown_subscription"
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
    if kind in ("refund.processed", "refund.created"):
        refund = _entity(doc, "refund")
        topup = None
        if payment.get("order_id"):
            topup = await _topup(session, Provider.razorpay, provider_ref=payment["order_id"])
        if topup is None and refund.get("payment_id"):
            topup = await _topup(session, Provider.razorpay, payment_id=refund["payment_id"])
        if topup is None or not refund.get("id"):
            return "unknown_payment"
        flag = await _credit_implied(session, topup, refund.get("payment_id"))
        return flag or await service.record_provider_refund(
            session,
            topup,
            provider_refund_id=str(refund["id"]),
            amount=int(refund.get("amount") or 0),
            our_refund_id=(refund.get("notes") or {}).get("refund_id") or refund.get("receipt"),
        )
    return None
