"""Posting to the ledger: the one way a wallet's money changes (P4).

`post` writes one double-entry transaction and moves the wallet from version v to v + 1 with
`UPDATE ... WHERE ledger_version = v`. When another change got there first the UPDATE matches
no row; `post` reads the wallet again and retries, a bounded number of times, with a short
jittered pause so that many waiters do not all retry in the same instant. A spend that would
take the balance below zero is refused, never clipped.

Every transaction has an idempotency key, unique per user: the same key with the same request
returns the first result again (nothing is written twice); with a different request it is
refused. Callers run `post` inside their own transaction (a job's reservation commits with the
job, a credit with the event that caused it), so nothing here commits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.base import utcnow
from offcoder.problems import Conflict, InvalidInput, Problem
from offcoder.wallet.models import (
    WALLET_ACCOUNTS,
    Account,
    LedgerEntry,
    LedgerTransaction,
    Wallet,
)

# No single movement may exceed this (10^12 minor units: ten billion dollars); anything larger
# is a bug or an attack, not a payment.
MAX_AMOUNT = 10**12
DEFAULT_ATTEMPTS = 30


class InsufficientFunds(Problem):
    def __init__(self, needed: int, available: int, currency: str) -> None:
        super().__init__(
            402,
            "insufficient-funds",
            f"This needs {needed} {currency} (minor units) and the wallet has {available}; "
            "top up with POST /v1/wallet/topups.",
            needed=needed,
            available=available,
            currency=currency,
        )


class IdempotencyKeyReused(Problem):
    def __init__(self) -> None:
        super().__init__(
            422,
            "idempotency-key-reused",
            "This idempotency key was already used for a different request; use a new key.",
        )


class LedgerBusy(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "ledger-busy",
            "The wallet changed too often while this change was being made; nothing was "
            "changed. Retry with the same idempotency key.",
            headers={"retry-after": "1"},
        )


class WalletMissing(Problem):
    def __init__(self) -> None:
        super().__init__(404, "not-found", "There is no wallet yet: top up first.")


@dataclass(frozen=True)
class Posting:
    account: Account
    amount: int


@dataclass(frozen=True)
class Posted:
    """What a transaction left behind. `replayed` is true when the key had been used before."""

    transaction_id: uuid.UUID
    balance: int
    reserved: int
    ledger_version: int
    currency: str
    replayed: bool = False


def request_hash(fields: Mapping[str, object]) -> bytes:
    """A fingerprint of a request, to tell a replay from a key reused for something else."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).digest()


def check_amount(amount: object, *, what: str = "amount") -> int:
    """A positive integer of minor units below MAX_AMOUNT, or a clear 422."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(f"{what} must be an integer number of minor units (cents, paise).")
    if amount <= 0:
        raise InvalidInput(f"{what} must be positive.")
    if amount > MAX_AMOUNT:
        raise InvalidInput(f"{what} may be at most {MAX_AMOUNT}.")
    return amount


async def open_wallet(session: AsyncSession, user_id: uuid.UUID, currency: str) -> Wallet:
    """The user's wallet, made empty in `currency` if they have none yet (a race is harmless:
    one insert wins, the other finds it)."""
    await session.execute(
        pg_insert(Wallet)
        .values(
            user_id=user_id,
            currency=currency,
            balance=0,
            reserved=0,
            ledger_version=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[Wallet.user_id])
    )
    wallet = await session.get(Wallet, user_id, populate_existing=True)
    assert wallet is not None
    return wallet


async def _replay(
    session: AsyncSession, user_id: uuid.UUID, key: str, fingerprint: bytes
) -> Posted | None:
    earlier = await session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.user_id == user_id, LedgerTransaction.idempotency_key == key
        )
    )
    if earlier is None:
        return None
    if earlier.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return Posted(
        earlier.id,
        earlier.balance_after,
        earlier.reserved_after,
        earlier.ledger_version,
        earlier.currency,
        replayed=True,
    )


async def post(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    kind: str,
    idempotency_key: str,
    currency: str,
    postings: Iterable[Posting],
    reference: str | None = None,
    memo: str | None = None,
    max_attempts: int = DEFAULT_ATTEMPTS,
) -> Posted:
    """Write one balanced transaction and move the wallet by its wallet-side postings."""
    lines = [p for p in postings if p.amount != 0]
    if len(lines) < 2 or sum(p.amount for p in lines) != 0:
        raise ValueError(f"an unbalanced or one-sided transaction: {lines}")
    if any(abs(p.amount) > MAX_AMOUNT for p in lines):
        raise InvalidInput(f"No movement may exceed {MAX_AMOUNT} minor units.")
    if not 0 < len(idempotency_key) <= 200:
        raise InvalidInput("An idempotency key is 1 to 200 characters.")
    fingerprint = request_hash(
        {
            "kind": kind,
            "currency": currency,
            "reference": reference,
            "postings": sorted((p.account.value, p.amount) for p in lines),
        }
    )
    moves = {
        account: sum(p.amount for p in lines if p.account is account) for account in WALLET_ACCOUNTS
    }
    for attempt in range(max_attempts):
        # Checked again after every lost race: the winner may have been this very key.
        replay = await _replay(session, user_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
        row = (
            await session.execute(
                select(Wallet.currency, Wallet.balance, Wallet.reserved, Wallet.ledger_version)
                .where(Wallet.user_id == user_id)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if row is None:
            raise WalletMissing()
        if row.currency != currency:
            raise InvalidInput(f"This wallet holds {row.currency}, not {currency}.")
        balance = row.balance + moves[Account.wallet]
        reserved = row.reserved + moves[Account.reserved]
        if balance < 0:
            raise InsufficientFunds(-moves[Account.wallet], row.balance, currency)
        if reserved < 0:
            raise Conflict("More would be released than is reserved.")
        version = row.ledger_version + 1
        changed = await session.execute(
            update(Wallet)
            .where(Wallet.user_id == user_id, Wallet.ledger_version == row.ledger_version)
            .values(balance=balance, reserved=reserved, ledger_version=version, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            transaction_id = uuid.uuid4()
            now = utcnow()
            await session.execute(
                insert(LedgerTransaction).values(
                    id=transaction_id,
                    user_id=user_id,
                    kind=kind,
                    idempotency_key=idempotency_key,
                    request_hash=fingerprint,
                    currency=currency,
                    reference=reference,
                    memo=memo,
                    balance_after=balance,
                    reserved_after=reserved,
                    ledger_version=version,
                    created_at=now,
                )
            )
            await session.execute(
                insert(LedgerEntry),
                [
                    {
                        "id": uuid.uuid4(),
                        "transaction_id": transaction_id,
                        "user_id": user_id,
                        "account": p.account.value,
                        "amount": p.amount,
                        "currency": currency,
                        "created_at": now,
                    }
                    for p in lines
                ],
            )
            return Posted(transaction_id, balance, reserved, version, currency)
        # Lost the race: someone committed a newer version. Under READ COMMITTED the next
        # statement sees it; pause a little (jittered, growing) before trying again.
        await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))  # noqa: S311
    raise LedgerBusy()
