"""What a provider's signed event tells us, in our words: each provider's `parse` turns its
event into one of these notices (or None: an event we do not act on), and `payments.tasks`
acts on notices only, never on a provider's payload.

A notice names the top-up it is about the ways the event can (our id, the checkout or order,
the payment), in the order to try them; `payments.locks.topup_named` finds and locks it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from offcoder.payments.models import PlanStatus, Provider


@dataclass(frozen=True)
class ByTopupId:
    """Our top-up id, as we sent it along in the provider's metadata or notes."""

    topup_id: uuid.UUID


@dataclass(frozen=True)
class ByCheckout:
    """The provider's object we opened for the top-up: a Checkout Session or an Order."""

    provider_ref: str


@dataclass(frozen=True)
class ByPayment:
    """The payment the provider made of the top-up (learnt from the payment's own event)."""

    payment_id: str


TopupName = ByTopupId | ByCheckout | ByPayment


def our_id(value: object) -> uuid.UUID | None:
    """One of our ids the provider handed back, None when absent or not well formed."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def by_topup_id(value: object) -> tuple[ByTopupId, ...]:
    """Our top-up id as a name, if the provider handed back a well-formed one."""
    topup_id = our_id(value)
    return (ByTopupId(topup_id),) if topup_id is not None else ()


@dataclass(frozen=True)
class PaymentNotice:
    """The provider took a payment for one of our top-ups."""

    provider: Provider
    names: tuple[TopupName, ...]
    payment_id: str | None
    amount: int
    currency: str
    # False while the payment is not final yet (a Razorpay payment not captured): nothing to do
    # but recognise the top-up.
    captured: bool = True


class RefundOutcome(StrEnum):
    succeeded = "succeeded"  # the money left: take it from the wallet (once)
    failed = "failed"  # it did not: give back whatever was taken for it
    pending = "pending"  # not decided yet: a later event says


@dataclass(frozen=True)
class ReportedRefund:
    """One refund as the provider reports it."""

    provider_refund_id: str | None
    # The id of our refund the provider carries back (None for one made on its dashboard).
    our_refund_id: str | None
    amount: int
    outcome: RefundOutcome


@dataclass(frozen=True)
class RefundNotice:
    """The provider reports refunds of a payment. A refund proves its payment too, so the top-up
    is credited first if the payment's own event has not come yet."""

    provider: Provider
    names: tuple[TopupName, ...]
    payment_id: str | None
    refunds: tuple[ReportedRefund, ...]


@dataclass(frozen=True)
class SubscriptionNotice:
    """A subscription of a user to a plan started, changed or ended."""

    provider: Provider
    subscription_id: str | None
    user_id: uuid.UUID | None
    plan: str | None
    status: PlanStatus


Notice = PaymentNotice | RefundNotice | SubscriptionNotice
