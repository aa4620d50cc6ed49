"""Job latency and throughput: the raw Docker lifecycle against OffCoder's API + worker.

Run with ``make bench`` (``.venv/bin/python bench/jobs.py``); needs root (the proxy makes loop
devices), a Docker engine on /var/run/docker.sock and the runtime image offcoder/python:current.

One run sets up what the job tests set up (tests/conftest.py, tests/support/runtime.py):
an embedded PostgreSQL (pgserver) in a temporary directory migrated by
`offcoder.db.bootstrap.prepare`, the local OIDC provider on loopback, the Docker policy proxy as
a subprocess on a temporary socket, the API (`create_app(build_context(...))`) served
in-process through httpx's ASGITransport, and one `Worker` in the same event loop (as
``offcoder serve`` embeds it). Then, for concurrency 1, 2 and 4 (JOBS_PER_LEVEL jobs each):

- raw-volume: docker-py straight on the engine socket, the `container_spec` hardening, a plain
  local named volume as /workspace (no size quota): volume create, create, put_archive, start,
  wait, logs, remove, volume remove. The lower bound of any sandbox with a workspace.
- raw-quota: the same, but the workspace is the 500 MB-quota ext4 image the proxy provisions
  (``POST /offcoder/workspaces/{job_id}``, ``DELETE`` after); every container call still goes
  straight to the engine. This is the raw lifecycle "with the same hardening" (C1 includes the
  quota), and the baseline the targets are judged against.
- ours: ``POST /v1/projects/{id}/jobs``, then the long-poll ``GET /v1/jobs/{id}/logs?wait_s=30``
  until the first chunk, then ``GET /v1/jobs/{id}?wait_s=30`` until the job has ended (each
  answered when the worker's NOTIFY says the job changed). The worker's DB
  timestamps (created_at, started_at, finished_at, first log chunk) are read afterwards too.

The worker path is instrumented in-process (wrappers around `RuntimeClient` and two `Worker`
methods; nothing in src/ changes) to say where its time goes, and the workspace provisioning
(mkfs.ext4, losetup, the proxy's endpoint) and the proxy's per-request cost are measured alone.

Last, the runtime cells (issue 15 item 3; ``--only runtimes`` runs them alone): each sandbox
runtime (runc, crun, runsc = gVisor) in the same run, runc the baseline. Every call goes through
the policy proxy, whose allow-list the bench sets to all three (``OFFCODER_PROXY_RUNTIMES``),
with the worker's `RuntimeClient` (RawRunner's ``proxy`` mode): a trivial job's lifecycle one at
a time and in three lanes, a syscall-heavy and a CPU-heavy program's run (each prints its own
time too).

Deviations from production, all stated in docs/performance.md: the raw containers carry every
label of `container_spec` except ``dev.offcoder.managed`` (so that no worker's reconciler, ours
or another one sharing the engine, removes them mid-run); the bench runs the job loop alone,
without the worker host's 10 s reconcile pass (it would remove other users' sandboxes on a
shared engine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.support is reused; run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from tests.support.runtime import docker_proxy  # noqa: E402
from tests.support.signin import REDIRECT_URI, sign_in  # noqa: E402

from offcoder import logs  # noqa: E402
from offcoder.config import Environment, Settings  # noqa: E402
from offcoder.db.bootstrap import prepare  # noqa: E402
from offcoder.jobs import archive  # noqa: E402
from offcoder.jobs.logwriter import LogWriter  # noqa: E402
from offcoder.jobs.worker import Worker  # noqa: E402
from offcoder.main import build_context, create_app  # noqa: E402
from offcoder.runtime.catalogue import IMAGES  # noqa: E402
from offcoder.runtime.client import RuntimeClient  # noqa: E402
from offcoder.runtime.policy import (  # noqa: E402
    LABEL_JOB_ID,
    LABEL_MANAGED,
    WORKSPACE,
    NetworkMode,
    SandboxRuntime,
    container_spec,
    engine_runtime,
)
from offcoder.runtime.proxy.workspace import IMAGE_BYTES, MKFS_OPTIONS  # noqa: E402

ENGINE_SOCKET = "/var/run/docker.sock"
API_BASE = "http://bench"
IMAGE = IMAGES["python"]
MAIN_PY = b"print('hello from the benchmark')\n"
EXPECTED = "hello from the benchmark\n"
COMMAND = ["python3", "main.py"]
BENCH_OWNER = "b" * 32  # owner label of the raw containers (any hex hash passes the policy)
POLL_S = 0.010  # the ours-dbwait path's SQL poll
WAIT_S = 30  # the ours path's long-poll limit (answers come at the job's events)
LEVELS = (1, 2, 4)
TARGET_LATENCY = 1.2  # ours p50 / raw p50 at most
TARGET_THROUGHPUT = 0.9  # ours jobs/s / raw jobs/s at least
# The output-rate cell (issue 14 item 5): a program printing 4 MiB as fast as it can, in 64 KiB
# writes of 1023-byte lines, the same program raw and as a job. 4 MiB is the default output cap
# exactly, which the cap allows (it stops what goes past it).
OUTPUT_BYTES = 4 * 1024 * 1024
OUTPUT_PROGRAM = (
    "import os\n"
    "block = (b'x' * 1023 + b'\\n') * 64\n"
    f"for _ in range({OUTPUT_BYTES} // len(block)):\n"
    "    view = memoryview(block)\n"
    "    while view:\n"
    "        view = view[os.write(1, view):]\n"
)
OUTPUT_COMMAND = ["python3", "-c", OUTPUT_PROGRAM]
OUTPUT_RUNS = 5  # per path, raw and ours alternated
# Many jobs printing at once (was a 60 s bound in a test): each writes 1,000,000 bytes in 4 KiB
# writes; a figure, with no target.
MANY_JOBS = 40
MANY_BYTES = 1_000_000
MANY_PROGRAM = (
    "import os\n"
    "block = b'm' * 4095 + b'\\n'\n"
    f"left = {MANY_BYTES}\n"
    "while left:\n"
    "    left -= os.write(1, block[:left])\n"
)
TARGET_OUTPUT = 0.8  # ours bytes/s / raw bytes/s at least
MODES = ("raw-volume", "raw-quota", "ours", "ours-dbwait")
# The runtime cells (issue 15 item 3): every sandbox runtime in the same run, runc the baseline.
# Each sandbox goes through the policy proxy (mode "proxy" of RawRunner), whose allow-list the
# bench sets to all of them (OFFCODER_PROXY_RUNTIMES).
RUNTIMES = tuple(SandboxRuntime)
RUNTIME_LATENCY_JOBS = 8  # per runtime, one at a time, the runtimes taking turns
RUNTIME_LANES = 3
RUNTIME_JOBS = 30  # per runtime for the throughput figure (--runtime-jobs)
RUNTIME_ROUNDS = 3  # the throughput's jobs are made in rounds, the runtimes taking turns
RUNTIME_RUNS = 3  # of each program per runtime (--runtime-runs)
RUNTIME_MAX_SECONDS = 240  # the section's cap; gVisor's syscall-heavy runs are the long part
# Both programs print the seconds they took by their own clock (the sandbox's), so that the
# program's time can be read apart from the runtime's start and exit.
# Syscall-heavy: small files on /tmp (the sandbox's tmpfs) opened, written, closed, opened,
# read, closed and stat'ed, and getpid ten times: 17 system calls a round, each a trap into
# gVisor's kernel (over ptrace here) where runc and crun run it on the host kernel. Sized for
# gVisor on ptrace, which takes ~70 us a call here: ~20 s a run there, ~0.1 s under runc.
SYSCALL_ROUNDS = 15_000
SYSCALLS = SYSCALL_ROUNDS * 17
SYSCALL_PROGRAM = (
    "import os, time\n"
    "t0 = time.perf_counter()\n"
    f"for i in range({SYSCALL_ROUNDS}):\n"
    "    path = f'/tmp/f{i % 50}'\n"
    "    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)\n"
    "    os.write(fd, b'x' * 64)\n"
    "    os.close(fd)\n"
    "    fd = os.open(path, os.O_RDONLY)\n"
    "    os.read(fd, 64)\n"
    "    os.close(fd)\n"
    "    os.stat(path)\n"
    "    for _ in range(10):\n"
    "        os.getpid()\n"
    "print(f'{time.perf_counter() - t0:.3f}')\n"
)
# CPU-heavy: pure-Python arithmetic, next to no system calls.
CPU_PROGRAM = (
    "import time\n"
    "t0 = time.perf_counter()\n"
    "total = 0\n"
    "for i in range(15_000_000):\n"
    "    total += i * i % 7\n"
    "print(f'{time.perf_counter() - t0:.3f}')\n"
)
PROGRAMS = {"syscall-heavy": SYSCALL_PROGRAM, "cpu-heavy": CPU_PROGRAM}


# ------------------------------------------------------------------------------- helpers


def guard_network() -> None:
    """Only loopback (and unix sockets): the bench never reaches another address."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host != "localhost" and not (host.startswith("127.") or host == "::1"):
                raise OSError(f"bench tried to reach {host}: only loopback is allowed")
        return real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f}"


