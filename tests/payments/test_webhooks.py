"""Provider webhooks (P2): verified before anything is read, stored once per provider event id,
credited once per payment whatever the order, number and concurrency of deliveries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.payments.conftest import Paying

pytestmark = pytest.mark.promise("P2")


def one_byte_changed(event: dict[str, Any]) -> bytes:
    body = bytearray(json.dumps(event).encode())
    index = body.index(b'"amount')  # a byte inside the money, not the framing
    body[index + 1] = ord("A")
    return bytes(body)


async def test_stripe_refuses_forged_tampered_unsigned_stale_and_wrong_secret(
    paying: Paying,
) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 1500)
    event = events["checkout.session.completed"]
    before = await paying.wallet(user)
    body = json.dumps(event).encode()
    attempts = {
        "forged (signed by someone else)": paying.deliver_stripe(event, secret="whsec_attacker"),
        "tampered (one byte)": paying.deliver_stripe(event, body=one_byte_changed(event)),
        "stale (outside 300 s)": paying.deliver_stripe(event, timestamp=int(time.time()) - 301),
        "unsigned": paying.api.post("/v1/webhooks/stripe", content=body),
        "garbage signature": paying.api.post(
            "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=1,v1=00"}
        ),
    }
    for name, attempt in attempts.items():
        response = await attempt
        assert response.status_code == 400, name
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/invalid-signature"), name
    assert await paying.stored_events("stripe", event["id"]) == 0
    assert await paying.wallet(user) == before

    # The genuine delivery still works afterwards.
    assert (await paying.deliver_stripe(event)).status_code == 200
    assert (await paying.wallet(user))["balance"] == before["balance"] + 1500


async def test_razorpay_refuses_forged_tampered_unsigned_and_wrong_secret(paying: Paying) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 50000, provider="razorpay")
    event = events["payment.captured"]
    event_id = paying.razorpay.new_event_id()
    body = json.dumps(event).encode()
    attempts = {
        "forged": paying.deliver_razorpay(event, event_id, secret="someone-else"),
        "tampered (one byte)": paying.deliver_razorpay(
            event, event_id, body=one_byte_changed(event)
        ),
        "unsigned": paying.api.post(
            "/v1/webhooks/razorpay", content=body, headers={"X-Razorpay-Event-Id": event_id}
        ),
        "a signature that is not ASCII": paying.api.post(
            "/v1/webhooks/razorpay",
            content=body,
            headers={"X-Razorpay-Signature": b"\xe9" * 64, "X-Razorpay-Event-Id": event_id},
        ),
        "not UTF-8": paying.api.post(
            "/v1/webhooks/razorpay",
            content=b"\xff" + body,
            headers={"X-Razorpay-Signature": "00" * 32, "X-Razorpay-Event-Id": event_id},
        ),
    }
    for name, attempt in attempts.items():
        response = await attempt
        assert response.status_code == 400, name
        assert response.json()["type"].endswith("/invalid-signature"), name
    assert await paying.stored_events("razorpay", paying.razorpay_event_id(event)) == 0
    assert (await paying.wallet(user))["balance"] == 0

    assert (await paying.deliver_razorpay(event, event_id)).status_code == 200
    assert (await paying.wallet(user))["balance"] == 50000


async def test_a_stripe_event_replayed_and_raced_credits_once(paying: Paying) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 2000)
    event = events["checkout.session.completed"]
    # Ten deliveries at once (a race, not a sequence), then ten more one after another.
    raced = await asyncio.gather(*(paying.deliver_stripe(event) for _ in range(10)))
    assert [r.status_code for r in raced] == [200] * 10
    assert sum(not r.json()["duplicate"] for r in raced) == 1
    for _ in range(10):
        again = await paying.deliver_stripe(event)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await paying.stored_events("stripe", event["id"]) == 1
    wallet = await paying.wallet(user)
    assert (wallet["balance"], wallet["ledger_version"]) == (2000, 1)


async def test_a_razorpay_event_replayed_and_raced_credits_once(paying: Paying) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 70000, provider="razorpay")
    captured, paid = events["payment.captured"], events["order.paid"]
    event_id = paying.razorpay.new_event_id()
    # The same event ten times at once, its replays, and the order's own event about the same
    # payment, also at once: one credit.
    raced = await asyncio.gather(
        *(paying.deliver_razorpay(captured, event_id) for _ in range(10)),
        *(paying.deliver_razorpay(paid) for _ in range(3)),
    )
    assert all(r.status_code == 200 for r in raced)
    for _ in range(10):
        assert (await paying.deliver_razorpay(captured, event_id)).json()["duplicate"] is True
    # A replay of the signed body under a fresh (unsigned) event id header: still a replay.
    for _ in range(3):
        assert (await paying.deliver_razorpay(captured)).json()["duplicate"] is True
    assert await paying.stored_events("razorpay", paying.razorpay_event_id(captured)) == 1
    wallet = await paying.wallet(user)
    assert (wallet["balance"], wallet["ledger_version"]) == (70000, 1)


@pytest.mark.parametrize("first", ["checkout.session.completed", "payment_intent.succeeded"])
async def test_stripe_payment_events_in_either_order_credit_once(
    paying: Paying, first: str
) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 1200)
    second = next(kind for kind in events if kind != first)
    assert (await paying.deliver_stripe(events[first])).status_code == 200
    assert (await paying.wallet(user))["balance"] == 1200
    assert (await paying.deliver_stripe(events[second])).status_code == 200
    wallet = await paying.wallet(user)
    assert (wallet["balance"], wallet["ledger_version"]) == (1200, 1)
    top = (await paying.api.get("/v1/wallet/ledger", headers=user.headers)).json()["items"]
    assert [(t["kind"], t["amount"]) for t in top] == [("topup", 1200)]
    assert sorted(e["account"] for e in top[0]["entries"]) == ["clearing:stripe", "wallet"]


async def test_both_stripe_payment_events_at_once_credit_once(paying: Paying) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 900)
    deliveries = [paying.deliver_stripe(e) for e in events.values() for _ in range(5)]
    assert all(r.status_code == 200 for r in await asyncio.gather(*deliveries))
    assert (await paying.wallet(user))["balance"] == 900


async def test_a_refund_that_arrives_before_its_payment(paying: Paying) -> None:
    """Out of order: the refund proves the payment, so it is credited, then the refund taken;
    the payment's own events, arriving last, change nothing."""
    user = await paying.user()
    _, events = await paying.paid_topup(user, 1000)
    intent = events["payment_intent.succeeded"]["data"]["object"]["id"]
    _, refunded = paying.stripe.refund_dashboard(intent, 400)
    assert (await paying.deliver_stripe(refunded)).status_code == 200
    assert (await paying.wallet(user))["balance"] == 600
    for event in events.values():
        assert (await paying.deliver_stripe(event)).status_code == 200
    await paying.deliver_stripe(refunded)
    wallet = await paying.wallet(user)
    assert (wallet["balance"], wallet["ledger_version"]) == (600, 2)


