"""Top-ups (P1, P3): the provider's hosted checkout takes the money, so no card field exists in
our API; every create carries an idempotency key; bad input is refused and writes nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest
import razorpay  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import func, select

from offcoder.context import AppContext
from offcoder.payments.models import Topup
from offcoder.wallet.models import LedgerEntry, Wallet
from tests.payments.conftest import Paying, new_key
from tests.support.signin import SignedIn, signed_in_user


async def topup_rows(paying: Paying, user: SignedIn) -> int:
    me = (await paying.api.get("/v1/me", headers=user.headers)).json()["id"]
    async with paying.context.database.system_session() as s:
        count = await s.scalar(
            select(func.count()).select_from(Topup).where(Topup.user_id == uuid.UUID(me))
        )
    return int(count or 0)


@pytest.mark.promise("P1")
async def test_a_stripe_top_up_opens_the_hosted_checkout(paying: Paying) -> None:
    user = await paying.user()
    created = await paying.topup(user, 2500, currency="usd")
    assert created.status_code == 201, created.text
    topup = created.json()
    assert (topup["status"], topup["amount"], topup["currency"]) == ("open", 2500, "USD")
    assert topup["checkout_url"].startswith(paying.stripe.url + "/pay/cs_")
    sent = paying.stripe.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.params["metadata"]["topup_id"] == topup["id"]
    assert sent.params["payment_intent_data"]["metadata"]["topup_id"] == topup["id"]
    # Nothing about a card was sent: the customer types it into Stripe's page.
    assert not re.search(r"card|cvc|cvv|number|exp_", str(sent.params), re.I)
    # Not credited until the provider says so (signed, by webhook).
    assert (await paying.wallet(user))["balance"] == 0
    shown = await paying.api.get(f"/v1/wallet/topups/{topup['id']}", headers=user.headers)
    assert shown.json()["status"] == "open"
    events = paying.stripe.pay(topup["provider_ref"])
    await paying.deliver_stripe(events["checkout.session.completed"])
    shown = await paying.api.get(f"/v1/wallet/topups/{topup['id']}", headers=user.headers)
    assert shown.json()["status"] == "paid"
    assert (await paying.wallet(user))["balance"] == 2500


@pytest.mark.promise("P1")
async def test_no_card_field_anywhere_in_the_api(paying: Paying) -> None:
    schema = (await paying.api.get("/openapi.json")).json()
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                names.add(key.lower())
                walk(value)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert {"amount", "currency", "provider"} <= names  # the walk does see the top-up body
    card = re.compile(r"card|cvc|cvv|pan$|expiry|exp_month|exp_year|iban|account_number")
    assert sorted(n for n in names if card.search(n)) == []


@pytest.mark.promise("P3")
async def test_stripe_create_carries_an_idempotency_key_and_a_retry_makes_one_session(
    paying: Paying,
) -> None:
    user = await paying.user()
    key = new_key()
    paying.stripe.fail_next(500)
    failed = await paying.topup(user, 1500, key=key)
    assert failed.status_code == 502
    assert failed.json()["type"].endswith("/payment-provider-unavailable")
    sessions_before = len(paying.stripe.sessions)
    retried = await paying.topup(user, 1500, key=key)
    again = await paying.topup(user, 1500, key=key)
    assert retried.status_code == again.status_code == 201
    assert retried.json()["id"] == again.json()["id"]
    assert retried.json()["provider_ref"] == again.json()["provider_ref"]
    assert len(paying.stripe.sessions) == sessions_before + 1
    topup_id = retried.json()["id"]
    keys = {r.idempotency_key for r in paying.stripe.requests if r.path == "/v1/checkout/sessions"}
    assert f"offcoder-topup-{topup_id}" in keys
    # The same key for another amount: refused, nothing new.
    reused = await paying.topup(user, 1600, key=key)
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert await topup_rows(paying, user) == 1


@pytest.mark.promise("P3")
async def test_razorpay_order_carries_our_key_as_receipt_and_is_never_made_twice(
    paying: Paying,
) -> None:
    user = await paying.user()
    key = new_key()
    created = await paying.topup(user, 50000, provider="razorpay", key=key)
    assert created.status_code == 201, created.text
    topup = created.json()
    assert topup["razorpay"] == {
        "key_id": paying.razorpay.key_id,
        "order_id": topup["provider_ref"],
    }
    order = paying.razorpay.orders[topup["provider_ref"]]
    assert order["receipt"] == topup["id"] and order["notes"]["topup_id"] == topup["id"]

    # An answer lost on the way back: the order exists at Razorpay, our row is still
    # `creating`. The retry finds the order by its receipt instead of making a second one.
    second_key = new_key()
    paying.razorpay.fail_next(503)
    lost = await paying.topup(user, 60000, provider="razorpay", key=second_key)
    assert lost.status_code == 502
    async with paying.context.database.system_session() as s:
        pending = await s.scalar(select(Topup).where(Topup.idempotency_key == second_key))
    assert pending is not None and pending.status == "creating"
    client = razorpay.Client(
        auth=(paying.razorpay.key_id, paying.razorpay.key_secret), base_url=paying.razorpay.url
    )
    made = client.order.create({"amount": 60000, "currency": "INR", "receipt": str(pending.id)})
    orders_before = len(paying.razorpay.orders)
    retried = await paying.topup(user, 60000, provider="razorpay", key=second_key)
    assert retried.status_code == 201, retried.text
    assert retried.json()["provider_ref"] == made["id"]
    assert len(paying.razorpay.orders) == orders_before


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("negative", {"amount": -100, "currency": "USD", "provider": "stripe"}),
    ("zero", {"amount": 0, "currency": "USD", "provider": "stripe"}),
    ("fraction", {"amount": 10.5, "currency": "USD", "provider": "stripe"}),
    ("float that looks whole", {"amount": 1000.0, "currency": "USD", "provider": "stripe"}),
    ("string", {"amount": "1000", "currency": "USD", "provider": "stripe"}),
    ("boolean", {"amount": True, "currency": "USD", "provider": "stripe"}),
    ("absurd", {"amount": 10**15, "currency": "USD", "provider": "stripe"}),
    ("below the minimum", {"amount": 99, "currency": "USD", "provider": "stripe"}),
    ("unknown currency", {"amount": 1000, "currency": "XYZ", "provider": "stripe"}),
    ("not a currency", {"amount": 1000, "currency": "dollars", "provider": "stripe"}),
    ("unknown provider", {"amount": 1000, "currency": "USD", "provider": "paypal"}),
    ("Razorpay in USD", {"amount": 1000, "currency": "USD", "provider": "razorpay"}),
    ("a card number", {"amount": 1000, "currency": "USD", "provider": "stripe", "card": "4242"}),
    ("missing amount", {"currency": "USD", "provider": "stripe"}),
]


@pytest.mark.parametrize(("why", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_top_ups_are_refused_and_write_nothing(
    paying: Paying, why: str, body: dict[str, Any]
) -> None:
    user = await paying.user()
    sent_before = len(paying.stripe.requests) + len(paying.razorpay.requests)
    response = await paying.api.post("/v1/wallet/topups", headers=user.headers, json=body)
    assert response.status_code == 422, (why, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await topup_rows(paying, user) == 0
    assert len(paying.stripe.requests) + len(paying.razorpay.requests) == sent_before


async def test_a_wallet_keeps_its_currency(paying: Paying) -> None:
    user = await paying.user()
    assert (await paying.topup(user, 1000, currency="EUR")).status_code == 201
    other = await paying.topup(user, 1000, currency="GBP")
    assert other.status_code == 422 and "EUR" in other.json()["detail"]
    assert (await paying.wallet(user))["currency"] == "EUR"


async def test_a_provider_not_configured_is_a_clear_error(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    response = await api.post(
        "/v1/wallet/topups",
        headers=user.headers,
        json={"amount": 1000, "currency": "USD", "provider": "stripe"},
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/payment-provider-not-configured")
    wallet = (await api.get("/v1/wallet", headers=user.headers)).json()
    assert wallet == {"balance": 0, "reserved": 0, "currency": "USD", "ledger_version": 0}


async def test_someone_elses_top_up_and_ledger_are_invisible(paying: Paying) -> None:
    alice, bob = await paying.user(), await paying.user()
    topup, events = await paying.paid_topup(alice, 1000)
    await paying.deliver_stripe(events["payment_intent.succeeded"])
    seen = await paying.api.get(f"/v1/wallet/topups/{topup['id']}", headers=bob.headers)
    assert seen.status_code == 404
    ledger = (await paying.api.get("/v1/wallet/ledger", headers=bob.headers)).json()
    assert ledger["items"] == []


@pytest.mark.promise("V3")
async def test_the_export_holds_the_wallet_and_its_top_ups(paying: Paying) -> None:
    user = await paying.user()
    topup, events = await paying.paid_topup(user, 1100)
    await paying.deliver_stripe(events["checkout.session.completed"])
    doc = (await paying.api.get("/v1/me/export", headers=user.headers)).json()
    wallet = doc["wallet"]
    assert (wallet["balance"], wallet["currency"]) == (1100, "USD")
    assert [t["kind"] for t in wallet["transactions"]] == ["topup"]
    assert [(t["id"], t["status"]) for t in wallet["topups"]] == [(topup["id"], "paid")]
    assert "checkout_url" not in str(wallet) and "pi_" not in str(wallet)


@pytest.mark.promise("V3")
async def test_erasing_an_account_with_a_wallet_keeps_only_the_pseudonymous_ledger(
    paying: Paying,
) -> None:
    user = await paying.user()
    me = uuid.UUID((await paying.api.get("/v1/me", headers=user.headers)).json()["id"])
    _, events = await paying.paid_topup(user, 1300)
    await paying.deliver_stripe(events["checkout.session.completed"])
    assert (await paying.api.delete("/v1/me", headers=user.headers)).status_code == 204
    async with paying.context.database.system_session() as s:
        assert await s.get(Wallet, me) is None
        assert (
            await s.scalar(select(func.count()).select_from(Topup).where(Topup.user_id == me)) == 0
        )
        kept = await s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.user_id == me)
        )
    assert kept == 2  # the top-up's two entries: no name, no e-mail, only amounts
    # A late provider event about the erased payment: stored, flagged, nothing credited.
    late = await paying.deliver_stripe(events["payment_intent.succeeded"])
    assert late.status_code == 200
    event_id = events["payment_intent.succeeded"]["id"]
    assert await paying.event_flag("stripe", event_id) == "unknown_payment"


@pytest.mark.promise("P3")
@pytest.mark.parametrize("provider", ["stripe", "razorpay"])
async def test_the_same_key_sent_at_once_makes_one_checkout(paying: Paying, provider: str) -> None:
    user = await paying.user()
    key = new_key()
    amount = 70000 if provider == "razorpay" else 1700
    made_before = len(paying.razorpay.orders) + len(paying.stripe.sessions)
    paying.razorpay.latency_s = paying.stripe.latency_s = 0.2  # the calls overlap
    try:
        answers = await asyncio.gather(
            *(paying.topup(user, amount, provider=provider, key=key) for _ in range(6))
        )
    finally:
        paying.razorpay.latency_s = paying.stripe.latency_s = 0.0
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["provider_ref"] for a in answers}) == 1
    assert len(paying.razorpay.orders) + len(paying.stripe.sessions) == made_before + 1
    assert await topup_rows(paying, user) == 1
