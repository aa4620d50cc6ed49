"""How a job ended, as a typed value: the reason codes of docs/api.md and who pays for each.

The worker and the reconciler say an ending with an `Outcome`; only `EndReason` values reach
the job row's `reason`, so clients can switch on them (docs/api.md "Endings").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from offcoder.jobs.models import JobStatus
from offcoder.runtime.policy import MiB


class EndReason(StrEnum):
    """Why a job that did not succeed ended. Renaming a value breaks every client that switches
    on it: add a new one instead (migration 0012 renamed `timeout` and `oom_killed` once)."""

    exit_code = "exit_code"
    memory_limit = "memory_limit"
    command_not_found = "command_not_found"
    command_not_executable = "command_not_executable"
    timed_out = "timed_out"
    cancelled = "cancelled"
    output_limit = "output_limit"
    # Not the job's doing, so never charged: the sandbox removed from outside while it ran (an
    # operator, another tool on the engine), then our own failures.
    sandbox_lost = "sandbox_lost"
    log_storage_failed = "log_storage_failed"
    worker_lost = "worker_lost"
    worker_stopped = "worker_stopped"
    runtime_unavailable = "runtime_unavailable"
    internal_error = "internal_error"
    not_started = "not_started"

    @property
    def charged(self) -> bool:
        """Whether the sandbox time is charged: yes for whatever the job's own run caused."""
        return self not in _OURS

    @property
    def message(self) -> str:
        """A sentence for a person, when the ending has no more precise detail."""
        return _MESSAGES[self]


_OURS = frozenset(
    {
        EndReason.sandbox_lost,
        EndReason.log_storage_failed,
        EndReason.worker_lost,
        EndReason.worker_stopped,
        EndReason.runtime_unavailable,
        EndReason.internal_error,
        EndReason.not_started,
    }
)

_MESSAGES: dict[EndReason, str] = {
    EndReason.exit_code: "the program exited with a non-zero code",
    EndReason.memory_limit: "the program was stopped at its memory limit",
    EndReason.command_not_found: "the command was not found",
    EndReason.command_not_executable: "the command may not be run",
    EndReason.timed_out: "the job was stopped at its time limit",
    EndReason.cancelled: "the job was cancelled",
    EndReason.output_limit: "the job's output reached its limit and the job was stopped",
    EndReason.sandbox_lost: "the sandbox was removed while the job ran",
    EndReason.log_storage_failed: "OffCoder could not store the job's output",
    EndReason.worker_lost: "the worker running this job stopped",
    EndReason.worker_stopped: "the worker was shut down while the job ran",
    EndReason.runtime_unavailable: "the sandbox runtime could not be reached",
    EndReason.internal_error: "OffCoder failed while running the job",
    EndReason.not_started: "the job could not be started",
}


@dataclass(frozen=True)
class Outcome:
    """A job's ending: its final status, the program's exit code if it has one, and why."""

    status: JobStatus
    exit_code: int | None = None
    reason: EndReason | None = None
    detail: str | None = None

    @property
    def charged(self) -> bool:
        return self.reason is None or self.reason.charged


SUCCEEDED = Outcome(JobStatus.succeeded, 0)


class Canceller(StrEnum):
    """Who asked a job to stop: its owner, or an operator through the admin API."""

    owner = "owner"
    operator = "operator"


_CANCELLED_BY = {
    Canceller.owner: "cancelled by you",
    Canceller.operator: "cancelled by an operator",
}

KiB = 1024


def size_words(size: int) -> str:
    """A byte count as a person reads it: 4 MiB, 256 KiB, 1000 bytes."""
    if size and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size and size % KiB == 0:
        return f"{size // KiB} KiB"
    return f"{size} bytes"


# The endings that carry a limit or a code say it: a person reads `detail`, a client `reason`.


def exited(exit_code: int) -> Outcome:
    detail = f"the program exited with code {exit_code}"
    return Outcome(JobStatus.failed, exit_code, EndReason.exit_code, detail)


def memory_limit(exit_code: int | None, limit_bytes: int) -> Outcome:
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    detail = f"stopped at its memory limit of {size_words(limit_bytes)}{code}"
    return Outcome(JobStatus.failed, exit_code, EndReason.memory_limit, detail)


def timed_out(exit_code: int | None, limit_s: int) -> Outcome:
    detail = f"stopped at its time limit of {limit_s} s"
    return Outcome(JobStatus.timed_out, exit_code, EndReason.timed_out, detail)


def output_limit(exit_code: int | None, cap_bytes: int) -> Outcome:
    detail = f"its output passed the limit of {size_words(cap_bytes)}, so it was stopped"
    return Outcome(JobStatus.failed, exit_code, EndReason.output_limit, detail)


def cancelled(exit_code: int | None, by: Canceller | None) -> Outcome:
    detail = _CANCELLED_BY[by] if by is not None else EndReason.cancelled.message
    return Outcome(JobStatus.cancelled, exit_code, EndReason.cancelled, detail)
