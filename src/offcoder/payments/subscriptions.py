"""A user's plan through a Stripe subscription (P3): a new one opens Stripe's checkout, an
active one is moved to the other plan. Either way the plan changes when Stripe's signed event
says so (`payments.tasks`), not here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from offcoder.auth.dependencies import live_user_session
from offcoder.auth.tokens import AccessClaims
from offcoder.context import AppContext
from offcoder.payments.models import PlanStatus, Provider, UserPlan
from offcoder.payments.providers import StripeProvider
from offcoder.payments.service import ProviderNotConfigured
from offcoder.problems import InvalidInput


class SubscriptionStep(StrEnum):
    checkout = "checkout"  # a new subscription: the user pays at Stripe's checkout
    updating = "updating"  # an active one moved to the plan: Stripe's event confirms it


@dataclass(frozen=True)
class Subscribing:
    step: SubscriptionStep
    checkout_url: str | None


async def subscribe(
    ctx: AppContext, claims: AccessClaims, plan: str, idempotency_key: str | None
) -> Subscribing:
    """Ask Stripe to put the caller on `plan`: a new subscription's checkout, or a change."""
    stripe = ctx.payments.get(Provider.stripe.value)
    if not isinstance(stripe, StripeProvider):
        raise ProviderNotConfigured(Provider.stripe.value, sorted(ctx.payments))
    price = ctx.settings.stripe_plans.get(plan)
    if price is None:
        known = ", ".join(sorted(ctx.settings.stripe_plans)) or "none"
        raise InvalidInput(f"Unknown plan {plan!r}; plans: {known}.")
    async with live_user_session(ctx, claims) as session:
        current = await session.scalar(select(UserPlan).where(UserPlan.user_id == claims.user_id))
        # An active Stripe subscription is changed, not doubled, even while an admin's grant
        # shows as the plan.
        subscription = (
            current.provider_subscription_id
            if current is not None and current.status == PlanStatus.active
            else None
        )
        # Without a client key, one key per (plan, state of the plan row): a retry of this
        # change repeats nothing, and a later change back to a plan is a new request.
        version = int(current.updated_at.timestamp() * 1000) if current is not None else 0
    key = f"offcoder-plan-{claims.user_id}-{idempotency_key or f'{plan}-{version}'}"
    if subscription is not None:
        await stripe.change_subscription(
            subscription_id=subscription, plan=plan, price=price, key=key
        )
        return Subscribing(SubscriptionStep.updating, None)
    checkout = await stripe.subscribe_checkout(
        user_id=str(claims.user_id),
        plan=plan,
        price=price,
        key=key,
        return_url=ctx.settings.checkout_return,
    )
    return Subscribing(SubscriptionStep.checkout, checkout.url)
