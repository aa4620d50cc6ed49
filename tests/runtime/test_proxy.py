"""The policy proxy (C2) against the real engine, driven with raw HTTP and with docker-py.

Every refused case: 403 (or 404 for a container that is not ours) and nothing happened at the
engine. The allowed lifecycle (C1, C3): provision → create → putArchive → start → wait → logs →
remove, with the hardening measured inside the container.
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import io
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

docker = pytest.importorskip("docker")

from offcoder import logs  # noqa: E402
from offcoder.cli import app  # noqa: E402
from offcoder.runtime.catalogue import IMAGES  # noqa: E402
from offcoder.runtime.policy import (  # noqa: E402
    LABEL_DEPLOYMENT,
    LABEL_JOB_ID,
    LABEL_MANAGED,
    LABEL_NETWORK,
    LAYER_MIN_BYTES,
    LOG_MAX_SIZE,
    NetworkMode,
    SandboxLimits,
    SandboxRuntime,
    container_spec,
    is_deployment_id,
    job_network_name,
    layer_mount,
    layer_volume_name,
    owner_tag,
    workspace_mount,
    workspace_volume_name,
)
from offcoder.runtime.proxy.gateway import gateway_name  # noqa: E402
from offcoder.runtime.proxy.server import (  # noqa: E402
    DeploymentIdError,
    DockerPolicyProxy,
    Refused,
    deployment_id,
    route,
    start_proxy,
)
from tests.support.policy import MUTATIONS, OTHER_JOB  # noqa: E402
from tests.support.runtime import job_leftovers  # noqa: E402

ENGINE_SOCK = "/var/run/docker.sock"
TEST_LABEL = "dev.offcoder-test.run"
RUN_ID = uuid.uuid4().hex[:12]
IMAGE_TAG = f"offcoder-test/sandbox:{RUN_ID}"
DEPLOYMENT = f"test-{RUN_ID}"  # this module's proxy's: no other test run's
OTHER_DEPLOYMENT = f"other-{RUN_ID}"

pytestmark = pytest.mark.docker


# ------------------------------------------------------------------ fixtures and helpers
class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def raw(
    sock: str,
    method: str,
    target: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One raw HTTP request over the unix socket; (status, parsed JSON or text)."""
    conn = UnixHTTPConnection(sock)
    hdrs = dict(headers or {})
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, target, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(payload) if payload else None
    except ValueError:
        return resp.status, payload.decode(errors="replace")


def _rootfs_tar() -> bytes:
    """A tiny image: the host's sh and a few coreutils with their libraries, /workspace 10001."""
    wanted: dict[str, str] = {}
    tools = ["sh", "cat", "id", "dd", "touch", "head", "ls", "sleep", "echo", "grep", "rm", "stat"]
    for name in tools:
        found = shutil.which(name)
        assert found, f"{name} is needed on the host to build the test image"
        real = os.path.realpath(found)
        for dest in {found, real, "/bin/" + name}:
            wanted[dest] = real
        ldd = subprocess.run(["ldd", real], capture_output=True, text=True, check=False).stdout
        for tok in ldd.split():
            if tok.startswith("/"):
                wanted[tok] = wanted[os.path.realpath(tok)] = os.path.realpath(tok)
    buf = io.BytesIO()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w") as tf:

        def mkdir(name: str, uid: int = 0, mode: int = 0o755) -> None:
            if name not in dirs:
                dirs.add(name)
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
                tf.addfile(info)

        for d in ("tmp", "proc", "sys", "dev", "etc"):
            mkdir(d, mode=0o1777 if d == "tmp" else 0o755)
        mkdir("workspace", uid=10001)
        for dest, src in sorted(wanted.items()):
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                mkdir("/".join(parts[:i]))
            data = Path(src).read_bytes()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.DockerClient(base_url="unix://" + ENGINE_SOCK)
    yield client
    for c in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
        c.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def image(engine: Any) -> Iterator[str]:
    tag = IMAGE_TAG
    engine.api.import_image_from_data(_rootfs_tar(), repository=tag.split(":")[0], tag=RUN_ID)
    yield tag
    engine.images.remove(tag, force=True)


@contextmanager
def serving_proxy(
    sock: str,
    state_dir: Path,
    deployment: str,
    runtimes: frozenset[SandboxRuntime] = frozenset({SandboxRuntime.runc}),
) -> Iterator[str]:
    """A proxy in-process, on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["server"] = await start_proxy(
            sock, ENGINE_SOCK, state_dir=state_dir, deployment=deployment, allowed_runtimes=runtimes
        )
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(main(), loop).result(10)
    assert started.wait(10)
    yield sock
    loop.call_soon_threadsafe(holder["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def proxy_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxy")


@pytest.fixture(scope="module")
def proxy(proxy_base: Path) -> Iterator[str]:
    with serving_proxy(str(proxy_base / "docker.sock"), proxy_base / "ws", DEPLOYMENT) as sock:
        yield sock


@pytest.fixture(scope="module")
def other_proxy(proxy_base: Path) -> Iterator[str]:
    """Another deployment's proxy on the same engine, even on the same state directory."""
    with serving_proxy(str(proxy_base / "other.sock"), proxy_base / "ws", OTHER_DEPLOYMENT) as sock:
        yield sock


