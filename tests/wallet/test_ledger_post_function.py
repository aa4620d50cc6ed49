"""`ledger_post`, the database function behind `ledger.post` (migration 0011, P4): one round trip
that checks the key, versions the wallet under its row lock and writes the transaction and its
entries. What it decides is tested here, through `post` and by calling it directly as a buggy or
hostile caller would; the rules of migration 0006 still hold around it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Row, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase, alembic_config, role_password, setup, sync_url
from offcoder.db.engine import Database
from offcoder.problems import Conflict, InvalidInput
from offcoder.wallet import ledger
from offcoder.wallet.ledger import IdempotencyKeyReused, InsufficientFunds, Posting
from offcoder.wallet.models import Account
from tests.support.wallet import funded, grant, invariants, new_user, post_spend, spend

pytestmark = pytest.mark.promise("P4")


async def direct(
    db: Database,
    user_id: uuid.UUID,
    key: str,
    entries: list[tuple[str, int]],
    *,
    as_user: uuid.UUID | None = None,
    fingerprint: bytes = b"f" * 32,
    currency: str = "USD",
) -> Row[Any]:
    """`ledger_post` called straight, past `ledger.post`'s own checks, and committed."""
    opened = db.user_session(as_user) if as_user else db.system_session()
    async with opened as s:
        return (
            await s.execute(
                ledger.POST,
                {
                    "user_id": user_id,
                    "kind": "direct",
                    "key": key,
                    "hash": fingerprint,
                    "currency": currency,
                    "reference": None,
                    "memo": None,
                    "accounts": [a for a, _ in entries],
                    "amounts": [x for _, x in entries],
                    "at": utcnow(),
                },
            )
        ).one()


@pytest.mark.parametrize(
    "entries",
    [
        [("wallet", 5), ("grants", -4)],  # debits and credits differ
        [("wallet", 5)],  # one-sided
        [],  # nothing at all
        [("wallet", 5), ("grants", -5), ("revenue", 0)],  # an empty movement
        [("wallet", 5), ("grants", None)],  # a missing amount
    ],
)
async def test_unbalanced_entries_are_refused_even_when_called_directly(
    db: Database, entries: list[tuple[str, int]]
) -> None:
    user_id = await funded(db, 100)
    # Refused by the function itself, at the call (the deferred trigger of 0006, which names
    # the transaction, would catch only some of these, and only at commit).
    with pytest.raises(DBAPIError, match="ledger transaction does not balance"):
        await direct(db, user_id, f"bad:{uuid.uuid4()}", entries)
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 100
    assert wallet.ledger_version == 1


async def test_arrays_of_different_lengths_are_refused(db: Database) -> None:
    user_id = await funded(db, 100)
    async with db.system_session() as s:
        with pytest.raises(DBAPIError, match="ledger transaction does not balance"):
            await s.execute(
                text(
                    "SELECT * FROM ledger_post(:u, 'direct', 'k', '\\x00'::bytea, 'USD', NULL, "
                    "NULL, ARRAY['wallet', 'grants', 'revenue'], ARRAY[5, -5]::bigint[], now())"
                ),
                {"u": user_id},
            )


async def test_a_replay_returns_the_first_result_and_a_reused_key_is_refused(
    db: Database,
) -> None:
    user_id = await funded(db, 100)
    first = await direct(db, user_id, "k1", [("wallet", 40), ("grants", -40)])
    assert first.outcome == "posted"
    assert (first.balance, first.reserved, first.ledger_version) == (140, 0, 2)
    # The same key and fingerprint: the first transaction, nothing moves.
    again = await direct(db, user_id, "k1", [("wallet", 40), ("grants", -40)])
    assert again.outcome == "replayed"
    assert again.transaction_id == first.transaction_id
    assert (again.balance, again.ledger_version, again.currency) == (140, 2, "USD")
    # The same key with another fingerprint: refused, nothing written.
    other = await direct(
        db, user_id, "k1", [("wallet", 41), ("grants", -41)], fingerprint=b"g" * 32
    )
    assert other.outcome == "reused"
    wallet, wallet_sum, _ = await invariants(db, user_id)
    assert wallet.balance == wallet_sum == 140
    assert wallet.ledger_version == 2


