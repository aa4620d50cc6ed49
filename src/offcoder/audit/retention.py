"""Purging audit events past their retention (O3: kept 18 months, then purged)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record

# The database refuses to delete an event younger than this (trigger audit_events_immutable),
# whatever the setting says; a shorter setting cannot shorten the promise.
DATABASE_FLOOR = "18 months"

# Both bounds are evaluated with the transaction's now(), the same instant the trigger uses.
EXPIRED = (
    "occurred_at < now() - make_interval(days => :days) "
    f"AND occurred_at < now() - interval '{DATABASE_FLOOR}'"
)


@dataclass(frozen=True)
class PurgeResult:
    count: int
    through_seq: int | None
    dry_run: bool


async def purge_expired(
    session: AsyncSession, *, retention_days: int, dry_run: bool = False
) -> PurgeResult:
    """Delete every event older than the retention, in the caller's (system-role) transaction.

    occurred_at rises with seq (the trigger sets it), so the deleted events are always the
    oldest prefix of the chain and the rest still verifies. The purge itself is audited as
    `audit.purged`, so the log is never silently emptied.
    """
    if retention_days < 1:
        raise ValueError("the retention must be at least one day")
    params = {"days": retention_days}
    if dry_run:
        row = (
            await session.execute(
                text(f"SELECT count(*), max(seq) FROM audit_events WHERE {EXPIRED}"),  # noqa: S608
                params,
            )
        ).one()
        return PurgeResult(int(row[0]), row[1], dry_run=True)
    row = (
        await session.execute(
            text(
                f"WITH gone AS (DELETE FROM audit_events WHERE {EXPIRED} RETURNING seq) "  # noqa: S608
                "SELECT count(*), max(seq) FROM gone"
            ),
            params,
        )
    ).one()
    count, through = int(row[0]), row[1]
    await record(
        session,
        "audit.purged",
        actor_id=None,
        actor_kind=ActorKind.operator,
        details={
            "count": count,
            "through_seq": through,
            "retention_days": retention_days,
        },
    )
    return PurgeResult(count, through, dry_run=False)
