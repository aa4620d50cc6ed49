"""Dependency layers (issue 14): a project's packages, installed once by an install job with
egress to the package registries only, then mounted read-only into its later jobs (C2, C6).

Network rule of these tests: the "registries" are one stand-in server of ours on the egress
bridge, a docker network made during the run, under the names ``pypi.offcoder.test`` and
``npm.offcoder.test`` (`tests/support/registry.py`); the install jobs' allow-list is those
names (the `dependency_registry_*` settings). Nothing leaves the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from sqlalchemy import delete, update

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.dependencies.models import DependencyLayer
from offcoder.jobs.worker import Worker
from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.policy import (
    LABEL_JOB_ID,
    LABEL_OWNER,
    LABEL_PROJECT,
    LAYER_MIN_BYTES,
    NetworkMode,
    container_spec,
    layer_mount,
    layer_volume_name,
)
from tests.support.egress import egress_proxy, stand_ins
from tests.support.registry import (
    PORT,
    SERVER,
    npm_registry,
    npm_tarball,
    python_index,
    server_environment,
    wheel,
)
from tests.support.runtime import all_logs, project_with, runtime_app, wait_for_end
from tests.support.signin import SignedIn, signed_in_user
from tests.support.users import user_id

pytestmark = [pytest.mark.docker, pytest.mark.promise("C2"), pytest.mark.promise("C6")]

Runtime = tuple[httpx.AsyncClient, AppContext, Worker]
PYPI = "pypi.offcoder.test"
NPM = "npm.offcoder.test"
LAYER_BYTES = 64 * 1024 * 1024
# What one person may store, files and layers together: less than a layer's own cap, so an
# install's cap is the room left in it.
QUOTA = 48 * 1024 * 1024

GREETLIB = wheel(
    "greetlib", "1.0", {"greetlib/__init__.py": "def hello():\n    return 'hello from greetlib'\n"}
)
GREETNODE = npm_tarball(
    {
        "package.json": '{"name": "greetnode", "version": "1.0.0", "main": "index.js"}',
        "index.js": "exports.hello = () => 'hello from greetnode';\n",
    }
)
ROUTES = python_index({"greetlib": ("greetlib-1.0-py3-none-any.whl", GREETLIB)}) | npm_registry(
    f"http://{NPM}:{PORT}", {"greetnode": ("1.0.0", GREETNODE)}
)

USES_LAYER = b"""
import os, sys
import greetlib
print(greetlib.hello(), "from", greetlib.__file__)
try:
    open("/deps/planted.py", "w").write("print('planted')")
    print("layer written")
except OSError as exc:
    print("layer refused:", exc.strerror)
"""


@pytest.fixture(scope="module")
def proxy_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with egress_proxy(tmp_path_factory.mktemp("deps-proxy")) as socket_path:
        yield socket_path


@pytest.fixture(scope="module")
def registry() -> Iterator[dict[str, str]]:
    serving = (SERVER, server_environment(ROUTES))
    with stand_ins({PYPI: serving, NPM: serving}) as addresses:
        yield addresses


@pytest.fixture(scope="module")
async def runtime(
    settings: Settings,
    prepared: PreparedDatabase,
    proxy_socket: str,
    registry: dict[str, str],
) -> AsyncIterator[Runtime]:
    async with runtime_app(
        settings,
        prepared,
        proxy_socket,
        egress_allow_hosts=[],  # egress jobs are off: installs have their own allow-list
        dependency_registry_hosts=[PYPI, NPM],
        dependency_registry_ports=[PORT],
        dependency_pip_index_url=f"http://{PYPI}:{PORT}/simple/",
        dependency_npm_registry=f"http://{NPM}:{PORT}/",
        dependency_layer_max_bytes=LAYER_BYTES,
        dependency_install_timeout_s=120,
        max_file_bytes_per_user=QUOTA,
    ) as r:
        try:
            yield r
        finally:
            # Every layer these tests made goes: none is a project's any more, so the
            # reconciler removes them all (and none of another run's, which it never lists).
            async with r[1].database.system_session() as s:
                await s.execute(delete(DependencyLayer))
            await r[2].reconcile()


async def install(api: httpx.AsyncClient, user: SignedIn, project: str) -> dict[str, Any]:
    """Ask for the project's layers; the layer the install built, once its job has ended."""
    asked = await api.post(f"/v1/projects/{project}/dependencies", headers=user.headers)
    assert asked.status_code == 202, asked.text
    [layer] = asked.json()["items"]
    assert layer["status"] == "building", layer
    job = await wait_for_end(api, user.headers, layer["building_job_id"], timeout=150)
    return {"job": job, "logs": await all_logs(api, user.headers, str(job["id"]))}


