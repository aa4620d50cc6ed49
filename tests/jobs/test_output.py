"""A job's output: every byte stored in order up to the cap, and honest endings past it (C6).

These run on their own worker with an 8 MiB output cap and an 8 MiB backlog, so that a
1,000,000-byte job is well inside the cap, a flood reaches it quickly, and a 6 MiB job fits the
backlog with room to spare (the engine and the sockets on the way hold a few MiB more).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.outcome import size_words
from offcoder.jobs.output import LOG_CUT_MARKER, NUL_SHOWN_AS
from offcoder.jobs.worker import Worker
from tests.support.runtime import (
    all_logs,
    project_with,
    runtime_app,
    sandboxes_of,
    wait_for_end,
    wait_for_running,
)
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id
from tests.support.wallet import grant

pytestmark = [pytest.mark.docker, pytest.mark.promise("C6")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
CAP = 8 * 1024 * 1024
BACKLOG = 8 * 1024 * 1024


@pytest.fixture(scope="module")
async def runtime(
    settings: Settings, prepared: PreparedDatabase, proxy_socket: str
) -> AsyncIterator[Runtime]:
    # Priced (one minor unit a second), so that who pays for an ending is visible; one user
    # queues 40 jobs at once here.
    async with runtime_app(
        settings,
        prepared,
        proxy_socket,
        job_max_log_bytes=CAP,
        job_output_backlog_bytes=BACKLOG,
        job_price_per_minute={"USD": 60},
        job_max_queued_per_user=40,
    ) as r:
        yield r


async def funded_user(runtime: Runtime) -> SignedIn:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    await grant(ctx.database, await user_id(api, user), 1_000_000)
    return user


async def submit(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, command: list[str], **extra: object
) -> str:
    submitted = await api.post(
        f"/v1/projects/{project_id}/jobs", headers=user.headers, json={"command": command, **extra}
    )
    assert submitted.status_code == 202, submitted.text
    return str(submitted.json()["id"])


def stored(chunks: list[dict[str, object]], stream: str) -> bytes:
    return "".join(str(c["data"]) for c in chunks if c["stream"] == stream).encode()


# The program each job runs: a deterministic mix of writes, so the test can compute locally
# exactly what it wrote. Unbuffered os.write: the write sizes reach the engine as chosen.
WRITER = """\
import os, random, sys

