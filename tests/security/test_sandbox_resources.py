"""Resource attacks: fork bombs, memory bombs, filling the disk, /tmp, /dev/shm and /dev/mqueue.

Each runs as a real job (API → worker → policy proxy → hardened sandbox) and must be contained
by the sandbox's caps (C1), with the host healthy afterwards and the sandbox gone (C6).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from offcoder.db.base import utcnow
from offcoder.payments.models import PlanSource, PlanStatus
from offcoder.payments.service import set_plan
from tests.security.conftest import PAID_PLAN, Result, Sandbox
from tests.support.users import user_id

pytestmark = pytest.mark.docker

MiB = 1024 * 1024

COUNTED_FORK_BOMB = """
import errno, json, os, signal
kids, error = [], None
for _ in range(1000):
    try:
        pid = os.fork()
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
for pid in kids:
    os.waitpid(pid, 0)
print("REPORT", json.dumps({"forked": len(kids), "error": error}))
"""


@pytest.mark.promise("C1")
async def test_fork_bomb_stops_at_the_pids_limit(sandbox: Sandbox) -> None:
    """PidsLimit 256: the program gets at most 255 children besides itself, then EAGAIN.

    Under gVisor the limit bounds the sandbox's host tasks (gVisor's kernel's threads and one
    host process per guest address space on the ptrace platform), not the guest's processes:
    forking past it ends the whole sandbox, and the job fails, never the host."""
    result = await sandbox.run(COUNTED_FORK_BOMB)
    if sandbox.gvisor:
        assert (result.job["status"], result.job["reason"]) == ("failed", "exit_code"), result.job
        assert "REPORT" not in result.stdout, result.stdout[-500:]
        await sandbox.assert_healthy(result)
        return
    assert result.job["status"] == "succeeded", result.job
    report = result.report
    assert report["error"] == "EAGAIN", report
    assert 100 < report["forked"] <= 255, report
    await sandbox.assert_healthy(result)


# The count is the kernel's own (the pids cgroup's `pids.current`), not a listing of /proc: a
# listing is not atomic, and while the bomb forks and dies it can see one task twice.
WILD_FORK_BOMB = """
import os, subprocess, time
subprocess.Popen(["sh", "-c", "f(){ f|f& };f"], stderr=subprocess.DEVNULL)
counters = ["/sys/fs/cgroup/pids/pids.current", "/sys/fs/cgroup/pids.current"]
counter = next(path for path in counters if os.path.exists(path))
seen = 0
end = time.monotonic() + 3
while time.monotonic() < end:
    with open(counter) as f:
        seen = max(seen, int(f.read()))
    time.sleep(0.05)
print("REPORT", '{"max_processes": %d}' % seen, flush=True)
time.sleep(60)
"""


@pytest.mark.promise("C1")
async def test_a_real_fork_bomb_is_contained_and_killed_at_the_timeout(sandbox: Sandbox) -> None:
    """A shell fork bomb keeps forking until the timeout: never more than 256 tasks, then the
    whole sandbox is killed and removed; the host still forks and runs the next job. Under
    gVisor the bomb reaches the limit of the sandbox's host tasks first, which ends the
    sandbox before the timeout (see the counted fork bomb above)."""
    result = await sandbox.run(WILD_FORK_BOMB, timeout_s=6)
    if sandbox.gvisor:
        assert (result.job["status"], result.job["reason"]) == ("failed", "exit_code"), result.job
        await sandbox.assert_healthy(result)
        return
    assert (result.job["status"], result.job["reason"]) == ("timed_out", "timed_out"), result.job
    assert 20 < result.report["max_processes"] <= 256, result.report
    await sandbox.assert_healthy(result)


MEMORY_BOMB = """
import sys
blocks = []
for step in range(1, 49):  # up to 1.5 GiB, 32 MiB at a time, every page touched
    blocks.append(b"\\x01" * (32 * 1024 * 1024))
    print("allocated_mib", step * 32, flush=True)
