"""Breach e-mails (V2) through a local SMTP server on loopback: what a person is told, a
refused delivery retried after its backoff, and each try recorded on the queued row."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.incidents import mailer, register
from offcoder.incidents.models import NotificationEmail
from offcoder.incidents.schemas import DataCategory, IncidentCreate, Jurisdiction, Nature
from offcoder.users.models import User
from tests.support.signin import signed_in_user
from tests.support.smtp_standins import free_port, smtp_server

pytestmark = pytest.mark.promise("V2")


async def queued_email(context: AppContext) -> tuple[uuid.UUID, str]:
    """An incident recorded and one affected person's e-mail queued, by the service calls the
    admin API makes."""
    person = await signed_in_user(context)
    async with context.database.system_session() as s:
        incident = await register.record_incident(
            s,
            IncidentCreate(
                title="Session tokens in a log file",
                summary="A log file with sign-in session tokens was readable by a contractor.",
                detected_at=utcnow() - timedelta(hours=3),
                aware_at=utcnow() - timedelta(hours=2),
                nature=[Nature.confidentiality],
                data_categories=[DataCategory.sessions, DataCategory.accounts],
                jurisdictions=[Jurisdiction.EU],
                consequences="Someone could have signed in as you until the tokens expired.",
                measures_taken="We ended every session and deleted the log file.",
                measures_planned="Tokens will no longer be written to logs.",
                advice="Sign in again and check your projects for changes you did not make.",
            ),
            "operator:test",
        )
        user = await s.scalar(select(User).where(User.email == person.subject))
        assert user is not None
        queued, _, _ = await register.notify_people(
            s, incident.incident_id, [user], context.settings, "operator:test"
        )
        assert queued == 1
        email_id = await s.scalar(
            select(NotificationEmail.id).where(NotificationEmail.user_id == user.id)
        )
        assert email_id is not None
    return email_id, person.subject


async def email_row(context: AppContext, email_id: uuid.UUID) -> NotificationEmail:
    async with context.database.system_session() as s:
        row = await s.get(NotificationEmail, email_id)
        assert row is not None
        return row


async def test_the_email_tells_what_happened_and_is_retried_after_a_refusal(
    context: AppContext,
) -> None:
    email_id, address = await queued_email(context)
    with smtp_server() as (mailbox, port):
        settings = context.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
        )
        mailbox.refuse_once.add(address)
        t0 = utcnow()
        await mailer.send_due(context.database, settings, now=t0)
        refused = await email_row(context, email_id)
        assert mailbox.refused == [address] and mailbox.to(address) == []
        assert refused.attempts == 1 and refused.sent_at is None and refused.failed_at is None
        assert refused.last_error is not None and "451" in refused.last_error
        assert refused.next_attempt_at == t0 + timedelta(seconds=settings.smtp_retry_first_s)

        # Not due yet: nothing is tried.
        await mailer.send_due(context.database, settings, now=t0 + timedelta(seconds=30))
        assert (await email_row(context, email_id)).attempts == 1

        t1 = t0 + timedelta(seconds=settings.smtp_retry_first_s + 1)
        await mailer.send_due(context.database, settings, now=t1)
        sent = await email_row(context, email_id)
        assert sent.sent_at == t1 and sent.attempts == 2 and sent.last_error is None
        [message] = mailbox.to(address)

    assert message["From"] == settings.smtp_from
    assert message["Reply-To"] == settings.privacy_contact
    assert message["Subject"].startswith("Security incident affecting your OffCoder account")
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    for expected in (
        "WHAT HAPPENED\nA log file with sign-in session tokens",
        "WHICH OF YOUR DATA\n- your account details",
        "- your signed-in sessions",
        "LIKELY CONSEQUENCES\nSomeone could have signed in as you",
        "WHAT WE HAVE DONE\nWe ended every session",
        "Tokens will no longer be written to logs.",
        "WHAT YOU SHOULD DO\nSign in again",
        f"Write to {settings.privacy_contact}",
        settings.grievance_officer_email,
    ):
        assert expected in body

    # Sent once: a later run sends nothing again.
    with smtp_server() as (again, port):
        settings = settings.model_copy(update={"smtp_port": port})
        await mailer.send_due(context.database, settings, now=t1 + timedelta(hours=1))
        assert again.to(address) == []


async def test_an_unreachable_relay_backs_off_and_at_last_gives_up(context: AppContext) -> None:
    email_id, _ = await queued_email(context)
    settings = context.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),  # nothing listens: the connection is refused
            "smtp_starttls": False,
            "smtp_max_attempts": 3,
            "smtp_timeout_s": 5.0,
        }
    )
    at = utcnow()
    waits = []
    for _ in range(3):
        row = await email_row(context, email_id)
        at = row.next_attempt_at or at
        await mailer.send_due(context.database, settings, now=at)
        row = await email_row(context, email_id)
        if row.next_attempt_at:
            waits.append((row.next_attempt_at - at).total_seconds())
    assert waits == [60.0, 120.0]  # doubling from smtp_retry_first_s
    assert row.attempts == 3 and row.failed_at == at and row.next_attempt_at is None
    assert row.sent_at is None and row.last_error