@dataclass
class Level:
    mode: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    first_line: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    truncated: bool = False
    job_ids: list[uuid.UUID] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall_s if self.wall_s else float("nan")


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.at


# ------------------------------------------------------------------------------- raw path


@dataclass
class RawJob:
    """One sandbox's lifecycle: its whole time, the time of each phase, and what it printed."""

    total: float
    phases: dict[str, float]
    output: str


class RawRunner:
    """The lifecycle with docker-py, one client per thread.

    Modes: ``raw-volume`` and ``raw-quota`` go straight to the engine (see the module
    docstring); ``proxy`` makes every call through the policy proxy as the worker does, with
    its own `RuntimeClient`: the quota workspace, the create body checked against the policy
    (the deployment's labels and the runtime's allow-list included), the other container calls
    on the proxy's socket, and the remove after which the proxy tears the workspace down.
    """

    def __init__(self, proxy_socket: str) -> None:
        self.proxy_socket = proxy_socket
        self.packed = archive.build([("main.py", MAIN_PY)])
        self._local = threading.local()
        self._deployment: str | None = None  # the proxy's, asked once for all threads

    def _clients(self) -> tuple[Any, httpx.Client]:
        if not hasattr(self._local, "api"):
            self._local.api = docker.APIClient(base_url=f"unix://{ENGINE_SOCKET}", version="1.41")
            self._local.proxy = httpx.Client(
                transport=httpx.HTTPTransport(uds=self.proxy_socket), timeout=120
            )
        return self._local.api, self._local.proxy

    def _runtime_client(self) -> tuple[RuntimeClient, str]:
        """This thread's client on the proxy, and the proxy's deployment id."""
        if not hasattr(self._local, "runtime"):
            self._local.runtime = RuntimeClient(self.proxy_socket)
        client: RuntimeClient = self._local.runtime
        if self._deployment is None:
            self._deployment = client.deployment()
        return client, self._deployment

    def job(
        self,
        mode: str,
        runtime: SandboxRuntime = SandboxRuntime.runc,
        command: list[str] = COMMAND,
        expected: str | None = EXPECTED,
    ) -> RawJob:
        """One sandbox of `command` under `runtime`; it must exit 0 and, unless `expected` is
        None, print exactly `expected`."""
        api, proxy = self._clients()
        client: RuntimeClient | None = None
        deployment = "bench-raw"  # the raw modes never go through a proxy that checks it
        if mode == "proxy":
            client, deployment = self._runtime_client()
            api = client.docker.api  # docker-py on the proxy's socket, as the worker's calls
        job_id = uuid.uuid4()
        volume = f"offcoder-bench-{job_id}"
        marks: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        container_id: str | None = None
        provisioned = False
        try:
            if client is not None:
                mount = client.provision_workspace(job_id)
                provisioned = True
            elif mode == "raw-quota":
                response = proxy.post(f"http://proxy/offcoder/workspaces/{job_id}")
                response.raise_for_status()
                provisioned = True
                mount = response.json()["Mount"]
            else:
                api.create_volume(volume)
                provisioned = True
                mount = {
                    "Type": "volume",
                    "Source": volume,
                    "Target": WORKSPACE,
                    "ReadOnly": False,
                    "VolumeOptions": {"NoCopy": True},
                }
            marks.append(("workspace", time.perf_counter()))
            spec = container_spec(
                image=IMAGE,
                command=command,
                env={},
                job_id=job_id,
                owner_tag=BENCH_OWNER,
                network=NetworkMode.none,
                deployment=deployment,
                workspace_mount=mount,
                runtime=runtime,
            )
            if client is not None:
                container_id = client.create(spec)
            else:
                del spec["Labels"][LABEL_MANAGED]  # see the module docstring
                container_id = api._result(
                    api._post_json(api._url("/containers/create"), data=spec), True
                )["Id"]
            marks.append(("create", time.perf_counter()))
            if not api.put_archive(container_id, WORKSPACE, self.packed):
                raise RuntimeError("put_archive refused")
            marks.append(("put_archive", time.perf_counter()))
            # The output as our worker reads it: attached before start (the hardening sets
            # `LogConfig: none`, so the engine keeps no log to read afterwards).
            pairs = api.attach(
                container_id, stdout=True, stderr=True, stream=True, logs=False, demux=True
            )
            marks.append(("attach", time.perf_counter()))
            api.start(container_id)
            marks.append(("start", time.perf_counter()))
            out = b"".join(piece for piece, _ in pairs if piece).decode()
            marks.append(("output", time.perf_counter()))
            status = api.wait(container_id)["StatusCode"]
            marks.append(("wait", time.perf_counter()))
            if status != 0 or (expected is not None and out != expected):
                raise RuntimeError(f"{mode} job under {runtime} exited {status} with {out[:200]!r}")
        finally:
            if container_id is not None:
                api.remove_container(container_id, force=True)
                marks.append(("remove", time.perf_counter()))
            # Through the proxy, removing the container took its workspace with it.
            if provisioned and (client is None or container_id is None):
                if client is not None:
                    client.teardown_workspace(job_id)
                elif mode == "raw-quota":
                    proxy.delete(f"http://proxy/offcoder/workspaces/{job_id}")
                else:
                    api.remove_volume(volume)
                marks.append(("workspace_teardown", time.perf_counter()))
        phases, previous = {}, t0
        for name, at in marks:
            phases[name] = at - previous
            previous = at
        return RawJob(previous - t0, phases, out)

    def close(self) -> None:
        pass


async def run_raw(
    runner: RawRunner,
    mode: str,
    concurrency: int,
    jobs: int,
    dl: Deadline,
    runtime: SandboxRuntime = SandboxRuntime.runc,
) -> Level:
    level = Level(mode if mode != "proxy" else f"proxy {runtime}", concurrency)
    loop = asyncio.get_running_loop()
    remaining = list(range(jobs))
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=mode) as pool:

        async def lane() -> None:
            while remaining:
                if dl.passed():
                    level.truncated = True
                    return
                remaining.pop()
                try:
                    done = await loop.run_in_executor(pool, runner.job, mode, runtime)
                except Exception as exc:
                    level.failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                level.latencies.append(done.total)
                for name, value in done.phases.items():
                    level.phases[name].append(value)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        level.wall_s = time.perf_counter() - started
    return level


# ------------------------------------------------------------------------------- our path


