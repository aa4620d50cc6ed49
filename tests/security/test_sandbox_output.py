"""Output floods beyond stdout text (that one is in tests/jobs): stderr, and binary garbage.

Docker does not cap output; the worker stores at most `job_max_log_bytes` of it and kills the
sandbox past that (C6); the engine keeps no log file of a sandbox (the policy's LogConfig none).
"""

from __future__ import annotations

import pytest

from offcoder.jobs.output import LOG_CUT_MARKER
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
    *chunks, marker = result.chunks
    stored = sum(len(str(c["data"]).encode()) for c in chunks)
    assert result.stderr and not result.stdout
    assert stored == LOG_CAP, stored
    assert str(marker["data"]).lstrip("\n").startswith(LOG_CUT_MARKER)
    await sandbox.assert_healthy(result)


# A first piece on each stream, given time to be read, then the flood: the engine copies the two
# streams independently, and on a busy machine one stream's flood could otherwise fill the cap
# before the other's first read is stored.
BINARY_FLOOD = """
import os, time
block = bytes(range(128, 256)) * 512
os.write(1, block[:1024])
time.sleep(0.5)
os.write(2, block[:1024])
time.sleep(0.5)
while True:
    os.write(1, block)
    os.write(2, block)
"""


@pytest.mark.promise("C6")
async def test_binary_flood_on_both_streams_is_capped_and_killed(sandbox: Sandbox) -> None:
    """Bytes that are not UTF-8, on stdout and stderr at once: the job is still stopped at the
    cap, and what the API serves back for it stays within the cap (each invalid byte is stored
    as U+FFFD, which the cap counts as its 3 bytes of UTF-8; the cut marker adds one line)."""
    result = await sandbox.run(BINARY_FLOOD)
    assert (result.job["status"], result.job["reason"]) == ("failed", "output_limit"), result.job
    *chunks, marker = result.chunks
    stored = sum(len(str(c["data"]).encode()) for c in chunks)
    assert result.stdout and result.stderr
    # Whole U+FFFD characters only: the cut falls at most 2 bytes short of the cap.
    assert LOG_CAP - 2 <= stored <= LOG_CAP, f"{stored} bytes of log served for a cap of {LOG_CAP}"
    assert str(marker["data"]).lstrip("\n").startswith(LOG_CUT_MARKER)
    await sandbox.assert_healthy(result)
