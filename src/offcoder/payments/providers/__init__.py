"""Stripe and Razorpay: one module each (its client through the official SDK, its webhook
signature, and `parse`, which turns its events into our notices), and what they share
(`common`). The SDKs are synchronous; calls run in a thread so the event loop keeps serving."""

from __future__ import annotations

from collections.abc import Callable

from offcoder.config import Settings
from offcoder.payments.models import Provider
from offcoder.payments.notices import Notice
from offcoder.payments.providers import razorpay, stripe
from offcoder.payments.providers.common import (
    BadSignature,
    Checkout,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    VerifiedEvent,
)
from offcoder.payments.providers.razorpay import RazorpayProvider
from offcoder.payments.providers.stripe import StripeProvider

__all__ = [
    "BadSignature",
    "Checkout",
    "PaymentProvider",
    "ProviderRefused",
    "ProviderUnavailable",
    "RazorpayProvider",
    "StripeProvider",
    "VerifiedEvent",
    "configured",
    "parse",
]

PARSERS: dict[Provider, Callable[[VerifiedEvent], Notice | None]] = {
    Provider.stripe: stripe.parse,
    Provider.razorpay: razorpay.parse,
}


def parse(provider: Provider, event: VerifiedEvent) -> Notice | None:
    """What `provider`'s event tells us, by that provider's own parser."""
    return PARSERS[provider](event)


def configured(settings: Settings) -> dict[str, PaymentProvider]:
    """The providers whose keys are set."""
    providers: dict[str, PaymentProvider] = {}
    if settings.stripe_api_key is not None:
        providers[Provider.stripe] = StripeProvider(settings)
    if settings.razorpay_key_id and settings.razorpay_key_secret is not None:
        providers[Provider.razorpay] = RazorpayProvider(settings)
    return providers
