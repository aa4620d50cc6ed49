"""The hardening policy (C1) and its check (C2's create-body rule), without an engine."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from offcoder.runtime.policy import (
    LABEL_JOB_ID,
    LABEL_NETWORK,
    LABEL_OWNER,
    NetworkMode,
    SandboxLimits,
    check_create_body,
    container_spec,
    job_network_name,
    owner_tag,
    workspace_mount,
    workspace_volume_name,
)

JOB = uuid.UUID("0b6f6d8e-9c1d-4d7e-9a59-1d3c8f0a2b44")
OTHER_JOB = uuid.UUID("5e8a3f7c-1111-4c2d-8e3f-0123456789ab")
OWNER = owner_tag(uuid.UUID(int=7), b"k" * 32)


def spec(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "image": "offcoder/python:current",
        "command": ["python", "main.py"],
        "env": {"API_TOKEN": "s3cret"},
        "job_id": JOB,
        "owner_tag": OWNER,
        "network": NetworkMode.none,
        "workspace_mount": workspace_mount(JOB),
    }
    args.update(kw)
    return container_spec(**args)


def preview_spec() -> dict[str, Any]:
    return spec(network=NetworkMode.preview, network_name=job_network_name(JOB), ports=[8000])


def test_spec_has_the_c1_settings() -> None:
    """C1: every setting the promise names is in the body the policy writes."""
    body = spec()
    hc = body["HostConfig"]
    assert body["User"] == "10001:10001"
    assert body["WorkingDir"] == "/workspace"
    assert body["Env"] == ["API_TOKEN=s3cret"]
    assert body["Labels"]["dev.offcoder.managed"] == "1"
    assert body["Labels"][LABEL_JOB_ID] == str(JOB)
    assert body["Labels"][LABEL_OWNER] == OWNER and str(uuid.UUID(int=7)) not in OWNER
    assert hc["NetworkMode"] == "none"
    assert hc["CapDrop"] == ["ALL"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["PidsLimit"] == 256
    assert hc["Memory"] == hc["MemorySwap"] == 512 * 1024 * 1024
    assert hc["NanoCpus"] == 1_000_000_000
    assert hc["ReadonlyRootfs"] is True
    assert hc["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"}
    assert hc["IpcMode"] == "none"
    assert hc["Privileged"] is False
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
    ],
)
def test_policy_spec_passes_the_check(body: dict[str, Any]) -> None:
    assert check_create_body(body) == []


def test_allowed_images() -> None:
    assert check_create_body(spec(), allowed_images={"offcoder/python:current"}) == []
    assert check_create_body(spec(), allowed_images={"offcoder/node:current"})


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
    assert check_create_body(body) == []


Mutation = Callable[[dict[str, Any]], None]


def _hc(key: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["HostConfig"][key] = value

    return mutate


def _top(key: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body[key] = value

    return mutate


def _drop_hc(key: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        del body["HostConfig"][key]

    return mutate


def _drop_label(key: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        del body["Labels"][key]

    return mutate


def _label(key: str, value: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["Labels"][key] = value

    return mutate


def _mount(**changes: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["HostConfig"]["Mounts"][0].update(changes)

    return mutate


def _extra_mount(mount: dict[str, Any]) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["HostConfig"]["Mounts"].append(mount)

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        for m in mutations:
            m(body)

    return mutate


BIND_ROOT = {"Type": "bind", "Source": "/", "Target": "/host"}
DOCKER_SOCK = {"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock"}

MUTATIONS: dict[str, Mutation] = {
    # privilege
    "privileged": _hc("Privileged", True),
    "cap-add": _hc("CapAdd", ["SYS_ADMIN"]),
    "cap-drop-missing": _drop_hc("CapDrop"),
    "cap-drop-partial": _hc("CapDrop", ["NET_RAW"]),
    "cap-drop-all-plus": _hc("CapDrop", ["ALL", "x"]),
    "security-opt-missing": _drop_hc("SecurityOpt"),
    "seccomp-unconfined": _hc("SecurityOpt", ["no-new-privileges", "seccomp=unconfined"]),
    "seccomp-unconfined-only": _hc("SecurityOpt", ["seccomp=unconfined"]),
    "apparmor-unconfined": _hc("SecurityOpt", ["no-new-privileges", "apparmor=unconfined"]),
    "label-disable": _hc("SecurityOpt", ["no-new-privileges", "label:disable"]),
    "nnp-false": _hc("SecurityOpt", ["no-new-privileges:false"]),
    "runtime": _hc("Runtime", "runsc-unknown"),
    "sysctls": _hc("Sysctls", {"net.ipv4.ip_forward": "1"}),
    "oom-kill-disable": _hc("OomKillDisable", True),
    "cgroup-parent": _hc("CgroupParent", "/"),
    "group-add": _hc("GroupAdd", ["0"]),
    "masked-paths-cleared": _hc("MaskedPaths", []),  # [] unmasks /proc/kcore etc.
    "readonly-paths-cleared": _hc("ReadonlyPaths", ["/"]),
    "unknown-hostconfig-key": _hc("SomethingNew", "x"),
    "unknown-top-key": _top("SomethingNew", {"a": 1}),
    "case-smuggled-privileged": _hc("privileged", True),
    "case-duplicate-readonly": _hc("readonlyrootfs", False),
    "unicode-fold-key": _hc("Pid\u017fLimit", 0),  # folds to PidsLimit in Go
    # filesystem
    "binds-root": _hc("Binds", ["/:/host"]),
    "binds-docker-sock": _hc("Binds", ["/var/run/docker.sock:/var/run/docker.sock"]),
    "mount-bind-root": _extra_mount(BIND_ROOT),
    "mount-docker-sock": _hc("Mounts", [DOCKER_SOCK]),
    "mount-other-job-workspace": _mount(Source=workspace_volume_name(OTHER_JOB)),
    "mount-other-volume": _mount(Source="shared"),
    "mount-elsewhere": _mount(Target="/etc"),
    "mount-bind-type": _mount(Type="bind"),
    "mount-tmpfs-type": _mount(Type="tmpfs"),
    "mount-driver-config": _mount(
        VolumeOptions={"DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}}
    ),
    "mount-readonly-flip": _mount(BindOptions={"Propagation": "shared"}),
    "volumes-anonymous": _top("Volumes", {"/data": {}}),
    "volumes-from": _hc("VolumesFrom", ["other"]),
    "volume-driver": _hc("VolumeDriver", "evil"),
    "readonly-rootfs-false": _hc("ReadonlyRootfs", False),
    "readonly-rootfs-missing": _drop_hc("ReadonlyRootfs"),
    "tmpfs-extra-path": _hc("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=64m", "/etc": "rw"}),
    "tmpfs-too-big": _hc("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=1g"}),
    "tmpfs-no-size": _hc("Tmpfs", {"/tmp": "rw,nosuid,nodev"}),
    "tmpfs-suid": _hc("Tmpfs", {"/tmp": "rw,nodev,size=64m"}),
    "tmpfs-exec-opt": _hc("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=64m,uid=0"}),
    "storage-opt": _hc("StorageOpt", {"size": "100G"}),
    "workdir-elsewhere": _top("WorkingDir", "/"),
    # devices
    "devices": _hc("Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
    "device-requests": _hc("DeviceRequests", [{"Count": -1, "Capabilities": [["gpu"]]}]),
    "device-cgroup-rules": _hc("DeviceCgroupRules", ["a *:* rwm"]),
    # namespaces
    "network-host": _hc("NetworkMode", "host"),
    "network-container": _hc("NetworkMode", "container:abc"),
    "network-bridge": _hc("NetworkMode", "bridge"),
    "network-missing": _drop_hc("NetworkMode"),
    "pid-host": _hc("PidMode", "host"),
    "pid-container": _hc("PidMode", "container:abc"),
    "ipc-host": _hc("IpcMode", "host"),
    "ipc-shareable": _hc("IpcMode", "shareable"),
    "ipc-container": _hc("IpcMode", "container:abc"),
    "ipc-missing": _drop_hc("IpcMode"),
    "uts-host": _hc("UTSMode", "host"),
    "userns-host": _hc("UsernsMode", "host"),
    "cgroupns-host": _hc("CgroupnsMode", "host"),
    "shm-with-ipc-none": _hc("ShmSize", 1 << 30),
    "shm-big": _both(_hc("IpcMode", "private"), _hc("ShmSize", 1 << 30)),
    "shm-default": _hc("IpcMode", "private"),
    # user
    "user-missing": _top("User", None),
    "user-empty": _top("User", ""),
    "user-root": _top("User", "root"),
    "user-0": _top("User", "0"),
    "user-0-0": _top("User", "0:0"),
    "user-root-root": _top("User", "root:root"),
    "user-00": _top("User", "00:00"),
    "user-gid-0": _top("User", "10001:0"),
    "user-name": _top("User", "sandbox"),
    "user-nobody": _top("User", "65534:65534"),
    # limits
    "memory-missing": _drop_hc("Memory"),
    "memory-zero": _hc("Memory", 0),
    "memory-too-high": _both(_hc("Memory", 8 << 30), _hc("MemorySwap", 8 << 30)),
    "memory-bool": _hc("Memory", True),
    "swap-unlimited": _hc("MemorySwap", -1),
    "swap-missing": _drop_hc("MemorySwap"),
    "swap-more": _hc("MemorySwap", 1 << 30),
    "pids-missing": _drop_hc("PidsLimit"),
    "pids-zero": _hc("PidsLimit", 0),
    "pids-unlimited": _hc("PidsLimit", -1),
    "pids-too-high": _hc("PidsLimit", 257),
    "cpus-missing": _drop_hc("NanoCpus"),
    "cpus-too-high": _hc("NanoCpus", 4_000_000_000),
    "cpu-quota": _hc("CpuQuota", -1),
    "ulimits-missing": _drop_hc("Ulimits"),
    "ulimit-msgqueue-raised": _hc(
        "Ulimits",
        [{"Name": "core", "Soft": 0, "Hard": 0}, {"Name": "msgqueue", "Soft": 0, "Hard": 819200}],
    ),
    "ulimit-other": _hc(
        "Ulimits",
        [
            {"Name": "core", "Soft": 0, "Hard": 0},
            {"Name": "msgqueue", "Soft": 0, "Hard": 0},
            {"Name": "rtprio", "Soft": 99, "Hard": 99},
        ],
    ),
    "log-driver-remote": _hc(
        "LogConfig", {"Type": "syslog", "Config": {"syslog-address": "udp://x:514"}}
    ),
    "log-unbounded": _hc("LogConfig", {"Type": "json-file", "Config": {}}),
    "log-too-big": _hc(
        "LogConfig", {"Type": "json-file", "Config": {"max-size": "1g", "max-file": "1"}}
    ),
    "restart-always": _hc("RestartPolicy", {"Name": "always"}),
    "auto-remove": _hc("AutoRemove", True),
    # network and ports
    "publish-all": _hc("PublishAllPorts", True),
    "ports-in-none-mode": _both(
        _top("ExposedPorts", {"8000/tcp": {}}),
        _hc("PortBindings", {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    ),
    "extra-hosts": _hc("ExtraHosts", ["metadata:169.254.169.254"]),
    "links": _hc("Links", ["db:db"]),
    "dns": _hc("Dns", ["8.8.8.8"]),
    "networking-config-other": _top("NetworkingConfig", {"EndpointsConfig": {"bridge": {}}}),
    # labels
    "label-managed-missing": _drop_label("dev.offcoder.managed"),
    "label-managed-0": _label("dev.offcoder.managed", "0"),
    "label-job-missing": _drop_label(LABEL_JOB_ID),
    "label-job-not-uuid": _label(LABEL_JOB_ID, "x"),
    "label-owner-missing": _drop_label(LABEL_OWNER),
    "label-owner-user-id": _label(LABEL_OWNER, str(uuid.UUID(int=7))),
    "label-network-missing": _drop_label(LABEL_NETWORK),
    "label-network-claims-preview": _label(LABEL_NETWORK, "preview"),
    "label-extra": _label("com.example.x", "1"),
    "labels-missing": _top("Labels", None),
    # misc
    "image-missing": _top("Image", ""),
    "cmd-missing": _top("Cmd", []),
    "cmd-string": _top("Cmd", "sh -c x"),
    "hostconfig-missing": _top("HostConfig", None),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_rule_is_enforced(name: str) -> None:
    """C1/C2: each departure from the policy is a violation (one mutation per rule)."""
    body = copy.deepcopy(spec())
    MUTATIONS[name](body)
    assert check_create_body(body), f"{name} passed the check"


PREVIEW_MUTATIONS: dict[str, Mutation] = {
    "binding-all-interfaces": _hc("PortBindings", {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}),
    "binding-0000": _hc("PortBindings", {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}]}),  # noqa: S104
    "binding-low-port": _hc(
        "PortBindings", {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "80"}]}
    ),
    "binding-unexposed": _hc(
        "PortBindings", {"9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    ),
    "other-jobs-network": _hc("NetworkMode", job_network_name(OTHER_JOB)),
    "bridge-network": _hc("NetworkMode", "bridge"),
    "host-network": _hc("NetworkMode", "host"),
    "publish-all": _hc("PublishAllPorts", True),
    "endpoint-settings": _top(
        "NetworkingConfig",
        {"EndpointsConfig": {job_network_name(JOB): {"IPAddress": "10.0.0.9"}}},
    ),
}


@pytest.mark.parametrize("name", sorted(PREVIEW_MUTATIONS))
def test_each_network_rule_is_enforced_in_preview(name: str) -> None:
    """C5: preview reaches only its own network, with ports bound on 127.0.0.1."""
    body = copy.deepcopy(preview_spec())
    PREVIEW_MUTATIONS[name](body)
    assert check_create_body(body), f"{name} passed the check"


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
