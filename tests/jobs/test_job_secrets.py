"""R3 in the worker: a job's secret values are masked in our logs while the job lives, and the
worker, which outlives every job, lets them go when it ends."""

from __future__ import annotations

import secrets

import httpx
import pytest

from offcoder import logs
from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from tests.support.runtime import all_logs, wait_for_end, wait_for_running
from tests.support.signin import signed_in_user

pytestmark = [pytest.mark.docker, pytest.mark.promise("R3")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]


async def test_a_jobs_secrets_are_masked_while_it_runs_and_let_go_when_it_ends(
    runtime: Runtime,
) -> None:
    # given a project with a secret, and what the redactor holds before its job
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "env"})).json()
    main = b"import os, time\nprint(len(os.environ['TOKEN']), flush=True)\ntime.sleep(2)\n"
    assert (
        await api.put(
            f"/v1/projects/{project['id']}/files/main.py", headers=user.headers, content=main
        )
    ).status_code == 200
    value = f"job-secret-{secrets.token_hex(16)}"
    put = await api.put(
        f"/v1/projects/{project['id']}/secrets/TOKEN",
        headers=user.headers,
        json={"value": value},
    )
    assert put.status_code == 200, put.text
    before = logs.masked_size()
    assert not logs.is_masked(value)

    # when a job runs, and then ends
    submitted = await api.post(
        f"/v1/projects/{project['id']}/jobs",
        headers=user.headers,
        json={"command": ["python3", "main.py"]},
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    await wait_for_running(api, user.headers, job_id)
    masked_while_running = logs.is_masked(value)
    ended = await wait_for_end(api, user.headers, job_id, timeout=60)

    # then the value was masked while the job ran, and the worker holds nothing more after it
    assert ended["status"] == "succeeded", ended
    chunks = await all_logs(api, user.headers, job_id)
    assert "".join(str(c["data"]) for c in chunks) == f"{len(value)}\n"  # the job had it
    assert masked_while_running
    assert not logs.is_masked(value)
    assert logs.masked_size() == before
