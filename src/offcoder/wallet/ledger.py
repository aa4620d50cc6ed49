"""Posting to the ledger: the one way a wallet's money changes (P4).

`post` is one call of the database function `ledger_post` (migration 0011), one round trip:
it looks the idempotency key up, locks the wallet row, looks the key up again (a writer of the
same key may have committed while this one waited for the lock), refuses a spend that would
take the balance below zero (never clips it), moves the wallet from version v to v + 1 and
writes the transaction and its entries. Writers of one wallet queue on its row lock in
PostgreSQL rather than losing optimistic races and retrying from here. The function runs as the
caller's role, so RLS and the triggers of migration 0006 hold exactly as for any other writer.

Every transaction has an idempotency key, unique per user: the same key with the same request
returns the first result again (nothing is written twice); with a different request it is
refused. Callers run `post` inside their own transaction (a job's reservation commits with the
job, a credit with the event that caused it), so nothing here commits; a refusal (no funds, a
reused key) comes back from the function as an outcome, not an error, so the caller's
transaction stays usable.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.base import utcnow
from offcoder.problems import Conflict, InvalidInput, Problem
from offcoder.wallet.models import Account, Wallet

# No single movement may exceed this (10^12 minor units: ten billion dollars); anything larger
# is a bug or an attack, not a payment.
MAX_AMOUNT = 10**12

POST = text(
    "SELECT outcome, transaction_id, balance, reserved, ledger_version, currency "
    "FROM ledger_post(CAST(:user_id AS uuid), CAST(:kind AS text), CAST(:key AS text), "
    "CAST(:hash AS bytea), CAST(:currency AS text), CAST(:reference AS text), "
    "CAST(:memo AS text), CAST(:accounts AS text[]), CAST(:amounts AS bigint[]), "
    "CAST(:at AS timestamptz))"
)


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
) -> Posted:
    """Write one balanced transaction and move the wallet by its wallet-side postings.

    One round trip (`ledger_post`): the database queues writers on the wallet's row, so no post
    loses a race and nothing is retried (see the module's docstring)."""
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
    if session.new or session.dirty or session.deleted:
        # A textual statement does not autoflush as the ORM statements here used to; the
        # caller's pending rows (a wallet just opened, a top-up's new status) go first.
        await session.flush()
    # psycopg prepares the statement after a few calls on a connection; the casts pin the
    # parameter types, so every call reuses that one prepared plan.
    row = (
        await session.execute(
            POST,
            {
                "user_id": user_id,
                "kind": kind,
                "key": idempotency_key,
                "hash": fingerprint,
                "currency": currency,
                "reference": reference,
                "memo": memo,
                "accounts": [p.account.value for p in lines],
                "amounts": [p.amount for p in lines],
                "at": utcnow(),
            },
        )
    ).one()
    outcome = row.outcome
    if outcome == "posted" or outcome == "replayed":
        return Posted(
            row.transaction_id,
            row.balance,
            row.reserved,
            row.ledger_version,
            row.currency,
            replayed=outcome == "replayed",
        )
    if outcome == "reused":
        raise IdempotencyKeyReused()
    if outcome == "missing":
        raise WalletMissing()
    if outcome == "currency":
        raise InvalidInput(f"This wallet holds {row.currency}, not {currency}.")
    if outcome == "insufficient":
        wallet_move = sum(p.amount for p in lines if p.account is Account.wallet)
        raise InsufficientFunds(-wallet_move, row.balance, currency)
    if outcome == "over-release":
        raise Conflict("More would be released than is reserved.")
    raise RuntimeError(f"ledger_post answered {outcome!r}")
