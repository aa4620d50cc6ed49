"""Admin refunds, credit and plan grants (P3, O3, O4): finance role and a recent second factor,
money moved once per key, the provider asked with an idempotency key, every action audited."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, update

from offcoder.admin.roles import Role
from offcoder.audit.models import AuditEvent
from offcoder.payments import tasks
from offcoder.payments.models import PaymentEvent, Refund
from tests.payments.conftest import Paying, new_key
from tests.support.admin import granted
from tests.support.mfa import with_mfa
from tests.support.signin import SignedIn
from tests.support.users import user_id
from tests.support.wallet import spend

pytestmark = [pytest.mark.promise("P3"), pytest.mark.promise("O3")]


async def finance_admin(paying: Paying) -> dict[str, str]:
    admin = await paying.user()
    await granted(paying.context, await user_id(paying.api, admin), Role.finance)
    return await with_mfa(paying.api, admin)


async def paid(paying: Paying, user: SignedIn, amount: int, provider: str = "stripe") -> str:
    topup, events = await paying.paid_topup(user, amount, provider=provider)
    for event in events.values():
        if provider == "stripe":
            assert (await paying.deliver_stripe(event)).status_code == 200
        else:
            assert (await paying.deliver_razorpay(event)).status_code == 200
    return str(topup["id"])


async def audited(paying: Paying, target: str) -> list[str]:
    async with paying.context.database.system_session() as s:
        return list(
            await s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == target)
                .order_by(AuditEvent.seq)
            )
        )


async def test_a_stripe_refund_moves_money_once(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 3000)
    key = new_key()
    path = f"/v1/admin/topups/{topup}/refunds"
    refunded = await paying.api.post(
        path, headers=admin | {"Idempotency-Key": key}, json={"amount": 1200, "reason": "asked"}
    )
    assert refunded.status_code == 201, refunded.text
    refund = refunded.json()
    assert refund["status"] == "succeeded" and refund["provider_refund_id"].startswith("re_")
    sent = [r for r in paying.stripe.requests if r.path == "/v1/refunds"][-1]
    assert sent.idempotency_key == f"offcoder-refund-{refund['id']}"
    assert sent.params["amount"] == "1200"
    assert (await paying.wallet(user))["balance"] == 1800

    # The admin's retry with the same key: the same refund, the provider not asked again.
    refunds_at_stripe = len(paying.stripe.refunds)
    again = await paying.api.post(
        path, headers=admin | {"Idempotency-Key": key}, json={"amount": 1200, "reason": "asked"}
    )
    assert again.status_code == 201 and again.json()["id"] == refund["id"]
    assert len(paying.stripe.refunds) == refunds_at_stripe
    # Stripe's own event about this refund: recognised as ours, not taken twice.
    stripe_says = paying.stripe.refund_event(refund["provider_refund_id"])
    assert (await paying.deliver_stripe(stripe_says)).status_code == 200
    wallet = await paying.wallet(user)
    assert wallet["balance"] == 1800
    assert await audited(paying, f"topup:{topup}") == [
        "admin.refund.requested",
        "admin.refund.succeeded",
        "admin.refund.replayed",
    ]


async def test_refunds_beyond_what_was_paid_or_is_left_are_refused(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 2000)
    path = f"/v1/admin/topups/{topup}/refunds"

    async def refund(amount: object) -> int:
        response = await paying.api.post(
            path, headers=admin | {"Idempotency-Key": new_key()}, json={"amount": amount}
        )
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.status_code

    assert await refund(2001) == 422  # more than was paid
    assert await refund(0) == 422
    assert await refund(-5) == 422
    assert await refund(12.5) == 422
    # The user spends most of it (a grant-free spend: a job reservation would do the same).
    me = await user_id(paying.api, user)
    await spend(paying.context.database, me, 1500, "spend-most")
    assert await refund(600) == 409  # only 500 is left unspent
    missing = await paying.api.post(
        f"/v1/admin/topups/{uuid.uuid4()}/refunds",
        headers=admin | {"Idempotency-Key": new_key()},
        json={"amount": 1},
    )
    assert missing.status_code == 404
    no_key = await paying.api.post(path, headers=admin, json={"amount": 100})
    assert no_key.status_code == 422
    assert (await paying.wallet(user))["balance"] == 500
    assert not [r for r in paying.stripe.requests if r.params.get("amount") == "600"]


async def test_a_refund_the_provider_refuses_is_given_back(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 2000)
    paying.stripe.fail_next(400, error_type="invalid_request_error")
    refused = await paying.api.post(
        f"/v1/admin/topups/{topup}/refunds",
        headers=admin | {"Idempotency-Key": new_key()},
        json={"amount": 700},
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/payment-provider-refused")
    wallet = await paying.wallet(user)
    assert wallet["balance"] == 2000
    async with paying.context.database.system_session() as s:
        statuses = list(
            await s.scalars(select(Refund.status).where(Refund.topup_id == uuid.UUID(topup)))
        )
    assert statuses == ["failed"]
    kinds = [
        t["kind"]
        for t in (await paying.api.get("/v1/wallet/ledger", headers=user.headers)).json()["items"]
    ]
    assert kinds == ["refund.reversed", "refund", "topup"]


async def test_a_razorpay_refund_carries_our_receipt(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 40000, provider="razorpay")
    response = await paying.api.post(
        f"/v1/admin/topups/{topup}/refunds",
        headers=admin | {"Idempotency-Key": new_key()},
        json={"amount": 15000},
    )
    assert response.status_code == 201, response.text
    refund = response.json()
    stored = paying.razorpay.refunds[refund["provider_refund_id"]]
    assert stored["receipt"] == refund["id"]
    # Razorpay's event about it later: no second debit.
    razorpay_says = paying.razorpay.refund_event(refund["provider_refund_id"])
    assert (await paying.deliver_razorpay(razorpay_says)).status_code == 200
    assert (await paying.wallet(user))["balance"] == 25000


async def test_a_refund_made_on_the_providers_dashboard_after_the_money_was_spent(
    paying: Paying,
) -> None:
    """Refunded outside our API after the user spent the credit: the wallet goes to zero, never
    below, and the rest is written off in the ledger for a person to follow up."""
    user = await paying.user()
    _, events = await paying.paid_topup(user, 1000)
    for event in events.values():
        await paying.deliver_stripe(event)
    me = await user_id(paying.api, user)
    await spend(paying.context.database, me, 900, "spend")
    intent = events["payment_intent.succeeded"]["data"]["object"]["id"]
    _, refunded = paying.stripe.refund_dashboard(intent, 1000)
    assert (await paying.deliver_stripe(refunded)).status_code == 200
    wallet = await paying.wallet(user)
    assert wallet["balance"] == 0
    last = (await paying.api.get("/v1/wallet/ledger", headers=user.headers)).json()["items"][0]
    assert {e["account"]: e["amount"] for e in last["entries"]} == {
        "wallet": -100,
        "write_off": -900,
        "clearing:stripe": 1000,
    }


async def test_credit_and_plan_grants_are_audited_and_idempotent(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    target = await user_id(paying.api, user)
    key = new_key()
    body = {"amount": 500, "reason": "sorry for the outage"}
    path = f"/v1/admin/users/{target}/credit-grants"
    first = await paying.api.post(path, headers=admin | {"Idempotency-Key": key}, json=body)
    second = await paying.api.post(path, headers=admin | {"Idempotency-Key": key}, json=body)
    assert first.status_code == second.status_code == 201, first.text
    assert first.json() == second.json()
    assert (await paying.wallet(user))["balance"] == 500
    changed = await paying.api.post(
        path, headers=admin | {"Idempotency-Key": key}, json={**body, "amount": 5000}
    )
    assert changed.status_code == 422
    for bad in ({"amount": -1, "reason": "x"}, {"amount": 10, "reason": ""}, {"amount": 10}):
        refused = await paying.api.post(
            path, headers=admin | {"Idempotency-Key": new_key()}, json=bad
        )
        assert refused.status_code == 422
    unknown = await paying.api.post(
        f"/v1/admin/users/{uuid.uuid4()}/credit-grants",
        headers=admin | {"Idempotency-Key": new_key()},
        json=body,
    )
    assert unknown.status_code == 404

    plan = await paying.api.put(
        f"/v1/admin/users/{target}/plan",
        headers=admin,
        json={"plan": "pro", "days": 30, "reason": "beta tester"},
    )
    assert plan.status_code == 200, plan.text
    mine = (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()
    assert (mine["plan"], mine["source"], mine["status"]) == ("pro", "grant", "active")
    assert await audited(paying, f"user:{target}") == ["admin.credit.granted", "admin.plan.granted"]


async def test_money_actions_need_the_finance_role_and_a_second_factor(paying: Paying) -> None:
    user = await paying.user()
    target = await user_id(paying.api, user)
    path = f"/v1/admin/users/{target}/credit-grants"
    body = {"amount": 500, "reason": "x"}
    # No role at all.
    plain = await paying.api.post(path, headers=user.headers | {"Idempotency-Key": "k"}, json=body)
    assert plain.status_code == 403
    # Another role (support), even with MFA.
    support = await paying.user()
    await granted(paying.context, await user_id(paying.api, support), Role.support)
    support_headers = await with_mfa(paying.api, support)
    wrong_role = await paying.api.post(
        path, headers=support_headers | {"Idempotency-Key": "k"}, json=body
    )
    assert wrong_role.status_code == 403
    # The role without a second factor.
    finance = await paying.user()
    await granted(paying.context, await user_id(paying.api, finance), Role.finance)
    no_mfa = await paying.api.post(
        path, headers=finance.headers | {"Idempotency-Key": "k"}, json=body
    )
    assert no_mfa.status_code == 403 and no_mfa.json()["type"].endswith("/mfa-required")
    assert (await paying.wallet(user))["balance"] == 0


async def test_flagged_provider_events_are_listed_for_finance(paying: Paying) -> None:
    admin = await finance_admin(paying)
    event = {
        "id": f"evt_flag_{uuid.uuid4().hex}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_nobody", "amount": 5, "currency": "usd", "metadata": {}}},
    }
    await paying.deliver_stripe(event)
    listed = await paying.api.get("/v1/admin/payment-events", headers=admin)
    assert listed.status_code == 200
    flags = {e["event_id"]: e["flag"] for e in listed.json()["items"]}
    assert flags[event["id"]] == "unknown_payment"


async def test_an_admins_double_click_makes_one_razorpay_refund(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 40000, provider="razorpay")
    key = new_key()
    refunds_before = len(paying.razorpay.refunds)
    paying.razorpay.latency_s = 0.2  # the calls overlap at the provider
    try:
        answers = await asyncio.gather(
            *(
                paying.api.post(
                    f"/v1/admin/topups/{topup}/refunds",
                    headers=admin | {"Idempotency-Key": key},
                    json={"amount": 10000},
                )
                for _ in range(4)
            )
        )
    finally:
        paying.razorpay.latency_s = 0.0
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(paying.razorpay.refunds) == refunds_before + 1
    assert (await paying.wallet(user))["balance"] == 30000


async def test_a_stripe_refund_that_fails_later_is_given_back(paying: Paying) -> None:
    admin = await finance_admin(paying)
    user = await paying.user()
    topup = await paid(paying, user, 2000)
    made = await paying.api.post(
        f"/v1/admin/topups/{topup}/refunds",
        headers=admin | {"Idempotency-Key": new_key()},
        json={"amount": 800},
    )
    assert made.status_code == 201
    assert (await paying.wallet(user))["balance"] == 1200
    # Stripe later reports the refund failed (e.g. the card was closed).
    event = paying.stripe.refund_event(made.json()["provider_refund_id"])
    failed = {
        "id": f"evt_refund_failed_{uuid.uuid4().hex}",
        "object": "event",
        "type": "refund.failed",
        "data": {
            "object": {
                **event["data"]["object"]["refunds"]["data"][0],
                "status": "failed",
            }
        },
    }
    assert (await paying.deliver_stripe(failed)).status_code == 200
    assert (await paying.wallet(user))["balance"] == 2000
    again = await paying.deliver_stripe(failed)  # and only once
    assert again.json()["duplicate"] is True
    assert (await paying.wallet(user))["balance"] == 2000


async def test_a_dashboard_refund_seen_before_its_payment_waits_for_it(paying: Paying) -> None:
    """Stripe's refund names only the payment intent, which we learn from the payment's own
    event: the refund is kept and applied once the payment is known, not dropped."""
    user = await paying.user()
    _, events = await paying.paid_topup(user, 1000)
    intent = events["payment_intent.succeeded"]["data"]["object"]["id"]
    refund, _ = paying.stripe.refund_dashboard(intent, 300)
    bare = {
        "id": f"evt_refund_{uuid.uuid4().hex}",
        "object": "event",
        "type": "refund.created",
        "data": {"object": {**refund, "metadata": {}}},
    }
    assert (await paying.deliver_stripe(bare)).status_code == 200
    async with paying.context.database.system_session() as s:
        waiting = await s.scalar(select(PaymentEvent).where(PaymentEvent.event_id == bare["id"]))
        assert waiting is not None and waiting.handled_at is None and waiting.error
    await paying.deliver_stripe(events["checkout.session.completed"])
    assert (await paying.wallet(user))["balance"] == 1000
    # Its pause over, a worker's sweep applies it.
    async with paying.context.database.system_session() as s:
        await s.execute(
            update(PaymentEvent)
            .where(PaymentEvent.event_id == bare["id"])
            .values(next_attempt_at=None)
        )
    assert await tasks.handle_pending(paying.context.database) >= 1
    assert await paying.event_flag("stripe", bare["id"]) is None
    assert (await paying.wallet(user))["balance"] == 700
