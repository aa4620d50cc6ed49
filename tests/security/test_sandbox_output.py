"""Output floods beyond stdout text (that one is in tests/jobs): stderr, and binary garbage.

Docker does not cap output; the worker stores at most `job_max_log_bytes` of it and kills the
sandbox past that (C6), and the engine's own json-file log is bounded by the policy (C1).
"""

from __future__ import annotations

import pytest

from tests.security.conftest import LOG_CAP, Sandbox

pytestmark = pytest.mark.docker

STDERR_FLOOD = """
import sys
line = "e" * 1000 + "\\n"
while True:
    sys.stderr.write(line)
"""


@pytest.mark.promise("C6")
async def test_stderr_flood_is_capped_and_killed(sandbox: Sandbox) -> None:
    result = await sandbox.run(STDERR_FLOOD)
    assert (result.job["status"], result.job["reason"]) == ("failed", "output_limit"), result.job
    stored = sum(len(str(c["data"]).encode()) for c in result.chunks)
    assert result.stderr and not result.stdout
    assert LOG_CAP // 2 <= stored <= LOG_CAP, stored
    await sandbox.assert_healthy(result)


BINARY_FLOOD = """
import os
block = bytes(range(128, 256)) * 512
while True:
    os.write(1, block)
    os.write(2, block)
"""


@pytest.mark.promise("C6")
async def test_binary_flood_on_both_streams_is_capped_and_killed(sandbox: Sandbox) -> None:
    """Bytes that are not UTF-8, on stdout and stderr at once: the job is still stopped at the
    cap, and what the API serves back for it stays within the cap (the engine's json-file log
    turns each invalid byte into U+FFFD, which the cap counts as 3 bytes; a character cut at a
    chunk's edge is stored as one more U+FFFD: at most 3 bytes of slack per chunk)."""
    result = await sandbox.run(BINARY_FLOOD)
    assert (result.job["status"], result.job["reason"]) == ("failed", "output_limit"), result.job
    stored = sum(len(str(c["data"]).encode()) for c in result.chunks)
    # Output was stored (from which stream first is up to the two readers' scheduling).
    assert result.stdout or result.stderr
    assert LOG_CAP // 2 <= stored <= LOG_CAP + 3 * len(result.chunks), (
        f"{stored} bytes of log served for a cap of {LOG_CAP}"
    )
    await sandbox.assert_healthy(result)
