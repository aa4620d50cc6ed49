"""Network and Docker-socket attacks in the default network mode `none` (C1).

The only address any part of this test touches is 127.0.0.1: the test's own TCP server on the
host's loopback, and the sandbox's own loopback, which the job tries. Nothing else is tried,
not even to show that it is blocked.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.security.conftest import Sandbox

pytestmark = pytest.mark.docker


class LoopbackServer:
    """A TCP server on the host's 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(peer)
            conn.sendall(b"host-secret\n")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def host_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    try:
        yield server
    finally:
        server.close()


NETWORK = """
import errno, json, socket, sys
port = int(sys.argv[1])
out = {"interfaces": [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]],
       "routes": [line.split() for line in open("/proc/net/route").readlines()[1:] if line.strip()],
       "routes6": [line.split() for line in open("/proc/net/ipv6_route") if line.strip()]}
try:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        out["connect"] = "OK " + conn.recv(100).decode(errors="replace")
except OSError as exc:
    out["connect"] = errno.errorcode.get(exc.errno, str(exc)) if exc.errno else type(exc).__name__
print("REPORT", json.dumps(out))
"""


@pytest.mark.promise("C1")
async def test_network_none_has_only_loopback_and_cannot_reach_the_host(
    sandbox: Sandbox, host_server: LoopbackServer
) -> None:
    """In mode `none` the sandbox has only `lo`, no route at all, and its 127.0.0.1 is its own:
    connecting to the port of a server the test runs on the host's 127.0.0.1 is refused inside,
    and the host server accepts no connection."""
    result = await sandbox.run(NETWORK, command=["python3", "main.py", str(host_server.port)])
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert report["interfaces"] == ["lo"], report
    assert report["routes"] == [], report
    assert all(route[-1] == "lo" for route in report["routes6"]), report
    assert report["connect"] == "ECONNREFUSED", report
    assert host_server.accepted == []
    await sandbox.assert_healthy(result)


DOCKER_SOCKET = """
import json, os, stat
named = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
         "/var/run/offcoder/docker.sock", "/run/offcoder/docker.sock"]
sockets = []
for top in ("/", "/run", "/var/run", "/tmp", "/workspace", "/dev"):
    for root, dirs, files in os.walk(top, onerror=lambda e: None):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        for f in files:
            path = os.path.join(root, f)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    sockets.append(path)
            except OSError:
                pass
out = {"named": {p: os.path.exists(p) for p in named}, "sockets": sorted(set(sockets)),
       "docker_env": sorted(k for k in os.environ if k.startswith(("DOCKER", "OFFCODER")))}
print("REPORT", json.dumps(out))
"""


@pytest.mark.promise("C1")
async def test_no_docker_socket_or_any_unix_socket_is_reachable(sandbox: Sandbox) -> None:
    """Neither the engine's socket nor the policy proxy's is mounted: no unix socket at all on
    the sandbox's filesystem, and no DOCKER_*/OFFCODER_* variable in its environment."""
    result = await sandbox.run(DOCKER_SOCKET)
    assert result.job["status"] == "succeeded", (result.job, result.stderr[-500:])
    report = result.report
    assert not any(report["named"].values()), report
    assert report["sockets"] == [], report
    assert report["docker_env"] == [], report
    await sandbox.assert_healthy(result)
