"""Nothing outlives a job, and concurrent jobs see nothing of each other (C6).

A job that leaves a daemon behind, and twelve jobs of three users at once: every sandbox, its
workspace volume, loop device and image are gone when each job ends, and no job sees another's
files or processes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import docker
import pytest

from tests.security.conftest import JOB_ID_LABEL, Result, Sandbox

pytestmark = pytest.mark.docker

LEAVE_A_DAEMON = """
import json, os, subprocess, sys
token = sys.argv[1]
nohup = subprocess.Popen(["nohup", "sleep", token], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
if os.fork() == 0:  # a classic double-forked daemon too
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", token])
    os._exit(0)
os.wait()
open("/tmp/left-by-first", "w").write("x")
open("/workspace/left-by-first", "w").write("x")
print("REPORT", json.dumps({"nohup_pid": nohup.pid}))
"""

LOOK_FOR_IT = """
import json, os, sys
token = sys.argv[1]
found = []
for pid in (p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
    try:
        if token in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"):
            found.append(int(pid))
    except OSError:
        pass
print("REPORT", json.dumps({"found": found, "tmp": os.listdir("/tmp"),
                            "workspace": sorted(os.listdir("/workspace"))}))
"""


def host_processes_with(token: str) -> list[int]:
    """Processes on the host whose command line holds `token` (a sandbox's are visible here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.promise("C6")
async def test_a_background_daemon_dies_with_its_job(sandbox: Sandbox) -> None:
    """A job exits leaving `nohup sleep` and a double-forked daemon behind: they die with the
    sandbox (its PID 1 ended), the container is gone, no such process runs on the host, and the
    next job (same user, same project) sees neither them nor the first job's files."""
    token = f"{900 + secrets.randbelow(99)}.{secrets.randbelow(10**9):09d}"  # a unique sleep
    user = await sandbox.user()
    project = await sandbox.project(
        user, {"main.py": LEAVE_A_DAEMON.encode(), "look.py": LOOK_FOR_IT.encode()}
    )
    first = await sandbox.finish(
        user, await sandbox.submit(user, project, ["python3", "main.py", token])
    )
    assert first.job["status"] == "succeeded", (first.job, first.stderr[-500:])
    assert first.report["nohup_pid"] > 1
    await sandbox.assert_gone(first)
    for _ in range(50):
        if not host_processes_with(token):
            break
        await asyncio.sleep(0.1)
    assert host_processes_with(token) == [], "the daemon outlived its sandbox on the host"
    second = await sandbox.finish(
        user, await sandbox.submit(user, project, ["python3", "look.py", token])
    )
    assert second.job["status"] == "succeeded", (second.job, second.stderr[-500:])
    assert second.report == {
        "found": [],
        "tmp": [],
        "workspace": ["look.py", "lost+found", "main.py"],  # lost+found: the fresh ext4's own
    }
    await sandbox.assert_healthy(first, second)


CONCURRENT = """
import json, os, time
mark = "mark-" + os.uname().nodename
open("/workspace/" + mark, "w").write("x")
open("/tmp/" + mark, "w").write("x")
time.sleep(1.5)
procs = [p for p in os.listdir("/proc") if p.isdigit()]
print("REPORT", json.dumps({"mark": mark, "workspace": sorted(os.listdir("/workspace")),
                            "tmp": sorted(os.listdir("/tmp")), "procs": procs}))
"""


@pytest.mark.promise("C6")
async def test_twelve_jobs_of_three_users_at_once_stay_apart_and_leave_nothing(
    sandbox: Sandbox,
) -> None:
    """Twelve jobs submitted at once by three users, each writing a marker into its workspace
    and /tmp while the others run: each sees only its own project's files and its own markers
    and processes; all end; no container, volume, loop device or image is left by any."""
    users = [await sandbox.user() for _ in range(3)]
    projects = []
    for i, user in enumerate(users):
        files = {"main.py": CONCURRENT.encode(), f"owner-{i}.txt": str(i).encode()}
        projects.append(await sandbox.project(user, files))
    submitted = await asyncio.gather(
        *(
            sandbox.submit(user, project)
            for user, project in zip(users, projects, strict=True)
            for _ in range(4)
        )
    )
    owners = [i for i in range(3) for _ in range(4)]
    results: list[Result] = await asyncio.gather(
        *(sandbox.finish(users[owner], job) for owner, job in zip(owners, submitted, strict=True))
    )
    marks = set()
    for owner, result in zip(owners, results, strict=True):
        assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
        report = result.report
        marks.add(report["mark"])
        expected = ["lost+found", "main.py", f"owner-{owner}.txt", report["mark"]]
        assert report["workspace"] == sorted(expected), json.dumps(report)
        assert report["tmp"] == [report["mark"]], report
        assert report["procs"] == ["1"], report
    assert len(marks) == 12  # twelve distinct sandboxes
    await sandbox.assert_healthy(*results)


SLEEPER = """
import time
print("up", flush=True)
time.sleep(25)
"""


@pytest.mark.promise("C6")
async def test_a_sandbox_removed_behind_the_workers_back_leaves_no_workspace(
    sandbox: Sandbox,
) -> None:
    """The engine loses a running sandbox (an operator's `docker rm -f`, another reconciler):
    the job still ends, and its workspace (volume, loop device, 500 MB image) goes with it
    instead of staying on the host for ever. Found leaking: the worker tears the workspace down
    only through its own successful container DELETE."""
    user = await sandbox.user()
    project = await sandbox.project(user, {"main.py": SLEEPER.encode()})
    job_id = await sandbox.submit(user, project, timeout_s=25)
    deadline = asyncio.get_running_loop().time() + 30
    while (await sandbox.api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()[
        "status"
    ] != "running":
        assert asyncio.get_running_loop().time() < deadline, "the job never started"
        await asyncio.sleep(0.05)
    engine = docker.from_env()
    try:
        found = engine.api.containers(all=True, filters={"label": f"{JOB_ID_LABEL}={job_id}"})
        assert len(found) == 1, found
        engine.api.remove_container(found[0]["Id"], force=True)
    finally:
        engine.close()
    result = await sandbox.finish(user, job_id)
    assert result.job["status"] in ("failed", "timed_out"), result.job
    await sandbox.assert_gone(result)
    await sandbox.assert_healthy(result)
