"""`offcoder run`'s exit status for each way a job can end (issue 12, item 7): a job that did not
succeed never exits 0. The endings that are hard to produce for real (the server's own faults)
are checked here on the pure mapping; tests/jobs/test_cli_client.py runs the others for real."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from offcoder.cli import app
from offcoder.client import OUR_FAULT_REASONS, ending_message, exit_status_for
from offcoder.jobs.outcome import EndReason


def job(status: str, exit_code: int | None, reason: str | None, detail: str | None = None) -> Any:
    return {"status": status, "exit_code": exit_code, "reason": reason, "detail": detail}


@pytest.mark.parametrize(
    ("ended", "expected"),
    [
        (job("succeeded", 0, None), 0),
        # The program's own non-zero exit code is passed on.
        (job("failed", 3, "exit_code", "exited with 3"), 3),
        (job("failed", 255, "exit_code", "exited with 255"), 255),
        (job("failed", 137, "memory_limit", "exited with 137"), 137),
        (job("failed", 137, "output_limit", "output passed 262144 bytes"), 137),
        # A timeout and a cancel, whatever the killed program's code was.
        (job("timed_out", 137, "timed_out", "stopped at its time limit of 1 s"), 124),
        (job("timed_out", None, "timed_out", "stopped at its time limit of 1 s"), 124),
        (job("cancelled", 137, "cancelled"), 130),
        (job("cancelled", None, "cancelled"), 130),
        # The engine could not find the command.
        (job("failed", 127, "command_not_found", 'exec: "nope": not found'), 127),
        (job("failed", None, "command_not_found", 'exec: "nope": not found'), 127),
        (job("failed", 126, "command_not_executable", 'exec: "./x": permission denied'), 126),
        # Otherwise 1: a job that did not succeed never exits 0.
        (job("failed", 0, "output_limit", "output passed 4194304 bytes"), 1),
        # Removed from outside: not the job's doing, whatever code was seen.
        (job("failed", None, "sandbox_lost", "the sandbox was removed while the job ran"), 125),
        (job("failed", 0, "sandbox_lost"), 125),
        (job("failed", 137, "sandbox_lost"), 125),
        (job("failed", None, "memory_limit"), 1),
        (job("failed", None, None), 1),
        (job("failed", 0, None), 1),
        (job("some_new_status", 0, None), 1),
        # Codes a process cannot exit with (256 would wrap to 0) are not passed on.
        (job("failed", 256, "exit_code"), 1),
        (job("failed", -1, "exit_code"), 1),
    ],
)
def test_each_ending_has_its_exit_status(ended: dict[str, Any], expected: int) -> None:
    assert exit_status_for(ended) == expected


@pytest.mark.parametrize(
    "reason",
    [
        "internal_error",
        "runtime_unavailable",
        "worker_stopped",
        "not_started",
        "worker_lost",
        "log_storage_failed",
    ],
)
@pytest.mark.parametrize("exit_code", [None, 0, 137])
def test_our_own_failures_exit_125(reason: str, exit_code: int | None) -> None:
    assert exit_status_for(job("failed", exit_code, reason)) == 125


def test_every_ending_that_is_not_the_jobs_doing_exits_125() -> None:
    # The client keeps its own copy (importing the server would slow every command down).
    not_the_jobs = {reason for reason in EndReason if not reason.charged}
    assert not_the_jobs <= OUR_FAULT_REASONS
    for reason in not_the_jobs:
        assert exit_status_for(job("failed", None, reason)) == 125


def test_the_ending_is_told_in_one_plain_sentence() -> None:
    assert (
        ending_message(job("failed", 0, "output_limit", "output passed 4194304 bytes"))
        == "offcoder: job failed (output_limit): output passed 4194304 bytes"
    )
    assert (
        ending_message(job("timed_out", 137, "timed_out", "stopped at its time limit of 1 s"))
        == "offcoder: job timed_out: stopped at its time limit of 1 s"
    )
    assert ending_message(job("cancelled", None, "cancelled")) == "offcoder: job cancelled"
    assert (
        ending_message(job("cancelled", None, "cancelled", "cancelled by an operator"))
        == "offcoder: job cancelled: cancelled by an operator"
    )
    assert ending_message(job("failed", None, None)) == "offcoder: job failed"
    assert ending_message(job("succeeded", 0, None)) is None


def test_run_help_documents_the_exit_statuses() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for piece in ("124", "130", "125", "127", "timed out", "cancelled", "never exits 0"):
        assert piece in text, piece
