"""Test fixtures: a real PostgreSQL built by the migrations, a real OIDC provider on loopback.

By default the embedded PostgreSQL (pgserver) runs in a temporary directory. With
OFFCODER_TEST_DATABASE_URL set (an administrator URL of another server), a fresh database is
created there for the run and dropped after it.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from offcoder import logs
from offcoder.config import Environment, Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase, prepare, sync_url
from offcoder.main import build_context, create_app
from tests.support.signin import REDIRECT_URI, SignedIn, signed_in_user

TEST_SERVER = "http://testserver"


def _guard_network() -> None:
    """Tests talk to loopback only: any other address fails loudly instead of leaving."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("localhost",) and not (
                host.startswith("127.") or host in ("::1", "0:0:0:0:0:0:0:1")
            ):
                raise OSError(f"test tried to reach {host}: only loopback is allowed")
        return real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


_guard_network()


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="offcoder-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    # The development provider (`serve --dev`), whose pages load nothing from elsewhere.
    from offcoder.dev.identity import dev_provider

    with dev_provider() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str | None]:
    external = os.environ.get("OFFCODER_TEST_DATABASE_URL")
    if not external:
        yield None
        return
    name = f"offcoder_test_{secrets.token_hex(4)}"
    engine = create_engine(sync_url(make_url(external)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(external).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def settings(
    state_dir: Path, oidc_issuer: str, admin_database_url: str | None
) -> Iterator[Settings]:
    logs.configure()
    yield Settings(
        env=Environment.test,
        state_dir=state_dir,
        database_url=admin_database_url,
        public_url=TEST_SERVER,
        oidc_issuer=oidc_issuer,
        oidc_client_id="offcoder-test",
        oidc_client_secret="test-client-secret",  # type: ignore[arg-type]
        redirect_uris=[REDIRECT_URI],
        db_pool_size=5,
        # Every in-process request comes from one address (httpx's ASGI transport), and the
        # suite signs in far more often than a person: the per-address limits would refuse it.
        # tests/ratelimits sets small limits of its own.
        rate_limit_sign_in="100000/minute",
        rate_limit_token_refresh="100000/minute",
    )
    # Whatever logs after the session (pgserver stopping at exit) must not write to pytest's
    # capture, which is closed by then.
    logs.configure(stream=sys.__stderr__, level=logging.WARNING)


@pytest.fixture(scope="session")
def prepared(settings: Settings) -> PreparedDatabase:
    return prepare(settings)


@pytest.fixture(scope="session")
async def context(settings: Settings, prepared: PreparedDatabase) -> AsyncIterator[AppContext]:
    ctx = build_context(settings, prepared)
    yield ctx
    await ctx.close()


@pytest.fixture(scope="session")
async def api(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(context)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_SERVER) as client:
        yield client


@pytest.fixture
def captured_info_logs() -> Iterator[io.StringIO]:
    """Every log line of the process at INFO, as a server writes them (no SQL statements)."""
    buffer = io.StringIO()
    logs.configure(stream=buffer)
    try:
        yield buffer
    finally:
        logs.configure()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the process, at DEBUG, including SQL statements with their parameters."""
    buffer = io.StringIO()
    logs.configure(level=logging.DEBUG, stream=buffer)
    noisy = ("sqlalchemy.engine", "httpx", "httpcore")
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        logs.configure()
        for name in noisy:
            logging.getLogger(name).setLevel(logging.WARNING)


# Signed in straight in the database; tests/auth/conftest.py signs them in through the broker.
@pytest.fixture
async def alice(context: AppContext) -> SignedIn:
    return await signed_in_user(context)


@pytest.fixture
async def bob(context: AppContext) -> SignedIn:
    return await signed_in_user(context)


# A skipped test proves nothing: a missing service must fail the run, not quietly skip.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; a skip counts as a failure here: "
            + ", ".join(_skipped[:10]),
            red=True,
        )


@pytest.fixture
def scratch(prepared: PreparedDatabase) -> Iterator[URL]:
    """A database of its own on the same server, for migrating up and down."""
    name = f"offcoder_migrate_{secrets.token_hex(4)}"
    engine = create_engine(sync_url(prepared.admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield prepared.admin_url.set(database=name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
