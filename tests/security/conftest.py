"""The sandbox attack suite's runtime: the real policy proxy, the API and a worker (C1, C6).

Every attack is a real job: a hostile ``main.py`` in a project, submitted through the API, run
by the worker in the hardened sandbox through the policy proxy. A program reports what it
achieved on a last line ``REPORT {json}``; `Sandbox.assert_healthy` then checks the host: the
API answers, the engine holds no container or workspace volume of the job, its workspace image
is gone, and a next trivial job runs fine.

Network rule of this suite: a test touches only loopback (its own servers on 127.0.0.1) and the
sandboxes it creates; never any other address, not even to show it is blocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.runtime.policy import SandboxRuntime
from tests.support.runtime import all_logs, docker_proxy, job_leftovers, runtime_app, wait_for_end
from tests.support.signin import SignedIn, signed_in_user

pytestmark = pytest.mark.docker

JOB_TIMEOUT_S = 30
LOG_CAP = 256 * 1024
# A plan whose jobs get a CPU cap of their own (OFFCODER_JOB_CPUS_BY_PLAN): one core.
PAID_PLAN = "pro"
JOB_ID_LABEL = "dev.offcoder.job-id"
# Every attack runs under each sandbox runtime CI offers (C1): runc, and gVisor. Where gVisor
# behaves differently, the test says what is promised under each (`Sandbox.runtime`).
SUITE_RUNTIMES = (SandboxRuntime.runc.value, SandboxRuntime.runsc.value)

# A value only the host's test processes (pytest, the worker in it, the proxy it starts) hold in
# their environment: a sandbox that can read a host process's environment would find it.
HOST_CANARY_NAME = "OFFCODER_SANDBOX_SUITE_CANARY"
HOST_CANARY = f"host-canary-{secrets.token_hex(12)}"


@pytest.fixture(scope="session")
def sandbox_proxy_socket(state_dir: Path) -> Iterator[str]:
    """The policy proxy for this suite, on its own socket (tests/jobs may run one beside it)."""
    os.environ[HOST_CANARY_NAME] = HOST_CANARY  # inherited by the proxy, held by the worker
    directory = state_dir / "sandbox-suite"
    directory.mkdir(exist_ok=True)
    with docker_proxy(directory, runtimes=",".join(SUITE_RUNTIMES)) as socket_path:
        yield socket_path


@dataclass
class Result:
    job: dict[str, Any]
    stdout: str
    stderr: str
    chunks: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.job["id"])

    @property
    def report(self) -> dict[str, Any]:
        """The program's last ``REPORT {json}`` line."""
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("REPORT ")]
        assert lines, f"no REPORT line; job={self.job} stdout={self.stdout[-2000:]!r}"
        value: dict[str, Any] = json.loads(lines[-1][len("REPORT ") :])
        return value


class Sandbox:
    """Run hostile programs as jobs, under one sandbox runtime, and check the host afterwards."""

    def __init__(self, api: httpx.AsyncClient, ctx: AppContext, runtime: SandboxRuntime) -> None:
        self.api = api
        self.ctx = ctx
        self.runtime = runtime

    @property
    def gvisor(self) -> bool:
        return self.runtime is SandboxRuntime.runsc

    async def user(self) -> SignedIn:
        return await signed_in_user(self.ctx)

    async def project(self, user: SignedIn, files: dict[str, bytes]) -> str:
        created = await self.api.post("/v1/projects", headers=user.headers, json={"name": "atk"})
        assert created.status_code == 201, created.text
        project_id = str(created.json()["id"])
        for path, content in files.items():
            put = await self.api.put(
                f"/v1/projects/{project_id}/files/{path}", headers=user.headers, content=content
            )
            assert put.status_code == 200, put.text
        return project_id

    async def submit(
        self,
        user: SignedIn,
        project_id: str,
        command: list[str] | None = None,
        timeout_s: int = JOB_TIMEOUT_S,
    ) -> str:
        submitted = await self.api.post(
            f"/v1/projects/{project_id}/jobs",
            headers=user.headers,
            json={"command": command or ["python3", "main.py"], "timeout_s": timeout_s},
        )
        assert submitted.status_code == 202, submitted.text
        return str(submitted.json()["id"])

    async def finish(self, user: SignedIn, job_id: str) -> Result:
        job = await wait_for_end(self.api, user.headers, job_id, timeout=JOB_TIMEOUT_S + 60)
        chunks = await all_logs(self.api, user.headers, job_id)
        return Result(
            job=job,
            stdout="".join(str(c["data"]) for c in chunks if c["stream"] == "stdout"),
            stderr="".join(str(c["data"]) for c in chunks if c["stream"] == "stderr"),
            chunks=chunks,
        )

    async def run(
        self,
        program: str,
        *,
        user: SignedIn | None = None,
        command: list[str] | None = None,
        timeout_s: int = JOB_TIMEOUT_S,
        files: dict[str, bytes] | None = None,
    ) -> Result:
        """One job running `program` as main.py, to its end."""
        user = user or await self.user()
        project = await self.project(user, {"main.py": program.encode(), **(files or {})})
        return await self.finish(user, await self.submit(user, project, command, timeout_s))

    async def assert_gone(self, *results: Result) -> None:
        """No container, volume, workspace image or loop device of these jobs is left.

        Checked once, without waiting: the worker records a job's final status only after the
        proxy removed its sandbox and workspace, so they must be gone by the time the API says
        the job ended (the periodic reconciler must not be what cleans up after a job).
        """
        for result in results:
            left = await asyncio.to_thread(job_leftovers, result.id)
            assert not any(left.values()), f"job {result.id} ({result.job['status']}) left {left}"

    async def assert_healthy(self, *results: Result) -> None:
        """The host after an attack: API answers, nothing of the jobs left, a next job runs."""
        ready = await self.api.get("/readyz")
        assert ready.status_code == 200, ready.text
        await self.assert_gone(*results)
        after = await self.run("print('still fine')\n")
        assert (after.job["status"], after.stdout) == ("succeeded", "still fine\n"), after.job
        await self.assert_gone(after)
        host = subprocess.run(["true"], check=False, timeout=10)  # the host can still fork
        assert host.returncode == 0


@pytest.fixture(scope="module", params=SUITE_RUNTIMES)
async def sandbox_runtime(
    request: pytest.FixtureRequest,
    settings: Settings,
    prepared: PreparedDatabase,
    sandbox_proxy_socket: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext, Worker]]:
    async with runtime_app(
        settings,
        prepared,
        sandbox_proxy_socket,
        job_max_log_bytes=LOG_CAP,
        job_cpus_by_plan={PAID_PLAN: 1.0},
        sandbox_runtime=SandboxRuntime(request.param),
    ) as r:
        yield r


@pytest.fixture(scope="module")
def sandbox(sandbox_runtime: tuple[httpx.AsyncClient, AppContext, Worker]) -> Sandbox:
    api, ctx, _ = sandbox_runtime
    return Sandbox(api, ctx, ctx.settings.sandbox_runtime)
