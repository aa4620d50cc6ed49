"""The sub-processor list (V4): kept by superadmins through the admin API and by operators at
the command line, published as a page and as JSON with its change log and the grievance
officer's contact; its history cannot be rewritten."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from offcoder.admin.roles import Role
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.incidents.models import SubprocessorVersion
from tests.support.admin import granted
from tests.support.mfa import with_mfa
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = pytest.mark.promise("V4")


def entry(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": name,
        "purpose": "Sends breach notification e-mails.",
        "data_categories": ["e-mail address", "name"],
        "location": "Ireland (EU)",
        "transfer_mechanism": "None needed (processed in the EU)",
        "added_on": "2026-11-01T00:00:00Z",
    }
    body.update(overrides)
    return body


async def test_superadmins_keep_the_list_and_the_public_sees_it_with_its_changes(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    await granted(context, await user_id(api, user), Role.superadmin)
    admin = await with_mfa(api, user)
    mailer, hosting = f"Mailer {secrets.token_hex(3)}", f"Hosting {secrets.token_hex(3)}"
    assert (
        await api.post("/v1/admin/subprocessors", json=entry(mailer), headers=admin)
    ).status_code == 201
    twice = await api.post("/v1/admin/subprocessors", json=entry(mailer), headers=admin)
    assert twice.status_code == 409
    await api.post(
        "/v1/admin/subprocessors",
        json=entry(hosting, purpose="Runs our servers.", location="United States",
                   transfer_mechanism="EU-US Data Privacy Framework"),
        headers=admin,
    )  # fmt: skip
    changed = await api.put(
        f"/v1/admin/subprocessors/{mailer}",
        json=entry(mailer, location="Germany (EU)", note="Moved to a German region."),
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["location"] == "Germany (EU)"
    gone = await api.delete(
        f"/v1/admin/subprocessors/{hosting}",
        params={"note": "Moved hosting in-house."},
        headers=admin,
    )
    assert gone.status_code == 204

    published = await api.get("/legal/sub-processors.json")
    assert published.status_code == 200
    data = published.json()
    listed = {s["name"]: s for s in data["subprocessors"]}
    assert hosting not in listed and listed[mailer]["location"] == "Germany (EU)"
    assert listed[mailer]["added_on"].startswith("2026-11-01")
    log = [(c["name"], c["change"]) for c in data["changes"] if c["name"] in (mailer, hosting)]
    assert log == [(hosting, "removed"), (mailer, "changed"), (hosting, "added"), (mailer, "added")]
    assert data["grievance_officer"] == {
        "name": context.settings.grievance_officer_name,
        "email": context.settings.grievance_officer_email,
    }

    page = await api.get("/legal/sub-processors")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert f"<h2>{mailer}</h2>" in html and f"<h2>{hosting}</h2>" not in html
    assert "Moved hosting in-house." in html and context.settings.grievance_officer_email in html

    # The support role cannot change it.
    other = await signed_in_user(context)
    await granted(context, await user_id(api, other), Role.support)
    refused = await api.post(
        "/v1/admin/subprocessors", json=entry("Sneaky"), headers=await with_mfa(api, other)
    )
    assert refused.status_code == 403


async def test_the_list_history_cannot_be_rewritten(context: AppContext) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with context.database.system_session() as s:
            await s.execute(update(SubprocessorVersion).values(location="nowhere"))


async def test_an_operator_keeps_the_list_from_the_command_line(
    api: httpx.AsyncClient, prepared: PreparedDatabase, state_dir: Path
) -> None:
    env = {
        **os.environ,
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
    }
    name = f"Analytics {secrets.token_hex(3)}"

    async def offcoder(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "offcoder.cli", "subprocessors", *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, stderr.decode()
        return stdout.decode()

    await offcoder(
        "add", name, "--purpose", "Counts page views.", "--data", "IP address",
        "--data", "pages visited", "--location", "India", "--transfer", "None (in India)",
    )  # fmt: skip
    assert name in await offcoder("list")
    published = (await api.get("/legal/sub-processors.json")).json()
    [listed] = [s for s in published["subprocessors"] if s["name"] == name]
    assert listed["data_categories"] == ["IP address", "pages visited"]
    await offcoder("remove", name, "--note", "No longer used.")
    published = (await api.get("/legal/sub-processors.json")).json()
    assert name not in [s["name"] for s in published["subprocessors"]]
    assert '"change": "removed"' in await offcoder("log")
