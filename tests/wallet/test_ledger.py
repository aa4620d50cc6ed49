"""The ledger (P4): concurrent spends never double-spend or lose an update, every transaction
balances, the balance always equals the sum of its entries, and idempotency keys make a retry
safe. The database holds these rules on its own too: code that skips the ledger is refused."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from offcoder.db.engine import Database
from offcoder.problems import Problem
from offcoder.wallet import ledger
from offcoder.wallet.ledger import IdempotencyKeyReused, InsufficientFunds, Posting
from offcoder.wallet.models import Account, LedgerEntry, LedgerTransaction, Wallet
from tests.support.wallet import funded, invariants, spend

pytestmark = pytest.mark.promise("P4")


@pytest.mark.parametrize(("clients", "affordable"), [(40, 15), (25, 1)])
async def test_concurrent_spends_never_overdraw(
    db: Database, clients: int, affordable: int
) -> None:
    # given a wallet holding exactly `affordable` times the amount
    amount = 700
    user_id = await funded(db, affordable * amount)

    # when `clients` spends of that amount race, each in its own transaction
    async def attempt(n: int) -> bool:
        try:
            await spend(db, user_id, amount, f"race:{n}")
        except InsufficientFunds:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(clients)))

    # then exactly `affordable` succeed, the rest fail cleanly, and nothing is lost
    assert sum(outcomes) == affordable
    wallet, wallet_sum, reserved_sum = await invariants(db, user_id)
    assert wallet.balance == 0 == wallet_sum
    assert wallet.reserved == affordable * amount == reserved_sum
    assert wallet.ledger_version == affordable + 1  # the funding, then one per success


async def test_concurrent_credits_lose_no_update(db: Database) -> None:
    user_id = await funded(db, 0)

    async def credit(n: int) -> None:
        async with db.system_session() as s:
            await ledger.post(
                s,
                user_id,
                kind="grant",
                idempotency_key=f"credit:{n}",
                currency="USD",
                postings=[Posting(Account.wallet, 100 + n), Posting(Account.grants, -(100 + n))],
            )

    await asyncio.gather(*(credit(n) for n in range(30)))
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == sum(100 + n for n in range(30))
    assert wallet.ledger_version == 30


async def test_the_same_key_replays_and_a_reused_key_is_refused(db: Database) -> None:
    user_id = await funded(db, 1000)
    first = await spend(db, user_id, 300, "buy:1")
    # The same key and request, even concurrently: the first result, nothing moves twice.
    again = await asyncio.gather(*(spend(db, user_id, 300, "buy:1") for _ in range(8)))
    assert {(p.transaction_id, p.balance, p.ledger_version) for p in again} == {
        (first.transaction_id, 700, first.ledger_version)
    }
    assert all(p.replayed for p in again)
    # The same key for a different amount: refused, nothing written.
    with pytest.raises(IdempotencyKeyReused):
        await spend(db, user_id, 301, "buy:1")
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 700


async def test_bad_amounts_are_refused(db: Database) -> None:
    for bad in (0, -5, 1.5, "10", True, ledger.MAX_AMOUNT + 1):
        with pytest.raises(Problem):
            ledger.check_amount(bad)
    user_id = await funded(db, 10)
    with pytest.raises(InsufficientFunds):
        await spend(db, user_id, 11, "too-much")
    with pytest.raises(ValueError, match="unbalanced"):
        async with db.system_session() as s:
            await ledger.post(
                s,
                user_id,
                kind="bad",
                idempotency_key="bad",
                currency="USD",
                postings=[Posting(Account.wallet, 5), Posting(Account.grants, -4)],
            )
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 10


async def test_the_database_refuses_money_moved_outside_the_ledger(db: Database) -> None:
    user_id = await funded(db, 500)

    # A balance change without entries (even as the system role): refused at commit.
    with pytest.raises(IntegrityError, match="without matching ledger entries"):
        async with db.system_session() as s:
            await s.execute(
                update(Wallet)
                .where(Wallet.user_id == user_id)
                .values(balance=Wallet.balance + 1000, ledger_version=Wallet.ledger_version + 1)
            )
    # Entries that do not balance: refused at commit.
    with pytest.raises(IntegrityError, match="does not balance"):
        await write_transactions(db, user_id, versions=[999], entry=9)
    # The ledger is append-only, for the application and the system role alike.
    for statement in (
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_transactions",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            async with db.system_session() as s:
                await s.execute(text(statement + " WHERE user_id = :u"), {"u": user_id})
    with pytest.raises(DBAPIError):
        async with db.user_session(user_id) as s:
            await s.execute(text("DELETE FROM ledger_entries WHERE user_id = :u"), {"u": user_id})
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 500


async def write_transactions(
    db: Database, user_id: uuid.UUID, *, versions: list[int], entry: int | None
) -> None:
    """Ledger rows written by hand, past `ledger.post`, as a buggy writer would."""
    async with db.system_session() as s:
        for n, version in enumerate(versions):
            tx = uuid.uuid4()
            s.add(
                LedgerTransaction(
                    id=tx,
                    user_id=user_id,
                    kind="forged",
                    idempotency_key=f"forged:{uuid.uuid4()}:{n}",
                    request_hash=b"0" * 32,
                    currency="USD",
                    balance_after=0,
                    reserved_after=0,
                    ledger_version=version,
                )
            )
            await s.flush()
            if entry is not None:
                s.add(
                    LedgerEntry(
                        transaction_id=tx,
                        user_id=user_id,
                        account="wallet",
                        amount=entry,
                        currency="USD",
                    )
                )


async def test_two_writers_cannot_both_make_the_next_version(db: Database) -> None:
    """Even code that forgets the version check cannot lose an update: (user, version) is
    unique in the ledger, so the second writer of version v + 1 fails."""
    user_id = await funded(db, 100)
    with pytest.raises(IntegrityError, match="uq_ledger_transactions_version"):
        await write_transactions(db, user_id, versions=[2, 2], entry=None)


async def test_another_users_wallet_is_out_of_reach(db: Database) -> None:
    alice = await funded(db, 1000)
    bob = await funded(db, 0)
    # Bob's own transaction, naming Alice's wallet: RLS shows him no such wallet.
    with pytest.raises(ledger.WalletMissing):
        async with db.user_session(bob) as s:
            await ledger.post(
                s,
                alice,
                kind="spend",
                idempotency_key="steal",
                currency="USD",
                postings=[Posting(Account.wallet, -1000), Posting(Account.revenue, 1000)],
            )
    wallet, _, _ = await invariants(db, alice)
    assert wallet.balance == 1000


async def test_the_application_role_cannot_create_money(db: Database) -> None:
    """User requests (the application role) may only move money between the user's own wallet
    and reserved accounts; a balanced credit from any platform account is refused."""
    user_id = await funded(db, 0)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.user_session(user_id) as s:
            await ledger.post(
                s,
                user_id,
                kind="grant",
                idempotency_key="self-service",
                currency="USD",
                postings=[Posting(Account.wallet, 10**6), Posting(Account.grants, -(10**6))],
            )
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 0


async def test_entries_cannot_be_hung_on_another_users_transaction(db: Database) -> None:
    alice = await funded(db, 500)
    bob = await funded(db, 0)
    async with db.system_session() as s:
        alices = await s.scalar(
            select(LedgerTransaction.id).where(LedgerTransaction.user_id == alice)
        )
    # Bob's own request adding a balanced pair to Alice's transaction: refused.
    with pytest.raises(IntegrityError, match="does not match its transaction"):
        await add_entries(db, bob, alices, user_id=bob, as_user=True)
    # Even the system role cannot give an entry another user or currency than its transaction.
    with pytest.raises(IntegrityError, match="does not match its transaction"):
        await add_entries(db, alice, alices, user_id=alice, currency="EUR")
    wallet, wallet_sum, _ = await invariants(db, alice)
    assert wallet.balance == wallet_sum == 500


async def add_entries(
    db: Database,
    session_user: uuid.UUID,
    transaction_id: uuid.UUID | None,
    *,
    user_id: uuid.UUID,
    currency: str = "USD",
    as_user: bool = False,
) -> None:
    assert transaction_id is not None
    opened = db.user_session(session_user) if as_user else db.system_session()
    async with opened as s:
        for amount in (7, -7):
            s.add(
                LedgerEntry(
                    transaction_id=transaction_id,
                    user_id=user_id,
                    account="wallet",
                    amount=amount,
                    currency=currency,
                )
            )
            await s.flush()
