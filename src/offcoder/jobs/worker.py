"""The job worker: takes queued jobs and runs each in a hardened sandbox (C1, C3, C4, C6).

A job's way: claim (FOR UPDATE SKIP LOCKED on the job row, which is the queue entry) → read the
project's files and open its secrets under the owner's RLS → provision the 500 MB workspace →
create the container from the one hardening policy, secrets as environment variables → put the
in-memory archive into the created, not yet started container → start → stream output in
numbered chunks → wait, killing at the timeout, on cancel, or past the output cap → remove the
container in every path. A worker that dies mid-job is noticed by its missing heartbeat: the job
ends `failed` with reason `worker_lost` and the orphaned container is removed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from docker.errors import APIError, NotFound
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert

from offcoder.audit.service import ActorKind, record
from offcoder.config import Settings
from offcoder.crypto.keyring import Keyring
from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.events import announce
from offcoder.jobs import archive
from offcoder.jobs.endings import unstartable_command
from offcoder.jobs.models import Job, JobLogChunk, JobStatus
from offcoder.jobs.outcome import SUCCEEDED, EndReason, Outcome
from offcoder.jobs.output import LogChunk, OutputLog
from offcoder.jobs.service import QUEUE_CHANNEL
from offcoder.logs import SensitiveHold
from offcoder.projects import service as projects
from offcoder.projects.models import Project, ProjectFile
from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.client import RuntimeClient, RuntimeUnavailable
from offcoder.runtime.policy import GATEWAY_URL, WORKSPACE, NetworkMode, container_spec, owner_tag
from offcoder.users.models import User
from offcoder.wallet import service as wallet

log = structlog.get_logger(__name__)

# Endings that are ours, not the job's: such a job is charged nothing.
OUR_FAULT = frozenset(reason for reason in EndReason if not reason.charged)
CHUNK_FLUSH_S = 0.05
RUNNING = frozenset({JobStatus.starting.value, JobStatus.running.value})
# Reads of the attach stream waiting for the store: each is at most 32 KiB (the engine's copy
# buffer), so the backlog holds at most 2 MiB.
OUTPUT_BACKLOG = 64
BATCH_MAX_BYTES = 256 * 1024
# The output stream ends a moment before the engine reports the exit.
OUTPUT_END_GRACE_S = 5.0
# An egress job's proxy variables, all pointing at its gateway (C5).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a background task's outcome as seen (its failure, if any, changes nothing)."""
    if not task.cancelled():
        task.exception()


