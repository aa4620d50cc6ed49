"""Flags and the review queue (S2, O3): a user reports one of their own outputs; admins with the
safety role list, read and resolve flags, every step audited; an upheld flag's exemplar blocks
that class of output from then on."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from offcoder.admin.roles import Role
from offcoder.ai.models import AIFlag
from offcoder.audit.models import AuditEvent
from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.ai.conftest import Gateway
from tests.support.admin import granted
from tests.support.apps import app_with
from tests.support.mfa import with_mfa
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("S2"), pytest.mark.promise("O3")]

# A reply the curated rules let through, which a reviewer decides is not acceptable.
SLIPPED = "To get the quiet door open, first loosen the hinge pins with the cordless driver."


async def safety_admin(gateway: Gateway) -> dict[str, str]:
    admin = await gateway.user()
    await granted(gateway.context, await user_id(gateway.api, admin), Role.safety)
    return await with_mfa(gateway.api, admin)


async def test_flag_review_and_the_filters_learn(
    gateway: Gateway, settings: Settings, prepared: PreparedDatabase
) -> None:
    user, other = await gateway.user(), await gateway.user()
    gateway.openai.reply = SLIPPED
    try:
        answered = await gateway.chat(user, "How do I fix my squeaky door?")
        assert answered.status_code == 200, answered.text
        output_id = answered.json()["output_id"]

        # Only the user who received it may flag it; others see no such output.
        stranger = await gateway.api.post(
            f"/v1/ai/outputs/{output_id}/flag", headers=other.headers, json={"reason": "bad"}
        )
        assert stranger.status_code == 404
        flagged = await gateway.api.post(
            f"/v1/ai/outputs/{output_id}/flag",
            headers=user.headers,
            json={"reason": "This explains breaking into a house."},
        )
        assert flagged.status_code == 201, flagged.text
        flag_id = flagged.json()["id"]

        admin = await safety_admin(gateway)
        queue = await gateway.api.get("/v1/admin/ai/flags", headers=admin)
        assert queue.status_code == 200
        assert flag_id in [f["id"] for f in queue.json()["items"]]
        seen = await gateway.api.get(f"/v1/admin/ai/flags/{flag_id}", headers=admin)
        assert seen.json()["output"] == SLIPPED
        # A phrase that normalises to (almost) nothing would never match: refused.
        empty = await gateway.api.post(
            f"/v1/admin/ai/flags/{flag_id}/resolve",
            headers=admin,
            json={
                "decision": "uphold",
                "note": "x",
                "exemplar": {"category": "weapons", "phrase": "\u200b" * 12},
            },
        )
        assert empty.status_code == 422, empty.text
        resolved = await gateway.api.post(
            f"/v1/admin/ai/flags/{flag_id}/resolve",
            headers=admin,
            json={
                "decision": "uphold",
                "note": "Burglary help.",
                "exemplar": {"category": "weapons", "phrase": "loosen the hinge pins"},
            },
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "upheld"
        again = await gateway.api.post(
            f"/v1/admin/ai/flags/{flag_id}/resolve",
            headers=admin,
            json={"decision": "dismiss", "note": "changed my mind"},
        )
        assert again.status_code == 409

        # From now on the same class of output is blocked, with its evasions.
        gateway.openai.reply = "First L0OSEN  the hinge pins, then lift the door."
        blocked = await gateway.chat(user, "How do I take a door off?")
        assert blocked.status_code == 422 and blocked.json()["stage"] == "output"
        assert blocked.json()["category"] == "weapons"

        # Another replica, which never saw the resolution, learns it from the database.
        urls = {"openai": f"{gateway.openai.url}/v1", "anthropic": gateway.anthropic.url}
        async with app_with(settings, prepared, ai_base_urls=urls) as (api, ctx):
            replica = Gateway(api, ctx, gateway.openai, gateway.anthropic)
            assert not ctx.safety.offline.classify(gateway.openai.reply).blocked
            there = await replica.chat(await replica.user(), "How do I take a door off?")
            assert there.status_code == 422 and there.json()["category"] == "weapons"
    finally:
        gateway.openai.reply = "Hello from the stand-in."

    async with gateway.context.database.system_session() as s:
        actions = list(
            await s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == f"ai_flag:{flag_id}")
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == ["admin.ai_flag.viewed", "admin.ai_flag.upheld"]


async def test_the_queue_needs_the_safety_role_and_a_second_factor(gateway: Gateway) -> None:
    finance = await gateway.user()
    await granted(gateway.context, await user_id(gateway.api, finance), Role.finance)
    finance_headers = await with_mfa(gateway.api, finance)
    assert (await gateway.api.get("/v1/admin/ai/flags", headers=finance_headers)).status_code == 403
    safety = await gateway.user()
    await granted(gateway.context, await user_id(gateway.api, safety), Role.safety)
    no_mfa = await gateway.api.get("/v1/admin/ai/flags", headers=safety.headers)
    assert no_mfa.status_code == 403 and no_mfa.json()["type"].endswith("/mfa-required")
    admin = await safety_admin(gateway)
    missing = await gateway.api.get(f"/v1/admin/ai/flags/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
    user = await gateway.user()
    unknown = await gateway.api.post(
        f"/v1/ai/outputs/{uuid.uuid4()}/flag", headers=user.headers, json={"reason": "x"}
    )
    assert unknown.status_code == 404


async def test_the_database_holds_flags_to_their_reporters_outputs(gateway: Gateway) -> None:
    """Defence in depth under the code's own checks: the application role cannot file a flag
    on another user's output even with its own user id (RLS), and concurrent reports of one
    output make one open flag (a unique index)."""
    alice, bob = await gateway.user(), await gateway.user()
    output_id = (await gateway.chat(bob, "Hello?")).json()["output_id"]
    alice_id = await user_id(gateway.api, alice)

    async def flag_as_alice() -> None:
        async with gateway.context.database.user_session(alice_id) as session:
            flag = AIFlag(
                id=uuid.uuid4(),
                output_id=uuid.UUID(output_id),
                user_id=alice_id,
                reason="not mine",
                status="open",
            )
            session.add(flag)
            await session.flush()

    with pytest.raises(DBAPIError, match="row-level security"):
        await flag_as_alice()

    reports = await asyncio.gather(
        *(
            gateway.api.post(
                f"/v1/ai/outputs/{output_id}/flag", headers=bob.headers, json={"reason": "odd"}
            )
            for _ in range(6)
        )
    )
    assert {report.status_code for report in reports} == {201}
    assert len({report.json()["id"] for report in reports}) == 1
    async with gateway.context.database.system_session() as s:
        flags = (await s.scalars(select(AIFlag).where(AIFlag.output_id == output_id))).all()
    assert len(flags) == 1