async def layers(api: httpx.AsyncClient, user: SignedIn, project: str) -> list[dict[str, Any]]:
    listed = await api.get(f"/v1/projects/{project}/dependencies", headers=user.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def run(
    api: httpx.AsyncClient, user: SignedIn, project: str, command: list[str], image: str = "python"
) -> tuple[dict[str, Any], str]:
    submitted = await api.post(
        f"/v1/projects/{project}/jobs",
        headers=user.headers,
        json={"command": command, "image": image},
    )
    assert submitted.status_code == 202, submitted.text
    job = await wait_for_end(api, user.headers, submitted.json()["id"])
    chunks = await all_logs(api, user.headers, str(job["id"]))
    return job, "".join(str(c["data"]) for c in chunks)


def text(logs: list[dict[str, Any]]) -> str:
    return "".join(str(c["data"]) for c in logs)


def volume(job_id: object) -> dict[str, Any] | None:
    engine = docker.from_env()
    try:
        found = engine.api.volumes(filters={"name": layer_volume_name(uuid.UUID(str(job_id)))})
        volumes = [v for v in found.get("Volumes") or [] if v["Name"].endswith(str(job_id))]
        return volumes[0] if volumes else None
    finally:
        engine.close()


def layer_capacity(job_id: object) -> int:
    """The size of the filesystem image the install built its layer in: the file the kernel
    says backs the loop device under its volume (the device itself rounds to 512 bytes)."""
    found = volume(job_id)
    assert found is not None, f"no layer volume of {job_id}"
    device = Path(found["Options"]["device"]).name
    image = (Path("/sys/block") / device / "loop" / "backing_file").read_text().strip()
    return Path(image).stat().st_size


async def test_an_installed_package_is_imported_by_a_later_offline_job_that_cannot_write_it(
    runtime: Runtime, proxy_socket: str
) -> None:
    api, ctx, worker = runtime
    alice, bob = await signed_in_user(ctx), await signed_in_user(ctx)
    files = {"requirements.txt": b"greetlib\n", "main.py": USES_LAYER}
    project = await project_with(api, alice, files, name="deps")

    installed = await install(api, alice, project)
    job = installed["job"]
    assert job["status"] == "succeeded", (job, text(installed["logs"]))
    assert job["kind"] == "install" and job["network"] == "egress"
    assert "Successfully installed greetlib-1.0" in text(installed["logs"])
    [layer] = await layers(api, alice, project)
    assert layer["status"] == "ready" and layer["install_job_id"] == job["id"], layer
    assert layer["stale"] is False and layer["mount"] == "/deps"
    assert 0 < layer["size_bytes"] <= layer["max_bytes"] == LAYER_BYTES, layer

    # The layer outlives its install job: the proxy does not name the ended install among the
    # jobs whose leftovers a reconcile tears down, and a reconcile leaves the layer.
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=proxy_socket), base_url="http://proxy"
    ) as proxy:
        held = (await proxy.get("/offcoder/jobs")).json()["Jobs"]
    assert job["id"] not in held, held
    await worker.reconcile()
    assert volume(job["id"]) is not None

    # A job with no network at all imports it, and cannot change it.
    ran, out = await run(api, alice, project, ["python3", "main.py"])
    assert ran["status"] == "succeeded", (ran, out)
    assert "hello from greetlib from /deps/greetlib/__init__.py" in out, out
    assert "layer refused: Read-only file system" in out, out

    # The same manifest again: nothing to do.
    again = await api.post(f"/v1/projects/{project}/dependencies", headers=alice.headers)
    assert again.status_code == 200, again.text
    assert again.json()["items"][0]["install_job_id"] == job["id"]

    # Never shared: another user's project has no such layer, and cannot ask for this one's.
    theirs = await project_with(api, bob, {"main.py": USES_LAYER}, name="deps")
    ran, out = await run(api, bob, theirs, ["python3", "main.py"])
    assert ran["status"] == "failed" and "No module named 'greetlib'" in out, (ran, out)
    for method in ("get", "post"):
        other = await api.request(
            method.upper(), f"/v1/projects/{project}/dependencies", headers=bob.headers
        )
        assert other.status_code == 404, other.text

    # At the proxy: the layer is labelled with its project and owner, and only a create body
    # with both may mount it, read-only.
    labels = volume(job["id"])["Labels"]  # type: ignore[index]
    assert labels[LABEL_PROJECT] == project and labels[LABEL_JOB_ID] == job["id"]
    owner = labels[LABEL_OWNER]
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=proxy_socket), base_url="http://proxy"
    ) as proxy:
        refusals = {
            "another owner": ("ab" * 16, uuid.UUID(project), True),
            "another project": (owner, uuid.uuid4(), True),
            "writable": (owner, uuid.UUID(project), False),
        }
        for case, (tag, project_id, read_only) in refusals.items():
            answer = await create_mounting(proxy, job["id"], tag, project_id, read_only)
            assert answer.status_code == 403, (case, answer.text)
        allowed = await create_mounting(proxy, job["id"], owner, uuid.UUID(project), True)
        assert allowed.status_code == 201, allowed.text


