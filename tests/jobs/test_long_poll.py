"""Waiting for a job without polling it: `wait_s` on the job and on its logs, woken by the worker's
NOTIFY at commit, with no database connection held while waiting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from tests.support.runtime import project_with
from tests.support.signin import SignedIn, signed_in_user

pytestmark = pytest.mark.docker

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

# Sleeps, then prints, then sleeps again: the output and the end each come well after submit.
SLOW = b"import time\ntime.sleep(1.5)\nprint('late line', flush=True)\ntime.sleep(1.0)\n"


async def submit(api: httpx.AsyncClient, user: SignedIn, project_id: str) -> str:
    response = await api.post(
        f"/v1/projects/{project_id}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"]},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_waiting_on_a_job_returns_as_it_ends(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))

    # Held while the job runs; the app pool lends no connection to a waiting request.
    waiting = asyncio.create_task(
        api.get(f"/v1/jobs/{job_id}", params={"wait_s": 25}, headers=user.headers)
    )
    # The worker of this same process borrows from the app pool too (it reads the job's inputs
    # under the owner's RLS), so the pool is watched for a moment with nothing lent: a waiting
    # request holding a connection would keep one out the whole time.
    pool = ctx.database.app_engine.pool
    lent = []
    await asyncio.sleep(0.5)  # the request is waiting by now
    for _ in range(15):
        await asyncio.sleep(0.1)
        lent.append(pool.checkedout())  # type: ignore[attr-defined]
        if lent[-1] == 0:
            break
    assert not waiting.done()
    assert lent[-1] == 0, lent

    response = await waiting
    answered = time.time()
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded", job
    # Woken by the worker's signal, not by the 5 s safety reread or the 25 s limit.
    ended = datetime.fromisoformat(job["finished_at"]).timestamp()
    assert answered - ended < 2.0, answered - ended


async def test_waiting_on_the_logs_returns_with_the_first_output(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))
    started = time.monotonic()
    page = await api.get(
        f"/v1/jobs/{job_id}/logs", params={"after_seq": 0, "wait_s": 25}, headers=user.headers
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert [c["data"] for c in body["chunks"]] == ["late line\n"]
    assert body["done"] is False  # the job still sleeps after printing
    assert time.monotonic() - started < 20

    # Past the last chunk, the wait ends with the job: an empty, final page.
    last = body["chunks"][-1]["seq"]
    tail = await api.get(
        f"/v1/jobs/{job_id}/logs", params={"after_seq": last, "wait_s": 25}, headers=user.headers
    )
    assert tail.json() == {"chunks": [], "done": True}


async def test_waiting_on_a_tail_returns_with_the_first_output(runtime: Runtime) -> None:
    """`tail` with `wait_s` on a job that has printed nothing yet: held until it does."""
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))
    started = time.monotonic()
    page = await api.get(
        f"/v1/jobs/{job_id}/logs", params={"tail": 50, "wait_s": 25}, headers=user.headers
    )
    assert page.status_code == 200, page.text
    body = page.json()
    stored_at = datetime.fromisoformat(body["chunks"][0].pop("at"))
    assert abs((stored_at - datetime.now(UTC)).total_seconds()) < 30  # when it was stored
    assert body == {
        "chunks": [{"seq": 1, "stream": "stdout", "data": "late line\n"}],
        "done": False,  # the job still sleeps after printing
        "has_earlier": False,
    }
    assert 1.0 < time.monotonic() - started < 20  # held through the program's first sleep


async def test_seen_status_returns_on_the_first_change(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))
    seen = "queued"
    statuses = [seen]
    while seen not in {"succeeded", "failed", "timed_out", "cancelled"}:
        response = await api.get(
            f"/v1/jobs/{job_id}",
            params={"wait_s": 25, "seen_status": seen},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        seen = response.json()["status"]
        assert seen != statuses[-1]
        statuses.append(seen)
    # Each change seen once, in order (`starting` may pass between two rereads).
    assert statuses[0] == "queued" and statuses[-1] == "succeeded", statuses
    assert "running" in statuses, statuses


async def test_waiting_changes_nothing_about_who_sees_what(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
    job_id = await submit(api, alice, await project_with(api, alice, {"main.py": SLOW}))
    started = time.monotonic()
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/logs"):
        response = await api.get(path, params={"wait_s": 25}, headers=bob.headers)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert time.monotonic() - started < 2  # refused at once, not after the wait
    for bad in ({"wait_s": 31}, {"wait_s": -1}, {"seen_status": "asleep"}):
        response = await api.get(f"/v1/jobs/{job_id}", params=bad, headers=alice.headers)
        assert response.status_code == 422, (bad, response.text)
    anonymous = await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 5})
    assert anonymous.status_code == 401
    finished = await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 25}, headers=alice.headers)
    assert finished.json()["status"] == "succeeded"


async def test_a_session_ended_while_waiting_is_refused_at_the_next_reread(
    runtime: Runtime,
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))
    waiting = asyncio.create_task(
        api.get(f"/v1/jobs/{job_id}", params={"wait_s": 25}, headers=user.headers)
    )
    await asyncio.sleep(0.3)
    logout = await api.post("/v1/auth/logout", headers=user.headers)
    assert logout.status_code in (200, 204), logout.text
    response = await waiting
    assert response.status_code == 401, response.text


async def test_waiting_requests_are_capped_per_user(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user, other = await signed_in_user(ctx), await signed_in_user(ctx)
    job_id = await submit(api, user, await project_with(api, user, {"main.py": SLOW}))
    cap = ctx.settings.max_waiting_requests_per_user
    held = [
        asyncio.create_task(
            api.get(f"/v1/jobs/{job_id}", params={"wait_s": 20}, headers=user.headers)
        )
        for _ in range(cap)
    ]
    await asyncio.sleep(0.5)
    refused = await api.get(f"/v1/jobs/{job_id}", params={"wait_s": 20}, headers=user.headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["retry-after"]
    # The places are the application context's, held by this user alone.
    assert list(ctx.long_polls.open.values()) == [cap]
    # Without waiting, and for someone else, nothing changes.
    assert (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).status_code == 200
    other_job = await submit(api, other, await project_with(api, other, {"main.py": SLOW}))
    waited = await api.get(f"/v1/jobs/{other_job}", params={"wait_s": 20}, headers=other.headers)
    assert waited.status_code == 200
    for answer in await asyncio.gather(*held):
        assert answer.status_code == 200
    assert not ctx.long_polls.open  # every place given back
