"""C5, review F5: no way out through DNS. A job's lookup of an outside name, in every network
mode, ends at a resolver of the test's own making inside the job's own network namespace, and
never at one on the host.

How it is watched, and why so: the engine's embedded resolver (127.0.0.11 on a job network)
forwards a name it does not know to the container's ``Dns`` servers, or, when none are pinned,
to the host's own resolvers. The test may not query those (network rule: no DNS that could
leave the machine), so it never lets a job look a name up until it has seen, at the engine,
that the job's sandbox pins ``Dns`` to 127.0.0.1; only then does it put its resolver on
127.0.0.1:53 *inside the job's namespace* (a sidecar container sharing it), and the job, which
waits for that resolver, looks up ``leak-probe-<random>.test`` (``.test``: reserved, never
delegated, RFC 6761). The test then holds that
- the lookup fails (the test's resolver answers REFUSED),
- the job's /etc/resolv.conf names only 127.0.0.1 (mode none, no embedded resolver) or only
  the embedded 127.0.0.11 (preview, egress), with no search domain,
- the test's resolver in the job's namespace got the probe name, and nothing else, while a
  resolver the test runs on the host's own 127.0.0.1:53 got nothing: the forwarder sends from
  the job's namespace to the job's own loopback, not from the engine's to the host's (the path
  of CVE-2024-29018, which engines before 26 take for a host-loopback resolver),
- an egress job still resolves its gateway's name, answered by the embedded resolver itself.
All of it under runc and under gVisor alike (issue 15; `assert_ran_under` checks the job truly
ran under the runtime named). Under gVisor a job without a network has gVisor's own loopback
(``--network=none``), which no container beside it shares: there the test's resolver runs in
the sandbox itself (an exec); with a network, gVisor's sockets are the host kernel's, in the
job's namespace, and the resolver sits beside the sandbox as under runc.
What it cannot show: that the host's real resolver never hears of the name, which it may not
watch; the engine's embedded resolver has no upstream besides the pinned ones (libnetwork
``setupDNS``: user-given servers replace the host's), and the query arriving at the pinned one
is what shows it used that one.
On the code before (no ``Dns`` in the create body) the test fails at the engine check, before
any lookup is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import docker
import httpx
import pytest
from docker.errors import NotFound

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.jobs.worker import Worker
from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.policy import GATEWAY_ALIAS, LABEL_NETWORK, SANDBOX_DNS, SandboxRuntime
from tests.support.egress import TEST_LABEL
from tests.support.runtime import (
    all_logs,
    assert_ran_under,
    runtime_app,
    runtime_of,
    under_each_runtime,
    wait_for_end,
)
from tests.support.signin import SignedIn, signed_in_user

pytestmark = [pytest.mark.docker, pytest.mark.promise("C5")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
EMBEDDED_RESOLVER = "127.0.0.11"
WAIT_FOR_RESOLVER_S = 40

# The job: its resolv.conf, then, only once the test's resolver answers on 127.0.0.1:53 in its
# own namespace, the probe lookup (and, for egress, its gateway's name).
PROBE = f"""
import json, os, socket, sys, time
probe, mode = sys.argv[1], sys.argv[2]
out = {{"resolv": open("/etc/resolv.conf").read(), "kernel": os.uname().release}}
deadline = time.monotonic() + {WAIT_FOR_RESOLVER_S}
ready = False
while not ready and time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", 53), timeout=1).close()
        ready = True
    except OSError:
        time.sleep(0.2)
out["resolver_ready"] = ready
def lookup(name):
    try:
        return socket.getaddrinfo(name, 80, socket.AF_INET)[0][4][0]
    except OSError as exc:
        return f"failed {{exc.errno}}"
if ready:
    out["probe"] = lookup(probe)
    if mode == "egress":
        out["gateway"] = lookup("{GATEWAY_ALIAS}")
print("REPORT", json.dumps(out), flush=True)
"""

# The test's resolver in the job's namespace: records every query name, answers REFUSED.
RESOLVER = """
import socket, threading
def name(msg):
    labels, i = [], 12
    while i < len(msg) and msg[i]:
        labels.append(msg[i + 1 : i + 1 + msg[i]].decode(errors="replace"))
        i += 1 + msg[i]
    return ".".join(labels)
def refused(msg):
    return msg[:2] + bytes([0x81, 0x85]) + msg[4:6] + bytes(6) + msg[12:]