print("REPORT {\\"survived\\": true}")
"""


@pytest.mark.promise("C1")
async def test_memory_bomb_is_oom_killed_at_the_memory_cap(sandbox: Sandbox) -> None:
    """Memory cap 512 MiB, swap = memory: the allocating process is OOM-killed below 512 MiB,
    the job fails with reason memory_limit."""
    result = await sandbox.run(MEMORY_BOMB)
    allocated = [int(line.split()[1]) for line in result.stdout.splitlines() if "allocated" in line]
    assert "survived" not in result.stdout, result.stdout[-300:]
    assert allocated and 128 <= max(allocated) < 512, allocated
    if sandbox.gvisor and result.job["reason"] == "exit_code":
        # Under gVisor the host's OOM killer may take gVisor's kernel or its file server, and
        # the engine then does not always report the kill (seen once in CI, under load): the
        # cap held, the job failed, but its ending reads as an exit code (docs/security.md C1).
        assert result.job["status"] == "failed" and result.job["exit_code"] != 0, result.job
        await sandbox.assert_healthy(result)
        return
    assert (result.job["status"], result.job["reason"]) == ("failed", "memory_limit"), result.job
    # The ending names the limit it hit, as read back from the engine (issue 14, item 1).
    assert result.job["detail"] == (
        f"stopped at its memory limit of 512 MiB (exit code {result.job['exit_code']})"
    ), result.job
    await sandbox.assert_healthy(result)


async def test_a_program_killed_by_its_own_signal_9_is_not_taken_for_out_of_memory(
    sandbox: Sandbox,
) -> None:
    """Exit 137 alone is not an OOM kill: only the engine's OOMKilled says memory_limit."""
    # Under a shell: the sandbox's first process ignores signals it sends itself, as any PID 1.
    result = await sandbox.run(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        command=["sh", "-c", "python3 main.py; exit $?"],
    )
    assert (result.job["status"], result.job["reason"]) == ("failed", "exit_code"), result.job
    assert (result.job["exit_code"], result.job["detail"]) == (
        137,
        "the program exited with code 137",
    )
    assert result.job["usage"]["oom_killed"] is False
    await sandbox.assert_healthy(result)


CHILD_MEMORY_BOMB = """
import json, subprocess, sys
bomb = BOMB
child = subprocess.run([sys.executable, "-c", bomb], capture_output=True, text=True)
lines = [int(x.split()[1]) for x in child.stdout.splitlines() if x.startswith("allocated")]
print("REPORT", json.dumps({"returncode": child.returncode, "max_mib": max(lines or [0])}))
""".replace("BOMB", repr(MEMORY_BOMB))


@pytest.mark.promise("C1")
async def test_memory_bomb_in_a_child_is_killed_and_recorded(sandbox: Sandbox) -> None:
    """The cap holds for any process of the sandbox: a child allocating without bound is
    SIGKILLed below 512 MiB while its parent lives on; the job's usage records the OOM kill.
    Under gVisor the cap is the whole sandbox's (its kernel's memory holds every guest
    process's): the host's OOM killer ends the sandbox, recorded as its memory limit."""
    result = await sandbox.run(CHILD_MEMORY_BOMB)
    if sandbox.gvisor and result.job["reason"] == "exit_code":
        # As in the test above: the engine does not always report gVisor's OOM kill (seen in a
        # full run under load); the cap held and the job failed, its ending an exit code.
        assert result.job["status"] == "failed" and result.job["exit_code"] != 0, result.job
        assert result.job["usage"].get("peak_memory_bytes", 0) < 512 * 1024 * 1024
        await sandbox.assert_healthy(result)
        return
    if sandbox.gvisor:
        assert (result.job["status"], result.job["reason"]) == ("failed", "memory_limit"), (
            result.job
        )
        assert result.job["usage"].get("oom_killed") is True, result.job["usage"]
        await sandbox.assert_healthy(result)
        return
    assert result.job["status"] == "succeeded", result.job
    report = result.report
    assert report["returncode"] == -9, report
    assert 128 <= report["max_mib"] < 512, report
    assert result.job["usage"].get("oom_killed") is True, result.job["usage"]
    await sandbox.assert_healthy(result)


