"""The hardening policy (C1) and its check (C2's create-body rule), without an engine."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from offcoder.runtime.policy import (
    LABEL_JOB_ID,
    LABEL_OWNER,
    NetworkMode,
    SandboxLimits,
    SandboxRuntime,
    check_create_body,
    job_network_name,
    layer_mount,
    workspace_mount,
)
from tests.support.policy import (
    DEPLOYMENT,
    JOB,
    LAYER_MUTATIONS,
    MUTATIONS,
    OTHER_JOB,
    OWNER,
    PROJECT,
    Mutation,
    host_config,
    layer_spec,
    preview_spec,
    spec,
    top_level,
)


def test_spec_has_the_c1_settings() -> None:
    """C1: every setting the promise names is in the body the policy writes."""
    body = spec()
    hc = body["HostConfig"]
    assert body["User"] == "10001:10001"
    assert body["WorkingDir"] == "/workspace"
    assert body["Env"] == ["API_TOKEN=s3cret"]
    assert body["Labels"]["dev.offcoder.managed"] == "1"
    assert body["Labels"]["dev.offcoder.deployment"] == DEPLOYMENT
    assert body["Labels"][LABEL_JOB_ID] == str(JOB)
    assert body["Labels"][LABEL_OWNER] == OWNER and str(uuid.UUID(int=7)) not in OWNER
    assert hc["NetworkMode"] == "none"
    assert hc["Runtime"] == "runc"  # named, never the engine's default (C1, decision 0022)
    assert hc["Dns"] == ["127.0.0.1"]  # C5, review F5: the sandbox's own loopback, every mode
    assert hc["CapDrop"] == ["ALL"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["PidsLimit"] == 256
    assert hc["Memory"] == hc["MemorySwap"] == 512 * 1024 * 1024
    assert hc["NanoCpus"] == 1_000_000_000
    assert hc["ReadonlyRootfs"] is True
    assert hc["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"}
    assert hc["IpcMode"] == "none"
    assert hc["Privileged"] is False
    assert hc["CgroupnsMode"] == "private"
    assert {"Name": "nofile", "Soft": 1024, "Hard": 4096} in hc["Ulimits"]
    assert hc["LogConfig"] == {"Type": "none"}  # the engine keeps no log file of a job
    assert hc["AutoRemove"] is False
    assert hc["Mounts"] == [workspace_mount(JOB)]
    assert "Binds" not in hc and "PortBindings" not in hc and "Devices" not in hc


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(spec(), id="none"),
        pytest.param(spec(workspace_mount=None), id="no-workspace"),
        pytest.param(preview_spec(), id="preview"),
        pytest.param(
            spec(network=NetworkMode.egress, network_name=job_network_name(JOB)), id="egress"
        ),
        pytest.param(
            spec(limits=SandboxLimits(memory_bytes=128 * 1024 * 1024, pids=64)), id="lower"
        ),
        pytest.param(spec(limits=SandboxLimits(shm_bytes=1024 * 1024)), id="tiny-shm"),
        pytest.param(layer_spec(), id="dependency-layer-read-only"),
        pytest.param(layer_spec(JOB, read_only=False), id="dependency-layer-its-builder"),
        pytest.param(spec(project_id=PROJECT), id="project-label"),
    ],
)
def test_policy_spec_passes_the_check(body: dict[str, Any]) -> None:
    assert check_create_body(body, deployment=DEPLOYMENT) == []


def test_allowed_images() -> None:
    assert (
        check_create_body(spec(), deployment=DEPLOYMENT, allowed_images={"offcoder/python:current"})
        == []
    )
    assert check_create_body(
        spec(), deployment=DEPLOYMENT, allowed_images={"offcoder/node:current"}
    )


def test_docker_py_style_body_passes() -> None:
    """docker-py sends falsy defaults for keys the policy does not set: they are allowed."""
    body = spec()
    body.update(
        {
            "Hostname": None,
            "Domainname": None,
            "StdinOnce": False,
            "NetworkDisabled": False,
            "Volumes": None,
            "Entrypoint": None,
            "MacAddress": None,
            "Healthcheck": None,
        }
    )
    body["HostConfig"].update({"CpuShares": 0, "OomKillDisable": False, "Binds": None})
    assert check_create_body(body, deployment=DEPLOYMENT) == []


@pytest.mark.parametrize(
    ("runtime", "network", "engine_name"),
    [
        (SandboxRuntime.runc, NetworkMode.none, "runc"),
        (SandboxRuntime.runc, NetworkMode.preview, "runc"),
        (SandboxRuntime.crun, NetworkMode.egress, "crun"),
        # gVisor with no network at all for a job with none, its networked registration else.
        (SandboxRuntime.runsc, NetworkMode.none, "runsc"),
        (SandboxRuntime.runsc, NetworkMode.preview, "runsc-net"),
        (SandboxRuntime.runsc, NetworkMode.egress, "runsc-net"),
    ],
)
def test_the_runtime_is_written_and_checked_against_the_allow_list(
    runtime: SandboxRuntime, network: NetworkMode, engine_name: str
) -> None:
    """C1, C2: the spec names the runtime the engine knows it by; the check passes it only
    when the deployment allows that runtime, and refuses it otherwise, naming what is allowed."""
    kw: dict[str, Any] = {"network": network, "runtime": runtime}
    if network is not NetworkMode.none:
        kw["network_name"] = job_network_name(JOB)
    body = spec(**kw)
    assert body["HostConfig"]["Runtime"] == engine_name
    assert (
        check_create_body(body, deployment=DEPLOYMENT, allowed_runtimes=frozenset({runtime})) == []
    )
    others = frozenset(SandboxRuntime) - {runtime}
    refused = check_create_body(body, deployment=DEPLOYMENT, allowed_runtimes=others)
    assert len(refused) == 1 and "allow-list" in refused[0], refused


def test_gvisors_offline_and_networked_registrations_go_with_their_network_modes() -> None:
    """A job with a network under gVisor's offline registration would have none, and a job
    with none under the networked one would reach the host kernel's network stack for
    nothing: each mode takes its own name."""
    allowed = frozenset({SandboxRuntime.runsc})
    offline = spec(runtime=SandboxRuntime.runsc)
    offline["HostConfig"]["Runtime"] = "runsc-net"
    assert check_create_body(offline, deployment=DEPLOYMENT, allowed_runtimes=allowed)
    networked = preview_spec(runtime=SandboxRuntime.runsc)
    networked["HostConfig"]["Runtime"] = "runsc"
    assert check_create_body(networked, deployment=DEPLOYMENT, allowed_runtimes=allowed)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_rule_is_enforced(name: str) -> None:
    """C1/C2: each departure from the policy is a violation (one mutation per rule)."""
    body = copy.deepcopy(spec())
    MUTATIONS[name](body)
    assert check_create_body(body, deployment=DEPLOYMENT), f"{name} passed the check"


PREVIEW_MUTATIONS: dict[str, Mutation] = {
    "binding-all-interfaces": host_config(
        "PortBindings", {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}
    ),
    "binding-0000": host_config(
        "PortBindings",
        {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}]},  # noqa: S104
    ),
    "binding-low-port": host_config(
        "PortBindings", {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "80"}]}
    ),
    "binding-unexposed": host_config(
        "PortBindings", {"9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    ),
    "other-jobs-network": host_config("NetworkMode", job_network_name(OTHER_JOB)),
    "bridge-network": host_config("NetworkMode", "bridge"),
    "host-network": host_config("NetworkMode", "host"),
    "publish-all": host_config("PublishAllPorts", True),
    "dns-unpinned": host_config("Dns", None),  # review F5: the host's resolvers behind 127.0.0.11
    "endpoint-settings": top_level(
        "NetworkingConfig",
        {"EndpointsConfig": {job_network_name(JOB): {"IPAddress": "10.0.0.9"}}},
    ),
}


@pytest.mark.parametrize("name", sorted(PREVIEW_MUTATIONS))
def test_each_network_rule_is_enforced_in_preview(name: str) -> None:
    """C5: preview reaches only its own network, with ports bound on 127.0.0.1."""
    body = copy.deepcopy(preview_spec())
    PREVIEW_MUTATIONS[name](body)
    assert check_create_body(body, deployment=DEPLOYMENT), f"{name} passed the check"


@pytest.mark.parametrize("name", sorted(LAYER_MUTATIONS))
def test_each_dependency_layer_rule_is_enforced(name: str) -> None:
    """C2: a dependency layer only beside the workspace, at its place, read-only for every job
    but the install that builds it, and only for a job that names its project."""
    body = copy.deepcopy(layer_spec())
    LAYER_MUTATIONS[name](body)
    assert check_create_body(body, deployment=DEPLOYMENT), f"{name} passed the check"


def test_spec_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="ports"):
        spec(ports=[8000])
    with pytest.raises(ValueError, match="own network"):
        spec(network=NetworkMode.preview, network_name="bridge")
    with pytest.raises(ValueError, match="owner_tag"):
        spec(owner_tag="user-1")
    with pytest.raises(ValueError, match="environment"):
        spec(env={"A=B": "x"})
    with pytest.raises(ValueError, match="command"):
        spec(command=[])
    layer = layer_mount(JOB, "/deps", read_only=True)
    with pytest.raises(ValueError, match="beside the workspace, for a project"):
        spec(layer_mount=layer)
    with pytest.raises(ValueError, match="beside the workspace, for a project"):
        spec(layer_mount=layer, project_id=PROJECT, workspace_mount=None)
    with pytest.raises(ValueError, match="mounted at one of"):
        layer_mount(JOB, "/etc", read_only=True)
