"""`offcoder incidents list|send` (V2): the register's clocks and the e-mail queue from a
terminal, against the test database and a local SMTP server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.incidents import register
from offcoder.incidents.models import NotificationEmail
from offcoder.incidents.schemas import DataCategory, IncidentCreate, Jurisdiction, Nature
from offcoder.users.models import User
from tests.support.signin import signed_in_user
from tests.support.smtp_standins import smtp_server

pytestmark = pytest.mark.promise("V2")


async def test_an_operator_sees_the_overdue_clock_and_sends_the_queue(
    context: AppContext, prepared: PreparedDatabase, state_dir: Path
) -> None:
    person = await signed_in_user(context)
    async with context.database.system_session() as s:
        incident = await register.record_incident(
            s,
            IncidentCreate(
                title="Backup bucket left public",
                summary="A database backup was readable by anyone with its address for a day.",
                detected_at=utcnow() - timedelta(hours=80),
                aware_at=utcnow() - timedelta(hours=73),  # the 72 hours are over
                nature=[Nature.confidentiality],
                data_categories=[DataCategory.accounts],
                jurisdictions=[Jurisdiction.UK],
            ),
            "operator:test",
        )
        user = await s.scalar(select(User).where(User.email == person.subject))
        assert user is not None
        await register.notify_people(
            s, incident.incident_id, [user], context.settings, "operator:test"
        )

    with smtp_server() as (mailbox, port):
        env = {
            **os.environ,
            "OFFCODER_STATE_DIR": str(state_dir),
            "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
            "OFFCODER_SMTP_HOST": "127.0.0.1",
            "OFFCODER_SMTP_PORT": str(port),
            "OFFCODER_SMTP_STARTTLS": "false",
        }

        async def offcoder(*args: str) -> tuple[str, str]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "offcoder.cli", "incidents", *args,
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, stderr.decode()
            return stdout.decode(), stderr.decode()

        listed, warning = await offcoder("list")
        [item] = [
            i
            # The JSON after the log lines that precede it on stdout.
            for i in json.loads(listed[listed.index("\n[") :])
            if i["incident"]["incident_id"] == str(incident.incident_id)
        ]
        [clock] = item["deadlines"]
        assert clock["jurisdiction"] == "UK" and clock["overdue"] and clock["seconds_left"] < 0
        assert item["emails"]["queued"] == 1
        assert "past an authority deadline" in warning

        await offcoder("send")
        assert len(mailbox.to(person.subject)) == 1
    async with context.database.system_session() as s:
        sent_at = await s.scalar(
            select(NotificationEmail.sent_at).where(NotificationEmail.user_id == user.id)
        )
    assert sent_at is not None
