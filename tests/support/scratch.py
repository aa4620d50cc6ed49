"""A database of its own for tests that rewrite history or re-encrypt every row.

Chain tampering, purges and key rotation touch the whole database. Running them in the
session's shared database would disturb other tests, so they get a fresh database on the same
server, built by the same migrations with the same roles.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase, prepare, sync_url
from offcoder.db.engine import Database


@dataclass
class ScratchDatabase:
    settings: Settings
    prepared: PreparedDatabase
    database: Database

    @property
    def admin_url(self) -> URL:
        return self.prepared.admin_url

    def env(self) -> dict[str, str]:
        """Environment for an `offcoder` subprocess reaching this database."""
        return {
            "DATABASE_URL": self.admin_url.render_as_string(hide_password=False),
            "OFFCODER_STATE_DIR": str(self.settings.state_dir),
            "OFFCODER_ENV": "test",
        }


@asynccontextmanager
async def scratch_database(
    settings: Settings, shared: PreparedDatabase, label: str
) -> AsyncIterator[ScratchDatabase]:
    name = f"offcoder_{label}_{secrets.token_hex(4)}"
    server = create_engine(sync_url(shared.admin_url), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = shared.admin_url.set(database=name)
    scratch_settings = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    prepared = prepare(scratch_settings)
    database = prepared.open(pool_size=5)
    try:
        yield ScratchDatabase(scratch_settings, prepared, database)
    finally:
        await database.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@contextmanager
def behind_the_triggers(admin_url: URL, *triggers: str) -> Iterator[Connection]:
    """An administrator's transaction with audit triggers suspended: what an attacker holding
    the owner or superuser role could do. Only tests use it; the app and system roles cannot
    ALTER the table. The triggers are back on before the transaction commits."""
    names = triggers or ("audit_events_no_update",)
    engine = create_engine(sync_url(admin_url))
    try:
        with engine.begin() as conn:
            for name in names:
                conn.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {name}"))
            yield conn
            for name in names:
                conn.execute(text(f"ALTER TABLE audit_events ENABLE TRIGGER {name}"))
    finally:
        engine.dispose()


RECHAIN = """
DO $$
DECLARE
    r audit_events%ROWTYPE;
    prev bytea;
    first boolean := true;
    h bytea;
BEGIN
    FOR r IN SELECT * FROM audit_events ORDER BY seq LOOP
        IF first THEN
            prev := r.prev_hash;
            first := false;
        END IF;
        h := sha256(convert_to(audit_event_canonical(prev, r.seq, r.id, r.occurred_at,
            r.actor_id, r.actor_kind, r.action, r.target, r.request_id, r.details), 'UTF8'));
        UPDATE audit_events SET prev_hash = prev, hash = h WHERE id = r.id;
        prev := h;
    END LOOP;
    UPDATE audit_chain_head SET hash = prev WHERE singleton;
END
$$
"""


def age_oldest_events(admin_url: URL, *, through_seq: int, days: int) -> None:
    """Make every event up to `through_seq` `days` old, keeping occurred_at rising with seq,
    and recompute the chain so it verifies: the only way to get old events, since the trigger
    stamps every new one with the database clock."""
    with behind_the_triggers(admin_url) as conn:
        conn.execute(
            text(
                "UPDATE audit_events SET occurred_at = "
                "now() - make_interval(days => :days) + seq * interval '1 millisecond' "
                "WHERE seq <= :through"
            ),
            {"days": days, "through": through_seq},
        )
        conn.execute(text(RECHAIN))
