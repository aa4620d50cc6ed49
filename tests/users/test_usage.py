"""`GET /v1/me/usage` (issue 14, items 2 and 8): a person's limits and quotas with what they use
of them now, the per-job limits, and this month's job usage."""

from __future__ import annotations

from datetime import timedelta

import httpx

from offcoder.config import Settings
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.payments.models import PlanSource, PlanStatus
from offcoder.payments.service import set_plan
from tests.support.apps import app_with
from tests.support.projects import new_project
from tests.support.signin import signed_in_user
from tests.support.users import user_id

LIMITS = {
    "job_max_queued_per_user": 7,
    "job_max_running_per_user": 3,
    "max_projects_per_user": 5,
    "max_file_bytes_per_user": 1000,
    "max_file_bytes": 400,
    "max_project_bytes": 600,
    "job_max_timeout_s": 900,
    "job_max_log_bytes": 2048,
    "log_retention_days": 12,
    "job_cpus": 0.25,
    "job_cpus_by_plan": {"pro": 1.5},
}


async def test_usage_shows_each_quota_with_its_use_and_the_job_limits(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with app_with(settings, prepared, **LIMITS) as (api, ctx):
        alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
        one, two = (
            (await new_project(api, alice, "one"))["id"],
            (await new_project(api, alice))["id"],
        )
        for project, size in ((one, 10), (two, 20)):
            put = await api.put(
                f"/v1/projects/{project}/files/main.py", headers=alice.headers, content=b"#" * size
            )
            assert put.status_code == 200, put.text
        queued = await api.post(
            f"/v1/projects/{one}/jobs", headers=alice.headers, json={"command": ["true"]}
        )
        assert queued.status_code == 202, queued.text
        try:
            answer = await api.get("/v1/me/usage", headers=alice.headers)
            assert answer.status_code == 200, answer.text
            usage = answer.json()
            assert usage["quotas"] == {
                "queued_jobs": {"used": 1, "limit": 7},
                "running_jobs": {"used": 0, "limit": 3},
                "projects": {"used": 2, "limit": 5},
                "file_bytes": {"used": 30, "limit": 1000, "dependency_bytes": 0},
            }
            assert usage["limits"] == {
                "file_bytes": 400,
                "project_file_bytes": 600,
                "job_timeout_s": 900,
                "job_output_bytes": 2048,
                "log_retention_days": 12,
                "job_cpus": 0.25,
            }
            month = usage["this_month"]
            assert month["since"].endswith("-01T00:00:00Z") or month["since"].endswith(
                "-01T00:00:00+00:00"
            )
            assert {k: v for k, v in month.items() if k != "since"} == {
                "jobs": 0,
                "wall_ms": 0,
                "cpu_ms": 0,
                "output_bytes": 0,
                "cost": [],
            }
            # bob's usage is his own
            bobs = (await api.get("/v1/me/usage", headers=bob.headers)).json()
            assert bobs["quotas"]["projects"] == {"used": 0, "limit": 5}
            assert bobs["quotas"]["queued_jobs"] == {"used": 0, "limit": 7}
        finally:
            await api.post(f"/v1/jobs/{queued.json()['id']}/cancel", headers=alice.headers)
        # a job cancelled while queued has ended this month, having used nothing
        month = (await api.get("/v1/me/usage", headers=alice.headers)).json()["this_month"]
        assert (month["jobs"], month["wall_ms"], month["cost"]) == (1, 0, [])
        # the CPU cap is the plan's while the plan is in force, as the worker applies it
        async with ctx.database.system_session() as session:
            await set_plan(
                session,
                await user_id(api, alice),
                plan="pro",
                source=PlanSource.grant,
                status=PlanStatus.active,
                until=utcnow() + timedelta(days=1),
            )
        limits = (await api.get("/v1/me/usage", headers=alice.headers)).json()["limits"]
        assert limits["job_cpus"] == 1.5
        assert (await api.get("/v1/me/usage", headers=bob.headers)).json()["limits"][
            "job_cpus"
        ] == 0.25


async def test_usage_needs_a_signed_in_person(api: httpx.AsyncClient) -> None:
    answer = await api.get("/v1/me/usage")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
