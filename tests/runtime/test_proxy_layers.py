"""The proxy's dependency layers (C2, C6) against the real engine: made only by the proxy, on
request bodies it checks strictly; capped in size; writable only for their builder; never
removed while mounted; a look-alike volume it did not make is never mounted. Another
deployment's proxy seeing none of them is held in tests/runtime/test_proxy.py
(`test_another_deployment_sees_and_touches_nothing_of_ours`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.policy import (
    LABEL_DEPLOYMENT,
    LABEL_JOB_ID,
    LABEL_LAYER,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_PROJECT,
    LAYER_MAX_BYTES,
    LAYER_MIN_BYTES,
    NetworkMode,
    container_spec,
    layer_mount,
    layer_volume_name,
)
from offcoder.runtime.proxy.server import DEFAULT_STATE_DIR
from tests.support.runtime import docker_proxy

pytestmark = [pytest.mark.docker, pytest.mark.promise("C2"), pytest.mark.promise("C6")]

PROJECT = uuid.uuid4()
OWNER = "c0ffee" * 6
# These tests read a sandbox's output back through the engine's (bounded) log.
LOGS = {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}}
STATE_DIR = Path(os.environ.get("OFFCODER_PROXY_STATE_DIR", DEFAULT_STATE_DIR))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        docker_proxy(tmp_path_factory.mktemp("layers-proxy")) as socket_path,
        httpx.Client(
            transport=httpx.HTTPTransport(uds=socket_path), base_url="http://proxy", timeout=60
        ) as client,
    ):
        yield client


@pytest.fixture
def made(proxy: httpx.Client) -> Iterator[list[uuid.UUID]]:
    """Job ids a test uses: their containers, workspaces and layers go, whatever happens."""
    jobs: list[uuid.UUID] = []
    yield jobs
    engine = docker.from_env()
    try:
        for job in jobs:
            for c in engine.containers.list(all=True, filters={"label": f"{LABEL_JOB_ID}={job}"}):
                c.remove(force=True)
            proxy.delete(f"/offcoder/workspaces/{job}")
            proxy.delete(f"/offcoder/layers/{job}")
            for v in engine.volumes.list(filters={"name": layer_volume_name(job)}):
                v.remove(force=True)
    finally:
        engine.close()


def deployment(proxy: httpx.Client) -> str:
    """The deployment id of the module's proxy (made up for it by `docker_proxy`)."""
    return str(proxy.get("/offcoder/deployment").json()["Deployment"])


def sandbox(
    proxy: httpx.Client, jobs: list[uuid.UUID], layer: dict[str, Any], script: str
) -> httpx.Response:
    """Create (not start) a job's sandbox of PROJECT and OWNER mounting `layer`."""
    job = uuid.uuid4()
    jobs.append(job)
    workspace = proxy.post(f"/offcoder/workspaces/{job}")
    assert workspace.status_code == 201, workspace.text
    body = container_spec(
        image=IMAGES["python"],
        command=["sh", "-c", script],
        env={},
        job_id=job,
        owner_tag=OWNER,
        network=NetworkMode.none,
        deployment=deployment(proxy),
        workspace_mount=workspace.json()["Mount"],
        project_id=PROJECT,
        layer_mount=layer,
    )
    body["HostConfig"]["LogConfig"] = LOGS
    return proxy.post("/v1.41/containers/create", json=body)


def run(proxy: httpx.Client, container: str) -> str:
    assert proxy.post(f"/containers/{container}/start").status_code == 204
    assert proxy.post(f"/containers/{container}/wait").status_code == 200
    logs = proxy.get(f"/containers/{container}/logs", params={"stdout": 1, "stderr": 1})
    # The engine's multiplexed stream: frames of an 8-byte header (the length last) and data.
    raw, out = logs.content, b""
    while raw:
        size = int.from_bytes(raw[4:8], "big")
        out, raw = out + raw[8 : 8 + size], raw[8 + size :]
    return out.decode(errors="replace")