def tcp(server):
    while True:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            try:
                size = int.from_bytes(conn.recv(2), "big")
                msg = conn.recv(size) if size else b""
            except OSError:
                continue
            if len(msg) >= 12:
                print("QUERY tcp", name(msg), flush=True)
                answer = refused(msg)
                conn.sendall(len(answer).to_bytes(2, "big") + answer)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 53))
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", 53))
server.listen(8)
threading.Thread(target=tcp, args=(server,), daemon=True).start()
print("READY", flush=True)
while True:
    msg, peer = udp.recvfrom(4096)
    if len(msg) >= 12:
        print("QUERY udp", name(msg), flush=True)
        udp.sendto(refused(msg), peer)
"""


class HostResolver:
    """UDP and TCP on the host's own 127.0.0.1:53, recording whatever arrives."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.udp.bind(("127.0.0.1", 53))
            self.tcp.bind(("127.0.0.1", 53))
        except OSError as exc:
            self.close()
            pytest.fail(f"the test's host resolver needs 127.0.0.1:53 free (root): {exc}")
        self.tcp.listen(8)
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.received: list[tuple[str, bytes]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.udp.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(("udp", data))

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    self.received.append(("tcp", conn.recv(4096)))

    def close(self) -> None:
        if hasattr(self, "_stop"):
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=5)
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def host_resolver() -> Iterator[HostResolver]:
    resolver = HostResolver()
    try:
        yield resolver
    finally:
        resolver.close()


@pytest.fixture(scope="module")
async def dns_runtime(
    request: pytest.FixtureRequest,
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
) -> AsyncIterator[Runtime]:
    # The gateway is never asked for anything: the allow-list only lets egress jobs start.
    async with runtime_app(
        settings,
        prepared,
        proxy_socket,
        egress_allow_hosts=["allowed.offcoder.test"],
        sandbox_runtime=runtime_of(request),
    ) as r:
        yield r


