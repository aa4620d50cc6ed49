"""The role matrix (issue 18 item 3): every dashboard route, driven as every role, with no
role, without a session, with an ended session, without a second factor and with a stale one,
each answer checked against `matrix.ROUTES`, the one table docs/admin.md holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from offcoder.admin.dashboard.endpoints import router
from offcoder.admin.dashboard.matrix import ROUTES, Route, markdown
from offcoder.admin.roles import Role
from offcoder.context import AppContext
from tests.support.admin import granted
from tests.support.admin_dashboard import admin_client, desk_session, with_desk
from tests.support.signin import SignedIn, signed_in_user

pytestmark = [pytest.mark.promise("A5"), pytest.mark.promise("O4")]

DOC = Path(__file__).resolve().parents[2] / "docs/admin.md"
CALLERS = ("no session", "ended session", "no factor", "stale factor", "no role", *Role)


def test_the_doc_holds_the_matrix_and_the_app_has_exactly_its_routes() -> None:
    assert markdown() in DOC.read_text(), "docs/admin.md: paste matrix.markdown() again"
    open_routes = {
        "POST /factor/webauthn/options",
        "POST /factor/webauthn",
        "GET /signin",
        "GET /signin/{provider}",
        "GET /callback",
        "GET /factor",
        "POST /factor",
        "POST /signout",
    }
    served = {
        f"{method} {route.path}"
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert served - open_routes == {route.key for route in ROUTES}


@pytest.fixture(scope="module")
async def admin(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(context) as client:
        yield client


@pytest.fixture(scope="module")
async def people(context: AppContext) -> dict[str, SignedIn]:
    """One signed-in user per caller that has a session, with its role (if any)."""
    found: dict[str, SignedIn] = {}
    for caller in CALLERS:
        if caller == "no session":
            continue
        user = await signed_in_user(context)
        found[str(caller)] = user
        role = caller if isinstance(caller, Role) else Role.superadmin
        if caller != "no role":
            await granted(context, context.signer.verify(user.access_token).user_id, role)
    return found


def expected(route: Route, caller: str | Role) -> str:
    if caller in ("no session", "ended session"):
        return "signin"
    if caller == "no factor":
        return "factor"
    if caller == "stale factor":  # a superadmin whose factor is older than the step-up
        return "step-up" if route.step_up else "ok"
    if caller == "no role":
        return "forbidden"
    assert isinstance(caller, Role)
    return "ok" if route.admits(frozenset({caller})) else "forbidden"


def outcome(answer: httpx.Response) -> str:
    if answer.status_code == 403:
        return "forbidden"
    if answer.status_code in (200, 400):  # 400: past the gate, the (empty) body refused
        return "ok"
    assert answer.status_code == 303, answer.text
    where = answer.headers["location"]
    if where == "/signin":
        return "signin"
    if where.startswith("/factor"):
        return "step-up" if "step_up=true" in where else "factor"
    return "ok"


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_every_route_answers_as_the_matrix_says(
    admin: httpx.AsyncClient,
    context: AppContext,
    people: dict[str, SignedIn],
    caller: str | Role,
) -> None:
    target = await signed_in_user(context)
    target_id = context.signer.verify(target.access_token).user_id
    token: str | None = None
    if caller != "no session":
        user = people[str(caller)]
        token = await desk_session(
            context,
            user,
            factor_age_s=(
                None
                if caller == "no factor"
                else context.settings.admin_step_up_s + 60
                if caller == "stale factor"
                else 5
            ),
            ended=caller == "ended session",
        )
    mismatches = []
    for route in ROUTES:
        csrf = with_desk(admin, token)
        path = route.path.replace("{user_id}", str(target_id))
        if route.method == "GET":
            answer = await admin.get(path)
        else:
            form = {"csrf": csrf, "role": "safety", "change": "grant"}
            answer = await admin.post(path, data=form, headers={"x-offcoder-admin-csrf": csrf})
        got, want = outcome(answer), expected(route, caller)
        if got != want:
            mismatches.append(f"{route.key}: {got}, the matrix says {want}")
    assert mismatches == [], f"{caller}: {mismatches}"