class Probe:
    """In-process timing of the worker path: wrappers around RuntimeClient and Worker methods.

    Timestamps are time.perf_counter() in this process; the client, the API and the worker
    share it, so they compare directly.
    """

    CLIENT_METHODS = (
        "provision_workspace",
        "create",
        "put_archive",
        "start",
        "wait",
        "inspect",
        "kill",
        "remove",
        "usage",
    )

    def __init__(self) -> None:
        self.events: dict[uuid.UUID, list[tuple[str, float, float]]] = defaultdict(list)
        self.container_job: dict[str, uuid.UUID] = {}
        self.first_piece: dict[uuid.UUID, float] = {}
        self.claimed: dict[uuid.UUID, float] = {}
        # Per job: (commit returned, chunks, characters) of each log store transaction.
        self.stores: dict[uuid.UUID, list[tuple[float, int, int]]] = defaultdict(list)
        self._lock = threading.Lock()

    def _key(self, name: str, args: tuple[Any, ...]) -> uuid.UUID | None:
        if not args:
            return None
        first = args[0]
        if name == "provision_workspace":
            return first  # type: ignore[no-any-return]
        if name == "create":
            return uuid.UUID(first["Labels"][LABEL_JOB_ID])
        return self.container_job.get(first)

    def install(self, worker: Worker) -> None:
        probe = self
        for name in self.CLIENT_METHODS:
            original = getattr(RuntimeClient, name)

            def wrapped(
                self: RuntimeClient, *args: Any, _name: str = name, _orig: Any = original, **kw: Any
            ) -> Any:
                start = time.perf_counter()
                try:
                    result = _orig(self, *args, **kw)
                finally:
                    end = time.perf_counter()
                    key = probe._key(_name, args)
                    if key is not None:
                        with probe._lock:
                            probe.events[key].append((_name, start, end))
                if _name == "create":
                    probe.container_job[result] = uuid.UUID(args[0]["Labels"][LABEL_JOB_ID])
                return result

            setattr(RuntimeClient, name, wrapped)

        original_attach = RuntimeClient.attach

        def attach(self: RuntimeClient, container_id: str) -> Any:
            # Attached here, before the worker starts the container (a generator function
            # would attach only at its first read); the stream yields (stdout, stderr) pairs as
            # the engine reads them, and the first stdout piece is when the program's first line
            # reached the worker.
            key = probe.container_job.get(container_id)
            pairs = original_attach(self, container_id)

            def timed() -> Any:
                for stdout, stderr in pairs:
                    if key is not None and stdout:
                        probe.first_piece.setdefault(key, time.perf_counter())
                    yield stdout, stderr

            return timed()

        RuntimeClient.attach = attach  # type: ignore[method-assign]

        original_store = LogWriter.store

        async def store(self: LogWriter, chunks: list[Any], **kw: Any) -> None:
            await original_store(self, chunks, **kw)
            probe.stores[self.job_id].append(
                (time.perf_counter(), len(chunks), sum(len(c.data) for c in chunks))
            )

        LogWriter.store = store  # type: ignore[method-assign]

        claim = worker._claim

        async def timed_claim() -> Any:
            job = await claim()
            if job is not None:
                probe.claimed[job.id] = time.perf_counter()
            return job

        worker._claim = timed_claim  # type: ignore[method-assign]

    def first(self, job_id: uuid.UUID, name: str) -> tuple[float, float] | None:
        for event, start, end in self.events.get(job_id, []):
            if event == name:
                return start, end
        return None

    def all_of(self, job_id: uuid.UUID, name: str) -> list[tuple[float, float]]:
        return [(s, e) for event, s, e in self.events.get(job_id, []) if event == name]


@dataclass
class Ours:
    api: httpx.AsyncClient
    headers: dict[str, str]
    project_id: str
    probe: Probe
    submitted: dict[uuid.UUID, float] = field(default_factory=dict)
    accepted: dict[uuid.UUID, float] = field(default_factory=dict)
    first_seen: dict[uuid.UUID, float] = field(default_factory=dict)
    ended: dict[uuid.UUID, float] = field(default_factory=dict)

    db: Any = None  # a psycopg AsyncConnection for the "ours-dbwait" path

    async def job(self, via_db: bool = False) -> tuple[uuid.UUID, float, float]:
        t0 = time.perf_counter()
        response = await self.api.post(
            f"/v1/projects/{self.project_id}/jobs", headers=self.headers, json={"command": COMMAND}
        )
        t_accepted = time.perf_counter()
        if response.status_code != 202:
            raise RuntimeError(f"submit answered {response.status_code}: {response.text[:200]}")
        job_id = uuid.UUID(response.json()["id"])
        self.submitted[job_id], self.accepted[job_id] = t0, t_accepted
        if via_db:
            return await self._wait_in_db(job_id, t0)
        # Long-polls, as a client watching a job does: each answer comes when the worker's
        # NOTIFY says the job changed (no request in between).
        while True:  # first log line
            page = await self.api.get(
                f"/v1/jobs/{job_id}/logs", params={"wait_s": WAIT_S}, headers=self.headers
            )
            body = page.json()
            if body["chunks"]:
                t_first = time.perf_counter()
                break
            if body["done"]:
                raise RuntimeError(f"job {job_id} ended with no output")
        while True:  # exit status known
            job = (
                await self.api.get(
                    f"/v1/jobs/{job_id}", params={"wait_s": WAIT_S}, headers=self.headers
                )
            ).json()
            if job["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
                t_end = time.perf_counter()
                break
        self.first_seen[job_id], self.ended[job_id] = t_first, t_end
        if job["status"] != "succeeded" or body["chunks"][0]["data"] != EXPECTED:
            raise RuntimeError(
                f"job {job_id} {job['status']} ({job.get('reason')}): {body['chunks'][:1]}"
            )
        return job_id, t_end - t0, t_first - t0

    async def _wait_in_db(self, job_id: uuid.UUID, t0: float) -> tuple[uuid.UUID, float, float]:
        """The same ends, watched with one indexed query every 10 ms instead of two API calls."""
        t_first: float | None = None
        while True:
            cursor = await self.db.execute(
                "SELECT status, reason, EXISTS (SELECT 1 FROM job_log_chunks c"
                " WHERE c.job_id = j.id) FROM jobs j WHERE j.id = %s",
                (job_id,),
            )
            status, reason, has_chunk = await cursor.fetchone()
            now = time.perf_counter()
            if has_chunk and t_first is None:
                t_first = now
            if status in {"succeeded", "failed", "timed_out", "cancelled"}:
                break
            await asyncio.sleep(POLL_S)
        self.first_seen[job_id], self.ended[job_id] = t_first or now, now
        if status != "succeeded":
            raise RuntimeError(f"job {job_id} {status} ({reason})")
        return job_id, now - t0, (t_first or now) - t0


async def run_ours(
    ours: Ours, concurrency: int, jobs: int, dl: Deadline, *, via_db: bool = False
) -> Level:
    level = Level("ours-dbwait" if via_db else "ours", concurrency)
    remaining = list(range(jobs))

    async def lane() -> None:
        while remaining:
            if dl.passed():
                level.truncated = True
                return
            remaining.pop()
            try:
                job_id, total, first = await ours.job(via_db)
            except Exception as exc:
                level.failures.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            level.job_ids.append(job_id)
            level.latencies.append(total)
            level.first_line.append(first)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    level.wall_s = time.perf_counter() - started
    return level


async def db_figures(ctx: Any, job_ids: list[uuid.UUID]) -> dict[str, Any]:
    """The worker's own timestamps: server-side submit→start/end/first chunk, and the span."""
    if not job_ids:
        return {}
    async with ctx.database.system_session() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT j.created_at, j.started_at, j.finished_at,"
                    " (SELECT min(c.created_at) FROM job_log_chunks c WHERE c.job_id = j.id)"
                    " FROM jobs j WHERE j.id = ANY(:ids)"
                ),
                {"ids": job_ids},
            )
        ).all()
    to_end = [(f - c).total_seconds() for c, _, f, _ in rows if f]
    to_start = [(st - c).total_seconds() for c, st, _, _ in rows if st]
    to_chunk = [(ch - c).total_seconds() for c, _, _, ch in rows if ch]
    span = (max(f for _, _, f, _ in rows) - min(c for c, _, _, _ in rows)).total_seconds()
    return {
        "to_end": to_end,
        "to_start": to_start,
        "to_chunk": to_chunk,
        "rate": len(rows) / span if span > 0 else float("nan"),
    }