def plan(seed, total, newlines, final_newline):
    rng = random.Random(seed)
    left, out = total, []
    letters = b"abcdefghijklmnopqrstuvwxyz0123456789"
    while left:
        size = min(left, rng.choice([1, 7, 100, 511, 4096, 16383, 16384, 16385, 65536, 70000]))
        fd = rng.choice([1, 2])
        piece = bytearray(rng.choice(letters) for _ in range(size))
        if newlines == "every100":
            for i in range(99, size, 100):
                piece[i] = 10
        elif newlines == "random":
            for _ in range(size // 300):
                piece[rng.randrange(size)] = 10
        left -= size
        if not left:
            piece[-1] = 10 if final_newline else 46
        out.append((fd, bytes(piece)))
    return out

if __name__ == "__main__":
    seed, newlines, final = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    for fd, piece in plan(seed, 1_000_000, newlines, final):
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view):]
"""


def planned(seed: int, newlines: str, final_newline: bool) -> tuple[bytes, bytes]:
    namespace: dict[str, object] = {}
    # The very program the jobs run, so the test knows exactly what each one wrote.
    exec(compile(WRITER, "writer.py", "exec"), namespace)  # noqa: S102
    pieces = namespace["plan"](seed, 1_000_000, newlines, final_newline)  # type: ignore[operator]
    out = b"".join(p for fd, p in pieces if fd == 1)
    err = b"".join(p for fd, p in pieces if fd == 2)
    assert len(out) + len(err) == 1_000_000
    return out, err


async def test_twelve_jobs_of_a_million_bytes_are_stored_byte_for_byte(runtime: Runtime) -> None:
    """Given 12 jobs that each write exactly 1,000,000 bytes in mixed write sizes over both
    streams (no newline at all, one every 100 bytes, random ones; with and without a final
    newline: each of the six twice, with other seeds), when they end, then each stream's stored
    chunks hash to what the job wrote. (How fast, and many more at once: `make bench`'s
    many-jobs cell, not a timed test; 40 jobs here took over a minute of the suite.)

    On the engine's json-file log followed per stream, the bytes after the last 16 KiB
    boundary of a line with no newline were lost when the container exited first."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(api, user, {"writer.py": WRITER.encode()})
    cases = [(seed, ("none", "every100", "random")[seed % 3], seed % 2 == 0) for seed in range(12)]
    job_ids = [
        await submit(
            api, user, project, ["python3", "writer.py", str(seed), newlines, str(int(final))]
        )
        for seed, newlines, final in cases
    ]
    jobs = await asyncio.gather(
        *(wait_for_end(api, user.headers, job_id, timeout=120) for job_id in job_ids)
    )
    short: list[str] = []
    for (seed, newlines, final), job in zip(cases, jobs, strict=True):
        assert job["status"] == "succeeded", (job["reason"], job["detail"])
        chunks = await all_logs(api, user.headers, str(job["id"]))
        assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
        out, err = planned(seed, newlines, final)
        for name, wrote in (("stdout", out), ("stderr", err)):
            got = stored(chunks, name)
            if hashlib.sha256(got).digest() != hashlib.sha256(wrote).digest():
                short.append(f"seed {seed} ({newlines}, final={final}) {name}: "
                             f"{len(got)} of {len(wrote)} bytes")  # fmt: skip
    assert short == [], short


async def test_multibyte_characters_split_across_reads_are_stored_intact(
    runtime: Runtime,
) -> None:
    """Given a job that writes 2-, 3- and 4-byte characters in writes that cut them in every
    place (and long runs with no newline, which the engine used to cut at 16 KiB), then the
    stored text is exactly what it wrote: no U+FFFD anywhere."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    program = (
        "import os, time\n"
        "text = ('é€😀' * 20000).encode()\n"  # 180,000 bytes, no newline
        "i, sizes = 0, [1, 2, 3, 5, 7, 16384, 4093]\n"
        "while i < len(text):\n"
        "    n = sizes[(i // 7) % len(sizes)]\n"
        "    os.write(1, text[i:i + n]); i += n\n"
        "    if n < 8: time.sleep(0.0005)\n"
        "os.write(2, 'ß'.encode()[:1]); time.sleep(0.05); os.write(2, 'ß'.encode()[1:])\n"
    )
    project = await project_with(api, user, {"chars.py": program.encode()})
    job = await wait_for_end(
        api, user.headers, await submit(api, user, project, ["python3", "chars.py"])
    )
    assert job["status"] == "succeeded", job
    chunks = await all_logs(api, user.headers, str(job["id"]))
    assert stored(chunks, "stdout").decode() == "é€😀" * 20000
    assert stored(chunks, "stderr").decode() == "ß"


async def test_a_nul_byte_then_a_flood_ends_at_the_cap_with_its_output_stored(
    runtime: Runtime,
) -> None:
    """Given a job writing `a\\0b\\n` and then flooding stdout, then it ends `failed` with
    `output_limit`: its chunks are stored up to the cap, the NUL shown as documented, and the
    last chunk says where the output was cut. (A NUL used to kill the log writer: the cap was
    never reached, the reader's queue grew without bound and the job ended free.)"""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(
        api,
        user,
        {
            "nul.py": b"import os\nos.write(1, b'a\\0b\\n')\n"
            b"while True:\n    os.write(1, b'x' * 65536)\n"
        },
    )
    job = await wait_for_end(
        api, user.headers, await submit(api, user, project, ["python3", "nul.py"], timeout_s=60)
    )
    assert (job["status"], job["reason"]) == ("failed", "output_limit"), job
    assert f"the limit of {size_words(CAP)}" in str(job["detail"])
    chunks = await all_logs(api, user.headers, str(job["id"]))
    text = "".join(str(c["data"]) for c in chunks[:-1])
    assert text.startswith(f"a{NUL_SHOWN_AS}b\n")
    assert len(text.encode()) == CAP
    assert chunks[-1]["stream"] == "stderr"
    assert str(chunks[-1]["data"]).lstrip("\n").startswith(LOG_CUT_MARKER)
    assert "\x00" not in text