FILL = """
import errno, json, os, sys
path, limit = sys.argv[1], int(sys.argv[2])
written, error = 0, None
chunk = b"\\xa5" * (4 * 1024 * 1024)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
try:
    while written < limit:
        written += os.write(fd, chunk)
    os.fsync(fd)
except OSError as exc:
    error = errno.errorcode.get(exc.errno, str(exc.errno))
finally:
    os.close(fd)
print("REPORT", json.dumps({"written": written, "error": error}))
"""


@pytest.mark.promise("C1")
async def test_filling_the_workspace_stops_at_500_mb(sandbox: Sandbox) -> None:
    """The workspace is the 500 MB quota: writing 700 MB stops with ENOSPC around 500 MB."""
    result = await sandbox.run(FILL, command=["python3", "main.py", "/workspace/fill", "700000000"])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["error"] == "ENOSPC", report
    assert 400e6 < report["written"] < 520e6, report
    await sandbox.assert_healthy(result)


@pytest.mark.promise("C1")
async def test_filling_tmp_stops_at_64_mib(sandbox: Sandbox) -> None:
    """/tmp is a tmpfs of 64 MiB: writing 200 MiB stops with ENOSPC at 64 MiB."""
    result = await sandbox.run(FILL, command=["python3", "main.py", "/tmp/fill", str(200 * MiB)])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["error"] == "ENOSPC", report
    assert 56 * MiB <= report["written"] <= 64 * MiB, report
    await sandbox.assert_healthy(result)


SHM_AND_MQUEUE = """
import ctypes, errno, json, os
def err(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))
out = {"shm_exists": os.path.exists("/dev/shm"), "shm_write": None}
if out["shm_exists"]:
    try:
        with open("/dev/shm/fill", "wb") as f:
            f.write(b"\\x01" * (4 * 1024 * 1024))
        out["shm_write"] = "OK"
    except OSError as exc:
        out["shm_write"] = err(exc)
try:
    open("/dev/mqueue/q", "w").close()
    out["mqueue_file"] = "OK"
except OSError as exc:
    out["mqueue_file"] = err(exc)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
fd = rt.mq_open(b"/offcoder-q", os.O_CREAT | os.O_RDWR, 0o600, None)
out["mq_open"] = "OK" if fd >= 0 else errno.errorcode.get(ctypes.get_errno())
rt.mq_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
if fd >= 0:
    sent = rt.mq_send(fd, b"x" * 100, 100, 0)
    out["mq_send"] = "OK" if sent == 0 else errno.errorcode.get(ctypes.get_errno())
try:
    open("/dev/x", "w").close()
    out["dev_write"] = "OK"
except OSError as exc:
    out["dev_write"] = err(exc)
print("REPORT", json.dumps(out))
"""


@pytest.mark.promise("C1")
async def test_dev_shm_is_absent_and_dev_mqueue_stores_nothing(sandbox: Sandbox) -> None:
    """No /dev/shm (IpcMode none) or only a tiny one; no POSIX message queue can be created
    (msgqueue ulimit 0), so neither is a way around the 500 MB and 64 MiB caps. gVisor's kernel
    opens a queue whatever the ulimit, but stores nothing in it (its send is not implemented:
    ENOSYS), and its /dev/shm is root's, unwritable."""
    result = await sandbox.run(SHM_AND_MQUEUE)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["shm_exists"] is False or report["shm_write"] in ("ENOSPC", "EACCES"), report
    assert report["mqueue_file"] in ("EMFILE", "EACCES", "EROFS", "ENOENT"), report
    if sandbox.gvisor and report["mq_open"] == "OK":
        assert report["mq_send"] == "ENOSYS", report
    else:
        assert report["mq_open"] in ("EMFILE", "EACCES", "ENOSYS", "ENOENT"), report
    assert report["dev_write"] in ("EACCES", "EROFS"), report
    await sandbox.assert_healthy(result)


