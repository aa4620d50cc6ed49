"""The wallet as its owner sees it, and what jobs cost (P4).

Every movement is a `ledger.post` with a key derived from what caused it (a job, a payment, an
admin's request), so a retried step never moves money twice. The wallet knows jobs only by id:
it returns a job's hold as a value (`JobHold`), which `jobs` keeps on the job's row and hands
back to settle. It imports neither `jobs` nor `payments` (tests/wallet/test_import_contracts.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.kit.pagination import INTEGER, Keyset
from offcoder.wallet import ledger
from offcoder.wallet.ledger import InsufficientFunds, Posting
from offcoder.wallet.models import Account, LedgerEntry, LedgerTransaction, Wallet

# The ledger listing, newest first: a wallet's versions are unique, so the version alone is the key.
LEDGER_PAGES: Keyset[LedgerTransaction] = Keyset(
    "ledger", (INTEGER,), lambda t: (t.ledger_version,)
)


@dataclass(frozen=True)
class WalletView:
    """The wallet's balance, what is held, its currency and version (zeros before it exists)."""

    balance: int
    reserved: int
    currency: str
    ledger_version: int


async def view(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> WalletView:
    """The caller's wallet, or an empty one in the default currency."""
    wallet = await session.get(Wallet, user_id)
    if wallet is None:
        return WalletView(0, 0, settings.default_currency, 0)
    return WalletView(wallet.balance, wallet.reserved, wallet.currency, wallet.ledger_version)


async def history(
    session: AsyncSession, user_id: uuid.UUID, after: str | None, limit: int
) -> tuple[list[tuple[LedgerTransaction, list[LedgerEntry]]], str | None]:
    """The wallet's transactions, newest first, each with its entries."""
    statement = select(LedgerTransaction).where(LedgerTransaction.user_id == user_id)
    start = LEDGER_PAGES.after(after or None)
    if start is not None:
        statement = statement.where(LedgerTransaction.ledger_version < start[0])
    rows, next_cursor = LEDGER_PAGES.page(
        list(
            await session.scalars(
                statement.order_by(LedgerTransaction.ledger_version.desc()).limit(limit + 1)
            )
        ),
        limit,
    )
    entries: dict[uuid.UUID, list[LedgerEntry]] = {t.id: [] for t in rows}
    if rows:
        for entry in await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user_id, LedgerEntry.transaction_id.in_(entries))
            .order_by(LedgerEntry.account)
        ):
            entries[entry.transaction_id].append(entry)
    return [(t, entries[t.id]) for t in rows], next_cursor


def spendable_change(entries: list[LedgerEntry]) -> int:
    """What a transaction did to the spendable balance: the sum of its wallet entries."""
    return sum(e.amount for e in entries if e.account == Account.wallet.value)


# ---------------------------------------------------------------------------------- jobs


def job_reservation(price_per_minute: int, timeout_s: int) -> int:
    """The most a job may cost: its whole timeout, rounded up to a minor unit."""
    return -(-price_per_minute * timeout_s // 60)


def job_cost(price_per_minute: int, wall_ms: int, reserved: int) -> int:
    """What a job used, by the second (rounded up), never more than was reserved."""
    seconds = -(-max(wall_ms, 0) // 1000)
    return min(reserved, -(-price_per_minute * seconds // 60))


@dataclass(frozen=True)
class JobHold:
    """What was held for a job at submission: the most it may cost, at the price of then. The
    job's row keeps it (jobs records it); settling needs it back."""

    currency: str
    price_per_minute: int
    amount: int


async def reserve_for_job(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    job_id: uuid.UUID,
    timeout_s: int,
) -> JobHold | None:
    """Hold the job's greatest possible cost, in the submitting transaction (402 if the wallet
    cannot cover it). None, and nothing held, when the wallet's currency has no price."""
    wallet = await session.get(Wallet, user_id)
    currency = wallet.currency if wallet is not None else settings.default_currency
    price = settings.job_price_per_minute.get(currency, 0)
    if price <= 0:
        return None
    amount = job_reservation(price, timeout_s)
    if wallet is None:
        raise InsufficientFunds(amount, 0, currency)
    await ledger.post(
        session,
        user_id,
        kind="job.reserve",
        idempotency_key=f"job:{job_id}:reserve",
        currency=currency,
        postings=[Posting(Account.wallet, -amount), Posting(Account.reserved, amount)],
        reference=f"job:{job_id}",
    )
    return JobHold(currency=currency, price_per_minute=price, amount=amount)


async def settle_job(
    session: AsyncSession,
    user_id: uuid.UUID,
    job_id: uuid.UUID,
    hold: JobHold | None,
    wall_ms: int | None,
) -> int:
    """Charge what the job used (wall time in the sandbox) and release the rest of its hold.

    `wall_ms` None charges nothing (the job never ran, or ended by our fault). Returns the
    charge (0 without a hold). Safe to repeat: the key is the job's.
    """
    if hold is None or hold.amount <= 0:
        return 0
    cost = 0 if wall_ms is None else job_cost(hold.price_per_minute, wall_ms, hold.amount)
    await ledger.post(
        session,
        user_id,
        kind="job.settle",
        idempotency_key=f"job:{job_id}:settle",
        currency=hold.currency,
        postings=[
            Posting(Account.reserved, -hold.amount),
            Posting(Account.revenue, cost),
            Posting(Account.wallet, hold.amount - cost),
        ],
        reference=f"job:{job_id}",
    )
    return cost
