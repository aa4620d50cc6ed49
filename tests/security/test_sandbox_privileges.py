"""Privilege attacks: writing outside the allowed paths, mount/unshare, ptrace, raw sockets,
setuid binaries, capabilities, and looking at the host's processes (C1).

Each runs as a real job through the API and the worker in the hardened sandbox; the host must be
healthy afterwards and the sandbox gone.
"""

from __future__ import annotations

import os

import pytest

from tests.security.conftest import HOST_CANARY, HOST_CANARY_NAME, Sandbox

pytestmark = pytest.mark.docker

COMMON = """
import ctypes, errno, json, os, shutil, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def name(code):
    return errno.errorcode.get(code, str(code))
def err(exc):
    return name(exc.errno)
def call(fn, *args):
    ctypes.set_errno(0)
    result = fn(*args)
    return "OK" if result == 0 else name(ctypes.get_errno())
"""

WRITES = (
    COMMON
    + """
out = {}
for path in sys.argv[1:]:
    try:
        with open(path, "w") as f:
            f.write("1")
        out[path] = "OK"
    except OSError as exc:
        out[path] = err(exc)
print("REPORT", json.dumps(out))
"""
)

# The read-only root filesystem itself (EROFS, not merely a permission): /var/tmp is
# world-writable in the image, so only a read-only mount keeps a job from writing there.
ROOTFS_PATHS = ["/x", "/etc/x", "/etc/passwd", "/usr/x", "/usr/bin/python3", "/var/tmp/x"]
KERNEL_PATHS = [
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/vm/drop_caches",
    "/proc/sysrq-trigger",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/pids/pids.max",
    "/sys/fs/cgroup/x",
]


@pytest.mark.promise("C1")
async def test_writes_outside_workspace_and_tmp_are_refused(sandbox: Sandbox) -> None:
    """The root filesystem is read-only (EROFS even where the image's modes would allow a write),
    and /proc/sys, /sys and the sandbox's own cgroup limits cannot be written. gVisor checks a
    file's modes before the mount's flag, so where the modes refuse it says EACCES; where they
    would allow the write (/var/tmp), it too says EROFS."""
    result = await sandbox.run(WRITES, command=["python3", "main.py", *ROOTFS_PATHS, *KERNEL_PATHS])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["/var/tmp/x"] == "EROFS", report
    for path in ROOTFS_PATHS:
        assert report[path] in (("EROFS", "EACCES") if sandbox.gvisor else ("EROFS",)), (
            path,
            report,
        )
    for path in KERNEL_PATHS:
        assert report[path] in ("EROFS", "EACCES", "EPERM", "ENOENT"), (path, report)
    await sandbox.assert_healthy(result)


NAMESPACES_AND_MOUNTS = (
    COMMON
    + """
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
os.makedirs("/tmp/mnt", exist_ok=True)
out = {
    "binaries": {b: shutil.which(b) for b in ("mount", "umount", "unshare", "nsenter", "setpriv",
                                               "capsh", "su", "sudo", "chroot")},
    "unshare_user": call(libc.unshare, CLONE_NEWUSER),
    "unshare_mount": call(libc.unshare, CLONE_NEWNS),
    "unshare_pid": call(libc.unshare, CLONE_NEWPID),
    "unshare_net": call(libc.unshare, CLONE_NEWNET),
    "mount_tmpfs": call(libc.mount, b"none", b"/tmp/mnt", b"tmpfs", 0, None),
    "mount_proc": call(libc.mount, b"proc", b"/tmp/mnt", b"proc", 0, None),
    "remount_root_rw": call(libc.mount, None, b"/", None, 0x20 | 0x1000, None),
}
# Whatever of that succeeded, the root filesystem stays unwritable.
try:
    open("/usr/x", "w").close()
    out["write_after"] = "OK"
except OSError as exc:
    out["write_after"] = err(exc)
out["chroot"] = call(libc.chroot, b"/tmp")
out["setuid0"] = call(libc.setuid, 0)
print("REPORT", json.dumps(out))
"""
)


