"""A server with Stripe and Razorpay configured against their local stand-ins, and helpers to
pay, sign and deliver provider events the way the providers do."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.payments.models import PaymentEvent
from tests.support import payment_standins as ps
from tests.support.apps import app_with
from tests.support.signin import SignedIn, signed_in_user

STRIPE_WHSEC = "whsec_offcoder_test"
RAZORPAY_WHSEC = "rzp_whsec_offcoder_test"


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[ps.StripeStandIn]:
    with ps.running_stripe() as standin:
        yield standin


@pytest.fixture(scope="session")
def razorpay_standin() -> Iterator[ps.RazorpayStandIn]:
    with ps.running_razorpay() as standin:
        yield standin


def payment_settings(stripe: ps.StripeStandIn, razorpay: ps.RazorpayStandIn) -> dict[str, Any]:
    return {
        # model_copy does not validate: secrets are given as SecretStr, as Settings would make.
        "stripe_api_key": SecretStr(stripe.api_key),
        "stripe_api_base": stripe.url,
        "stripe_webhook_secret": SecretStr(STRIPE_WHSEC),
        "razorpay_key_id": razorpay.key_id,
        "razorpay_key_secret": SecretStr(razorpay.key_secret),
        "razorpay_api_base": razorpay.url,
        "razorpay_webhook_secret": SecretStr(RAZORPAY_WHSEC),
    }


@dataclass
class Paying:
    api: httpx.AsyncClient
    context: AppContext
    stripe: ps.StripeStandIn
    razorpay: ps.RazorpayStandIn

    async def user(self) -> SignedIn:
        return await signed_in_user(self.context)

    async def topup(
        self,
        user: SignedIn,
        amount: int = 1000,
        *,
        provider: str = "stripe",
        currency: str | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        headers = dict(user.headers)
        if key:
            headers["Idempotency-Key"] = key
        currency = currency or ("INR" if provider == "razorpay" else "USD")
        return await self.api.post(
            "/v1/wallet/topups",
            headers=headers,
            json={"amount": amount, "currency": currency, "provider": provider},
        )

    async def wallet(self, user: SignedIn) -> dict[str, Any]:
        response = await self.api.get("/v1/wallet", headers=user.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def paid_topup(
        self, user: SignedIn, amount: int = 1000, *, provider: str = "stripe"
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """A top-up the customer paid at the provider: its JSON and the provider's events
        (not yet delivered)."""
        created = await self.topup(user, amount, provider=provider)
        assert created.status_code == 201, created.text
        topup = created.json()
        standin = self.stripe if provider == "stripe" else self.razorpay
        return topup, standin.pay(topup["provider_ref"])

    async def deliver_stripe(
        self,
        event: dict[str, Any],
        *,
        secret: str = STRIPE_WHSEC,
        timestamp: int | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        payload = body if body is not None else json.dumps(event).encode()
        signature = ps.sign_stripe(json.dumps(event).encode(), secret, timestamp)
        return await self.api.post(
            "/v1/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    async def deliver_razorpay(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        *,
        secret: str = RAZORPAY_WHSEC,
        body: bytes | None = None,
    ) -> httpx.Response:
        signed = json.dumps(event).encode()
        return await self.api.post(
            "/v1/webhooks/razorpay",
            content=body if body is not None else signed,
            headers={
                "X-Razorpay-Signature": ps.sign_razorpay(signed, secret),
                "X-Razorpay-Event-Id": event_id or self.razorpay.new_event_id(),
                "Content-Type": "application/json",
            },
        )

    @staticmethod
    def razorpay_event_id(event: dict[str, Any]) -> str:
        """How we name a Razorpay event: the hash of its signed body (the header id is not
        signed)."""
        return "sha256:" + hashlib.sha256(json.dumps(event).encode()).hexdigest()

    async def stored_events(self, provider: str, event_id: str) -> int:
        async with self.context.database.system_session() as s:
            count = await s.scalar(
                select(func.count())
                .select_from(PaymentEvent)
                .where(PaymentEvent.provider == provider, PaymentEvent.event_id == event_id)
            )
        return int(count or 0)

    async def event_flag(self, provider: str, event_id: str) -> str | None:
        async with self.context.database.system_session() as s:
            event = await s.scalar(
                select(PaymentEvent).where(
                    PaymentEvent.provider == provider, PaymentEvent.event_id == event_id
                )
            )
        assert event is not None
        assert event.handled_at is not None, event.error
        return event.flag


@pytest.fixture(scope="session")
async def paying(
    settings: Settings,
    prepared: PreparedDatabase,
    stripe_standin: ps.StripeStandIn,
    razorpay_standin: ps.RazorpayStandIn,
) -> AsyncIterator[Paying]:
    overrides = payment_settings(stripe_standin, razorpay_standin)
    overrides["stripe_plans"] = {
        "basic": stripe_standin.add_price(900, interval="month"),
        "pro": stripe_standin.add_price(1900, interval="month"),
    }
    async with app_with(settings, prepared, **overrides) as (api, ctx):
        yield Paying(api, ctx, stripe_standin, razorpay_standin)


def new_key() -> str:
    return str(uuid.uuid4())
