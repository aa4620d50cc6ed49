"""Export of a user's data (V3): the account, its sign-ins, projects and keys, nothing secret.

File contents are not inlined (they are fetched through the files API); secrets and AI keys
appear by name or provider and last four only (R3).
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai import repository as ai_repository
from offcoder.audit.service import ActorKind, record
from offcoder.auth import identities
from offcoder.auth.models import MfaRecoveryCode, MfaTotp
from offcoder.db.base import utcnow
from offcoder.payments.models import Topup
from offcoder.privacy import consent, repository
from offcoder.privacy.schemas import (
    AccountExport,
    AIKeyExport,
    ConsentOut,
    DataExport,
    DeviceSessionExport,
    FileExport,
    IdentityExport,
    LedgerLineExport,
    MfaExport,
    ProjectExport,
    SecretNameExport,
    TopupExport,
    WalletExport,
)
from offcoder.problems import NotFound
from offcoder.projects import repository as projects_repository
from offcoder.users.models import User
from offcoder.wallet.models import LedgerTransaction, Wallet


async def export(session: AsyncSession, user_id: uuid.UUID) -> DataExport:
    """Everything held about the user, and an audit event saying it was exported."""
    # The row itself, not users/service: that module reaches the sign-in service and through
    # it the whole app context, which the worker (it builds export archives) must not load.
    user = await session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound("user")
    projects = await projects_repository.all_projects(session, user_id)
    ids = [p.id for p in projects]
    files: dict[uuid.UUID, list[FileExport]] = defaultdict(list)
    for f in await projects_repository.all_files(session, user_id, ids):
        files[f.project_id].append(
            FileExport(
                path=f.path,
                size=f.size,
                sha256=f.sha256,
                created_at=f.created_at,
                updated_at=f.updated_at,
            )
        )
    secrets: dict[uuid.UUID, list[SecretNameExport]] = defaultdict(list)
    for s in await projects_repository.all_secrets(session, user_id, ids):
        secrets[s.project_id].append(
            SecretNameExport(name=s.name, created_at=s.created_at, updated_at=s.updated_at)
        )
    document = DataExport(
        exported_at=utcnow(),
        account=AccountExport(
            id=user.id,
            handle=user.handle,
            display_name=user.display_name,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
            updated_at=user.updated_at,
        ),
        identities=[
            IdentityExport(
                provider=i.provider,
                subject=i.subject,
                email=i.email,
                email_verified=i.email_verified,
                created_at=i.created_at,
            )
            for i in await identities.list_identities(session, user_id)
        ],
        device_sessions=[
            DeviceSessionExport(
                id=d.id,
                device_name=d.device_name,
                provider=d.provider,
                created_at=d.created_at,
                last_used_at=d.last_used_at,
                expires_at=d.expires_at,
                ended_at=d.ended_at,
                end_reason=d.end_reason,
                ip_prefix=d.ip_prefix,
            )
            for d in await repository.device_sessions(session, user_id)
        ],
        mfa=await _mfa(session, user_id),
        projects=[
            ProjectExport(
                id=p.id,
                slug=p.slug,
                name=p.name,
                created_at=p.created_at,
                updated_at=p.updated_at,
                files=files[p.id],
                secrets=secrets[p.id],
            )
            for p in projects
        ],
        ai_keys=[
            AIKeyExport(
                provider=k.provider, last4=k.last4, created_at=k.created_at, updated_at=k.updated_at
            )
            for k in await ai_repository.list_keys(session, user_id)
        ],
        wallet=await _wallet(session, user_id),
        consents=[ConsentOut.model_validate(c) for c in await consent.history(session, user_id)],
    )
    await record(
        session,
        "user.exported",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
    )
    return document


async def _wallet(session: AsyncSession, user_id: uuid.UUID) -> WalletExport | None:
    wallet = await session.get(Wallet, user_id)
    if wallet is None:
        return None
    transactions = await session.scalars(
        select(LedgerTransaction)
        .where(LedgerTransaction.user_id == user_id)
        .order_by(LedgerTransaction.ledger_version)
    )
    topups = await session.scalars(
        select(Topup).where(Topup.user_id == user_id).order_by(Topup.created_at)
    )
    return WalletExport(
        balance=wallet.balance,
        reserved=wallet.reserved,
        currency=wallet.currency,
        transactions=[
            LedgerLineExport(
                id=t.id,
                kind=t.kind,
                reference=t.reference,
                balance_after=t.balance_after,
                created_at=t.created_at,
            )
            for t in transactions
        ],
        topups=[
            TopupExport(
                id=t.id,
                provider=t.provider,
                amount=t.amount,
                currency=t.currency,
                status=t.status,
                amount_refunded=t.amount_refunded,
                created_at=t.created_at,
            )
            for t in topups
        ],
    )


async def _mfa(session: AsyncSession, user_id: uuid.UUID) -> MfaExport:
    factor = await session.get(MfaTotp, user_id)
    if factor is None:
        return MfaExport(totp="off")
    left = await session.scalar(
        select(func.count())
        .select_from(MfaRecoveryCode)
        .where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None))
    )
    return MfaExport(
        totp="on" if factor.confirmed_at else "pending",
        confirmed_at=factor.confirmed_at,
        recovery_codes_left=int(left or 0),
    )
