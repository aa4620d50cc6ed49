"""Live logs across replicas: two `offcoder serve --no-worker` processes and one `offcoder worker`
process on one database, linked by a real Redis (python-socketio's Redis manager). A client on one
server follows a job that the separate worker runs, and every line arrives in order; ending the
session on the other server drops the connection."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import socketio

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.live_logs import TICKER, Watcher, expected_ticker
from tests.support.served import free_port
from tests.support.signin import signed_in_user

pytestmark = [pytest.mark.docker, pytest.mark.promise("D2")]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def channel() -> str:
    """A Redis channel of this test's own, so that nothing else on the Redis interferes."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # make test starts one (scripts/ensure-services.sh)
        raise RuntimeError(f"no Redis at {REDIS_URL}: {exc}") from exc
    finally:
        client.close()
    return f"offcoder-test-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def cluster(
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
    state_dir: Path,
    channel: str,
) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "OFFCODER_ENV": "test",
        "OFFCODER_STATE_DIR": str(state_dir),
        "DATABASE_URL": prepared.admin_url.render_as_string(hide_password=False),
        "OFFCODER_PUBLIC_URL": settings.public_url,  # the issuer of the test's tokens
        "OFFCODER_DOCKER_PROXY_SOCKET": proxy_socket,
        "REDIS_URL": REDIS_URL,
        "OFFCODER_SOCKETIO_CHANNEL": channel,
        # With REDIS_URL the replicas count rate limits in Redis too: under keys of this run's
        # own, so that no other run on the same Redis shares its counts.
        "OFFCODER_RATE_LIMIT_KEY_PREFIX": f"{channel}-ratelimit",
        "OFFCODER_WORKER_HEARTBEAT_S": "1",
    }
    env.pop("OFFCODER_TEST_DATABASE_URL", None)
    ports = [free_port(), free_port()]
    logs = [(state_dir / f"replica-{i}.log").open("w") for i in range(3)]
    commands = [
        [sys.executable, "-m", "offcoder.cli", "serve", "--no-worker", "--port", str(port)]
        for port in ports
    ] + [[sys.executable, "-m", "offcoder.cli", "worker"]]
    # Each replica's admin dashboard on a free port of its own (the public port + 1 may be held).
    envs = [env | {"OFFCODER_ADMIN_PORT": str(free_port())} for _ in commands]
    processes = [
        subprocess.Popen(cmd, env=own, stdout=log, stderr=subprocess.STDOUT)
        for cmd, log, own in zip(commands, logs, envs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                for i, process in enumerate(processes):
                    if process.poll() is not None:
                        raise RuntimeError((state_dir / f"replica-{i}.log").read_text()[-3000:])
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.2)
        worker_log = state_dir / "replica-2.log"
        while "worker started" not in worker_log.read_text():
            if processes[2].poll() is not None:
                raise RuntimeError(worker_log.read_text()[-3000:])
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


async def test_a_client_on_one_server_follows_a_job_run_by_a_separate_worker(
    api: httpx.AsyncClient, context: AppContext, cluster: list[str], channel: str
) -> None:
    first, second = cluster
    user = await signed_in_user(context)  # the servers share the database and the signing key
    # Each server joins the Socket.IO Redis channel with its first connection.
    for url in cluster:
        probe = Watcher()
        await probe.connect(url, user.access_token)
        await probe.client.disconnect()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(100):  # up to 10 s
            subscribers = dict(client.pubsub_numsub(channel))
            if subscribers == {channel.encode(): 2}:
                break
            await asyncio.sleep(0.1)
        assert subscribers == {channel.encode(): 2}
    finally:
        client.close()

    async with httpx.AsyncClient(base_url=first, headers=user.headers) as one:
        project = (await one.post("/v1/projects", json={"name": "replicas"})).json()
        put = await one.put(f"/v1/projects/{project['id']}/files/main.py", content=TICKER)
        assert put.status_code == 200, put.text
        submitted = await one.post(
            f"/v1/projects/{project['id']}/jobs", json={"command": ["python3", "main.py", "80"]}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]

        watcher = Watcher()
        await watcher.connect(second, user.access_token)
        try:
            assert await watcher.subscribe(job_id) == {"ok": True}
            async with asyncio.timeout(90):
                await watcher.ended.wait()
            assert watcher.lines() == expected_ticker(80)
            seqs = [c["seq"] for c in watcher.logs]
            assert seqs == list(range(1, len(seqs) + 1))
            assert watcher.statuses[-1]["status"] == "succeeded"
            assert "running" in [s["status"] for s in watcher.statuses]

            # Logging out through the first server drops the connection held by the second.
            assert (await one.post("/v1/auth/logout")).status_code == 204
            async with asyncio.timeout(10):
                await watcher.disconnected.wait()
        finally:
            if watcher.client.connected:
                await watcher.client.disconnect()

    late = Watcher()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(second, user.access_token)
