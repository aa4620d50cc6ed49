"""The backlog between a job's attach stream and its log store, on its own (no engine, no
database): a real reader thread on one side, the event loop on the other.

What the job tests cannot pin down exactly: where the reader stops (the bound, in bytes, not a
count of reads), that a batch is taken at its size or its age, and that reads come out in
order with a stream's consecutive reads as one piece."""

from __future__ import annotations

import asyncio
import threading
import time

from offcoder.jobs.logwriter import OutputBacklog

KiB = 1024


def reader(backlog: OutputBacklog, pieces: list[tuple[str, bytes]], put: list[int]) -> None:
    """What the sandbox's reader thread does, counting the reads it has handed over."""
    for stream, data in pieces:
        if not backlog.put(stream, data):
            return
        put.append(len(data))
    backlog.end()


async def settled(put: list[int], seconds: float = 0.3) -> int:
    """How many reads the reader has handed over once it has stopped for `seconds`."""
    seen = -1
    while seen != len(put):
        seen = len(put)
        await asyncio.sleep(seconds)
    return seen


async def test_the_reader_waits_only_once_the_backlog_holds_its_bound_in_bytes() -> None:
    """Given a bound of 100 KiB and reads of 1 KiB, then the reader hands over 100 reads (not a
    fixed count of reads), waits while nothing is taken, and goes on as soon as a batch is."""
    backlog = OutputBacklog(asyncio.get_running_loop(), 100 * KiB)
    put: list[int] = []
    thread = threading.Thread(
        target=reader, args=(backlog, [("stdout", b"x" * KiB)] * 300, put), daemon=True
    )
    thread.start()
    assert await settled(put) == 100
    batch, ended = await backlog.take(40 * KiB, 10.0)
    assert sum(len(data) for _, data in batch) == 40 * KiB and not ended
    assert await settled(put) == 140
    taken = 40 * KiB
    while not ended:
        batch, ended = await backlog.take(64 * KiB, 0.01)
        taken += sum(len(data) for _, data in batch)
    assert taken == 300 * KiB
    thread.join(5)
    assert not thread.is_alive()


async def test_reads_come_out_in_order_with_a_streams_consecutive_reads_as_one_piece() -> None:
    backlog = OutputBacklog(asyncio.get_running_loop(), 1024 * KiB)
    pieces = [("stdout", b"a"), ("stdout", b"b"), ("stderr", b"c"), ("stdout", b"d" * 10)]
    thread = threading.Thread(target=reader, args=(backlog, pieces, []), daemon=True)
    thread.start()
    thread.join(5)
    batch, ended = await backlog.take(4, 10.0)  # a batch may end inside a piece
    assert (batch, ended) == ([("stdout", b"ab"), ("stderr", b"c"), ("stdout", b"d")], False)
    assert await backlog.take(1024, 10.0) == ([("stdout", b"d" * 9)], True)


async def test_a_batch_is_taken_when_it_is_full_or_when_its_oldest_byte_has_waited() -> None:
    loop = asyncio.get_running_loop()
    backlog = OutputBacklog(loop, 1024 * KiB)
    # One line, then nothing: taken once it has waited the flush time, not before.
    threading.Thread(target=backlog.put, args=("stdout", b"line\n"), daemon=True).start()
    started = time.monotonic()
    batch, ended = await backlog.take(64 * KiB, 0.3)
    waited = time.monotonic() - started
    assert (batch, ended) == ([("stdout", b"line\n")], False)
    assert 0.2 <= waited < 2.0, waited
    # A full batch: taken at once, however long the flush time.
    threading.Thread(target=backlog.put, args=("stdout", b"y" * 64 * KiB), daemon=True).start()
    started = time.monotonic()
    batch, _ = await backlog.take(64 * KiB, 30.0)
    assert batch == [("stdout", b"y" * 64 * KiB)]
    assert time.monotonic() - started < 2.0


async def test_an_abandoned_backlog_lets_a_waiting_reader_go() -> None:
    """When the writer gives up (a failed store), a reader waiting at the bound returns at once
    and every later read is refused, so the thread ends instead of holding the stream."""
    backlog = OutputBacklog(asyncio.get_running_loop(), 10 * KiB)
    put: list[int] = []
    thread = threading.Thread(
        target=reader, args=(backlog, [("stderr", b"z" * KiB)] * 100, put), daemon=True
    )
    thread.start()
    assert await settled(put) == 10
    backlog.abandon()
    thread.join(5)
    assert not thread.is_alive()
    assert len(put) == 10
