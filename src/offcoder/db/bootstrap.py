"""Bring a database to the state the server needs: roles, migrations, the two engines.

Runs as the administrator connection (DATABASE_URL, or the embedded server's superuser).
Migrations run with `SET ROLE <owner>`, so every table is owned by the owner role and never by
the application role.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from offcoder.config import Settings
from offcoder.db.embedded import start_embedded
from offcoder.db.engine import Database
from offcoder.db.roles import RoleNames, async_url, role_url

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class PreparedDatabase:
    admin_url: URL
    app_url: URL
    system_url: URL
    roles: RoleNames
    embedded: Any = field(default=None, repr=False)

    def open(self, pool_size: int = 10) -> Database:
        return Database(self.app_url, self.system_url, pool_size=pool_size)

    def close(self) -> None:
        """Let go of the embedded server: pgserver stops it when this process held the last
        handle (another process on the same data directory keeps it running). Only at exit
        would pgserver do it by itself, and a process ended by a signal never gets there."""
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


def role_password(settings: Settings) -> str:
    """The password of the app and system roles: configured, or generated once in state_dir."""
    if settings.db_role_password is not None:
        return settings.db_role_password.get_secret_value()
    path = settings.state_dir / "db-role-password"
    if path.exists():
        return path.read_text().strip()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value)
    return value


def admin_url_for(settings: Settings) -> tuple[URL, Any]:
    if settings.database_url:
        return make_url(settings.database_url), None
    server, uri = start_embedded(settings.state_dir / "pgdata")
    return make_url(uri), server


def sync_url(url: URL) -> URL:
    return url.set(drivername="postgresql+psycopg")


def ensure_roles(admin_url: URL, roles: RoleNames, password: str) -> None:
    """Create the owner, app and system roles where they are missing; align their attributes."""
    engine = create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name, attributes in (
                (roles.owner, "NOLOGIN NOBYPASSRLS"),
                (roles.app, "LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE"),
                (roles.system, "LOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE"),
            ):
                exists = conn.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}
                ).scalar()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(text(f'{verb} ROLE "{name}" {attributes}'))
                if "NOLOGIN" not in attributes:
                    # Passwords cannot be bound parameters in DDL; quote_literal escapes it.
                    quoted = conn.execute(
                        text("SELECT quote_literal(:p)"), {"p": password}
                    ).scalar()
                    conn.execute(text(f'ALTER ROLE "{name}" PASSWORD {quoted}'))
            current = conn.execute(text("SELECT current_user")).scalar()
            conn.execute(text(f'GRANT "{roles.owner}" TO "{current}"'))
            database = conn.execute(text("SELECT current_database()")).scalar()
            conn.execute(
                text(f'GRANT CONNECT ON DATABASE "{database}" TO "{roles.app}", "{roles.system}"')
            )
            conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{roles.owner}"'))
            conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    finally:
        engine.dispose()


def alembic_config(admin_url: URL, roles: RoleNames) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["admin_url"] = sync_url(admin_url)
    config.attributes["roles"] = roles
    return config


def migrate(admin_url: URL, roles: RoleNames, revision: str = "head") -> None:
    command.upgrade(alembic_config(admin_url, roles), revision)


# Held while roles are aligned and migrations run: several processes starting at once (replicas,
# a separate worker) would otherwise race on the same DDL ("tuple concurrently updated", or two
# Alembic runs applying one revision) and all but one crash at start.
SETUP_LOCK_KEY = 0x0FFC0DE5


def setup(admin_url: URL, roles: RoleNames, password: str) -> None:
    """Create or align the roles and migrate, one process at a time."""
    engine = create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SETUP_LOCK_KEY})
            try:
                ensure_roles(admin_url, roles, password)
                migrate(admin_url, roles)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SETUP_LOCK_KEY})
    finally:
        engine.dispose()


def prepare(settings: Settings, *, run_migrations: bool = True) -> PreparedDatabase:
    """Start or reach the database, create the roles, migrate; return the connection URLs."""
    admin_url, embedded = admin_url_for(settings)
    roles = RoleNames.from_prefix(settings.db_role_prefix)
    password = role_password(settings)
    if run_migrations:
        setup(admin_url, roles, password)
    app_url = (
        async_url(settings.database_app_url)
        if settings.database_app_url
        else role_url(admin_url, roles.app, password)
    )
    system_url = (
        async_url(settings.database_system_url)
        if settings.database_system_url
        else role_url(admin_url, roles.system, password)
    )
    log.info("database ready", embedded=embedded is not None, database=admin_url.database)
    return PreparedDatabase(admin_url, app_url, system_url, roles, embedded)
