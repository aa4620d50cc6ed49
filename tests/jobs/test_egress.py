"""C5: egress mode. A job on its own internal network reaches the outside only through its
filtering gateway, and only the allow-listed host names: under runc and under gVisor alike
(issue 15; the job says the kernel it saw, `assert_ran_under`).

Network rule of these tests: every address touched is one of our own containers on bridges made
during the run (two tiny HTTP servers on ``offcoder-egress`` under the names
``allowed.offcoder.test`` and ``denied.offcoder.test``). No public host, no metadata address.
Our servers live on a private docker bridge, so this module's proxy runs with
``OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE=1`` (the production default refuses private addresses;
the unit tests in tests/runtime/test_egress_gateway.py prove that filter).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import docker
import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.runtime.policy import GATEWAY_ALIAS, job_network_name
from offcoder.runtime.proxy.gateway import EGRESS_NETWORK, gateway_name
from tests.support.egress import egress_proxy, stand_ins
from tests.support.runtime import (
    NETWORK_RUNTIMES,
    all_logs,
    assert_ran_under,
    runtime_app,
    runtime_of,
    under_each_runtime,
    wait_for_end,
)
from tests.support.signin import sign_in

pytestmark = [pytest.mark.docker, pytest.mark.promise("C5")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
ALLOWED = "allowed.offcoder.test"
DENIED = "denied.offcoder.test"
PORT = 8000

SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["BODY"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""

PROBE = b"""
import os, socket, sys, urllib.error, urllib.request
sys.stdout.reconfigure(line_buffering=True)
allowed_ip = sys.argv[1]
print("proxy", os.environ["HTTP_PROXY"], os.environ["https_proxy"])
r = urllib.request.urlopen("http://allowed.offcoder.test:8000/hello", timeout=15)
print("allowed", r.status, r.read().decode())
try:
    urllib.request.urlopen("http://denied.offcoder.test:8000/", timeout=15)
    print("denied reached")
except urllib.error.HTTPError as e:
    print("denied", e.code, e.headers.get("X-Offcoder-Gateway"))

def tunnel(host):
    s = socket.create_connection(("egress-gateway", 3128), timeout=15)
    s.sendall(f"CONNECT {host}:8000 HTTP/1.1\\r\\nHost: {host}:8000\\r\\n\\r\\n".encode())
    head = s.recv(4096).decode()
    status = head.split(" ")[1]
    if status != "200":
        return status, ""
    s.sendall(f"GET / HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n".encode())
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return status, data.decode().split("\\r\\n\\r\\n", 1)[1]

print("connect-allowed", *tunnel("allowed.offcoder.test"))
print("connect-denied", tunnel("denied.offcoder.test")[0])
try:
    socket.create_connection((allowed_ip, 8000), timeout=3).close()
    print("direct connected")
except OSError as e:
    print("direct failed", type(e).__name__)
print("kernel", os.uname().release)
"""


@pytest.fixture(scope="module")
def egress_proxy_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A proxy of this module's own: its gateways may reach our servers' private addresses."""
    with egress_proxy(
        tmp_path_factory.mktemp("egress-proxy"), runtimes=",".join(NETWORK_RUNTIMES)
    ) as socket_path:
        yield socket_path


@pytest.fixture(scope="module")
async def egress_runtime(
    request: pytest.FixtureRequest,
    settings: Settings,
    prepared: PreparedDatabase,
    egress_proxy_socket: str,
) -> AsyncIterator[Runtime]:
    async with runtime_app(
        settings,
        prepared,
        egress_proxy_socket,
        egress_allow_hosts=[ALLOWED],
        egress_extra_ports=[PORT],
        sandbox_runtime=runtime_of(request),
    ) as r:
        yield r


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """Our two test servers on the egress bridge; answers {alias: its address there}."""
    with stand_ins(
        {alias: (SERVER, {"BODY": f"hello from {alias}"}) for alias in (ALLOWED, DENIED)}
    ) as addresses:
        yield addresses


def leftovers(job_id: str) -> tuple[list[str], list[str]]:
    engine = docker.from_env()
    try:
        containers = engine.containers.list(
            all=True, filters={"label": f"dev.offcoder.job-id={job_id}"}
        )
        networks = engine.networks.list(names=[job_network_name(uuid.UUID(job_id))])
        return [c.name for c in containers], [n.name for n in networks]
    finally:
        engine.close()


