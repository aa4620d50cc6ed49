"""C5, C7: preview mode publishes only the chosen port, on 127.0.0.1, on a network of its own.

Serving on loopback only and the host wall hold under runc and under gVisor alike (issue 15):
those two tests run under each (`under_each_runtime`), and each checks that its job truly ran
under the runtime it names (`assert_ran_under`: the kernel the job sees, the engine's runtime).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
import uuid
from typing import Any

import docker
import httpx
import pytest

from offcoder.context import AppContext
from offcoder.jobs.worker import Worker
from offcoder.runtime.policy import job_network_name
from tests.support.runtime import assert_ran_under, under_each_runtime, wait_for_end
from tests.support.signin import SignedIn, signed_in_user

pytestmark = [pytest.mark.docker]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]

# GET /kernel answers the kernel release the job sees: the host's under runc, gVisor's own
# under runsc (`assert_ran_under`).
SERVER = b"""
import http.server, os, socketserver
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path != "/kernel":
            return super().do_GET()
        body = os.uname().release.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
with socketserver.TCPServer(("0.0.0.0", 8000), Handler) as httpd:
    print("serving", flush=True)
    httpd.serve_forever()
"""


async def serving_preview(
    api: httpx.AsyncClient, user: SignedIn, project_id: str
) -> dict[str, Any]:
    """Run the project's `server.py` as a preview of port 8000; the job once it runs with its
    port published (as it stands after 60 s otherwise)."""
    submitted = await api.post(
        f"/v1/projects/{project_id}/jobs",
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
    job: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await api.get(f"/v1/jobs/{job_id}", headers=user.headers)).json()
        if job["status"] == "running" and job["published_ports"]:
            break
        await asyncio.sleep(0.1)
    return job


@pytest.mark.promise("C5")
@pytest.mark.promise("C7")
@under_each_runtime("runtime")
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
    job = await serving_preview(api, user, project["id"])
    job_id = str(job["id"])
    assert job["preview_url"] == (f"http://{handle}--{project['slug']}.preview.offcoder.localhost")
    assert list(job["published_ports"]) == ["8000"]
    port = job["published_ports"]["8000"]

    engine = docker.from_env()
    try:
        [container] = engine.containers.list(filters={"label": f"dev.offcoder.job-id={job_id}"})
        bindings = container.attrs["NetworkSettings"]["Ports"]
        assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        engine_runtime = container.attrs["HostConfig"]["Runtime"]
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
            kernel = (await client.get(f"http://127.0.0.1:{port}/kernel")).text
        assert body == "hi"
        assert_ran_under(ctx.settings.sandbox_runtime, kernel, engine_runtime, networked=True)

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


# A preview server that, on GET /probe?port=P&hosts=A,B, tries to open a TCP connection to each
# host at port P (2 s each, at once) and answers what happened, as JSON, with the kernel release
# the job sees under "kernel". One thread, with asyncio (no resolver thread for an address):
# under gVisor as registered today a program cannot start a thread (clone3 gets EPERM from its
# --oci-seccomp, where runc's profile answers ENOSYS and glibc falls back to clone).
PROBING_SERVER = b"""
import asyncio, errno, http.server, json, os, socketserver, urllib.parse

async def attempt(host, port):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        try:
            return "OK " + (await asyncio.wait_for(reader.read(100), 2)).decode(errors="replace")
        finally:
            writer.close()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)

async def attempts(hosts, port):
    return dict(zip(hosts, await asyncio.gather(*(attempt(host, port) for host in hosts))))

class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/probe":
            return super().do_GET()
        query = urllib.parse.parse_qs(url.query)
        port = int(query["port"][0])
        out = asyncio.run(attempts(query["hosts"][0].split(","), port))
        body = json.dumps({"tried": out, "kernel": os.uname().release}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

socketserver.TCPServer.allow_reuse_address = True
with socketserver.TCPServer(("0.0.0.0", 8000), Handler) as httpd:
    httpd.serve_forever()
"""


def host_address(interface: str) -> str | None:
    """The IPv4 address of one of this host's own interfaces, if it has one."""
    shown = subprocess.run(
        ["ip", "-j", "-4", "addr", "show", "dev", interface], capture_output=True, text=True
    )
    if shown.returncode != 0:
        return None
    for link in json.loads(shown.stdout or "[]"):
        for addr in link.get("addr_info", []):
            return str(addr["local"])
    return None


@pytest.mark.promise("C5")
@under_each_runtime("runtime")
async def test_a_preview_job_cannot_reach_the_host(runtime: Runtime) -> None:
    """Review F4: the job's bridge has an address on the host, and packets to the host's
    addresses go through its INPUT chain, which Docker leaves open. A server of the test's own
    on the bridge's gateway address, and one on another address of this host (docker0's), are
    not reachable from the preview job, which still serves its page through the published
    port. Only addresses of this host's own interfaces are tried."""
    api, ctx, _ = runtime
    user = await signed_in_user(ctx)
    await api.patch("/v1/me", headers=user.headers, json={"handle": f"hw{secrets.token_hex(3)}"})
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "W"})).json()
    for path, content in (("server.py", PROBING_SERVER), ("index.html", b"hi")):
        await api.put(
            f"/v1/projects/{project['id']}/files/{path}", headers=user.headers, content=content
        )
    job = await serving_preview(api, user, project["id"])
    job_id = str(job["id"])
    port = job["published_ports"]["8000"]

    engine = docker.from_env()
    accepted: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(str(writer.get_extra_info("peername")))
        writer.write(b"host-secret\n")
        await writer.drain()
        writer.close()

    servers: list[asyncio.Server] = []
    try:
        network = engine.networks.get(job_network_name(uuid.UUID(job_id)))
        gateway = str(network.attrs["IPAM"]["Config"][0]["Gateway"])
        targets = [gateway]
        other = host_address("docker0")
        if other is not None and other != gateway:
            targets.append(other)
        servers.append(await asyncio.start_server(answer, gateway, 0))
        test_port = servers[0].sockets[0].getsockname()[1]
        servers += [await asyncio.start_server(answer, host, test_port) for host in targets[1:]]

        async with httpx.AsyncClient(timeout=20) as client:
            body = ""
            for _ in range(50):
                try:
                    body = (await client.get(f"http://127.0.0.1:{port}/index.html")).text
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            assert body == "hi"
            probe = await client.get(
                f"http://127.0.0.1:{port}/probe",
                params={"port": test_port, "hosts": ",".join(targets)},
            )
        answer = probe.json()
        assert_ran_under(ctx.settings.sandbox_runtime, answer["kernel"], networked=True)
        tried = answer["tried"]
        assert set(tried) == set(targets)
        assert not any(result.startswith("OK") for result in tried.values()), tried
        assert accepted == []
    finally:
        for server in servers:
            server.close()
        await api.post(f"/v1/jobs/{job_id}/cancel", headers=user.headers)
        engine.close()
    ended = await wait_for_end(api, user.headers, job_id, timeout=30)
    assert ended["status"] == "cancelled"
