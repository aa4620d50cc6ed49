"""Stripe and Razorpay through their official SDKs (P1, P3), and their webhook signatures (P2).

Each provider is on when its keys are configured; its API base URL is a setting (the tests
point it at a local server speaking the provider's API). Every call that creates or moves money
carries an idempotency key: Stripe's `Idempotency-Key` header; Razorpay has none, so our key
becomes the order's or refund's `receipt`, and before repeating a call whose answer was lost
we look for an object with that receipt (Razorpay lets orders be listed by receipt, and a
payment's refunds carry theirs).

The SDKs are synchronous; calls run in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import razorpay
import razorpay.errors
import requests
import stripe
import structlog

from offcoder.config import Settings
from offcoder.payments.models import Provider
from offcoder.problems import Problem

log = structlog.get_logger(__name__)


class ProviderUnavailable(Problem):
    """The provider did not answer or failed on its side: safe to retry with the same key."""

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(
            502,
            "payment-provider-unavailable",
            f"{provider} could not be reached or failed ({detail}); nothing was charged. "
            "Retry with the same Idempotency-Key.",
            provider=provider,
        )


class ProviderRefused(Problem):
    """The provider refused the request itself: repeating it will not help."""

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(
            422, "payment-provider-refused", f"{provider} refused: {detail}", provider=provider
        )


class BadSignature(Exception):
    """A webhook whose signature is missing, wrong or stale."""


@dataclass(frozen=True)
class Checkout:
    """What the client needs to open the provider's hosted checkout."""

    provider_ref: str
    url: str | None
    client: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifiedEvent:
    event_id: str
    type: str
    body: str


class PaymentProvider(ABC):
    name: Provider

    @abstractmethod
    def supports(self, currency: str) -> bool: ...

    @abstractmethod
    async def create_checkout(
        self, *, topup_id: str, user_id: str, amount: int, currency: str, return_url: str
    ) -> Checkout: ...

    @abstractmethod
    async def refund(
        self, *, refund_id: str, payment_id: str, amount: int, reason: str | None
    ) -> str:
        """Refund part or all of a payment; returns the provider's refund id."""

    @abstractmethod
    def verify(self, body: bytes, headers: dict[str, str]) -> VerifiedEvent:
        """Check the signature over the raw body before anything else reads it."""


