"""The endings' codes are one typed list, and docs/api.md's table of endings is that list."""

from __future__ import annotations

import re
from pathlib import Path

from offcoder.client import OUR_FAULT_REASONS
from offcoder.jobs import outcome
from offcoder.jobs.models import JobStatus
from offcoder.jobs.outcome import Canceller, EndReason, Outcome

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_endings() -> dict[str, str]:
    """reason code -> the table's `charged` cell, from docs/api.md "Jobs: output and endings"."""
    section = API_MD.read_text().split("## Jobs: output and endings", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for row in re.findall(r"^\s*\| `\w+` \| (.+?) \|.*?\| (yes|no[^|]*) \|", section, re.M):
        for code in re.findall(r"`(\w+)`", row[0]):
            found[code] = row[1]
    return found


def test_every_end_reason_is_documented_with_who_pays() -> None:
    documented = documented_endings()
    assert set(documented) == {reason.value for reason in EndReason}
    for reason in EndReason:
        assert documented[reason.value].startswith("yes") == reason.charged, reason


def test_the_clients_own_faults_are_the_reasons_never_charged() -> None:
    assert {r.value for r in EndReason if not r.charged} == OUR_FAULT_REASONS


def test_an_outcome_is_charged_unless_the_ending_was_ours() -> None:
    assert Outcome(JobStatus.succeeded, 0).charged
    assert Outcome(JobStatus.failed, 3, EndReason.exit_code).charged
    assert not Outcome(JobStatus.failed, None, EndReason.log_storage_failed).charged
    assert all(reason.message for reason in EndReason)


def test_each_ending_names_its_limit_or_code_in_words() -> None:
    assert outcome.exited(3).detail == "the program exited with code 3"
    assert outcome.timed_out(137, 60).detail == "stopped at its time limit of 60 s"
    assert (
        outcome.memory_limit(137, 512 * 1024 * 1024).detail
        == "stopped at its memory limit of 512 MiB (exit code 137)"
    )
    assert outcome.output_limit(0, 256 * 1024).detail == (
        "its output passed the limit of 256 KiB, so it was stopped"
    )
    assert outcome.output_limit(0, 1000).detail == (
        "its output passed the limit of 1000 bytes, so it was stopped"
    )
    assert outcome.cancelled(None, Canceller.owner).detail == "cancelled by you"
    assert outcome.cancelled(137, Canceller.operator).detail == "cancelled by an operator"
    assert outcome.cancelled(None, None).detail == EndReason.cancelled.message
