"""One job's output into `job_log_chunks`: batched, numbered and capped (C6).

The sandbox's reader thread puts each read of the attach stream into an `OutputBacklog`
(`jobs/sandbox.py`); the writer takes batches from it, turns them into chunks
(`jobs/output.OutputLog`) and stores each batch in one transaction with its announcement.

The reader never waits for the database. It waits only while the output not yet taken for
storing is at the backlog's bound (`job_output_backlog_bytes`); then the engine waits, then the
program's writes, and the worker's memory stays bounded: the backlog, plus the one batch being
stored. A batch is taken when it holds `STORE_BATCH_BYTES`, when its oldest byte has waited
`CHUNK_FLUSH_S`, or at the end of the stream; while one batch is stored the next gathers, so a
fast program's output goes in a few large transactions and a line printed alone is stored
within `CHUNK_FLUSH_S` plus one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.dialects.postgresql import insert

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobLogChunk
from offcoder.jobs.output import LogChunk, OutputLog
from offcoder.realtime.signals import JobSignal, signal_job

CHUNK_FLUSH_S = 0.05
STORE_BATCH_BYTES = 4 * 1024 * 1024

_STORE_CHUNKS = insert(cast(Table, JobLogChunk.__table__)).on_conflict_do_nothing()


class OutputBacklog:
    """The attach stream's reads not yet taken for storing, bounded in bytes.

    Filled by the reader thread (`put`, `end`), taken by the writer on the event loop
    (`take`). Consecutive reads of one stream are kept as one piece, in the order read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bound: int) -> None:
        self._loop = loop
        self._bound = bound
        self._room = threading.Condition()
        self._pieces: deque[tuple[str, bytearray]] = deque()
        self._size = 0
        self._oldest: float | None = None  # when the oldest byte held arrived (monotonic)
        self._ended = False
        self._abandoned = False
        self._due = asyncio.Event()

    # ---------------------------------------------------------------- the reader thread

    def put(self, stream: str, data: bytes) -> bool:
        """Hold one read, first waiting while the backlog is at its bound; False once nobody
        will take it (the writer gave up, or the worker's loop is gone)."""
        with self._room:
            while self._size >= self._bound and not self._abandoned:
                self._room.wait(timeout=1.0)
                if self._loop.is_closed():
                    return False
            if self._abandoned:
                return False
            if self._pieces and self._pieces[-1][0] == stream:
                self._pieces[-1][1].extend(data)
            else:
                self._pieces.append((stream, bytearray(data)))
            before = self._size
            self._size = after = before + len(data)
            if not before:
                self._oldest = time.monotonic()
        # The writer is woken when a batch starts (its flush time runs from here) and when one
        # is full, not for every read: a read costs the reader no trip through the loop.
        if not before or before < STORE_BATCH_BYTES <= after:
            self._wake()
        return True

    def end(self) -> None:
        """The stream has ended: what is held is the last of it."""
        with self._room:
            self._ended = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._due.set)

    # ---------------------------------------------------------------- the writer, on the loop

    async def take(self, most: int, flush_s: float) -> tuple[list[tuple[str, bytes]], bool]:
        """The next batch, at most `most` bytes, once it is due; and whether the stream has
        ended with it (no more will come)."""
        while True:
            self._due.clear()
            with self._room:
                size, oldest, ended = self._size, self._oldest, self._ended
            if ended or size >= most:
                break
            wait = None if oldest is None else oldest + flush_s - time.monotonic()
            if wait is not None and wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), wait)
        batch: list[tuple[str, bytes]] = []
        with self._room:
            taken = 0
            while self._pieces and taken < most:
                stream, data = self._pieces[0]
                part = most - taken
                if len(data) <= part:
                    self._pieces.popleft()
                    batch.append((stream, bytes(data)))
                    taken += len(data)
                else:  # the rest stays first in line (a character cut here is decoded whole)
                    batch.append((stream, bytes(data[:part])))
                    del data[:part]
                    taken += part
            self._size -= taken
            # What is left keeps its arrival time: it waited already, so it is due at once.
            if not self._size:
                self._oldest = None
            ended = self._ended and not self._size
            self._room.notify_all()
        return batch, ended

    def abandon(self) -> None:
        """The writer has given up: what is held is dropped and the reader stops at its next
        read."""
        with self._room:
            self._abandoned = True
            self._pieces.clear()
            self._size = 0
            self._room.notify_all()


class LogWriter:
    def __init__(
        self,
        database: Database,
        job_id: uuid.UUID,
        user_id: uuid.UUID,
        cap: int,
        *,
        backlog_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.database = database
        self.job_id = job_id
        self.user_id = user_id
        self.output = OutputLog(cap=cap)
        self.backlog_bytes = backlog_bytes

    def backlog(self, loop: asyncio.AbstractEventLoop) -> OutputBacklog:
        """Where the sandbox's reader thread puts the output for `consume` to take."""
        return OutputBacklog(loop, self.backlog_bytes)

    async def say(self, stream: str, line: str) -> None:
        """One line of ours in the job's log (the engine's refusal to start its command)."""
        await self.store([self.output.note(stream, line + "\n")])

    async def consume(self, backlog: OutputBacklog, on_cut: Callable[[], None]) -> None:
        """Store what the backlog holds until the stream ends; call `on_cut` once at the cap.

        Past the cap the rest is taken and dropped until the stream ends (the job is being
        killed); an exception here is the caller's cue to kill the sandbox at once."""
        cut = False
        while True:
            batch, ended = await backlog.take(STORE_BATCH_BYTES, CHUNK_FLUSH_S)
            chunks: list[LogChunk] = []
            for stream, data in batch:
                chunks.extend(self.output.add(stream, data))
            if ended:
                chunks.extend(self.output.finish())
            if chunks:
                await self.store(chunks)
            if self.output.cut and not cut:
                cut = True
                on_cut()
            if ended:
                return

    async def store(self, chunks: list[LogChunk]) -> None:
        if not chunks:
            return
        now = utcnow()
        rows = [
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
        async with self.database.system_session() as s:
            # One statement for the batch, compiled once: a list of rows, not a VALUES
            # clause built (and compiled again) for every batch.
            await s.execute(_STORE_CHUNKS, rows)
            await s.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(
                    last_seq=chunks[-1].seq,
                    log_bytes=Job.log_bytes + sum(len(c.data.encode()) for c in chunks),
                )
            )
            await signal_job(s, self.job_id, JobSignal.log)