def _event_type(body: bytes, key: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadSignature("the signed body is not JSON") from exc
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value:
        raise BadSignature(f"the signed body names no {key}")
    return value[:80]


class StripeProvider(PaymentProvider):
    name = Provider.stripe

    def __init__(self, settings: Settings) -> None:
        assert settings.stripe_api_key is not None
        self.client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            # Retrying is ours to decide (with the same idempotency key), not hidden in the SDK.
            max_network_retries=0,
        )
        secret = settings.stripe_webhook_secret
        self.webhook_secret = secret.get_secret_value() if secret else None
        self.tolerance = settings.stripe_webhook_tolerance_s

    def supports(self, currency: str) -> bool:
        return True

    async def _call(self, fn: Any, params: dict[str, Any], key: str) -> Any:
        try:
            return await asyncio.to_thread(fn, params=params, options={"idempotency_key": key})
        except (stripe.InvalidRequestError, stripe.CardError, stripe.IdempotencyError) as exc:
            raise ProviderRefused("Stripe", exc.user_message or str(exc)) from exc
        except stripe.StripeError as exc:
            log.warning("stripe call failed", error=type(exc).__name__)
            raise ProviderUnavailable("Stripe", type(exc).__name__) from exc

    async def create_checkout(
        self, *, topup_id: str, user_id: str, amount: int, currency: str, return_url: str
    ) -> Checkout:
        metadata = {"topup_id": topup_id, "user_id": user_id}
        session = await self._call(
            self.client.v1.checkout.sessions.create,
            {
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {
                            "currency": currency.lower(),
                            "unit_amount": amount,
                            "product_data": {"name": "OffCoder credit"},
                        },
                        "quantity": 1,
                    }
                ],
                "client_reference_id": topup_id,
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "success_url": f"{return_url}?topup={topup_id}&result=paid",
                "cancel_url": f"{return_url}?topup={topup_id}&result=cancelled",
            },
            f"offcoder-topup-{topup_id}",
        )
        return Checkout(provider_ref=session.id, url=session.url)

    async def refund(
        self, *, refund_id: str, payment_id: str, amount: int, reason: str | None
    ) -> str:
        refund = await self._call(
            self.client.v1.refunds.create,
            {
                "payment_intent": payment_id,
                "amount": amount,
                "metadata": {"refund_id": refund_id},
            },
            f"offcoder-refund-{refund_id}",
        )
        return str(refund.id)

    async def change_subscription(
        self, *, subscription_id: str, plan: str, price: str, key: str
    ) -> dict[str, Any]:
        current = await self._call(
            lambda params, options: self.client.v1.subscriptions.retrieve(subscription_id),
            {},
            key + "-read",
        )
        item = current["items"]["data"][0]["id"]
        updated = await self._call(
            lambda params, options: self.client.v1.subscriptions.update(
                subscription_id, params=params, options=options
            ),
            {
                "items": [{"id": item, "price": price}],
                "proration_behavior": "create_prorations",
                # Stripe's event about the change names the plan back to us.
                "metadata": {"plan": plan},
            },
            key,
        )
        result: dict[str, Any] = updated.to_dict()
        return result

    async def subscribe_checkout(
        self, *, user_id: str, plan: str, price: str, key: str, return_url: str
    ) -> Checkout:
        metadata = {"user_id": user_id, "plan": plan}
        session = await self._call(
            self.client.v1.checkout.sessions.create,
            {
                "mode": "subscription",
                "line_items": [{"price": price, "quantity": 1}],
                "client_reference_id": user_id,
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
                "success_url": f"{return_url}?plan={plan}&result=subscribed",
                "cancel_url": f"{return_url}?plan={plan}&result=cancelled",
            },
            key,
        )
        return Checkout(provider_ref=session.id, url=session.url)

    def verify(self, body: bytes, headers: dict[str, str]) -> VerifiedEvent:
        if not self.webhook_secret:
            raise BadSignature("no Stripe webhook secret is configured")
        signature = headers.get("stripe-signature")
        if not signature:
            raise BadSignature("no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                body, signature, self.webhook_secret, tolerance=self.tolerance
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise BadSignature(str(exc)) from exc
        return VerifiedEvent(str(event.id), _event_type(body, "type"), body.decode())


class RazorpayProvider(PaymentProvider):
    name = Provider.razorpay

    def __init__(self, settings: Settings) -> None:
        assert settings.razorpay_key_id
        assert settings.razorpay_key_secret
        self.key_id = settings.razorpay_key_id
        self.client = razorpay.Client(
            auth=(self.key_id, settings.razorpay_key_secret.get_secret_value()),
            base_url=settings.razorpay_api_base,
        )
        secret = settings.razorpay_webhook_secret
        self.webhook_secret = secret.get_secret_value() if secret else None
        self.currencies = {c.upper() for c in settings.razorpay_currencies}

    def supports(self, currency: str) -> bool:
        return currency in self.currencies

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except razorpay.errors.BadRequestError as exc:
            raise ProviderRefused("Razorpay", str(exc)) from exc
        except (
            razorpay.errors.ServerError,
            razorpay.errors.GatewayError,
            requests.RequestException,
        ) as exc:
            log.warning("razorpay call failed", error=type(exc).__name__)
            raise ProviderUnavailable("Razorpay", type(exc).__name__) from exc

    async def create_checkout(
        self, *, topup_id: str, user_id: str, amount: int, currency: str, return_url: str
    ) -> Checkout:
        # Our dedupe in place of an idempotency header: an order with this receipt made by an
        # earlier attempt whose answer was lost is used again instead of making a second one.
        found = await self._call(self.client.order.all, {"receipt": topup_id})
        items = [o for o in found.get("items", []) if o.get("receipt") == topup_id]
        order = items[0] if items else None
        if order is None:
            order = await self._call(
                self.client.order.create,
                {
                    "amount": amount,
                    "currency": currency,
                    "receipt": topup_id,
                    "notes": {"topup_id": topup_id, "user_id": user_id},
                },
            )
        return Checkout(
            provider_ref=str(order["id"]),
            url=None,
            client={"key_id": self.key_id, "order_id": order["id"]},
        )

    async def refund(
        self, *, refund_id: str, payment_id: str, amount: int, reason: str | None
    ) -> str:
        listed = await self._call(self.client.payment.fetch_multiple_refund, payment_id, {})
        for earlier in listed.get("items", []):
            if earlier.get("receipt") == refund_id:
                return str(earlier["id"])
        refund = await self._call(
            self.client.payment.refund,
            payment_id,
            {"amount": amount, "receipt": refund_id, "notes": {"refund_id": refund_id}},
        )
        return str(refund["id"])

    def verify(self, body: bytes, headers: dict[str, str]) -> VerifiedEvent:
        if not self.webhook_secret:
            raise BadSignature("no Razorpay webhook secret is configured")
        signature = headers.get("x-razorpay-signature")
        if not signature:
            raise BadSignature("no X-Razorpay-Signature header")
        try:
            text = body.decode("utf-8")
            # HMAC-SHA256 of the raw body, compared in constant time (hmac.compare_digest).
            self.client.utility.verify_webhook_signature(text, signature, self.webhook_secret)
        except (
            razorpay.errors.SignatureVerificationError,
            UnicodeError,
            TypeError,  # a signature header that is not ASCII
        ) as exc:
            raise BadSignature("the Razorpay signature does not match") from exc
        # Razorpay signs no timestamp, and its event id travels in a header the signature does
        # not cover: a replay could carry a fresh id. So the event's identity is the hash of the
        # signed body; the unique (provider, event id) row is the only replay protection.
        event_id = "sha256:" + hashlib.sha256(body).hexdigest()
        return VerifiedEvent(event_id[:255], _event_type(body, "event"), text)


def configured(settings: Settings) -> dict[str, PaymentProvider]:
    """The providers whose keys are set."""
    providers: dict[str, PaymentProvider] = {}
    if settings.stripe_api_key is not None:
        providers[Provider.stripe] = StripeProvider(settings)
    if settings.razorpay_key_id and settings.razorpay_key_secret is not None:
        providers[Provider.razorpay] = RazorpayProvider(settings)
    return providers
