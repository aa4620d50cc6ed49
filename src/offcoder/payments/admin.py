"""Admin money actions (O3, O4): refunds through the provider, credit and plan grants, the
provider events that moved no money. Finance role and a recent second factor; every action in
the audit log, in the same transaction as its effect."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from offcoder.admin.auth import FinanceAdmin, SystemSession
from offcoder.admin.roles import Admin
from offcoder.audit.service import ActorKind, record
from offcoder.auth.dependencies import Context
from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.payments import refunds, service
from offcoder.payments.models import (
    GrantKind,
    GrantRequest,
    GrantRequestStatus,
    PaymentEvent,
    PlanSource,
    PlanStatus,
    Refund,
)
from offcoder.payments.refunds import SelfGrant
from offcoder.payments.schemas import (
    GrantCreate,
    GrantRequestList,
    GrantRequestOut,
    PaymentEventList,
    PaymentEventOut,
    PlanGrant,
    PlanOut,
    RefundCreate,
    RefundOut,
)
from offcoder.problems import Conflict, NotFound, Problem
from offcoder.users.models import User
from offcoder.wallet.ledger import Posted
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
OptionalKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Optional: a plan grant that waits for approval is asked for once per key.",
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


class FourEyes(Problem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "four-eyes",
            "A second finance admin must approve this grant: you cannot approve one you asked for.",
        )


async def _user(session: SystemSession, user_id: uuid.UUID, admin: Admin) -> None:
    # Before the lookup: an admin learns nothing new about their own id, and nothing is written.
    if user_id == admin.user_id:
        raise SelfGrant()
    if await session.get(User, user_id) is None:
        raise NotFound("user")


def _wallet_out(posted: Posted) -> WalletOut:
    return WalletOut(
        balance=posted.balance,
        reserved=posted.reserved,
        currency=posted.currency,
        ledger_version=posted.ledger_version,
    )


async def _post_credit(
    session: SystemSession,
    settings: Settings,
    actor: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    currency: str | None,
    reason: str,
    idempotency_key: str,
    approval: dict[str, str] | None = None,
) -> Posted:
    posted = await service.grant_credit(
        session, settings, user_id, amount, currency, reason, f"{user_id}:{idempotency_key}"
    )
    if not posted.replayed:
        await record(
            session,
            "admin.credit.granted",
            actor_id=actor,
            actor_kind=ActorKind.admin,
            target=f"user:{user_id}",
            details={
                "amount": amount,
                "currency": posted.currency,
                "reason": reason,
                "transaction_id": str(posted.transaction_id),
                **(approval or {}),
            },
        )
    return posted


async def _post_plan(
    session: SystemSession,
    actor: uuid.UUID,
    user_id: uuid.UUID,
    plan_name: str,
    days: int,
    reason: str,
    approval: dict[str, str] | None = None,
) -> PlanOut:
    plan = await service.set_plan(
        session,
        user_id,
        plan=plan_name,
        source=PlanSource.grant,
        status=PlanStatus.active,
        until=utcnow() + timedelta(days=days),
    )
    await record(
        session,
        "admin.plan.granted",
        actor_id=actor,
        actor_kind=ActorKind.admin,
        target=f"user:{user_id}",
        details={"plan": plan_name, "days": days, "reason": reason, **(approval or {})},
    )
    return PlanOut(plan=plan.plan, source=plan.source, status=plan.status, until=plan.until)


async def _ask_approval(
    session: SystemSession, admin: Admin, request: GrantRequest
) -> JSONResponse:
    """Store a grant above the threshold as pending (once per key) and answer 202."""
    found = await session.scalar(
        select(GrantRequest).where(
            GrantRequest.user_id == request.user_id,
            GrantRequest.kind == request.kind,
            GrantRequest.idempotency_key == request.idempotency_key,
        )
    )
    if found is None:
        session.add(request)
        await session.flush()
        await record(
            session,
            f"admin.{request.kind}.requested",
            actor_id=admin.user_id,
            actor_kind=ActorKind.admin,
            target=f"user:{request.user_id}",
            details={
                "grant_request_id": str(request.id),
                "amount": request.amount,
                "plan": request.plan,
                "days": request.days,
                "reason": request.reason,
            },
        )
        found = request
    body = GrantRequestOut.model_validate(found).model_dump(mode="json")
    return JSONResponse(body, status_code=202)


@router.post(
    "/users/{user_id}/credit-grants",
    status_code=201,
    response_model=WalletOut,
    responses={202: {"model": GrantRequestOut, "description": "Waits for a second admin."}},
)
async def grant_credit(
    user_id: uuid.UUID,
    body: GrantCreate,
    admin: FinanceAdmin,
    session: SystemSession,
    ctx: Context,
    idempotency_key: RequiredKey,
) -> WalletOut | JSONResponse:
    """Give a user credit from the platform (a `grant` in the ledger). Never to oneself (403);
    above `admin_approval_threshold` it waits for another finance admin (202, pending)."""
    await _user(session, user_id, admin)
    if body.amount > ctx.settings.admin_approval_threshold:
        return await _ask_approval(
            session,
            admin,
            GrantRequest(
                kind=GrantKind.credit.value,
                user_id=user_id,
                amount=body.amount,
                currency=body.currency,
                reason=body.reason,
                idempotency_key=idempotency_key,
                requested_by=admin.user_id,
            ),
        )
    posted = await _post_credit(
        session,
        ctx.settings,
        admin.user_id,
        user_id,
        body.amount,
        body.currency,
        body.reason,
        idempotency_key,
    )
    return _wallet_out(posted)


@router.put(
    "/users/{user_id}/plan",
    response_model=PlanOut,
    responses={202: {"model": GrantRequestOut, "description": "Waits for a second admin."}},
)
async def grant_plan(
    user_id: uuid.UUID,
    body: PlanGrant,
    admin: FinanceAdmin,
    session: SystemSession,
    ctx: Context,
    idempotency_key: OptionalKey = None,
) -> PlanOut | JSONResponse:
    """Put a user on a plan for `days` days (a grant, not a payment). Never to oneself (403);
    longer than `admin_approval_plan_days` it waits for another finance admin (202)."""
    await _user(session, user_id, admin)
    if body.days > ctx.settings.admin_approval_plan_days:
        return await _ask_approval(
            session,
            admin,
            GrantRequest(
                kind=GrantKind.plan.value,
                user_id=user_id,
                plan=body.plan,
                days=body.days,
                reason=body.reason,
                idempotency_key=idempotency_key or str(uuid.uuid4()),
                requested_by=admin.user_id,
            ),
        )
    return await _post_plan(session, admin.user_id, user_id, body.plan, body.days, body.reason)


@router.get("/grant-requests")
async def grant_requests(
    admin: FinanceAdmin,
    session: SystemSession,
    status: Annotated[GrantRequestStatus, Query()] = GrantRequestStatus.pending,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> GrantRequestList:
    """Grants waiting for a second finance admin (or those already approved), oldest first."""
    rows = await session.scalars(
        select(GrantRequest)
        .where(GrantRequest.status == status.value)
        .order_by(GrantRequest.requested_at)
        .limit(limit)
    )
    return GrantRequestList(items=[GrantRequestOut.model_validate(r) for r in rows])


@router.post("/grant-requests/{request_id}/approve")
async def approve_grant(
    request_id: uuid.UUID, admin: FinanceAdmin, session: SystemSession, ctx: Context
) -> GrantRequestOut:
    """Approve another admin's pending grant: it is posted, and the approval and the grant are
    audited, in this one transaction. Not the requester (403), not the grant's receiver (403)."""
    request = await session.scalar(
        select(GrantRequest).where(GrantRequest.id == request_id).with_for_update()
    )
    if request is None:
        raise NotFound("grant request")
    if request.requested_by == admin.user_id:
        raise FourEyes()
    if request.user_id == admin.user_id:
        raise SelfGrant()
    if request.status != GrantRequestStatus.pending.value:
        raise Conflict("This grant was already approved.")
    request.status = GrantRequestStatus.approved.value
    request.decided_by = admin.user_id
    request.decided_at = utcnow()
    approval = {"grant_request_id": str(request.id), "requested_by": str(request.requested_by)}
    await record(
        session,
        f"admin.{request.kind}.approved",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target=f"user:{request.user_id}",
        details=approval,
    )
    if request.kind == GrantKind.credit.value:
        assert request.amount is not None
        await _post_credit(
            session,
            ctx.settings,
            admin.user_id,
            request.user_id,
            request.amount,
            request.currency,
            request.reason,
            request.idempotency_key,
            approval,
        )
    else:
        assert request.plan is not None
        assert request.days is not None
        await _post_plan(
            session,
            admin.user_id,
            request.user_id,
            request.plan,
            request.days,
            request.reason,
            approval,
        )
    await session.flush()
    return GrantRequestOut.model_validate(request)


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