def test_layer_requests_are_strict(proxy: httpx.Client, made: list[uuid.UUID]) -> None:
    job = uuid.uuid4()
    made.append(job)
    good = {"Project": str(PROJECT), "Owner": OWNER, "SizeBytes": LAYER_MIN_BYTES}
    for bad in (
        {},
        good | {"Extra": 1},
        good | {"Project": "not-a-uuid"},
        good | {"Project": str(PROJECT).upper()},
        good | {"Owner": str(uuid.uuid4())},
        good | {"SizeBytes": LAYER_MIN_BYTES - 1},
        good | {"SizeBytes": LAYER_MAX_BYTES + 1},
        good | {"SizeBytes": True},
        good | {"SizeBytes": "16777216"},
    ):
        answer = proxy.post(f"/offcoder/layers/{job}", json=bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert proxy.post(f"/offcoder/layers/{job}", content=b"{}").status_code == 403  # not JSON
    assert proxy.post("/offcoder/layers/not-a-job", json=good).status_code == 403
    assert proxy.put(f"/offcoder/layers/{job}", json=good).status_code == 403
    assert proxy.get(f"/offcoder/layers/{job}").status_code == 404
    assert docker.from_env().volumes.list(filters={"name": layer_volume_name(job)}) == []


def test_a_layer_is_capped_writable_by_its_builder_alone_and_kept_while_mounted(
    proxy: httpx.Client, made: list[uuid.UUID]
) -> None:
    builder = uuid.uuid4()
    made.append(builder)
    provisioned = proxy.post(
        f"/offcoder/layers/{builder}",
        json={"Project": str(PROJECT), "Owner": OWNER, "SizeBytes": LAYER_MIN_BYTES},
    )
    assert provisioned.status_code == 201, provisioned.text
    ours = deployment(proxy)
    labels = docker.from_env().volumes.get(layer_volume_name(builder)).attrs["Labels"]
    assert labels == {
        LABEL_MANAGED: "1",
        LABEL_DEPLOYMENT: ours,
        LABEL_LAYER: "1",
        LABEL_JOB_ID: str(builder),
        LABEL_PROJECT: str(PROJECT),
        LABEL_OWNER: OWNER,
    }
    image = STATE_DIR / ours / f"deps-{builder}.img"  # in the deployment's directory
    assert image.exists()
    # Named after its install job, but not among the jobs whose leftovers a reconcile removes.
    assert str(builder) not in proxy.get("/offcoder/jobs").json()["Jobs"]

    # Another job may not write it; read-only it may mount it.
    writable = layer_mount(builder, "/deps", read_only=False)
    refused = sandbox(proxy, made, writable, "true")
    assert refused.status_code == 403, refused.text
    assert "writable only in the install job that builds it" in refused.text

    # Its builder writes it, up to its size: the filesystem says no past it.
    workspace = proxy.post(f"/offcoder/workspaces/{builder}")
    assert workspace.status_code == 201, workspace.text
    fill = (
        "ls -A /deps; echo listed; dd if=/dev/zero of=/deps/fill bs=1M count=32 2>&1 "
        "| grep -o 'No space left'; stat -c size=%s /deps/fill"
    )
    body = container_spec(
        image=IMAGES["python"],
        command=["sh", "-c", fill],
        env={},
        job_id=builder,
        owner_tag=OWNER,
        network=NetworkMode.none,
        deployment=ours,
        workspace_mount=workspace.json()["Mount"],
        project_id=PROJECT,
        layer_mount=writable,
    )
    body["HostConfig"]["LogConfig"] = LOGS
    created = proxy.post("/v1.41/containers/create", json=body)
    assert created.status_code == 201, created.text
    out = run(proxy, created.json()["Id"])
    assert out.startswith("listed\n"), out  # an empty root: no lost+found for npm to trip on
    assert "No space left" in out, out
    size = int(out.split("size=")[1].split()[0])
    assert 8 * 1024 * 1024 < size < LAYER_MIN_BYTES, out
    assert proxy.delete(f"/containers/{created.json()['Id']}").status_code == 204
    described = proxy.get(f"/offcoder/layers/{builder}").json()
    assert size <= described["SizeBytes"] <= LAYER_MIN_BYTES + 1024 * 1024, described

    # A later job reads it and cannot write it; while it exists the layer stays.
    reader = sandbox(
        proxy,
        made,
        layer_mount(builder, "/deps", read_only=True),
        "stat -c size=%s /deps/fill; touch /deps/x 2>&1",
    )
    assert reader.status_code == 201, reader.text
    out = run(proxy, reader.json()["Id"])
    assert f"size={size}" in out and "Read-only file system" in out, out
    in_use = proxy.delete(f"/offcoder/layers/{builder}")
    assert in_use.status_code == 409, in_use.text
    assert proxy.delete(f"/containers/{reader.json()['Id']}").status_code == 204
    assert proxy.delete(f"/offcoder/layers/{builder}").status_code == 200
    assert proxy.delete(f"/offcoder/layers/{builder}").status_code == 404
    assert docker.from_env().volumes.list(filters={"name": layer_volume_name(builder)}) == []
    assert not image.exists()


def test_a_look_alike_volume_is_never_mounted(proxy: httpx.Client, made: list[uuid.UUID]) -> None:
    """A volume named and labelled like a layer of this deployment, but not made by this
    proxy (no loop device), is refused."""
    builder = uuid.uuid4()
    made.append(builder)
    engine = docker.from_env()
    try:
        engine.volumes.create(
            layer_volume_name(builder),
            labels={
                LABEL_MANAGED: "1",
                LABEL_DEPLOYMENT: deployment(proxy),
                LABEL_LAYER: "1",
                LABEL_JOB_ID: str(builder),
                LABEL_PROJECT: str(PROJECT),
                LABEL_OWNER: OWNER,
            },
        )
        refused = sandbox(proxy, made, layer_mount(builder, "/deps", read_only=True), "true")
        assert refused.status_code == 403, refused.text
        assert "not a dependency layer made by this proxy" in refused.text
    finally:
        engine.close()
