"""What a person can see of their usage (issue 14, item 8): per job its wall time, CPU time, peak
memory, bytes of output and cost; per person this month's totals (`GET /v1/me/usage`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update

from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.jobs.models import Job
from offcoder.jobs.worker import Worker
from tests.support.runtime import project_with, run_job
from tests.support.signin import signed_in_user
from tests.support.users import user_id
from tests.support.wallet import grant

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

# 4000 bytes of output, then about 0.6 s of CPU holding 64 MiB.
WORKS = (
    b"import time\nprint('x' * 3999)\nblock = bytearray(64 * 1024 * 1024)\n"
    # The sleep outlasts the worker's 0.5 s CPU sampling even on a loaded machine, so the last
    # sample sees all the CPU the loop used (446 of 600 ms were seen once, with a 0.5 s sleep).
    b"while time.process_time() < 0.6:\n    pass\ntime.sleep(1.5)\n"
)


async def test_this_months_totals_add_up_the_jobs_that_ended_this_month(
    priced_runtime: Runtime,
) -> None:
    api, ctx, _ = priced_runtime
    user = await signed_in_user(ctx)
    await grant(ctx.database, uuid.UUID(str(await user_id(api, user))), 10_000)
    project = await project_with(api, user, {"main.py": WORKS, "hi.py": b"print('hi')\n"})
    worked = await run_job(api, user, project, ["python3", "main.py"])
    said_hi = await run_job(api, user, project, ["python3", "hi.py"])
    last_month = await run_job(api, user, project, ["python3", "hi.py"])
    async with ctx.database.system_session() as s:
        await s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(str(last_month["id"])))
            .values(finished_at=utcnow() - timedelta(days=40))
        )

    # each job shows what it used
    usage = worked["usage"]
    assert isinstance(usage, dict)
    assert worked["status"] == "succeeded", worked
    assert usage["output_bytes"] == 4000
    assert usage["wall_ms"] >= 1000
    assert usage["cpu_ms"] >= 500
    assert usage["peak_memory_bytes"] >= 64 * 1024 * 1024
    assert usage["oom_killed"] is False
    assert said_hi["usage"]["output_bytes"] == 3  # type: ignore[index]
    charges = [job["charge"] for job in (worked, said_hi)]
    assert all(isinstance(c, dict) and c["charged"] > 0 for c in charges), charges

    # and this month's totals are theirs added up, without the job that ended last month
    month = (await api.get("/v1/me/usage", headers=user.headers)).json()["this_month"]
    jobs = [
        (await api.get(f"/v1/jobs/{j['id']}", headers=user.headers)).json()
        for j in (worked, said_hi)
    ]
    assert month["jobs"] == 2
    assert month["wall_ms"] == sum(job["usage"]["wall_ms"] for job in jobs)
    assert month["cpu_ms"] == sum(job["usage"]["cpu_ms"] or 0 for job in jobs)
    assert month["output_bytes"] == 4003
    assert month["cost"] == [
        {"currency": "USD", "amount": sum(job["charge"]["charged"] for job in jobs)}
    ]
