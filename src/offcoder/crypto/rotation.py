"""Key rotation (R2): add a primary key, re-seal every value under it, retire old keys.

Re-sealing is online and resumable. It walks each sealed column by primary key in batches;
each batch is its own system-role transaction that locks its rows `FOR UPDATE SKIP LOCKED`
(a row a server is writing right now is skipped and picked up by the next pass), so servers
keep serving, and a run killed midway has committed every finished batch while the rest still
opens under the old key, which stays in the source until `retire`. A rerun only touches rows
whose envelope is not under the primary key.

With data keys (decision 0033) values live under their owner's data key, which no key
rotation touches: rotation wraps each data key again under the new primary key, and re-seals
only values still under the key set (those sealed before data keys), moving them to their
owner's data key.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import LargeBinary, Uuid, column, func, select, table, tuple_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import TableClause

from offcoder.audit.service import ActorKind, record
from offcoder.crypto.bindings import SEALED_COLUMNS, SealedColumn, binding_for
from offcoder.crypto.keyring import MAGIC, OWNER_MAGIC, Keyring, KeySet, KeySource
from offcoder.db.engine import Database

UUID_COLUMNS = {"id", "user_id", "project_id"}


def envelope_prefix(kid: str) -> bytes:
    """The first bytes of every envelope sealed under `kid` (see keyring's envelope layout)."""
    return MAGIC + bytes([len(kid)]) + kid.encode("ascii")


DATA_KEYS = "data keys"


def label(sealed: SealedColumn) -> str:
    return f"{sealed.table}.{sealed.column}"


@functools.cache
def _table(sealed: SealedColumn) -> TableClause:
    # A lightweight table: no ORM onupdate defaults, so re-sealing leaves updated_at alone.
    names = dict.fromkeys([*sealed.key_columns, "user_id"])
    columns = [column(n, Uuid()) if n in UUID_COLUMNS else column(n) for n in names]
    return table(sealed.table, *columns, column(sealed.column, LargeBinary()))


def _under(sealed: SealedColumn, kid: str, *, negate: bool) -> ColumnElement[bool]:
    prefix = envelope_prefix(kid)
    value = _table(sealed).c[sealed.column]
    head = func.substring(value, 1, len(prefix))
    return value.is_not(None) & ((head != prefix) if negate else (head == prefix))


def _to_reseal(sealed: SealedColumn, keyring: Keyring) -> ColumnElement[bool]:
    """The values not sealed the way the keyring seals new ones."""
    if keyring.data_keys is None:
        return _under(sealed, keyring.primary_key_id, negate=True)
    value = _table(sealed).c[sealed.column]
    return value.is_not(None) & (func.substring(value, 1, len(OWNER_MAGIC)) != OWNER_MAGIC)


async def count_under(
    database: Database, kid: str, keyring: Keyring | None = None
) -> dict[str, int]:
    """How many values of each sealed column (and data keys, given a keyring with a data key
    store) are sealed under key `kid`."""
    counts: dict[str, int] = {}
    if keyring is not None and keyring.data_keys is not None:
        counts[DATA_KEYS] = keyring.data_keys_under(kid)
    async with database.system_session() as session:
        for sealed in SEALED_COLUMNS:
            t = _table(sealed)
            stmt = select(func.count()).select_from(t).where(_under(sealed, kid, negate=False))
            counts[label(sealed)] = int(await session.scalar(stmt) or 0)
    return counts


async def count_to_reseal(database: Database, keyring: Keyring) -> dict[str, int]:
    """How many values of each sealed column, and data keys, rotation still has to do."""
    counts: dict[str, int] = {}
    if keyring.data_keys is not None:
        counts[DATA_KEYS] = keyring.data_keys_to_rewrap()
    async with database.system_session() as session:
        for sealed in SEALED_COLUMNS:
            t = _table(sealed)
            stmt = select(func.count()).select_from(t).where(_to_reseal(sealed, keyring))
            counts[label(sealed)] = int(await session.scalar(stmt) or 0)
    return counts


@dataclass
class ResealResult:
    primary: str
    resealed: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.resealed.values())

    @property
    def left(self) -> int:
        return sum(self.remaining.values())


Progress = Callable[[SealedColumn, int], None]


