"""The hardening policy's test data: a sandbox spec, and one mutation per rule of the
create-body check (each must be refused: tests/runtime/test_policy.py checks the policy alone,
tests/runtime/test_proxy.py sends them through the proxy)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from offcoder.runtime.policy import (
    LABEL_DEPLOYMENT,
    LABEL_JOB_ID,
    LABEL_NETWORK,
    LABEL_OWNER,
    LABEL_PROJECT,
    NetworkMode,
    container_spec,
    job_network_name,
    layer_mount,
    owner_tag,
    workspace_mount,
    workspace_volume_name,
)

JOB = uuid.UUID("0b6f6d8e-9c1d-4d7e-9a59-1d3c8f0a2b44")
OTHER_JOB = uuid.UUID("5e8a3f7c-1111-4c2d-8e3f-0123456789ab")
OWNER = owner_tag(uuid.UUID(int=7), b"k" * 32)
PROJECT = uuid.UUID("7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
BUILDER = uuid.UUID("3c2b1a09-8f7e-4d6c-9b5a-493827160514")  # the install job that built a layer
DEPLOYMENT = "test-deployment"


def spec(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "image": "offcoder/python:current",
        "command": ["python", "main.py"],
        "env": {"API_TOKEN": "s3cret"},
        "job_id": JOB,
        "owner_tag": OWNER,
        "network": NetworkMode.none,
        "deployment": DEPLOYMENT,
        "workspace_mount": workspace_mount(JOB),
    }
    args.update(kw)
    return container_spec(**args)


def layer_spec(builder: uuid.UUID = BUILDER, *, read_only: bool = True) -> dict[str, Any]:
    """A job of PROJECT mounting the dependency layer `builder` built."""
    return spec(project_id=PROJECT, layer_mount=layer_mount(builder, "/deps", read_only=read_only))


def preview_spec(**kw: Any) -> dict[str, Any]:
    return spec(network=NetworkMode.preview, network_name=job_network_name(JOB), ports=[8000], **kw)


Mutation = Callable[[dict[str, Any]], None]


def host_config(key: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["HostConfig"][key] = value

    return mutate


def top_level(key: str, value: Any) -> Mutation:
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


def _layer(**changes: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["HostConfig"]["Mounts"][1].update(changes)

    return mutate


def _layer_drop(key: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        del body["HostConfig"]["Mounts"][1][key]

    return mutate


BIND_ROOT = {"Type": "bind", "Source": "/", "Target": "/host"}
DOCKER_SOCK = {"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock"}

MUTATIONS: dict[str, Mutation] = {
    # privilege
    "privileged": host_config("Privileged", True),
    "privileged-zero": host_config("Privileged", 0),  # review F12: 0 == False in Python
    "privileged-one": host_config("Privileged", 1),
    "privileged-text": host_config("Privileged", "false"),
    "cap-add": host_config("CapAdd", ["SYS_ADMIN"]),
    "cap-drop-missing": _drop_hc("CapDrop"),
    "cap-drop-partial": host_config("CapDrop", ["NET_RAW"]),
    "cap-drop-all-plus": host_config("CapDrop", ["ALL", "x"]),
    "security-opt-missing": _drop_hc("SecurityOpt"),
    "seccomp-unconfined": host_config("SecurityOpt", ["no-new-privileges", "seccomp=unconfined"]),
    "seccomp-unconfined-only": host_config("SecurityOpt", ["seccomp=unconfined"]),
    "apparmor-unconfined": host_config("SecurityOpt", ["no-new-privileges", "apparmor=unconfined"]),
    "label-disable": host_config("SecurityOpt", ["no-new-privileges", "label:disable"]),
    "nnp-false": host_config("SecurityOpt", ["no-new-privileges:false"]),
    "runtime": host_config("Runtime", "runsc-unknown"),
    "runtime-missing": _drop_hc("Runtime"),  # the engine's default is the operator's to change
    "runtime-unlisted": host_config("Runtime", "runsc"),  # not on the default allow-list
    "runtime-empty": host_config("Runtime", ""),
    "sysctls": host_config("Sysctls", {"net.ipv4.ip_forward": "1"}),
    "oom-kill-disable": host_config("OomKillDisable", True),
    "cgroup-parent": host_config("CgroupParent", "/"),
    "group-add": host_config("GroupAdd", ["0"]),
    "masked-paths-cleared": host_config("MaskedPaths", []),  # [] unmasks /proc/kcore etc.
    "readonly-paths-cleared": host_config("ReadonlyPaths", ["/"]),
    "unknown-hostconfig-key": host_config("SomethingNew", "x"),
    "unknown-top-key": top_level("SomethingNew", {"a": 1}),
    "case-smuggled-privileged": host_config("privileged", True),
    "case-duplicate-readonly": host_config("readonlyrootfs", False),
    "unicode-fold-key": host_config("Pid\u017fLimit", 0),  # folds to PidsLimit in Go
    # filesystem
    "binds-root": host_config("Binds", ["/:/host"]),
    "binds-docker-sock": host_config("Binds", ["/var/run/docker.sock:/var/run/docker.sock"]),
    "mount-bind-root": _extra_mount(BIND_ROOT),
    "mount-docker-sock": host_config("Mounts", [DOCKER_SOCK]),
    "mount-other-job-workspace": _mount(Source=workspace_volume_name(OTHER_JOB)),
    "mount-other-volume": _mount(Source="shared"),
    "mount-elsewhere": _mount(Target="/etc"),
    "mount-bind-type": _mount(Type="bind"),
    "mount-tmpfs-type": _mount(Type="tmpfs"),
    "mount-driver-config": _mount(
        VolumeOptions={"DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}}
    ),
    "mount-readonly-flip": _mount(BindOptions={"Propagation": "shared"}),
    "volumes-anonymous": top_level("Volumes", {"/data": {}}),
    "volumes-from": host_config("VolumesFrom", ["other"]),
    "volume-driver": host_config("VolumeDriver", "evil"),
    "readonly-rootfs-false": host_config("ReadonlyRootfs", False),
    "readonly-rootfs-missing": _drop_hc("ReadonlyRootfs"),
    "tmpfs-extra-path": host_config("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=64m", "/etc": "rw"}),
    "tmpfs-too-big": host_config("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=1g"}),
    "tmpfs-no-size": host_config("Tmpfs", {"/tmp": "rw,nosuid,nodev"}),
    "tmpfs-suid": host_config("Tmpfs", {"/tmp": "rw,nodev,size=64m"}),
    "tmpfs-exec-opt": host_config("Tmpfs", {"/tmp": "rw,nosuid,nodev,size=64m,uid=0"}),
    "storage-opt": host_config("StorageOpt", {"size": "100G"}),
    "workdir-elsewhere": top_level("WorkingDir", "/"),
    # devices
    "devices": host_config("Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
    "device-requests": host_config("DeviceRequests", [{"Count": -1, "Capabilities": [["gpu"]]}]),
    "device-cgroup-rules": host_config("DeviceCgroupRules", ["a *:* rwm"]),
    # namespaces
    "network-host": host_config("NetworkMode", "host"),
    "network-container": host_config("NetworkMode", "container:abc"),
    "network-bridge": host_config("NetworkMode", "bridge"),
    "network-missing": _drop_hc("NetworkMode"),
    "pid-host": host_config("PidMode", "host"),
    "pid-container": host_config("PidMode", "container:abc"),
    "ipc-host": host_config("IpcMode", "host"),
    "ipc-shareable": host_config("IpcMode", "shareable"),
    "ipc-container": host_config("IpcMode", "container:abc"),
    "ipc-missing": _drop_hc("IpcMode"),
    "uts-host": host_config("UTSMode", "host"),
    "userns-host": host_config("UsernsMode", "host"),
    "cgroupns-host": host_config("CgroupnsMode", "host"),
    "cgroupns-missing": _drop_hc("CgroupnsMode"),  # the engine's default on cgroup v1 is host
    "cgroupns-empty": host_config("CgroupnsMode", ""),
    "shm-with-ipc-none": host_config("ShmSize", 1 << 30),
    "shm-big": _both(host_config("IpcMode", "private"), host_config("ShmSize", 1 << 30)),
    "shm-default": host_config("IpcMode", "private"),
    # user
    "user-missing": top_level("User", None),
    "user-empty": top_level("User", ""),
    "user-root": top_level("User", "root"),
    "user-0": top_level("User", "0"),
    "user-0-0": top_level("User", "0:0"),
    "user-root-root": top_level("User", "root:root"),
    "user-00": top_level("User", "00:00"),
    "user-gid-0": top_level("User", "10001:0"),
    "user-name": top_level("User", "sandbox"),
    "user-nobody": top_level("User", "65534:65534"),
    # limits
    "memory-missing": _drop_hc("Memory"),
    "memory-zero": host_config("Memory", 0),
    "memory-too-high": _both(host_config("Memory", 8 << 30), host_config("MemorySwap", 8 << 30)),
    "memory-bool": host_config("Memory", True),
    "swap-unlimited": host_config("MemorySwap", -1),
    "swap-missing": _drop_hc("MemorySwap"),
    "swap-more": host_config("MemorySwap", 1 << 30),
    "pids-missing": _drop_hc("PidsLimit"),
    "pids-zero": host_config("PidsLimit", 0),
    "pids-unlimited": host_config("PidsLimit", -1),
    "pids-too-high": host_config("PidsLimit", 257),
    "cpus-missing": _drop_hc("NanoCpus"),
    "cpus-too-high": host_config("NanoCpus", 4_000_000_000),
    "cpu-quota": host_config("CpuQuota", -1),
    "ulimits-missing": _drop_hc("Ulimits"),
    "ulimit-msgqueue-raised": host_config(
        "Ulimits",
        [{"Name": "core", "Soft": 0, "Hard": 0}, {"Name": "msgqueue", "Soft": 0, "Hard": 819200}],
    ),
    "ulimit-nofile-missing": host_config(
        "Ulimits",
        [{"Name": "core", "Soft": 0, "Hard": 0}, {"Name": "msgqueue", "Soft": 0, "Hard": 0}],
    ),
    "ulimit-nofile-raised": host_config(
        "Ulimits",
        [
            {"Name": "core", "Soft": 0, "Hard": 0},
            {"Name": "msgqueue", "Soft": 0, "Hard": 0},
            {"Name": "nofile", "Soft": 1024, "Hard": 1048576},
        ],
    ),
    "ulimit-other": host_config(
        "Ulimits",
        [
            {"Name": "core", "Soft": 0, "Hard": 0},
            {"Name": "msgqueue", "Soft": 0, "Hard": 0},
            {"Name": "rtprio", "Soft": 99, "Hard": 99},
        ],
    ),
    "log-driver-remote": host_config(
        "LogConfig", {"Type": "syslog", "Config": {"syslog-address": "udp://x:514"}}
    ),
    "log-unbounded": host_config("LogConfig", {"Type": "json-file", "Config": {}}),
    "log-config-missing": _drop_hc("LogConfig"),  # the engine's default driver: unbounded
    "log-driver-empty": host_config("LogConfig", {"Type": ""}),
    "log-local-unbounded": host_config("LogConfig", {"Type": "local", "Config": {}}),
    "log-json-many-files": host_config(
        "LogConfig", {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "100"}}
    ),
    "log-too-big": host_config(
        "LogConfig", {"Type": "json-file", "Config": {"max-size": "1g", "max-file": "1"}}
    ),
    "restart-always": host_config("RestartPolicy", {"Name": "always"}),
    "auto-remove": host_config("AutoRemove", True),
    # network and ports
    "publish-all": host_config("PublishAllPorts", True),
    "ports-in-none-mode": _both(
        top_level("ExposedPorts", {"8000/tcp": {}}),
        host_config("PortBindings", {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    ),
    "extra-hosts": host_config("ExtraHosts", ["metadata:169.254.169.254"]),
    "links": host_config("Links", ["db:db"]),
    "dns": host_config("Dns", ["8.8.8.8"]),
    # review F5: unpinned, the engine forwards a sandbox's lookups to the host's resolvers
    "dns-missing": _drop_hc("Dns"),
    "dns-empty": host_config("Dns", []),
    "dns-pinned-and-another": host_config("Dns", ["127.0.0.1", "10.0.0.2"]),
    "dns-host-loopback-stub": host_config("Dns", ["127.0.0.53"]),
    "dns-search": host_config("DnsSearch", ["corp.example"]),
    "dns-options": host_config("DnsOptions", ["ndots:5"]),
    "networking-config-other": top_level("NetworkingConfig", {"EndpointsConfig": {"bridge": {}}}),
    # labels
    "label-managed-missing": _drop_label("dev.offcoder.managed"),
    # another deployment's sandbox, or one of none (C2: deployments sharing an engine)
    "label-deployment-missing": _drop_label(LABEL_DEPLOYMENT),
    "label-deployment-other": _label(LABEL_DEPLOYMENT, "another-deployment"),
    "label-managed-0": _label("dev.offcoder.managed", "0"),
    "label-job-missing": _drop_label(LABEL_JOB_ID),
    "label-job-not-uuid": _label(LABEL_JOB_ID, "x"),
    "label-owner-missing": _drop_label(LABEL_OWNER),
    "label-owner-user-id": _label(LABEL_OWNER, str(uuid.UUID(int=7))),
    "label-network-missing": _drop_label(LABEL_NETWORK),
    "label-network-claims-preview": _label(LABEL_NETWORK, "preview"),
    "label-extra": _label("com.example.x", "1"),
    "labels-missing": top_level("Labels", None),
    # misc
    "image-missing": top_level("Image", ""),
    "cmd-missing": top_level("Cmd", []),
    "cmd-string": top_level("Cmd", "sh -c x"),
    "hostconfig-missing": top_level("HostConfig", None),
}

# Departures from a job's read-only mount of its project's dependency layer (`layer_spec`).
LAYER_MUTATIONS: dict[str, Mutation] = {
    "writable-by-another-job": _layer(ReadOnly=False),
    "read-only-missing": _layer_drop("ReadOnly"),
    "read-only-as-text": _layer(ReadOnly="true"),
    "target-etc": _layer(Target="/etc"),
    "target-workspace": _layer(Target="/workspace"),
    "target-under-deps": _layer(Target="/deps/sub"),
    "source-not-a-layer": _layer(Source="shared"),
    "source-another-workspace": _layer(Source=workspace_volume_name(OTHER_JOB)),
    "source-layer-look-alike": _layer(Source=f"offcoder-deps-{BUILDER}-x"),
    "bind-type": _layer(Type="bind"),
    "driver-config": _layer(
        VolumeOptions={"DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}}
    ),
    "bind-options": _layer(BindOptions={"Propagation": "shared"}),
    "case-smuggled-readonly": _layer(readonly=False),
    "project-label-missing": _drop_label(LABEL_PROJECT),
    "project-label-not-uuid": _label(LABEL_PROJECT, "project-1"),
    "project-label-uppercase": _label(LABEL_PROJECT, str(PROJECT).upper()),
    "a-third-mount": _extra_mount(layer_mount(OTHER_JOB, "/deps", read_only=True)),
    "layer-without-workspace": lambda body: body["HostConfig"]["Mounts"].pop(0),
}