@under_each_runtime("egress_runtime")
async def test_egress_reaches_only_allow_listed_hosts_through_the_gateway(
    egress_runtime: Runtime, servers: dict[str, str]
) -> None:
    api, ctx, _ = egress_runtime
    user = await sign_in(api)
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "eg"})).json()
    put = await api.put(
        f"/v1/projects/{project['id']}/files/probe.py", headers=user.headers, content=PROBE
    )
    assert put.status_code == 200, put.text
    submitted = await api.post(
        f"/v1/projects/{project['id']}/jobs",
        headers=user.headers,
        json={
            "command": ["python3", "probe.py", servers[ALLOWED]],
            "network": "egress",
            "timeout_s": 90,
        },
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    job = await wait_for_end(api, user.headers, job_id, timeout=120)
    chunks = await all_logs(api, user.headers, job_id)
    out = "".join(str(c["data"]) for c in chunks if c["stream"] == "stdout")
    err = "".join(str(c["data"]) for c in chunks if c["stream"] == "stderr")
    assert job["status"] == "succeeded", (job["reason"], job["detail"], out, err)
    lines = out.splitlines()
    gateway = f"http://{GATEWAY_ALIAS}:3128"
    assert lines[:5] == [
        f"proxy {gateway} {gateway}",
        f"allowed 200 hello from {ALLOWED}",  # absolute-URI HTTP through the gateway
        "denied 403 refused",  # a name off the list: the gateway's 403
        f"connect-allowed 200 hello from {ALLOWED}",  # CONNECT tunnel by host name
        "connect-denied 403",
    ], out
    # Bypassing the gateway: the allowed server's own address, straight from the job. (No
    # by-name probe without the proxy: an unknown name could be forwarded to the host's DNS.)
    assert lines[5].startswith("direct failed "), out
    assert lines[6].startswith("kernel "), out
    assert len(lines) == 7, out
    assert_ran_under(ctx.settings.sandbox_runtime, lines[6].split()[1], networked=True)
    assert leftovers(job_id) == ([], [])


async def test_gateway_endpoint_is_strict_and_its_container_hardened(
    egress_runtime: Runtime, egress_proxy_socket: str
) -> None:
    job = uuid.uuid4()
    transport = httpx.AsyncHTTPTransport(uds=egress_proxy_socket)
    engine = docker.from_env()
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as proxy:
        url = f"/offcoder/gateways/{job}"
        for bad in (
            {"AllowHosts": ["169.254.169.254"]},
            {"AllowHosts": ["*"]},
            {"AllowHosts": ["a.test"], "Image": "alpine"},
            {"AllowHosts": [f"h{i}.test" for i in range(33)]},
            {"AllowHosts": ["a.test"], "ExtraPorts": ["22"]},
        ):
            answer = await proxy.post(url, json=bad)
            assert answer.status_code == 400, (bad, answer.text)
        # No internal egress network of ours for this job: no gateway.
        assert (await proxy.post(url, json={"AllowHosts": ["a.test"]})).status_code == 409
        net = await proxy.post(f"/offcoder/networks/{job}", params={"mode": "egress"})
        assert net.status_code == 201, net.text
        try:
            made = await proxy.post(url, json={"AllowHosts": ["a.test"]})
            assert made.status_code == 201, made.text
            info = engine.api.inspect_container(gateway_name(job))
            hc = info["HostConfig"]
            assert info["Config"]["User"] == "10001:10001"
            assert hc["CapDrop"] == ["ALL"] and hc["SecurityOpt"] == ["no-new-privileges"]
            assert hc["ReadonlyRootfs"] is True and hc["Privileged"] is False
            assert hc["PidsLimit"] > 0 and hc["Memory"] > 0 and hc["Binds"] is None
            assert info["Config"]["Labels"]["dev.offcoder.role"] == "gateway"
            networks = info["NetworkSettings"]["Networks"]
            assert set(networks) == {job_network_name(job), EGRESS_NETWORK}
            assert GATEWAY_ALIAS in networks[job_network_name(job)]["Aliases"]
            config = next(
                e for e in info["Config"]["Env"] if e.startswith("OFFCODER_GATEWAY_CONFIG=")
            )
            assert json.loads(config.split("=", 1)[1])["allow"] == ["a.test"]
            egress = engine.networks.get(EGRESS_NETWORK).attrs
            assert egress["Internal"] is False
            assert egress["Labels"] == {"dev.offcoder.managed": "1", "dev.offcoder.role": "egress"}
            assert engine.networks.get(job_network_name(job)).attrs["Internal"] is True
            # The gateway is the proxy's own: no container route reaches it.
            name = gateway_name(job)
            assert (await proxy.get(f"/containers/{name}/json")).status_code == 404
            assert (await proxy.post(f"/containers/{name}/kill")).status_code == 404
            assert (await proxy.delete(f"/containers/{name}?force=1")).status_code == 404
            assert engine.api.inspect_container(name)["State"]["Running"]
        finally:
            removed = await proxy.delete(url)
            dropped = await proxy.delete(f"/offcoder/networks/{job}")
        assert removed.status_code == 200, removed.text
        assert dropped.status_code == 200, dropped.text
        assert (await proxy.delete(url)).status_code == 404
    assert leftovers(str(job)) == ([], [])
    engine.close()
