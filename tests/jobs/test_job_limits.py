"""Fair to every user (issue 14, item 2): one user cannot fill the queue for everyone."""

from __future__ import annotations

import asyncio

import httpx

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.runtime import project_with, runtime_app, wait_for_end
from tests.support.signin import SignedIn, signed_in_user


async def project_to_run(api: httpx.AsyncClient, user: SignedIn) -> str:
    created = await api.post("/v1/projects", headers=user.headers, json={"name": "queue"})
    project = str(created.json()["id"])
    put = await api.put(
        f"/v1/projects/{project}/files/main.py", headers=user.headers, content=b"print(1)\n"
    )
    assert put.status_code == 200, put.text
    return project


async def submit(api: httpx.AsyncClient, user: SignedIn, project: str) -> httpx.Response:
    return await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"]},
    )


async def cancel_all(api: httpx.AsyncClient, user: SignedIn, job_ids: list[str]) -> None:
    for job_id in job_ids:
        await api.post(f"/v1/jobs/{job_id}/cancel", headers=user.headers)


async def test_a_user_past_the_queued_limit_is_told_to_retry_and_others_are_not(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    # given a server that queues at most 2 jobs per user, and no worker to take them
    async with app_with(settings, prepared, job_max_queued_per_user=2) as (api, ctx):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        alices, bobs = await project_to_run(api, alice), await project_to_run(api, bob)
        # when alice submits three jobs at once
        answers = await asyncio.gather(*(submit(api, alice, alices) for _ in range(3)))
        bobs_job: httpx.Response | None = None
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code != 202]
        try:
            # then two are queued and the third is refused with a time to come back
            assert len(accepted) == 2, [a.text for a in answers]
            (third,) = refused
            assert third.status_code == 429
            assert third.headers["content-type"].startswith("application/problem+json")
            assert int(third.headers["retry-after"]) > 0
            assert third.json()["detail"] == (
                "You have 2 jobs waiting to run, the most this server queues for one person; "
                "wait for one to start or cancel one."
            )
            # and bob, who has none queued, is not held back by alice's
            bobs_job = await submit(api, bob, bobs)
            assert bobs_job.status_code == 202, bobs_job.text
            # and once alice cancels one of hers, she may queue another
            await cancel_all(api, alice, accepted[:1])
            again = await submit(api, alice, alices)
            assert again.status_code == 202, again.text
            accepted = [*accepted[1:], again.json()["id"]]
        finally:
            await cancel_all(api, alice, accepted)
            if bobs_job is not None and bobs_job.status_code == 202:
                await cancel_all(api, bob, [bobs_job.json()["id"]])


async def test_the_queued_limit_is_a_setting_with_a_sensible_default(context: AppContext) -> None:
    assert context.settings.job_max_queued_per_user == 20


async def test_one_users_many_jobs_do_not_delay_anothers_single_job(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> None:
    """Given one worker running one job at a time, when alice queues five jobs and then bob
    queues one, then bob's starts once alice has been served once: the worker takes the oldest
    job of the person who has waited longest, not the oldest job overall."""
    async with runtime_app(settings, prepared, proxy_socket, worker_concurrency=1) as (
        api,
        ctx,
        _,
    ):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        alices = await project_with(
            api, alice, {"main.py": b"import time\ntime.sleep(0.3)\n"}, name="many"
        )
        bobs = await project_with(api, bob, {"main.py": b"print('mine')\n"}, name="one")
        alice_jobs = [(await submit(api, alice, alices)).json()["id"] for _ in range(5)]
        bobs_job = (await submit(api, bob, bobs)).json()["id"]

        ended = await asyncio.gather(
            *(wait_for_end(api, alice.headers, job_id) for job_id in alice_jobs),
            wait_for_end(api, bob.headers, bobs_job),
        )
        assert all(job["status"] == "succeeded" for job in ended), ended
        started = sorted((job["started_at"], job["id"]) for job in ended)
        order = [job_id for _, job_id in started]
        # Alice's first was taken before bob's existed; bob's comes no later than second
        # after it (first-come-first-served would run it sixth).
        assert order.index(bobs_job) <= 2, order
