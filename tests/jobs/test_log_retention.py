"""Log retention (issue 14, item 2): a job's output is kept OFFCODER_LOG_RETENTION_DAYS after the
job ends, then deleted by the workers' periodic purge or `offcoder jobs purge`. The job stays,
with its ending and usage, and the logs API says the log was purged rather than showing an empty
log, as if nothing had been printed."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs import retention
from offcoder.jobs.models import Job
from offcoder.jobs.worker import Worker
from offcoder.main import create_app
from offcoder.worker.context import WorkerContext
from offcoder.worker.host import WorkerHost
from tests.support.live_logs import Watcher
from tests.support.runtime import all_logs, project_with, run_job
from tests.support.served import served
from tests.support.signin import SignedIn, signed_in_user

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
PRINTS = {"main.py": b"print('kept for a while')\n", "quiet.py": b""}


async def ended_days_ago(ctx: AppContext, job: dict[str, object], days: int) -> None:
    """As if the job had ended `days` days ago."""
    async with ctx.database.system_session() as s:
        await s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(str(job["id"])))
            .values(finished_at=utcnow() - timedelta(days=days))
        )


async def logs_of(api: httpx.AsyncClient, user: SignedIn, job: dict[str, object]) -> httpx.Response:
    return await api.get(f"/v1/jobs/{job['id']}/logs", headers=user.headers)


def test_the_retention_is_a_setting_with_a_sensible_default() -> None:
    assert Settings().log_retention_days == 30


async def test_a_purge_deletes_old_logs_and_keeps_the_jobs(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, PRINTS)
    old = await run_job(api, user, project, ["python3", "main.py"])
    recent = await run_job(api, user, project, ["python3", "main.py"])
    silent = await run_job(api, user, project, ["python3", "quiet.py"])
    old_chunks = await all_logs(api, user.headers, str(old["id"]))
    others = await retention.would_purge(ctx.database, 30)  # other tests' old jobs, if any
    await ended_days_ago(ctx, old, 31)
    await ended_days_ago(ctx, silent, 31)

    purged = await retention.purge_logs(ctx.database, 30)

    # the old job's output is deleted and counted
    printed = len("kept for a while\n")
    assert purged == others + retention.Purged(jobs=1, chunks=len(old_chunks), bytes=printed)
    # its log says it was purged, in a problem a client cannot take for an empty log
    gone = await logs_of(api, user, old)
    assert gone.status_code == 410, gone.text
    assert gone.headers["content-type"] == "application/problem+json"
    problem = gone.json()
    assert problem["type"] == "https://offcoder.dev/problems/log-purged"
    assert problem["detail"].startswith(f"This job's output was deleted on {utcnow():%Y-%m-%d}")
    assert problem["purged_at"]
    # read from its end or paged back, it is just as gone
    for query in ("?tail=10", "?before_seq=2&limit=1"):
        window = await api.get(f"/v1/jobs/{old['id']}/logs{query}", headers=user.headers)
        assert (window.status_code, window.json()["type"]) == (410, problem["type"]), query
    # the job itself stays, with its ending, its usage and when its log went
    job = (await api.get(f"/v1/jobs/{old['id']}", headers=user.headers)).json()
    assert (job["status"], job["exit_code"]) == ("succeeded", 0)
    assert job["usage"]["wall_ms"] == old["usage"]["wall_ms"]  # type: ignore[index]
    assert job["usage"]["output_bytes"] == printed
    assert job["log_purged_at"] is not None
    # a recent job keeps its log (the same output; each chunk's own time of storing aside); a
    # job that printed nothing still shows its empty log
    kept = await all_logs(api, user.headers, str(recent["id"]))
    assert [{**c, "at": None} for c in kept] == [{**c, "at": None} for c in old_chunks]
    assert (await logs_of(api, user, silent)).json() == {"chunks": [], "done": True}
    # a second purge finds nothing more
    assert await retention.purge_logs(ctx.database, 30) == retention.Purged()


async def test_live_logs_say_a_purged_log_is_gone(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, PRINTS)
    job = await run_job(api, user, project, ["python3", "main.py"])
    await ended_days_ago(ctx, job, 31)
    await retention.purge_logs(ctx.database, 30)
    async with served(create_app(ctx)) as url:
        watcher = Watcher()
        await watcher.connect(url, user.access_token)
        try:
            answer = await watcher.subscribe(str(job["id"]))
            tail = await watcher.subscribe(str(job["id"]), tail=10)
            earlier = await watcher.earlier(str(job["id"]), 2)
        finally:
            await watcher.client.disconnect()
    assert answer == tail == earlier == {"ok": False, "error": "log_purged"}


async def test_workers_purge_old_logs_on_their_own(runtime: Runtime) -> None:
    """A worker host runs the purge when it starts (and every hour after)."""
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, PRINTS)
    job = await run_job(api, user, project, ["python3", "main.py"])
    await ended_days_ago(ctx, job, 31)
    host = WorkerHost(WorkerContext(ctx.settings, ctx.database, ctx.keyring))
    stop = asyncio.Event()
    hosting = asyncio.create_task(host.run(stop))
    try:
        deadline = time.monotonic() + 30
        while (await logs_of(api, user, job)).status_code != 410:
            assert time.monotonic() < deadline, "the worker host never purged the old log"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(hosting, timeout=60)


def offcoder(prepared: PreparedDatabase, state_dir: Path, *args: str) -> tuple[int, str]:
    """`offcoder jobs ARGS` on the test database: its exit code and what it wrote."""
    env = {
        **os.environ,
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
    }
    import subprocess

    done = subprocess.run(  # our own command
        [sys.executable, "-m", "offcoder.cli", "jobs", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


async def test_the_purge_command_says_what_it_deleted(
    runtime: Runtime, prepared: PreparedDatabase, state_dir: Path
) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, PRINTS)
    job = await run_job(api, user, project, ["python3", "main.py"])
    chunks = await all_logs(api, user.headers, str(job["id"]))
    await retention.purge_logs(ctx.database, 35)  # other tests' old jobs, if any
    await ended_days_ago(ctx, job, 40)
    said = f"1 jobs ({len(chunks)} chunks, 17 bytes) that ended more than 35 days ago"

    code, dry = await asyncio.to_thread(
        offcoder, prepared, state_dir, "purge", "--older-than-days", "35", "--dry-run"
    )
    assert (code, dry.splitlines()[-1]) == (0, f"would purge the logs of {said}"), dry
    assert await all_logs(api, user.headers, str(job["id"])) == chunks

    code, done = await asyncio.to_thread(
        offcoder, prepared, state_dir, "purge", "--older-than-days", "35"
    )
    assert (code, done.splitlines()[-1]) == (0, f"purged the logs of {said}"), done
    assert (await logs_of(api, user, job)).status_code == 410

    code, refused = await asyncio.to_thread(
        offcoder, prepared, state_dir, "purge", "--older-than-days", "0"
    )
    assert code == 2
    assert "--older-than-days" in refused and "Traceback" not in refused
