"""Jobs through the API and a real worker, in real hardened sandboxes (C1, C3, C4, C6)."""

from __future__ import annotations

import secrets
import subprocess

import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.output import LOG_CUT_MARKER
from offcoder.jobs.worker import Worker
from tests.support.runtime import (
    all_logs,
    project_with,
    sandboxes_of,
    wait_for_end,
    wait_for_running,
)
from tests.support.signin import SignedIn, signed_in_user

pytestmark = pytest.mark.docker

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]


async def run(
    api: httpx.AsyncClient, user: SignedIn, project_id: str, command: list[str], **extra: object
) -> dict[str, object]:
    submitted = await api.post(
        f"/v1/projects/{project_id}/jobs", headers=user.headers, json={"command": command, **extra}
    )
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["status"] == "queued"
    return await wait_for_end(api, user.headers, submitted.json()["id"])


def output(chunks: list[dict[str, object]], stream: str = "stdout") -> str:
    return "".join(str(c["data"]) for c in chunks if c["stream"] == stream)


async def test_a_job_runs_the_projects_code_and_its_output_is_numbered(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(
        api,
        user,
        {
            "main.py": b"import sys\nprint('hello from', sys.argv[1])\n"
            b"print('oops', file=sys.stderr)\n"
        },
    )
    job = await run(api, user, project, ["python3", "main.py", "offcoder"])
    assert job["status"] == "succeeded", job
    assert sandboxes_of(job["id"]) == []
    assert job["exit_code"] == 0
    chunks = await all_logs(api, user.headers, str(job["id"]))
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert output(chunks) == "hello from offcoder\n"
    assert output(chunks, "stderr") == "oops\n"
    assert job["usage"]["wall_ms"] > 0  # type: ignore[index]


async def test_failure_has_an_exit_code_and_a_reason(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, {"main.py": b"raise SystemExit(3)\n"})
    job = await run(api, user, project, ["python3", "main.py"])
    assert (job["status"], job["exit_code"], job["reason"]) == ("failed", 3, "exit_code")
    assert job["detail"] == "the program exited with code 3"


@pytest.mark.promise("C6")
async def test_timeout_kills_the_job(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(
        api, user, {"main.py": b"import time\nprint('start', flush=True)\ntime.sleep(60)\n"}
    )
    job = await run(api, user, project, ["python3", "main.py"], timeout_s=2)
    assert (job["status"], job["reason"]) == ("timed_out", "timed_out")
    assert job["detail"] == "stopped at its time limit of 2 s"
    assert sandboxes_of(job["id"]) == []


@pytest.mark.promise("C6")
async def test_cancel_stops_a_running_job_and_a_second_cancel_is_409(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(
        api, user, {"main.py": b"import time\nprint('up', flush=True)\ntime.sleep(60)\n"}
    )
    submitted = (
        await api.post(
            f"/v1/projects/{project}/jobs",
            headers=user.headers,
            json={"command": ["python3", "main.py"]},
        )
    ).json()
    await wait_for_running(api, user.headers, submitted["id"])
    assert (
        await api.post(f"/v1/jobs/{submitted['id']}/cancel", headers=user.headers)
    ).status_code == 202
    job = await wait_for_end(api, user.headers, submitted["id"], timeout=30)
    assert (job["status"], job["reason"]) == ("cancelled", "cancelled")
    assert (
        await api.post(f"/v1/jobs/{submitted['id']}/cancel", headers=user.headers)
    ).status_code == 409
    assert sandboxes_of(job["id"]) == []


@pytest.mark.promise("C6")
async def test_output_flood_is_capped_and_killed(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(api, user, {"main.py": b"while True:\n    print('x' * 1000)\n"})
    job = await run(api, user, project, ["python3", "main.py"], timeout_s=60)
    assert (job["status"], job["reason"]) == ("failed", "output_limit")
    *chunks, marker = await all_logs(api, user.headers, str(job["id"]))
    stored = sum(len(str(c["data"]).encode()) for c in chunks)
    assert stored == ctx.settings.job_max_log_bytes  # every byte up to the cap, none past it
    assert (marker["stream"], str(marker["data"]).lstrip("\n")[:26]) == (
        "stderr",
        LOG_CUT_MARKER,
    )
    assert sandboxes_of(job["id"]) == []


@pytest.mark.promise("C4")
async def test_secrets_arrive_as_environment_and_touch_no_host_file(
    runtime: Runtime, state_dir
) -> None:  # type: ignore[no-untyped-def]
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    value = f"canary-{secrets.token_hex(12)}"
    project = await project_with(
        api, user, {"main.py": b"import os\nprint(len(os.environ['API_TOKEN']))\n"}
    )
    put = await api.put(
        f"/v1/projects/{project}/secrets/API_TOKEN", headers=user.headers, json={"value": value}
    )
    assert put.status_code == 200
    job = await run(api, user, project, ["python3", "main.py"])
    assert job["status"] == "succeeded"
    assert output(await all_logs(api, user.headers, str(job["id"]))) == f"{len(value)}\n"
    # The value is on no file of the host's state: ours, the proxy's workspaces, Docker's.
    found = subprocess.run(
        ["grep", "-rlsF", value, str(state_dir), "/var/lib/offcoder", "/var/lib/docker/containers"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == "", f"secret found on disk in {found.stdout}"


@pytest.mark.promise("C3")
async def test_files_arrive_in_the_workspace_as_plain_files(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(
        api,
        user,
        {
            "main.py": b"import os\nfor root, dirs, files in sorted(os.walk('.')):\n"
            b"    for f in sorted(files):\n        p = os.path.join(root, f)\n"
            b"        s = os.lstat(p)\n"
            b"        print(p, os.path.islink(p), oct(s.st_mode & 0o7777), s.st_uid)\n",
            "pkg/data.txt": b"x",
        },
    )
    job = await run(api, user, project, ["python3", "main.py"])
    lines = output(await all_logs(api, user.headers, str(job["id"]))).splitlines()
    assert lines == ["./main.py False 0o644 10001", "./pkg/data.txt False 0o644 10001"]


@pytest.mark.promise("C6")
async def test_nothing_survives_from_one_job_to_the_next(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = await project_with(
        api,
        user,
        {
            "main.py": b"import os\nprint(os.path.exists('/tmp/left'), os.path.exists('left'))\n"
            b"open('/tmp/left', 'w').write('x'); open('left', 'w').write('x')\n"
        },
    )
    first = await run(api, user, project, ["python3", "main.py"])
    second = await run(api, user, project, ["python3", "main.py"])
    for job in (first, second):
        assert output(await all_logs(api, user.headers, str(job["id"]))) == "False False\n"


async def test_bad_submissions_are_clear_errors(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    other = await signed_in_user(ctx)
    project = await project_with(api, user, {"main.py": b"print(1)\n"})
    empty = (await api.post("/v1/projects", headers=user.headers, json={"name": "empty"})).json()[
        "id"
    ]
    url = f"/v1/projects/{project}/jobs"
    cases = [
        ({"command": ["python3"], "image": "cobol"}, 422),
        ({"command": []}, 422),
        ({"command": [""]}, 422),
        ({"command": ["x" * 20000]}, 422),
        ({"command": ["python3"], "timeout_s": 0}, 422),
        ({"command": ["python3"], "timeout_s": 100000}, 422),
        ({"command": ["python3"], "network": "host"}, 422),
        ({"command": ["python3"], "network": "preview", "ports": [22]}, 422),
        ({"command": ["python3"], "unknown": 1}, 422),
    ]
    for body, status in cases:
        response = await api.post(url, headers=user.headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (
        await api.post(f"/v1/projects/{empty}/jobs", headers=user.headers, json={"command": ["ls"]})
    ).status_code == 422
    assert (await api.post(url, headers=other.headers, json={"command": ["ls"]})).status_code == 404
    job = await run(api, user, project, ["python3", "main.py"])
    assert (await api.get(f"/v1/jobs/{job['id']}", headers=other.headers)).status_code == 404
    assert (await api.get(f"/v1/jobs/{job['id']}/logs", headers=other.headers)).status_code == 404
    assert (
        await api.post(f"/v1/jobs/{job['id']}/cancel", headers=other.headers)
    ).status_code == 404
    listing = (await api.get(url, headers=user.headers)).json()
    assert job["id"] in [j["id"] for j in listing["items"]]


async def test_usage_records_wall_time_cpu_time_and_peak_memory(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    # The program spends 1.2 s of CPU (counted by its own process clock, so a busy machine or
    # the sandbox's CPU cap makes it take longer, never use less), then sleeps 1.5 s: the usage
    # is sampled every 0.5 s while the sandbox runs, so the last samples see all of that CPU.
    program = (
        b"import time\nblock = bytearray(120 * 1024 * 1024)\n"
        b"while time.process_time() < 1.2:\n    pass\n"
        b"time.sleep(1.5)\n"
    )
    project = await project_with(api, user, {"main.py": program})
    job = await run(api, user, project, ["python3", "main.py"])
    usage = job["usage"]
    assert isinstance(usage, dict)
    assert job["status"] == "succeeded", job
    assert usage["wall_ms"] >= 2500
    assert usage["cpu_ms"] >= 1000
    assert usage["peak_memory_bytes"] >= 100 * 1024 * 1024