def breakdown(ours: Ours, probe: Probe, job_ids: list[uuid.UUID]) -> dict[str, list[float]]:
    """Per-job phases of our path, from the client's and the worker's perf_counter marks."""
    out: dict[str, list[float]] = defaultdict(list)
    for jid in job_ids:
        t0, t_acc, t_end = ours.submitted[jid], ours.accepted[jid], ours.ended[jid]
        claimed = probe.claimed.get(jid)
        prov = probe.first(jid, "provision_workspace")
        create = probe.first(jid, "create")
        put = probe.first(jid, "put_archive")
        start = probe.first(jid, "start")
        wait = probe.first(jid, "wait")
        inspect = probe.all_of(jid, "inspect")
        kill = probe.first(jid, "kill")
        remove = probe.first(jid, "remove")
        usage = probe.all_of(jid, "usage")
        if not all((claimed, prov, create, put, start, wait, remove)):
            continue
        out["POST /jobs round trip (API: auth, RLS checks, insert, NOTIFY, commit)"].append(
            t_acc - t0
        )
        out["submit -> claimed (NOTIFY wake-up + claim transaction)"].append(claimed - t0)
        out["claimed -> provision call (files + secrets under RLS, archive)"].append(
            prov[0] - claimed
        )
        out["provision_workspace (proxy: mkfs + losetup + volume create)"].append(prov[1] - prov[0])
        out["create (proxy: policy check + 2 inspects + forward)"].append(create[1] - create[0])
        out["create -> put_archive call"].append(put[0] - create[1])
        out["put_archive (proxy: fresh ownership inspect + forward)"].append(put[1] - put[0])
        out["start (proxy: forward)"].append(start[1] - start[0])
        out["start -> wait returned (DB: running; the program runs)"].append(wait[1] - start[1])
        if jid in probe.first_piece:
            out["start returned -> first stdout piece in the worker"].append(
                probe.first_piece[jid] - start[1]
            )
        out["wait returned -> remove call (log writer flush, inspect)"].append(remove[0] - wait[1])
        if kill is not None:  # the worker skips killing a sandbox that has exited
            out["kill (proxy round trip)"].append(kill[1] - kill[0])
        out["remove (proxy: engine remove + workspace teardown)"].append(remove[1] - remove[0])
        out["remove returned -> client sees the end (final UPDATE, NOTIFY, reread)"].append(
            t_end - remove[1]
        )
        out["  (stats samples during the job, count)"].append(float(len(usage)))
        out["  (stats sample duration, each)"].extend(e - s for s, e in usage)
        out["  (post-wait inspect)"].extend(e - s for s, e in inspect)
    return out


# ------------------------------------------------------------------------------- output rate


@dataclass
class OutputRun:
    path: str
    seconds: float  # from the start call to the last byte (see output_cell)
    start_s: float  # of which the start call itself
    detail: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s by component, the whole job

    @property
    def rate(self) -> float:
        return OUTPUT_BYTES / self.seconds


def raw_output(hardened: bool) -> OutputRun:
    """The output program straight on the engine: create, attach, start, read to the end.

    Timed from the start call to the end of the attach stream (every byte read by this
    process). `hardened` uses our `container_spec` (CPU, memory and pids limits, read-only root,
    no capabilities, no log file); otherwise the minimum: image, command, network none and no
    log file (`docker run --network none --log-driver none IMAGE python3 -c ...`)."""
    api = docker.APIClient(base_url=f"unix://{ENGINE_SOCKET}", version="1.41")
    job_id = uuid.uuid4()
    labels = {LABEL_JOB_ID: str(job_id), "dev.offcoder.owner": BENCH_OWNER}
    if hardened:
        spec = container_spec(
            image=IMAGE,
            command=OUTPUT_COMMAND,
            env={},
            job_id=job_id,
            owner_tag=BENCH_OWNER,
            network=NetworkMode.none,
            deployment="bench-raw",  # as RawRunner's raw modes: no proxy checks it
        )
        del spec["Labels"][LABEL_MANAGED]  # see the module docstring
    else:
        spec = {
            "Image": IMAGE,
            "Cmd": OUTPUT_COMMAND,
            "AttachStdout": True,
            "AttachStderr": True,
            "Labels": labels,
            "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "none"}},
        }
    container_id: str | None = None
    try:
        container_id = api._result(api._post_json(api._url("/containers/create"), data=spec), True)[
            "Id"
        ]
        pairs = api.attach(
            container_id, stdout=True, stderr=True, stream=True, logs=False, demux=True
        )
        t0 = time.perf_counter()
        api.start(container_id)
        started = time.perf_counter()
        got = 0
        for out, err in pairs:
            got += len(out or b"") + len(err or b"")
        seconds = time.perf_counter() - t0
        status = api.wait(container_id)["StatusCode"]
        if status != 0 or got != OUTPUT_BYTES:
            raise RuntimeError(f"raw output job exited {status} after {got} bytes")
        return OutputRun("raw-hardened" if hardened else "raw", seconds, started - t0)
    finally:
        if container_id is not None:
            api.remove_container(container_id, force=True)
        api.close()


async def ours_output(ours: Ours, ctx: Any) -> OutputRun:
    """The output program as a job: timed from the worker's start call to the commit of the
    transaction that stored its last chunk (probes around `RuntimeClient.start` and
    `LogWriter.store`). The stored bytes are checked against what the program wrote."""
    response = await ours.api.post(
        f"/v1/projects/{ours.project_id}/jobs",
        headers=ours.headers,
        json={"command": OUTPUT_COMMAND, "timeout_s": 120},
    )
    if response.status_code != 202:
        raise RuntimeError(f"submit answered {response.status_code}: {response.text[:200]}")
    job_id = uuid.UUID(response.json()["id"])
    while True:
        job = (
            await ours.api.get(
                f"/v1/jobs/{job_id}", params={"wait_s": WAIT_S}, headers=ours.headers
            )
        ).json()
        if job["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
            break
    if job["status"] != "succeeded":
        raise RuntimeError(f"output job {job_id} {job['status']} ({job.get('reason')})")
    async with ctx.database.system_session() as s:
        count, size = (
            await s.execute(
                text(
                    "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM job_log_chunks"
                    " WHERE job_id = :id"
                ),
                {"id": job_id},
            )
        ).one()
    if size != OUTPUT_BYTES:
        raise RuntimeError(f"output job {job_id} stored {size} of {OUTPUT_BYTES} bytes")
    started = ours.probe.first(job_id, "start")
    stores = ours.probe.stores.get(job_id, [])
    if started is None or not stores:
        raise RuntimeError(f"output job {job_id}: no probe marks")
    seconds = stores[-1][0] - started[0]
    return OutputRun(
        "ours", seconds, started[1] - started[0], f"{count} chunks in {len(stores)} transactions"
    )


async def many_jobs(ours: Ours, ctx: Any) -> tuple[float, int]:
    """MANY_JOBS jobs of MANY_BYTES each, submitted at once: the wall time from the first
    submit to the last end seen (long-polls), and how many bytes were stored in all."""
    started = time.perf_counter()
    job_ids: list[uuid.UUID] = []
    for _ in range(MANY_JOBS):
        response = await ours.api.post(
            f"/v1/projects/{ours.project_id}/jobs",
            headers=ours.headers,
            json={"command": ["python3", "-c", MANY_PROGRAM], "timeout_s": 300},
        )
        if response.status_code != 202:
            raise RuntimeError(f"submit answered {response.status_code}: {response.text[:200]}")
        job_ids.append(uuid.UUID(response.json()["id"]))

    async def ended(job_id: uuid.UUID) -> None:
        while True:
            job = (
                await ours.api.get(
                    f"/v1/jobs/{job_id}", params={"wait_s": WAIT_S}, headers=ours.headers
                )
            ).json()
            if job["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job_id} {job['status']} ({job.get('reason')})")
                return

    await asyncio.gather(*(ended(job_id) for job_id in job_ids))
    wall = time.perf_counter() - started
    async with ctx.database.system_session() as s:
        stored = (
            await s.execute(
                text(
                    "SELECT coalesce(sum(octet_length(data)), 0) FROM job_log_chunks"
                    " WHERE job_id = ANY(:ids)"
                ),
                {"ids": job_ids},
            )
        ).scalar_one()
    return wall, int(stored)


async def output_cell(
    ours: Ours, ctx: Any, runs: int, meter: CpuMeter
) -> dict[str, list[OutputRun]]:
    """Each path `runs` times, alternated so that the shared machine's drift hits all alike."""
    results: dict[str, list[OutputRun]] = defaultdict(list)
    for i in range(runs + 1):  # the first round warms up and is not kept
        for path in ("raw", "raw-hardened", "ours"):
            before = meter.snapshot()
            if path == "ours":
                run = await ours_output(ours, ctx)
            else:
                run = await asyncio.to_thread(raw_output, path == "raw-hardened")
            run.cpu = CpuMeter.delta(before, meter.snapshot())
            if i:
                results[path].append(run)
    return results


def print_output_cell(results: dict[str, list[OutputRun]]) -> float:
    """The cell's figures; the judged ratio: the median over rounds of ours / raw."""
    print(
        f"\nOutput rate: a program writing {OUTPUT_BYTES >> 20} MiB to stdout in 64 KiB writes "
        f"({len(results['ours'])} rounds of the three paths back to back)"
    )
    print("  raw:          engine socket, image + command, network none, no log file;")
    print("                from the start call to the end of the attach stream")
    print("  raw-hardened: the same with our container_spec (limits, read-only root, ...)")
    print("  ours:         a job through the API and worker; from the worker's start call to")
    print("                the commit of the transaction that stored its last chunk")
    for path, runs in results.items():
        rates = [r.rate for r in runs]
        cells = ", ".join(f"{r / 1e6:.1f}" for r in rates)
        start = statistics.median(r.start_s for r in runs)
        rest = statistics.median(r.seconds - r.start_s for r in runs)
        print(
            f"  {path:13} median {statistics.median(rates) / 1e6:5.1f} MB/s (start call "
            f"{1000 * start:4.0f} ms, then {1000 * rest:4.0f} ms)   runs: {cells}"
        )
        for r in runs[:1]:
            if r.detail:
                print(f"  {'':13} ({r.detail})")
    print("  CPU ms per job (the whole job, median), by component:")
    print(f"  {'':34}" + "".join(f"{path:>14}" for path in results))
    for name in next(iter(results.values()))[0].cpu:
        cells = "".join(
            f"{1000 * statistics.median(r.cpu[name] for r in runs):14.0f}"
            for runs in results.values()
        )
        print(f"  {name:34}{cells}")
    # Paired by round: the three paths of a round ran back to back, so the load of the
    # shared machine, which drifts over minutes, weighs on each ratio's two sides alike.
    paired = {
        base: [o.rate / b.rate for o, b in zip(results["ours"], results[base], strict=True)]
        for base in ("raw", "raw-hardened")
    }
    for base, ratios in paired.items():
        cells = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"  ours/{base:13} median {statistics.median(ratios):.2f}x   rounds: {cells}")
    return statistics.median(paired["raw"])


