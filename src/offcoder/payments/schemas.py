"""The API shapes of money from outside: top-ups, plans, refunds, grants and provider events.
Amounts are integers of minor units; there is no card field (P1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Currency = Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$", examples=["USD"])]
Amount = Annotated[StrictInt, Field(description="Minor units (cents, paise)", examples=[1000])]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=500)]


class TopupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount
    currency: Currency
    provider: Literal["stripe", "razorpay"]


class RazorpayCheckout(BaseModel):
    """What Razorpay's Checkout needs (it opens on an order, not a URL)."""

    key_id: str
    order_id: str


class TopupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    amount: int
    currency: str
    status: str = Field(description="creating | open | paid | failed")
    checkout_url: str | None = Field(description="Stripe's hosted checkout page")
    provider_ref: str | None
    razorpay: RazorpayCheckout | None = None
    amount_refunded: int
    created_at: datetime


class PlanOut(BaseModel):
    plan: str | None
    source: str | None
    status: str | None
    until: datetime | None


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: StrictStr = Field(min_length=1, max_length=32)


class SubscriptionOut(BaseModel):
    plan: str
    checkout_url: str | None = Field(description="Set when a new subscription must be paid")
    status: str


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount
    reason: Reason | None = None


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    topup_id: uuid.UUID
    amount: int
    currency: str
    status: str
    provider_refund_id: str | None
    failure: str | None


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount
    currency: Currency | None = None
    reason: Reason


class PlanGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: StrictStr = Field(min_length=1, max_length=32)
    days: StrictInt = Field(ge=1, le=3660)
    reason: Reason


class PaymentEventOut(BaseModel):
    id: uuid.UUID
    provider: str
    event_id: str
    type: str
    received_at: datetime
    handled_at: datetime | None
    flag: str | None
    error: str | None


class PaymentEventList(BaseModel):
    items: list[PaymentEventOut]


class GrantRequestOut(BaseModel):
    """A grant waiting for (or given) a second finance admin's approval."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    kind: str
    user_id: uuid.UUID
    amount: int | None
    currency: str | None
    plan: str | None
    days: int | None
    reason: str
    status: str
    requested_by: uuid.UUID
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_at: datetime | None


class GrantRequestList(BaseModel):
    items: list[GrantRequestOut]
