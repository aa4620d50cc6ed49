"""C6: a cancel reaches the worker running the job as a signal, at once; a cancel whose signal
was lost (the worker's listener was down) is still caught by the heartbeat's re-check."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from offcoder.admin.roles import Role
from offcoder.audit.models import AuditEvent
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.db.engine import Database
from offcoder.jobs.models import Job
from offcoder.jobs.worker import Worker
from offcoder.realtime.signals import Signals
from tests.support.admin import granted
from tests.support.apps import app_with
from tests.support.mfa import with_mfa
from tests.support.runtime import project_with, sandboxes_of, wait_for_end
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.docker, pytest.mark.promise("C6")]

SLEEPER = b"import time\nprint('up', flush=True)\ntime.sleep(120)\n"


@asynccontextmanager
async def worker_running(
    ctx: AppContext,
    signals: Signals | None = None,
    database: Database | None = None,
    **overrides: Any,
) -> AsyncIterator[Worker]:
    """A job loop alone (no reconciler) on the API's database or `database`, its settings
    changed."""
    worker = Worker(
        ctx.settings.model_copy(update=overrides),
        database or ctx.database,
        ctx.keyring,
        signals=signals,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def running_job(api: httpx.AsyncClient, user: SignedIn) -> str:
    project = await project_with(api, user, {"main.py": SLEEPER})
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "timeout_s": 300},
    )
    assert submitted.status_code == 202, submitted.text
    job_id = str(submitted.json()["id"])
    deadline = time.monotonic() + 60
    while (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()["status"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        await asyncio.sleep(0.05)
    return job_id


async def cancel_and_wait(api: httpx.AsyncClient, user: SignedIn, job_id: str) -> float:
    """Cancel the running job; the seconds from the cancel's answer to the job's ending."""
    response = await api.post(f"/v1/jobs/{job_id}/cancel", headers=user.headers)
    assert response.status_code == 202, response.text
    cancelled_at = time.time()
    job = await wait_for_end(api, user.headers, job_id, timeout=60)
    assert (job["status"], job["reason"]) == ("cancelled", "cancelled"), job
    assert (job["cancelled_by"], job["detail"]) == ("owner", "cancelled by you"), job
    assert sandboxes_of(job_id) == []
    return datetime.fromisoformat(str(job["finished_at"])).timestamp() - cancelled_at


@pytest.fixture
async def api(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    async with app_with(settings, prepared, docker_proxy_socket=proxy_socket) as served:
        yield served


async def test_a_cancel_reaches_the_running_job_as_a_signal(
    api: tuple[httpx.AsyncClient, AppContext],
) -> None:
    client, ctx = api
    user = await signed_in_user(ctx)
    # A heartbeat far slower than the bound: only the signal can end the job in time.
    async with worker_running(ctx, worker_heartbeat_s=60.0):
        job_id = await running_job(client, user)
        took = await cancel_and_wait(client, user, job_id)
    # The kill, the removal and the teardown take 0.1 to 0.3 s once the worker hears the cancel
    # (2 s leaves room for a loaded machine); the heartbeat would take 60 s.
    assert took < 2.0, took


async def test_a_cancel_whose_signal_was_lost_is_caught_by_the_heartbeat(
    api: tuple[httpx.AsyncClient, AppContext],
) -> None:
    client, ctx = api
    user = await signed_in_user(ctx)
    # Nothing listens on this loopback port: the worker's listener never connects, so it
    # hears neither the queue nor the cancel and finds both by polling.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    # (No query either: its `host`, a socket directory, would win over the address.)
    unreachable = ctx.database.system_engine.url.set(host="127.0.0.1", port=closed_port, query={})
    deaf = Signals.for_workers(unreachable)
    async with worker_running(ctx, signals=deaf, worker_heartbeat_s=1.0) as worker:
        job_id = await running_job(client, user)
        assert not worker.signals.connected
        took = await cancel_and_wait(client, user, job_id)
    assert took < 1.0 + 5.0, took


async def test_only_the_worker_running_a_job_acts_on_its_cancel(
    api: tuple[httpx.AsyncClient, AppContext], prepared: PreparedDatabase
) -> None:
    """Two workers each run a job; cancelling one reads that job's row on its worker only: the
    other hears the signal, finds no job of its own by that id, and sends nothing."""
    client, ctx = api
    user = await signed_in_user(ctx)
    databases = [prepared.open(2), prepared.open(2)]
    statements: list[list[str]] = [[], []]
    for database, seen in zip(databases, statements, strict=True):

        def record(*args: Any, seen: list[str] = seen) -> None:
            seen.append(str(args[2]))  # (connection, cursor, statement, ...)

        event.listen(database.system_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with (
            worker_running(
                ctx, database=databases[0], worker_concurrency=1, worker_heartbeat_s=60.0
            ) as first,
            worker_running(
                ctx, database=databases[1], worker_concurrency=1, worker_heartbeat_s=60.0
            ) as second,
        ):
            jobs = [await running_job(client, user), await running_job(client, user)]
            async with ctx.database.system_session() as s:
                runner = await s.scalar(select(Job.worker_id).where(Job.id == jobs[0]))
            assert {runner} < {first.worker_id, second.worker_id}
            ran_it = 0 if runner == first.worker_id else 1
            for seen in statements:
                seen.clear()
            await cancel_and_wait(client, user, jobs[0])
            reads = [[q for q in seen if "cancel_requested_at" in q] for seen in statements]
            assert reads[ran_it], "the running worker reads the job's row"
            assert reads[1 - ran_it] == []
            other = await client.get(f"/v1/jobs/{jobs[1]}", headers=user.headers)
            assert other.json()["status"] == "running"
            await cancel_and_wait(client, user, jobs[1])
    finally:
        for database in databases:
            await database.dispose()


async def test_an_operator_cancels_a_job_and_its_owner_is_told_who(
    api: tuple[httpx.AsyncClient, AppContext],
) -> None:
    """An operator (support role, second factor) stops another person's job, running or
    queued: the job says it was an operator, not its owner, and the action is audited with
    the operator's reason."""
    client, ctx = api
    owner, operator = await signed_in_user(ctx), await signed_in_user(ctx)
    await granted(ctx, await user_id(client, operator), Role.support)
    admin_headers = await with_mfa(client, operator)
    body = {"reason": "abuse report 17: mining"}
    async with worker_running(ctx, worker_concurrency=1):
        running = await running_job(client, owner)
        # Owners may not use it, even on their own job.
        refused = await client.post(
            f"/v1/admin/jobs/{running}/cancel", headers=owner.headers, json=body
        )
        assert refused.status_code == 403, refused.text
        # The worker is busy: this one waits in the queue.
        project = (await client.get(f"/v1/jobs/{running}", headers=owner.headers)).json()
        queued = await client.post(
            f"/v1/projects/{project['project_id']}/jobs",
            headers=owner.headers,
            json={"command": ["python3", "main.py"]},
        )
        assert queued.status_code == 202, queued.text
        for job_id in (running, str(queued.json()["id"])):
            answer = await client.post(
                f"/v1/admin/jobs/{job_id}/cancel", headers=admin_headers, json=body
            )
            assert answer.status_code == 202, answer.text
            job = await wait_for_end(client, owner.headers, job_id, timeout=60)
            assert (job["status"], job["reason"]) == ("cancelled", "cancelled"), job
            assert (job["cancelled_by"], job["detail"]) == (
                "operator",
                "cancelled by an operator",
            ), job
            assert sandboxes_of(job_id) == []
            again = await client.post(
                f"/v1/admin/jobs/{job_id}/cancel", headers=admin_headers, json=body
            )
            assert again.status_code == 409, again.text
            async with ctx.database.system_session() as s:
                audited = (
                    await s.scalars(
                        select(AuditEvent).where(
                            AuditEvent.target == f"job:{job_id}",
                            AuditEvent.action == "admin.job.cancelled",
                        )
                    )
                ).all()
            assert [(a.actor_id, a.details["reason"]) for a in audited] == [
                (await user_id(client, operator), body["reason"])
            ]
    # Bad input: no reason, or an unknown job.
    missing = await client.post(f"/v1/admin/jobs/{running}/cancel", headers=admin_headers, json={})
    assert missing.status_code == 422, missing.text
    unknown = await client.post(
        "/v1/admin/jobs/00000000-0000-0000-0000-000000000000/cancel",
        headers=admin_headers,
        json=body,
    )
    assert unknown.status_code == 404, unknown.text