async def test_refusals_leave_the_callers_transaction_usable(db: Database) -> None:
    """Too little money, a reused key, releasing more than is held, another currency: each is
    a Problem from `post` and no database error, so the caller may go on in its transaction
    (a refund retries with what the wallet holds)."""
    user_id = await funded(db, 100)
    await spend(db, user_id, 10, "held")
    async with db.user_session(user_id) as s:
        with pytest.raises(InsufficientFunds) as refused:
            await post_spend(s, user_id, 101, "too-much")
        assert (refused.value.extra["needed"], refused.value.extra["available"]) == (101, 90)
        with pytest.raises(IdempotencyKeyReused):
            await post_spend(s, user_id, 11, "held")
        with pytest.raises(Conflict, match="released than is reserved"):
            await ledger.post(
                s,
                user_id,
                kind="release",
                idempotency_key="release-too-much",
                currency="USD",
                postings=[Posting(Account.reserved, -11), Posting(Account.wallet, 11)],
            )
        with pytest.raises(InvalidInput, match="holds USD, not EUR"):
            await ledger.post(
                s,
                user_id,
                kind="spend",
                idempotency_key="in-euros",
                currency="EUR",
                postings=[Posting(Account.wallet, -1), Posting(Account.reserved, 1)],
            )
        posted = await post_spend(s, user_id, 90, "all-the-rest")
    assert (posted.balance, posted.reserved, posted.ledger_version) == (0, 100, 3)
    wallet, wallet_sum, reserved_sum = await invariants(db, user_id)
    assert (wallet.balance, wallet.reserved) == (wallet_sum, reserved_sum) == (0, 100)


async def test_a_wallet_that_does_not_exist_is_missing(db: Database) -> None:
    user_id = await new_user(db)
    with pytest.raises(ledger.WalletMissing):
        await spend(db, user_id, 1, "no-wallet")


async def test_a_user_cannot_post_to_another_users_wallet_directly(db: Database) -> None:
    alice = await funded(db, 1000)
    bob = await funded(db, 0)
    # Bob's own transaction calling the function for Alice's wallet: RLS hides it from him.
    row = await direct(db, alice, "steal", [("wallet", -1000), ("reserved", 1000)], as_user=bob)
    assert row.outcome == "missing"
    # ... and the application role still cannot create money in its own wallet.
    with pytest.raises(DBAPIError, match="row-level security"):
        await direct(db, bob, "mint", [("wallet", 10**6), ("grants", -(10**6))], as_user=bob)
    for user_id, balance in ((alice, 1000), (bob, 0)):
        wallet, wallet_sum, _ = await invariants(db, user_id)
        assert wallet.balance == wallet_sum == balance


async def test_concurrent_first_posts_of_one_key_write_it_once(db: Database) -> None:
    """The key is checked again once the wallet is locked: posts that looked before the
    writer of the same key committed, and then waited for its lock, get its result as a
    replay, not a duplicate-key error."""
    user_id = await funded(db, 1000)
    racers: list[asyncio.Task[ledger.Posted]] = []
    async with db.system_session() as holder:
        # The first writer of the key holds the wallet's lock, not yet committed ...
        first = await post_spend(holder, user_id, 300, "once")
        # ... while the others find no such key yet and queue on the lock.
        racers = [asyncio.create_task(spend(db, user_id, 300, "once")) for _ in range(8)]
        await waiting_for_locks(db, len(racers))
    results = await asyncio.gather(*racers)
    assert all(r.replayed for r in results)
    assert {(r.transaction_id, r.balance, r.reserved, r.ledger_version) for r in results} == {
        (first.transaction_id, 700, 300, 2)
    }
    wallet, wallet_sum, reserved_sum = await invariants(db, user_id)
    assert (wallet.balance, wallet.reserved, wallet.ledger_version) == (700, 300, 2)
    assert (wallet_sum, reserved_sum) == (700, 300)


async def waiting_for_locks(db: Database, count: int) -> None:
    """Until `count` backends of this database wait for a lock (each waiter has one lock not
    granted: the first on the holder's transaction, the others on the row's tuple lock)."""
    for _ in range(500):
        async with db.system_session() as s:
            waiting = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                    "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
                )
            )
        if waiting == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{waiting} backends wait for a lock, not {count}")


