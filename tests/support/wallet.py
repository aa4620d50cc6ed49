"""Wallet test helpers: a user with a funded wallet, and the ledger's invariants read back."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.engine import Database
from offcoder.users.models import User
from offcoder.wallet import ledger
from offcoder.wallet.ledger import Posting
from offcoder.wallet.models import Account, LedgerEntry, LedgerTransaction, Wallet


async def new_user(db: Database) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with db.system_session() as s:
        s.add(User(id=user_id))
    return user_id


async def grant(db: Database, user_id: uuid.UUID, amount: int, currency: str = "USD") -> None:
    """Credit `amount` to the user's wallet (opened if need be), from the platform's grants."""
    async with db.system_session() as s:
        await ledger.open_wallet(s, user_id, currency)
        if amount:
            await ledger.post(
                s,
                user_id,
                kind="grant",
                idempotency_key=f"test-grant:{uuid.uuid4()}",
                currency=currency,
                postings=[Posting(Account.wallet, amount), Posting(Account.grants, -amount)],
            )


async def funded(db: Database, amount: int, currency: str = "USD") -> uuid.UUID:
    """A new user whose wallet holds `amount` (granted)."""
    user_id = await new_user(db)
    await grant(db, user_id, amount, currency)
    return user_id


async def spend(db: Database, user_id: uuid.UUID, amount: int, key: str) -> ledger.Posted:
    """A spend as the user's own request makes one (a job's hold: wallet to reserved), as the
    application role under RLS, in a transaction of its own."""
    async with db.user_session(user_id) as s:
        return await post_spend(s, user_id, amount, key)


async def post_spend(
    session: AsyncSession, user_id: uuid.UUID, amount: int, key: str
) -> ledger.Posted:
    """The same spend in the caller's transaction."""
    return await ledger.post(
        session,
        user_id,
        kind="spend",
        idempotency_key=key,
        currency="USD",
        postings=[Posting(Account.wallet, -amount), Posting(Account.reserved, amount)],
    )


async def invariants(db: Database, user_id: uuid.UUID) -> tuple[Wallet, int, int]:
    """The wallet row and the sums of its wallet and reserved entries; also asserts that every
    transaction of the user balances (debits = credits) and that versions have no gap."""
    async with db.system_session() as s:
        wallet = await s.get_one(Wallet, user_id)
        sums = dict(
            (
                await s.execute(
                    select(LedgerEntry.account, func.sum(LedgerEntry.amount))
                    .where(LedgerEntry.user_id == user_id)
                    .group_by(LedgerEntry.account)
                )
            ).all()
        )
        unbalanced = (
            await s.execute(
                select(LedgerEntry.transaction_id)
                .where(LedgerEntry.user_id == user_id)
                .group_by(LedgerEntry.transaction_id)
                .having(func.sum(LedgerEntry.amount) != 0)
            )
        ).all()
        assert unbalanced == []
        versions = list(
            await s.scalars(
                select(LedgerTransaction.ledger_version)
                .where(LedgerTransaction.user_id == user_id)
                .order_by(LedgerTransaction.ledger_version)
            )
        )
        assert versions == list(range(1, wallet.ledger_version + 1))
    return wallet, int(sums.get("wallet", 0)), int(sums.get("reserved", 0))