async def test_a_razorpay_refund_before_its_payment(paying: Paying) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 30000, provider="razorpay")
    payment = events["payment.captured"]["payload"]["payment"]["entity"]["id"]
    _, refunded = paying.razorpay.refund_dashboard(payment, 10000)
    assert (await paying.deliver_razorpay(refunded)).status_code == 200
    for event in events.values():
        await paying.deliver_razorpay(event)
    assert (await paying.wallet(user))["balance"] == 20000


async def test_an_event_for_an_unknown_payment_is_stored_flagged_and_credits_nothing(
    paying: Paying,
) -> None:
    user = await paying.user()
    _, events = await paying.paid_topup(user, 800)
    strange = json.loads(json.dumps(events["checkout.session.completed"]))
    strange["id"] = "evt_unknown_payment_" + strange["id"]
    strange["data"]["object"]["id"] = "cs_test_nobody_knows"
    assert (await paying.deliver_stripe(strange)).status_code == 200
    assert await paying.event_flag("stripe", strange["id"]) == "unknown_payment"

    # A signed event whose amount differs from the top-up's: stored, flagged, no credit.
    inflated = json.loads(json.dumps(events["checkout.session.completed"]))
    inflated["id"] = "evt_inflated_" + inflated["id"]
    inflated["data"]["object"]["amount_total"] = 800_000
    assert (await paying.deliver_stripe(inflated)).status_code == 200
    assert await paying.event_flag("stripe", inflated["id"]) == "amount_mismatch"

    event_id = paying.razorpay.new_event_id()
    orphan = {
        "entity": "event",
        "event": "payment.captured",
        "payload": {"payment": {"entity": {"id": "pay_x", "order_id": "order_x", "amount": 1}}},
    }
    assert (await paying.deliver_razorpay(orphan, event_id)).status_code == 200
    assert (
        await paying.event_flag("razorpay", paying.razorpay_event_id(orphan)) == "unknown_payment"
    )
    assert (await paying.wallet(user))["balance"] == 0


async def test_events_we_do_not_act_on_are_acknowledged(paying: Paying) -> None:
    event = {"id": "evt_other_kind", "object": "event", "type": "customer.created", "data": {}}
    response = await paying.deliver_stripe(event)
    assert response.status_code == 200
    assert await paying.event_flag("stripe", "evt_other_kind") is None


async def test_webhooks_for_a_provider_not_configured(api: Any) -> None:
    # The default test server has no payment provider: nothing to verify with, nothing stored.
    response = await api.post("/v1/webhooks/stripe", content=b"{}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
