"""R3 in the standard library's logging: while values are masked, every logger keeps working.

Formatters that read `record.args` themselves (uvicorn's access log unpacks them) must still get
them, with every masked value taken out of each one.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from offcoder import logs
from offcoder.ai.moderation import ProviderModeration
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context, create_app
from tests.support.served import served

pytestmark = pytest.mark.promise("R3")

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def uvicorn_loggers_restored() -> Iterator[None]:
    """uvicorn's own logging set-up (dictConfig) replaces its loggers' handlers: put them back."""
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in UVICORN_LOGGERS
        for lg in (logging.getLogger(name),)
    }
    try:
        yield
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def operator_key_registered(settings: Settings) -> str:
    """An operator's moderation key, registered the way the AI gateway registers it."""
    key = f"sk-operator-{secrets.token_hex(16)}"
    ProviderModeration(
        settings.model_copy(
            update={
                "ai_moderation_api_key": SecretStr(key),
                "ai_moderation_base_url": "http://127.0.0.1:9/v1",
            }
        )
    )
    return key


@pytest.mark.usefixtures("uvicorn_loggers_restored")
async def test_uvicorn_access_lines_are_written_and_redacted_while_values_are_masked(
    context: AppContext, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the operator's key masked for the process, and a user's value held for a call
    operator_key = operator_key_registered(settings)
    user_value = f"user-value-{secrets.token_hex(16)}"
    logs.hold_sensitive(user_value)
    try:
        # when requests whose targets carry both values are served with uvicorn's access log
        async with (
            served(create_app(context), log_level="info") as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            for _ in range(3):
                response = await client.get(
                    "/v1/projects", params={"probe": user_value, "k": operator_key}
                )
                assert response.status_code == 401
    finally:
        logs.release_sensitive(user_value)

    # then each request has its access line, with both values masked, and logging never failed
    written = capsys.readouterr()
    everything = written.out + written.err
    assert "Logging error" not in everything
    access_lines = [line for line in written.out.splitlines() if '"GET /v1/projects?' in line]
    assert len(access_lines) == 3, everything[-3000:]
    for line in access_lines:
        assert "401" in line
        assert f"probe={logs.REDACTED}" in line and f"k={logs.REDACTED}" in line
    assert user_value not in everything and operator_key not in everything


def test_every_argument_shape_is_formatted_and_redacted(captured_info_logs: io.StringIO) -> None:
    # given a masked value and a handler whose formatter unpacks the record's arguments
    value = f"masked-{secrets.token_hex(12)}"
    unpacked: list[object] = []

    class ArgsReadingFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            unpacked.append(record.args)
            return super().format(record)

    handler = logging.StreamHandler(captured_info_logs)
    handler.setFormatter(ArgsReadingFormatter("%(message)s"))
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    logs.hold_sensitive(value)
    try:
        # when the value reaches a log line as a string, a dict entry, an exception's text,
        # and split across two arguments
        library.warning("as text %s, count %d", f"[{value}]", 7)
        library.warning("as a dict entry %(secret)s / %(n)d", {"secret": value, "n": 3})
        library.warning("as an error: %s", ValueError(f"bad {value}"))
        half = len(value) // 2
        library.warning("split: %s%s", value[:half], value[half:])
    finally:
        logs.release_sensitive(value)
        library.removeHandler(handler)

    # then every line is written, masked, with its non-secret arguments intact
    written = captured_info_logs.getvalue()
    assert value not in written
    assert f"as text [{logs.REDACTED}], count 7" in written
    assert f"as a dict entry {logs.REDACTED} / 3" in written
    assert f"as an error: bad {logs.REDACTED}" in written
    assert f"split: {logs.REDACTED}" in written
    # the arguments of the lines that could keep them are still there for formatters to read
    assert unpacked[0] == (f"[{logs.REDACTED}]", 7)
    assert unpacked[1] == {"secret": logs.REDACTED, "n": 3}


# Who may mask a value for the life of the process, and why. Anything a client sends is held
# for its work only (`logs.SensitiveHold`): the operator's registry is never cleared, so a
# client's value registered there would be memory the client can grow without bound.
OPERATOR_SECRET_CALLERS = {
    "ai/moderation.py": "the operator's moderation key, from the settings",
}


def test_only_operator_configured_values_are_masked_for_the_process() -> None:
    source = Path(logs.__file__).parent
    callers = {
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if path.name != "logs.py"
        and re.search(r"\bregister_(operator_secret|sensitive)\b", path.read_text())
    }
    assert callers == set(OPERATOR_SECRET_CALLERS)


def test_every_secret_the_operator_configured_is_masked_once_the_server_is_built(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """Given webhook and client secrets, and passwords in connection URLs, in the settings,
    when a server process is built, then each is masked in any log line for the life of the
    process (R3)."""
    configured = {
        "stripe_webhook_secret": f"whsec_{secrets.token_hex(16)}",
        "razorpay_key_secret": f"rzp-{secrets.token_hex(16)}",
        "github_client_secret": f"gh-{secrets.token_hex(16)}",
    }
    # build_context opens the prepared database, not these URLs: their passwords are not used
    passwords = {
        "database_url": f"owner-{secrets.token_hex(12)}",
        "database_app_url": f"app-{secrets.token_hex(12)}",
        "database_system_url": f"system-{secrets.token_hex(12)}",
        "redis_url": f"redis-{secrets.token_hex(12)}",
    }
    urls = {
        name: f"{'redis' if name == 'redis_url' else 'postgresql'}://u:{pw}@127.0.0.1:9/x"
        for name, pw in passwords.items()
    }
    everything = {**configured, **passwords}
    assert not any(logs.is_masked(value) for value in everything.values())
    context = build_context(
        settings.model_copy(update={**{k: SecretStr(v) for k, v in configured.items()}, **urls}),
        prepared,
    )
    asyncio.run(context.close())
    for name, value in everything.items():
        assert logs.is_masked(value), name
    # The roles' password, generated into the state directory here rather than configured.
    assert prepared.app_url.password and logs.is_masked(str(prepared.app_url.password))


def test_operator_secrets_include_the_passwords_of_every_url_setting() -> None:
    """A password in a connection URL is the operator's secret like any SecretStr setting:
    as written in the URL (percent-encoded) and as a driver shows it (decoded)."""
    settings = Settings(
        database_url="postgresql://owner:db-owner-pw%2F1@db.internal/offcoder",
        database_app_url="postgresql+asyncpg://app:db-app-pw-123@db.internal/offcoder",
        database_system_url="postgresql://system@db.internal/offcoder?password=db-system-pw-9",
        redis_url="redis://:redis-pw-4567@cache.internal:6379/0",
        ai_base_urls={"openai": "https://proxy-user:proxy-pw-890@proxy.internal/v1"},
        public_url="https://offcoder.example",
        stripe_webhook_secret=SecretStr("whsec_kept"),
    )

    found = set(settings.operator_secrets())

    assert {
        "db-owner-pw%2F1",
        "db-owner-pw/1",
        "db-app-pw-123",
        "db-system-pw-9",
        "redis-pw-4567",
        "proxy-pw-890",
        "whsec_kept",
    } <= found
    # user names and hosts are not secrets, and a URL without a password adds nothing
    assert not found & {"owner", "app", "system", "proxy-user", "db.internal", "offcoder"}
    assert Settings(database_url="postgresql://owner@db/x").operator_secrets() == []


def test_a_value_held_for_work_is_masked_only_from_8_characters(
    captured_info_logs: io.StringIO,
) -> None:
    """A client's value is held only for its work, but while held it masks every log line: a
    value of a common word would hide the operators' view of the server's own activity. So
    only values of 8 characters or more are held; the operator's own keep the 4 minimum."""
    # given a client's short values and a long one, and a short operator secret
    short_values = ["true", "status", "1234567"]
    long_value = f"k{secrets.token_hex(4)}"[:8]
    # 6 characters, random, of letters no hex token or word of ours uses
    operator_value = "".join(secrets.choice("GHJKMNPQRSTVWXZ") for _ in range(6))
    with logs.SensitiveHold(*short_values, long_value):
        logs.register_operator_secret(operator_value)
        # when the server logs the words, the long value and the operator's short secret
        logging.getLogger("some.library").warning(
            "status true 1234567 %s %s", long_value, operator_value
        )
        masked = {v: logs.is_masked(v) for v in (*short_values, long_value, operator_value)}

    # then only the 8-character value and the operator's are masked
    assert masked == {
        "true": False,
        "status": False,
        "1234567": False,
        long_value: True,
        operator_value: True,
    }
    written = captured_info_logs.getvalue()
    assert f"status true 1234567 {logs.REDACTED} {logs.REDACTED}" in written


def test_standard_library_tracebacks_and_stacks_are_scrubbed(
    captured_info_logs: io.StringIO,
) -> None:
    # given a held value, and handlers on uvicorn's error logger and on a library's logger
    value = "sk-user-secret-123456"
    handler = logging.StreamHandler(captured_info_logs)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    loggers = [logging.getLogger("uvicorn.error"), logging.getLogger("some.library")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with logs.SensitiveHold(value):
            # when an exception holding the value is logged with its traceback, as uvicorn
            # and libraries do, chained and passed as an instance too
            try:
                raise RuntimeError(f"connect failed for key {value}")
            except RuntimeError as exc:
                loggers[0].exception("Exception in ASGI application")
                try:
                    raise ValueError("wrapped") from exc
                except ValueError as wrapped:
                    loggers[1].error("library failed", exc_info=wrapped)
            # and a stack whose source lines show the value
            loggers[1].warning("where: sk-user-secret-123456", stack_info=True)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)

    # then every traceback and stack is written, with the value masked
    written = captured_info_logs.getvalue()
    assert value not in written, written
    assert written.count("Traceback (most recent call last)") >= 3
    assert f"RuntimeError: connect failed for key {logs.REDACTED}" in written
    assert "ValueError: wrapped" in written
    assert "Stack (most recent call last)" in written
    assert f'loggers[1].warning("where: {logs.REDACTED}", stack_info=True)' in written