# Four busy processes (not threads: Python's threads take turns on one lock) for 2 s, each
# timing its own CPU; the parent adds up its children's CPU time against the wall time.
CPU_HOG = """
import json, os, time
def read(path):
    try:
        return open(path).read().strip()
    except OSError as exc:
        return "error " + str(exc.errno)
wall0, t0 = time.monotonic(), os.times()
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            pass
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
wall, t1 = time.monotonic() - wall0, os.times()
cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
print("REPORT", json.dumps({
    "cores_used": cpu / wall,
    "cfs_quota_us": read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    "cfs_period_us": read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    "memory_limit": read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "memsw_limit": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    "pids_max": read("/sys/fs/cgroup/pids/pids.max"),
    "nofile": read("/proc/self/limits"),
}))
"""


def cores_used(sandbox: Sandbox, result: Result) -> float:
    """The cores the busy processes used: as they timed themselves under runc; under gVisor,
    whose kernel keeps its own clocks (a throttled guest still counts its time), as the host's
    cgroup counted the whole sandbox's CPU (the worker's usage record) over its run."""
    if not sandbox.gvisor:
        return float(result.report["cores_used"])
    usage = result.job["usage"]
    return float(usage["cpu_ms"]) / float(usage["wall_ms"])


@pytest.mark.promise("C1")
async def test_cpu_is_capped_at_half_a_core_without_a_plan(sandbox: Sandbox) -> None:
    """Issue 15: a user on no plan gets OFFCODER_JOB_CPUS (default 0.5 core): four busy
    processes for 2 s get no more than that between them (within 15 %), whatever the host
    has; the sandbox's own cgroup shows the caps (gVisor shows no cgroup files at all)."""
    result = await sandbox.run(CPU_HOG)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert cores_used(sandbox, result) <= 0.5 * 1.15, (report, result.job["usage"])
    if sandbox.gvisor:
        assert {report[k] for k in ("cfs_quota_us", "memory_limit", "pids_max")} == {"error 2"}
        await sandbox.assert_healthy(result)
        return
    assert 2 * int(report["cfs_quota_us"]) == int(report["cfs_period_us"]), report
    assert int(report["memory_limit"]) == 512 * MiB, report
    assert report["memsw_limit"] in (str(512 * MiB), "error 2"), (
        report
    )  # no swap accounting: ENOENT
    assert report["pids_max"] == "256", report
    open_files = next(ln for ln in report["nofile"].splitlines() if "open files" in ln).split()
    assert open_files[3:5] == ["1024", "4096"], open_files  # soft, hard
    await sandbox.assert_healthy(result)


@pytest.mark.promise("C1")
async def test_a_plans_cpu_cap_is_its_own(sandbox: Sandbox) -> None:
    """A user whose plan is listed in OFFCODER_JOB_CPUS_BY_PLAN (here "pro": 1 core) gets that
    cap: a whole core, and still no more (within 15 %)."""
    user = await sandbox.user()
    async with sandbox.ctx.database.system_session() as session:
        await set_plan(
            session,
            await user_id(sandbox.api, user),
            plan=PAID_PLAN,
            source=PlanSource.grant,
            status=PlanStatus.active,
            until=utcnow() + timedelta(days=1),
        )
    result = await sandbox.run(CPU_HOG, user=user)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    # No lower bound on the use: other work on a shared host may take the rest of a core.
    assert cores_used(sandbox, result) <= 1.0 * 1.15, (report, result.job["usage"])
    if sandbox.gvisor:
        await sandbox.assert_healthy(result)
        return
    assert int(report["cfs_quota_us"]) == int(report["cfs_period_us"]), report
