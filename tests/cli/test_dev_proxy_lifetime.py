"""The Docker proxy that `serve --dev` starts never outlives the server, even one killed with
SIGKILL (which leaves the server no chance to stop its children)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_the_dev_proxy_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    socket_path = tmp_path / "proxy.sock"
    pid_file = tmp_path / "proxy.pid"
    proxy_pid = 0
    proxy = shlex.join(
        [sys.executable, "-m", "offcoder.cli", "docker-proxy", "--socket", str(socket_path)]
    )
    # A parent shell standing in for the server: it starts the proxy with its own pid, then waits.
    parent = subprocess.Popen(  # noqa: S602 - a fixed test command
        f"{proxy} --parent-pid $$ & echo $! > {shlex.quote(str(pid_file))}; wait",
        shell=True,
        start_new_session=True,
        # its own state directory: the deployment id it generates stays with the test
        env={**os.environ, "OFFCODER_PROXY_STATE_DIR": str(tmp_path / "proxy-state")},
    )
    try:
        deadline = time.monotonic() + 30
        while not (socket_path.exists() and pid_file.exists()):
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.1)
        proxy_pid = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(proxy_pid):
            assert time.monotonic() < deadline, "the proxy outlived its parent"
            time.sleep(0.1)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
        if proxy_pid and _alive(proxy_pid):  # (only when the test failed)
            os.kill(proxy_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
