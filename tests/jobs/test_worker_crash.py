"""C6: a worker killed mid-job leaves no sandbox behind and no job hanging."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.worker.context import WorkerContext
from offcoder.worker.host import WorkerHost
from tests.support.apps import app_with
from tests.support.runtime import sandboxes_of, wait_for_end, worker_process
from tests.support.signin import sign_in

pytestmark = [pytest.mark.docker, pytest.mark.promise("C6")]


async def test_killed_worker_job_fails_as_worker_lost_and_its_sandbox_is_removed(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str, state_dir: Path
) -> None:
    log = (state_dir / "crash-worker.log").open("w")
    doomed = worker_process(prepared, state_dir, proxy_socket, log)
    try:
        async with app_with(settings, prepared, docker_proxy_socket=proxy_socket) as (api, ctx):
            user = await sign_in(api)
            project = (
                await api.post("/v1/projects", headers=user.headers, json={"name": "crash"})
            ).json()
            await api.put(
                f"/v1/projects/{project['id']}/files/main.py",
                headers=user.headers,
                content=b"import time\nprint('working', flush=True)\ntime.sleep(120)\n",
            )
            job_id = (
                await api.post(
                    f"/v1/projects/{project['id']}/jobs",
                    headers=user.headers,
                    json={"command": ["python3", "main.py"], "timeout_s": 300},
                )
            ).json()["id"]
            deadline = time.monotonic() + 60
            while (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()[
                "status"
            ] != "running":
                assert time.monotonic() < deadline, (state_dir / "crash-worker.log").read_text()[
                    -3000:
                ]
                await asyncio.sleep(0.1)

            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            assert sandboxes_of(job_id), "the orphan must exist for the test to mean anything"

            # A new worker notices the silent one and cleans up.
            successor_settings = ctx.settings.model_copy(update={"worker_lost_after_s": 1.0})
            await asyncio.sleep(2.5)
            successor = WorkerHost(WorkerContext(successor_settings, ctx.database, ctx.keyring))
            stop = asyncio.Event()
            task = asyncio.create_task(successor.run(stop))
            try:
                job = await wait_for_end(api, user.headers, job_id, timeout=30)
                assert (job["status"], job["reason"]) == ("failed", "worker_lost")
                for _ in range(100):
                    if not sandboxes_of(job_id):
                        break
                    await asyncio.sleep(0.1)
                assert sandboxes_of(job_id) == []
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        log.close()