@pytest.fixture
def jobs(engine: Any, proxy: str) -> Iterator[list[uuid.UUID]]:
    """Job ids a test uses; their containers, volumes and workspaces go, whatever happens."""
    made: list[uuid.UUID] = []
    yield made
    for job in made:
        for c in engine.containers.list(all=True, filters={"label": f"{LABEL_JOB_ID}={job}"}):
            c.remove(force=True)
        raw(proxy, "DELETE", f"/offcoder/workspaces/{job}")
        raw(proxy, "DELETE", f"/offcoder/layers/{job}")
        for v in engine.volumes.list(filters={"name": workspace_volume_name(job)}):
            v.remove(force=True)
        raw(proxy, "DELETE", f"/offcoder/networks/{job}")  # its host wall with it
        for n in engine.networks.list(filters={"label": f"{LABEL_JOB_ID}={job}"}):
            n.remove()


def engine_state(engine: Any) -> tuple[Any, ...]:
    """What a smuggled request could have changed: our containers, volumes, networks, images.

    Scoped to names and labels a request of these tests could create, because other engineers'
    work (image builds, other suites) changes the rest of the engine concurrently.
    """
    api = engine.api
    names = ("offcoder-test", "shared", workspace_volume_name(OTHER_JOB))
    containers = api.containers(all=True, filters={"ancestor": IMAGE_TAG})
    return (
        sorted((c["Id"], c["State"]) for c in containers),
        sorted(
            v["Name"] for v in api.volumes().get("Volumes") or [] if v["Name"].startswith(names)
        ),
        sorted(n["Name"] for n in api.networks() if n["Name"].startswith(names)),
        sorted(
            t
            for i in api.images(all=True)
            for t in i.get("RepoTags") or []
            if t.startswith(("offcoder-test", "busybox"))
        ),
    )


OWNER = owner_tag(uuid.UUID(int=1), b"test-key")


def policy_body(image: str, job: uuid.UUID, command: list[str], **kw: Any) -> dict[str, Any]:
    spec = container_spec(
        image=image,
        command=command,
        env={"GREETING": "hello"},
        job_id=job,
        owner_tag=OWNER,
        network=NetworkMode.none,
        deployment=DEPLOYMENT,
        **kw,
    )
    # These tests read a sandbox's output back through the engine's log, which the policy
    # also allows when bounded; the worker's own sandboxes keep none and are attached to.
    spec["HostConfig"]["LogConfig"] = {
        "Type": "json-file",
        "Config": {"max-size": LOG_MAX_SIZE, "max-file": "1"},
    }
    return spec


def provision(proxy: str, job: uuid.UUID) -> dict[str, Any]:
    status, data = raw(proxy, "POST", f"/offcoder/workspaces/{job}")
    assert status == 201, data
    return dict(data["Mount"])


