"""Plans through Stripe (P3): a first subscription goes through the hosted checkout; changing
plan is a subscription update carrying an idempotency key; the plan follows Stripe's signed
events, not the request."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.payments.conftest import Paying
from tests.support.signin import SignedIn

pytestmark = pytest.mark.promise("P3")


async def me(paying: Paying, user: SignedIn) -> str:
    return str((await paying.api.get("/v1/me", headers=user.headers)).json()["id"])


async def test_subscribe_then_change_plan(paying: Paying) -> None:
    user = await paying.user()
    started = await paying.api.post(
        "/v1/wallet/subscription", headers=user.headers, json={"plan": "basic"}
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "checkout"
    session_id = started.json()["checkout_url"].rsplit("/", 1)[-1]
    sent = paying.stripe.requests[-1]
    assert sent.path == "/v1/checkout/sessions" and sent.idempotency_key.startswith("offcoder-plan")
    # Not on the plan until Stripe says so.
    assert (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()["plan"] is None
    for event in paying.stripe.pay(session_id).values():
        assert (await paying.deliver_stripe(event)).status_code == 200
    plan = (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()
    assert (plan["plan"], plan["source"], plan["status"]) == ("basic", "stripe", "active")

    changed = await paying.api.post(
        "/v1/wallet/subscription",
        headers=user.headers | {"Idempotency-Key": "move-to-pro"},
        json={"plan": "pro"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "updating"
    update = [
        r for r in paying.stripe.requests if r.method == "POST" and "/subscriptions/" in r.path
    ]
    assert update
    assert update[-1].idempotency_key == f"offcoder-plan-{await me(paying, user)}-move-to-pro"
    subscription_id = update[-1].path.rsplit("/", 1)[-1]
    # Stripe confirms the change with its event (the plan name rides in the metadata).
    event = paying.stripe.subscription_updated_event(subscription_id)
    assert (await paying.deliver_stripe(event)).status_code == 200
    plan = (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()
    assert plan["plan"] == "pro"


async def test_an_unknown_plan_is_refused(paying: Paying) -> None:
    user = await paying.user()
    response = await paying.api.post(
        "/v1/wallet/subscription", headers=user.headers, json={"plan": "platinum"}
    )
    assert response.status_code == 422
    assert "basic" in response.json()["detail"]


async def test_a_late_event_does_not_revive_a_cancelled_subscription(paying: Paying) -> None:
    user = await paying.user()
    started = await paying.api.post(
        "/v1/wallet/subscription", headers=user.headers, json={"plan": "basic"}
    )
    events = paying.stripe.pay(started.json()["checkout_url"].rsplit("/", 1)[-1])
    for event in events.values():
        await paying.deliver_stripe(event)
    created = events["customer.subscription.created"]
    deleted = json.loads(json.dumps(created))
    deleted["id"], deleted["type"] = f"evt_del_{uuid.uuid4().hex}", "customer.subscription.deleted"
    deleted["data"]["object"]["status"] = "canceled"
    late = json.loads(json.dumps(created))
    late["id"], late["type"] = f"evt_late_{uuid.uuid4().hex}", "customer.subscription.updated"
    assert (await paying.deliver_stripe(deleted)).status_code == 200
    assert (await paying.deliver_stripe(late)).status_code == 200  # sent before, arrived after
    plan = (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()
    assert (plan["plan"], plan["status"]) == ("basic", "canceled")
