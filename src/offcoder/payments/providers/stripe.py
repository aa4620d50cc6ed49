"""Stripe through its official SDK: hosted checkout, refunds and subscription changes (P1, P3),
its webhook signature (P2), and what its events tell us (`parse`).

Every call carries Stripe's `Idempotency-Key`. The SDK is imported when a client is made, not
with this module: the workers' payment sweep imports `parse` and holds no provider client
(decision 0012), so it should not load the SDK either.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from offcoder.config import Settings
from offcoder.payments.models import PlanStatus, Provider
from offcoder.payments.notices import (
    ByCheckout,
    ByPayment,
    Notice,
    PaymentNotice,
    RefundNotice,
    RefundOutcome,
    ReportedRefund,
    SubscriptionNotice,
    TopupName,
    by_topup_id,
    our_id,
)
from offcoder.payments.providers.common import (
    BadSignature,
    Checkout,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    VerifiedEvent,
    document,
    event_type,
    mapping,
    minor_units,
    text,
)

if TYPE_CHECKING:
    import stripe

log = structlog.get_logger(__name__)


class StripeProvider(PaymentProvider):
    name = Provider.stripe

    def __init__(self, settings: Settings) -> None:
        import stripe

        assert settings.stripe_api_key is not None
        self.client: stripe.StripeClient = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            # Retrying is ours to decide (with the same idempotency key), not hidden in the SDK.
            max_network_retries=0,
        )
        secret = settings.stripe_webhook_secret
        self.webhook_secret = secret.get_secret_value() if secret else None
        self.tolerance = settings.stripe_webhook_tolerance_s

    def supports(self, currency: str) -> bool:
        """Stripe takes every currency we accept."""
        return True

    async def _call(self, fn: Any, params: dict[str, Any], key: str) -> Any:
        import stripe

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
        """A Checkout Session for the top-up (the same one again for the same top-up)."""
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
        """Refund part of a payment intent, keyed by our refund's id."""
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
        """Move a subscription to another price (prorated); Stripe's event confirms it."""
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
        """A Checkout Session that starts a subscription to `plan`."""
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
        """`Stripe-Signature` over the raw body, its timestamp within the tolerance."""
        import stripe

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
        return VerifiedEvent(str(event.id), event_type(body, "type"), body.decode())


# ---------------------------------------------------------------------------------- events

CHECKOUT_DONE = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
REFUND_OUTCOMES = {
    "succeeded": RefundOutcome.succeeded,
    "failed": RefundOutcome.failed,
    "canceled": RefundOutcome.failed,
}


def parse(event: VerifiedEvent) -> Notice | None:
    """What a Stripe event tells us; None for one we do not act on (stored, handled, no-op)."""
    kind = event.type
    obj = mapping(mapping(document(event).get("data")).get("object"))
    metadata = mapping(obj.get("metadata"))
    if kind in CHECKOUT_DONE:
        if obj.get("mode") == "subscription":
            return _subscription(obj.get("subscription"), metadata, PlanStatus.active)
        if obj.get("payment_status") != "paid":
            return None  # an async payment method: its own event comes later
        return PaymentNotice(
            Provider.stripe,
            names=(ByCheckout(str(obj.get("id"))),),
            payment_id=text(obj.get("payment_intent")),
            amount=minor_units(obj.get("amount_total")),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "payment_intent.succeeded":
        return PaymentNotice(
            Provider.stripe,
            names=by_topup_id(metadata.get("topup_id")),
            payment_id=text(obj.get("id")),
            amount=minor_units(obj.get("amount_received") or obj.get("amount")),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "charge.refunded":
        listed = mapping(obj.get("refunds")).get("data") or []
        return _refunds(obj, tuple(_refund(mapping(r)) for r in listed))
    if kind in REFUND_EVENTS:
        return _refunds(obj, (_refund(obj),))
    if kind.startswith("customer.subscription."):
        deleted = kind.endswith(".deleted")
        status = PlanStatus.canceled if deleted else PlanStatus(obj.get("status") or "active")
        return _subscription(obj.get("id"), metadata, status)
    return None


def _refunds(obj: dict[str, Any], refunds: tuple[ReportedRefund, ...]) -> RefundNotice:
    """Refunds of a charge or payment intent. Stripe's refunds carry only the payment intent,
    which we learn from the payment's own event: by our id first, when the object has it."""
    intent = text(obj.get("payment_intent"))
    names: tuple[TopupName, ...] = by_topup_id(mapping(obj.get("metadata")).get("topup_id"))
    if intent:
        names += (ByPayment(intent),)
    return RefundNotice(Provider.stripe, names=names, payment_id=intent, refunds=refunds)


def _refund(refund: dict[str, Any]) -> ReportedRefund:
    """One Stripe refund: taken when it succeeded, given back when it failed or was cancelled,
    left alone while pending (its later event decides)."""
    return ReportedRefund(
        provider_refund_id=text(refund.get("id")),
        our_refund_id=text(mapping(refund.get("metadata")).get("refund_id")),
        amount=minor_units(refund.get("amount")),
        outcome=REFUND_OUTCOMES.get(str(refund.get("status")), RefundOutcome.pending),
    )


def _subscription(
    subscription_id: object, metadata: dict[str, Any], status: PlanStatus
) -> SubscriptionNotice:
    return SubscriptionNotice(
        Provider.stripe,
        subscription_id=text(subscription_id),
        user_id=our_id(metadata.get("user_id")),
        plan=text(metadata.get("plan")),
        status=status,
    )