async def test_concurrent_credits_and_spends_on_one_wallet_keep_every_version(
    db: Database,
) -> None:
    user_id = await funded(db, 0)

    async def credit(n: int) -> ledger.Posted:
        async with db.system_session() as s:
            return await ledger.post(
                s,
                user_id,
                kind="grant",
                idempotency_key=f"credit:{n}",
                currency="USD",
                postings=[Posting(Account.wallet, 100), Posting(Account.grants, -100)],
            )

    async def hold(n: int) -> ledger.Posted | None:
        try:
            return await spend(db, user_id, 30, f"hold:{n}")
        except InsufficientFunds:
            return None

    results = await asyncio.gather(*(f(n) for n in range(20) for f in (credit, hold)))
    posted = [r for r in results if r is not None]
    # Every commit got its own version, one after another, and its own balance after.
    assert sorted(r.ledger_version for r in posted) == list(range(1, len(posted) + 1))
    wallet, wallet_sum, reserved_sum = await invariants(db, user_id)
    holds = sum(1 for r in results[1::2] if r is not None)
    assert wallet.reserved == reserved_sum == 30 * holds
    assert wallet.balance == wallet_sum == 20 * 100 - 30 * holds
    last = max(posted, key=lambda r: r.ledger_version)
    assert (last.balance, last.reserved) == (wallet.balance, wallet.reserved)


async def test_a_post_is_one_statement(db: Database) -> None:
    user_id = await funded(db, 100)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    async with db.user_session(user_id) as s:
        event.listen(db.app_engine.sync_engine, "before_cursor_execute", seen)
        try:
            await post_spend(s, user_id, 1, "one-trip")
        finally:
            event.remove(db.app_engine.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert "ledger_post(" in statements[0]


async def test_the_function_is_the_owners_runs_as_the_caller_and_only_we_may_call_it(
    db: Database, prepared: PreparedDatabase
) -> None:
    roles = prepared.roles
    engine = create_engine(sync_url(prepared.admin_url))
    try:
        with engine.connect() as conn:
            owner, definer, public = conn.execute(
                text(
                    "SELECT pg_get_userbyid(proowner), prosecdef, "
                    # No ACL at all is the default, in which PUBLIC may execute.
                    "proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(proacl) a "
                    "WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') "
                    "FROM pg_proc WHERE proname = 'ledger_post'"
                )
            ).one()
            callers = {
                role: conn.execute(
                    text(
                        "SELECT has_function_privilege(:r, 'ledger_post(uuid, text, text, "
                        "bytea, text, text, text, text[], bigint[], timestamptz)', 'EXECUTE')"
                    ),
                    {"r": role},
                ).scalar()
                for role in (roles.app, roles.system)
            }
    finally:
        engine.dispose()
    assert owner == roles.owner
    assert definer is False  # SECURITY INVOKER: RLS applies to the caller
    assert public is False  # PUBLIC may not call it
    assert callers == {roles.app: True, roles.system: True}


def test_the_migration_applies_and_downgrades_cleanly(
    settings: Settings, prepared: PreparedDatabase, scratch: URL
) -> None:
    setup(scratch, prepared.roles, role_password(settings))
    config = alembic_config(scratch, prepared.roles)

    def functions() -> set[str]:
        engine = create_engine(sync_url(scratch))
        try:
            with engine.connect() as conn:
                return set(
                    conn.execute(
                        text("SELECT proname FROM pg_proc WHERE proname LIKE 'ledger_%'")
                    ).scalars()
                )
        finally:
            engine.dispose()

    assert "ledger_post" in functions()
    command.downgrade(config, "0010")
    assert "ledger_post" not in functions()
    assert "ledger_immutable" in functions()  # 0006's rules stay
    command.upgrade(config, "head")
    assert "ledger_post" in functions()


async def test_grant_then_spend_through_post_matches_the_function(db: Database) -> None:
    """`post` builds its answer from the function's row exactly."""
    user_id = await new_user(db)
    await grant(db, user_id, 250)
    posted = await spend(db, user_id, 50, "one")
    wallet, _, _ = await invariants(db, user_id)
    assert (posted.balance, posted.reserved, posted.ledger_version, posted.currency) == (
        wallet.balance,
        wallet.reserved,
        wallet.ledger_version,
        wallet.currency,
    )
    assert posted.replayed is False