def _hand_over(
    loop: asyncio.AbstractEventLoop,
    out: asyncio.Queue[tuple[str, bytes] | None],
    item: tuple[str, bytes] | None,
) -> bool:
    """Put `item` on the loop's queue from a thread, waiting while it is full; False once the
    loop is closed (the worker stopped: nobody is left to read it)."""
    try:
        handed = asyncio.run_coroutine_threadsafe(out.put(item), loop)
    except RuntimeError:
        return False
    while True:
        try:
            handed.result(timeout=1.0)
            return True
        except concurrent.futures.TimeoutError:
            if loop.is_closed():
                handed.cancel()
                return False


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class _Run:
    job: Job
    container_id: str | None = None
    stop_reason: EndReason | None = None
    exited: bool = False
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class Worker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: Keyring,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.keyring = keyring
        self.worker_id = worker_id or new_worker_id()
        self._runs: dict[uuid.UUID, _Run] = {}
        self._wake = asyncio.Event()
        self._owner_key = hashlib.sha256(
            b"offcoder-owner-tag:" + keyring.primary_key_id.encode()
        ).digest()
        self._client: RuntimeClient | None = None
        self._draining: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Take jobs until `stop` is set; then finish nothing new and leave running ones to end.

        The reconciler (`reconcile`) is run beside this loop by the worker host, as a periodic
        task (worker/host.py)."""
        log.info("worker started", worker_id=self.worker_id)
        listener = asyncio.create_task(self._listen(stop))
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
                run.stop_reason = run.stop_reason or EndReason.worker_stopped
                run.stopped.set()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            listener.cancel()
            heartbeat.cancel()
            await asyncio.gather(listener, heartbeat, return_exceptions=True)
            if self._client is not None:
                self._client.close()

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for new jobs and cancellations; fall back to polling if the connection drops."""
        import psycopg

        url = self.database.system_engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
                        for run in list(self._runs.values()):
                            await self._check_cancel(run)
            except Exception as exc:  # the wait loop polls meanwhile
                log.warning("job listener reconnecting", error=str(exc))
                await asyncio.sleep(1)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.settings.worker_heartbeat_s)
            if not self._runs:
                continue
            try:
                async with self.database.system_session() as s:
                    await s.execute(
                        update(Job)
                        .where(Job.id.in_(list(self._runs)), Job.worker_id == self.worker_id)
                        .values(heartbeat_at=utcnow())
                    )
                for run in list(self._runs.values()):
                    await self._check_cancel(run)
            except Exception as exc:
                log.warning("heartbeat failed", error=str(exc))

    async def _check_cancel(self, run: _Run) -> None:
        async with self.database.system_session() as s:
            requested = await s.scalar(select(Job.cancel_requested_at).where(Job.id == run.job.id))
        if requested is not None and run.stop_reason is None:
            run.stop_reason = EndReason.cancelled
            run.stopped.set()

    def _runtime(self) -> RuntimeClient:
        if self._client is None:
            self._client = RuntimeClient(self.settings.docker_proxy_socket)
        return self._client

    async def _claim(self) -> Job | None:
        async with self.database.system_session() as s:
            job = await s.scalar(
                select(Job)
                .where(Job.status == JobStatus.queued.value)
                .order_by(Job.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                return None
            job.status = JobStatus.starting.value
            job.worker_id = self.worker_id
            job.heartbeat_at = utcnow()
            await announce(s, job.id, "status")
            return job

    # ------------------------------------------------------------------ one job

    async def _execute(self, job: Job) -> None:
        run = _Run(job)
        self._runs[job.id] = run
        started = time.monotonic()
        try:
            outcome = await self._run_sandbox(run)
        except RuntimeUnavailable as exc:
            outcome = Outcome(JobStatus.failed, None, EndReason.runtime_unavailable, str(exc))
        except Exception as exc:
            log.exception("job failed in the worker", job_id=str(job.id))
            outcome = Outcome(JobStatus.failed, None, EndReason.internal_error, type(exc).__name__)
        finally:
            self._runs.pop(job.id, None)
        usage = {"wall_ms": int((time.monotonic() - started) * 1000)}
        # Charged by the sandbox time it had; nothing when it never ran or failed by our fault.
        charged = run.container_id is not None and outcome.charged
        reason = outcome.reason
        async with self.database.system_session() as s:
            current = await s.scalar(select(Job).where(Job.id == job.id).with_for_update())
            if current is None or current.status not in RUNNING:
                # Ended meanwhile by someone else (reconcile took this worker for lost): that
                # ending, and its settlement, stand.
                log.warning("job already ended elsewhere", job_id=str(job.id))
                return
            await wallet.settle_job(s, current, usage["wall_ms"] if charged else None)
            current.status = outcome.status.value
            current.exit_code = outcome.exit_code
            current.reason = reason.value if reason is not None else None
            current.detail = outcome.detail
            current.finished_at = utcnow()
            current.usage = usage | (job.usage or {})
            if run.container_id is not None and not outcome.charged:
                # A run we let go free because we failed it: an operator should see each one.
                await record(
                    s,
                    f"job.{reason}",
                    actor_id=None,
                    actor_kind=ActorKind.system,
                    target=f"job:{job.id}",
                    details={"user_id": str(job.user_id), "detail": outcome.detail},
                )
            await announce(s, job.id, "status")
        log.info("job ended", job_id=str(job.id), status=outcome.status.value, reason=reason)

    async def _run_sandbox(self, run: _Run) -> Outcome:
        job = run.job
        client = self._runtime()
        mode = NetworkMode(job.network)
        # The workspace (mkfs, loop device, volume) is made while the project is read: neither
        # needs the other, and this is the worker's longest serial step before `create`.
        provisioning = asyncio.create_task(asyncio.to_thread(client.provision_workspace, job.id))
        try:
            return await self._provision_and_run(run, client, mode, provisioning)
        finally:
            # Always, not only when no container was made: the proxy tears the job's workspace
            # and network down after a container DELETE it forwarded with 204, but not when the
            # container was already gone (removed by an operator, the engine, or another
            # reconciler); the volume, its loop device and 500 MB image stayed for ever (C6).
            # Each teardown is idempotent (404 / nothing found is fine).
            await asyncio.gather(provisioning, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.teardown_workspace, job.id)
            if mode is NetworkMode.egress:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.teardown_gateway, job.id)
            if mode is not NetworkMode.none:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.teardown_network, job.id)

    async def _provision_and_run(
        self,
        run: _Run,
        client: RuntimeClient,
        mode: NetworkMode,
        provisioning: asyncio.Task[dict[str, Any]],
    ) -> Outcome:
        job = run.job
        # The job's secret values are masked in our logs from the moment they are opened until
        # the job has ended, and then let go: the worker outlives every job (R3).
        secrets_held = SensitiveHold()
        try:
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
                slug = await s.scalar(select(Project.slug).where(Project.id == job.project_id))
            packed = archive.build(files)
            mount = await provisioning
            network_name = None
            if mode is not NetworkMode.none:
                network_name = await asyncio.to_thread(client.provision_network, job.id, mode.value)
            if mode is NetworkMode.egress:
                await asyncio.to_thread(
                    client.provision_gateway,
                    job.id,
                    list(self.settings.egress_allow_hosts),
                    list(self.settings.egress_extra_ports),
                )
                # Ours win: the gateway is the only way out (secret names cannot be these).
                environment = environment | {name: GATEWAY_URL for name in PROXY_VARIABLES}
            spec = container_spec(
                image=IMAGES[job.image],
                command=list(job.command),
                env=environment,
                job_id=job.id,
                owner_tag=owner_tag(job.user_id, self._owner_key),
                network=mode,
                workspace_mount=mount,
                ports=list(job.ports),
                network_name=network_name,
            )
            run.container_id = await asyncio.to_thread(client.create, spec)
            del environment, spec  # the plaintexts live no longer than the create call
            await asyncio.gather(
                self._set(job.id, container_id=run.container_id),
                asyncio.to_thread(client.put_archive, run.container_id, WORKSPACE, packed),
            )
            if run.stop_reason:
                return Outcome(JobStatus.cancelled, None, run.stop_reason)
            # Attached before the start, so that no byte the program writes is missed.
            output = await asyncio.to_thread(client.attach, run.container_id)
            try:
                await asyncio.to_thread(client.start, run.container_id)
            except APIError as exc:
                with contextlib.suppress(Exception):
                    output.close()
                refused = unstartable_command(exc)
                if refused is None:
                    raise
                # The user's error, not ours: said in the job's detail and its log, and charged
                # like any run (a sandbox was made for it).
                await self._store_chunks(job, [LogChunk(1, "stderr", refused.message + "\n")])
                return Outcome(JobStatus.failed, refused.exit_code, refused.reason, refused.message)
            running: dict[str, Any] = {"status": JobStatus.running.value, "started_at": utcnow()}
            if mode is NetworkMode.preview:
                running["published_ports"] = await self._published(client, run.container_id)
                running["preview_url"] = f"https://{handle}-{slug}.{self.settings.preview_domain}"
            await self._set(job.id, **running)
            return await self._supervise(run, client, output)
        finally:
            try:
                if run.container_id is not None:
                    if not run.exited:  # an exited sandbox has nothing left to kill
                        with contextlib.suppress(Exception):
                            await asyncio.to_thread(client.kill, run.container_id)
                    await asyncio.to_thread(client.remove, run.container_id)
            finally:
                secrets_held.release()

    @staticmethod
    async def _published(client: RuntimeClient, container_id: str) -> dict[str, int]:
        ports = (await asyncio.to_thread(client.inspect, container_id)).get("NetworkSettings", {})
        published: dict[str, int] = {}
        for key, bindings in (ports.get("Ports") or {}).items():
            for binding in bindings or []:
                if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
                    published[key.split("/")[0]] = int(binding["HostPort"])
        return published

    async def _supervise(self, run: _Run, client: RuntimeClient, output: Any) -> Outcome:
        assert run.container_id is not None
        loop = asyncio.get_running_loop()
        # Bounded: when the store falls behind, the reader waits, the engine waits, and the
        # program's writes block; the worker's memory does not grow with the job's output.
        pieces: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(OUTPUT_BACKLOG)
        threading.Thread(target=self._read_output, args=(output, loop, pieces), daemon=True).start()
        writer = asyncio.create_task(self._store_logs(run, pieces))
        sampler = asyncio.create_task(self._sample_usage(run, client))
        waiter = asyncio.create_task(asyncio.to_thread(client.wait, run.container_id))
        stopper = asyncio.create_task(run.stopped.wait())
        try:
            return await self._watch(run, client, pieces, writer, waiter, stopper)
        finally:
            # However the watch ended (a kill the proxy refused included), nothing it started
            # outlives the job: the sampler and the stop wait end, a writer still running is
            # cancelled, and a writer that did not take the stream's end leaves a drain so
            # the reader thread can hand over its last reads and finish.
            stopper.cancel()
            sampler.cancel()
            waiter.add_done_callback(_retrieved)  # it ends with the container, maybe later
            abandoned = not writer.done() or writer.cancelled() or writer.exception() is not None
            writer.cancel()  # a no-op once it has ended
            if abandoned:
                draining = asyncio.create_task(self._discard(pieces))
                self._draining.add(draining)
                draining.add_done_callback(self._draining.discard)

    async def _watch(
        self,
        run: _Run,
        client: RuntimeClient,
        pieces: asyncio.Queue[tuple[str, bytes] | None],
        writer: asyncio.Task[None],
        waiter: asyncio.Task[int],
        stopper: asyncio.Task[Any],
    ) -> Outcome:
        """Wait for the first of: the exit, a stop (cancel, output cap), a failed store, the
        timeout; kill unless it exited; then name the ending."""
        job = run.job
        assert run.container_id is not None
        lost_output: str | None = None
        done, _ = await asyncio.wait(
            {waiter, stopper, writer}, timeout=job.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if writer in done and waiter not in done:
            if writer.exception() is not None:
                lost_output = "OffCoder could not store this job's output, so it was stopped"
            else:
                # The output stream ended: the program has exited, or the stream broke.
                exited, _ = await asyncio.wait({waiter}, timeout=OUTPUT_END_GRACE_S)
                if not exited:
                    lost_output = "the output stream from the sandbox broke, so it was stopped"
            if lost_output is not None:
                run.stop_reason = EndReason.log_storage_failed
        elif waiter not in done and stopper not in done:
            run.stop_reason = run.stop_reason or EndReason.timeout
        if not waiter.done():
            await asyncio.to_thread(client.kill, run.container_id)
        exit_code = await waiter
        run.exited = True
        inspecting = asyncio.create_task(asyncio.to_thread(client.inspect, run.container_id))
        failure = writer.exception() if writer.done() else None
        if failure is None:
            try:
                await writer  # the last output drains while the engine answers the inspect
            except Exception as exc:
                failure = exc
        if failure is not None:
            # The type and SQLSTATE only: the error's text may quote the job's output.
            log.error(
                "storing a job's output failed",
                job_id=str(job.id),
                error=type(failure).__name__,
                sqlstate=getattr(getattr(failure, "orig", None), "sqlstate", None),
            )
            lost_output = lost_output or "OffCoder could not store this job's output"
            run.stop_reason = EndReason.log_storage_failed
        try:
            state = (await inspecting).get("State", {})
        except NotFound:
            lost = EndReason.sandbox_lost
            return Outcome(JobStatus.failed, exit_code, lost, lost.message)
        if state.get("OOMKilled"):
            job.usage = job.usage | {"oom_killed": True}
        match run.stop_reason:
            case None if exit_code == 0:
                return SUCCEEDED
            case None:
                reason = EndReason.oom_killed if state.get("OOMKilled") else EndReason.exit_code
                return Outcome(JobStatus.failed, exit_code, reason, f"exited with {exit_code}")
            case EndReason.timeout:
                detail = f"killed after {job.timeout_s} s"
                return Outcome(JobStatus.timed_out, exit_code, EndReason.timeout, detail)
            case EndReason.cancelled:
                return Outcome(JobStatus.cancelled, exit_code, EndReason.cancelled)
            case EndReason.output_limit:
                detail = f"output passed {self.settings.job_max_log_bytes} bytes"
                return Outcome(JobStatus.failed, exit_code, EndReason.output_limit, detail)
            case EndReason.log_storage_failed:
                return Outcome(JobStatus.failed, exit_code, run.stop_reason, lost_output)
            case stopped:
                return Outcome(JobStatus.failed, exit_code, stopped)

    async def _sample_usage(self, run: _Run, client: RuntimeClient) -> None:
        """CPU time and peak memory, sampled while the sandbox runs (cgroup counters vanish
        with the container, so the last sample before exit is what is recorded)."""
        assert run.container_id is not None
        while True:
            cpu_ns, peak = await asyncio.to_thread(client.usage, run.container_id)
            if cpu_ns is not None:
                run.job.usage = run.job.usage | {"cpu_ms": cpu_ns // 1_000_000}
            if peak is not None:
                previous = int(run.job.usage.get("peak_memory_bytes", 0))
                run.job.usage = run.job.usage | {"peak_memory_bytes": max(previous, peak)}
            await asyncio.sleep(0.5)

    @staticmethod
    def _read_output(
        output: Any,
        loop: asyncio.AbstractEventLoop,
        out: asyncio.Queue[tuple[str, bytes] | None],
    ) -> None:
        """Hand the attach stream's reads to the loop, waiting whenever its queue is full."""
        try:
            for stdout, stderr in output:
                piece = ("stdout", stdout) if stdout is not None else ("stderr", stderr)
                if piece[1] and not _hand_over(loop, out, piece):
                    return  # the worker's loop is gone
        except Exception as exc:
            log.warning("output stream ended early", error=str(exc))
        finally:
            with contextlib.suppress(Exception):
                output.close()
            _hand_over(loop, out, None)

    @staticmethod
    async def _discard(pieces: asyncio.Queue[tuple[str, bytes] | None]) -> None:
        while await pieces.get() is not None:
            pass

    async def _store_logs(self, run: _Run, pieces: asyncio.Queue[tuple[str, bytes] | None]) -> None:
        """Number and store output in small batches; stop the job past the output cap.

        Past the cap the rest is read and dropped until the stream ends (the job is being
        killed); an exception here is the caller's cue to kill the sandbox at once."""
        job = run.job
        output = OutputLog(cap=self.settings.job_max_log_bytes)
        streaming = True
        while streaming:
            batch: list[tuple[str, bytearray]] = []
            size = 0
            item = await pieces.get()
            deadline = time.monotonic() + CHUNK_FLUSH_S
            while True:
                if item is None:
                    streaming = False
                    break
                stream, piece = item
                size += len(piece)
                if batch and batch[-1][0] == stream:
                    batch[-1][1].extend(piece)  # consecutive reads of one stream, one chunk
                else:
                    batch.append((stream, bytearray(piece)))
                if size >= BATCH_MAX_BYTES or time.monotonic() >= deadline:
                    break
                try:
                    item = await asyncio.wait_for(pieces.get(), deadline - time.monotonic())
                except TimeoutError:
                    break
            chunks: list[LogChunk] = []
            for stream, data in batch:
                chunks.extend(output.add(stream, bytes(data)))
            if not streaming:
                chunks.extend(output.finish())
            if chunks:
                await self._store_chunks(job, chunks)
            if output.cut and run.stop_reason is None:
                run.stop_reason = EndReason.output_limit
                run.stopped.set()

    async def _store_chunks(self, job: Job, chunks: list[LogChunk]) -> None:
        async with self.database.system_session() as s:
            now = utcnow()
            await s.execute(
                insert(JobLogChunk)
                .values(
                    [
                        {
                            "job_id": job.id,
                            "seq": chunk.seq,
                            "user_id": job.user_id,
                            "stream": chunk.stream,
                            "data": chunk.data,
                            "created_at": now,
                        }
                        for chunk in chunks
                    ]
                )
                .on_conflict_do_nothing()
            )
            await s.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(
                    last_seq=chunks[-1].seq,
                    log_bytes=Job.log_bytes + sum(len(c.data.encode()) for c in chunks),
                )
            )
            await announce(s, job.id, "log")

    async def _set(self, job_id: uuid.UUID, **values: Any) -> None:
        async with self.database.system_session() as s:
            await s.execute(update(Job).where(Job.id == job_id).values(**values))
            if "status" in values:
                await announce(s, job_id, "status")

    # ------------------------------------------------------------------ recovery

    async def reconcile(self) -> None:
        """End jobs whose worker stopped beating; remove our sandboxes whose job is over.

        Containers are listed before the live jobs are read: a container exists only once its
        job was claimed, so a job started meanwhile is always seen as live. Only containers of
        jobs this database knows are touched: another deployment sharing the engine (a staging
        server, a second test run) keeps its sandboxes. A sandbox whose job row is gone
        altogether (an erased account mid-job) is left for a per-deployment label to catch.
        """
        client = self._runtime()
        containers = await asyncio.to_thread(client.managed_containers)
        labelled: dict[str, uuid.UUID] = {}
        for container in containers:
            with contextlib.suppress(ValueError):
                labelled[container["Id"]] = uuid.UUID(
                    (container.get("Labels") or {}).get("dev.offcoder.job-id", "")
                )
        lost_before = utcnow() - timedelta(seconds=self.settings.worker_lost_after_s)
        async with self.database.system_session() as s:
            lost = await s.scalars(
                update(Job)
                .where(
                    Job.status.in_([JobStatus.starting.value, JobStatus.running.value]),
                    Job.heartbeat_at < lost_before,
                )
                .values(
                    status=JobStatus.failed.value,
                    reason=EndReason.worker_lost.value,
                    detail=EndReason.worker_lost.message,
                    finished_at=utcnow(),
                )
                .returning(Job.id)
            )
            for lost_job in list(lost):
                await announce(s, lost_job, "status")
                # The worker died, not the job's fault: its whole hold goes back. One job's
                # settlement failing must not undo the others' endings.
                lost_row = await s.get(Job, lost_job)
                if lost_row is not None:
                    try:
                        async with s.begin_nested():
                            await wallet.settle_job(s, lost_row, None)
                    except Exception as exc:
                        log.warning(
                            "settling a lost job failed", job_id=str(lost_job), error=str(exc)
                        )
            ended = set(
                await s.scalars(
                    select(Job.id).where(
                        Job.id.in_(set(labelled.values())),
                        Job.status.not_in([JobStatus.starting.value, JobStatus.running.value]),
                    )
                )
            )
        for container_id, job_id in labelled.items():
            if job_id in ended:
                log.warning(
                    "removing orphaned sandbox", container=container_id[:12], job_id=str(job_id)
                )
                await asyncio.to_thread(client.remove, container_id)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.teardown_workspace, job_id)


async def run_worker(
    settings: Settings, database: Database, keyring: Keyring, stop: asyncio.Event
) -> None:
    await Worker(settings, database, keyring).run(stop)


__all__ = ["Worker", "run_worker", "text"]