async def _reseal_batch(
    database: Database,
    keyring: Keyring,
    sealed: SealedColumn,
    after: tuple[Any, ...] | None,
    batch_size: int,
) -> tuple[int, tuple[Any, ...] | None]:
    """Re-seal one batch in its own transaction; return the count and the walk's cursor."""
    t = _table(sealed)
    keys = [t.c[name] for name in sealed.key_columns]
    value = t.c[sealed.column]
    stmt = select(*t.c).where(_to_reseal(sealed, keyring))
    if after is not None:
        stmt = stmt.where(tuple_(*keys) > tuple_(*after))
    stmt = stmt.order_by(*keys).limit(batch_size).with_for_update(skip_locked=True)
    async with database.system_session() as session:
        rows = (await session.execute(stmt)).mappings().all()
        for row in rows:
            binding = binding_for(sealed.table, sealed.column, dict(row))
            fresh = keyring.reseal(row[sealed.column], binding)
            if fresh is None:
                continue
            await session.execute(
                update(t)
                .where(*(t.c[name] == row[name] for name in sealed.key_columns))
                .where(value == row[sealed.column])
                .values({sealed.column: fresh})
            )
    if not rows:
        return 0, None
    last = rows[-1]
    return len(rows), tuple(last[name] for name in sealed.key_columns)


async def reseal_all(
    database: Database,
    keyring: Keyring,
    *,
    batch_size: int = 200,
    max_passes: int = 5,
    progress: Progress | None = None,
) -> ResealResult:
    """Re-seal every value not under the keyring's primary key.

    Rows skipped because a server held their lock, or written meanwhile by a server still
    sealing under the old primary, are picked up by a further pass.
    """
    result = ResealResult(keyring.primary_key_id)
    for _ in range(max_passes):
        done_this_pass = 0
        if keyring.data_keys is not None:
            # Data keys first: values moved to a data key below are then under the new key.
            rewrapped = keyring.rewrap_data_keys()
            done_this_pass += rewrapped
            result.resealed[DATA_KEYS] = result.resealed.get(DATA_KEYS, 0) + rewrapped
        for sealed in SEALED_COLUMNS:
            after: tuple[Any, ...] | None = None
            while True:
                count, after = await _reseal_batch(database, keyring, sealed, after, batch_size)
                if after is None:
                    break
                done_this_pass += count
                result.resealed[label(sealed)] = result.resealed.get(label(sealed), 0) + count
                if progress is not None:
                    progress(sealed, count)
        result.remaining = await count_to_reseal(database, keyring)
        if result.left == 0:
            break
        if done_this_pass == 0:
            await asyncio.sleep(1)  # only locked rows left: let their writers commit
    return result


def add_primary_key(source: KeySource) -> tuple[KeySet, KeySet]:
    """The current set and one with a fresh primary key; a writable source stores it."""
    current = source.load()
    rotated = current.with_new_primary()
    source.store(rotated)
    return current, rotated


async def record_rotation(
    database: Database, previous_primary: str | None, result: ResealResult
) -> None:
    async with database.system_session() as session:
        await record(
            session,
            "keys.rotated",
            actor_id=None,
            actor_kind=ActorKind.operator,
            target=result.primary,
            details={
                "primary": result.primary,
                "previous_primary": previous_primary,
                "resealed": result.resealed,
                "remaining": result.remaining,
            },
        )


class KeyStillInUse(Exception):
    def __init__(self, kid: str, counts: dict[str, int]) -> None:
        self.kid = kid
        self.counts = {k: v for k, v in counts.items() if v}
        where = ", ".join(f"{n} in {c}" for c, n in self.counts.items())
        super().__init__(f"key {kid} still seals {where}: run `offcoder keys rotate --reseal-only`")


async def retire_key(
    database: Database,
    keyset: KeySet,
    kid: str,
    publish: Callable[[KeySet], None],
    keyring: Keyring | None = None,
) -> KeySet:
    """Remove `kid`, refused while any value (or, given a keyring with data keys, any
    wrapped data key) is sealed under it, and audit it.

    `publish` puts the smaller set in place (stores it, or prints it for the operator); it runs
    inside the audit event's transaction, so a failure leaves neither the event nor the change.
    """
    remaining = keyset.without(kid)  # refuses the primary key and unknown ids
    counts = await count_under(database, kid, keyring)
    if any(counts.values()):
        raise KeyStillInUse(kid, counts)
    async with database.system_session() as session:
        await record(
            session,
            "keys.retired",
            actor_id=None,
            actor_kind=ActorKind.operator,
            target=kid,
            details={"retired": kid, "primary": keyset.primary, "kept": sorted(remaining.keys)},
        )
        publish(remaining)
    return remaining
