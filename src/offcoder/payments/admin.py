"""Admin money actions (O3, O4): refunds through the provider, credit and plan grants, the
provider events that moved no money. Finance role and a recent second factor; every action in
the audit log, in the same transaction as its effect."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sqlalchemy import select

from offcoder.admin.auth import FinanceAdmin, SystemSession
from offcoder.audit.service import ActorKind, record
from offcoder.auth.dependencies import Context
from offcoder.db.base import utcnow
from offcoder.payments import refunds, service
from offcoder.payments.models import PaymentEvent, PlanSource, PlanStatus, Refund
from offcoder.payments.schemas import (
    GrantCreate,
    PaymentEventList,
    PaymentEventOut,
    PlanGrant,
    PlanOut,
    RefundCreate,
    RefundOut,
)
from offcoder.problems import NotFound
from offcoder.users.models import User
from offcoder.wallet.schemas import WalletOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])

RequiredKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Required: money moves once per key.",
    ),
]


def refund_out(refund: Refund) -> RefundOut:
    """A refund as finance sees it."""
    return RefundOut.model_validate(refund)


@router.post("/topups/{topup_id}/refunds", status_code=201)
async def refund_topup(
    topup_id: uuid.UUID,
    body: RefundCreate,
    admin: FinanceAdmin,
    ctx: Context,
    idempotency_key: RequiredKey,
) -> RefundOut:
    """Refund (part of) a paid top-up through its provider. The wallet is debited first, so
    the money cannot be spent meanwhile; a refund the provider refuses is given back."""
    # Its own transactions (refunds.refund_topup): the provider is asked between two of them.
    request = refunds.RefundRequest(
        topup_id, body.amount, body.reason, idempotency_key, admin.user_id
    )
    return refund_out(
        await refunds.refund_topup(ctx.database.system_session, ctx.payments, request)
    )


async def _user(session: SystemSession, user_id: uuid.UUID) -> None:
    if await session.get(User, user_id) is None:
        raise NotFound("user")


@router.post("/users/{user_id}/credit-grants", status_code=201)
async def grant_credit(
    user_id: uuid.UUID,
    body: GrantCreate,
    admin: FinanceAdmin,
    session: SystemSession,
    ctx: Context,
    idempotency_key: RequiredKey,
) -> WalletOut:
    """Give a user credit from the platform (a `grant` in the ledger)."""
    await _user(session, user_id)
    posted = await service.grant_credit(
        session,
        ctx.settings,
        user_id,
        body.amount,
        body.currency,
        body.reason,
        f"{user_id}:{idempotency_key}",
    )
    if not posted.replayed:
        await record(
            session,
            "admin.credit.granted",
            actor_id=admin.user_id,
            actor_kind=ActorKind.admin,
            target=f"user:{user_id}",
            details={
                "amount": body.amount,
                "currency": posted.currency,
                "reason": body.reason,
                "transaction_id": str(posted.transaction_id),
            },
        )
    return WalletOut(
        balance=posted.balance,
        reserved=posted.reserved,
        currency=posted.currency,
        ledger_version=posted.ledger_version,
    )


@router.put("/users/{user_id}/plan")
async def grant_plan(
    user_id: uuid.UUID, body: PlanGrant, admin: FinanceAdmin, session: SystemSession
) -> PlanOut:
    """Put a user on a plan for `days` days (a grant, not a payment)."""
    await _user(session, user_id)
    until = utcnow() + timedelta(days=body.days)
    plan = await service.set_plan(
        session,
        user_id,
        plan=body.plan,
        source=PlanSource.grant,
        status=PlanStatus.active,
        until=until,
    )
    await record(
        session,
        "admin.plan.granted",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target=f"user:{user_id}",
        details={"plan": body.plan, "days": body.days, "reason": body.reason},
    )
    return PlanOut(plan=plan.plan, source=plan.source, status=plan.status, until=plan.until)


@router.get("/payment-events")
async def payment_events(
    admin: FinanceAdmin,
    session: SystemSession,
    flagged: Annotated[bool, Query()] = True,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PaymentEventList:
    """Provider events, newest first; by default those stored but flagged (unknown payment,
    amount mismatch, ...) for a person to look at."""
    query = select(PaymentEvent).order_by(PaymentEvent.received_at.desc()).limit(limit)
    if flagged:
        query = query.where(PaymentEvent.flag.is_not(None) | PaymentEvent.error.is_not(None))
    events = list(await session.scalars(query))
    await record(
        session,
        "admin.payment_events.list",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target="payment_events",
        details={"flagged": flagged, "count": len(events)},
    )
    return PaymentEventList(
        items=[
            PaymentEventOut(
                id=e.id,
                provider=e.provider,
                event_id=e.event_id,
                type=e.type,
                received_at=e.received_at,
                handled_at=e.handled_at,
                flag=e.flag,
                error=e.error,
            )
            for e in events
        ]
    )