# ------------------------------------------------------------------------------- runtimes


@dataclass
class ProgramRun:
    """One run of a program: from the start call to its exit seen, and by its own clock."""

    seconds: float
    inside: float


@dataclass
class RuntimeCells:
    """What the runtime section measured (see `measure_runtimes`), by runtime."""

    runtimes: list[SandboxRuntime]
    skipped: dict[SandboxRuntime, str]
    latency: dict[SandboxRuntime, Level] = field(default_factory=dict)
    throughput: dict[SandboxRuntime, Level] = field(default_factory=dict)
    programs: dict[tuple[str, SandboxRuntime], list[ProgramRun]] = field(
        default_factory=lambda: defaultdict(list)
    )
    failures: list[str] = field(default_factory=list)
    truncated: bool = False
    wall_s: float = 0.0


def runtimes_offered(proxy_socket: str) -> tuple[list[SandboxRuntime], dict[SandboxRuntime, str]]:
    """The runtimes both on the proxy's allow-list and registered in the engine (for jobs with
    no network); each other one with the reason it is left out."""
    client = RuntimeClient(proxy_socket)
    try:
        allowed, engine = client.runtimes()
    finally:
        client.close()
    offered: list[SandboxRuntime] = []
    skipped: dict[SandboxRuntime, str] = {}
    for runtime in RUNTIMES:
        name = engine_runtime(runtime, NetworkMode.none)
        if runtime.value not in allowed:
            skipped[runtime] = "not on the proxy's allow-list"
        elif name not in engine:
            skipped[runtime] = f"the engine has no runtime {name!r}"
        else:
            offered.append(runtime)
    return offered, skipped


def run_seconds(phases: dict[str, float]) -> float:
    """From the start call to the exit seen: the program's run with the runtime's start and
    stop around it, without the workspace, create, copy and remove."""
    return phases["start"] + phases["output"] + phases["wait"]


async def measure_runtimes(proxy_socket: str, args: argparse.Namespace) -> RuntimeCells:
    """Each sandbox runtime in turn, through the proxy: the lifecycle one at a time, sandboxes/s
    in lanes, and the two programs; runc is the baseline of the same run."""
    runtimes, skipped = await asyncio.to_thread(runtimes_offered, proxy_socket)
    cells = RuntimeCells(runtimes, skipped)
    if SandboxRuntime.runc not in runtimes:
        cells.failures.append(
            f"runc, the baseline, cannot be measured: {skipped[SandboxRuntime.runc]}"
        )
        return cells
    runner = RawRunner(proxy_socket)
    loop = asyncio.get_running_loop()
    dl = Deadline(args.runtime_max_seconds)
    started = time.perf_counter()
    # One thread, so one client, for the sandboxes made one at a time: the lanes' figure is
    # the only one that pays for a client of its own per lane.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="runtimes") as one:

        async def single(
            runtime: SandboxRuntime, command: list[str], expected: str | None
        ) -> RawJob:
            return await loop.run_in_executor(one, runner.job, "proxy", runtime, command, expected)

        # Warm-up, not kept: each runtime's first sandboxes (gVisor's loader and the image's
        # files in its gofer, crun's binary) and the clients' connections.
        for runtime in runtimes:
            for _ in range(2):
                try:
                    await single(runtime, COMMAND, EXPECTED)
                except Exception as exc:
                    cells.failures.append(f"warm-up {runtime}: {type(exc).__name__}: {exc}"[:200])
        # The lifecycle one at a time, the runtimes taking turns, so that the shared machine's
        # drift weighs on each alike.
        for runtime in runtimes:
            cells.latency[runtime] = Level(f"proxy {runtime}", 1)
        for _ in range(args.runtime_latency_jobs):
            for runtime in runtimes:
                level = cells.latency[runtime]
                if dl.passed():
                    level.truncated = True
                    continue
                try:
                    done = await single(runtime, COMMAND, EXPECTED)
                except Exception as exc:
                    level.failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                level.latencies.append(done.total)
                for name, value in done.phases.items():
                    level.phases[name].append(value)
        # Sandboxes/s with lanes in parallel: in rounds, the runtimes taking turns in each,
        # for the same reason; a runtime's figure is its sandboxes over its rounds' wall time.
        for runtime in runtimes:
            cells.throughput[runtime] = Level(f"proxy {runtime}", RUNTIME_LANES)
        for i in range(RUNTIME_ROUNDS):
            share = args.runtime_jobs // RUNTIME_ROUNDS + (i < args.runtime_jobs % RUNTIME_ROUNDS)
            for runtime in runtimes:
                level = await run_raw(runner, "proxy", RUNTIME_LANES, share, dl, runtime)
                total = cells.throughput[runtime]
                total.latencies += level.latencies
                total.failures += level.failures
                total.wall_s += level.wall_s
                total.truncated = total.truncated or level.truncated
        for level in cells.throughput.values():
            print(
                f"   {level.mode:11} c={RUNTIME_LANES}: {level.done:2d} sandboxes in "
                f"{level.wall_s:5.1f} s ({RUNTIME_ROUNDS} rounds), {len(level.failures)} failed"
                + (" (TRUNCATED by the time cap)" if level.truncated else "")
            )
        # The two programs, the runtimes taking turns.
        for _ in range(args.runtime_runs):
            for runtime in runtimes:
                for name, program in PROGRAMS.items():
                    if dl.passed():
                        cells.truncated = True
                        continue
                    try:
                        done = await single(runtime, ["python3", "-c", program], None)
                        inside = float(done.output)
                    except Exception as exc:
                        cells.failures.append(
                            f"{name} {runtime}: {type(exc).__name__}: {exc}"[:200]
                        )
                        continue
                    cells.programs[(name, runtime)].append(
                        ProgramRun(run_seconds(done.phases), inside)
                    )
    cells.wall_s = time.perf_counter() - started
    for level in (*cells.latency.values(), *cells.throughput.values()):
        cells.failures += [f"{level.mode}: {failure}" for failure in level.failures]
        cells.truncated = cells.truncated or level.truncated
    return cells


