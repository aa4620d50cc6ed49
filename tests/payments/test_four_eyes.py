"""Review F11: a finance admin never grants credit, a plan or a refund to themselves, and a grant
above the approval threshold waits for a second finance admin (four eyes), audited in the
transaction that posts it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from offcoder.admin.roles import Role
from offcoder.audit.models import AuditEvent
from tests.payments.conftest import Paying, new_key
from tests.support.admin import granted
from tests.support.mfa import with_mfa
from tests.support.signin import SignedIn
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("O3"), pytest.mark.promise("O4")]


async def finance(paying: Paying) -> tuple[SignedIn, dict[str, str], str]:
    admin = await paying.user()
    uid = await user_id(paying.api, admin)
    await granted(paying.context, uid, Role.finance)
    return admin, await with_mfa(paying.api, admin), str(uid)


async def audited(paying: Paying, target: str) -> list[str]:
    async with paying.context.database.system_session() as s:
        return list(
            await s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == target)
                .order_by(AuditEvent.seq)
            )
        )


async def test_a_finance_admin_cannot_grant_credit_or_a_plan_to_themselves(
    paying: Paying,
) -> None:
    me, headers, my_id = await finance(paying)
    credit = await paying.api.post(
        f"/v1/admin/users/{my_id}/credit-grants",
        headers=headers | {"Idempotency-Key": new_key()},
        json={"amount": 100, "reason": "coffee money"},
    )
    assert credit.status_code == 403, credit.text
    assert credit.json()["type"].endswith("/self-grant")
    assert "yourself" in credit.json()["detail"]
    plan = await paying.api.put(
        f"/v1/admin/users/{my_id}/plan",
        headers=headers,
        json={"plan": "pro", "days": 7, "reason": "treat"},
    )
    assert plan.status_code == 403, plan.text
    assert (await paying.wallet(me))["balance"] == 0
    mine = (await paying.api.get("/v1/wallet/plan", headers=me.headers)).json()
    assert mine["plan"] is None
    # Only the operator's role grant: nothing was posted or asked for.
    assert await audited(paying, f"user:{my_id}") == ["admin.role.granted"]


async def test_a_large_grant_waits_for_a_second_finance_admin(paying: Paying) -> None:
    threshold = paying.context.settings.admin_approval_threshold
    _, first, first_id = await finance(paying)
    _, second, _ = await finance(paying)
    user = await paying.user()
    target = str(await user_id(paying.api, user))
    key = new_key()
    body = {"amount": threshold + 1, "reason": "goodwill after a long outage"}
    asked = await paying.api.post(
        f"/v1/admin/users/{target}/credit-grants",
        headers=first | {"Idempotency-Key": key},
        json=body,
    )
    assert asked.status_code == 202, asked.text
    pending = asked.json()
    assert pending["status"] == "pending" and pending["requested_by"] == first_id
    # The same key again is the same request, not a second one.
    again = await paying.api.post(
        f"/v1/admin/users/{target}/credit-grants",
        headers=first | {"Idempotency-Key": key},
        json=body,
    )
    assert again.status_code == 202 and again.json()["id"] == pending["id"]
    assert (await paying.wallet(user))["balance"] == 0
    listed = await paying.api.get("/v1/admin/grant-requests", headers=second)
    assert pending["id"] in [g["id"] for g in listed.json()["items"]]

    approve = f"/v1/admin/grant-requests/{pending['id']}/approve"
    own = await paying.api.post(approve, headers=first)
    assert own.status_code == 403 and own.json()["type"].endswith("/four-eyes")
    assert (await paying.wallet(user))["balance"] == 0

    approved = await paying.api.post(approve, headers=second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert (await paying.wallet(user))["balance"] == threshold + 1
    twice = await paying.api.post(approve, headers=second)
    assert twice.status_code == 409
    assert (await paying.wallet(user))["balance"] == threshold + 1
    assert await audited(paying, f"user:{target}") == [
        "admin.credit.requested",
        "admin.credit.approved",
        "admin.credit.granted",
    ]


async def test_a_small_grant_posts_at_once_and_a_long_plan_waits(paying: Paying) -> None:
    threshold = paying.context.settings.admin_approval_threshold
    _, first, _ = await finance(paying)
    _, second, _ = await finance(paying)
    user = await paying.user()
    target = str(await user_id(paying.api, user))
    small = await paying.api.post(
        f"/v1/admin/users/{target}/credit-grants",
        headers=first | {"Idempotency-Key": new_key()},
        json={"amount": threshold, "reason": "small"},
    )
    assert small.status_code == 201, small.text
    days = paying.context.settings.admin_approval_plan_days + 1
    plan = await paying.api.put(
        f"/v1/admin/users/{target}/plan",
        headers=first,
        json={"plan": "pro", "days": days, "reason": "a year for a partner"},
    )
    assert plan.status_code == 202, plan.text
    assert (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()["plan"] is None
    approved = await paying.api.post(
        f"/v1/admin/grant-requests/{plan.json()['id']}/approve", headers=second
    )
    assert approved.status_code == 200, approved.text
    mine = (await paying.api.get("/v1/wallet/plan", headers=user.headers)).json()
    assert (mine["plan"], mine["source"]) == ("pro", "grant")


async def test_a_finance_admin_cannot_refund_their_own_topup(paying: Paying) -> None:
    me, headers, _ = await finance(paying)
    topup, events = await paying.paid_topup(me, 1000)
    for event in events.values():
        assert (await paying.deliver_stripe(event)).status_code == 200
    refund = await paying.api.post(
        f"/v1/admin/topups/{topup['id']}/refunds",
        headers=headers | {"Idempotency-Key": new_key()},
        json={"amount": 1000, "reason": "mine"},
    )
    assert refund.status_code == 403, refund.text
    assert (await paying.wallet(me))["balance"] == 1000
