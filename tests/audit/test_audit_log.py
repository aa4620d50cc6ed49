"""O3: the audit log is append-only, hash-chained, kept 18 months, then purged."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from offcoder.audit.retention import purge_expired
from offcoder.audit.service import ActorKind, record
from offcoder.audit.verify import ChainReport, verify_chain
from offcoder.context import AppContext
from offcoder.db.engine import Database
from tests.support.scratch import ScratchDatabase, age_oldest_events, behind_the_triggers

pytestmark = [pytest.mark.promise("O3")]

PERMISSION_DENIED = "permission denied"


async def verify(db: Database) -> ChainReport:
    async with db.system_session() as session:
        return await verify_chain(session, batch_size=7)  # small batches cross boundaries


async def write_events(db: Database, count: int, action: str = "test.event") -> list[int]:
    """Append `count` operator events; return their seq numbers."""
    marker = uuid.uuid4().hex
    async with db.system_session() as session:
        for i in range(count):
            await record(
                session,
                action,
                actor_id=None,
                actor_kind=ActorKind.operator,
                target=marker,
                details={"i": i, "note": "ünïcode ✓", "nested": {"b": 1, "a": [2]}},
            )
    async with db.system_session() as session:
        seqs = await session.scalars(
            text("SELECT seq FROM audit_events WHERE target = :m ORDER BY seq"), {"m": marker}
        )
        return list(seqs)


def sqlstate_and_message(error: DBAPIError) -> tuple[str | None, str]:
    return getattr(error.orig, "sqlstate", None), str(error.orig)


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM audit_events",
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_app_role_can_neither_read_nor_rewrite_the_log(
    context: AppContext, statement: str
) -> None:
    # given a signed-in user's transaction (the application role)
    user_id = uuid.uuid4()
    # when it touches the log other than by appending, then PostgreSQL refuses the privilege
    with pytest.raises(DBAPIError) as caught:
        async with context.database.user_session(user_id) as session:
            await session.execute(text(statement))
    state, message = sqlstate_and_message(caught.value)
    assert state == "42501"
    assert PERMISSION_DENIED in message


@pytest.mark.db
async def test_app_role_appends_only_its_own_user_events(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    # an event in one's own name is accepted
    async with db.user_session(alice) as session:
        await record(session, "test.own", actor_id=alice, actor_kind=ActorKind.user)
    # an event in another user's name, or in nobody's, is refused by the RLS policy
    for forged in (alice, None):
        with pytest.raises(DBAPIError) as caught:
            async with db.user_session(mallory) as session:
                await record(session, "test.forged", actor_id=forged, actor_kind=ActorKind.user)
        state, message = sqlstate_and_message(caught.value)
        assert state == "42501"
        assert "row-level security" in message
    async with db.system_session() as session:
        actions = (
            await session.scalars(
                text("SELECT action FROM audit_events WHERE actor_id IN (:a, :m)"),
                {"a": alice, "m": mallory},
            )
        ).all()
    assert actions == ["test.own"]
    assert (await verify(db)).intact  # refused inserts leave no hole in seq


@pytest.mark.db
async def test_system_role_cannot_update_or_truncate(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    await write_events(db, 1)
    for statement in ("UPDATE audit_events SET action = 'x'", "TRUNCATE audit_events"):
        with pytest.raises(DBAPIError) as caught:
            async with db.system_session() as session:
                await session.execute(text(statement))
        state, message = sqlstate_and_message(caught.value)
        assert state == "42501", message
        assert PERMISSION_DENIED in message


@pytest.mark.db
async def test_system_role_cannot_delete_a_recent_event(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    [seq] = await write_events(db, 1)
    with pytest.raises(DBAPIError) as caught:
        async with db.system_session() as session:
            await session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seq})
    assert "too recent to purge" in str(caught.value.orig)
    async with db.system_session() as session:
        assert (
            await session.scalar(
                text("SELECT count(*) FROM audit_events WHERE seq = :s"), {"s": seq}
            )
            == 1
        )


@pytest.mark.db
async def test_a_caller_cannot_backdate_an_event(audit_db: ScratchDatabase) -> None:
    # given a caller that sends an occurred_at two years in the past
    db = audit_db.database
    event_id = uuid.uuid4()
    before = datetime.now(UTC)
    async with db.system_session() as session:
        await session.execute(
            text(
                "INSERT INTO audit_events (id, occurred_at, actor_kind, action, details) "
                "VALUES (:id, :t, 'operator', 'test.backdated', '{}')"
            ),
            {"id": event_id, "t": before - timedelta(days=730)},
        )
    # then the database stamps its own clock, so the purge cannot reach the event
    async with db.system_session() as session:
        occurred = await session.scalar(
            text("SELECT occurred_at FROM audit_events WHERE id = :id"), {"id": event_id}
        )
    assert occurred is not None
    assert abs(occurred - before) < timedelta(minutes=1)
    async with db.system_session() as session:
        expired = await session.scalar(
            text(
                "SELECT count(*) FROM audit_events WHERE id = :id "
                "AND occurred_at < now() - interval '18 months'"
            ),
            {"id": event_id},
        )
    assert expired == 0


# --- the chain ----------------------------------------------------------------------------


@pytest.mark.db
async def test_concurrent_appends_form_one_gapless_chain(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    writers, per_writer = 8, 6
    users = [uuid.uuid4() for _ in range(writers)]

    async def writer(user_id: uuid.UUID, as_user: bool) -> None:
        for i in range(per_writer):
            session_cm = db.user_session(user_id) if as_user else db.system_session()
            async with session_cm as session:
                await record(
                    session,
                    "test.concurrent",
                    actor_id=user_id,
                    actor_kind=ActorKind.user if as_user else ActorKind.system,
                    details={"i": i},
                )
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(u, n % 2 == 0) for n, u in enumerate(users)))

    report = await verify(db)
    assert report.intact, report.summary()
    async with db.system_session() as session:
        seqs = (
            await session.scalars(
                text("SELECT seq FROM audit_events WHERE actor_id = ANY(:u) ORDER BY seq"),
                {"u": users},
            )
        ).all()
        total, low, high = (
            await session.execute(text("SELECT count(*), min(seq), max(seq) FROM audit_events"))
        ).one()
    assert len(seqs) == writers * per_writer
    assert total == high - low + 1  # no gaps anywhere in the log


@pytest.mark.db
async def test_verify_names_the_altered_row(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    seqs = await write_events(db, 5)
    assert (await verify(db)).intact
    victim = seqs[2]
    async with db.system_session() as session:
        victim_id, original = (
            await session.execute(
                text("SELECT id, details::text FROM audit_events WHERE seq = :s"), {"s": victim}
            )
        ).one()

    # when someone with the owner's power edits one event behind the triggers
    with behind_the_triggers(audit_db.admin_url) as conn:
        conn.execute(
            text("""UPDATE audit_events SET details = '{"i": 2, "note": "nothing happened"}'
                    WHERE seq = :s"""),
            {"s": victim},
        )
    report = await verify(db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.event_id) == (victim, victim_id)
    assert "altered" in report.broken.problem

    # and one who also recomputes that row's hash is caught at the next link
    with behind_the_triggers(audit_db.admin_url) as conn:
        conn.execute(
            text("""UPDATE audit_events SET hash = sha256(convert_to(audit_event_canonical(
                    prev_hash, seq, id, occurred_at, actor_id, actor_kind, action, target,
                    request_id, details), 'UTF8')) WHERE seq = :s"""),
            {"s": victim},
        )
    report = await verify(db)
    assert report.broken is not None
    assert report.broken.seq == victim + 1
    assert "prev_hash" in report.broken.problem

    with behind_the_triggers(audit_db.admin_url) as conn:  # restore the original event
        conn.execute(
            text("""UPDATE audit_events SET details = CAST(:d AS jsonb),
                    hash = sha256(convert_to(audit_event_canonical(prev_hash, seq, id,
                    occurred_at, actor_id, actor_kind, action, target, request_id,
                    CAST(:d AS jsonb)), 'UTF8')) WHERE seq = :s"""),
            {"s": victim, "d": original},
        )
    assert (await verify(db)).intact


@pytest.mark.db
async def test_verify_reports_a_deleted_middle_row(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    seqs = await write_events(db, 5)
    victim = seqs[2]
    with behind_the_triggers(audit_db.admin_url) as conn:
        row = (
            conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": victim})
            .mappings()
            .one()
        )
        conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": victim})

    report = await verify(db)
    assert report.broken is not None
    assert report.broken.seq == victim + 1
    assert f"seq {victim} missing" in report.broken.problem

    with behind_the_triggers(audit_db.admin_url, "audit_events_chain") as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (id, seq, occurred_at, actor_id, actor_kind, action, "
                "target, request_id, details, prev_hash, hash) VALUES (:id, :seq, :occurred_at, "
                ":actor_id, :actor_kind, :action, :target, :request_id, :details, :prev_hash, "
                ":hash)"
            ),
            {**row, "details": json.dumps(row["details"])},
        )
    assert (await verify(db)).intact


@pytest.mark.db
async def test_verify_reports_removed_newest_events(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    seqs = await write_events(db, 2)
    with behind_the_triggers(audit_db.admin_url) as conn:
        row = (
            conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seqs[-1]})
            .mappings()
            .one()
        )
        conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seqs[-1]})
    report = await verify(db)
    assert report.broken is not None
    assert "newest events were removed" in report.broken.problem
    with behind_the_triggers(audit_db.admin_url, "audit_events_chain") as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (id, seq, occurred_at, actor_id, actor_kind, action, "
                "target, request_id, details, prev_hash, hash) VALUES (:id, :seq, :occurred_at, "
                ":actor_id, :actor_kind, :action, :target, :request_id, :details, :prev_hash, "
                ":hash)"
            ),
            {**row, "details": json.dumps(row["details"])},
        )
    assert (await verify(db)).intact


# --- retention ----------------------------------------------------------------------------


@pytest.mark.db
async def test_purge_removes_only_expired_events_and_the_chain_still_verifies(
    audit_db: ScratchDatabase,
) -> None:
    db = audit_db.database
    old = await write_events(db, 4, "test.old")
    await write_events(db, 1, "test.recent")
    age_oldest_events(audit_db.admin_url, through_seq=old[-1], days=600)
    assert (await verify(db)).intact
    async with db.system_session() as session:
        expired, total = (
            await session.execute(
                text("SELECT count(*) FILTER (WHERE seq <= :t), count(*) FROM audit_events"),
                {"t": old[-1]},
            )
        ).one()

    async with db.system_session() as session:
        dry = await purge_expired(session, retention_days=548, dry_run=True)
    assert (dry.count, dry.through_seq) == (expired, old[-1])

    async with db.system_session() as session:
        done = await purge_expired(session, retention_days=548)
    assert (done.count, done.through_seq) == (expired, old[-1])

    async with db.system_session() as session:
        remaining, first = (
            await session.execute(text("SELECT count(*), min(seq) FROM audit_events"))
        ).one()
        purged = (
            await session.execute(
                text(
                    "SELECT actor_kind, details FROM audit_events WHERE action = 'audit.purged' "
                    "ORDER BY seq DESC LIMIT 1"
                )
            )
        ).one()
    assert remaining == total - expired + 1  # every recent event, plus audit.purged
    assert first == old[-1] + 1
    assert purged.actor_kind == "operator"
    assert purged.details["count"] == expired
    report = await verify(db)
    assert report.intact, report.summary()
    assert report.first_seq == old[-1] + 1
    assert "starts at seq" in report.summary()

    async with db.system_session() as session:  # nothing left to purge
        assert (await purge_expired(session, retention_days=548, dry_run=True)).count == 0


# --- the commands -------------------------------------------------------------------------


def offcoder(scratch: ScratchDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **scratch.env()}
    return subprocess.run(
        [sys.executable, "-m", "offcoder.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.db
async def test_audit_commands(audit_db: ScratchDatabase) -> None:
    db = audit_db.database
    old = await write_events(db, 3, "test.cli-old")
    await write_events(db, 2, "test.cli-recent")
    age_oldest_events(audit_db.admin_url, through_seq=old[-1], days=700)

    ok = await asyncio.to_thread(offcoder, audit_db, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    dry = await asyncio.to_thread(offcoder, audit_db, "audit", "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would purge" in dry.stdout
    async with db.system_session() as session:
        assert (
            await session.scalar(
                text("SELECT count(*) FROM audit_events WHERE seq = :s"), {"s": old[0]}
            )
            == 1
        )

    purged = await asyncio.to_thread(offcoder, audit_db, "audit", "purge")
    assert purged.returncode == 0, purged.stderr
    assert "purged" in purged.stdout
    async with db.system_session() as session:
        assert (
            await session.scalar(
                text("SELECT count(*) FROM audit_events WHERE seq <= :s"), {"s": old[-1]}
            )
            == 0
        )
    after = await asyncio.to_thread(offcoder, audit_db, "audit", "verify")
    assert after.returncode == 0, after.stderr
    assert f"starts at seq {old[-1] + 1}" in after.stdout.replace("\n", " ")

    # a tampered log makes verify exit 1 naming the row
    seqs = await write_events(db, 3, "test.cli-tamper")
    with behind_the_triggers(audit_db.admin_url) as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'test.innocent' WHERE seq = :s"), {"s": seqs[1]}
        )
    broken = await asyncio.to_thread(offcoder, audit_db, "audit", "verify")
    assert broken.returncode == 1
    assert f"seq {seqs[1]}" in broken.stderr
    with behind_the_triggers(audit_db.admin_url) as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'test.cli-tamper' WHERE seq = :s"),
            {"s": seqs[1]},
        )
    assert (await verify(db)).intact