def print_runtime_cells(cells: RuntimeCells, args: argparse.Namespace) -> None:
    """The runtime table: each figure under each runtime, and its ratio to runc's."""
    runtimes = cells.runtimes
    print(
        f"\nSandbox runtimes: every sandbox through the policy proxy (allow-list "
        f"{', '.join(r.value for r in RUNTIMES)}), container_spec(runtime=...), network none, "
        f"the 500 MB-quota workspace; {cells.wall_s:.0f} s in all"
    )
    for runtime, reason in cells.skipped.items():
        print(f"  {runtime} not measured: {reason}")
    if SandboxRuntime.runc not in runtimes:
        return
    print(
        "  x runc = the runtime's figure / runc's figure in this run (times: above 1 is slower;"
        " sandboxes/s: below 1 is slower)"
    )
    print(f"  {'':50}" + "".join(f"{runtime.value:>9} {'x runc':>6}" for runtime in runtimes))

    def row(label: str, figures: dict[SandboxRuntime, float], unit: float, digits: int) -> None:
        base = figures.get(SandboxRuntime.runc, float("nan"))
        cells_ = "".join(
            f"{figures.get(r, float('nan')) * unit:9.{digits}f} "
            f"{figures.get(r, float('nan')) / base:5.2f}x"
            for r in runtimes
        )
        print(f"  {label:50}{cells_}")

    n = min(len(level.latencies) for level in cells.latency.values())
    row(
        f"lifecycle p50 ms (workspace .. remove, 1 lane, n={n})",
        {r: pct(level.latencies, 50) for r, level in cells.latency.items()},
        1000,
        0,
    )
    for phase in ("workspace", "create", "put_archive", "attach", "start", "output", "wait"):
        row(
            f"  {phase} p50 ms",
            {r: pct(level.phases[phase], 50) for r, level in cells.latency.items()},
            1000,
            0,
        )
    row(
        "  remove (+ the proxy's workspace teardown) p50 ms",
        {r: pct(level.phases["remove"], 50) for r, level in cells.latency.items()},
        1000,
        0,
    )
    row(
        "lifecycle p90 ms",
        {r: pct(level.latencies, 90) for r, level in cells.latency.items()},
        1000,
        0,
    )
    row(
        f"sandboxes/s ({RUNTIME_LANES} lanes, {args.runtime_jobs} per runtime)",
        {r: level.rate for r, level in cells.throughput.items()},
        1,
        2,
    )
    row(
        f"  lifecycle p50 ms in the {RUNTIME_LANES} lanes",
        {r: pct(level.latencies, 50) for r, level in cells.throughput.items()},
        1000,
        0,
    )
    for name in PROGRAMS:
        runs = {r: cells.programs.get((name, r), []) for r in runtimes}
        if not all(runs.values()):
            print(f"  {name}: not every runtime ran it (see the failures)")
            continue
        count = min(len(v) for v in runs.values())
        row(
            f"{name} s, start call .. exit (median of {count})",
            {r: statistics.median(x.seconds for x in v) for r, v in runs.items()},
            1,
            2,
        )
        row(
            f"{name} s, by the program's own clock",
            {r: statistics.median(x.inside for x in v) for r, v in runs.items()},
            1,
            2,
        )
        if name == "syscall-heavy":
            row(
                f"  us per system call ({SYSCALLS:,}, program's clock)",
                {r: statistics.median(x.inside for x in v) / SYSCALLS for r, v in runs.items()},
                1e6,
                2,
            )
        print(
            f"  {'  runs (start call .. exit, s)':50}"
            + "".join(f"{'/'.join(f'{x.seconds:.1f}' for x in v):>16}" for v in runs.values())
        )
    for failure in cells.failures[:6]:
        print(f"  failure: {failure}")


# ------------------------------------------------------------------------------- pieces alone


def measure_pieces(proxy_socket: str, n: int) -> dict[str, list[float]]:
    """Workspace provisioning and the proxy's per-request cost, measured on their own."""
    out: dict[str, list[float]] = defaultdict(list)
    mkfs, losetup = (
        shutil.which("mkfs.ext4", path="/usr/sbin:/sbin:/usr/bin"),
        shutil.which("losetup", path="/usr/sbin:/sbin:/usr/bin"),
    )
    with tempfile.TemporaryDirectory(prefix="offcoder-bench-img-") as d:
        for i in range(n if mkfs and losetup else 0):
            image = Path(d) / f"{i}.img"
            with image.open("wb") as f:
                f.truncate(IMAGE_BYTES)
            t0 = time.perf_counter()
            subprocess.run([mkfs, *MKFS_OPTIONS, str(image)], check=True)  # noqa: S603
            t1 = time.perf_counter()
            dev = (
                subprocess.run(  # noqa: S603
                    [losetup, "--find", "--show", str(image)], check=True, capture_output=True
                )
                .stdout.decode()
                .strip()
            )
            t2 = time.perf_counter()
            subprocess.run([losetup, "--detach", dev], check=True)  # noqa: S603
            t3 = time.perf_counter()
            image.unlink()
            out["mkfs.ext4 of the 520 MB image"].append(t1 - t0)
            out["losetup --find --show"].append(t2 - t1)
            out["losetup --detach"].append(t3 - t2)
    with httpx.Client(transport=httpx.HTTPTransport(uds=proxy_socket), timeout=60) as proxy:
        for _ in range(n):
            job_id = uuid.uuid4()
            t0 = time.perf_counter()
            proxy.post(f"http://proxy/offcoder/workspaces/{job_id}").raise_for_status()
            t1 = time.perf_counter()
            proxy.delete(f"http://proxy/offcoder/workspaces/{job_id}").raise_for_status()
            t2 = time.perf_counter()
            out["proxy POST /offcoder/workspaces (provision)"].append(t1 - t0)
            out["proxy DELETE /offcoder/workspaces (teardown)"].append(t2 - t1)
        with httpx.Client(transport=httpx.HTTPTransport(uds=ENGINE_SOCKET), timeout=60) as engine:
            for _ in range(n * 5):
                t0 = time.perf_counter()
                engine.get("http://docker/v1.41/_ping").raise_for_status()
                t1 = time.perf_counter()
                proxy.get("http://docker/v1.41/_ping").raise_for_status()
                t2 = time.perf_counter()
                out["GET /_ping straight to the engine"].append(t1 - t0)
                out["GET /_ping through the proxy"].append(t2 - t1)
    return out


