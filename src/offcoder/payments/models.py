"""Top-ups, refunds and provider events (P1-P3). No card data has a column anywhere: the
provider's hosted checkout takes the card, and we keep only the provider's ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class Provider(StrEnum):
    stripe = "stripe"
    razorpay = "razorpay"


class TopupStatus(StrEnum):
    creating = "creating"  # our row exists; the provider has not answered yet
    open = "open"  # the hosted checkout is ready for the customer
    paid = "paid"  # the provider told us (signed) that the money arrived; the wallet is credited
    failed = "failed"  # the provider refused to create the checkout


class Topup(Base):
    __tablename__ = "topups"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount", name="refunded"),
        UniqueConstraint("user_id", "idempotency_key", name="idempotency"),
        UniqueConstraint("provider", "provider_ref", name="provider_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=TopupStatus.creating.value)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The Checkout Session (cs_...) or Razorpay Order (order_...) id, and the hosted page.
    provider_ref: Mapped[str | None] = mapped_column(String(120))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    # The payment the provider made of it (pi_... / pay_...), once paid.
    provider_payment_id: Mapped[str | None] = mapped_column(String(120), index=True)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    credited_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundStatus(StrEnum):
    requested = "requested"  # ours, before the provider answered
    succeeded = "succeeded"
    failed = "failed"


class Refund(Base):
    """Money sent back through the provider: asked for by an admin, or seen in a signed event
    (a refund made on the provider's dashboard)."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("provider", "provider_refund_id", name="provider_refund"),
        UniqueConstraint("topup_id", "idempotency_key", name="idempotency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    topup_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("topups.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.requested.value)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    provider_refund_id: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None]
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventFlag(StrEnum):
    """Why a provider's event was stored but moved no money: a person follows each one up."""

    unknown_payment = "unknown_payment"  # names no top-up of ours
    amount_mismatch = "amount_mismatch"  # paid, but not the amount or currency we asked for
    unknown_refund = "unknown_refund"  # a refund without an id
    refund_exceeds_payment = "refund_exceeds_payment"  # more than is left of its payment
    # Refunded at the provider after the money was spent: the rest was written off.
    refund_exceeds_balance = "refund_exceeds_balance"
    refund_mismatch = "refund_mismatch"  # one of our refunds, but of another top-up
    # One of ours, refunded twice at the provider (a lost answer retried by hand).
    duplicate_provider_refund = "duplicate_provider_refund"
    refund_reported_after_failure = "refund_reported_after_failure"
    unknown_subscription = "unknown_subscription"  # no user or plan of ours


class PaymentEvent(Base):
    """A provider's webhook delivery, stored raw once its signature is verified. The unique
    (provider, event_id) is the replay protection: a second delivery inserts nothing (P2)."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="event"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # After a failed attempt, not before this (backing off, so a passing fault does not use up
    # every attempt at once).
    next_attempt_at: Mapped[datetime | None]
    # Why an event was stored but changed no money (an EventFlag).
    flag: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class PlanSource(StrEnum):
    stripe = "stripe"  # a subscription the user pays
    grant = "grant"  # an admin's grant, for a number of days


class PlanStatus(StrEnum):
    """A subscription's status as Stripe names it (a grant is `active`)."""

    incomplete = "incomplete"
    incomplete_expired = "incomplete_expired"
    trialing = "trialing"
    active = "active"
    past_due = "past_due"
    canceled = "canceled"
    unpaid = "unpaid"
    paused = "paused"


class UserPlan(Base):
    """The plan a user is on: through a Stripe subscription, or granted by an admin."""

    __tablename__ = "user_plans"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    plan: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # a PlanSource
    status: Mapped[str] = mapped_column(String(24))  # a PlanStatus
    provider_subscription_id: Mapped[str | None] = mapped_column(String(120), unique=True)
    until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GrantKind(StrEnum):
    credit = "credit"
    plan = "plan"


class GrantRequestStatus(StrEnum):
    pending = "pending"  # asked by one finance admin, waiting for a second (four eyes, F11)
    approved = "approved"  # a second finance admin approved it; the grant is posted


class GrantRequest(Base):
    """A credit or plan grant above the approval threshold, waiting for a second finance admin.
    Nothing moves until another admin approves; the approval posts it in its own transaction,
    with both audit rows (review F11)."""

    __tablename__ = "grant_requests"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="four_eyes"),
        UniqueConstraint("user_id", "kind", "idempotency_key", name="idempotency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    plan: Mapped[str | None] = mapped_column(String(32))
    days: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=GrantRequestStatus.pending.value)
    requested_by: Mapped[uuid.UUID]
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]
