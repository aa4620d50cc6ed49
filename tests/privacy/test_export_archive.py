"""Export archives (V3, issue 18 item 5): asked for through the API, made by the worker's task,
progress polled, the zip holds the JSON and the files (secrets by name only), the request and
each download audited, only the owner reaches it, and it is purged once expired."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from offcoder.audit.models import AuditEvent
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.privacy import exports
from offcoder.privacy.models import DataExportArchive
from tests.support.projects import new_project
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = pytest.mark.promise("V3")

SECRET_VALUE = "archive-secret-value-never-exported-5521"


async def test_an_archive_is_made_in_the_background_and_downloaded(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    alice = await signed_in_user(context)
    h = alice.headers
    project = await new_project(api, alice, "Archive me")
    pid = project["id"]
    wrote = await api.put(
        f"/v1/projects/{pid}/files/src/main.py", headers=h, content=b"print('kept')\n"
    )
    assert wrote.status_code in (200, 201), wrote.text
    secret = await api.put(
        f"/v1/projects/{pid}/secrets/API_TOKEN", headers=h, json={"value": SECRET_VALUE}
    )
    assert secret.status_code in (200, 201, 204), secret.text

    asked = await api.post("/v1/me/exports", headers=h)
    assert asked.status_code == 202, asked.text
    state = asked.json()
    assert (state["status"], state["percent"], state["download"]) == ("queued", 0, None)
    # Asking again while one waits gives the same one.
    assert (await api.post("/v1/me/exports", headers=h)).json()["id"] == state["id"]
    early = await api.get(f"/v1/me/exports/{state['id']}/archive", headers=h)
    assert early.status_code == 409

    # The worker's periodic task takes it.
    assert await exports.run_pending(context.database, context.settings.export_ttl_s) >= 1
    done = (await api.get(f"/v1/me/exports/{state['id']}", headers=h)).json()
    assert (done["status"], done["percent"]) == ("ready", 100)
    assert done["download"] == f"/v1/me/exports/{state['id']}/archive"
    left = datetime.fromisoformat(done["expires_at"]) - utcnow()
    assert timedelta(hours=23) < left <= timedelta(days=1)

    got = await api.get(done["download"], headers=h)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert SECRET_VALUE.encode() not in got.content
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        names = set(archive.namelist())
        assert {"export.json", "jobs.json", "ai.json"} <= names
        assert archive.read(f"files/{project['slug']}/src/main.py") == b"print('kept')\n"
        document = json.loads(archive.read("export.json"))
    assert [s["name"] for s in document["projects"][0]["secrets"]] == ["API_TOKEN"]

    # Another user reaches neither its state nor its bytes.
    bob = await signed_in_user(context)
    assert (await api.get(f"/v1/me/exports/{state['id']}", headers=bob.headers)).status_code == 404
    assert (await api.get(done["download"], headers=bob.headers)).status_code == 404

    uid = await user_id(api, alice)
    async with context.database.system_session() as s:
        actions = list(
            await s.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.target == f"user:{uid}",
                    AuditEvent.action.like("user.export%"),
                )
                .order_by(AuditEvent.seq)
            )
        )
    # Asked for, made (the document inside, written by the worker), downloaded.
    assert actions == ["user.export.requested", "user.exported", "user.export.downloaded"]

    # A day on it is gone: refused at once, then purged.
    async with context.database.system_session() as s:
        await s.execute(
            update(DataExportArchive)
            .where(DataExportArchive.id == state["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await api.get(done["download"], headers=h)).status_code == 404
    assert await exports.purge_expired(context.database) >= 1
    async with context.database.system_session() as s:
        assert await s.get(DataExportArchive, state["id"]) is None


async def test_the_json_export_stays(api: httpx.AsyncClient, context: AppContext) -> None:
    alice = await signed_in_user(context)
    answer = await api.get("/v1/me/export", headers=alice.headers)
    assert answer.status_code == 200
    assert answer.json()["consents"] == []
