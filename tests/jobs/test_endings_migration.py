"""Migration 0012 renames two stored ending codes and records who cancelled: endings stored
before it read as docs/api.md lists them today, and it downgrades cleanly."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase, alembic_config, role_password, setup, sync_url

OLD_ENDINGS = {"timeout": "timed_out", "oom_killed": "memory_limit", "exit_code": "exit_code"}


def stored(url: URL) -> dict[str, tuple[str | None, str | None]]:
    """reason as written -> (reason now, cancelled_by now)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            columns = set(
                conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns WHERE table_name='jobs'"
                    )
                ).scalars()
            )
            who = "cancelled_by" if "cancelled_by" in columns else "NULL"
            rows = conn.execute(text(f"SELECT command->>0, reason, {who} FROM jobs")).all()
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        engine.dispose()


def test_old_endings_are_renamed_and_cancels_named_their_owner(
    settings: Settings, prepared: PreparedDatabase, scratch: URL
) -> None:
    setup(scratch, prepared.roles, role_password(settings))
    config = alembic_config(scratch, prepared.roles)
    command.downgrade(config, "0011")
    engine = create_engine(sync_url(scratch), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # As the superuser, without the project rows the foreign key wants: only the jobs
        # table's own columns matter here.
        conn.execute(text("SET session_replication_role = replica"))
        for written in [*OLD_ENDINGS, "cancelled"]:
            conn.execute(
                text(
                    "INSERT INTO jobs (id, user_id, project_id, status, image, command, "
                    "timeout_s, network, ports, reason, created_at, usage, log_bytes, last_seq, "
                    "cancel_requested_at) VALUES (:id, :u, :p, 'failed', 'python', "
                    "CAST(:command AS jsonb), 60, 'none', '[]', :reason, now(), '{}', 0, 0, "
                    ":asked)"
                ),
                {
                    "id": uuid.uuid4(),
                    "u": uuid.uuid4(),
                    "p": uuid.uuid4(),
                    "command": f'["{written}"]',
                    "reason": written,
                    "asked": "2026-12-01T00:00:00Z" if written == "cancelled" else None,
                },
            )
    engine.dispose()
    command.upgrade(config, "head")
    after = stored(scratch)
    assert {old: after[old][0] for old in OLD_ENDINGS} == OLD_ENDINGS
    assert after["cancelled"] == ("cancelled", "owner")
    assert after["timeout"][1] is None
    command.downgrade(config, "0011")
    assert {old: reason for old, (reason, _) in stored(scratch).items()} == {
        **{old: old for old in OLD_ENDINGS},
        "cancelled": "cancelled",
    }
    command.upgrade(config, "head")
