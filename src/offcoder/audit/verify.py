"""Checking the audit log's hash chain from outside the database (O3).

The trigger computes `hash = sha256(audit_event_canonical(...))` when an event is appended.
`verify_chain` recomputes every hash here, in Python, from the stored columns, so a row edited
or removed behind the triggers' back (by someone holding the owner or superuser role) shows as
the first row whose hash, link or sequence number does not follow.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def epoch_microseconds(moment: datetime) -> int:
    """`(extract(epoch FROM t) * 1000000)::bigint`, exactly (integer arithmetic, no floats)."""
    return (moment - EPOCH) // ONE_MICROSECOND


def canonical(
    *,
    prev_hash: bytes | None,
    seq: int,
    event_id: uuid.UUID,
    occurred_at: datetime,
    actor_id: uuid.UUID | None,
    actor_kind: str,
    action: str,
    target: str | None,
    request_id: str | None,
    details_text: str,
) -> str:
    """The text the database hashes; byte for byte what `audit_event_canonical` returns.

    `details_text` must be `details::text` as PostgreSQL renders the jsonb value.
    """
    return "|".join(
        (
            prev_hash.hex() if prev_hash is not None else "",
            str(seq),
            str(event_id),
            str(epoch_microseconds(occurred_at)),
            str(actor_id) if actor_id is not None else "",
            actor_kind,
            action,
            target if target is not None else "",
            request_id if request_id is not None else "",
            details_text,
        )
    )


def event_hash(canonical_text: str) -> bytes:
    return hashlib.sha256(canonical_text.encode("utf-8")).digest()


@dataclass(frozen=True)
class BrokenLink:
    """The first event at which the chain does not hold."""

    seq: int
    event_id: uuid.UUID | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        return self.broken is None

    @property
    def anchored_after_purge(self) -> bool:
        """The oldest remaining event is not the first ever: older ones were purged."""
        return self.first_seq is not None and self.first_seq > 1

    def summary(self) -> str:
        if self.broken is not None:
            where = f"seq {self.broken.seq}" + (
                f" (id {self.broken.event_id})" if self.broken.event_id else ""
            )
            return f"audit chain BROKEN at {where}: {self.broken.problem}"
        if self.events == 0:
            return "audit chain intact: no events"
        anchor = (
            f"; the chain starts at seq {self.first_seq} (earlier events were purged, "
            "its prev_hash is trusted as the anchor)"
            if self.anchored_after_purge
            else ""
        )
        return (
            f"audit chain intact: {self.events} events, seq {self.first_seq}..{self.last_seq}"
            f"{anchor}"
        )


EVENTS_AFTER = text(
    """
    SELECT seq, id, occurred_at, actor_id, actor_kind, action, target, request_id,
           details::text AS details_text, prev_hash, hash
    FROM audit_events
    WHERE seq > :after
    ORDER BY seq
    LIMIT :limit
    """
)


async def verify_chain(session: AsyncSession, *, batch_size: int = 1000) -> ChainReport:
    """Walk every event in seq order, in batches, and report the first broken link.

    `session` must be able to read the log (the system role or an administrator) and should be
    fresh: the walk runs in one REPEATABLE READ snapshot, so appends racing with it are either
    wholly in it (with the head that matches them) or wholly out of it.
    """
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    head_row = (await session.execute(text("SELECT seq, hash FROM audit_chain_head"))).one()
    head_seq, head_hash = int(head_row.seq), head_row.hash

    events = 0
    first_seq: int | None = None
    last_seq: int | None = None
    previous_hash: bytes | None = None
    after = -1
    while True:
        rows = (await session.execute(EVENTS_AFTER, {"after": after, "limit": batch_size})).all()
        if not rows:
            break
        for row in rows:
            seq = int(row.seq)
            if first_seq is None:
                # The oldest remaining event anchors the chain: its prev_hash is trusted, since
                # the events it points to may have been purged.
                first_seq = seq
                if seq == 1 and row.prev_hash is not None:
                    return _broken(
                        events,
                        first_seq,
                        last_seq,
                        head_seq,
                        row,
                        "the first event of the log has a prev_hash",
                    )
            else:
                assert last_seq is not None
                if seq != last_seq + 1:
                    missing = (
                        f"seq {last_seq + 1}"
                        if seq == last_seq + 2
                        else f"seq {last_seq + 1}..{seq - 1}"
                    )
                    return _broken(
                        events,
                        first_seq,
                        last_seq,
                        head_seq,
                        row,
                        f"{missing} missing before this event (deleted)",
                    )
                if row.prev_hash != previous_hash:
                    return _broken(
                        events,
                        first_seq,
                        last_seq,
                        head_seq,
                        row,
                        f"prev_hash does not match the hash of seq {last_seq}",
                    )
            expected = event_hash(
                canonical(
                    prev_hash=row.prev_hash,
                    seq=seq,
                    event_id=row.id,
                    occurred_at=row.occurred_at,
                    actor_id=row.actor_id,
                    actor_kind=row.actor_kind,
                    action=row.action,
                    target=row.target,
                    request_id=row.request_id,
                    details_text=row.details_text,
                )
            )
            if row.hash != expected:
                return _broken(
                    events,
                    first_seq,
                    last_seq,
                    head_seq,
                    row,
                    "the stored hash does not match the event's contents (altered)",
                )
            events += 1
            last_seq = seq
            previous_hash = row.hash
        after = last_seq if last_seq is not None else after

    # The head is written in the same transaction as every append: newer events deleted from
    # the end of the log leave the head pointing past the last row.
    if last_seq is None:
        if head_seq != 0:
            return ChainReport(
                0,
                None,
                None,
                head_seq,
                BrokenLink(
                    head_seq, None, f"the log is empty but the chain head is at seq {head_seq}"
                ),
            )
    elif head_seq != last_seq or head_hash != previous_hash:
        return ChainReport(
            events,
            first_seq,
            last_seq,
            head_seq,
            BrokenLink(
                last_seq + 1,
                None,
                f"the chain head is at seq {head_seq} but the last event is seq {last_seq}: "
                "the newest events were removed",
            ),
        )
    return ChainReport(events, first_seq, last_seq, head_seq, None)


def _broken(
    events: int,
    first_seq: int | None,
    last_seq: int | None,
    head_seq: int,
    row: object,
    problem: str,
) -> ChainReport:
    seq = int(getattr(row, "seq"))  # noqa: B009 - Row attributes are dynamic
    event_id = getattr(row, "id")  # noqa: B009
    return ChainReport(events, first_seq, last_seq, head_seq, BrokenLink(seq, event_id, problem))