async def create_mounting(
    proxy: httpx.AsyncClient, built_by: str, owner: str, project: uuid.UUID, read_only: bool
) -> httpx.Response:
    """A create body for a new job of `owner` in `project` mounting the layer `built_by`
    made; whatever the proxy made for it is removed again."""
    job = uuid.uuid4()
    provisioned = await proxy.post(f"/offcoder/workspaces/{job}")
    assert provisioned.status_code == 201, provisioned.text
    try:
        body = container_spec(
            image=IMAGES["python"],
            command=["true"],
            env={},
            job_id=job,
            owner_tag=owner,
            network=NetworkMode.none,
            deployment=(await proxy.get("/offcoder/deployment")).json()["Deployment"],
            workspace_mount=provisioned.json()["Mount"],
            project_id=project,
            layer_mount=layer_mount(uuid.UUID(built_by), "/deps", read_only=read_only),
        )
        answer = await proxy.post("/v1.41/containers/create", json=body)
        if answer.status_code == 201:
            removed = await proxy.delete(f"/containers/{answer.json()['Id']}")
            assert removed.status_code == 204, removed.text
        return answer
    finally:
        await proxy.delete(f"/offcoder/workspaces/{job}")


async def test_a_failed_install_keeps_its_log_and_the_old_layer_and_deletion_removes_it(
    runtime: Runtime,
) -> None:
    api, ctx, worker = runtime
    alice = await signed_in_user(ctx)
    files = {"requirements.txt": b"greetlib\n", "main.py": USES_LAYER}
    project = await project_with(api, alice, files, name="deps")
    first = (await install(api, alice, project))["job"]
    assert first["status"] == "succeeded", first

    put = await api.put(
        f"/v1/projects/{project}/files/requirements.txt",
        headers=alice.headers,
        content=b"greetlib\nnosuchpackage\n",
    )
    assert put.status_code == 200, put.text
    [layer] = await layers(api, alice, project)
    assert layer["stale"] is True and layer["status"] == "ready", layer

    failed = await install(api, alice, project)
    assert failed["job"]["status"] == "failed", failed["job"]
    assert failed["job"]["reason"] == "exit_code", failed["job"]
    assert "No matching distribution found for nosuchpackage" in text(failed["logs"])
    [layer] = await layers(api, alice, project)
    assert layer["status"] == "ready" and layer["stale"] is True, layer
    assert layer["install_job_id"] == first["id"], layer
    assert layer["failed_job_id"] == failed["job"]["id"], layer
    assert volume(failed["job"]["id"]) is None  # the failed install's layer is gone
    ran, out = await run(api, alice, project, ["python3", "main.py"])
    assert ran["status"] == "succeeded" and "hello from greetlib" in out, (ran, out)

    # Destroyed with the project (by the workers' reconciler).
    assert volume(first["id"]) is not None
    deleted = await api.delete(f"/v1/projects/{project}", headers=alice.headers)
    assert deleted.status_code == 204, deleted.text
    await worker.reconcile()
    assert volume(first["id"]) is None