@contextmanager
def log_chunk_trigger(
    prepared: PreparedDatabase, name: str, body: str
) -> Iterator[psycopg.Connection]:
    """A BEFORE INSERT trigger on job_log_chunks running `body` (PL/pgSQL, NEW is the chunk)
    for as long as the block lasts: the database itself refusing or slowing the log store.
    Yields the owner's connection, for reading back what the application role cannot."""
    url = prepared.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            "RETURN NEW; END $$"
        )
        admin.execute(
            f"CREATE TRIGGER {name} BEFORE INSERT ON job_log_chunks "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
        try:
            yield admin
        finally:
            admin.execute(f"DROP TRIGGER {name} ON job_log_chunks")
            admin.execute(f"DROP FUNCTION {name}()")


async def test_a_log_store_refused_by_the_database_kills_the_sandbox_within_a_second(
    runtime: Runtime, prepared: PreparedDatabase
) -> None:
    """Given the database refusing to store a job's output (a trigger the test installs),
    then the sandbox is killed within a second of the refusal, the job ends `failed` with
    `log_storage_failed`, it is not charged, and the ending is in the audit log."""
    api, _, _ = runtime
    marker = f"refuse-{uuid.uuid4().hex[:12]}"
    refusal = f"IF NEW.data LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
    with log_chunk_trigger(prepared, f"test_refuse_{marker[7:]}", refusal) as admin:
        user = await funded_user(runtime)
        program = f"import time\nprint('{marker}', flush=True)\ntime.sleep(60)\n"
        project = await project_with(api, user, {"main.py": program.encode()})
        job_id = await submit(api, user, project, ["python3", "main.py"], timeout_s=90)
        job = await wait_for_end(api, user.headers, job_id, timeout=30)
        with admin.cursor() as cursor:
            started_at, finished_at = cursor.execute(
                "SELECT started_at, finished_at FROM jobs WHERE id = %s", (job_id,)
            ).fetchone() or (None, None)
            audited = cursor.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'job.log_storage_failed' "
                "AND target = %s",
                (f"job:{job_id}",),
            ).fetchone()
    assert (job["status"], job["reason"]) == ("failed", "log_storage_failed"), job
    assert sandboxes_of(job_id) == []
    assert started_at is not None and finished_at is not None
    # The program prints at once and then sleeps a minute: the ending is the kill.
    assert (finished_at - started_at).total_seconds() < 1.5, (started_at, finished_at)
    assert job["charge"]["charged"] == 0, job  # type: ignore[index]
    assert audited == (1,)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_worker_memory_stays_bounded_while_a_job_floods_a_slow_log_store(
    runtime: Runtime, prepared: PreparedDatabase
) -> None:
    """Given a log store slowed down by the database (a trigger sleeping per chunk) and a job
    printing as fast as it can, then the worker holds a bounded backlog: the engine is made
    to wait, not the worker's memory to grow."""
    api, _, _ = runtime
    marker = f"slow{uuid.uuid4().hex[:12]}"
    peak, before = 0, _rss_bytes()
    slowness = f"IF NEW.data LIKE '%{marker}%' THEN PERFORM pg_sleep(0.05); END IF;"
    with log_chunk_trigger(prepared, f"test_slow_{marker}", slowness):
        user = await funded_user(runtime)
        line = (marker * 1100)[:16383] + "\n"  # every stored chunk holds the marker
        project = await project_with(
            api, user,
            {"flood.py": f"import os\nb = {line!r}.encode()\n"
                         "while True:\n    os.write(1, b)\n".encode()},
        )  # fmt: skip
        job_id = await submit(api, user, project, ["python3", "flood.py"], timeout_s=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            peak = max(peak, _rss_bytes())
            job = (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()
            if job["status"] not in {"queued", "starting", "running"}:
                break
            await asyncio.sleep(0.05)
        job = await wait_for_end(api, user.headers, job_id)
    assert job["reason"] == "output_limit", job
    assert peak - before < 32 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"


async def test_the_contracts_example_job_runs_as_written(runtime: Runtime) -> None:
    """api.md's example, verbatim: `python` and `pip` exist in the python image."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(
        api, user, {"main.py": b"import subprocess, sys\nprint('hello', sys.version_info[0])\n"
                    b"pip = subprocess.run(['pip', '--version'], capture_output=True)\n"
                    b"print(pip.returncode)\n"},
    )  # fmt: skip
    job_id = await submit(api, user, project, ["python", "main.py"], image="python")
    job = await wait_for_end(api, user.headers, job_id)
    assert (job["status"], job["exit_code"]) == ("succeeded", 0), job
    chunks = await all_logs(api, user.headers, job_id)
    assert stored(chunks, "stdout") == b"hello 3\n0\n"


async def test_a_command_that_cannot_start_is_the_users_error_and_says_why(
    runtime: Runtime,
) -> None:
    """Given `notacommand --flag`, then the job ends `failed` with `command_not_found`, exit
    code 127, the engine's message as its detail and as the first log line; it is charged
    like any run (the sandbox was made for it)."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(api, user, {"main.py": b""})
    job_id = await submit(api, user, project, ["notacommand", "--flag"])
    job = await wait_for_end(api, user.headers, job_id)
    assert (job["status"], job["reason"], job["exit_code"]) == (
        "failed", "command_not_found", 127,
    ), job  # fmt: skip
    assert job["detail"] == 'exec: "notacommand": executable file not found in $PATH'
    chunks = await all_logs(api, user.headers, job_id)
    assert chunks and chunks[0]["seq"] == 1 and chunks[0]["stream"] == "stderr"
    assert str(chunks[0]["data"]).rstrip("\n") == job["detail"]
    assert job["charge"]["charged"] >= 1, job  # type: ignore[index]
    assert sandboxes_of(job_id) == []


async def test_a_quoted_name_and_a_file_without_its_execute_bit_are_the_users_errors_too(
    runtime: Runtime,
) -> None:
    """The engine quotes the name Go-style (a `"` inside comes as `\\"`), and a program that
    exists but may not be run is 126 `command_not_executable`, as a shell says it."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(api, user, {"main.py": b"print('never')\n"})
    submitted = [await submit(api, user, project, c) for c in (['./x y"z'], ["./main.py"])]
    quoted, not_executable = await asyncio.gather(
        *(wait_for_end(api, user.headers, job_id) for job_id in submitted)
    )
    assert (quoted["status"], quoted["reason"], quoted["exit_code"]) == (
        "failed", "command_not_found", 127,
    ), quoted  # fmt: skip
    assert str(quoted["detail"]).startswith('exec: "./x y\\"z": '), quoted["detail"]
    assert (not_executable["reason"], not_executable["exit_code"]) == (
        "command_not_executable", 126,
    ), not_executable  # fmt: skip
    assert not_executable["detail"] == 'exec: "./main.py": permission denied'


@contextmanager
def log_store_blocked(prepared: PreparedDatabase) -> Iterator[psycopg.Connection]:
    """The log store made to wait by the database itself: another transaction holds a SHARE
    lock on job_log_chunks (reads go on, every INSERT waits) until the block ends. Yields that
    transaction's connection, which can still read the table."""
    url = prepared.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as admin:
        admin.execute("LOCK TABLE job_log_chunks IN SHARE MODE")
        try:
            yield admin
        finally:
            admin.rollback()


# Writes `total` bytes to stdout in `size`-byte writes, sleeping `pause` s after each, and
# after each write a line `<monotonic s> <bytes so far>` on stderr: when the program had to wait.
PACED_WRITER = """\
import os, sys, time
total, size, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
block, written = b"x" * (size - 1) + b"\\n", 0
while written < total:
    view = memoryview(block[: total - written])
    while view:
        view = view[os.write(1, view):]
    written += min(size, total - written)
    os.write(2, b"%.3f %d\\n" % (time.monotonic(), written))
    if pause:
        time.sleep(pause)
"""


def stalls(chunks: list[dict[str, object]]) -> list[tuple[float, int]]:
    """(gap in s, bytes written before it) between the paced writer's writes, longest first."""
    marks = [line.split() for line in stored(chunks, "stderr").decode().splitlines()]
    times = [(float(t), int(n)) for t, n in marks]
    gaps = [(b[0] - a[0], a[1]) for a, b in itertools.pairwise(times)]
    return sorted(gaps, reverse=True)


async def run_while_the_store_is_blocked(
    runtime: Runtime, prepared: PreparedDatabase, hold_s: float, *args: object
) -> tuple[dict[str, object], list[dict[str, object]], int]:
    """The paced writer run with the log store blocked from before it starts until `hold_s`
    after it is running; the ended job, its chunks, and how many chunks were stored meanwhile."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(api, user, {"paced.py": PACED_WRITER.encode()})
    with log_store_blocked(prepared) as admin:
        job_id = await submit(
            api, user, project, ["python3", "paced.py", *map(str, args)], timeout_s=60
        )
        running = await wait_for_running(api, user.headers, job_id)
        assert running["status"] == "running", running
        await asyncio.sleep(hold_s)
        row = admin.execute(
            "SELECT count(*) FROM job_log_chunks WHERE job_id = %s", (job_id,)
        ).fetchone()
    job = await wait_for_end(api, user.headers, job_id)
    return job, await all_logs(api, user.headers, job_id), int(row[0]) if row else -1


async def test_a_blocked_store_does_not_stall_a_program_whose_output_fits_the_backlog(
    runtime: Runtime, prepared: PreparedDatabase
) -> None:
    """Given the log store blocked for 3 s (another transaction's lock) and a job writing 6 MiB
    as fast as it can, less than the backlog's bound, then the program never waits: the worker
    keeps reading while nothing is stored, and afterwards every byte is stored in order.

    (Before, the reader waited as soon as 64 reads were queued; the program stopped after
    about 4.5 MiB, 2 MiB of them in the queue and the rest in the engine's and sockets'
    buffers, until the store moved again.)"""
    total = 6 * 1024 * 1024
    job, chunks, during = await run_while_the_store_is_blocked(
        runtime, prepared, 3.0, total, 65536, 0
    )
    assert during == 0  # the store was held for the whole 3 s
    assert job["status"] == "succeeded", job
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert stored(chunks, "stdout") == (b"x" * 65535 + b"\n") * (total // 65536)
    longest, written = stalls(chunks)[0]
    assert longest < 1.0, f"the program waited {longest:.2f} s after {written} bytes"


async def test_worker_memory_stays_bounded_while_the_store_is_blocked(
    runtime: Runtime, prepared: PreparedDatabase
) -> None:
    """Given the log store blocked for 4 s (another transaction's lock) and a job printing as
    fast as it can for ever, then the worker stops reading at the backlog's bound: its memory
    grows by about that, not by what the program could write meanwhile (a few hundred MB);
    once the store moves on, the job ends at the output cap."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    project = await project_with(
        api, user, {"flood.py": b"import os\nb = b'y' * 65536\nwhile True:\n    os.write(1, b)\n"}
    )
    before = peak = _rss_bytes()
    with log_store_blocked(prepared) as admin:
        job_id = await submit(api, user, project, ["python3", "flood.py"], timeout_s=60)
        running = await wait_for_running(api, user.headers, job_id)
        assert running["status"] == "running", running
        held_until = time.monotonic() + 4.0
        while time.monotonic() < held_until:
            peak = max(peak, _rss_bytes())
            await asyncio.sleep(0.05)
        row = admin.execute(
            "SELECT count(*) FROM job_log_chunks WHERE job_id = %s", (job_id,)
        ).fetchone()
    job = await wait_for_end(api, user.headers, job_id)
    assert row == (0,)
    assert (job["status"], job["reason"]) == ("failed", "output_limit"), job
    assert peak - before < 32 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"


async def test_a_fast_writers_output_is_stored_in_few_large_chunks_and_transactions(
    runtime: Runtime, prepared: PreparedDatabase
) -> None:
    """Given a job writing 2 MiB in 64 KiB writes while the store is held back for 2 s (so
    that all of it is waiting at once), then it is stored in 64 KiB chunks, in at most a few
    transactions, byte for byte and in order. (Before: 16 KiB chunks, 256 KiB transactions:
    128 chunks in 8 or more.)"""
    api, _, _ = runtime
    user = await funded_user(runtime)
    wrote = (b"z" * 1023 + b"\n") * 2048
    program = (
        "import os\nblock = (b'z' * 1023 + b'\\n') * 64\n"
        "for _ in range(32):\n    view = memoryview(block)\n"
        "    while view:\n        view = view[os.write(1, view):]\n"
    )
    project = await project_with(api, user, {"fast.py": program.encode()})
    with log_store_blocked(prepared) as admin:
        job_id = await submit(api, user, project, ["python3", "fast.py"])
        running = await wait_for_running(api, user.headers, job_id)
        assert running["status"] == "running", running
        await asyncio.sleep(2.0)
        admin.rollback()  # the lock goes; the same connection then reads the stored rows
        job = await wait_for_end(api, user.headers, job_id)
        row = admin.execute(
            "SELECT count(DISTINCT created_at) FROM job_log_chunks WHERE job_id = %s",
            (job_id,),
        ).fetchone()
    assert job["status"] == "succeeded", job
    chunks = await all_logs(api, user.headers, job_id)
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert stored(chunks, "stdout") == wrote
    assert len(chunks) <= 40, f"{len(chunks)} chunks"
    assert max(len(str(c["data"])) for c in chunks) == 64 * 1024
    assert row is not None and row[0] <= 3, f"{row[0] if row else None} store transactions"


async def test_lines_printed_slowly_are_readable_within_half_a_second(runtime: Runtime) -> None:
    """Given a job printing a line every 0.4 s, each stamped with the time it was printed,
    then a client waiting on the logs reads each line within about half a second of its
    printing: batching by size does not hold a slow program's lines back."""
    api, _, _ = runtime
    user = await funded_user(runtime)
    program = (
        "import time\nfor i in range(6):\n"
        "    print(f'{time.time():.3f}', flush=True)\n    time.sleep(0.4)\n"
    )
    project = await project_with(api, user, {"slow.py": program.encode()})
    job_id = await submit(api, user, project, ["python3", "slow.py"])
    delays: list[float] = []
    after = 0
    while len(delays) < 6:
        page = (
            await api.get(
                f"/v1/jobs/{job_id}/logs",
                params={"after_seq": after, "wait_s": 10},
                headers=user.headers,
            )
        ).json()
        seen = time.time()
        assert page["chunks"] or not page["done"], (page, delays)
        for chunk in page["chunks"]:
            delays += [seen - float(line) for line in str(chunk["data"]).splitlines()]
            after = int(chunk["seq"])  # type: ignore[call-overload]
    delays.sort()
    assert delays[len(delays) // 2] < 0.5 and delays[-1] < 1.0, delays
