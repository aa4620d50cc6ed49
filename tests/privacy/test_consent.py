"""Consent (V3): published policy versions, a user's acceptance and withdrawal recorded with time
and version, a new version asks again, every change audited."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from offcoder.audit.models import AuditEvent
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.privacy.consent import Document
from offcoder.privacy.models import Consent, PolicyVersion
from tests.support.consent import PolicyDesk, policy_desk
from tests.support.signin import signed_in_user
from tests.support.users import user_id

pytestmark = pytest.mark.promise("V3")


def versions(items: list[dict[str, str]]) -> dict[str, str]:
    return {v["document"]: v["version"] for v in items}


async def test_accept_withdraw_and_a_new_version_asks_again(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    async with policy_desk(context) as desk:
        await accept_withdraw_and_ask_again(api, context, desk)


async def accept_withdraw_and_ask_again(
    api: httpx.AsyncClient, context: AppContext, desk: PolicyDesk
) -> None:
    terms = await desk.publish(Document.terms)
    privacy = await desk.publish(Document.privacy)
    alice = await signed_in_user(context)
    h = alice.headers

    current = await api.get("/v1/policies", headers=h)
    assert current.status_code == 200
    assert versions(current.json()["items"]) == {"terms": terms, "privacy": privacy}
    state = (await api.get("/v1/me/consents", headers=h)).json()
    assert versions(state["missing"]) == {"terms": terms, "privacy": privacy}
    assert state["consents"] == []

    for document, version in (("terms", terms), ("privacy", privacy)):
        accepted = await api.post(
            "/v1/me/consents", headers=h, json={"document": document, "version": version}
        )
        assert accepted.status_code == 201, accepted.text
    state = accepted.json()
    assert state["missing"] == []
    assert {(c["document"], c["version"]) for c in state["consents"]} == {
        ("terms", terms),
        ("privacy", privacy),
    }
    assert all(c["accepted_at"] and c["withdrawn_at"] is None for c in state["consents"])

    # An operator publishes new terms: alice is asked again, for the terms only.
    newer = await desk.publish(Document.terms)
    state = (await api.get("/v1/me/consents", headers=h)).json()
    assert versions(state["missing"]) == {"terms": newer}
    stale = await api.post(
        "/v1/me/consents", headers=h, json={"document": "terms", "version": terms}
    )
    assert stale.status_code == 409
    assert newer in stale.json()["detail"]

    # Withdrawal keeps the record, with its time; the document is missing again.
    withdrawn = await api.delete("/v1/me/consents/privacy", headers=h)
    assert withdrawn.status_code == 200, withdrawn.text
    state = withdrawn.json()
    assert versions(state["missing"]) == {"terms": newer, "privacy": privacy}
    row = next(c for c in state["consents"] if c["document"] == "privacy")
    assert row["version"] == privacy and row["withdrawn_at"] is not None
    assert (await api.delete("/v1/me/consents/privacy", headers=h)).status_code == 404

    # The export carries the record too.
    export = (await api.get("/v1/me/export", headers=h)).json()
    assert {(c["document"], c["version"]) for c in export["consents"]} == {
        ("terms", terms),
        ("privacy", privacy),
    }

    uid = await user_id(api, alice)
    async with context.database.system_session() as s:
        actions = list(
            await s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == f"user:{uid}", AuditEvent.action.like("consent.%"))
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == ["consent.accepted", "consent.accepted", "consent.withdrawn"]


async def test_a_user_sees_only_their_own_consents(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    alice = await signed_in_user(context)
    bob = await signed_in_user(context)
    async with policy_desk(context) as desk:
        version = await desk.publish(Document.privacy)
        accepted = await api.post(
            "/v1/me/consents",
            headers=alice.headers,
            json={"document": "privacy", "version": version},
        )
    assert accepted.status_code == 201
    assert (await api.get("/v1/me/consents", headers=bob.headers)).json()["consents"] == []
    # RLS, not only the query's filter: bob's transaction reads no row of alice's.
    async with context.database.user_session(await user_id(api, bob)) as s:
        assert list(await s.scalars(select(Consent))) == []
    async with context.database.user_session(await user_id(api, alice)) as s:
        assert len(list(await s.scalars(select(Consent)))) == 1


async def test_unknown_documents_and_versions_are_refused(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    alice = await signed_in_user(context)
    bad = await api.post(
        "/v1/me/consents", headers=alice.headers, json={"document": "cookies", "version": "1"}
    )
    assert bad.status_code == 422
    assert (await api.get("/v1/me/consents")).status_code == 401


async def test_an_operator_publishes_from_the_command_line_and_it_is_audited(
    api: httpx.AsyncClient,
    context: AppContext,
    prepared: PreparedDatabase,
    state_dir: Path,
) -> None:
    version = f"cli-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
    }
    try:
        for args, expected in (
            (["terms", version, "--summary", "Shorter."], 0),
            (["terms", version], 1),  # the same version twice: refused, with a sentence
            (["cookies", version], 2),  # not a document
        ):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "offcoder.cli", "policies", "publish", *args,
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, stderr = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == expected, stderr.decode()
        alice = await signed_in_user(context)
        current = (await api.get("/v1/policies", headers=alice.headers)).json()["items"]
        assert {"document": "terms", "version": version} in [
            {"document": v["document"], "version": v["version"]} for v in current
        ]
        async with context.database.system_session() as s:
            published = list(
                await s.scalars(
                    select(AuditEvent.details).where(
                        AuditEvent.action == "policy.published",
                        AuditEvent.target == "policy:terms",
                    )
                )
            )
        assert any(d.get("version") == version for d in published)
    finally:
        # Taken back, so the other tests run with no policy published.
        async with context.database.system_session() as s:
            await s.execute(delete(PolicyVersion).where(PolicyVersion.version == version))
