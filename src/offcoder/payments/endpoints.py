"""Money from outside, as its owner starts and follows it: top-ups through hosted checkout (P1)
and the plan subscription (P3). The paths stay under /v1/wallet, where clients find them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from sqlalchemy import select

from offcoder.auth.dependencies import Claims, Context, CurrentUser, UserSession
from offcoder.payments import subscriptions, topups
from offcoder.payments.models import Provider, Topup, UserPlan
from offcoder.payments.schemas import (
    PlanOut,
    RazorpayCheckout,
    SubscriptionCreate,
    SubscriptionOut,
    TopupCreate,
    TopupOut,
)
from offcoder.problems import NotFound

router = APIRouter(tags=["wallet"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Makes a retry safe: the same key and body return the first result.",
    ),
]


def topup_out(topup: Topup, ctx_key_id: str | None) -> TopupOut:
    """A top-up as its owner sees it (with what Razorpay's Checkout needs, for Razorpay's)."""
    razorpay = None
    if topup.provider == Provider.razorpay.value and topup.provider_ref and ctx_key_id:
        razorpay = RazorpayCheckout(key_id=ctx_key_id, order_id=topup.provider_ref)
    return TopupOut.model_validate(topup).model_copy(update={"razorpay": razorpay})


@router.post("/v1/wallet/topups", status_code=201)
async def create_topup(
    body: TopupCreate, claims: Claims, ctx: Context, idempotency_key: IdempotencyKey = None
) -> TopupOut:
    """Start a top-up: returns the provider's hosted checkout (Stripe: `checkout_url`;
    Razorpay: `razorpay.order_id` for its Checkout). The wallet is credited when the provider
    confirms the payment; poll GET /v1/wallet or this top-up. Send an Idempotency-Key to make
    a retry safe."""
    topup = await topups.start(
        ctx,
        claims,
        provider_name=body.provider,
        amount=body.amount,
        currency=body.currency,
        idempotency_key=idempotency_key,
    )
    return topup_out(topup, ctx.settings.razorpay_key_id)


@router.get("/v1/wallet/topups/{topup_id}")
async def get_topup(
    topup_id: uuid.UUID, principal: CurrentUser, session: UserSession, ctx: Context
) -> TopupOut:
    """One of the caller's top-ups."""
    topup = await session.scalar(
        select(Topup).where(Topup.id == topup_id, Topup.user_id == principal.user_id)
    )
    if topup is None:
        raise NotFound("top-up")
    return topup_out(topup, ctx.settings.razorpay_key_id)


@router.get("/v1/wallet/plan")
async def get_plan(principal: CurrentUser, session: UserSession) -> PlanOut:
    """The caller's plan, if any."""
    plan = await session.scalar(select(UserPlan).where(UserPlan.user_id == principal.user_id))
    if plan is None:
        return PlanOut(plan=None, source=None, status=None, until=None)
    return PlanOut(plan=plan.plan, source=plan.source, status=plan.status, until=plan.until)


@router.post("/v1/wallet/subscription")
async def subscribe(
    body: SubscriptionCreate, claims: Claims, ctx: Context, idempotency_key: IdempotencyKey = None
) -> SubscriptionOut:
    """Subscribe to a plan through Stripe, or move an active subscription to another plan
    (the update carries an idempotency key, P3). The plan changes when Stripe confirms it."""
    started = await subscriptions.subscribe(ctx, claims, body.plan, idempotency_key)
    return SubscriptionOut(plan=body.plan, checkout_url=started.checkout_url, status=started.step)
