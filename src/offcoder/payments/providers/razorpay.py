"""Razorpay through its official SDK: orders and refunds (P1, P3), its webhook signature (P2),
and what its events tell us (`parse`).

Razorpay has no idempotency header, so our key becomes the order's or refund's `receipt`, and
before repeating a call whose answer was lost we look for an object with that receipt (orders
can be listed by receipt, and a payment's refunds carry theirs). The SDK is imported when a
client is made, not with this module: the workers' payment sweep imports `parse` and holds no
provider client (decision 0012), so it should not load the SDK either.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import structlog

from offcoder.config import Settings
from offcoder.payments.models import Provider
from offcoder.payments.notices import (
    ByCheckout,
    ByPayment,
    Notice,
    PaymentNotice,
    RefundNotice,
    RefundOutcome,
    ReportedRefund,
    TopupName,
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
    import razorpay

log = structlog.get_logger(__name__)


class RazorpayProvider(PaymentProvider):
    name = Provider.razorpay

    def __init__(self, settings: Settings) -> None:
        import razorpay

        assert settings.razorpay_key_id
        assert settings.razorpay_key_secret
        self.key_id = settings.razorpay_key_id
        self.client: razorpay.Client = razorpay.Client(
            auth=(self.key_id, settings.razorpay_key_secret.get_secret_value()),
            base_url=settings.razorpay_api_base,
        )
        secret = settings.razorpay_webhook_secret
        self.webhook_secret = secret.get_secret_value() if secret else None
        self.currencies = {c.upper() for c in settings.razorpay_currencies}

    def supports(self, currency: str) -> bool:
        """Razorpay takes the currencies configured for it."""
        return currency in self.currencies

    async def _call(self, fn: Any, *args: Any) -> Any:
        import razorpay.errors
        import requests

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
        """An Order for the top-up, found again by its receipt after a lost answer."""
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
        """Refund part of a payment, our refund's id as its receipt (found again if made)."""
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
        """`X-Razorpay-Signature`: HMAC-SHA256 of the raw body."""
        import razorpay.errors

        if not self.webhook_secret:
            raise BadSignature("no Razorpay webhook secret is configured")
        signature = headers.get("x-razorpay-signature")
        if not signature:
            raise BadSignature("no X-Razorpay-Signature header")
        try:
            text_body = body.decode("utf-8")
            # HMAC-SHA256 of the raw body, compared in constant time (hmac.compare_digest).
            self.client.utility.verify_webhook_signature(text_body, signature, self.webhook_secret)
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
        return VerifiedEvent(event_id[:255], event_type(body, "event"), text_body)


# ---------------------------------------------------------------------------------- events


def parse(event: VerifiedEvent) -> Notice | None:
    """What a Razorpay event tells us; None for one we do not act on (stored, handled, no-op)."""
    doc = document(event)
    payment = _entity(doc, "payment")
    if event.type in ("payment.captured", "order.paid"):
        order_id = payment.get("order_id") or _entity(doc, "order").get("id")
        return PaymentNotice(
            Provider.razorpay,
            names=(ByCheckout(str(order_id)),) if order_id else (),
            payment_id=text(payment.get("id")),
            amount=minor_units(payment.get("amount")),
            currency=str(payment.get("currency") or ""),
            captured=payment.get("status") in (None, "captured"),
        )
    if event.type in ("refund.processed", "refund.failed"):
        refund = _entity(doc, "refund")
        names: tuple[TopupName, ...] = ()
        if payment.get("order_id"):
            names += (ByCheckout(str(payment["order_id"])),)
        if refund.get("payment_id"):
            names += (ByPayment(str(refund["payment_id"])),)
        notes = mapping(refund.get("notes"))  # Razorpay sends empty notes as a list
        failed = event.type == "refund.failed"
        reported = ReportedRefund(
            provider_refund_id=text(refund.get("id")),
            our_refund_id=text(notes.get("refund_id") or refund.get("receipt")),
            amount=minor_units(refund.get("amount")),
            outcome=RefundOutcome.failed if failed else RefundOutcome.succeeded,
        )
        return RefundNotice(
            Provider.razorpay,
            names=names,
            payment_id=text(refund.get("payment_id")),
            refunds=(reported,),
        )
    return None


def _entity(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return mapping(mapping(mapping(doc.get("payload")).get(name)).get("entity"))
