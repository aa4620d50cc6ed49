"""One job's output into `job_log_chunks`: batched, numbered and capped (C6).

The sandbox side hands reads of the attach stream over a bounded queue (`jobs/sandbox.py`);
this side batches them for `CHUNK_FLUSH_S` or `BATCH_MAX_BYTES`, turns them into chunks
(`jobs/output.OutputLog`) and stores each batch in one transaction with its announcement.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobLogChunk
from offcoder.jobs.output import LogChunk, OutputLog
from offcoder.realtime.signals import JobSignal, signal_job

CHUNK_FLUSH_S = 0.05
BATCH_MAX_BYTES = 256 * 1024

# A read of the attach stream, or None once it has ended.
Piece = tuple[str, bytes] | None


class LogWriter:
    def __init__(self, database: Database, job_id: uuid.UUID, user_id: uuid.UUID, cap: int):
        self.database = database
        self.job_id = job_id
        self.user_id = user_id
        self.output = OutputLog(cap=cap)

    async def say(self, stream: str, line: str) -> None:
        """One line of ours in the job's log (the engine's refusal to start its command)."""
        await self.store([self.output.note(stream, line + "\n")])

    async def consume(self, pieces: asyncio.Queue[Piece], on_cut: Callable[[], None]) -> None:
        """Store what arrives until the stream ends; call `on_cut` once at the cap.

        Past the cap the rest is read and dropped until the stream ends (the job is being
        killed); an exception here is the caller's cue to kill the sandbox at once."""
        streaming, cut = True, False
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
                chunks.extend(self.output.add(stream, bytes(data)))
            if not streaming:
                chunks.extend(self.output.finish())
            if chunks:
                await self.store(chunks)
            if self.output.cut and not cut:
                cut = True
                on_cut()

    async def store(self, chunks: list[LogChunk]) -> None:
        if not chunks:
            return
        async with self.database.system_session() as s:
            now = utcnow()
            await s.execute(
                insert(JobLogChunk)
                .values(
                    [
                        {
                            "job_id": self.job_id,
                            "seq": chunk.seq,
                            "user_id": self.user_id,
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
                .where(Job.id == self.job_id)
                .values(
                    last_seq=chunks[-1].seq,
                    log_bytes=Job.log_bytes + sum(len(c.data.encode()) for c in chunks),
                )
            )
            await signal_job(s, self.job_id, JobSignal.log)
