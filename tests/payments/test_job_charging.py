"""Jobs are paid from the wallet: the greatest cost is held at submit, in the job's own
transaction (402 when the wallet cannot cover it, and then no job exists), and what was not
used comes back. Here no worker runs, so jobs stay queued; the run itself is charged in
tests/jobs/test_charging.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id
from tests.support.wallet import grant as wallet_grant

pytestmark = pytest.mark.promise("P4")

PRICE = {"USD": 120}  # two minor units a second


@pytest.fixture(scope="module")
async def priced(
    settings: Settings, prepared: PreparedDatabase
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    async with app_with(settings, prepared, job_price_per_minute=PRICE) as pair:
        yield pair


async def project(api: httpx.AsyncClient, user: SignedIn) -> str:
    made = (await api.post("/v1/projects", headers=user.headers, json={"name": "paid"})).json()
    put = await api.put(
        f"/v1/projects/{made['id']}/files/main.py", headers=user.headers, content=b"print(1)\n"
    )
    assert put.status_code == 200
    return str(made["id"])


async def grant(ctx: AppContext, who: uuid.UUID, amount: int) -> None:
    await wallet_grant(ctx.database, who, amount)


async def submit(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, timeout_s: int
) -> httpx.Response:
    return await api.post(
        f"/v1/projects/{project_id}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "timeout_s": timeout_s},
    )


async def test_a_job_the_wallet_cannot_cover_is_refused_and_not_created(
    priced: tuple[httpx.AsyncClient, AppContext],
) -> None:
    api, ctx = priced
    user = await signed_in_user(ctx)
    project_id = await project(api, user)
    refused = await submit(api, user, project_id, 60)
    assert refused.status_code == 402
    problem = refused.json()
    assert problem["type"].endswith("/insufficient-funds")
    assert (problem["needed"], problem["available"], problem["currency"]) == (120, 0, "USD")
    await grant(ctx, await user_id(api, user), 100)
    still = await submit(api, user, project_id, 60)  # 120 needed, 100 held
    assert still.status_code == 402 and still.json()["available"] == 100
    listed = (await api.get(f"/v1/projects/{project_id}/jobs", headers=user.headers)).json()
    assert listed["items"] == []
    wallet = (await api.get("/v1/wallet", headers=user.headers)).json()
    assert (wallet["balance"], wallet["reserved"]) == (100, 0)


async def test_a_queued_job_holds_its_cost_and_cancelling_returns_it(
    priced: tuple[httpx.AsyncClient, AppContext],
) -> None:
    api, ctx = priced
    user = await signed_in_user(ctx)
    project_id = await project(api, user)
    await grant(ctx, await user_id(api, user), 1000)
    accepted = await submit(api, user, project_id, 90)  # 180 held
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    wallet = (await api.get("/v1/wallet", headers=user.headers)).json()
    assert (wallet["balance"], wallet["reserved"]) == (820, 180)
    job = (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()
    assert job["charge"] == {
        "currency": "USD",
        "price_per_minute": 120,
        "reserved": 180,
        "charged": None,
    }

    cancelled = await api.post(f"/v1/jobs/{job_id}/cancel", headers=user.headers)
    assert cancelled.status_code == 202 and cancelled.json()["charge"]["charged"] == 0
    wallet = (await api.get("/v1/wallet", headers=user.headers)).json()
    assert (wallet["balance"], wallet["reserved"]) == (1000, 0)
    kinds = [
        (t["kind"], t["amount"])
        for t in (await api.get("/v1/wallet/ledger", headers=user.headers)).json()["items"]
    ]
    assert kinds == [("job.settle", 180), ("job.reserve", -180), ("grant", 1000)]


async def test_jobs_run_free_where_no_price_is_set(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    user = await signed_in_user(context)
    project_id = await project(api, user)
    accepted = await submit(api, user, project_id, 60)
    assert accepted.status_code == 202
    job = (await api.get(f"/v1/jobs/{accepted.json()['id']}", headers=user.headers)).json()
    assert job["charge"] is None
    await api.post(f"/v1/jobs/{accepted.json()['id']}/cancel", headers=user.headers)