@pytest.mark.promise("C1")
async def test_mount_and_unshare_are_refused(sandbox: Sandbox) -> None:
    """No mount/unshare/nsenter tools in the image, and the syscalls themselves fail with EPERM:
    no user namespace to regain capabilities in, no remount of / read-write, no chroot or setuid.

    Under gVisor the engine's seccomp profile is not applied (decision 0022: gVisor's reading
    of it stops every thread), so `unshare` and `chroot` succeed, in gVisor's kernel: the
    namespaces are its own, not the host's. Mounting still fails, / stays read-only, and uid 0
    stays out of reach."""
    result = await sandbox.run(NAMESPACES_AND_MOUNTS)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report.pop("binaries") == dict.fromkeys(
        ["mount", "umount", "unshare", "nsenter", "setpriv", "capsh", "su", "sudo", "chroot"]
    )
    assert report.pop("write_after") in ("EROFS", "EACCES"), report
    if sandbox.gvisor:
        gvisors_own = ("unshare_user", "unshare_mount", "unshare_pid", "unshare_net", "chroot")
        assert all(report.pop(k) in ("OK", "EPERM") for k in gvisors_own), report
        assert report.pop("setuid0") in ("EPERM", "EINVAL"), report  # 0 is not mapped
    assert report == dict.fromkeys(report, "EPERM"), report
    await sandbox.assert_healthy(result)


PTRACE = (
    COMMON
    + """
import signal, time
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
def attach(pid):
    ctypes.set_errno(0)
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return name(ctypes.get_errno())
    os.waitpid(pid, 0)
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return "OK"
out = {"pid": os.getpid(), "pid1_self": attach(1)}
host_pid = int(sys.argv[1])
out["host_pid_visible"] = os.path.exists(f"/proc/{host_pid}") and host_pid != os.getpid()
out["host_pid"] = attach(host_pid) if out["host_pid_visible"] else "not visible"
child = subprocess.Popen(["sleep", "30"])
out["own_child"] = attach(child.pid)
child.kill()
child.wait()
print("REPORT", json.dumps(out))
"""
)


@pytest.mark.promise("C1")
async def test_ptrace_reaches_nothing_outside_the_sandbox(sandbox: Sandbox) -> None:
    """PID 1 is the job itself and cannot attach to itself; no host process is visible to
    attach to (the test's own host PID does not exist inside). Allowed, and noted: a job may
    ptrace its own child (same uid, same sandbox; the default seccomp profile allows ptrace and
    this kernel has no Yama). For the same reason a child could attach to PID 1, which is also
    the job's own code: nothing of the host or of another job is reachable that way."""
    host_pid = os.getpid()
    result = await sandbox.run(PTRACE, command=["python3", "main.py", str(host_pid)])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["pid"] == 1, report
    assert report["pid1_self"] == "EPERM", report
    assert report["host_pid_visible"] is False, report
    assert report["own_child"] == "OK", report  # allowed: same job, same uid
    await sandbox.assert_healthy(result)


RAW_SOCKETS = (
    COMMON
    + """
AF_PACKET, ETH_P_ALL = 17, 0x0003
out = {}
for label, args in {
    "packet_raw": (AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
    "packet_dgram": (AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)),
    "inet_raw_icmp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "inet_raw_tcp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
    "inet6_raw": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
}.items():
    try:
        socket.socket(*args).close()
        out[label] = "OK"
    except OSError as exc:
        out[label] = err(exc)
print("REPORT", json.dumps(out))
"""
)


@pytest.mark.promise("C1")
async def test_raw_and_packet_sockets_are_refused(sandbox: Sandbox) -> None:
    """No CAP_NET_RAW: AF_PACKET and SOCK_RAW sockets cannot be opened (EPERM). (ICMP "ping"
    datagram sockets are allowed by the kernel's ping_group_range; in network mode none they
    reach nothing but the sandbox's own loopback.)"""
    result = await sandbox.run(RAW_SOCKETS)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report == dict.fromkeys(report, "EPERM"), report
    await sandbox.assert_healthy(result)


IDENTITY = (
    COMMON
    + """
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
found = subprocess.run(["find", "/", "-xdev", "-type", "f", "-perm", "/6000"],
                       capture_output=True, text=True)
out = {
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "CapEff": status["CapEff"].strip(), "CapPrm": status["CapPrm"].strip(),
    "CapBnd": status["CapBnd"].strip(), "CapAmb": status.get("CapAmb", "absent").strip(),
    "NoNewPrivs": str(libc.prctl(39, 0, 0, 0, 0)),  # PR_GET_NO_NEW_PRIVS
    "Seccomp": status["Seccomp"].strip(),
    "setuid_files": found.stdout.split(),
    "find_errors": [line for line in found.stderr.splitlines() if "Permission denied" not in line],
}
print("REPORT", json.dumps(out))
"""
)


