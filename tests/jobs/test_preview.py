"""C5, C7: preview mode publishes only the chosen port, on 127.0.0.1, on a network of its own."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import docker
import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from offcoder.runtime.policy import job_network_name
from tests.support.runtime import wait_for_end
from tests.support.signin import signed_in_user

pytestmark = [pytest.mark.docker]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

SERVER = b"""
import http.server, socketserver
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
with socketserver.TCPServer(("0.0.0.0", 8000), Handler) as httpd:
    print("serving", flush=True)
    httpd.serve_forever()
"""


@pytest.mark.promise("C5")
@pytest.mark.promise("C7")
async def test_preview_serves_the_port_on_loopback_only(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    handle = f"pv{secrets.token_hex(3)}"
    assert (
        await api.patch("/v1/me", headers=user.headers, json={"handle": handle})
    ).status_code == 200
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "Site"})).json()
    await api.put(
        f"/v1/projects/{project['id']}/files/server.py", headers=user.headers, content=SERVER
    )
    await api.put(
        f"/v1/projects/{project['id']}/files/index.html", headers=user.headers, content=b"hi"
    )
    submitted = await api.post(
        f"/v1/projects/{project['id']}/jobs",
        headers=user.headers,
        json={
            "command": ["python3", "server.py"],
            "network": "preview",
            "ports": [8000],
            "timeout_s": 60,
        },
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    deadline = time.monotonic() + 60
    job = {}
    while time.monotonic() < deadline:
        job = (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()
        if job["status"] == "running" and job["published_ports"]:
            break
        await asyncio.sleep(0.1)
    assert job["preview_url"] == f"https://{handle}-{project['slug']}.preview.offcoder.localhost"
    assert list(job["published_ports"]) == ["8000"]
    port = job["published_ports"]["8000"]

    engine = docker.from_env()
    try:
        [container] = engine.containers.list(filters={"label": f"dev.offcoder.job-id={job_id}"})
        bindings = container.attrs["NetworkSettings"]["Ports"]
        assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        network = engine.networks.get(job_network_name(uuid.UUID(job_id)))
        options = network.attrs["Options"]
        assert options["com.docker.network.bridge.enable_icc"] == "false"
        assert options["com.docker.network.bridge.enable_ip_masquerade"] == "false"

        body = ""
        async with httpx.AsyncClient() as client:
            for _ in range(50):
                try:
                    body = (await client.get(f"http://127.0.0.1:{port}/index.html")).text
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        assert body == "hi"

        assert (
            await api.post(f"/v1/jobs/{job_id}/cancel", headers=user.headers)
        ).status_code == 202
        ended = await wait_for_end(api, user.headers, job_id, timeout=30)
        assert ended["status"] == "cancelled"
        assert (
            engine.containers.list(all=True, filters={"label": f"dev.offcoder.job-id={job_id}"})
            == []
        )
        assert engine.networks.list(names=[job_network_name(uuid.UUID(job_id))]) == []
    finally:
        engine.close()


async def test_preview_needs_a_handle_and_allowed_ports(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "p"})).json()
    await api.put(f"/v1/projects/{project['id']}/files/a.py", headers=user.headers, content=b"1")
    url = f"/v1/projects/{project['id']}/jobs"
    no_handle = await api.post(
        url, headers=user.headers, json={"command": ["ls"], "network": "preview", "ports": [8000]}
    )
    assert no_handle.status_code == 422 and "handle" in no_handle.json()["detail"]
    await api.patch("/v1/me", headers=user.headers, json={"handle": f"h{secrets.token_hex(3)}"})
    for body in (
        {"command": ["ls"], "network": "preview"},
        {"command": ["ls"], "network": "preview", "ports": [22]},
        {"command": ["ls"], "network": "none", "ports": [8000]},
        {"command": ["ls"], "network": "egress", "ports": [8000]},
    ):
        response = await api.post(url, headers=user.headers, json=body)
        assert response.status_code == 422, (body, response.text)
