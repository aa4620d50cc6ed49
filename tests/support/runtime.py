"""The real runtime for job tests: the Docker policy proxy on a private socket, and a worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO

import docker
import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.main import build_context, create_app
from offcoder.runtime.policy import LABEL_JOB_ID, SandboxRuntime
from offcoder.runtime.proxy.server import DEFAULT_STATE_DIR
from offcoder.worker.context import WorkerContext
from offcoder.worker.host import WorkerHost
from tests.support.signin import SignedIn

TEST_SERVER = "http://testserver"

# The sandbox runtimes a network promise is proven under (issue 15): preview and egress jobs
# keep under gVisor every wall they have under runc, or are refused; never silently weaker.
NETWORK_RUNTIMES = (SandboxRuntime.runc.value, SandboxRuntime.runsc.value)
# The engine's names of the runtime a sandbox is made under, (without, with) a network; gVisor
# is registered twice (scripts/ensure-services.sh). Written out, not read from the policy, so
# that a policy choosing the wrong registration fails the test that asks.
ENGINE_RUNTIME_NAMES = {
    SandboxRuntime.runc: ("runc", "runc"),
    SandboxRuntime.runsc: ("runsc", "runsc-net"),
}


def under_each_runtime(fixture: str) -> pytest.MarkDecorator:
    """Run the test once under each of `NETWORK_RUNTIMES`: its module-scoped `fixture` gets the
    runtime as its param (`runtime_of`) and builds its `runtime_app` with it. Only the tests
    proving a network promise ask for it: every job under gVisor costs a second or two more."""
    return pytest.mark.parametrize(fixture, NETWORK_RUNTIMES, indirect=True)


def runtime_of(request: pytest.FixtureRequest) -> SandboxRuntime:
    """The sandbox runtime a fixture's test asked for (`under_each_runtime`); runc otherwise."""
    return SandboxRuntime(getattr(request, "param", SandboxRuntime.runc.value))


def assert_ran_under(
    runtime: SandboxRuntime, kernel: str, engine_runtime: str | None = None, *, networked: bool
) -> None:
    """The job truly ran under `runtime`: the kernel it saw (its ``os.uname().release``) is the
    host's under runc and gVisor's own under runsc; and, given the sandbox's
    ``HostConfig.Runtime`` (`engine_runtime`), the engine made it under that runtime's
    registration for a job with or without a network."""
    host = os.uname().release
    if runtime is SandboxRuntime.runsc:
        assert kernel != host, f"the job saw the host's kernel {kernel}: it did not run in gVisor"
    else:
        assert kernel == host, f"the job saw kernel {kernel}, not the host's {host}"
    if engine_runtime is not None:
        assert engine_runtime == ENGINE_RUNTIME_NAMES[runtime][networked], engine_runtime


@contextmanager
def docker_proxy(
    directory: Path, *, state_dir: Path | None = None, runtimes: str | None = None
) -> Iterator[str]:
    """`offcoder docker-proxy` on a socket in `directory`, as a deployment of its own, so that
    nothing of another test run on the engine is its own: with `state_dir`, the deployment
    whose id it generates there (or finds there, when started again); else one made up for it,
    on the usual state directory. `runtimes`: its allow-list (OFFCODER_PROXY_RUNTIMES), else
    the default (runc)."""
    socket_path = directory / "docker-proxy.sock"
    socket_path.unlink(missing_ok=True)
    log = (directory / "docker-proxy.log").open("w")
    env = dict(os.environ)
    if runtimes is not None:
        env["OFFCODER_PROXY_RUNTIMES"] = runtimes
    if state_dir is None:
        state = Path(env.get("OFFCODER_PROXY_STATE_DIR", DEFAULT_STATE_DIR))
        deployment = f"test-{secrets.token_hex(6)}"
        env["OFFCODER_PROXY_DEPLOYMENT_ID"] = deployment
    else:
        env.pop("OFFCODER_PROXY_DEPLOYMENT_ID", None)
        env["OFFCODER_PROXY_STATE_DIR"] = str(state_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "offcoder.cli", "docker-proxy", "--socket", str(socket_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
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
        if state_dir is None:  # its image directory, once empty: test runs leave no trail
            with contextlib.suppress(OSError):
                (state / deployment).rmdir()


def worker_process(
    prepared: PreparedDatabase,
    state_dir: Path,
    proxy_socket: str,
    log: IO[str],
    **environment: str,
) -> subprocess.Popen[bytes]:
    """`offcoder worker` in a process of its own (one a test can kill outright) on the test
    database and `proxy_socket`, with `environment` added; its output goes to `log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_")}
    env.update(
        DATABASE_URL=prepared.admin_url.render_as_string(hide_password=False),
        OFFCODER_STATE_DIR=str(state_dir),
        OFFCODER_DOCKER_PROXY_SOCKET=proxy_socket,
        **environment,
    )
    return subprocess.Popen(  # our own command
        [sys.executable, "-m", "offcoder.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


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


def job_leftovers(job_id: object, state_dir: Path | None = None) -> dict[str, list[str]]:
    """Everything of a job still on the host, asked of the engine and the kernel themselves
    (not the proxy): its containers (sandbox and egress gateway), networks and volumes, its
    workspace image in any deployment's directory of the proxy state directory (`state_dir`,
    else the one the proxies started by the tests use), and the loop devices backed by such
    an image (``losetup --list``, deleted backing files included)."""
    engine = docker.from_env()
    try:
        label = {"label": f"{LABEL_JOB_ID}={job_id}"}
        # The low-level lists: the high-level ones inspect each object, racing removals.
        containers = [
            f"{c['Id'][:12]}:{c['State']}" for c in engine.api.containers(all=True, filters=label)
        ]
        networks = [str(n["Name"]) for n in engine.api.networks(filters=label)]
        volumes = [str(v["Name"]) for v in engine.api.volumes(filters=label).get("Volumes") or []]
    finally:
        engine.close()
    state = state_dir or Path(os.environ.get("OFFCODER_PROXY_STATE_DIR", DEFAULT_STATE_DIR))
    image = f"{job_id}.img"
    images = sorted(str(p) for p in [*state.glob(image), *state.glob(f"*/{image}")])
    listing = subprocess.run(
        ["losetup", "--list", "--noheadings", "-O", "NAME,BACK-FILE"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loops = [line.split()[0] for line in listing.splitlines() if image in line]
    return {
        "containers": containers,
        "networks": networks,
        "volumes": volumes,
        "images": images,
        "loops": loops,
    }


def deployment_of(proxy_socket: str) -> str:
    """The deployment id the proxy on `proxy_socket` serves."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=proxy_socket)) as proxy:
        return str(proxy.get("http://proxy/offcoder/deployment").json()["Deployment"])


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