async def _running_sandbox(engine: docker.DockerClient, job_id: str) -> dict[str, Any]:
    """The job's sandbox (not its gateway) once it runs, as the engine describes it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(
            engine.containers.list,
            filters={"label": [f"dev.offcoder.job-id={job_id}", LABEL_NETWORK]},
        )
        if found:
            attrs: dict[str, Any] = found[0].attrs
            return attrs
        await asyncio.sleep(0.1)
    raise AssertionError(f"the sandbox of job {job_id} never ran")


async def _submit(api: httpx.AsyncClient, user: SignedIn, mode: str, probe: str) -> str:
    project = (await api.post("/v1/projects", headers=user.headers, json={"name": "dns"})).json()
    put = await api.put(
        f"/v1/projects/{project['id']}/files/probe.py",
        headers=user.headers,
        content=PROBE.encode(),
    )
    assert put.status_code == 200, put.text
    body: dict[str, Any] = {
        "command": ["python3", "probe.py", probe, mode],
        "network": mode,
        "timeout_s": 90,
    }
    if mode == "preview":
        body["ports"] = [8000]
    submitted = await api.post(
        f"/v1/projects/{project['id']}/jobs", headers=user.headers, json=body
    )
    assert submitted.status_code == 202, submitted.text
    return str(submitted.json()["id"])


def _nameservers(resolv: str) -> list[str]:
    return [ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver")]


async def _resolver_beside(engine: docker.DockerClient, sandbox_id: str) -> str:
    """The test's resolver in a container of its own sharing the sandbox's network namespace;
    the container's id. The job's 127.0.0.1 is that namespace's under runc, and under gVisor
    with a network (whose sockets are the host kernel's, in that namespace)."""
    resolver = await asyncio.to_thread(
        engine.api.create_container,
        IMAGES["python"],
        ["python3", "-I", "-c", RESOLVER],
        user="0:0",
        labels={TEST_LABEL: "1"},
        host_config=engine.api.create_host_config(
            network_mode=f"container:{sandbox_id}",
            cap_drop=["ALL"],
            cap_add=["NET_BIND_SERVICE"],
            security_opt=["no-new-privileges"],
            read_only=True,
            pids_limit=16,
            mem_limit="64m",
        ),
    )
    await asyncio.to_thread(engine.api.start, resolver["Id"])
    return str(resolver["Id"])


class ResolverInside:
    """The test's resolver run in the sandbox itself (an exec, as the sandbox's user). Under
    gVisor without a network the job's 127.0.0.1 is gVisor's own loopback, which no process
    outside the sandbox shares; gVisor's stack lets the sandbox's user bind port 53 there.

    Its output is read as it comes, in a daemon thread: under gVisor an exec's stream mostly
    stays open after the sandbox has ended and been removed (seen with ``docker exec`` too),
    so the test can wait neither for its end nor for a thread that may never return."""

    def __init__(self, engine: docker.DockerClient, sandbox_id: str) -> None:
        self._chunks: list[bytes] = []
        self._failed: list[BaseException] = []
        threading.Thread(target=self._read, args=(engine, sandbox_id), daemon=True).start()

    def _read(self, engine: docker.DockerClient, sandbox_id: str) -> None:
        try:
            exec_id = engine.api.exec_create(sandbox_id, ["python3", "-I", "-c", RESOLVER])
            for chunk in engine.api.exec_start(exec_id["Id"], stream=True):
                self._chunks.append(chunk)
        except Exception as exc:  # handed to the test by `output`
            self._failed.append(exc)

    async def output(self, probe: str, within_s: float = 10) -> str:
        """What it printed, once that shows the query for `probe` (the job, which has ended,
        got its answer after the resolver printed it), or as it stands after `within_s`."""
        deadline = time.monotonic() + within_s
        while True:
            if self._failed:
                raise self._failed[0]
            text = b"".join(self._chunks).decode(errors="replace")
            if probe in text or time.monotonic() > deadline:
                return text
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["none", "preview", "egress"])
@under_each_runtime("dns_runtime")
async def test_a_jobs_lookups_of_outside_names_never_leave_its_own_namespace(
    dns_runtime: Runtime, host_resolver: HostResolver, mode: str
) -> None:
    api, ctx, _ = dns_runtime
    runtime = ctx.settings.sandbox_runtime
    user = await signed_in_user(ctx)
    if mode == "preview":
        handle = {"handle": f"dns{secrets.token_hex(3)}"}
        assert (await api.patch("/v1/me", headers=user.headers, json=handle)).status_code == 200
    probe = f"leak-probe-{secrets.token_hex(6)}.test"
    job_id = await _submit(api, user, mode, probe)
    engine = docker.from_env()
    resolver_id = ""
    inside: ResolverInside | None = None
    try:
        sandbox = await _running_sandbox(engine, job_id)
        hc = sandbox["HostConfig"]
        # Before any lookup: unpinned, the engine would forward the probe to the host's own
        # resolvers, off this machine. The job then makes none (no resolver appears for it).
        assert hc["Dns"] == list(SANDBOX_DNS), hc["Dns"]
        assert not hc["DnsSearch"] and not hc["DnsOptions"] and not hc["ExtraHosts"], hc
        if runtime is SandboxRuntime.runsc and mode == "none":
            inside = ResolverInside(engine, sandbox["Id"])
        else:
            resolver_id = await _resolver_beside(engine, sandbox["Id"])
        job = await wait_for_end(api, user.headers, job_id, timeout=120)
        chunks = await all_logs(api, user.headers, job_id)
        out = "".join(str(c["data"]) for c in chunks if c["stream"] == "stdout")
        assert job["status"] == "succeeded", (job, out)
        [line] = [ln for ln in out.splitlines() if ln.startswith("REPORT ")]
        report = json.loads(line[len("REPORT ") :])
        if inside is not None:
            logs = await inside.output(probe)
        else:
            logs = (await asyncio.to_thread(engine.api.logs, resolver_id)).decode()
    finally:
        if resolver_id:
            with contextlib.suppress(NotFound):
                await asyncio.to_thread(engine.api.remove_container, resolver_id, force=True)
        engine.close()
    assert_ran_under(runtime, report["kernel"], hc["Runtime"], networked=mode != "none")
    assert "READY" in logs, logs
    assert report["resolver_ready"] is True, report
    assert report["probe"].startswith("failed "), report
    expected = [SANDBOX_DNS[0]] if mode == "none" else [EMBEDDED_RESOLVER]
    assert _nameservers(report["resolv"]) == expected, report["resolv"]
    assert "search" not in report["resolv"].split(), report["resolv"]
    asked = {ln.split()[2] for ln in logs.splitlines() if ln.startswith("QUERY ")}
    assert asked == {probe}, logs  # the probe reached our resolver, in the job's namespace
    assert host_resolver.received == []  # and nothing reached one on the host's loopback
    if mode == "egress":
        # The gateway's name is the embedded resolver's own answer: it never went upstream.
        assert not report["gateway"].startswith("failed"), report
