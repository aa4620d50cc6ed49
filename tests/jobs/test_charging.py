"""A job that ran is charged by its sandbox time and the rest of its hold comes back (P4)."""

from __future__ import annotations

import asyncio
import uuid

import docker
import httpx
import pytest
from sqlalchemy import text

from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.jobs import repository
from offcoder.jobs.models import Job
from offcoder.jobs.worker import Worker
from tests.support.runtime import project_with, wait_for_end, wait_for_running
from tests.support.signin import signed_in_user
from tests.support.users import user_id
from tests.support.wallet import grant, invariants

pytestmark = [pytest.mark.docker, pytest.mark.promise("P4")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]


async def test_a_run_is_charged_its_time_and_the_rest_released(priced_runtime: Runtime) -> None:
    api, ctx, _ = priced_runtime
    user = await signed_in_user(ctx)
    me = await user_id(api, user)
    await grant(ctx.database, me, 1000)
    project = await project_with(api, user, {"main.py": b"import time\ntime.sleep(1.2)\n"})
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "timeout_s": 300},
    )
    assert submitted.status_code == 202, submitted.text
    job = await wait_for_end(api, user.headers, submitted.json()["id"])
    assert job["status"] == "succeeded", job
    charge = job["charge"]
    assert isinstance(charge, dict)
    wall_s = -(-int(job["usage"]["wall_ms"]) // 1000)  # type: ignore[index]
    assert charge["reserved"] == 300
    assert charge["charged"] == wall_s and 2 <= wall_s < 300
    wallet = (await api.get("/v1/wallet", headers=user.headers)).json()
    assert (wallet["balance"], wallet["reserved"]) == (1000 - wall_s, 0)
    stored, wallet_sum, reserved_sum = await invariants(ctx.database, uuid.UUID(str(me)))
    assert stored.balance == wallet_sum and stored.reserved == reserved_sum == 0
    settle = (await api.get("/v1/wallet/ledger", headers=user.headers)).json()["items"][0]
    assert settle["kind"] == "job.settle" and settle["reference"] == f"job:{job['id']}"
    assert {e["account"]: e["amount"] for e in settle["entries"]} == {
        "reserved": -300,
        "revenue": wall_s,
        "wallet": 300 - wall_s,
    }


async def test_a_job_declared_lost_is_settled_once_even_if_its_worker_finishes(
    priced_runtime: Runtime,
) -> None:
    """Reconcile took a slow worker for dead and released the hold; when that worker finishes
    after all, its ending does not overwrite the recorded one or charge a second time."""
    api, ctx, _ = priced_runtime
    user = await signed_in_user(ctx)
    me = uuid.UUID(str(await user_id(api, user)))
    await grant(ctx.database, me, 1000)
    project = await project_with(
        api, user, {"main.py": b"import time\nprint('up', flush=True)\ntime.sleep(2)\n"}
    )
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "timeout_s": 120},
    )
    job_id = uuid.UUID(submitted.json()["id"])
    await wait_for_running(api, user.headers, str(job_id), tries=400)
    # What reconcile does to a job whose worker stopped beating.
    async with ctx.database.system_session() as s:
        job = await s.get_one(Job, job_id, with_for_update=True)
        job.status, job.reason, job.finished_at = "failed", "worker_lost", utcnow()
        await repository.settle_hold(s, job, None)
    await asyncio.sleep(3.5)  # the worker finishes the sandbox meanwhile
    ended = (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()
    assert (ended["status"], ended["reason"]) == ("failed", "worker_lost")
    assert ended["charge"]["charged"] == 0
    stored, wallet_sum, reserved_sum = await invariants(ctx.database, me)
    assert (stored.balance, stored.reserved) == (1000, 0) == (wallet_sum, reserved_sum)


async def test_a_sandbox_removed_from_outside_ends_sandbox_lost_and_costs_nothing(
    priced_runtime: Runtime,
) -> None:
    """Given a running job whose sandbox someone removes on the engine (an operator, another
    tool), when the job ends, then it says so (`sandbox_lost`) and its owner pays nothing: the
    run did not end because of anything the program did (issue 14, item 1)."""
    api, ctx, _ = priced_runtime
    user = await signed_in_user(ctx)
    me = uuid.UUID(str(await user_id(api, user)))
    await grant(ctx.database, me, 1000)
    project = await project_with(
        api, user, {"main.py": b"import time\nprint('up', flush=True)\ntime.sleep(60)\n"}
    )
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "timeout_s": 120},
    )
    job_id = submitted.json()["id"]
    await wait_for_running(api, user.headers, job_id, tries=400)
    await asyncio.sleep(1.2)  # long enough that a charge by the second would show

    # when the sandbox is removed on the engine itself, not through OffCoder
    engine = docker.from_env()
    try:
        (sandbox,) = engine.containers.list(
            all=True, sparse=True, filters={"label": f"dev.offcoder.job-id={job_id}"}
        )
        engine.api.remove_container(sandbox.id, force=True)
    finally:
        engine.close()

    ended = await wait_for_end(api, user.headers, job_id)
    assert (ended["status"], ended["reason"]) == ("failed", "sandbox_lost"), ended
    assert ended["detail"] == "the sandbox was removed while the job ran"
    assert ended["charge"]["charged"] == 0
    stored, wallet_sum, reserved_sum = await invariants(ctx.database, me)
    assert (stored.balance, stored.reserved) == (1000, 0) == (wallet_sum, reserved_sum)
    # and an operator sees it: a run let go free is audited
    async with ctx.database.system_session() as s:
        audited = await s.scalar(
            text("SELECT count(*) FROM audit_events WHERE action = :a AND target = :t"),
            {"a": "job.sandbox_lost", "t": f"job:{job_id}"},
        )
    assert audited == 1