async def test_node_packages_are_found_by_require_and_import(runtime: Runtime) -> None:
    api, ctx, _ = runtime
    alice = await signed_in_user(ctx)
    files = {
        "package.json": b'{"name": "app", "version": "1.0.0", "dependencies": {"greetnode": "^1"}}',
        "main.js": b"console.log(require('greetnode').hello());\n",
        "main.mjs": b"import greet from 'greetnode';\nconsole.log(greet.hello(), 'by import');\n",
    }
    project = await project_with(api, alice, files, name="deps")
    installed = await install(api, alice, project)
    assert installed["job"]["status"] == "succeeded", (installed["job"], text(installed["logs"]))
    [layer] = await layers(api, alice, project)
    assert layer["ecosystem"] == "node" and layer["mount"] == "/workspace/node_modules"
    ran, out = await run(
        api, alice, project, ["sh", "-c", "node main.js && node main.mjs"], image="node"
    )
    assert ran["status"] == "succeeded", (ran, out)
    assert out.splitlines() == ["hello from greetnode", "hello from greetnode by import"], out


async def test_bad_requests_are_clear_problems_and_one_install_runs_at_a_time(
    runtime: Runtime,
) -> None:
    api, ctx, _ = runtime
    alice = await signed_in_user(ctx)
    project = await project_with(api, alice, {"main.py": b"print(1)\n"}, name="deps")
    url = f"/v1/projects/{project}/dependencies"

    none = await api.post(url, headers=alice.headers)
    assert none.status_code == 422, none.text
    assert "no requirements.txt or package.json" in none.json()["detail"]

    big = b"greetlib\n" + b"# padding\n" * 7000  # 70 009 bytes, past 64 KiB
    put = await api.put(
        f"/v1/projects/{project}/files/requirements.txt", headers=alice.headers, content=big
    )
    assert put.status_code == 200, put.text
    too_big = await api.post(url, headers=alice.headers)
    assert too_big.status_code == 413, too_big.text
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert too_big.json()["detail"] == (
        "requirements.txt is 70009 bytes; a dependency manifest may be at most 65536 bytes."
    )
    assert await layers(api, alice, project) == [
        {
            "ecosystem": "python",
            "manifest": "requirements.txt",
            "mount": "/deps",
            "status": "none",
            "stale": False,
            "manifest_sha256": None,
            "size_bytes": 0,
            "max_bytes": LAYER_BYTES,
            "built_at": None,
            "install_job_id": None,
            "building_job_id": None,
            "failed_job_id": None,
        }
    ]
    jobs = await api.get(f"/v1/projects/{project}/jobs", headers=alice.headers)
    assert jobs.json()["items"] == []

    unknown = await api.post(url, headers=alice.headers, json={"rebuild": True, "extra": 1})
    assert unknown.status_code == 422, unknown.text

    # One install per layer at a time.
    put = await api.put(
        f"/v1/projects/{project}/files/requirements.txt", headers=alice.headers, content=b"x\n"
    )
    assert put.status_code == 200, put.text
    first = await api.post(url, headers=alice.headers)
    assert first.status_code == 202, first.text
    running = first.json()["items"][0]["building_job_id"]
    second = await api.post(url, headers=alice.headers, json={"rebuild": True})
    assert second.status_code == 409, second.text
    assert second.json()["detail"] == (
        f"The python layer is being installed (job {running}); wait for that job to end."
    )
    ended = await wait_for_end(api, alice.headers, running, timeout=150)
    assert ended["status"] == "failed", ended  # no package "x" at the registry
    [layer] = await layers(api, alice, project)
    assert (layer["status"], layer["failed_job_id"]) == ("failed", running), layer


