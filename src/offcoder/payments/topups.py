"""Starting a top-up, for the API and the web console alike: our row first, then the
provider's hosted checkout (P1, P3).

Each step is its own short transaction in the user's RLS session: the provider is never asked
while a row lock is held. The provider's own idempotency (Stripe) or our receipt lookup
(Razorpay) makes asking again after a lost answer safe, and `call_provider_once` makes two
concurrent retries of one top-up take turns.
"""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth.dependencies import live_user_session
from offcoder.auth.tokens import AccessClaims
from offcoder.context import AppContext
from offcoder.payments import service
from offcoder.payments.models import Topup, TopupStatus
from offcoder.payments.providers import Checkout, ProviderRefused
from offcoder.payments.saga import call_provider_once
from offcoder.problems import InvalidInput


async def start(
    ctx: AppContext,
    claims: AccessClaims,
    *,
    provider_name: str,
    amount: int,
    currency: str,
    idempotency_key: str | None,
) -> Topup:
    """The top-up for this key: new and opened at the provider, or the earlier one again."""
    settings = ctx.settings
    provider = ctx.payments.get(provider_name)
    if provider is None:
        raise service.ProviderNotConfigured(provider_name, sorted(ctx.payments))
    code = service.check_currency(settings, currency)
    if not provider.supports(code):
        raise InvalidInput(f"{provider_name} does not take {code} here.")
    key = idempotency_key or f"auto:{uuid.uuid4()}"
    request = service.TopupRequest(provider_name, amount, code)
    try:
        async with live_user_session(ctx, claims) as session:
            topup = await service.begin_topup(session, settings, claims.user_id, request, key)
    except IntegrityError:
        # The same key sent twice at once: the other request made the row; answer as a replay.
        async with live_user_session(ctx, claims) as session:
            topup = await service.begin_topup(session, settings, claims.user_id, request, key)
    if topup.status != TopupStatus.creating.value:
        return topup  # a replay: the first answer again

    async def recorded(call: AsyncSession) -> Topup | None:
        current = await call.get_one(Topup, topup.id, populate_existing=True)
        return current if current.status != TopupStatus.creating.value else None

    async def ask() -> Checkout:
        return await provider.create_checkout(
            topup_id=str(topup.id),
            user_id=str(claims.user_id),
            amount=topup.amount,
            currency=topup.currency,
            return_url=settings.checkout_return,
        )

    async def record(checkout: Checkout) -> Topup:
        async with live_user_session(ctx, claims) as session:
            await session.execute(
                update(Topup)
                .where(
                    Topup.id == topup.id,
                    Topup.user_id == claims.user_id,
                    Topup.status == TopupStatus.creating.value,
                )
                .values(
                    status=TopupStatus.open.value,
                    provider_ref=checkout.provider_ref,
                    checkout_url=checkout.url,
                )
            )
            return await session.get_one(Topup, topup.id, populate_existing=True)

    async def refused(refusal: ProviderRefused) -> None:
        async with live_user_session(ctx, claims) as session:
            await session.execute(
                update(Topup)
                .where(Topup.id == topup.id, Topup.user_id == claims.user_id)
                .values(status=TopupStatus.failed.value, failure=refusal.detail[:500])
            )

    return await call_provider_once(
        partial(live_user_session, ctx, claims),
        topup.id,
        recorded=recorded,
        ask=ask,
        record=record,
        refused=refused,
    )
