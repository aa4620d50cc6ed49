"""Sending the queued breach e-mails over SMTP (V2; decision 0034), from the worker.

Each run claims up to `BATCH` due e-mails (`FOR UPDATE SKIP LOCKED`: two workers never send
one twice) and tries each once over `aiosmtplib`; a send that fails waits
`smtp_retry_first_s` x 2^(attempts-1) (capped at six hours) before the next try, and after
`smtp_max_attempts` it is marked failed for an operator to look at. Every try is recorded on
the row: attempts, the last try's time and error, the time it was sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import structlog
from sqlalchemy import select

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.incidents.models import NotificationEmail

log = structlog.get_logger(__name__)

SEND_EVERY_S = 30.0
BATCH = 50
MAX_WAIT = timedelta(hours=6)


def message(email: NotificationEmail, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = email.to_address
    msg["Subject"] = email.subject
    msg["Reply-To"] = settings.privacy_contact
    # Stable per queued e-mail: a retry after a lost answer is the same message to a client.
    msg["Message-ID"] = make_msgid(idstring=str(email.id), domain="offcoder.invalid")
    msg.set_content(email.body)
    return msg


async def _send(msg: EmailMessage, settings: Settings) -> None:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        msg,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_s,
    )


def next_wait(attempts: int, settings: Settings) -> timedelta:
    return min(timedelta(seconds=settings.smtp_retry_first_s * 2 ** (attempts - 1)), MAX_WAIT)


async def send_due(database: Database, settings: Settings, now: datetime | None = None) -> int:
    """Try every due e-mail once; returns how many were sent. Nothing without a host."""
    if not settings.smtp_host:
        return 0
    sent = 0
    for _ in range(BATCH):
        # One transaction per e-mail: its row stays locked while it is sent, and its record
        # is committed whatever the next one does.
        async with database.system_session() as session:
            at = now or utcnow()
            email = await session.scalar(
                select(NotificationEmail)
                .where(
                    NotificationEmail.sent_at.is_(None),
                    NotificationEmail.failed_at.is_(None),
                    NotificationEmail.next_attempt_at <= at,
                )
                .order_by(NotificationEmail.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if email is None:
                return sent
            email.attempts += 1
            email.last_attempt_at = at
            try:
                await _send(message(email, settings), settings)
            except (aiosmtplib.SMTPException, OSError) as exc:
                email.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                if email.attempts >= settings.smtp_max_attempts:
                    email.failed_at = at
                    email.next_attempt_at = None
                else:
                    email.next_attempt_at = at + next_wait(email.attempts, settings)
                log.warning(
                    "breach e-mail not sent",
                    email_id=str(email.id),
                    attempts=email.attempts,
                    error=email.last_error,
                )
            else:
                email.sent_at = at
                email.next_attempt_at = None
                email.last_error = None
                sent += 1
    return sent