class CpuMeter:
    """CPU seconds (user + system) spent by each component, read from /proc through psutil.

    Short-lived processes (containerd shims, runc) are not counted where they are not reaped by
    a measured parent; the machine-wide busy time is printed for scale (other users' load on a
    shared engine is in it).
    """

    def __init__(self, proxy_socket: str, postmaster_pid: int | None) -> None:
        self.procs: dict[str, list[psutil.Process]] = defaultdict(list)
        self.procs["bench process (API + worker)"].append(psutil.Process())
        for proc in psutil.process_iter(["cmdline", "name"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if proxy_socket in cmd and "docker-proxy" in cmd:
                self.procs["docker proxy"].append(proc)
            elif proc.info["name"] == "dockerd":
                self.procs["dockerd (shared: all users)"].append(proc)
            elif proc.info["name"] == "containerd":
                self.procs["containerd (shared)"].append(proc)
        if postmaster_pid:
            self.postmaster: psutil.Process | None = psutil.Process(postmaster_pid)
        else:
            self.postmaster = None

    @staticmethod
    def _cpu(proc: psutil.Process, children: bool) -> float:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return 0.0
        own = t.user + t.system
        return own + (t.children_user + t.children_system if children else 0.0)

    def snapshot(self) -> dict[str, float]:
        out = {
            name: sum(self._cpu(p, name != "bench process (API + worker)") for p in procs)
            for name, procs in self.procs.items()
        }
        if self.postmaster is not None:
            total = self._cpu(self.postmaster, True)
            with contextlib.suppress(psutil.Error):
                total += sum(self._cpu(c, False) for c in self.postmaster.children())
            out["postgres (the bench's)"] = total
        busy = psutil.cpu_times()
        out["whole machine (busy, all users)"] = sum(busy) - busy.idle - busy.iowait
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


# ------------------------------------------------------------------------------- set-up


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@contextlib.asynccontextmanager
async def stack(state_dir: Path, issuer: str, proxy_socket: str) -> AsyncIterator[Any]:
    settings = Settings(
        env=Environment.test,
        state_dir=state_dir,
        public_url=API_BASE,
        oidc_issuer=issuer,
        oidc_client_id="offcoder-bench",
        oidc_client_secret="bench-client-secret",  # type: ignore[arg-type]  # noqa: S106
        redirect_uris=[REDIRECT_URI],
        docker_proxy_socket=proxy_socket,
        job_max_queued_per_user=MANY_JOBS,  # the many-jobs figure queues them all at once
    )
    prepared = await asyncio.to_thread(prepare, settings)
    ctx = build_context(settings, prepared)
    worker = Worker(ctx.settings, ctx.database, ctx.keyring)
    probe = Probe()
    probe.install(worker)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    transport = httpx.ASGITransport(app=create_app(ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=API_BASE) as api:
            yield api, ctx, worker, probe, prepared
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        await ctx.database.dispose()
        if prepared.embedded is not None:  # stop PostgreSQL before its directory goes
            prepared.embedded.cleanup()


def leftovers(tmp: Path) -> list[str]:
    """Bench containers, volumes or loop devices still there after the run (loops detached).

    A sandbox removed behind the proxy's back (another deployment's reconciler on a shared
    engine) leaves its workspace's loop device attached: those are reported and detached here.
    """
    loops: list[str] = []
    losetup = shutil.which("losetup", path="/usr/sbin:/sbin:/usr/bin")
    if losetup:
        listing = subprocess.run(  # noqa: S603
            [losetup, "--noheadings", "-O", "NAME,BACK-FILE"], capture_output=True, text=True
        ).stdout
        for line in listing.splitlines():
            dev, _, backing = line.strip().partition(" ")
            if backing.strip().startswith(str(tmp)):
                subprocess.run([losetup, "--detach", dev], check=False)  # noqa: S603
                loops.append(f"{dev} (detached now)")
    client = docker.APIClient(base_url=f"unix://{ENGINE_SOCKET}", version="1.41")
    try:
        found = [
            c["Id"][:12]
            for c in client.containers(all=True, filters={"label": f"{LABEL_JOB_ID}"})
            if (c.get("Labels") or {}).get("dev.offcoder.owner") == BENCH_OWNER
        ]
        volumes = client.volumes(filters={"name": "offcoder-bench-"}).get("Volumes") or []
        return found + [v["Name"] for v in volumes] + loops
    finally:
        client.close()


def engine_activity() -> str:
    client = docker.APIClient(base_url=f"unix://{ENGINE_SOCKET}", version="1.41")
    try:
        running = len(client.containers())
        return f"{running} container(s) running on the engine (others' included)"
    finally:
        client.close()


# ------------------------------------------------------------------------------- report


def table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'':72} {'n':>4} {'p50 ms':>7} {'p90 ms':>7}")
    for name, values in rows.items():
        if name.endswith("count)"):
            print(f"  {name:72} {len(values):4d} {statistics.median(values):7.1f}")
        else:
            print(f"  {name:72} {len(values):4d} {ms(pct(values, 50))} {ms(pct(values, 90))}")


def quiet() -> None:
    """Errors only on stderr: the figures stay readable."""
    logs.configure(stream=sys.__stderr__, level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def latency_row(label: str, values: list[float]) -> None:
    print(f"  {label:44} {len(values):3d} {ms(pct(values, 50))} {ms(pct(values, 90))}")


@dataclass
class Lifecycle:
    """What the lifecycle levels measured (see `measure_lifecycle`)."""

    results: dict[tuple[str, int], Level]
    cpu: dict[tuple[str, int], dict[str, float]]
    db: dict[tuple[str, int], dict[str, Any]]
    phases: dict[str, dict[str, list[float]]]
    pieces: dict[str, list[float]]


async def measure_lifecycle(
    args: argparse.Namespace,
    api: httpx.AsyncClient,
    ctx: Any,
    prepared: Any,
    proxy_socket: str,
    ours: Ours,
    user: Any,
) -> Lifecycle:
    """The job lifecycle, raw and ours, at each level; then the pieces measured alone."""
    probe = ours.probe
    dl = Deadline(args.max_seconds)
    modes = MODES
    results: dict[tuple[str, int], Level] = {}
    url = ctx.database.system_engine.url.set(drivername="postgresql")
    ours.db = await psycopg.AsyncConnection.connect(
        url.render_as_string(hide_password=False), autocommit=True
    )
    raw = RawRunner(proxy_socket)
    embedded = prepared.embedded
    meter = CpuMeter(proxy_socket, embedded.get_pid() if embedded is not None else None)
    cpu: dict[tuple[str, int], dict[str, float]] = {}
    runners: dict[str, Callable[[int, int, Deadline], Awaitable[Level]]] = {
        "raw-volume": lambda c, n, d: run_raw(raw, "raw-volume", c, n, d),
        "raw-quota": lambda c, n, d: run_raw(raw, "raw-quota", c, n, d),
        "ours": lambda c, n, d: run_ours(ours, c, n, d),
        "ours-dbwait": lambda c, n, d: run_ours(ours, c, n, d, via_db=True),
    }
    try:
        # Warm-up: the image in the page cache, the pools open, code paths hot.
        for mode in modes:
            await runners[mode](1, 2, Deadline(120))
        # The paths interleaved per level, so that drift hits all of them alike.
        for c in LEVELS:
            for mode in modes:
                before = meter.snapshot()
                level = await runners[mode](c, args.jobs, dl)
                cpu[(mode, c)] = CpuMeter.delta(before, meter.snapshot())
                results[(mode, c)] = level
                note = " (TRUNCATED by the time cap)" if level.truncated else ""
                print(
                    f"   {mode:11} c={c}: {level.done:2d} jobs in {level.wall_s:5.1f} s, "
                    f"{len(level.failures)} failed{note}"
                )
                for failure in level.failures[:3]:
                    print(f"      failure: {failure}")
    finally:
        await ours.db.close()
    db = {
        (m, c): await db_figures(ctx, results[(m, c)].job_ids)
        for m in ("ours", "ours-dbwait")
        for c in LEVELS
    }
    phases = {m: breakdown(ours, probe, results[(m, 1)].job_ids) for m in ("ours", "ours-dbwait")}
    print(f"   after: {engine_activity()}")
    pieces = await asyncio.to_thread(measure_pieces, proxy_socket, args.pieces)
    last = results[("ours", 1)].job_ids[-1]
    for path, label in (
        (f"/v1/jobs/{last}", "GET /v1/jobs/{id} (idle stack, in-process)"),
        (f"/v1/jobs/{last}/logs", "GET /v1/jobs/{id}/logs (idle stack)"),
    ):
        for _ in range(args.pieces * 5):
            t0 = time.perf_counter()
            (await api.get(path, headers=user.headers)).raise_for_status()
            pieces[label].append(time.perf_counter() - t0)
    return Lifecycle(results, cpu, db, phases, pieces)


def print_lifecycle(run: Lifecycle) -> tuple[float, float]:
    """The lifecycle figures; the p50 latency ratio and the worst throughput ratio."""
    results, cpu, db, phases, pieces = run.results, run.cpu, run.db, run.phases, run.pieces
    modes = MODES
    r1, q1, o1, w1 = (results[(m, 1)] for m in modes)
    print(f"\nLatency at concurrency 1 (ms){'':19} n     p50     p90")
    latency_row("raw-volume  volume create .. volume remove", r1.latencies)
    latency_row("raw-quota   provision .. teardown", q1.latencies)
    latency_row("ours        submit -> ended (long-poll)", o1.latencies)
    latency_row("ours        submit -> first line (long-poll)", o1.first_line)
    latency_row("ours-dbwait submit -> ended (SQL /10 ms)", w1.latencies)
    latency_row("ours-dbwait submit -> first chunk stored", w1.first_line)
    for m in ("ours", "ours-dbwait"):
        d1 = db[(m, 1)]
        if d1:
            latency_row(f"{m:11} DB created_at -> finished_at", d1["to_end"])
            latency_row(f"{m:11} DB created_at -> started_at", d1["to_start"])
            latency_row(f"{m:11} DB created_at -> 1st chunk", d1["to_chunk"])
    raw50, raw90 = pct(q1.latencies, 50), pct(q1.latencies, 90)
    ratio50, ratio90 = pct(o1.latencies, 50) / raw50, pct(o1.latencies, 90) / raw90
    print(
        f"  ratio ours/raw-quota: p50 {ratio50:.2f}x, p90 {ratio90:.2f}x; "
        f"ours-dbwait/raw-quota p50 {pct(w1.latencies, 50) / raw50:.2f}x; "
        f"ours/raw-volume p50 {pct(o1.latencies, 50) / pct(r1.latencies, 50):.2f}x"
    )

    print("\nThroughput (jobs/s)")
    print(
        f"  {'c':>2} {'raw-volume':>11} {'raw-quota':>10} {'ours':>8} {'ours-dbwait':>12} "
        f"{'ours/raw-quota':>15} {'dbwait/raw-q':>13}   p50 ms: raw-q   ours  dbwait"
    )
    throughput: dict[int, float] = {}
    for c in LEVELS:
        rv, rq, oo, ow = (results[(m, c)] for m in modes)
        throughput[c] = oo.rate / rq.rate
        print(
            f"  {c:2d} {rv.rate:11.2f} {rq.rate:10.2f} {oo.rate:8.2f} {ow.rate:12.2f} "
            f"{throughput[c]:14.2f}x {ow.rate / rq.rate:12.2f}x   "
            f"{ms(pct(rq.latencies, 50))} {ms(pct(oo.latencies, 50))} "
            f"{ms(pct(ow.latencies, 50))}"
        )

    for c in (1, LEVELS[-1]):
        print(f"\nCPU ms per job at concurrency {c}, by component")
        print(f"  {'':34}" + "".join(f"{m:>13}" for m in modes))
        for name in cpu[(modes[0], c)]:
            cells = "".join(
                f"{1000 * cpu[(m, c)][name] / max(results[(m, c)].done, 1):13.0f}" for m in modes
            )
            print(f"  {name:34}{cells}")

    table("Raw-quota phases at concurrency 1", dict(q1.phases))
    table("Raw-volume phases at concurrency 1", dict(r1.phases))
    for m in ("ours", "ours-dbwait"):
        table(f"{m} at concurrency 1, where the time goes (worker probes)", phases[m])
    table("Pieces measured alone", pieces)
    return ratio50, min(throughput.values())


async def main(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("bench/jobs.py needs root: the Docker proxy makes loop devices for workspaces")
        return 2
    guard_network()
    quiet()
    runtime_cell = (
        f"the runtime cells ({', '.join(r.value for r in RUNTIMES)}; "
        f"{args.runtime_jobs} sandboxes per runtime in {RUNTIME_LANES} lanes)"
    )
    if args.only == "output":
        print(f"== OffCoder job benchmark, the output-rate cell only ({args.output_runs} runs)")
    elif args.only == "runtimes":
        print(f"== OffCoder job benchmark, {runtime_cell} only")
    else:
        print(
            f"== OffCoder job benchmark: {args.jobs} jobs per path and level, levels {LEVELS}, "
            f"cap {args.max_seconds:.0f} s; the output-rate cell ({args.output_runs} runs); "
            f"{runtime_cell}"
        )
    print(f"   host: {os.cpu_count()} CPUs, {platform.platform()}; image {IMAGE}")
    if args.only != "runtimes":
        print(
            f"   API in-process (httpx ASGITransport), one Worker in the same event loop "
            f"(worker_concurrency {Settings.model_fields['worker_concurrency'].default})"
        )
    print(f"   before: {engine_activity()}")
    output_results: dict[str, list[OutputRun]] | None = None
    many_wall, many_stored = 0.0, 0
    lifecycle: Lifecycle | None = None
    runtime_cells: RuntimeCells | None = None
    with contextlib.ExitStack() as stack_:
        tmp = Path(stack_.enter_context(tempfile.TemporaryDirectory(prefix="offcoder-bench-")))
        os.environ["OFFCODER_PROXY_STATE_DIR"] = str(tmp / "workspaces")
        # The runtime cells create under each runtime; the other cells' sandboxes name runc.
        os.environ["OFFCODER_PROXY_RUNTIMES"] = ",".join(r.value for r in RUNTIMES)
        proxy_socket = stack_.enter_context(docker_proxy(tmp))
        if args.only != "runtimes":
            issuer = stack_.enter_context(oidc_provider())
            quiet()
            t_setup = time.perf_counter()
            async with stack(tmp, issuer, proxy_socket) as (api, ctx, _worker, probe, prepared):
                user = await sign_in(api)
                project = (
                    await api.post("/v1/projects", headers=user.headers, json={"name": "bench"})
                ).json()
                put = await api.put(
                    f"/v1/projects/{project['id']}/files/main.py",
                    headers=user.headers,
                    content=MAIN_PY,
                )
                put.raise_for_status()
                print(
                    f"   set-up (PostgreSQL, migrations, proxy, sign-in): "
                    f"{time.perf_counter() - t_setup:.1f} s"
                )
                ours = Ours(api, user.headers, str(project["id"]), probe)
                embedded = prepared.embedded
                meter = CpuMeter(proxy_socket, embedded.get_pid() if embedded is not None else None)
                # First, on an engine not yet busy with the levels' containers.
                output_results = await output_cell(ours, ctx, args.output_runs, meter)
                many_wall, many_stored = await many_jobs(ours, ctx)
                if args.only != "output":
                    lifecycle = await measure_lifecycle(
                        args, api, ctx, prepared, proxy_socket, ours, user
                    )
        # Last, with the worker and PostgreSQL stopped: only the proxy is needed.
        if args.only in ("all", "runtimes"):
            runtime_cells = await measure_runtimes(proxy_socket, args)
        stray = leftovers(tmp)

    failures, truncated = 0, False
    if lifecycle is not None:
        ratio50, worst = print_lifecycle(lifecycle)
        failures = sum(len(level.failures) for level in lifecycle.results.values())
        truncated = any(level.truncated for level in lifecycle.results.values())
    output_ratio: float | None = None
    if output_results is not None:
        output_ratio = print_output_cell(output_results)
        print(
            f"\nMany jobs at once: {MANY_JOBS} jobs writing {MANY_BYTES:,} bytes each, submitted "
            f"together (worker_concurrency {Settings.model_fields['worker_concurrency'].default}): "
            f"{many_wall:.1f} s from the first submit to the last end seen, "
            f"{many_stored / many_wall / 1e6:.1f} MB/s stored; "
            f"{many_stored:,} of {MANY_JOBS * MANY_BYTES:,} bytes stored"
        )
        failures += many_stored != MANY_JOBS * MANY_BYTES
    if runtime_cells is not None:
        print_runtime_cells(runtime_cells, args)
        failures += len(runtime_cells.failures)
        truncated = truncated or runtime_cells.truncated
    if output_ratio is not None:
        print("\nTargets (ours, as a client watching through the API sees it):")
        if lifecycle is not None:
            print(
                f"  p50 within {TARGET_LATENCY}x of raw-quota:            {ratio50:.2f}x  "
                f"{'PASS' if ratio50 <= TARGET_LATENCY else 'MISS'}"
            )
            print(
                f"  throughput within {TARGET_THROUGHPUT}x of raw-quota:     "
                f"worst level {worst:.2f}x  {'PASS' if worst >= TARGET_THROUGHPUT else 'MISS'}"
            )
        print(
            f"  output bytes/s at least {TARGET_OUTPUT}x of raw:        {output_ratio:.2f}x  "
            f"{'PASS' if output_ratio >= TARGET_OUTPUT else 'MISS'}"
        )
    print(
        f"\n  failed jobs: {failures}; truncated by the cap: {truncated}; "
        f"left on the engine: {stray or 'nothing'}"
    )
    return 0 if failures == 0 and not stray else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="jobs per path and level (20)")
    parser.add_argument("--max-seconds", type=float, default=300, help="cap on the levels (300)")
    parser.add_argument("--pieces", type=int, default=10, help="repeats of the pieces alone (10)")
    parser.add_argument(
        "--output-runs", type=int, default=OUTPUT_RUNS, help=f"output-rate runs ({OUTPUT_RUNS})"
    )
    parser.add_argument(
        "--runtime-jobs",
        type=int,
        default=RUNTIME_JOBS,
        help=f"sandboxes per runtime in the throughput lanes ({RUNTIME_JOBS})",
    )
    parser.add_argument(
        "--runtime-latency-jobs",
        type=int,
        default=RUNTIME_LATENCY_JOBS,
        help=f"sandboxes per runtime made one at a time ({RUNTIME_LATENCY_JOBS})",
    )
    parser.add_argument(
        "--runtime-runs",
        type=int,
        default=RUNTIME_RUNS,
        help=f"runs of each program per runtime ({RUNTIME_RUNS})",
    )
    parser.add_argument(
        "--runtime-max-seconds",
        type=float,
        default=RUNTIME_MAX_SECONDS,
        help=f"cap on the runtime cells ({RUNTIME_MAX_SECONDS})",
    )
    parser.add_argument(
        "--only",
        choices=("all", "output", "runtimes"),
        default="all",
        help="'output': the output-rate cell alone; 'runtimes': the runtime cells alone",
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
