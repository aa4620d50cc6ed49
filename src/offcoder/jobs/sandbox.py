"""One job's sandbox, from provisioning to teardown (C1, C3, C4, C6), told as an `Outcome`.

`SandboxRun` talks only to the runtime client (the policy proxy): provision the 500 MB
workspace (and the job's network and gateway, and for an install job the new dependency layer
it writes) → create the container from the one hardening
policy, secrets as environment variables → put the in-memory archive into the created, not yet
started container → attach → start → supervise (exit, timeout, stop, output cap, a failed log
store) → kill and remove → tear the workspace, gateway and network down, in every path. It
never touches the database: its inputs come from `load`, its output goes to a `LogWriter`, and
what the job row must show meanwhile goes through `on_created` and `on_started`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from docker.errors import APIError, NotFound

from offcoder.jobs import outcome
from offcoder.jobs.endings import unstartable_command
from offcoder.jobs.logwriter import LogWriter, OutputBacklog
from offcoder.jobs.models import JobStatus
from offcoder.jobs.outcome import SUCCEEDED, EndReason, Outcome
from offcoder.runtime.client import RuntimeClient
from offcoder.runtime.policy import (
    DEFAULT_LIMITS,
    GATEWAY_URL,
    WORKSPACE,
    NetworkMode,
    SandboxRuntime,
    container_spec,
    layer_mount,
)

log = structlog.get_logger(__name__)

# The output stream ends a moment before the engine reports the exit.
OUTPUT_END_GRACE_S = 5.0
# An egress job's proxy variables, all pointing at its gateway (C5).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")

# Fault injection, for tests only (tests/jobs/test_worker_killed_at_each_step.py): with this
# variable set to one of `CRASH_STEPS`, the worker process kills itself with SIGKILL right after
# that step of a sandbox's lifecycle, as a crash there would, so a test can show what the
# reconciler finds. Unset, as everywhere else, it does nothing.
CRASH_AFTER_VARIABLE = "OFFCODER_TEST_WORKER_CRASH_AFTER"
CRASH_STEPS = ("workspace", "network", "create", "start")


def _crash_point(step: str) -> None:
    """A fault-injection point (see `CRASH_AFTER_VARIABLE`): dies here only when asked to."""
    if os.environ.get(CRASH_AFTER_VARIABLE) == step:
        log.warning("fault injection: the worker kills itself", after=step)
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class SandboxInputs:
    """What a sandbox is made of, read under the owner's RLS by the worker."""

    image: str
    command: list[str]
    environment: dict[str, str]  # plaintext secrets: dropped right after `create`
    archive: bytes
    owner_tag: str
    project_id: uuid.UUID | None = None
    layer_mount: dict[str, Any] | None = None  # the project's dependency layer, read-only
    # An install job's new layer, of this size: what it may write, which the owner's storage
    # quota bounds (read with the rest, under their RLS).
    layer_bytes: int = 0
    nano_cpus: int = DEFAULT_LIMITS.nano_cpus  # the CPU cap of its owner's plan (`cpu_cap`)
    runtime: SandboxRuntime = SandboxRuntime.runc  # its owner's plan's (`job_runtime`)


@dataclass(frozen=True)
class SandboxPlan:
    """What is known of the job before anything is read: its id, network, ports and limits."""

    job_id: uuid.UUID
    network: NetworkMode
    ports: list[int]
    timeout_s: int
    output_cap: int
    egress_allow_hosts: list[str] = field(default_factory=list)
    egress_extra_ports: list[int] = field(default_factory=list)
    # An install job: the new dependency layer it builds, mounted writable here, of
    # `SandboxInputs.layer_bytes`. The layer outlives the run: whether it replaces the
    # project's layer or goes is the worker's to settle from the outcome.
    layer_target: str | None = None


