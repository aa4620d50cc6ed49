"""C6, review F10: a worker killed (SIGKILL) right after any step of a sandbox's lifecycle
leaves nothing behind once the reconciler has run.

Four worker processes each take one egress job and kill themselves right after their step,
through the fault-injection point of `jobs/sandbox.py` (`OFFCODER_TEST_WORKER_CRASH_AFTER`):
the workspace is provisioned; the job's network and gateway are up; the sandbox is created; it
is started. Then a new worker reconciles once (what it does at its start): each job ends
`worker_lost`, and neither the engine nor the kernel holds anything of it: no container
(sandbox or gateway), network, volume, workspace image or loop device. One setup serves the
four steps: the workers start together and the one reconcile finds all four jobs.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.models import Job
from offcoder.jobs.sandbox import CRASH_AFTER_VARIABLE, CRASH_STEPS
from offcoder.jobs.worker import Worker
from tests.support.apps import app_with
from tests.support.runtime import job_leftovers, project_with, worker_process
from tests.support.signin import sign_in

pytestmark = [pytest.mark.docker, pytest.mark.promise("C6")]

# What each step has made by the time its worker dies: the states of the job's containers
# (its egress gateway runs from the "network" step on), and how many networks, volumes,
# workspace images and loop devices it holds.
MADE = {
    "workspace": ([], 0),
    "network": (["running"], 1),
    "create": (["created", "running"], 1),
    "start": (["running", "running"], 1),
}


@dataclass
class Killed:
    job_id: str
    before: dict[str, list[str]]  # what the job held once its worker was dead
    after: dict[str, list[str]]  # ... and after the reconcile
    job: dict[str, Any]


@pytest.fixture(scope="module")
async def killed(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str, state_dir: Path
) -> dict[str, Killed]:
    """Per step, the job whose worker was killed right after it, before and after the
    reconcile."""
    async with app_with(settings, prepared, docker_proxy_socket=proxy_socket) as (api, ctx):
        user = await sign_in(api)
        project = await project_with(api, user, {"main.py": b"import time\ntime.sleep(300)\n"})
        logs = {step: (state_dir / f"killed-after-{step}.log").open("w") for step in CRASH_STEPS}
        workers = {
            step: worker_process(
                prepared,
                state_dir,
                proxy_socket,
                logs[step],
                OFFCODER_WORKER_CONCURRENCY="1",  # one job each
                **{CRASH_AFTER_VARIABLE: step},
            )
            for step in CRASH_STEPS
        }
        try:
            job_ids = []
            for _ in CRASH_STEPS:
                submitted = await api.post(
                    f"/v1/projects/{project}/jobs",
                    headers=user.headers,
                    json={"command": ["python3", "main.py"], "network": "egress", "timeout_s": 600},
                )
                assert submitted.status_code == 202, submitted.text
                job_ids.append(uuid.UUID(submitted.json()["id"]))
            for step, worker in workers.items():
                ended = await asyncio.to_thread(worker.wait, 120)
                said = (state_dir / f"killed-after-{step}.log").read_text()[-3000:]
                assert ended == -signal.SIGKILL, (step, said)
        finally:
            for worker in workers.values():
                if worker.poll() is None:
                    worker.kill()
            for log in logs.values():
                log.close()

        # Which job each worker took: the job row names its worker, whose id holds its pid.
        steps = {str(worker.pid): step for step, worker in workers.items()}
        async with ctx.database.system_session() as s:
            rows = (await s.execute(select(Job.id, Job.worker_id).where(Job.id.in_(job_ids)))).all()
        taken = {steps[str(worker_id).split("-")[-2]]: str(job_id) for job_id, worker_id in rows}
        assert sorted(taken) == sorted(CRASH_STEPS), taken
        before = {step: await asyncio.to_thread(job_leftovers, job) for step, job in taken.items()}

        await asyncio.sleep(1.2)  # every dead worker's last beat is now over a second old
        lost_after = ctx.settings.model_copy(update={"worker_lost_after_s": 1.0})
        successor = Worker(lost_after, ctx.database, ctx.keyring)
        await successor.reconcile()
        await successor.signals.close()
        return {
            step: Killed(
                job_id=job,
                before=before[step],
                after=await asyncio.to_thread(job_leftovers, job),
                job=(await api.get(f"/v1/jobs/{job}", headers=user.headers)).json(),
            )
            for step, job in taken.items()
        }


@pytest.mark.parametrize("step", CRASH_STEPS)
async def test_a_worker_killed_after_each_step_leaves_nothing_once_reconciled(
    killed: dict[str, Killed], step: str
) -> None:
    result = killed[step]
    containers, networks = MADE[step]
    # The worker died right there: what the step makes existed, and nothing of a later step.
    held = result.before
    assert sorted(c.split(":")[1] for c in held["containers"]) == containers, held
    assert len(held["networks"]) == networks, held
    assert (len(held["volumes"]), len(held["images"]), len(held["loops"])) == (1, 1, 1), held
    assert (result.job["status"], result.job["reason"]) == ("failed", "worker_lost"), result.job
    assert not any(result.after.values()), f"after a kill at {step}: {result.after}"
