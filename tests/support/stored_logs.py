"""A finished job with a long stored log, made in a second instead of by running a sandbox.

The job row is a real one of the user's project; its output goes in through the worker's own
`LogWriter.store` (numbered chunks, `last_seq`, `log_bytes`, the log signal) and it ends through
`repository.finish`, in that order, as a worker does: every chunk is stored before the status.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs import repository
from offcoder.jobs.logwriter import LogWriter
from offcoder.jobs.models import Job, JobStatus
from offcoder.jobs.outcome import SUCCEEDED
from offcoder.jobs.output import LogChunk
from offcoder.projects.models import Project
from offcoder.runtime.policy import NetworkMode

# What one stored chunk holds at most is 16 KiB; a program printing steadily leaves far smaller
# ones (one per 50 ms batch), which is what makes a long log many chunks.
STORE_BATCH = 1000


def numbered_lines(first: int, count: int, width: int = 100) -> str:
    """`count` lines `line 000123 xxx…` of `width` bytes each (newline included)."""
    pad = width - len("line 000000 \n")
    return "".join(f"line {n:06d} {'x' * pad}\n" for n in range(first, first + count))


def chunked_log(total_bytes: int, chunk_lines: int = 10, width: int = 100) -> list[str]:
    """About `total_bytes` of numbered lines, `chunk_lines` per chunk; line n is in chunk
    n // chunk_lines."""
    lines = total_bytes // width
    return [
        numbered_lines(start, min(chunk_lines, lines - start), width)
        for start in range(0, lines, chunk_lines)
    ]


async def finished_job_with_log(
    database: Database, project_id: uuid.UUID | str, chunks: list[str]
) -> uuid.UUID:
    """A succeeded job of the project whose stdout is `chunks` (seq 1..len(chunks))."""
    async with database.system_session() as s:
        project = await s.scalar(select(Project).where(Project.id == uuid.UUID(str(project_id))))
        assert project is not None, project_id
        job = Job(
            user_id=project.user_id,
            project_id=project.id,
            status=JobStatus.running,
            image="python",
            command=["python3", "main.py"],
            timeout_s=60,
            network=NetworkMode.none,
            worker_id="stored-logs",
            started_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        s.add(job)
    writer = LogWriter(database, job.id, job.user_id, cap=64 * 1024 * 1024)
    stored = [LogChunk(seq, "stdout", data) for seq, data in enumerate(chunks, start=1)]
    for start in range(0, len(stored), STORE_BATCH):
        await writer.store(stored[start : start + STORE_BATCH])
    assert await repository.finish(
        database, job, SUCCEEDED, {"wall_ms": 1000}, had_sandbox=False
    ), "the job was ended elsewhere"
    return job.id
