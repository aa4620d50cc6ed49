"""Each provider's `parse` turns its events, as the stand-ins send them, into our typed notices
(issue 13, item 4): the top-up named the ways the event can name it, in the order to try."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from offcoder.payments.models import PlanStatus, Provider
from offcoder.payments.notices import (
    ByCheckout,
    ByPayment,
    ByTopupId,
    PaymentNotice,
    RefundNotice,
    RefundOutcome,
    SubscriptionNotice,
)
from offcoder.payments.providers import VerifiedEvent, parse
from tests.payments.conftest import Paying

pytestmark = pytest.mark.promise("P2")


def verified(event: dict[str, Any], kind_key: str) -> VerifiedEvent:
    return VerifiedEvent(str(uuid.uuid4()), str(event[kind_key]), json.dumps(event))


async def test_stripe_payment_and_refund_events_become_notices(paying: Paying) -> None:
    # given a top-up the customer paid at Stripe, and a refund made on Stripe's dashboard
    user = await paying.user()
    topup, events = await paying.paid_topup(user, 1500)
    intent = events["payment_intent.succeeded"]["data"]["object"]["id"]
    refund, refunded = paying.stripe.refund_dashboard(intent, 400)

    # when Stripe's events are parsed
    completed = parse(Provider.stripe, verified(events["checkout.session.completed"], "type"))
    succeeded = parse(Provider.stripe, verified(events["payment_intent.succeeded"], "type"))
    charge = parse(Provider.stripe, verified(refunded, "type"))

    # then each names the top-up its own way, with the amounts as integers of minor units
    assert completed == PaymentNotice(
        Provider.stripe, (ByCheckout(topup["provider_ref"]),), intent, 1500, "usd"
    )
    assert succeeded == PaymentNotice(
        Provider.stripe, (ByTopupId(uuid.UUID(topup["id"])),), intent, 1500, "usd"
    )
    assert isinstance(charge, RefundNotice)
    assert charge.names[-1] == ByPayment(intent) and charge.payment_id == intent
    assert [(r.provider_refund_id, r.amount, r.outcome) for r in charge.refunds] == [
        (refund["id"], 400, RefundOutcome.succeeded)
    ]


async def test_razorpay_payment_and_refund_events_become_notices(paying: Paying) -> None:
    user = await paying.user()
    topup, events = await paying.paid_topup(user, 50000, provider="razorpay")
    captured = events["payment.captured"]
    payment_id = captured["payload"]["payment"]["entity"]["id"]
    refund, refunded = paying.razorpay.refund_dashboard(payment_id, 10000)

    notice = parse(Provider.razorpay, verified(captured, "event"))
    reported = parse(Provider.razorpay, verified(refunded, "event"))

    assert notice == PaymentNotice(
        Provider.razorpay, (ByCheckout(topup["provider_ref"]),), payment_id, 50000, "INR"
    )
    assert isinstance(reported, RefundNotice)
    assert ByPayment(payment_id) in reported.names
    assert [(r.provider_refund_id, r.amount, r.outcome) for r in reported.refunds] == [
        (refund["id"], 10000, RefundOutcome.succeeded)
    ]


def test_events_we_do_not_act_on_parse_to_nothing() -> None:
    stripe_event = {"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}
    razorpay_event = {"event": "payment.authorized", "payload": {}}
    assert parse(Provider.stripe, verified(stripe_event, "type")) is None
    assert parse(Provider.razorpay, verified(razorpay_event, "event")) is None


def test_a_stripe_subscription_names_its_user_only_by_a_well_formed_id() -> None:
    def deleted(user_id: str) -> dict[str, Any]:
        sub = {"id": "sub_1", "status": "active", "metadata": {"user_id": user_id, "plan": "pro"}}
        return {"id": "evt_2", "type": "customer.subscription.deleted", "data": {"object": sub}}

    someone = uuid.uuid4()
    assert parse(Provider.stripe, verified(deleted(str(someone)), "type")) == SubscriptionNotice(
        Provider.stripe, "sub_1", someone, "pro", PlanStatus.canceled
    )
    garbled = parse(Provider.stripe, verified(deleted("not-a-uuid"), "type"))
    assert isinstance(garbled, SubscriptionNotice) and garbled.user_id is None
