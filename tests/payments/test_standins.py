"""The payment stand-ins answer every official-SDK call our server makes, as the providers do."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import razorpay  # type: ignore[import-untyped, unused-ignore]
import stripe
from stripe.params import SubscriptionUpdateParams
from stripe.params.checkout import SessionCreateParams

from tests.support import payment_standins as ps

WHSEC = "whsec_standin"
BadRequest = razorpay.errors.BadRequestError


def stripe_client(standin: ps.StripeStandIn, key: str = "sk_test_offcoder") -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": standin.url}, max_network_retries=0)


def rzp_client(standin: ps.RazorpayStandIn, secret: str | None = None) -> Any:
    auth = (standin.key_id, secret or standin.key_secret)
    return razorpay.Client(auth=auth, base_url=standin.url)


def test_stripe_top_up_refund_and_webhook_signature() -> None:
    with ps.running_stripe() as standin:
        client = stripe_client(standin).v1
        product: Any = {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Top-up"}}
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [{"price_data": product, "quantity": 1}],
            "success_url": "http://127.0.0.1/ok",
            "client_reference_id": "topup-1",
            "metadata": {"topup_id": "topup-1"},
            "payment_intent_data": {"metadata": {"user_id": "u1"}},
        }
        session = client.checkout.sessions.create(params, {"idempotency_key": "topup-1"})
        again = client.checkout.sessions.create(params, {"idempotency_key": "topup-1"})
        assert again.id == session.id and len(standin.sessions) == 1
        assert again.last_response and again.last_response.headers["Idempotent-Replayed"] == "true"
        other = params.copy()
        other["client_reference_id"] = "topup-2"
        with pytest.raises(stripe.IdempotencyError):
            client.checkout.sessions.create(other, {"idempotency_key": "topup-1"})
        assert session.url == f"{standin.url}/pay/{session.id}" and session.amount_total == 500
        assert standin.requests[0].params["line_items"][0]["price_data"]["unit_amount"] == "500"

        events = standin.pay(session.id)
        assert client.checkout.sessions.retrieve(session.id).payment_status == "paid"
        intent_id = events["payment_intent.succeeded"]["data"]["object"]["id"]
        intent = client.payment_intents.retrieve(intent_id)
        assert (intent.status, intent.metadata.to_dict()) == ("succeeded", {"user_id": "u1"})

        refund = client.refunds.create(
            {"payment_intent": intent_id, "amount": 200, "metadata": {"refund_id": "r1"}},
            {"idempotency_key": "refund-1"},
        )
        assert (refund.amount, refund.status) == (200, "succeeded")
        with pytest.raises(stripe.InvalidRequestError) as too_much:
            client.refunds.create({"payment_intent": intent_id, "amount": 301})
        assert too_much.value.code == "amount_too_large"
        _, dashboard = standin.refund_dashboard(intent_id, 300)
        assert dashboard["data"]["object"]["amount_refunded"] == 500
        event = standin.refund_event(refund.id)
        assert event["data"]["object"]["amount_refunded"] == 200

        payload = json.dumps(event).encode()
        checked = stripe.Webhook.construct_event(
            payload, ps.sign_stripe(payload, WHSEC), WHSEC, 300
        )
        assert checked.type == "charge.refunded"
        stale = ps.sign_stripe(payload, WHSEC, int(time.time()) - 600)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(payload, stale, WHSEC, tolerance=300)


def test_stripe_subscription_change_auth_and_faults() -> None:
    with ps.running_stripe() as standin:
        client = stripe_client(standin).v1
        basic, pro = standin.add_price(900), standin.add_price(1900)
        params: SessionCreateParams = {
            "mode": "subscription",
            "line_items": [{"price": basic, "quantity": 1}],
            "subscription_data": {"metadata": {"user_id": "u1"}},
        }
        session = client.checkout.sessions.create(params)
        created = standin.pay(session.id)["customer.subscription.created"]["data"]["object"]
        change: SubscriptionUpdateParams = {
            "items": [{"id": created["items"]["data"][0]["id"], "price": pro}],
            "proration_behavior": "create_prorations",
            "metadata": {"plan": "pro"},
        }
        sub = client.subscriptions.update(created["id"], change, {"idempotency_key": "up-1"})
        replay = client.subscriptions.update(created["id"], change, {"idempotency_key": "up-1"})
        assert replay.last_response and replay.last_response.headers["Idempotent-Replayed"]
        fetched = client.subscriptions.retrieve(sub.id)
        assert fetched["items"]["data"][0]["price"]["id"] == pro
        assert fetched.metadata.to_dict() == {"user_id": "u1", "plan": "pro"}
        updated = standin.subscription_updated_event(sub.id)
        assert "items" in updated["data"]["previous_attributes"]

        with pytest.raises(stripe.AuthenticationError):
            stripe_client(standin, "sk_test_wrong").v1.subscriptions.retrieve(sub.id)
        standin.fail_next(500)
        with pytest.raises(stripe.APIError):
            client.subscriptions.retrieve(sub.id)
        assert client.subscriptions.retrieve(sub.id).status == "active"


def test_razorpay_order_dedupe_refund_and_webhook_signature() -> None:
    with ps.running_razorpay() as standin:
        client = rzp_client(standin)
        notes = {"topup_id": "t1"}
        new = {"amount": 50000, "currency": "INR", "receipt": "t1", "notes": notes}
        order = client.order.create(new)
        assert (order["status"], order["amount_due"]) == ("created", 50000)
        for bad in ({"amount": 99, "currency": "INR"}, {"amount": 500, "currency": "XYZ"}):
            with pytest.raises(BadRequest):
                client.order.create(bad)
        listed = client.order.all({"receipt": "t1"})
        assert (listed["count"], listed["items"][0]["id"]) == (1, order["id"])

        events = standin.pay(order["id"])
        payment_id = events["payment.captured"]["payload"]["payment"]["entity"]["id"]
        assert events["order.paid"]["contains"] == ["payment", "order"]
        assert client.payment.fetch(payment_id)["notes"] == notes
        refund = client.payment.refund(payment_id, {"amount": 20000, "receipt": "r1"})
        assert (refund["status"], refund["notes"]) == ("processed", [])  # Razorpay's empty notes
        with pytest.raises(BadRequest):
            client.payment.refund(payment_id, {"amount": 30001})
        refunds = client.payment.fetch_multiple_refund(payment_id)
        assert [r["receipt"] for r in refunds["items"]] == ["r1"]
        standin.refund_dashboard(payment_id, 30000)
        assert client.payment.fetch(payment_id)["status"] == "refunded"
        event = standin.refund_event(refund["id"])
        assert event["payload"]["payment"]["entity"]["amount_refunded"] == 20000

        body = json.dumps(event).encode()
        signature = ps.sign_razorpay(body, "rzp_whsec")
        assert client.utility.verify_webhook_signature(body.decode(), signature, "rzp_whsec")
        tampered = body.decode()[:-1] + " "  # one byte changed
        with pytest.raises(razorpay.errors.SignatureVerificationError):
            client.utility.verify_webhook_signature(tampered, signature, "rzp_whsec")

        with pytest.raises(BadRequest, match="Authentication failed"):
            rzp_client(standin, "wrong").order.fetch(order["id"])
        standin.fail_next(503)
        with pytest.raises(razorpay.errors.GatewayError):
            client.order.fetch(order["id"])
        assert client.order.fetch(order["id"])["status"] == "paid"
