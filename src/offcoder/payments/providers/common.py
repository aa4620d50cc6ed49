"""What both providers share: the interface the sagas call, its errors, and the verified event
a webhook hands on (P1-P3).

Each provider is on when its keys are configured; its API base URL is a setting (the tests
point it at a local server speaking the provider's API). Every call that creates or moves money
carries an idempotency key (see each provider's module for how).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from offcoder.payments.models import Provider
from offcoder.problems import Problem


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
    """A provider's event whose signature was checked (or one stored after that check)."""

    event_id: str
    type: str
    body: str


class PaymentProvider(ABC):
    name: Provider

    @abstractmethod
    def supports(self, currency: str) -> bool:
        """Whether this provider takes payments in `currency` here."""

    @abstractmethod
    async def create_checkout(
        self, *, topup_id: str, user_id: str, amount: int, currency: str, return_url: str
    ) -> Checkout:
        """Open the hosted checkout for a top-up (again, after a lost answer: the same one)."""

    @abstractmethod
    async def refund(
        self, *, refund_id: str, payment_id: str, amount: int, reason: str | None
    ) -> str:
        """Refund part or all of a payment; returns the provider's refund id."""

    @abstractmethod
    def verify(self, body: bytes, headers: dict[str, str]) -> VerifiedEvent:
        """Check the signature over the raw body before anything else reads it."""


def event_type(body: bytes, key: str) -> str:
    """The event's type as its signed body names it (under `key`)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadSignature("the signed body is not JSON") from exc
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value:
        raise BadSignature(f"the signed body names no {key}")
    return value[:80]


def document(event: VerifiedEvent) -> dict[str, Any]:
    """The event's body as a JSON object (a body that is not one reads as empty)."""
    doc = json.loads(event.body)
    return doc if isinstance(doc, dict) else {}


def mapping(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (providers send `[]` or null for
    empty notes and metadata)."""
    return value if isinstance(value, dict) else {}


def text(value: object) -> str | None:
    """A provider's id or code as a string, None when absent or empty."""
    return str(value) if value not in (None, "") else None


def minor_units(value: Any) -> int:
    """An amount the provider reports, in minor units (0 when absent)."""
    return int(value or 0)
