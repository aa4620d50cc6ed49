"""A database backup as an operator takes one (pg_dump) and its restore into a scratch
database on the same server, for the crypto-shredding tests (V3, decision 0033)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from offcoder.db.bootstrap import sync_url


def _bin(name: str) -> str:
    """The embedded PostgreSQL's own client, which matches its server's version."""
    import pgserver._commands

    return str(Path(pgserver._commands.POSTGRES_BIN_PATH) / name)


def libpq_url(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def dump(admin_url: URL, into: Path) -> Path:
    """A custom-format dump of the whole database, as a nightly backup would be."""
    subprocess.run(
        [_bin("pg_dump"), "--format=custom", "--file", str(into), libpq_url(admin_url)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return into


@contextmanager
def restored(admin_url: URL, backup: Path) -> Iterator[URL]:
    """The backup restored into a new database on the same server; dropped afterwards."""
    name = f"offcoder_restore_{secrets.token_hex(4)}"
    server = create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name)
    try:
        subprocess.run(
            [_bin("pg_restore"), "--exit-on-error", "--dbname", libpq_url(url), str(backup)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield url
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