@pytest.mark.promise("C1")
async def test_no_capabilities_no_new_privileges_seccomp_non_root_no_setuid(
    sandbox: Sandbox,
) -> None:
    """The job runs as uid/gid 10001 with every capability set empty, no_new_privs set, the
    default seccomp filter on (mode 2), and no setuid/setgid file on the root filesystem. Under
    gVisor no filter is on the job (gVisor's kernel answers it) and its /proc has no ambient
    set to show."""
    result = await sandbox.run(IDENTITY)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert (report["uid"], report["euid"], report["gid"]) == (10001, 10001, 10001), report
    assert set(report["groups"]) <= {10001}, report
    zero = "0000000000000000"
    assert [report[k] for k in ("CapEff", "CapPrm", "CapBnd")] == [zero] * 3, report
    assert report["CapAmb"] in ((zero, "absent") if sandbox.gvisor else (zero,)), report
    # Under gVisor the job's calls meet gVisor's kernel, itself under runsc's own seccomp
    # filter; the engine's profile is not applied inside it (decision 0022).
    assert (report["NoNewPrivs"], report["Seccomp"]) == ("1", "0" if sandbox.gvisor else "2"), (
        report
    )
    assert report["setuid_files"] == [], report
    assert report["find_errors"] == [], report
    await sandbox.assert_healthy(result)


PROCESSES = (
    COMMON
    + """
canary = sys.argv[1].encode()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out = {"pid1_cmdline": open("/proc/1/cmdline", "rb").read().split(b"\\0")[:2], "pids": pids,
       "environ_readable": [], "canary_seen": [], "cmdlines": {}}
out["pid1_cmdline"] = [x.decode() for x in out["pid1_cmdline"]]
for pid in pids:
    try:
        out["cmdlines"][pid] = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        env = open(f"/proc/{pid}/environ", "rb").read()
        out["environ_readable"].append(pid)
        if canary in env:
            out["canary_seen"].append(pid)
    except OSError:
        pass
if canary in open("/proc/self/environ", "rb").read():
    out["canary_seen"].append("self")
print("REPORT", json.dumps(out))
"""
)


@pytest.mark.promise("C1")
async def test_only_the_jobs_own_processes_are_visible(sandbox: Sandbox) -> None:
    """PID 1 is the job's own program and the only process there; no host process, and no host
    process's environment, is visible: a canary value that the test process, the worker in it
    and the policy proxy hold in their environment is found nowhere inside the sandbox."""
    assert os.environ[HOST_CANARY_NAME] == HOST_CANARY
    result = await sandbox.run(PROCESSES, command=["python3", "main.py", HOST_CANARY])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["pid1_cmdline"] == ["python3", "main.py"], report
    assert report["pids"] == [1], report
    assert report["environ_readable"] == [1], report
    assert report["canary_seen"] == [], report
    await sandbox.assert_healthy(result)


@pytest.mark.promise("C1")
async def test_the_job_meets_its_runtimes_kernel(sandbox: Sandbox) -> None:
    """The suite's runtime is the one the job ran under: under gVisor the program's system
    calls meet gVisor's kernel (its own release, not the host's), under runc the host's."""
    result = await sandbox.run("import os\nprint('REPORT', '\"%s\"' % os.uname().release)\n")
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    host = os.uname().release
    assert (result.report != host) is sandbox.gvisor, (result.report, host, sandbox.runtime)


THREADS = """
import json, threading
seen = []
workers = [threading.Thread(target=seen.append, args=(n,)) for n in range(8)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print("REPORT", json.dumps({"threads": sorted(seen)}))
"""


async def test_threads_and_node_start_under_each_runtime(sandbox: Sandbox) -> None:
    """What the hardening refuses must not be what programs need: a threaded Python program
    and Node (whose start makes threads) run under every runtime. (gVisor applying the engine's
    seccomp profile itself answered clone3 with EPERM instead of ENOSYS, so glibc never fell
    back to clone: no thread could start, and every Node job died at its start.)"""
    threaded = await sandbox.run(THREADS)
    assert threaded.job["status"] == "succeeded", (threaded.job, threaded.stderr[-500:])
    assert threaded.report == {"threads": list(range(8))}
    user = await sandbox.user()
    project = await sandbox.project(user, {"main.js": b"console.log('node ' + process.version)\n"})
    submitted = await sandbox.api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": ["node", "main.js"], "image": "node"},
    )
    assert submitted.status_code == 202, submitted.text
    node = await sandbox.finish(user, str(submitted.json()["id"]))
    assert node.job["status"] == "succeeded", (node.job, node.stderr[-500:])
    assert node.stdout.startswith("node v"), node.stdout
