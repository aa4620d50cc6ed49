"""C2, C6: deployments sharing one Docker engine stay out of each other's way.

Two deployments, each its own server, database and policy proxy, on one engine, a long job
running on each. The first restarts: its worker is killed outright mid-job, its proxy is
stopped and started again (finding its generated deployment id again), and a new worker
reconciles. Its own lost job is cleaned up; the second's sandbox, gateway, network, workspace
and loop device are exactly as they were, its job still running and still its own worker's to
stop. The outside review saw the opposite: a second deployment's start-up reconcile removed
everything labelled ``dev.offcoder.managed=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import httpx
import pytest

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.sandbox import CRASH_AFTER_VARIABLE
from offcoder.jobs.worker import Worker
from tests.support.apps import app_with
from tests.support.runtime import (
    deployment_of,
    docker_proxy,
    job_leftovers,
    project_with,
    runtime_app,
    wait_for_end,
    wait_for_running,
    worker_process,
)
from tests.support.scratch import scratch_database
from tests.support.signin import SignedIn, sign_in

pytestmark = [pytest.mark.docker, pytest.mark.promise("C2"), pytest.mark.promise("C6")]

LONG_JOB = {"main.py": b"import time\nprint('up', flush=True)\ntime.sleep(300)\n"}


def jobs_held(proxy_socket: str) -> set[str]:
    """The jobs holding anything of the proxy's deployment, as the proxy says."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=proxy_socket)) as proxy:
        return set(proxy.get("http://proxy/offcoder/jobs").json()["Jobs"])


async def submit(api: httpx.AsyncClient, user: SignedIn, network: str = "none") -> str:
    project = await project_with(api, user, LONG_JOB)
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"], "network": network, "timeout_s": 600},
    )
    assert submitted.status_code == 202, submitted.text
    return str(submitted.json()["id"])


async def test_restarting_one_deployment_never_touches_the_others_sandbox(
    settings: Settings, prepared: PreparedDatabase, state_dir: Path
) -> None:
    first_dir, second_dir = state_dir / "first-deployment", state_dir / "second-deployment"
    first_dir.mkdir()
    second_dir.mkdir()
    first_state = first_dir / "proxy-state"  # where the first proxy generates its id
    async with contextlib.AsyncExitStack() as stack:
        second_db = await stack.enter_async_context(scratch_database(settings, prepared, "second"))
        second_proxy = stack.enter_context(docker_proxy(second_dir))
        second_api, _, _ = await stack.enter_async_context(
            runtime_app(second_db.settings, second_db.prepared, second_proxy)
        )
        first_api, first_ctx = await stack.enter_async_context(app_with(settings, prepared))

        # The second deployment's long job, on its own egress network with a gateway.
        second_user = await sign_in(second_api)
        second_job = await submit(second_api, second_user, network="egress")
        running = await wait_for_running(second_api, second_user.headers, second_job)
        assert running["status"] == "running", running
        second_held = await asyncio.to_thread(job_leftovers, second_job)
        states = sorted(c.split(":")[1] for c in second_held["containers"])
        assert states == ["running", "running"], second_held  # the sandbox and its gateway

        # The first deployment's long job, its worker killed right after the start.
        first_user = await sign_in(first_api)
        with docker_proxy(first_dir, state_dir=first_state) as first_proxy:
            first_id = deployment_of(first_proxy)
            log_path = first_dir / "worker.log"
            with log_path.open("w") as log:
                crash = {CRASH_AFTER_VARIABLE: "start"}
                doomed = worker_process(prepared, state_dir, first_proxy, log, **crash)
                try:
                    first_job = await submit(first_api, first_user)
                    ended = await asyncio.to_thread(doomed.wait, 120)
                    assert ended == -signal.SIGKILL, log_path.read_text()[-3000:]
                finally:
                    if doomed.poll() is None:
                        doomed.kill()
            orphan = await asyncio.to_thread(job_leftovers, first_job, first_state)
            assert orphan["containers"], "the orphan must exist for the test to mean anything"

        # The restart: the first proxy again on its state directory, then a new worker.
        with docker_proxy(first_dir, state_dir=first_state) as first_proxy:
            assert deployment_of(first_proxy) == first_id != deployment_of(second_proxy)
            assert jobs_held(first_proxy) == {first_job}
            await asyncio.sleep(1.2)  # the dead worker's last beat is over a second old
            successor_settings = first_ctx.settings.model_copy(
                update={"worker_lost_after_s": 1.0, "docker_proxy_socket": first_proxy}
            )
            successor = Worker(successor_settings, first_ctx.database, first_ctx.keyring)
            await successor.reconcile()
            await successor.signals.close()

        lost = (await first_api.get(f"/v1/jobs/{first_job}", headers=first_user.headers)).json()
        assert (lost["status"], lost["reason"]) == ("failed", "worker_lost"), lost
        left = await asyncio.to_thread(job_leftovers, first_job, first_state)
        assert not any(left.values()), left

        # The second deployment's job: untouched, still running, still its own worker's.
        assert await asyncio.to_thread(job_leftovers, second_job) == second_held
        assert jobs_held(second_proxy) == {second_job}
        job = (await second_api.get(f"/v1/jobs/{second_job}", headers=second_user.headers)).json()
        assert job["status"] == "running", job
        cancel = await second_api.post(f"/v1/jobs/{second_job}/cancel", headers=second_user.headers)
        assert cancel.status_code == 202, cancel.text
        job = await wait_for_end(second_api, second_user.headers, second_job, timeout=60)
        assert job["status"] == "cancelled", job
        assert not any((await asyncio.to_thread(job_leftovers, second_job)).values())
