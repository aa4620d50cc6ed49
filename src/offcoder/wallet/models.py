"""The wallet and its double-entry ledger (P4).

Money is an integer of the currency's minor unit. A wallet's `balance` (spendable) and
`reserved` (held for running jobs) are caches of its ledger: every change is one ledger
transaction of immutable entries that sum to zero, and it moves the wallet from
`ledger_version` v to v + 1 with an UPDATE that matches v (optimistic locking). The database
holds the same rules on its own: entries and transactions refuse UPDATE and DELETE, a deferred
trigger refuses a transaction whose entries do not sum to zero, another refuses a wallet change
that its entries do not explain, and (user_id, ledger_version) is unique, so two concurrent
changes can never both produce the same next version.

Ledger rows carry the user's id without a foreign key: erasing an account (V3) removes its
wallet and personal data, while the pseudonymous accounting record stays.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, utcnow


class Account(StrEnum):
    """The ledger's accounts. `wallet` and `reserved` belong to the entry's user; the others are
    the platform's, kept per user only so that every row has an owner for RLS."""

    wallet = "wallet"  # what the user may spend
    reserved = "reserved"  # held for the user's running jobs
    revenue = "revenue"  # what the platform earned
    clearing_stripe = "clearing:stripe"  # money in transit from or back to Stripe
    clearing_razorpay = "clearing:razorpay"  # ... Razorpay
    grants = "grants"  # credit the platform gave away
    write_off = "write_off"  # a provider refund the spent balance could not cover

    @classmethod
    def clearing(cls, provider: str) -> Account:
        return cls(f"clearing:{provider}")


# The accounts mirrored on the wallet row.
WALLET_ACCOUNTS = (Account.wallet, Account.reserved)


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransaction(Base):
    """One balance change: what it was, the key that makes it idempotent, and the wallet it
    left behind (returned again, unchanged, to a replay of the same key)."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="idempotency"),
        UniqueConstraint("user_id", "ledger_version", name="version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(120), index=True)
    memo: Mapped[str | None] = mapped_column(Text)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reserved_after: Mapped[int] = mapped_column(BigInteger)
    ledger_version: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One side of a transaction: `amount` is signed, and a transaction's entries sum to 0
    (debits equal credits). For the user's accounts a positive amount adds to the balance."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_user_account", "user_id", "account"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_transactions.id"), index=True
    )
    user_id: Mapped[uuid.UUID]
    account: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
