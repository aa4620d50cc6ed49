"""The wallet: balance, ledger, top-ups through hosted checkout (P1), plan subscription."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sqlalchemy import select

from offcoder.auth.dependencies import Claims, Context, CurrentUser, UserSession, live_user_session
from offcoder.kit.pagination import DEFAULT_LIMIT, Limit
from offcoder.payments import service as payments
from offcoder.payments.models import Provider, Topup, UserPlan
from offcoder.payments.providers import StripeProvider
from offcoder.problems import InvalidInput, NotFound
from offcoder.wallet import service, topups
from offcoder.wallet.schemas import (
    EntryOut,
    LedgerPage,
    LedgerTransactionOut,
    PlanOut,
    RazorpayCheckout,
    SubscriptionCreate,
    SubscriptionOut,
    TopupCreate,
    TopupOut,
    WalletOut,
)

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


@router.get("/v1/wallet")
async def get_wallet(principal: CurrentUser, session: UserSession, ctx: Context) -> WalletOut:
    wallet = await service.view(session, ctx.settings, principal.user_id)
    return WalletOut(
        balance=wallet.balance,
        reserved=wallet.reserved,
        currency=wallet.currency,
        ledger_version=wallet.ledger_version,
    )


@router.get("/v1/wallet/ledger")
async def get_ledger(
    principal: CurrentUser,
    session: UserSession,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> LedgerPage:
    """The wallet's transactions, newest first; each lists its balanced entries."""
    rows, next_cursor = await service.history(session, principal.user_id, cursor, limit)
    return LedgerPage(
        items=[
            LedgerTransactionOut(
                id=t.id,
                kind=t.kind,
                currency=t.currency,
                amount=service.spendable_change(entries),
                reference=t.reference,
                memo=t.memo,
                balance_after=t.balance_after,
                reserved_after=t.reserved_after,
                ledger_version=t.ledger_version,
                created_at=t.created_at,
                entries=[EntryOut(account=e.account, amount=e.amount) for e in entries],
            )
            for t, entries in rows
        ],
        next_cursor=next_cursor,
    )


def topup_out(topup: Topup, ctx_key_id: str | None) -> TopupOut:
    razorpay = None
    if topup.provider == Provider.razorpay.value and topup.provider_ref and ctx_key_id:
        razorpay = RazorpayCheckout(key_id=ctx_key_id, order_id=topup.provider_ref)
    return TopupOut(
        id=topup.id,
        provider=topup.provider,
        amount=topup.amount,
        currency=topup.currency,
        status=topup.status,
        checkout_url=topup.checkout_url,
        provider_ref=topup.provider_ref,
        razorpay=razorpay,
        amount_refunded=topup.amount_refunded,
        created_at=topup.created_at,
    )


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
    topup = await session.scalar(
        select(Topup).where(Topup.id == topup_id, Topup.user_id == principal.user_id)
    )
    if topup is None:
        raise NotFound("top-up")
    return topup_out(topup, ctx.settings.razorpay_key_id)


@router.get("/v1/wallet/plan")
async def get_plan(principal: CurrentUser, session: UserSession) -> PlanOut:
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
    stripe = ctx.payments.get(Provider.stripe.value)
    if not isinstance(stripe, StripeProvider):
        raise payments.ProviderNotConfigured("stripe", sorted(ctx.payments))
    price = ctx.settings.stripe_plans.get(body.plan)
    if price is None:
        known = ", ".join(sorted(ctx.settings.stripe_plans)) or "none"
        raise InvalidInput(f"Unknown plan {body.plan!r}; plans: {known}.")
    async with live_user_session(ctx, claims) as session:
        current = await session.scalar(select(UserPlan).where(UserPlan.user_id == claims.user_id))
        # An active Stripe subscription is changed, not doubled, even while an admin's grant
        # shows as the plan.
        subscription = (
            current.provider_subscription_id
            if current is not None and current.status == "active"
            else None
        )
        # Without a client key, one key per (plan, state of the plan row): a retry of this
        # change repeats nothing, and a later change back to a plan is a new request.
        version = int(current.updated_at.timestamp() * 1000) if current is not None else 0
    key = f"offcoder-plan-{claims.user_id}-{idempotency_key or f'{body.plan}-{version}'}"
    if subscription is not None:
        await stripe.change_subscription(
            subscription_id=subscription, plan=body.plan, price=price, key=key
        )
        return SubscriptionOut(plan=body.plan, checkout_url=None, status="updating")
    checkout = await stripe.subscribe_checkout(
        user_id=str(claims.user_id),
        plan=body.plan,
        price=price,
        key=key,
        return_url=ctx.settings.checkout_return,
    )
    return SubscriptionOut(plan=body.plan, checkout_url=checkout.url, status="checkout")