class SandboxRun:
    def __init__(
        self,
        client: RuntimeClient,
        plan: SandboxPlan,
        logs: LogWriter,
        *,
        on_created: Callable[[str], Awaitable[None]],
        on_started: Callable[[dict[str, int]], Awaitable[None]],
    ) -> None:
        self.client = client
        self.plan = plan
        self.logs = logs
        self.on_created = on_created
        self.on_started = on_started
        self.container_id: str | None = None
        self.stop_reason: EndReason | None = None
        self.exited = False
        self.stopped = asyncio.Event()
        # CPU time, peak memory, OOM: sampled while it runs (cgroup counters vanish with it).
        self.usage: dict[str, Any] = {}

    def stop(self, reason: EndReason) -> None:
        """Ask the run to end (a cancel, the worker stopping, the output cap); first one wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopped.set()

    async def run(self, load: Callable[[], Awaitable[SandboxInputs]]) -> Outcome:
        """Provision while `load` reads the project; run; tear everything down in every path."""
        job_id, mode, client = self.plan.job_id, self.plan.network, self.client
        # The workspace (mkfs, loop device, volume) is made while the project is read: neither
        # needs the other, and this is the worker's longest serial step before `create`.
        provisioning = asyncio.create_task(asyncio.to_thread(client.provision_workspace, job_id))
        try:
            return await self._provision_and_run(load, provisioning)
        finally:
            # Always, not only when no container was made: the proxy tears the job's workspace
            # and network down after a container DELETE it forwarded with 204, but not when the
            # container was already gone (removed by an operator, the engine, or another
            # reconciler); the volume, its loop device and 500 MB image stayed for ever (C6).
            # Each teardown is idempotent (404 / nothing found is fine).
            await asyncio.gather(provisioning, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.teardown_workspace, job_id)
            if mode is NetworkMode.egress:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.teardown_gateway, job_id)
            if mode is not NetworkMode.none:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(client.teardown_network, job_id)

    async def _provision_and_run(
        self,
        load: Callable[[], Awaitable[SandboxInputs]],
        provisioning: asyncio.Task[dict[str, Any]],
    ) -> Outcome:
        plan, client = self.plan, self.client
        try:
            inputs = await load()
            mount = await provisioning
            _crash_point("workspace")
            network_name = None
            if plan.network is not NetworkMode.none:
                network_name = await asyncio.to_thread(
                    client.provision_network, plan.job_id, plan.network.value
                )
            layer = inputs.layer_mount
            if plan.layer_target is not None:
                if inputs.project_id is None:
                    raise ValueError("an install job builds the layer of a project")
                await asyncio.to_thread(
                    client.provision_layer,
                    plan.job_id,
                    inputs.project_id,
                    inputs.owner_tag,
                    inputs.layer_bytes,
                )
                layer = layer_mount(plan.job_id, plan.layer_target, read_only=False)
            environment = inputs.environment
            if plan.network is NetworkMode.egress:
                await asyncio.to_thread(
                    client.provision_gateway,
                    plan.job_id,
                    plan.egress_allow_hosts,
                    plan.egress_extra_ports,
                )
                # Ours win: the gateway is the only way out (secret names cannot be these).
                environment = environment | {name: GATEWAY_URL for name in PROXY_VARIABLES}
            _crash_point("network")
            deployment = await asyncio.to_thread(client.deployment)
            spec = container_spec(
                image=inputs.image,
                command=inputs.command,
                env=environment,
                job_id=plan.job_id,
                owner_tag=inputs.owner_tag,
                network=plan.network,
                deployment=deployment,
                workspace_mount=mount,
                ports=plan.ports,
                network_name=network_name,
                project_id=inputs.project_id,
                layer_mount=layer,
                limits=replace(DEFAULT_LIMITS, nano_cpus=inputs.nano_cpus),
                runtime=inputs.runtime,
            )
            self.container_id = await asyncio.to_thread(client.create, spec)
            _crash_point("create")
            # The plaintexts live no longer than the create call.
            del environment, spec
            inputs.environment = {}
            await asyncio.gather(
                self.on_created(self.container_id),
                asyncio.to_thread(client.put_archive, self.container_id, WORKSPACE, inputs.archive),
            )
            if self.stop_reason:
                return Outcome(JobStatus.cancelled, None, self.stop_reason)
            # Attached before the start, so that no byte the program writes is missed.
            output = await asyncio.to_thread(client.attach, self.container_id)
            try:
                await asyncio.to_thread(client.start, self.container_id)
            except APIError as exc:
                with contextlib.suppress(Exception):
                    output.close()
                refused = unstartable_command(exc)
                if refused is None:
                    raise
                # The user's error, not ours: said in the job's detail and its log, and charged
                # like any run (a sandbox was made for it).
                await self.logs.say("stderr", refused.message)
                return Outcome(JobStatus.failed, refused.exit_code, refused.reason, refused.message)
            _crash_point("start")
            published: dict[str, int] = {}
            if plan.network is NetworkMode.preview:
                published = await self._published()
            await self.on_started(published)
            return await self._supervise(output)
        finally:
            if self.container_id is not None:
                if not self.exited:  # an exited sandbox has nothing left to kill
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(client.kill, self.container_id)
                await asyncio.to_thread(client.remove, self.container_id)

    async def _published(self) -> dict[str, int]:
        assert self.container_id is not None
        inspected = await asyncio.to_thread(self.client.inspect, self.container_id)
        published: dict[str, int] = {}
        for key, bindings in (inspected.get("NetworkSettings", {}).get("Ports") or {}).items():
            for binding in bindings or []:
                if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
                    published[key.split("/")[0]] = int(binding["HostPort"])
        return published

    async def _supervise(self, output: Any) -> Outcome:
        assert self.container_id is not None
        client = self.client
        # Bounded in bytes: when the store falls that far behind, the reader waits, the engine
        # waits, and the program's writes block; the worker's memory does not grow with the
        # job's output. Short of the bound, the program never waits for the database.
        backlog = self.logs.backlog(asyncio.get_running_loop())
        threading.Thread(target=_read_output, args=(output, backlog), daemon=True).start()
        writer = asyncio.create_task(
            self.logs.consume(backlog, lambda: self.stop(EndReason.output_limit))
        )
        sampler = asyncio.create_task(self._sample_usage())
        waiter = asyncio.create_task(asyncio.to_thread(client.wait, self.container_id))
        stopper = asyncio.create_task(self.stopped.wait())
        try:
            return await self._watch(writer, waiter, stopper)
        finally:
            # However the watch ended (a kill the proxy refused included), nothing it started
            # outlives the job: the sampler and the stop wait end, a writer still running is
            # cancelled, and a writer that did not take the stream's end abandons the backlog,
            # so the reader thread drops what it holds and stops at its next read.
            stopper.cancel()
            sampler.cancel()
            waiter.add_done_callback(_retrieved)  # it ends with the container, maybe later
            abandoned = not writer.done() or writer.cancelled() or writer.exception() is not None
            writer.cancel()  # a no-op once it has ended
            if abandoned:
                backlog.abandon()

    async def _watch(
        self, writer: asyncio.Task[None], waiter: asyncio.Task[int], stopper: asyncio.Task[Any]
    ) -> Outcome:
        """Wait for the first of: the exit, a stop (cancel, output cap), a failed store, the
        timeout; kill unless it exited; then name the ending."""
        assert self.container_id is not None
        client, plan = self.client, self.plan
        lost_output: str | None = None
        done, _ = await asyncio.wait(
            {waiter, stopper, writer}, timeout=plan.timeout_s, return_when=asyncio.FIRST_COMPLETED
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
                self.stop_reason = EndReason.log_storage_failed
        elif waiter not in done and stopper not in done:
            self.stop_reason = self.stop_reason or EndReason.timed_out
        if not waiter.done():
            await asyncio.to_thread(client.kill, self.container_id)
        exit_code = await waiter
        self.exited = True
        inspecting = asyncio.create_task(asyncio.to_thread(client.inspect, self.container_id))
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
                job_id=str(plan.job_id),
                error=type(failure).__name__,
                sqlstate=getattr(getattr(failure, "orig", None), "sqlstate", None),
            )
            lost_output = lost_output or "OffCoder could not store this job's output"
            self.stop_reason = EndReason.log_storage_failed
        try:
            info = await inspecting
        except NotFound:
            lost = EndReason.sandbox_lost
            return Outcome(JobStatus.failed, exit_code, lost, lost.message)
        state = info.get("State", {})
        if state.get("OOMKilled"):
            self.usage["oom_killed"] = True
        match self.stop_reason:
            case None if exit_code == 0:
                return SUCCEEDED
            case None if state.get("OOMKilled"):
                # The engine's word, not exit 137 alone (a program may kill itself with 9), and
                # the limit as the engine applied it.
                memory = (info.get("HostConfig") or {}).get("Memory") or 0
                return outcome.memory_limit(exit_code, memory)
            case None:
                return outcome.exited(exit_code)
            case EndReason.timed_out:
                return outcome.timed_out(exit_code, plan.timeout_s)
            case EndReason.cancelled:
                # Who asked is on the job's row: `repository.end` says it.
                return outcome.cancelled(exit_code, None)
            case EndReason.output_limit:
                return outcome.output_limit(exit_code, plan.output_cap)
            case EndReason.log_storage_failed:
                return Outcome(JobStatus.failed, exit_code, self.stop_reason, lost_output)
            case stopped:
                return Outcome(JobStatus.failed, exit_code, stopped)

    async def _sample_usage(self) -> None:
        """CPU time and peak memory, sampled while the sandbox runs (cgroup counters vanish
        with the container, so the last sample before exit is what is recorded)."""
        assert self.container_id is not None
        while True:
            cpu_ns, peak = await asyncio.to_thread(self.client.usage, self.container_id)
            if cpu_ns is not None:
                self.usage["cpu_ms"] = cpu_ns // 1_000_000
            if peak is not None:
                previous = int(self.usage.get("peak_memory_bytes", 0))
                self.usage["peak_memory_bytes"] = max(previous, peak)
            await asyncio.sleep(0.5)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a background task's outcome as seen (its failure, if any, changes nothing)."""
    if not task.cancelled():
        task.exception()


def _read_output(output: Any, backlog: OutputBacklog) -> None:
    """Put the attach stream's reads into the backlog (waiting only while it is full)."""
    try:
        for stdout, stderr in output:
            stream, data = ("stdout", stdout) if stdout is not None else ("stderr", stderr)
            if data and not backlog.put(stream, data):
                return  # nobody will store it: the writer gave up or the worker's loop is gone
    except Exception as exc:
        log.warning("output stream ended early", error=str(exc))
    finally:
        with contextlib.suppress(Exception):
            output.close()
        backlog.end()
