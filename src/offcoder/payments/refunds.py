"""An admin's refund of a paid top-up, through its provider (P3, O3): the refund row made and
the wallet debited first (so the money cannot be spent meanwhile), then the provider asked
once (`call_provider_once`), then its answer recorded, or its refusal given back. Each step is
audited in the transaction that makes it.

The transactions are the system role's (a refund acts on another user's wallet, behind the
finance role and a second factor); the admin router hands them in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.payments import service
from offcoder.payments.models import Refund, RefundStatus, Topup
from offcoder.payments.providers import PaymentProvider, ProviderRefused
from offcoder.payments.saga import call_provider_once
from offcoder.problems import Problem

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class SelfGrant(Problem):
    """Review F11: no finance admin grants credit, a plan or a refund to themselves."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "self-grant",
            "You cannot grant credit, a plan or a refund to yourself: ask another finance admin.",
        )


@dataclass(frozen=True)
class RefundRequest:
    """What an admin asked for, under their Idempotency-Key."""

    topup_id: uuid.UUID
    amount: object  # checked by `service.begin_refund` (an integer of minor units, > 0)
    reason: str | None
    idempotency_key: str
    admin_id: uuid.UUID


async def refund_topup(
    transaction: Transaction, providers: Mapping[str, PaymentProvider], request: RefundRequest
) -> Refund:
    """Make (or, for the same key, find again) an admin's refund, through its provider."""
    target = f"topup:{request.topup_id}"

    async def audit(session: AsyncSession, action: str, details: dict[str, object]) -> None:
        await record(
            session,
            action,
            actor_id=request.admin_id,
            actor_kind=ActorKind.admin,
            target=target,
            details=details,
        )

    async with transaction() as session:
        # Review F11: an admin never sends money back to themselves.
        owner = await session.scalar(select(Topup.user_id).where(Topup.id == request.topup_id))
        if owner == request.admin_id:
            raise SelfGrant()
        topup, refund, created = await service.begin_refund(
            session,
            request.topup_id,
            request.amount,
            request.reason,
            request.idempotency_key,
            request.admin_id,
        )
        provider = providers.get(topup.provider)
        if provider is None:
            raise service.ProviderNotConfigured(topup.provider, sorted(providers))
        await audit(
            session,
            "admin.refund.requested" if created else "admin.refund.replayed",
            {"refund_id": str(refund.id), "amount": refund.amount, "reason": request.reason},
        )
        payment_id = topup.provider_payment_id
    if refund.status != RefundStatus.requested.value:
        return refund
    assert payment_id is not None  # begin_refund refuses a top-up without a payment
    paid_by: str = payment_id

    async def recorded(call: AsyncSession) -> Refund | None:
        # An admin's double click: the second call waits for the first, then finds it settled.
        current = await call.get_one(Refund, refund.id, populate_existing=True)
        return current if current.status != RefundStatus.requested.value else None

    async def ask() -> str:
        return await provider.refund(
            refund_id=str(refund.id), payment_id=paid_by, amount=refund.amount, reason=None
        )

    async def made(provider_refund_id: str) -> Refund:
        async with transaction() as session:
            stored = await service.refund_made(session, refund.id, provider_refund_id)
            await audit(
                session,
                "admin.refund.succeeded",
                {"refund_id": str(refund.id), "provider_refund_id": provider_refund_id},
            )
            return stored

    async def refused(refusal: ProviderRefused) -> None:
        async with transaction() as session:
            await service.fail_refund(session, refund.id, refusal.detail)
            await audit(session, "admin.refund.failed", {"refund_id": str(refund.id)})

    return await call_provider_once(
        transaction, refund.id, recorded=recorded, ask=ask, record=made, refused=refused
    )
