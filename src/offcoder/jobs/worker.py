"""The job loop: claims queued jobs and runs each in its sandbox, a few at a time (C6).

A job's way: `repository.claim` (FOR UPDATE SKIP LOCKED on the job row, which is the queue
entry) → a `SandboxRun` (jobs/sandbox.py) provisions while this worker reads the project's
files and opens its secrets under the owner's RLS → the sandbox runs, its output stored by a
`LogWriter` → `repository.finish` ends the job with the sandbox's `Outcome`.

The worker hears its signals (realtime/signals.py) on one LISTEN connection: a queued job wakes
the claim loop, and a cancel names its job, so only the supervision of that job, on the worker
running it, rereads that one row and stops the sandbox; every other worker drops it in a
dictionary lookup. The loop also claims every second and the heartbeat re-checks its jobs'
cancels, so a signal lost while the connection was down costs at most a heartbeat.

A worker that dies mid-job is noticed by its missing heartbeat (`reconcile`, run by the worker
host): the job ends `failed` with reason `worker_lost`, and whatever its sandbox had come to
hold (container, gateway, network, workspace) is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy import select

from offcoder.config import Settings
from offcoder.crypto.keyring import Keyring
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.dependencies import repository as dependency_volumes
from offcoder.dependencies import runtime as dependencies
from offcoder.dependencies.ecosystems import for_image
from offcoder.jobs import archive, repository
from offcoder.jobs.cpu import cpu_cap, job_runtime, plan_of
from offcoder.jobs.logwriter import LogWriter
from offcoder.jobs.models import Job, JobKind, JobStatus
from offcoder.jobs.outcome import EndReason, Outcome
from offcoder.jobs.sandbox import SandboxInputs, SandboxPlan, SandboxRun
from offcoder.logs import SensitiveHold
from offcoder.previews.labels import ensure_label, preview_environment, preview_url
from offcoder.projects import service as projects
from offcoder.projects.models import Project, ProjectFile
from offcoder.realtime.signals import RECONNECT, JobSignal, Signals
from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.client import RuntimeClient, RuntimeUnavailable
from offcoder.runtime.policy import LABEL_JOB_ID, NetworkMode, owner_tag
from offcoder.users.models import User

# The plan statuses that give a user their plan's CPU cap (Stripe's names; a grant is active).
log = structlog.get_logger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: Keyring,
        *,
        worker_id: str | None = None,
        signals: Signals | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.keyring = keyring
        self.worker_id = worker_id or new_worker_id()
        # Queued jobs and cancels, heard in the system role like every other read of ours.
        self.signals = signals or Signals.for_workers(database.system_engine.url)
        self._runs: dict[uuid.UUID, SandboxRun] = {}
        self._cancel_checks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._owner_key = hashlib.sha256(
            b"offcoder-owner-tag:" + keyring.primary_key_id.encode()
        ).digest()
        self._client: RuntimeClient | None = None
        self._unknown_logged: set[uuid.UUID] = set()

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Take jobs until `stop` is set; then finish nothing new and leave running ones to end.

        The reconciler (`reconcile`) is run beside this loop by the worker host, as a periodic
        task (worker/host.py)."""
        log.info("worker started", worker_id=self.worker_id)
        self.signals.on_wake(self._wake.set)
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                while len(tasks) < self.settings.worker_concurrency:
                    job = await self._claim()
                    if job is None:
                        break
                    task = asyncio.create_task(self._execute(job))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            for run in self._runs.values():
                run.stop(EndReason.worker_stopped)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, *self._cancel_checks, return_exceptions=True)
            await self.signals.close()
            if self._client is not None:
                self._client.close()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.settings.worker_heartbeat_s)
            if not self._runs:
                continue
            try:
                # The fallback for a cancel whose signal was lost: the beat reads the flag too.
                cancelled = await repository.heartbeat(
                    self.database, self.worker_id, list(self._runs)
                )
            except Exception as exc:
                log.warning("heartbeat failed", error=str(exc))
                continue
            for job_id in cancelled:
                self._stop_cancelled(job_id)

    def _watch(self, job_id: uuid.UUID) -> Callable[[], None]:
        """Hear the job's cancel (and, after a gap in listening, re-check it); the unwatch."""

        def heard(kind: str) -> None:
            if kind in (JobSignal.cancel, RECONNECT):
                check = asyncio.get_running_loop().create_task(self._check_cancel(job_id))
                self._cancel_checks.add(check)
                check.add_done_callback(self._cancel_checks.discard)

        return self.signals.listen(job_id, heard)

    async def _check_cancel(self, job_id: uuid.UUID) -> None:
        """Stop the job if its row says its cancel was asked (a signal is a hint, the row is the
        truth)."""
        run = self._runs.get(job_id)
        if run is None or run.stop_reason is not None:
            return
        try:
            if await repository.cancel_requested(self.database, job_id):
                self._stop_cancelled(job_id)
        except Exception as exc:  # the heartbeat re-checks
            log.warning("cancel check failed", job_id=str(job_id), error=str(exc))

    def _stop_cancelled(self, job_id: uuid.UUID) -> None:
        run = self._runs.get(job_id)
        if run is not None:
            run.stop(EndReason.cancelled)

    def _runtime(self) -> RuntimeClient:
        if self._client is None:
            self._client = RuntimeClient(self.settings.docker_proxy_socket)
        return self._client

    async def _claim(self) -> Job | None:
        return await repository.claim(
            self.database, self.worker_id, self.settings.job_max_running_per_user
        )

    # ------------------------------------------------------------------ one job

    def _plan(self, job: Job) -> SandboxPlan:
        settings = self.settings
        # An install reaches the package registries only, and writes a new dependency layer.
        installs = for_image(job.image) if job.kind == JobKind.install else None
        return SandboxPlan(
            job_id=job.id,
            network=NetworkMode(job.network),
            ports=list(job.ports),
            timeout_s=job.timeout_s,
            output_cap=settings.job_max_log_bytes,
            egress_allow_hosts=list(
                settings.dependency_registry_hosts if installs else settings.egress_allow_hosts
            ),
            egress_extra_ports=list(
                settings.dependency_registry_ports if installs else settings.egress_extra_ports
            ),
            layer_target=installs.mount if installs else None,
        )

    async def _execute(self, job: Job) -> None:
        preview_label: list[str] = []  # the project's (previews/labels.py), once it is read
        # The job's secret values are masked in our logs from the moment they are opened until
        # the job has ended, and then let go: the worker outlives every job (R3).
        secrets_held = SensitiveHold()
        installs = for_image(job.image) if job.kind == JobKind.install else None
        installed: list[str | None] = []  # the hash of the manifest an install read

        async def load() -> SandboxInputs:
            async with self.database.user_session(job.user_id) as s:
                environment = await projects.secret_environment(
                    s, self.keyring, job.user_id, job.project_id, secrets_held
                )
                rows = await s.execute(
                    select(ProjectFile.path, ProjectFile.content).where(
                        ProjectFile.user_id == job.user_id,
                        ProjectFile.project_id == job.project_id,
                    )
                )
                files = [(path, content) for path, content in rows]
                handle = await s.scalar(select(User.handle).where(User.id == job.user_id))
                # Read when the job starts: a plan changed since the submit counts.
                plan = await plan_of(s, job.user_id)
                project = await s.get(Project, job.project_id)
                if job.network == NetworkMode.preview.value and project is not None and handle:
                    preview_label.append(await ensure_label(s, self.database, project, handle))
                layer, layer_bytes = None, 0
                if installs is None:
                    layer = await dependencies.layer_for_run(
                        s, job.user_id, job.project_id, job.image
                    )
                else:
                    layer_bytes = await dependencies.install_cap(s, self.settings, job, installs)
            if installs is not None:
                installed.append(installs.manifest_sha256(dict(files)))
                # Ours win over secrets of the same name, like the gateway's variables.
                environment |= installs.install_environment(self.settings)
            elif layer is not None:
                environment |= layer.environment
            if preview_label:
                environment |= preview_environment(self.settings, preview_label[0])
            return SandboxInputs(
                image=IMAGES[job.image],
                command=list(job.command),
                environment=environment,
                archive=archive.build(files),
                owner_tag=owner_tag(job.user_id, self._owner_key),
                project_id=job.project_id,
                layer_mount=layer.mount if layer is not None else None,
                layer_bytes=layer_bytes,
                nano_cpus=cpu_cap(self.settings, plan),
                runtime=job_runtime(self.settings, plan),
            )

        async def on_created(container_id: str) -> None:
            await repository.note(self.database, job.id, container_id=container_id)

        async def on_started(published: dict[str, int]) -> None:
            running: dict[str, object] = {
                "status": JobStatus.running.value,
                "started_at": utcnow(),
            }
            if job.network == NetworkMode.preview.value:
                running["published_ports"] = published
                running["preview_url"] = (
                    preview_url(self.settings, preview_label[0]) if preview_label else None
                )
            await repository.note(self.database, job.id, **running)

        started = time.monotonic()
        run: SandboxRun | None = None
        unwatch: Callable[[], None] | None = None
        try:
            # Inside the try: a row this worker cannot read (a bad network value) still ends
            # the job as our failure instead of leaving it `starting` until it is taken for lost.
            cap = self.settings.job_max_log_bytes
            logs = LogWriter(
                self.database,
                job.id,
                job.user_id,
                cap,
                backlog_bytes=self.settings.job_output_backlog_bytes,
            )
            run = SandboxRun(
                self._runtime(), self._plan(job), logs, on_created=on_created, on_started=on_started
            )
            # Watched in the same step that made the run, so a cancel heard from here on finds
            # it; one heard between the claim's commit and this step is the heartbeat's to catch.
            self._runs[job.id] = run
            unwatch = self._watch(job.id)
            if installs is not None:
                # Listed before the proxy makes it: however this ends, the layer is ours to
                # remove (dependencies/repository.py).
                await dependency_volumes.record(self.database, job.id)
            outcome = await run.run(load)
        except RuntimeUnavailable as exc:
            outcome = Outcome(JobStatus.failed, None, EndReason.runtime_unavailable, str(exc))
        except Exception as exc:
            log.exception("job failed in the worker", job_id=str(job.id))
            outcome = Outcome(JobStatus.failed, None, EndReason.internal_error, type(exc).__name__)
        finally:
            if unwatch is not None:
                unwatch()
            self._runs.pop(job.id, None)
            secrets_held.release()
        if installs is not None:
            outcome = await dependencies.settle_install(
                self.database, self._client, job, outcome, installed[0] if installed else None
            )
        usage = {"wall_ms": int((time.monotonic() - started) * 1000)}
        usage |= run.usage if run is not None else {}
        had_sandbox = run is not None and run.container_id is not None
        if await repository.finish(self.database, job, outcome, usage, had_sandbox=had_sandbox):
            log.info(
                "job ended", job_id=str(job.id), status=outcome.status.value, reason=outcome.reason
            )

    # ------------------------------------------------------------------ recovery

    async def reconcile(self) -> None:
        """End jobs whose worker stopped beating; remove what ended jobs left on the engine.

        The proxy shows only this deployment's objects (its deployment label, C2): containers,
        and the jobs holding anything at all (a network, a gateway, a workspace volume or
        image), since a worker killed before `create` leaves no container (C6). They are listed
        before the live jobs are read: an object exists only once its job was claimed, so a job
        started meanwhile is always seen as live. Only jobs this database knows to have ended
        are cleaned up; objects of a job it does not know (an erased account mid-job, or a
        second database wrongly given this deployment's id) are left alone and logged once.
        """
        client = self._runtime()
        containers = await asyncio.to_thread(client.managed_containers)
        held = await asyncio.to_thread(client.jobs_with_objects)
        sandboxes: dict[uuid.UUID, list[str]] = {}
        for container in containers:
            with contextlib.suppress(ValueError):
                job_id = uuid.UUID((container.get("Labels") or {}).get(LABEL_JOB_ID, ""))
                sandboxes.setdefault(job_id, []).append(container["Id"])
        held |= sandboxes.keys()
        ended = await repository.end_lost(self.database, self.settings.worker_lost_after_s, held)
        for job_id in ended:
            log.warning("removing what an ended job left", job_id=str(job_id))
            for container_id in sandboxes.get(job_id, []):
                # An egress gateway is listed too but removed only by its own teardown below
                # (the proxy answers 404 here, which `remove` takes as gone).
                await asyncio.to_thread(client.remove, container_id)
            # Each is idempotent; the gateway goes before the network it sits on.
            for teardown in (
                client.teardown_gateway,
                client.teardown_workspace,
                client.teardown_network,
            ):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(teardown, job_id)
        unknown = held - ended - self._unknown_logged
        if unknown:
            unknown -= await repository.known_jobs(self.database, unknown)
            for job_id in unknown:
                log.warning("leaving the objects of a job unknown here", job_id=str(job_id))
            self._unknown_logged |= unknown
        # Dependency layers are not in `held` (a layer outlives its install job by design: the
        # proxy leaves them out of its jobs list); those nothing needs any more (replaced while
        # a job still mounted them, of deleted projects, of installs whose worker was lost) go
        # here, from the workers' own list of the layers they asked for.
        await dependencies.reconcile(self.database, client)


async def run_worker(
    settings: Settings, database: Database, keyring: Keyring, stop: asyncio.Event
) -> None:
    await Worker(settings, database, keyring).run(stop)


__all__ = ["Worker", "run_worker"]
