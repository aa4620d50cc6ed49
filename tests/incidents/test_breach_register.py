"""The breach register (V2): an incident recorded with the fields the ICO log, GDPR Art. 33
and DPDP Rule 7 ask for, every change a new version the database will not let anyone rewrite,
the 72-hour clocks, the people it touched, and e-mails queued to them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from offcoder.admin.roles import Role
from offcoder.ai.models import AIKey
from offcoder.audit.models import AuditEvent
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.incidents import register
from offcoder.incidents.models import IncidentVersion, NotificationEmail
from offcoder.incidents.register import severity
from offcoder.incidents.schemas import DataCategory, Severity
from tests.support.admin import granted
from tests.support.mfa import with_mfa
from tests.support.scratch import sync_url
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = pytest.mark.promise("V2")

AWARE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new_incident(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "AI keys readable through a debug endpoint",
        "summary": "A debug endpoint left enabled returned stored AI provider keys.",
        "detected_at": "2026-12-01T08:30:00Z",
        "aware_at": AWARE.isoformat(),
        "nature": ["confidentiality"],
        "data_categories": ["ai_keys"],
        "jurisdictions": ["EU", "IN"],
        "people_count": 120,
        "people_estimated": True,
        "consequences": "Someone could spend on your AI provider account.",
        "measures_taken": "We disabled the endpoint and revoked every stored key.",
        "measures_planned": "An external review of our debug settings.",
        "advice": "Create a new key at your AI provider and delete the old one.",
        "severity_dpc": 3,
        "severity_ei": 0.75,
        "severity_cb": 0.5,
    }
    body.update(overrides)
    return body


async def superadmin(api: httpx.AsyncClient, context: AppContext) -> dict[str, str]:
    user = await signed_in_user(context)
    await granted(context, await user_id(api, user), Role.superadmin)
    return await with_mfa(api, user)


def test_enisa_severity_levels() -> None:
    # SE = DPC x EI + CB, thresholds 2, 3, 4 (ENISA 2013).
    assert severity(1, 0.25, 0) is Severity.low
    assert severity(2, 1, 0) is Severity.medium
    assert severity(3, 0.75, 0.5) is Severity.medium  # 2.75
    assert severity(4, 0.75, 0.25) is Severity.high  # 3.25
    assert severity(4, 1, 0.5) is Severity.very_high
    assert severity(4, 1, None) is None


async def test_only_a_superadmin_with_a_second_factor_reaches_the_register(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    await granted(context, await user_id(api, user), Role.support)
    support = await with_mfa(api, user)
    refused = await api.get("/v1/admin/incidents", headers=support)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
    other = await signed_in_user(context)
    await granted(context, await user_id(api, other), Role.superadmin)
    no_factor = await api.get("/v1/admin/incidents", headers=other.headers)
    assert no_factor.status_code == 403 and no_factor.json()["type"].endswith("/mfa-required")
    for path in ("/v1/admin/subprocessors", "/v1/admin/incidents"):
        assert (await api.post(path, json={}, headers=support)).status_code == 403


async def test_an_incident_is_recorded_amended_and_its_history_kept(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    admin = await superadmin(api, context)
    created = await api.post("/v1/admin/incidents", json=new_incident(), headers=admin)
    assert created.status_code == 201, created.text
    view = created.json()
    incident = view["incident"]
    incident_id = incident["incident_id"]
    assert incident["version"] == 1 and incident["severity"] == "medium"
    assert incident["nature"] == ["confidentiality"] and incident["people_count"] == 120

    # The clocks: 72 hours from awareness, per jurisdiction; long overdue by now (2026-12-07).
    clocks = {d["jurisdiction"]: d for d in view["deadlines"]}
    assert set(clocks) == {"EU", "IN"}
    assert datetime.fromisoformat(clocks["EU"]["deadline"]) == AWARE + timedelta(hours=72)
    assert clocks["EU"]["overdue"] and clocks["EU"]["seconds_left"] < 0 and view["overdue"]

    # The EU authority notified (late), India given a later deadline by the Board.
    eu = await api.put(
        f"/v1/admin/incidents/{incident_id}/authority-notifications/EU",
        json={"notified_at": "2026-12-04T10:00:00Z", "reference": "DPC-2026-0042"},
        headers=admin,
    )
    assert eu.status_code == 200, eu.text
    later = (utcnow() + timedelta(hours=5)).isoformat()
    india = await api.put(
        f"/v1/admin/incidents/{incident_id}/authority-notifications/IN",
        json={"deadline": later, "note": "The Board allowed more time."},
        headers=admin,
    )
    clocks = {d["jurisdiction"]: d for d in india.json()["deadlines"]}
    assert clocks["EU"]["reference"] == "DPC-2026-0042" and clocks["EU"]["late"]
    assert not clocks["EU"]["overdue"] and clocks["EU"]["seconds_left"] is None
    assert not clocks["IN"]["overdue"] and 4 * 3600 < clocks["IN"]["seconds_left"] <= 5 * 3600
    assert not india.json()["overdue"]

    # An amendment: a new version; what was not given is carried over.
    amended = await api.patch(
        f"/v1/admin/incidents/{incident_id}",
        json={
            "status": "contained",
            "notify_people": True,
            "decision_reason": "High risk to people's accounts at their AI provider.",
            "severity_dpc": 4,
            "severity_ei": 1,
            "change_note": "Contained; decided to tell people.",
        },
        headers=admin,
    )
    current = amended.json()["incident"]
    assert current["version"] == 4 and current["status"] == "contained"
    assert current["severity"] == "very high" and current["people_count"] == 120
    assert current["recorded_by"].startswith("admin:")

    versions = (await api.get(f"/v1/admin/incidents/{incident_id}/versions", headers=admin)).json()[
        "items"
    ]
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert versions[0]["status"] == "open" and versions[0]["authority_notifications"] == []
    listed = (await api.get("/v1/admin/incidents", headers=admin)).json()["items"]
    assert [
        i["incident"]["version"] for i in listed if i["incident"]["incident_id"] == incident_id
    ] == [4]

    async with context.database.system_session() as s:
        actions = set(
            await s.scalars(
                select(AuditEvent.action).where(AuditEvent.target == f"incident:{incident_id}")
            )
        )
    assert {"incident.recorded", "incident.amended", "incident.authority_notification"} <= actions


async def test_no_one_rewrites_or_deletes_the_register(
    api: httpx.AsyncClient, context: AppContext, prepared: PreparedDatabase
) -> None:
    admin = await superadmin(api, context)
    created = await api.post("/v1/admin/incidents", json=new_incident(), headers=admin)
    incident_id = uuid.UUID(created.json()["incident"]["incident_id"])
    where = IncidentVersion.incident_id == incident_id
    statements = [
        update(IncidentVersion).where(where).values(summary="nothing happened"),
        delete(IncidentVersion).where(where),
    ]
    # The system role, which the API uses, holds no UPDATE or DELETE on it.
    for statement in statements:
        with pytest.raises(DBAPIError, match="permission denied"):
            async with context.database.system_session() as s:
                await s.execute(statement)
    # The administrator (owner, superuser) has every privilege: the trigger still refuses.
    engine = create_engine(sync_url(prepared.admin_url))
    try:
        for sql in (
            "UPDATE incident_versions SET summary = 'nothing happened' WHERE incident_id = :id",
            "DELETE FROM incident_versions WHERE incident_id = :id",
            "TRUNCATE incident_versions",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(sql), {"id": incident_id})
    finally:
        engine.dispose()
    async with context.database.system_session() as s:
        rows = list(await s.scalars(select(IncidentVersion.summary).where(where)))
    assert rows == [new_incident()["summary"]]


async def test_the_people_a_breach_touched_are_found_and_an_email_queued_once(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    admin = await superadmin(api, context)
    created = await api.post("/v1/admin/incidents", json=new_incident(), headers=admin)
    incident_id = created.json()["incident"]["incident_id"]
    # Keys stored in a window of 2001 that no other test uses: one inside, one after it.
    inside, after = await signed_in_user(context), await signed_in_user(context)
    inside_id, after_id = await user_id(api, inside), await user_id(api, after)
    async with context.database.system_session() as s:
        for who, at in (
            (inside_id, datetime(2001, 3, 1, tzinfo=UTC)),
            (after_id, datetime(2001, 6, 1, tzinfo=UTC)),
        ):
            s.add(AIKey(user_id=who, provider="openai", key_enc=b"x", last4="abcd", created_at=at))
    window = {
        "category": "ai_keys",
        "since": "2001-01-01T00:00:00Z",
        "until": "2001-04-01T00:00:00Z",
    }
    found = await api.get(
        f"/v1/admin/incidents/{incident_id}/affected-users", params=window, headers=admin
    )
    assert found.status_code == 200, found.text
    assert [u["id"] for u in found.json()["items"]] == [str(inside_id)]
    assert found.json()["reachable"] == 1
    # Sessions used in a window: both users' sessions were used today, none in 2001.
    sessions = await api.get(
        f"/v1/admin/incidents/{incident_id}/affected-users",
        params={"category": "sessions", "since": (utcnow() - timedelta(minutes=5)).isoformat()},
        headers=admin,
    )
    ids = {u["id"] for u in sessions.json()["items"]}
    assert {str(inside_id), str(after_id)} <= ids

    # A decision recorded not to tell people: nothing is queued until it is changed.
    await api.patch(
        f"/v1/admin/incidents/{incident_id}", json={"notify_people": False}, headers=admin
    )
    refused = await api.post(
        f"/v1/admin/incidents/{incident_id}/user-notifications", json=window, headers=admin
    )
    assert refused.status_code == 409, refused.text
    await api.patch(
        f"/v1/admin/incidents/{incident_id}",
        json={"notify_people": True, "decision_reason": "Keys can be spent: high risk."},
        headers=admin,
    )
    queued = await api.post(
        f"/v1/admin/incidents/{incident_id}/user-notifications", json=window, headers=admin
    )
    assert queued.status_code == 202 and queued.json() == {
        "queued": 1,
        "already_queued": 0,
        "unreachable": 0,
    }
    again = await api.post(
        f"/v1/admin/incidents/{incident_id}/user-notifications", json=window, headers=admin
    )
    assert again.json()["queued"] == 0 and again.json()["already_queued"] == 1
    emails = (
        await api.get(f"/v1/admin/incidents/{incident_id}/user-notifications", headers=admin)
    ).json()["items"]
    assert [e["user_id"] for e in emails] == [str(inside_id)]
    assert emails[0]["to_address"] == inside.subject and emails[0]["sent_at"] is None
    async with context.database.system_session() as s:
        body = await s.scalar(
            select(NotificationEmail.body).where(NotificationEmail.user_id == inside_id)
        )
    assert body is not None and "the AI provider keys you stored with us" in body
    view = (await api.get(f"/v1/admin/incidents/{incident_id}", headers=admin)).json()
    assert view["emails"] == {"queued": 1, "sent": 0, "failed": 0}


@pytest.mark.parametrize("category", list(DataCategory))
async def test_every_data_category_finds_the_owner_of_a_row_stored_in_the_window(
    context: AppContext, category: DataCategory
) -> None:
    # Each category's query runs against its own table: a window that ended before any row
    # was stored finds nobody; one ending now finds the account and the session made here.
    await signed_in_user(context)
    async with context.database.system_session() as s:
        before = await register.affected_users(
            s, category, register.Window(None, datetime(2000, 1, 1, tzinfo=UTC))
        )
        now = await register.affected_users(s, category, register.Window(None, utcnow()))
    assert before == []
    if category in (DataCategory.accounts, DataCategory.sessions):
        assert now
