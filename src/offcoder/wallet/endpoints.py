"""The wallet as its owner reads it: the balance and the ledger (P4). Money comes in and goes
out through `payments` (top-ups, plans, refunds), which posts to the ledger; the wallet knows
nothing of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from offcoder.auth.dependencies import Context, CurrentUser, UserSession
from offcoder.kit.pagination import DEFAULT_LIMIT, Limit
from offcoder.wallet import service
from offcoder.wallet.schemas import EntryOut, LedgerPage, LedgerTransactionOut, WalletOut

router = APIRouter(tags=["wallet"])


@router.get("/v1/wallet")
async def get_wallet(principal: CurrentUser, session: UserSession, ctx: Context) -> WalletOut:
    """The caller's balance, what is held for their jobs, and the ledger's version."""
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
