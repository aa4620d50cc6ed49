"""Structured logging with a redaction step that every event passes (R3).

Secrets never reach a log line: keys that name a secret are masked whatever their value, and
masked values are taken out wherever they appear. Two kinds of value are masked: the operator's
own secrets, for the life of the process (`register_operator_secret`), and the values a piece
of work uses (a secret being sealed, an AI call's key, a job's secrets), from validation to the
end of that work only (`SensitiveHold`), when they have 8 characters or more. So the redactor's
memory follows the work in flight, nothing a client sends can push the operator's secrets out
of it, and no client can mask a common word in the server's lines. Standard-library records
are scrubbed at creation: message, arguments, traceback and stack.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import structlog

if TYPE_CHECKING:
    from offcoder.config import Settings

SENSITIVE_KEY = re.compile(
    r"(pass|secret|token|api[_-]?key|authorization|cookie|credential|private|value|code_verifier)",
    re.IGNORECASE,
)
REDACTED = "[redacted]"

# Shorter values would mask ordinary words and numbers all over the logs.
_MIN_SENSITIVE_LEN = 4
# The floor for values a client sends (held for a piece of work): while held, a value is masked
# in every line the process writes, so a client's `true` or `status` would hide the server's own
# activity from its operators for as long as their job runs. A shorter value is still never
# logged by our code; it only goes without this second wall.
_MIN_HELD_LEN = 8
# The operator's own secrets (the moderation key, ...): configured, so few, and masked for the
# life of the process. Never cleared: what a client sends must never be able to unmask them.
_operator: set[str] = set()
# Values held for the length of one piece of work (a request that seals a secret, an AI call's
# key, a job's secrets), counted so that two holders of one value keep it masked until both
# have ended. Nothing is held before validation and everything is released when the work
# ends, so its size is bounded by the work in flight, not by what clients have ever sent.
_held: Counter[str] = Counter()


def register_operator_secret(value: str) -> None:
    """Mask `value` for the life of the process: for secrets the operator configures only.

    A value a client sends goes through `SensitiveHold` instead, which lets it go again.
    """
    if len(value) >= _MIN_SENSITIVE_LEN:
        _operator.add(value)


def mask_configured_secrets(settings: Settings, database_password: str | None) -> None:
    """Mask, for the life of the process, every secret the operator configured
    (`Settings.operator_secrets`) and the database roles' password, which may be generated
    into the state directory rather than configured. Every process calls it at start."""
    for value in settings.operator_secrets():
        register_operator_secret(value)
    if database_password:
        register_operator_secret(database_password)


# The name this had when it was the only registry; it now means what it always should have.
register_sensitive = register_operator_secret


def hold_sensitive(value: str) -> None:
    """Mask `value` until `release_sensitive` is called as many times as this was.

    Values under 8 characters are not held (`_MIN_HELD_LEN`): they would mask common words.
    """
    if len(value) >= _MIN_HELD_LEN:
        _held[value] += 1


def release_sensitive(value: str) -> None:
    if value not in _held:
        return
    if _held[value] <= 1:
        del _held[value]
    else:
        _held[value] -= 1


class SensitiveHold:
    """The values one piece of work uses, masked from `add` until `release` (or the end of a
    `with` block) when they have 8 characters or more; releasing twice releases once.

    >>> with SensitiveHold(value):
    ...     seal_and_store(value)
    """

    def __init__(self, *values: str) -> None:
        self._values: list[str] = []
        for value in values:
            self.add(value)

    def add(self, value: str) -> str:
        """Mask `value` until this hold is released; returns it, for use in an expression."""
        hold_sensitive(value)
        self._values.append(value)
        return value

    def release(self) -> None:
        values, self._values = self._values, []
        for value in values:
            release_sensitive(value)

    def __enter__(self) -> SensitiveHold:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class MaskedSize(NamedTuple):
    """What the redactor holds: how many values, and how many characters they add up to."""

    values: int
    characters: int


def masked_size() -> MaskedSize:
    """The redactor's memory, by values held: a client must not be able to grow it."""
    values = _secrets()
    return MaskedSize(len(values), sum(len(v) for v in values))


def is_masked(value: str) -> bool:
    """Whether `value` is currently masked in every log line."""
    return value in _operator or value in _held


def _secrets() -> tuple[str, ...]:
    # One C-level copy of each: a thread logging while the event loop holds or releases a
    # value iterates its own snapshot.
    return (*_operator, *_held)


def _scrub_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, _secrets())
    if isinstance(value, dict):
        return {
            k: (REDACTED if SENSITIVE_KEY.search(str(k)) else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = _scrub(event_dict[key])
        elif SENSITIVE_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def _scrub_record(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    """Take every masked value out of the record's message and arguments, keeping their shape.

    Formatters may read `record.args` themselves (uvicorn's access formatter unpacks the
    tuple), so the arguments stay a tuple or a mapping of the same length and keys, each text
    scrubbed and each number untouched. If the formatted message would still show a value (in
    an object's text, or split across two arguments), the record falls back to that message,
    scrubbed, with no arguments: a lost argument is better than a leaked secret.
    """

    def scrub(part: Any) -> Any:
        return _scrub_text(part, secrets) if isinstance(part, str) else part

    record.msg = scrub(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {key: scrub(arg) for key, arg in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(scrub(arg) for arg in record.args)
    try:
        message = record.getMessage()
    except Exception:
        # Formatting will fail in the handler too, and logging's error report prints the
        # arguments: drop them, so that report cannot show what they hold.
        record.msg, record.args = _scrub_text(str(record.msg), secrets), ()
        return
    if any(secret in message for secret in secrets):
        record.msg, record.args = _scrub_text(message, secrets), ()


def _scrub_traceback(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    """Format the record's traceback now, scrubbed, where every formatter will find it.

    A handler's Formatter formats `exc_info` only when `exc_text` is empty and writes
    `exc_text` as it finds it, so the traceback text (an exception's message, chained causes)
    is set here, scrubbed, once. `stack_info` is text already: scrubbed in place.
    """
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = _scrub_text(record.exc_text, secrets)
    if record.stack_info:
        record.stack_info = _scrub_text(record.stack_info, secrets)


_base_record_factory = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Scrubs every standard-library log record at creation, whichever logger or handler."""
    record = _base_record_factory(*args, **kwargs)
    secrets = _secrets()
    if secrets:
        _scrub_record(record, secrets)
        _scrub_traceback(record, secrets)
    return record


def configure(
    *, json: bool = False, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library through the redaction step to `stream`."""
    out = stream or sys.stderr
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    logging.setLogRecordFactory(_redacting_record_factory)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_offcoder", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler._offcoder = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # pgserver logs every initdb and pg_ctl run, their whole output included, at INFO; Alembic
    # a line per migration; httpx every request (the worker asks its proxy every 10 s). Start-up
    # says what matters ("database ready"); their warnings and errors (a failed initdb, with its
    # output) still show.
    for chatty in ("pgserver", "alembic", "httpx"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
