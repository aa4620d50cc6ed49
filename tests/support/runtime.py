"""The real runtime for job tests: the Docker policy proxy on a private socket, and a worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import docker
import httpx

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.main import build_context, create_app
from offcoder.worker.context import WorkerContext
from offcoder.worker.host import WorkerHost
from tests.support.signin import SignedIn

TEST_SERVER = "http://testserver"


@contextmanager
def docker_proxy(directory: Path) -> Iterator[str]:
    socket_path = directory / "docker-proxy.sock"
    socket_path.unlink(missing_ok=True)
    log = (directory / "docker-proxy.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "offcoder.cli", "docker-proxy", "--socket", str(socket_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((directory / "docker-proxy.log").read_text()[-3000:])
            time.sleep(0.1)
        yield str(socket_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@asynccontextmanager
async def runtime_app(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str, **overrides: object
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext, Worker]]:
    """An API client and a running worker sharing one context, on the test database."""
    ctx = build_context(
        settings.model_copy(update={"docker_proxy_socket": proxy_socket, **overrides}), prepared
    )
    host = WorkerHost(WorkerContext(ctx.settings, ctx.database, ctx.keyring))
    worker = host.jobs
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    transport = httpx.ASGITransport(app=create_app(ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=TEST_SERVER) as client:
            yield client, ctx, worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        await ctx.close()


def sandboxes_of(job_id: object) -> list[str]:
    """The job's sandboxes still on the engine, asked of the engine itself (not the proxy)."""
    engine = docker.from_env()
    try:
        # sparse: the listing alone, no inspect per container, which a reconciler removing the
        # container in between would turn into a 404
        found = engine.containers.list(
            all=True, sparse=True, filters={"label": f"dev.offcoder.job-id={job_id}"}
        )
        return [f"{c.short_id} ({c.status})" for c in found]
    finally:
        engine.close()


async def project_with(
    api: httpx.AsyncClient, user: SignedIn, files: dict[str, bytes], name: str = "job"
) -> str:
    """A new project of `user` holding `files` (path -> bytes); its id."""
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": name})).json()
    for path, content in files.items():
        put = await api.put(
            f"/v1/projects/{project['id']}/files/{path}", headers=user.headers, content=content
        )
        assert put.status_code == 200, put.text
    return str(project["id"])


async def wait_for_end(
    api: httpx.AsyncClient, headers: dict[str, str], job_id: str, timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job = (await api.get(f"/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job still {job['status']}"
        await asyncio.sleep(0.1)


async def run_job(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, command: list[str]
) -> dict[str, object]:
    """Submit `command` in the project and return the job once it has ended."""
    submitted = await api.post(
        f"/v1/projects/{project_id}/jobs", headers=user.headers, json={"command": command}
    )
    assert submitted.status_code == 202, submitted.text
    return await wait_for_end(api, user.headers, submitted.json()["id"])


async def wait_for_running(
    api: httpx.AsyncClient, headers: dict[str, str], job_id: str, tries: int = 300
) -> dict[str, object]:
    """The job once it is seen `running`, polled every 50 ms; after `tries` polls, as last seen
    (a short job may have ended between two polls: the caller checks what it needs)."""
    for _ in range(tries):
        job: dict[str, object] = (await api.get(f"/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] == "running":
            break
        await asyncio.sleep(0.05)
    return job


async def all_logs(
    api: httpx.AsyncClient, headers: dict[str, str], job_id: str
) -> list[dict[str, object]]:
    chunks: list[dict[str, object]] = []
    after = 0
    while True:
        page = (
            await api.get(f"/v1/jobs/{job_id}/logs", params={"after_seq": after}, headers=headers)
        ).json()
        chunks.extend(page["chunks"])
        if page["chunks"]:
            after = page["chunks"][-1]["seq"]
        if page["done"] and not page["chunks"]:
            return chunks
        if page["done"]:
            continue
        await asyncio.sleep(0.1)