def project_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, 10001, 10001
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ------------------------------------------------------------------ refused endpoints
REFUSED = [
    ("POST", "/volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/v1.41/volumes/create", {"Name": "offcoder-test-vol"}),
    ("GET", "/volumes", None),
    ("POST", "/networks/create", {"Name": "offcoder-test-net"}),
    ("POST", "/v1.41/networks/create", {"Name": "offcoder-test-net"}),
    ("GET", "/networks", None),
    ("POST", "/containers/abc/exec", {"Cmd": ["id"]}),
    ("POST", "/exec/abc/start", {}),
    ("POST", "/build", None),
    ("POST", "/images/create?fromImage=busybox&tag=latest", None),
    ("POST", "/images/offcoder-test/x/push", None),
    ("DELETE", "/images/offcoder-test/x", None),
    ("POST", "/images/load", None),
    ("GET", "/images/json", None),
    ("POST", "/commit?container=abc", None),
    ("GET", "/containers/abc/archive?path=/", None),
    ("HEAD", "/containers/abc/archive?path=/", None),
    ("GET", "/containers/abc/export", None),
    ("POST", "/containers/abc/update", {"Memory": 0}),
    ("POST", "/containers/abc/rename?name=x", None),
    ("POST", "/containers/abc/pause", None),
    ("POST", "/containers/abc/resize?h=1&w=1", None),
    ("GET", "/containers/abc/changes", None),
    ("GET", "/containers/abc/top", None),
    ("POST", "/containers/abc/restart", None),
    ("POST", "/containers/prune", None),
    ("GET", "/events", None),
    ("GET", "/system/df", None),
    ("GET", "/info", None),
    ("POST", "/swarm/init", {}),
    ("GET", "/services", None),
    ("GET", "/nodes", None),
    ("POST", "/secrets/create", {"Name": "x", "Data": ""}),
    ("POST", "/configs/create", {"Name": "x", "Data": ""}),
    ("GET", "/plugins", None),
    ("POST", "/plugins/pull?remote=x", None),
    ("POST", "/session", None),
    ("POST", "/auth", {}),
    # smuggling through path tricks
    ("POST", "/containers/%2e%2e/volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/containers/..%2fvolumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/v1.41/../volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/v1.41/%2E%2E/volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "//volumes//create", {"Name": "offcoder-test-vol"}),
    ("POST", "/v1.41//volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/containers/create/../../volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/containers/./create/..%252f..%252fvolumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/_ping/../networks/create", {"Name": "offcoder-test-net"}),
    ("POST", "/v1.23/volumes/create", {"Name": "offcoder-test-vol"}),
    ("POST", "/v2/volumes/create", {"Name": "offcoder-test-vol"}),
    ("GET", "/images/x/json/../../../volumes", None),
    ("POST", "/containers/abc/start?x=1;y=2", None),
    # old API versions, whose start took a HostConfig
    ("POST", "/v1.23/containers/abc/start", {"Privileged": True}),
]


@pytest.mark.parametrize(
    ("method", "target", "body"), REFUSED, ids=[f"{m} {t}" for m, t, _ in REFUSED]
)
def test_refused_endpoints(engine: Any, proxy: str, method: str, target: str, body: Any) -> None:
    """C2: whitelisting by operation; nothing reaches the engine."""
    before = engine_state(engine)
    status, data = raw(proxy, method, target, body)
    assert status == 403, (status, data)
    if method != "HEAD":
        assert "message" in data
    assert engine_state(engine) == before


@pytest.fixture(scope="module")
def provisioned_job(engine: Any, proxy: str) -> Iterator[uuid.UUID]:
    """One job with a provisioned workspace, so that only the mutation can be refused."""
    job = uuid.uuid4()
    provision(proxy, job)
    yield job
    for c in engine.containers.list(all=True, filters={"label": f"{LABEL_JOB_ID}={job}"}):
        c.remove(force=True)
    raw(proxy, "DELETE", f"/offcoder/workspaces/{job}")


def test_policy_body_is_accepted(
    engine: Any, proxy: str, image: str, provisioned_job: uuid.UUID
) -> None:
    """The control for the mutations below: the unmutated body is created."""
    body = policy_body(image, provisioned_job, ["true"], workspace_mount=None)
    body["HostConfig"]["Mounts"] = [workspace_mount(provisioned_job)]
    status, data = raw(proxy, "POST", "/v1.41/containers/create", body)
    assert status == 201, data
    engine.containers.get(data["Id"]).remove()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_refused_create_bodies(
    engine: Any, proxy: str, image: str, provisioned_job: uuid.UUID, name: str
) -> None:
    """C1/C2: each policy violation in a create body is refused before dockerd sees it."""
    body = policy_body(image, provisioned_job, ["true"], workspace_mount=None)
    body["HostConfig"]["Mounts"] = [workspace_mount(provisioned_job)]
    MUTATIONS[name](body)
    before = engine_state(engine)
    status, data = raw(proxy, "POST", "/v1.41/containers/create", body)
    assert status in (400, 403), (status, data)
    assert engine_state(engine) == before


def test_only_the_deployments_runtimes_are_created_and_gvisor_is_gvisor(
    engine: Any, proxy: str, proxy_base: Path, image: str, jobs: list[uuid.UUID]
) -> None:
    """C1, C2: a proxy allowing only runc refuses a sandbox under gVisor, naming what it
    allows; one allowing gVisor creates it, and what runs in it meets gVisor's kernel, not the
    host's. Both say what they allow and what the engine offers (`offcoder doctor` reads it)."""
    job = uuid.uuid4()
    jobs.append(job)
    body = policy_body(image, job, ["cat", "/proc/version"], runtime=SandboxRuntime.runsc)
    assert body["HostConfig"]["Runtime"] == "runsc"
    before = engine_state(engine)
    status, data = raw(proxy, "POST", "/containers/create", body)
    assert status == 403 and "allow-list" in data["message"], (status, data)
    assert engine_state(engine) == before
    status, listed = raw(proxy, "GET", "/offcoder/runtimes")
    assert status == 200 and listed["Allowed"] == ["runc"], listed
    assert {"runc", "runsc", "runsc-net", "crun"} <= set(listed["Engine"]), listed
    both = frozenset({SandboxRuntime.runc, SandboxRuntime.runsc})
    sock = str(proxy_base / "gvisor.sock")
    with serving_proxy(sock, proxy_base / "ws", DEPLOYMENT, both):
        assert raw(sock, "GET", "/offcoder/runtimes")[1]["Allowed"] == ["runc", "runsc"]
        status, data = raw(sock, "POST", "/containers/create", body)
        assert status == 201, data
        container = engine.containers.get(data["Id"])
        assert container.attrs["HostConfig"]["Runtime"] == "runsc"
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        kernel = container.logs().decode()
        container.remove()
    host_kernel = Path("/proc/version").read_text()
    assert kernel.startswith("Linux version") and kernel != host_kernel, kernel


def test_create_body_tricks(engine: Any, proxy: str, image: str, jobs: list[uuid.UUID]) -> None:
    job = uuid.uuid4()
    jobs.append(job)
    good = json.dumps(policy_body(image, job, ["true"]))
    before = engine_state(engine)
    # a duplicate key: the last one would win in Go
    dup = good[:-1] + ', "HostConfig": {"Privileged": true}}'
    assert raw(proxy, "POST", "/containers/create", dup.encode())[0] in (400, 403)
    # lower-case key that Go's decoder would map onto Privileged
    body = json.loads(good)
    body["HostConfig"]["privileged"] = True
    assert raw(proxy, "POST", "/containers/create", body)[0] == 403
    # not JSON, wrong content type, oversize
    assert raw(proxy, "POST", "/containers/create", b"{nope")[0] == 400
    ct = {"Content-Type": "text/plain"}
    assert raw(proxy, "POST", "/containers/create", good.encode(), ct)[0] == 403
    big = json.loads(good)
    big["Env"].append("PAD=" + "x" * (2 * 1024 * 1024))
    assert raw(proxy, "POST", "/containers/create", big)[0] == 413
    # a workspace volume the proxy did not provision (dockerd would make a plain, unlimited one)
    body = policy_body(image, job, ["true"], workspace_mount=None)
    body["HostConfig"]["Mounts"] = [
        {"Type": "volume", "Source": workspace_volume_name(job), "Target": "/workspace"}
    ]
    assert raw(proxy, "POST", "/containers/create", body)[0] == 403
    # a body on start
    assert engine_state(engine) == before


def test_not_our_container_is_untouchable(engine: Any, proxy: str, image: str) -> None:
    """C2: a container without our label cannot be started, read, written or removed."""
    other = engine.containers.create(image, ["sleep", "30"], labels={TEST_LABEL: RUN_ID})
    try:
        cid = other.id
        tar = project_tar({"x.txt": b"x"})
        for method, target, body in [
            ("POST", f"/containers/{cid}/start", None),
            ("POST", f"/v1.41/containers/{cid[:12]}/start", None),
            ("GET", f"/containers/{cid}/json", None),
            ("GET", f"/containers/{other.name}/json", None),
            ("GET", f"/containers/{cid}/logs?stdout=1", None),
            ("POST", f"/containers/{cid}/wait", None),
            ("POST", f"/containers/{cid}/kill", None),
            ("PUT", f"/containers/{cid}/archive?path=/workspace", tar),
            ("DELETE", f"/containers/{cid}?force=1", None),
        ]:
            status, _ = raw(proxy, method, target, body, {"Content-Type": "application/x-tar"})
            assert status == 404, (method, target, status)
        other.reload()
        assert other.status == "created"
        listed = raw(proxy, "GET", "/containers/json?all=1")[1]
        assert cid not in {c["Id"] for c in listed}
        filt = json.dumps({"label": [f"{TEST_LABEL}={RUN_ID}"]})
        listed = raw(proxy, "GET", "/containers/json?all=1&filters=" + quote(filt))[1]
        assert listed == []
    finally:
        other.remove(force=True)


@pytest.mark.promise("C2")
def host_walls(job: uuid.UUID) -> dict[str, list[str]]:
    """The INPUT rules tagged for `job` of this module's deployment, per tool (v4, v6)."""
    tag = f"offcoder-hostwall {DEPLOYMENT} {job}"
    return {
        tool: [
            line
            for line in subprocess.run(
                [tool, "-w", "-S", "INPUT"], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if tag in line
        ]
        for tool in ("iptables", "ip6tables")
    }


@pytest.mark.promise("C5")
def test_a_job_network_is_walled_off_the_host_until_torn_down(
    engine: Any, proxy: str, other_proxy: str, image: str, jobs: list[uuid.UUID]
) -> None:
    """Review F4: the proxy sends what comes in on a job's bridge to the drop chain, before
    the network is handed out; a sandbox joins only a walled network; the wall is found by its
    deployment and job tag (another deployment's proxy leaves it be), and goes at teardown even
    when the network itself is already gone (reconcile after a lost teardown)."""
    job = uuid.uuid4()
    jobs.append(job)
    assert raw(proxy, "POST", f"/offcoder/networks/{job}?mode=preview")[0] == 201
    bridge = "br-" + engine.networks.get(job_network_name(job)).id[:12]
    walls = host_walls(job)
    for tool, rules in walls.items():
        assert len(rules) == 1, (tool, rules)
        assert f"-i {bridge} " in rules[0] and rules[0].endswith("-j OFFCODER-HOSTWALL")
        listed = subprocess.run(
            [tool, "-w", "-S", "INPUT"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        # Nothing but walls (of concurrent runs) may come before it.
        before = listed[1 : listed.index(rules[0])]
        assert all("offcoder-hostwall" in line for line in before), before
        chain = subprocess.run(
            [tool, "-w", "-S", "OFFCODER-HOSTWALL"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert chain[1:] == [
            "-A OFFCODER-HOSTWALL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
            "-A OFFCODER-HOSTWALL -j DROP",
        ]

    body = policy_body(image, job, ["true"])
    body["Labels"][LABEL_NETWORK] = NetworkMode.preview.value
    body["HostConfig"]["NetworkMode"] = job_network_name(job)
    status, data = raw(proxy, "POST", "/containers/create", body)
    assert status == 201, data
    engine.containers.get(data["Id"]).remove()
    removed = walls["iptables"][0].replace("-A INPUT ", "", 1)
    subprocess.run(["iptables", "-w", "-D", "INPUT", *shlex.split(removed)], check=True)
    status, data = raw(proxy, "POST", "/containers/create", body)
    assert (status, "walled off the host" in data["message"]) == (403, True), data
    subprocess.run(["iptables", "-w", "-I", "INPUT", "1", *shlex.split(removed)], check=True)

    assert raw(other_proxy, "DELETE", f"/offcoder/networks/{job}")[0] == 404
    assert host_walls(job) == walls
    engine.networks.get(job_network_name(job)).remove()  # a teardown the proxy never saw
    assert str(job) in raw(proxy, "GET", "/offcoder/jobs")[1]["Jobs"]
    assert raw(proxy, "DELETE", f"/offcoder/networks/{job}") == (200, {"Removed": True})
    assert host_walls(job) == {"iptables": [], "ip6tables": []}
    assert str(job) not in raw(proxy, "GET", "/offcoder/jobs")[1]["Jobs"]


def test_another_deployment_sees_and_touches_nothing_of_ours(
    engine: Any, proxy: str, other_proxy: str, proxy_base: Path, image: str, jobs: list[uuid.UUID]
) -> None:
    """C2, C6: two deployments on one engine and one state directory. Ours holds a job's
    workspace, egress network, gateway and sandbox; the other's proxy lists none of them,
    reads, starts, kills and removes none (404, as if absent), tears none down, and creates no
    sandbox labelled ours or mounting our workspace, nor a gateway on our network; it
    describes, removes and mounts none of our dependency layers. A sandbox of an older version
    (managed, no deployment label) is nobody's: neither proxy shows it."""
    job, builder, their_job = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    jobs.extend([job, builder, their_job])
    project = uuid.uuid4()
    assert raw(proxy, "GET", "/offcoder/deployment") == (200, {"Deployment": DEPLOYMENT})
    assert raw(other_proxy, "GET", "/offcoder/deployment")[1] == {"Deployment": OTHER_DEPLOYMENT}
    mount = provision(proxy, job)
    assert raw(proxy, "POST", f"/offcoder/networks/{job}?mode=egress")[0] == 201
    status, data = raw(proxy, "POST", f"/offcoder/gateways/{job}", {"AllowHosts": ["a.test"]})
    assert status == 201, data
    body = policy_body(image, job, ["sleep", "60"], workspace_mount=mount)
    status, data = raw(proxy, "POST", "/containers/create", body)
    assert status == 201, data
    sandbox = str(data["Id"])
    gateway = str(engine.api.inspect_container(gateway_name(job))["Id"])
    legacy = engine.containers.create(
        image,
        ["sleep", "60"],
        labels={TEST_LABEL: RUN_ID, LABEL_MANAGED: "1", LABEL_JOB_ID: str(uuid.uuid4())},
    )
    try:
        listed = {c["Id"] for c in raw(proxy, "GET", "/containers/json?all=1")[1]}
        assert {sandbox, gateway} <= listed and legacy.id not in listed
        assert str(job) in raw(proxy, "GET", "/offcoder/jobs")[1]["Jobs"]
        ours = quote(json.dumps({"label": [f"{LABEL_DEPLOYMENT}={DEPLOYMENT}"]}))
        for target in ("/containers/json?all=1", f"/containers/json?all=1&filters={ours}"):
            assert raw(other_proxy, "GET", target) == (200, []), target
        assert raw(other_proxy, "GET", "/offcoder/jobs") == (200, {"Jobs": []})
        tar = project_tar({"x.txt": b"x"})
        for ref in (sandbox, sandbox[:12], gateway, legacy.id):
            for method, target, payload in [
                ("GET", f"/containers/{ref}/json", None),
                ("POST", f"/containers/{ref}/start", None),
                ("GET", f"/containers/{ref}/logs?stdout=1", None),
                ("POST", f"/containers/{ref}/kill", None),
                ("PUT", f"/containers/{ref}/archive?path=/workspace", tar),
                ("DELETE", f"/containers/{ref}?force=1", None),
            ]:
                headers = {"Content-Type": "application/x-tar"}
                assert raw(other_proxy, method, target, payload, headers)[0] == 404, target
        assert raw(proxy, "GET", f"/containers/{legacy.id}/json")[0] == 404
        for kind in ("workspaces", "gateways", "networks"):
            assert raw(other_proxy, "DELETE", f"/offcoder/{kind}/{job}")[0] == 404, kind
        assert raw(other_proxy, "POST", "/containers/create", body)[0] == 403
        theirs = copy.deepcopy(body)
        theirs["Labels"][LABEL_DEPLOYMENT] = OTHER_DEPLOYMENT
        status, data = raw(other_proxy, "POST", "/containers/create", theirs)
        assert (status, "workspace" in data["message"]) == (403, True), data
        gateway_again = {"AllowHosts": ["a.test"]}
        assert raw(other_proxy, "POST", f"/offcoder/gateways/{job}", gateway_again)[0] == 409

        # Our dependency layer (its builder's job has ended: not among our jobs with objects).
        asked = {"Project": str(project), "Owner": OWNER, "SizeBytes": LAYER_MIN_BYTES}
        assert raw(proxy, "POST", f"/offcoder/layers/{builder}", asked)[0] == 201
        assert str(builder) not in raw(proxy, "GET", "/offcoder/jobs")[1]["Jobs"]
        layer_image = proxy_base / "ws" / DEPLOYMENT / f"deps-{builder}.img"
        assert layer_image.exists()
        assert raw(other_proxy, "GET", f"/offcoder/layers/{builder}")[0] == 404
        assert raw(other_proxy, "DELETE", f"/offcoder/layers/{builder}")[0] == 404
        assert raw(other_proxy, "GET", "/offcoder/jobs") == (200, {"Jobs": []})
        # A job of theirs, with their own workspace and the layer's project and owner labels,
        # may not mount it: to their proxy it is no layer at all.
        their_body = policy_body(
            image,
            their_job,
            ["true"],
            workspace_mount=provision(other_proxy, their_job),
            project_id=project,
            layer_mount=layer_mount(builder, "/deps", read_only=True),
        )
        their_body["Labels"][LABEL_DEPLOYMENT] = OTHER_DEPLOYMENT
        status, data = raw(other_proxy, "POST", "/containers/create", their_body)
        assert (status, data["message"]) == (
            403,
            "container create refused by policy: "
            f"{layer_volume_name(builder)} is not a dependency layer made by this proxy",
        )
        assert raw(other_proxy, "DELETE", f"/offcoder/workspaces/{their_job}")[0] == 200
        described = raw(proxy, "GET", f"/offcoder/layers/{builder}")
        assert (described[0], described[1]["Project"]) == (200, str(project))
        assert layer_image.exists()

        left = job_leftovers(job, proxy_base / "ws")
        expected = sorted([f"{sandbox[:12]}:created", f"{gateway[:12]}:running"])
        assert sorted(left["containers"]) == expected, left
        assert (left["networks"], left["volumes"]) == (
            [job_network_name(job)],
            [workspace_volume_name(job)],
        )
        assert left["images"] == [str(proxy_base / "ws" / DEPLOYMENT / f"{job}.img")]
        assert len(left["loops"]) == 1, left
        assert legacy.status == "created"

        # Ours removes it all: the sandbox, then with it the gateway, workspace and network.
        assert raw(proxy, "DELETE", f"/containers/{sandbox}?force=1")[0] == 204
        assert not any(job_leftovers(job, proxy_base / "ws").values())
        # And the layer, with its volume, image and loop device.
        assert raw(proxy, "DELETE", f"/offcoder/layers/{builder}")[0] == 200
        assert not any(job_leftovers(builder, proxy_base / "ws").values())
    finally:
        legacy.remove(force=True)


def test_an_older_versions_objects_are_logged_at_start_and_left_alone(
    engine: Any, image: str, proxy_base: Path
) -> None:
    """A sandbox of a version before deployment ids (managed, with a job, no deployment) is
    counted in a warning when a proxy starts, and stays as it was."""
    legacy = engine.containers.create(
        image,
        ["true"],
        labels={TEST_LABEL: RUN_ID, LABEL_MANAGED: "1", LABEL_JOB_ID: str(uuid.uuid4())},
    )
    said = io.StringIO()
    logs.configure(json=True, stream=said)
    try:
        proxy = DockerPolicyProxy(ENGINE_SOCK, state_dir=proxy_base / "ws", deployment=DEPLOYMENT)
        asyncio.run(proxy.log_legacy_objects())
    finally:
        logs.configure()
        legacy.reload()
        legacy.remove(force=True)
    warnings = [json.loads(line) for line in said.getvalue().splitlines() if "older" in line]
    assert len(warnings) == 1, said.getvalue()
    assert warnings[0]["level"] == "warning" and warnings[0]["containers"] >= 1, warnings
    assert legacy.status == "created"


def test_body_on_start_refused(proxy: str, engine: Any, image: str, jobs: list[uuid.UUID]) -> None:
    """Old APIs applied a HostConfig sent with start: no body is forwarded where none belongs."""
    job = uuid.uuid4()
    jobs.append(job)
    status, data = raw(proxy, "POST", "/containers/create", policy_body(image, job, ["true"]))
    assert status == 201, data
    status, _ = raw(proxy, "POST", f"/containers/{data['Id']}/start", {"Privileged": True})
    assert status == 403
    assert engine.containers.get(data["Id"]).status == "created"


# ------------------------------------------------------------------ the allowed lifecycle
HARDENING_PROBE = (
    'cat /workspace/hello.txt; echo "env=$GREETING"; '
    'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; echo "uid=$(id -u)"; '
    "touch /rootfile 2>/dev/null && echo root-writable || echo root-readonly; "
    "ls /dev/shm >/dev/null 2>&1 && echo shm-present || echo shm-absent; "
    "touch /dev/mqueue/q 2>/dev/null && echo mq-writable || echo mq-refused; "
    "dd if=/dev/zero of=/tmp/a bs=1M count=60 2>/dev/null && echo tmp-60m-ok; "
    "dd if=/dev/zero of=/tmp/b bs=1M count=10 2>/dev/null || echo tmp-over-64m-refused; "
    "echo to-stderr >&2"
)


def test_lifecycle_through_proxy_with_docker_py(
    engine: Any, proxy: str, image: str, jobs: list[uuid.UUID]
) -> None:
    """C1 measured inside the sandbox; C3 putArchive before start; C2 via docker-py."""
    job = uuid.uuid4()
    jobs.append(job)
    client = docker.DockerClient(base_url="unix://" + proxy)
    try:
        assert client.ping()
        mount = provision(proxy, job)
        spec = policy_body(image, job, ["sh", "-c", HARDENING_PROBE], workspace_mount=mount)
        cid = client.api.create_container_from_config(spec)["Id"]
        assert client.api.put_archive(cid, "/workspace", project_tar({"hello.txt": b"hi\n"}))
        with pytest.raises(docker.errors.APIError) as refused:
            client.api.put_archive(cid, "/etc", project_tar({"x": b"x"}))
        assert refused.value.status_code == 403
        client.api.start(cid)
        assert client.api.wait(cid, timeout=60)["StatusCode"] == 0
        # C3: no file injection once started
        with pytest.raises(docker.errors.APIError) as late:
            client.api.put_archive(cid, "/workspace", project_tar({"late.txt": b"x"}))
        assert late.value.status_code == 403
        out = client.api.logs(cid, stdout=True, stderr=False).decode()
        err = client.api.logs(cid, stdout=False, stderr=True).decode()
        attached = client.api.attach(cid, stdout=True, stderr=True, logs=True, stream=False)
        streamed = b"".join(client.api.logs(cid, stream=True, follow=True)).decode()
        info = client.api.inspect_container(cid)
        listed = client.api.containers(all=True)
        client.api.remove_container(cid)
    finally:
        client.close()
    for line in [
        "hi",
        "env=hello",
        "CapEff:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "uid=10001",
        "root-readonly",
        "shm-absent",
        "mq-refused",
        "tmp-60m-ok",
        "tmp-over-64m-refused",
    ]:
        assert line in out.splitlines(), (line, out)
    assert err.strip() == "to-stderr"
    assert b"to-stderr" in attached and b"uid=10001" in attached
    assert "uid=10001" in streamed
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert cid in {c["Id"] for c in listed}
    # removal through the proxy took the workspace with it
    assert not engine.volumes.list(filters={"name": workspace_volume_name(job)})
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(cid)


def test_workspace_quota_500mb(engine: Any, proxy: str, image: str, jobs: list[uuid.UUID]) -> None:
    """C1: a 500 MB writable quota: writing past it fails with ENOSPC."""
    job = uuid.uuid4()
    jobs.append(job)
    mount = provision(proxy, job)
    script = (
        "dd if=/dev/zero of=/workspace/fill bs=1M count=600 2>&1 | grep -o 'No space left'; "
        'echo "size=$(stat -c %s /workspace/fill)"'
    )
    spec = policy_body(image, job, ["sh", "-c", script], workspace_mount=mount)
    status, data = raw(proxy, "POST", "/containers/create", spec)
    assert status == 201, data
    cid = data["Id"]
    assert raw(proxy, "POST", f"/containers/{cid}/start")[0] == 204
    assert raw(proxy, "POST", f"/containers/{cid}/wait")[0] == 200
    out = engine.containers.get(cid).logs().decode()
    assert "No space left" in out
    size = int(out.split("size=")[1].split()[0])
    assert 480 * 1000 * 1000 <= size <= 501 * 1000 * 1000, size
    assert raw(proxy, "DELETE", f"/containers/{cid}")[0] == 204
    assert not engine.volumes.list(filters={"name": workspace_volume_name(job)})


def test_chunked_create_body(engine: Any, proxy: str, image: str, jobs: list[uuid.UUID]) -> None:
    job = uuid.uuid4()
    jobs.append(job)
    body = json.dumps(policy_body(image, job, ["true"])).encode()
    conn = UnixHTTPConnection(proxy)
    conn.request(
        "POST",
        "/containers/create",
        body=iter([body[:100], body[100:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 201, data
    assert engine.containers.get(data["Id"]).labels[LABEL_JOB_ID] == str(job)


SMUGGLED_PATHS = [
    "/containers/%2e%2e/volumes/create",
    "/containers/%2E%2E/volumes/create",
    "/v1.41/../volumes/create",
    "/v1.41/./containers/create",
    "/containers/create/..",
    "/containers/%252e%252e/volumes/create",
    "/containers/abc%2f..%2f..%2fvolumes/create",
    "/containers/abc%00/start",
    "/containers/abc%5c..%5cx/start",
    "/containers/create#frag",
    "containers/create",
]


@pytest.mark.parametrize("target", SMUGGLED_PATHS)
def test_path_normalisation_refuses_tricks(target: str) -> None:
    """Dot segments, double encoding, NUL and backslashes are refused, not resolved."""
    with pytest.raises(Refused):
        route("POST", target)


def test_double_slashes_collapse_to_the_canonical_route() -> None:
    r = route("POST", "//v1.41//containers///create")
    assert (r.kind, r.version, r.path) == ("create", "/v1.41", "/containers/create")
    with pytest.raises(Refused):
        route("POST", "//v1.41//volumes//create")


def test_the_deployment_id_is_generated_once_per_state_directory(tmp_path: Path) -> None:
    """A proxy with no configured id makes one at its first start and reads the same one back
    at every later start (a restarted deployment still owns what it made); another state
    directory is another deployment; a configured id wins; an id that is not one is refused
    with a sentence, also by `offcoder docker-proxy`."""
    first = deployment_id(tmp_path / "a", None)
    assert is_deployment_id(first)
    assert deployment_id(tmp_path / "a", None) == first
    assert stat.S_IMODE((tmp_path / "a" / "deployment-id").stat().st_mode) == 0o600
    assert deployment_id(tmp_path / "b", None) != first
    assert deployment_id(tmp_path / "a", "staging-2") == "staging-2"
    for bad in ("", "Staging", "a/../b", "-x", "x" * 41, "dev.offcoder"):
        with pytest.raises(DeploymentIdError):
            deployment_id(tmp_path / "a", bad)
    env = {"OFFCODER_PROXY_DEPLOYMENT_ID": "../etc", "OFFCODER_PROXY_STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["docker-proxy", "--socket", str(tmp_path / "s")], env=env)
    assert result.exit_code == 2, result.output
    assert "the deployment id '../etc' is not one" in " ".join(result.output.split())


def test_run_proxy_serves_until_sigterm(tmp_path: Path) -> None:
    """`run_proxy` (what `offcoder docker-proxy` calls) blocks, serves, and stops on SIGTERM."""
    sock = str(tmp_path / "p.sock")
    code = (
        "import sys; from offcoder.runtime.proxy.server import run_proxy; "
        "run_proxy(sys.argv[1], sys.argv[2])"
    )
    env = {**os.environ, "OFFCODER_PROXY_STATE_DIR": str(tmp_path / "ws")}
    proc = subprocess.Popen([sys.executable, "-c", code, sock, ENGINE_SOCK], env=env)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
        assert raw(sock, "GET", "/_ping") == (200, "OK")
        assert raw(sock, "POST", "/volumes/create", {"Name": "offcoder-test-vol"})[0] == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not os.path.exists(sock)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.promise("C2")
def test_run_proxy_takes_only_our_images_and_no_more_cpu_than_its_maximum(
    tmp_path: Path, engine: Any, image: str
) -> None:
    """Review F12 and issue 15: with no allow-list configured, `offcoder docker-proxy` creates
    sandboxes of the images we build only; a sandbox asking for more CPU than
    ``OFFCODER_PROXY_MAX_CPUS`` is refused (and a maximum that is not one stops the start)."""
    half = SandboxLimits(nano_cpus=500_000_000)
    sock = str(tmp_path / "p.sock")
    code = (
        "import sys; from offcoder.runtime.proxy.server import run_proxy; "
        "run_proxy(sys.argv[1], sys.argv[2])"
    )
    env = {
        **os.environ,
        "OFFCODER_PROXY_STATE_DIR": str(tmp_path / "ws"),
        "OFFCODER_PROXY_DEPLOYMENT_ID": DEPLOYMENT,
        "OFFCODER_PROXY_MAX_CPUS": "0.5",
    }
    env.pop("OFFCODER_PROXY_ALLOWED_IMAGES", None)
    proc = subprocess.Popen([sys.executable, "-c", code, sock, ENGINE_SOCK], env=env)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        before = engine_state(engine)
        job = uuid.uuid4()
        theirs = policy_body(image, job, ["true"], limits=half)
        status, data = raw(sock, "POST", "/v1.41/containers/create", theirs)
        assert status == 403 and "is not an allowed runtime image" in data["message"], data
        greedy = policy_body(IMAGES["python"], job, ["true"])  # the policy's default: 1 core
        status, data = raw(sock, "POST", "/v1.41/containers/create", greedy)
        assert status == 403 and "NanoCpus must be set, at most 500000000" in data["message"]
        assert engine_state(engine) == before
        ours = policy_body(IMAGES["python"], job, ["true"], limits=half)
        status, data = raw(sock, "POST", "/v1.41/containers/create", ours)
        assert status == 201, data
        engine.containers.get(data["Id"]).remove()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    bad = {**env, "OFFCODER_PROXY_MAX_CPUS": "lots"}
    result = CliRunner().invoke(app, ["docker-proxy", "--socket", sock], env=bad)
    assert result.exit_code == 2, result.output
    assert "OFFCODER_PROXY_MAX_CPUS='lots' is not a number of cores" in " ".join(
        result.output.split()
    )


def test_doctor_says_whether_the_runtimes_jobs_run_under_are_offered_and_allowed(
    proxy: str,
) -> None:
    """`offcoder doctor` reads the proxy's allow-list and the engine's runtimes: fine for the
    default runc; a plan's gVisor that this proxy does not allow is a problem it names, with
    what to set; and no proxy at all is said as such. It exits non-zero on any problem."""

    def doctor(**settings: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFCODER_SANDBOX_")}
        env |= {"COLUMNS": "200", **settings}
        return subprocess.run(
            [sys.executable, "-m", "offcoder.cli", "doctor"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    fine = doctor(OFFCODER_DOCKER_PROXY_SOCKET=proxy)
    assert fine.returncode == 0, fine.stderr
    offered = next(ln for ln in fine.stderr.splitlines() if "The engine offers the runtimes" in ln)
    assert {"crun", "runc", "runsc", "runsc-net"} <= set(
        offered.rstrip(".").split(": ")[1].split(", ")
    )
    assert "Jobs of the default run under runc." in fine.stderr
    unlisted = doctor(
        OFFCODER_DOCKER_PROXY_SOCKET=proxy, OFFCODER_SANDBOX_RUNTIME_BY_PLAN='{"pro": "runsc"}'
    )
    assert unlisted.returncode == 1, unlisted.stderr
    assert (
        "Jobs of plan pro run under runsc, which the proxy does not allow: "
        "add it to OFFCODER_PROXY_RUNTIMES"
    ) in unlisted.stderr
    absent = doctor(OFFCODER_DOCKER_PROXY_SOCKET=proxy + ".absent")
    assert absent.returncode == 1 and "offcoder docker-proxy" in absent.stderr, absent.stderr