async def test_an_install_may_fill_only_the_room_left_in_the_persons_storage(
    runtime: Runtime,
) -> None:
    api, ctx, _ = runtime
    alice = await signed_in_user(ctx)
    files = {"requirements.txt": b"greetlib\n", "main.py": USES_LAYER}
    file_bytes = sum(len(content) for content in files.values())
    first = await project_with(api, alice, files, name="deps")

    one = (await install(api, alice, first))["job"]
    assert one["status"] == "succeeded", one
    assert layer_capacity(one["id"]) == QUOTA - file_bytes
    [layer_one] = await layers(api, alice, first)

    # Her other project's install has the room her files and her first layer leave.
    second = await project_with(api, alice, files, name="deps")
    two = (await install(api, alice, second))["job"]
    assert two["status"] == "succeeded", two
    assert layer_capacity(two["id"]) == QUOTA - 2 * file_bytes - layer_one["size_bytes"]
    [layer_two] = await layers(api, alice, second)

    # A rebuild may also use the room of the layer it replaces, which goes when it succeeds.
    rebuilt = await api.post(
        f"/v1/projects/{first}/dependencies", headers=alice.headers, json={"rebuild": True}
    )
    assert rebuilt.status_code == 202, rebuilt.text
    job = rebuilt.json()["items"][0]["building_job_id"]
    three = await wait_for_end(api, alice.headers, job, timeout=150)
    assert three["status"] == "succeeded", three
    assert layer_capacity(job) == QUOTA - 2 * file_bytes - layer_two["size_bytes"]


async def test_an_install_with_no_room_left_in_the_persons_storage_is_413_and_queues_nothing(
    runtime: Runtime,
) -> None:
    api, ctx, _ = runtime
    alice = await signed_in_user(ctx)
    files = {"requirements.txt": b"greetlib\n"}
    project = await project_with(api, alice, files, name="deps")
    # Her other project's layer leaves one byte less than the smallest layer (its size set here
    # as the system role: what is under test is what the install is refused for).
    other = await project_with(api, alice, {}, name="other")
    taken = QUOTA - len(files["requirements.txt"]) - LAYER_MIN_BYTES + 1
    async with ctx.database.system_session() as s:
        s.add(
            DependencyLayer(
                project_id=uuid.UUID(other),
                ecosystem="node",
                user_id=await user_id(api, alice),
                install_job_id=uuid.uuid4(),
                size_bytes=taken,
            )
        )

    refused = await api.post(f"/v1/projects/{project}/dependencies", headers=alice.headers)

    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "https://offcoder.dev/problems/storage-quota-exceeded"
    assert problem["detail"] == (
        f"Your files and dependency layers leave {LAYER_MIN_BYTES - 1} bytes of the {QUOTA} "
        f"this server keeps for one person, less than the {LAYER_MIN_BYTES} a dependency layer "
        "needs; delete files or projects to make room."
    )
    assert (problem["limit"], problem["used"]) == (QUOTA, QUOTA - LAYER_MIN_BYTES + 1)
    jobs = await api.get(f"/v1/projects/{project}/jobs", headers=alice.headers)
    assert jobs.json()["items"] == []
    [layer] = await layers(api, alice, project)
    assert (layer["status"], layer["building_job_id"]) == ("none", None), layer

    # With room for the smallest layer, it is installed in just that.
    async with ctx.database.system_session() as s:
        await s.execute(
            update(DependencyLayer)
            .where(DependencyLayer.project_id == uuid.UUID(other))
            .values(size_bytes=taken - 1)
        )
    installed = (await install(api, alice, project))["job"]
    assert installed["status"] == "succeeded", installed
    assert layer_capacity(installed["id"]) == LAYER_MIN_BYTES

    # Her new layer took some of that room, but a rebuild may count the layer it replaces.
    [layer] = await layers(api, alice, project)
    assert layer["size_bytes"] > 0, layer
    rebuilt = await api.post(
        f"/v1/projects/{project}/dependencies", headers=alice.headers, json={"rebuild": True}
    )
    assert rebuilt.status_code == 202, rebuilt.text
    job = rebuilt.json()["items"][0]["building_job_id"]
    assert (await wait_for_end(api, alice.headers, job, timeout=150))["status"] == "succeeded"
    assert layer_capacity(job) == LAYER_MIN_BYTES
