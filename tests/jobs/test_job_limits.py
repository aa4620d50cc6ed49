"""Fair to every user (issue 14, item 2): one user cannot fill the queue for everyone."""

from __future__ import annotations

import asyncio

import httpx

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs import repository
from offcoder.jobs.worker import Worker
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


def most_at_once(jobs: list[dict[str, object]]) -> int:
    """The most of `jobs` that were running at one moment, from their started_at/finished_at."""
    moments = sorted(
        [(str(job["started_at"]), 1) for job in jobs]
        + [(str(job["finished_at"]), -1) for job in jobs],
        key=lambda moment: (moment[0], moment[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most


async def test_a_user_at_the_running_limit_waits_while_others_jobs_run(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> None:
    """Given a worker with three places and a limit of one running job per person, when alice
    queues three jobs and bob one, then alice's run one after the other (the rest wait queued,
    not refused) while bob's runs beside hers."""
    async with runtime_app(
        settings, prepared, proxy_socket, worker_concurrency=3, job_max_running_per_user=1
    ) as (api, ctx, _):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        sleeper = b"import time\ntime.sleep(1.0)\n"
        alices = await project_with(api, alice, {"main.py": sleeper}, name="many")
        bobs = await project_with(api, bob, {"main.py": sleeper}, name="one")
        submitted = [await submit(api, alice, alices) for _ in range(3)]
        assert all(answer.status_code == 202 for answer in submitted), submitted
        bobs_job = (await submit(api, bob, bobs)).json()["id"]

        alice_ended = await asyncio.gather(
            *(wait_for_end(api, alice.headers, answer.json()["id"]) for answer in submitted)
        )
        bob_ended = await wait_for_end(api, bob.headers, bobs_job)
        assert all(job["status"] == "succeeded" for job in [*alice_ended, bob_ended])
        assert most_at_once(alice_ended) == 1, alice_ended
        # bob's job did not wait for alice's queue to drain: it ran while hers did
        assert most_at_once([*alice_ended, bob_ended]) == 2, [*alice_ended, bob_ended]


async def test_the_running_limit_holds_across_workers_claiming_at_once(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> None:
    """Given two workers with two places each and a limit of two running jobs per person, when
    alice queues five jobs, then never more than two of them run at once, and two do."""
    async with runtime_app(
        settings, prepared, proxy_socket, worker_concurrency=2, job_max_running_per_user=2
    ) as (api, ctx, _):
        second = Worker(ctx.settings, ctx.database, ctx.keyring)
        stop = asyncio.Event()
        running = asyncio.create_task(second.run(stop))
        try:
            alice = await signed_in_user(ctx)
            project = await project_with(
                api, alice, {"main.py": b"import time\ntime.sleep(1.0)\n"}, name="five"
            )
            job_ids = [(await submit(api, alice, project)).json()["id"] for _ in range(5)]
            ended = await asyncio.gather(*(wait_for_end(api, alice.headers, j) for j in job_ids))
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=60)
        assert all(job["status"] == "succeeded" for job in ended), ended
        assert most_at_once(ended) == 2, ended
        assert {job["id"] for job in ended} == set(job_ids)


async def test_the_running_limit_is_a_setting_with_a_sensible_default(context: AppContext) -> None:
    assert context.settings.job_max_running_per_user == 4


async def test_claims_at_once_take_no_more_than_the_running_limit(
    api: httpx.AsyncClient, context: AppContext
) -> None:
    """Given five queued jobs of alice and a limit of two running, when five workers claim at
    once, round after round, then two of her jobs are taken in all, never more."""
    alice = await signed_in_user(context)
    project = await project_to_run(api, alice)
    for _ in range(5):
        assert (await submit(api, alice, project)).status_code == 202
    try:
        taken = 0
        for _ in range(3):
            claims = [repository.claim(context.database, f"worker-{n}", 2) for n in range(5)]
            taken += sum(job is not None for job in await asyncio.gather(*claims))
        assert taken == 2
    finally:
        # Her jobs go with the project: no worker is left to end the two taken.
        await api.delete(f"/v1/projects/{project}", headers=alice.headers)
