"""The one hardening policy (C1): it writes every sandbox's create body; the proxy checks it (C2).

It is also the contract the worker, the proxy and the egress gateway share (decision 0011): the
labels, the gateway's alias, port and URL, and its allow-list rules. The proxy imports nothing
else of ours, so this module imports the standard library only.

`container_spec` produces the Docker Engine API body of ``POST /containers/create``;
`check_create_body` is deny-by-default: it lists every way a body departs from what
`container_spec` can produce, and the policy proxy refuses any body with a violation.

Writable paths inside a sandbox, and their caps (C1 "explicitly allowed writable paths"):
- ``/workspace``: a per-job ext4 image of fixed size on a loop device, provisioned by the proxy
  (`offcoder.runtime.proxy.workspace`), mounted as the named volume `workspace_volume_name`;
  writes stop with ENOSPC at 500 MB.
- ``/tmp``: a tmpfs of `SandboxLimits.tmp_bytes` (64 MiB), nosuid, nodev.
- ``/dev/shm``: absent (``IpcMode: none``) by default; a tiny tmpfs if a job asks for shm.
- ``/dev/mqueue``: Docker mounts it writable; the ``msgqueue`` ulimit of 0 makes every queue
  creation fail (EMFILE), so nothing can be stored there.
- a project's dependency layer (`layer_mount`), at ``/deps`` (Python) or
  ``/workspace/node_modules`` (Node): writable only in the install job that builds it, a
  fixed-size ext4 image like the workspace; read-only in every later job of the same project
  and owner (labels ``dev.offcoder.project`` and ``dev.offcoder.owner``, matched by the proxy).
Everything else is the read-only root filesystem.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SANDBOX_UID = 10001
SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
WORKSPACE = "/workspace"
TMP = "/tmp"  # noqa: S108 - the sandbox's own /tmp, a size-capped tmpfs

LABEL_PREFIX = "dev.offcoder."
LABEL_MANAGED = LABEL_PREFIX + "managed"
LABEL_JOB_ID = LABEL_PREFIX + "job-id"
LABEL_OWNER = LABEL_PREFIX + "owner"
LABEL_NETWORK = LABEL_PREFIX + "network"
LABEL_WORKSPACE = LABEL_PREFIX + "workspace"
# The deployment an object belongs to (C2, C6): every container, network and volume the proxy
# makes or lets be made carries its proxy's deployment id, and a proxy sees, lists and removes
# only objects carrying its own. Deployments sharing one engine stay out of each other's way.
LABEL_DEPLOYMENT = LABEL_PREFIX + "deployment"
LABEL_PROJECT = LABEL_PREFIX + "project"
LABEL_LAYER = LABEL_PREFIX + "layer"

# Where a project's dependency layer is mounted: Python's packages (on PYTHONPATH) or Node's
# node_modules, inside the workspace, where `require` and `import` both look first.
DEPENDENCY_TARGETS = frozenset({"/deps", f"{WORKSPACE}/node_modules"})
# A layer's ext4 image, the hard cap of what its install may write (ENOSPC past it).
LAYER_MIN_BYTES = 16 * 1024 * 1024
LAYER_MAX_BYTES = 4_000_000_000

# An egress job's one way out (C5): the proxy starts its gateway under this alias on the job's
# network, the worker points the job's proxy variables at it, and the program inside
# (runtime/sandbox/egress_gateway.py, whose LISTEN_PORT a test holds equal) listens on the port.
GATEWAY_ALIAS = "egress-gateway"
GATEWAY_PORT = 3128
GATEWAY_URL = f"http://{GATEWAY_ALIAS}:{GATEWAY_PORT}"
GATEWAY_READY_LINE = "offcoder-egress-gateway ready"
GATEWAY_MAX_ALLOW_ENTRIES = 32
GATEWAY_MAX_EXTRA_PORTS = 8

# Every sandbox's one DNS server (C5, review F5): the sandbox's own loopback, where nothing
# listens. Unpinned, the engine's embedded resolver (127.0.0.11 on a job network) forwards any
# name it does not know to the host's resolvers: a tunnel around the egress allow-list, and on
# engines before 26 from internal networks too (CVE-2024-29018). A server given in ``Dns``
# replaces the host's, and a loopback one is dialled in the container's own namespace, so an
# outside name goes nowhere; the names of the job's network (its gateway's) are still answered
# by the embedded resolver itself. Decision 0021.
SANDBOX_DNS = ("127.0.0.1",)

MiB = 1024 * 1024
# Open files per process: required, at most NOFILE_MAX (C1).
NOFILE_SOFT = 1024
NOFILE_MAX = 4096
LOG_MAX_SIZE = "10m"
LOG_MAX_BYTES = 10 * MiB
_OWNER_TAG = re.compile(r"[0-9a-f]{32,64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PORT_KEY = re.compile(r"([0-9]{1,5})/tcp")
_LAYER_VOLUME = re.compile(r"offcoder-deps-([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})")
# A label value and a directory name: lowercase letters, digits and inner hyphens.
_DEPLOYMENT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


class NetworkMode(StrEnum):
    none = "none"
    preview = "preview"
    egress = "egress"


class SandboxRuntime(StrEnum):
    """The OCI runtime a sandbox runs under (C1, decision 0022): the kernel boundary.

    ``runc`` and ``crun`` give the job namespaces, cgroups, seccomp and AppArmor on the host's
    kernel; ``runsc`` (gVisor) puts a user-space kernel between the job and the host's, which
    sees only the few system calls gVisor itself makes."""

    runc = "runc"
    crun = "crun"
    runsc = "runsc"


# The names the engine knows each runtime by (its ``runtimes`` configuration), by whether the
# job has a network. gVisor is registered twice: ``runsc`` with ``--network=none`` for jobs with
# no network (nothing but loopback inside, not even an interface to attach), and ``runsc-net``
# for preview and egress jobs, whose network is the job's own Docker network namespace, walled
# as under runc. scripts/ensure-services.sh registers them; docs/operations.md says how.
ENGINE_RUNTIMES: dict[SandboxRuntime, tuple[str, str]] = {
    SandboxRuntime.runc: ("runc", "runc"),
    SandboxRuntime.crun: ("crun", "crun"),
    SandboxRuntime.runsc: ("runsc", "runsc-net"),
}


def engine_runtime(runtime: SandboxRuntime, network: NetworkMode) -> str:
    """The engine's name for `runtime` running a job of `network` mode."""
    offline, networked = ENGINE_RUNTIMES[runtime]
    return offline if network is NetworkMode.none else networked


def engine_runtimes(allowed: set[SandboxRuntime]) -> set[str]:
    """Every engine runtime name that `allowed` runtimes may be created under."""
    return {name for r in allowed for name in ENGINE_RUNTIMES[r]}


@dataclass(frozen=True)
class SandboxLimits:
    """Per-sandbox caps. The defaults are also the maxima the proxy accepts."""

    memory_bytes: int = 512 * MiB  # swap is set equal: no swap beyond memory
    nano_cpus: int = 1_000_000_000
    pids: int = 256
    tmp_bytes: int = 64 * MiB
    shm_bytes: int = 0  # 0: no /dev/shm at all (IpcMode none); else a private IPC ns of this size
    disk_bytes: int = 500 * 1000 * 1000  # the workspace image's usable size


DEFAULT_LIMITS = SandboxLimits()


def is_deployment_id(text: str) -> bool:
    """A deployment id: 1-40 of a-z, 0-9 and inner hyphens (it names a directory too)."""
    return bool(_DEPLOYMENT_ID.fullmatch(text))


def deployment_labels(deployment: str, job_id: uuid.UUID) -> dict[str, str]:
    """The labels every object of a job carries: ours, this deployment's, this job's."""
    return {LABEL_MANAGED: "1", LABEL_DEPLOYMENT: deployment, LABEL_JOB_ID: str(job_id)}


def is_ours(labels: dict[str, str] | None, deployment: str, job_id: uuid.UUID | None) -> bool:
    """True for an object of this deployment (and of this job, when one is given)."""
    labels = labels or {}
    return (
        labels.get(LABEL_MANAGED) == "1"
        and labels.get(LABEL_DEPLOYMENT) == deployment
        and (job_id is None or labels.get(LABEL_JOB_ID) == str(job_id))
    )


def owner_tag(user_id: uuid.UUID, key: bytes) -> str:
    """The owner label: a keyed hash of the user id, so the engine never holds the id itself."""
    return hmac.new(key, user_id.bytes, hashlib.sha256).hexdigest()[:32]


def workspace_volume_name(job_id: uuid.UUID) -> str:
    """The only volume a sandbox may mount: the job's provisioned workspace."""
    return f"offcoder-ws-{job_id}"


def job_network_name(job_id: uuid.UUID) -> str:
    """The only network a preview/egress sandbox may join: the job's own."""
    return f"offcoder-net-{job_id}"


def layer_volume_name(job_id: uuid.UUID) -> str:
    """A dependency layer's volume, named after the install job that built it."""
    return f"offcoder-deps-{job_id}"


def layer_builder(volume_name: str) -> uuid.UUID | None:
    """The install job a layer volume's name says built it; None for any other name."""
    m = _LAYER_VOLUME.fullmatch(volume_name)
    return uuid.UUID(m.group(1)) if m else None


def layer_mount(job_id: uuid.UUID, target: str, *, read_only: bool) -> dict[str, Any]:
    """The HostConfig.Mounts entry for the layer built by install job `job_id`."""
    if target not in DEPENDENCY_TARGETS:
        raise ValueError(f"a dependency layer is mounted at one of {sorted(DEPENDENCY_TARGETS)}")
    return {
        "Type": "volume",
        "Source": layer_volume_name(job_id),
        "Target": target,
        "ReadOnly": read_only,
        "VolumeOptions": {"NoCopy": True},
    }


def workspace_mount(job_id: uuid.UUID) -> dict[str, Any]:
    """The HostConfig.Mounts entry for a provisioned workspace."""
    return {
        "Type": "volume",
        "Source": workspace_volume_name(job_id),
        "Target": WORKSPACE,
        "ReadOnly": False,
        "VolumeOptions": {"NoCopy": True},
    }


def _tmpfs_opts(size: int) -> str:
    return (
        f"rw,nosuid,nodev,size={size // MiB}m"
        if size % MiB == 0
        else f"rw,nosuid,nodev,size={size}"
    )


def container_spec(
    *,
    image: str,
    command: list[str],
    env: dict[str, str],
    job_id: uuid.UUID,
    owner_tag: str,
    network: NetworkMode,
    deployment: str,
    limits: SandboxLimits = DEFAULT_LIMITS,
    ports: list[int] | None = None,
    workspace_mount: dict[str, Any] | None = None,
    network_name: str | None = None,
    project_id: uuid.UUID | None = None,
    layer_mount: dict[str, Any] | None = None,
    runtime: SandboxRuntime = SandboxRuntime.runc,
) -> dict[str, Any]:
    """The create body for one job's sandbox (C1). Raises ValueError on input it cannot honour."""
    if layer_mount is not None and (workspace_mount is None or project_id is None):
        raise ValueError("a dependency layer is mounted beside the workspace, for a project")
    if not image or not command or not all(isinstance(c, str) for c in command):
        raise ValueError("image and a non-empty command of strings are required")
    if not _OWNER_TAG.fullmatch(owner_tag):
        raise ValueError("owner_tag must be a hex hash (see owner_tag())")
    if not is_deployment_id(deployment):
        raise ValueError("deployment must be a deployment id (see is_deployment_id())")
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name) or "\x00" in value:
            raise ValueError(f"invalid environment variable {name!r}")
    ports = list(ports or [])
    if ports and network is not NetworkMode.preview:
        raise ValueError("ports are published only in preview mode")
    for port in ports:
        if not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port}")
    if network is NetworkMode.none:
        if network_name is not None:
            raise ValueError("network_name is only for preview/egress jobs")
        net = "none"
    else:
        if network_name != job_network_name(job_id):
            raise ValueError("a preview/egress job joins its own network, job_network_name(job_id)")
        net = network_name

    host_config: dict[str, Any] = {
        # Always named, the default included: the engine's default runtime is the operator's
        # to change, and what a sandbox runs under must not follow it unseen.
        "Runtime": engine_runtime(runtime, network),
        "NetworkMode": net,
        # In every mode, none included (its resolv.conf is the host's otherwise): the check
        # requires it, and a sandbox's lookups of outside names go nowhere (SANDBOX_DNS).
        "Dns": list(SANDBOX_DNS),
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "Privileged": False,
        "PidsLimit": limits.pids,
        "Memory": limits.memory_bytes,
        "MemorySwap": limits.memory_bytes,
        "NanoCpus": limits.nano_cpus,
        "ReadonlyRootfs": True,
        "Tmpfs": {TMP: _tmpfs_opts(limits.tmp_bytes)},
        "Ulimits": [
            {"Name": "core", "Soft": 0, "Hard": 0},
            {"Name": "msgqueue", "Soft": 0, "Hard": 0},
            # The engine's default is a million open files: a job has no need of more than a
            # few thousand, and every one is kernel memory outside the memory cgroup's view.
            {"Name": "nofile", "Soft": NOFILE_SOFT, "Hard": NOFILE_MAX},
        ],
        # Its own cgroup namespace: the job sees its own cgroup as the root, not the host's
        # tree (the engine's default on a cgroup v1 host is the host's namespace).
        "CgroupnsMode": "private",
        # The worker reads output from the attach stream; a log file on the host would only be
        # a second copy of what jobs print (secrets they echo included) on the runtime's disk.
        "LogConfig": {"Type": "none"},
        "AutoRemove": False,
        "RestartPolicy": {"Name": "no"},
    }
    if limits.shm_bytes:
        host_config["IpcMode"] = "private"
        host_config["ShmSize"] = limits.shm_bytes
    else:
        host_config["IpcMode"] = "none"
    if workspace_mount is not None:
        host_config["Mounts"] = [workspace_mount]
        if layer_mount is not None:
            host_config["Mounts"].append(layer_mount)
    body: dict[str, Any] = {
        "Image": image,
        "Cmd": list(command),
        "Env": [f"{k}={v}" for k, v in env.items()],
        "User": SANDBOX_USER,
        "WorkingDir": WORKSPACE,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "OpenStdin": False,
        "Tty": False,
        "Labels": {
            **deployment_labels(deployment, job_id),
            LABEL_OWNER: owner_tag,
            LABEL_NETWORK: network.value,
        },
        "HostConfig": host_config,
    }
    if project_id is not None:
        body["Labels"][LABEL_PROJECT] = str(project_id)
    if ports:
        body["ExposedPorts"] = {f"{p}/tcp": {} for p in ports}
        host_config["PortBindings"] = {
            f"{p}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for p in ports
        }
    return body


# --------------------------------------------------------------------------------------------
# The check: deny by default.

# Top-level keys with a rule below; any other key must be empty (null, false, 0, "", [], {}).
_TOP_CHECKED = {
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "User",
    "WorkingDir",
    "Labels",
    "HostConfig",
    "ExposedPorts",
    "NetworkingConfig",
    "Volumes",
}
# Top-level keys that are harmless whatever their (well-typed) value.
_TOP_HARMLESS = {
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "OpenStdin",
    "StdinOnce",
    "Tty",
    "StopSignal",
    "StopTimeout",
    "NetworkDisabled",
    "Hostname",
    "Domainname",
}
_HOST_CHECKED = {
    "Runtime",
    "NetworkMode",
    "Dns",
    "CapDrop",
    "SecurityOpt",
    "Privileged",
    "PidsLimit",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "ReadonlyRootfs",
    "Tmpfs",
    "Ulimits",
    "LogConfig",
    "AutoRemove",
    "RestartPolicy",
    "IpcMode",
    "ShmSize",
    "Mounts",
    "PortBindings",
    "PublishAllPorts",
    "CgroupnsMode",
}
# Named so that a refusal says what was asked for; all are refused when non-empty.
_HOST_FORBIDDEN = {
    "Binds": "bind mounts are not allowed",
    "VolumesFrom": "VolumesFrom is not allowed",
    "VolumeDriver": "VolumeDriver is not allowed",
    "Devices": "devices are not allowed",
    "DeviceRequests": "device requests (GPUs...) are not allowed",
    "DeviceCgroupRules": "device cgroup rules are not allowed",
    "CapAdd": "CapAdd is not allowed",
    "PidMode": "PidMode (host or another container's PID namespace) is not allowed",
    "UTSMode": "UTSMode is not allowed",
    "UsernsMode": "UsernsMode is not allowed",
    "Sysctls": "Sysctls are not allowed",
    "OomKillDisable": "OomKillDisable is not allowed",
    "ExtraHosts": "ExtraHosts is not allowed",
    "Links": "Links are not allowed",
    "CgroupParent": "CgroupParent is not allowed",
    "Cgroup": "Cgroup is not allowed",
    "GroupAdd": "GroupAdd is not allowed",
    "Isolation": "Isolation is not allowed",
    "MaskedPaths": "MaskedPaths overrides are not allowed",
    "ReadonlyPaths": "ReadonlyPaths overrides are not allowed",
    "DnsOptions": "DnsOptions is not allowed",
    "DnsSearch": "DnsSearch is not allowed",
    "ContainerIDFile": "ContainerIDFile is not allowed",
    "OomScoreAdj": "OomScoreAdj is not allowed",
    "MemorySwappiness": "MemorySwappiness is not allowed",
    "KernelMemory": "KernelMemory is not allowed",
    "CpuQuota": "CpuQuota is not allowed (NanoCpus is the CPU cap)",
    "CpuPeriod": "CpuPeriod is not allowed (NanoCpus is the CPU cap)",
    "CpuRealtimePeriod": "CpuRealtimePeriod is not allowed",
    "CpuRealtimeRuntime": "CpuRealtimeRuntime is not allowed",
    "Init": "Init is not allowed",
    "StorageOpt": "StorageOpt is not allowed",
}
_ULIMITS_REQUIRED = {"core": 0, "msgqueue": 0}
_ULIMITS_ALLOWED_MAX = {"core": 0, "msgqueue": 0, "nofile": NOFILE_MAX}
_TMPFS_FLAGS = {"rw", "nosuid", "nodev", "noexec"}
_SIZE = re.compile(r"([0-9]{1,12})([kmg]?)")


def _empty(value: Any) -> bool:
    """Null, false, 0 or "": what a key that is not set looks like.

    Empty collections are NOT empty here: dockerd tells a nil slice from an empty one in places
    (``"MaskedPaths": []`` unmasks /proc/kcore and friends), so an unlisted key must be absent
    or a scalar zero.
    """
    return value is None or value is False or (type(value) is int and value == 0) or value == ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size_bytes(text: str) -> int | None:
    m = _SIZE.fullmatch(text.strip().lower())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[m.group(2)]


def _struct_keys(obj: dict[str, Any], where: str, out: list[str]) -> None:
    """Refuse keys that Go's case-insensitive JSON decoding could merge with another key.

    dockerd decodes with encoding/json, which matches struct fields case-insensitively (with
    Unicode folding), so ``"privileged": true`` would set Privileged. Keys are compared exactly
    here, so two keys that fold to the same name, or a non-ASCII key, are refused outright.
    """
    seen: dict[str, str] = {}
    for key in obj:
        if not key.isascii():
            out.append(f"{where}: non-ASCII key {key!r} is not allowed")
        folded = key.casefold()
        if folded in seen:
            out.append(f"{where}: keys {seen[folded]!r} and {key!r} differ only in case")
        seen[folded] = key


def _parse_user(user: Any) -> tuple[int, int] | None:
    if not isinstance(user, str):
        return None
    m = re.fullmatch(r"([0-9]{1,10}):([0-9]{1,10})", user)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def check_create_body(
    body: dict[str, Any],
    *,
    deployment: str,
    allowed_images: set[str] | None = None,
    max_limits: SandboxLimits = DEFAULT_LIMITS,
    allowed_runtimes: frozenset[SandboxRuntime] = frozenset({SandboxRuntime.runc}),
) -> list[str]:
    """Every way `body` breaks the hardening policy; an empty list means it may be created.

    `deployment` is the checking proxy's deployment id, which the body's labels must carry;
    `allowed_runtimes` its deployment's runtime allow-list (C1, C2)."""
    v: list[str] = []
    if not isinstance(body, dict):
        return ["the create body must be a JSON object"]
    _struct_keys(body, "body", v)

    for key, value in body.items():
        if key not in _TOP_CHECKED and key not in _TOP_HARMLESS and not _empty(value):
            v.append(f"{key} is not allowed")
    for key in _TOP_HARMLESS:
        value = body.get(key)
        if value is not None and not isinstance(value, str | int | bool):
            v.append(f"{key} must be a scalar")

    image = body.get("Image")
    if not isinstance(image, str) or not image:
        v.append("Image is required")
    elif allowed_images is not None and image not in allowed_images:
        v.append(f"image {image!r} is not an allowed runtime image")
    for key in ("Cmd", "Entrypoint"):
        value = body.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(c, str) for c in value)
        ):
            v.append(f"{key} must be a list of strings")
    if not body.get("Cmd"):
        v.append("Cmd is required")
    env = body.get("Env")
    if env is not None and not (isinstance(env, list) and all(isinstance(e, str) for e in env)):
        v.append("Env must be a list of strings")
    if body.get("WorkingDir") not in (None, "", WORKSPACE):
        v.append(f"WorkingDir must be {WORKSPACE}")
    if body.get("Volumes") not in (None, {}):
        v.append("Volumes (anonymous volumes) are not allowed")

    uid_gid = _parse_user(body.get("User"))
    if uid_gid is None:
        v.append(f"User must be numeric uid:gid {SANDBOX_USER} (got {body.get('User')!r})")
    elif uid_gid != (SANDBOX_UID, SANDBOX_UID):
        v.append(f"User must be {SANDBOX_USER}; uid/gid 0 (root) or others are refused")

    # Labels: ours, complete, well-formed; they also tell the job's id and network mode.
    labels = body.get("Labels")
    job_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    mode: str | None = None
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in labels.items()
    ):
        v.append("Labels with the dev.offcoder.* labels are required")
        labels = {}
    else:
        if labels.get(LABEL_MANAGED) != "1":
            v.append(f"label {LABEL_MANAGED}=1 is required")
        if labels.get(LABEL_DEPLOYMENT) != deployment:
            v.append(f"label {LABEL_DEPLOYMENT} must be this deployment's id, {deployment}")
        try:
            job_id = uuid.UUID(labels.get(LABEL_JOB_ID, ""))
            if str(job_id) != labels[LABEL_JOB_ID]:
                raise ValueError
        except ValueError:
            job_id = None
            v.append(f"label {LABEL_JOB_ID} must be a job UUID")
        if not _OWNER_TAG.fullmatch(labels.get(LABEL_OWNER, "")):
            v.append(f"label {LABEL_OWNER} must be a hex hash")
        mode = labels.get(LABEL_NETWORK)
        if mode not in {m.value for m in NetworkMode}:
            v.append(f"label {LABEL_NETWORK} must be one of none/preview/egress")
            mode = None
        if LABEL_PROJECT in labels:
            project_id = _canonical_uuid(labels[LABEL_PROJECT])
            if project_id is None:
                v.append(f"label {LABEL_PROJECT} must be a project UUID")
        known = {
            LABEL_MANAGED,
            LABEL_DEPLOYMENT,
            LABEL_JOB_ID,
            LABEL_OWNER,
            LABEL_NETWORK,
            LABEL_PROJECT,
        }
        for key in labels:
            if key not in known:
                v.append(f"label {key!r} is not allowed")

    hc = body.get("HostConfig")
    if not isinstance(hc, dict):
        v.append("HostConfig is required")
        return v
    _struct_keys(hc, "HostConfig", v)
    for key, value in hc.items():
        if key in _HOST_CHECKED:
            continue
        if key in _HOST_FORBIDDEN:
            if not _empty(value):
                v.append(_HOST_FORBIDDEN[key])
        elif not _empty(value):
            v.append(f"HostConfig.{key} is not allowed")

    # Named, on the allow-list, and the name for the job's network mode: gVisor's offline
    # registration for a job with no network, its networked one otherwise.
    runtime = hc.get("Runtime")
    allowed_names = (
        engine_runtimes(set(allowed_runtimes))
        if mode is None
        else {engine_runtime(r, NetworkMode(mode)) for r in allowed_runtimes}
    )
    if runtime not in allowed_names:
        v.append(
            f"Runtime {runtime!r} is not on this deployment's allow-list for "
            f"{mode or 'this'} jobs ({', '.join(sorted(allowed_names))})"
        )
    # Exactly false: `0 in (None, False)` is true in Python, and what the engine makes of a
    # number there is its business, not a thing this check should leave to it.
    if hc.get("Privileged", False) is not False:
        v.append("Privileged must be absent or false")
    if hc.get("CapDrop") != ["ALL"]:
        v.append('CapDrop must be exactly ["ALL"]')
    if hc.get("SecurityOpt") not in (
        ["no-new-privileges"],
        ["no-new-privileges:true"],
        ["no-new-privileges=true"],
    ):
        v.append('SecurityOpt must be exactly ["no-new-privileges"] (default seccomp/AppArmor)')
    if hc.get("ReadonlyRootfs") is not True:
        v.append("ReadonlyRootfs must be true")
    if hc.get("AutoRemove") not in (None, False):
        v.append("AutoRemove must be false (the runtime removes containers itself)")
    restart = hc.get("RestartPolicy")
    if restart not in (None, {}) and not (
        isinstance(restart, dict)
        and restart.get("Name") in ("", "no")
        and all(
            k in ("Name", "MaximumRetryCount") and (k == "Name" or _empty(x))
            for k, x in restart.items()
        )
    ):
        v.append('RestartPolicy must be "no"')
    if hc.get("CgroupnsMode") != "private":
        v.append('CgroupnsMode must be "private" (not the host\'s cgroup namespace)')
    if not _empty(hc.get("PublishAllPorts")):
        v.append("PublishAllPorts is not allowed")

    # Limits: present, positive, and no higher than the policy's.
    pids = _int(hc.get("PidsLimit"))
    if pids is None or not 0 < pids <= max_limits.pids:
        v.append(f"PidsLimit must be between 1 and {max_limits.pids}")
    memory = _int(hc.get("Memory"))
    if memory is None or not 0 < memory <= max_limits.memory_bytes:
        v.append(f"Memory must be set, at most {max_limits.memory_bytes} bytes")
    if _int(hc.get("MemorySwap")) is None or hc.get("MemorySwap") != hc.get("Memory"):
        v.append("MemorySwap must equal Memory (no swap)")
    cpus = _int(hc.get("NanoCpus"))
    if cpus is None or not 0 < cpus <= max_limits.nano_cpus:
        v.append(f"NanoCpus must be set, at most {max_limits.nano_cpus}")

    # IPC and /dev/shm.
    ipc = hc.get("IpcMode")
    shm = hc.get("ShmSize")
    if ipc == "none":
        if not _empty(shm):
            v.append("ShmSize needs IpcMode private")
    elif ipc == "private":
        size = _int(shm)
        if size is None or not 0 < size <= max(max_limits.shm_bytes, MiB):
            v.append("IpcMode private needs a small ShmSize")
    else:
        v.append('IpcMode must be "none" or "private" (no host or shared IPC namespace)')

    # Ulimits: core and msgqueue at 0 (no core files, no writable /dev/mqueue), open files
    # capped.
    ulimits = hc.get("Ulimits")
    seen_limits: dict[str, int] = {}
    if not isinstance(ulimits, list):
        v.append(f"Ulimits core=0, msgqueue=0 and nofile <= {NOFILE_MAX} are required")
    else:
        for item in ulimits:
            if not isinstance(item, dict) or set(item) - {"Name", "Soft", "Hard"}:
                v.append("malformed Ulimits entry")
                continue
            name, soft, hard = item.get("Name"), _int(item.get("Soft")), _int(item.get("Hard"))
            if name not in _ULIMITS_ALLOWED_MAX or soft is None or hard is None:
                v.append(f"ulimit {name!r} is not allowed")
            elif not 0 <= soft <= hard <= _ULIMITS_ALLOWED_MAX[name]:
                v.append(f"ulimit {name} must be at most {_ULIMITS_ALLOWED_MAX[name]}")
            else:
                seen_limits[name] = hard
        for name, value in _ULIMITS_REQUIRED.items():
            if seen_limits.get(name) != value:
                v.append(f"ulimit {name}={value} is required")
        if "nofile" not in seen_limits:
            v.append(f"ulimit nofile (at most {NOFILE_MAX}) is required")

    # Writable paths: /tmp tmpfs only, capped.
    tmpfs = hc.get("Tmpfs")
    if not isinstance(tmpfs, dict) or set(tmpfs) != {TMP}:
        v.append(f"Tmpfs must be exactly {{{TMP!r}: ...}}")
    else:
        opts = tmpfs[TMP]
        parts = opts.split(",") if isinstance(opts, str) else []
        flags = {p for p in parts if "=" not in p}
        sizes = [p.split("=", 1)[1] for p in parts if p.startswith("size=")]
        others = [p for p in parts if "=" in p and not p.startswith("size=")]
        size = _size_bytes(sizes[0]) if len(sizes) == 1 else None
        if (
            others
            or not flags <= _TMPFS_FLAGS
            or not {"nosuid", "nodev"} <= flags
            or size is None
            or not 0 < size <= max_limits.tmp_bytes
        ):
            v.append(f"Tmpfs {TMP} must be rw,nosuid,nodev with size <= {max_limits.tmp_bytes}")

    # Logs: bounded json-file on the host, or none.
    log = hc.get("LogConfig")
    if not isinstance(log, dict) or set(log) - {"Type", "Config"}:
        v.append("LogConfig json-file (bounded) or none is required")
    elif log.get("Type") == "none":
        if not _empty(log.get("Config")):
            v.append("LogConfig none takes no Config")
    elif log.get("Type") == "json-file":
        cfg = log.get("Config")
        max_size = _size_bytes(str(cfg.get("max-size", ""))) if isinstance(cfg, dict) else None
        if (
            not isinstance(cfg, dict)
            or set(cfg) - {"max-size", "max-file"}
            or cfg.get("max-file") != "1"
            or max_size is None
            or not 0 < max_size <= LOG_MAX_BYTES
        ):
            v.append(f"LogConfig json-file needs max-size <= {LOG_MAX_SIZE} and max-file 1")
    else:
        v.append("LogConfig type must be json-file or none (no log shipping from the host)")

    # Mounts: nothing, or exactly this job's provisioned workspace, then at most one dependency
    # layer (its volume's labels are the proxy's to match against this body's).
    mounts = hc.get("Mounts")
    if mounts not in (None, []):
        ok = (
            isinstance(mounts, list)
            and len(mounts) in (1, 2)
            and all(isinstance(m, dict) for m in mounts)
            and job_id is not None
        )
        if ok:
            _struct_keys(mounts[0], "Mounts[0]", v)
            ok = _is_workspace_mount(mounts[0], job_id)  # type: ignore[arg-type]
        if not ok:
            v.append(
                "Mounts may hold only this job's provisioned workspace volume at /workspace, "
                "then one dependency layer"
            )
        elif len(mounts) == 2:
            _struct_keys(mounts[1], "Mounts[1]", v)
            v.extend(_layer_mount_problems(mounts[1], job_id, project_id))  # type: ignore[arg-type]

    # DNS (review F5): pinned to the sandbox's own loopback in every mode; no search domain,
    # options or host entries (forbidden above) beside it.
    if hc.get("Dns") != list(SANDBOX_DNS):
        v.append(f"Dns must be exactly {list(SANDBOX_DNS)} (no lookup leaves the sandbox)")

    # Network: none, or the job's own network when the labels say preview/egress.
    net = hc.get("NetworkMode")
    if mode in (None, NetworkMode.none.value):
        if net != "none":
            v.append('NetworkMode must be "none"')
    elif job_id is None or net != job_network_name(job_id):
        v.append(f"a {mode} job may join only its own network")
    netcfg = body.get("NetworkingConfig")
    if netcfg not in (None, {}):
        endpoints = netcfg.get("EndpointsConfig") if isinstance(netcfg, dict) else None
        if (
            not isinstance(netcfg, dict)
            or set(netcfg) != {"EndpointsConfig"}
            or not isinstance(endpoints, dict)
            or set(endpoints) - {net}
            or net == "none"
            or not all(
                isinstance(e, dict | type(None)) and _empty_struct(e) for e in endpoints.values()
            )
        ):
            v.append("NetworkingConfig may name only the job's own network, with no settings")

    # Ports: preview only, bound to 127.0.0.1, only exposed ports.
    exposed = body.get("ExposedPorts")
    bindings = hc.get("PortBindings")
    if exposed not in (None, {}) or bindings not in (None, {}):
        if mode != NetworkMode.preview.value:
            v.append("ports are exposed only for preview jobs")
        exposed_keys = set(exposed) if isinstance(exposed, dict) else set()
        if not all(_PORT_KEY.fullmatch(k) for k in exposed_keys):
            v.append("ExposedPorts must be tcp ports")
        if bindings not in (None, {}):
            if not isinstance(bindings, dict):
                v.append("malformed PortBindings")
            else:
                for key, binds in bindings.items():
                    if key not in exposed_keys:
                        v.append(f"port {key} is bound but not exposed")
                    for b in binds if isinstance(binds, list) else [None]:
                        if (
                            not isinstance(b, dict)
                            or set(b) - {"HostIp", "HostPort"}
                            or b.get("HostIp") != "127.0.0.1"
                            or not re.fullmatch(r"|[0-9]{4,5}", str(b.get("HostPort") or ""))
                            or (b.get("HostPort") and not 1024 <= int(b["HostPort"]) <= 65535)
                        ):
                            v.append(f"port {key} may be bound only on 127.0.0.1, port >= 1024")
    return v


def _canonical_uuid(text: str) -> uuid.UUID | None:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    return value if str(value) == text else None


def _plain_volume_mount(m: dict[str, Any]) -> bool:
    vol_opts = m.get("VolumeOptions")
    return (
        m.get("Type") == "volume"
        and set(m) <= {"Type", "Source", "Target", "ReadOnly", "VolumeOptions"}
        and (_empty(vol_opts) or (isinstance(vol_opts, dict) and set(vol_opts) <= {"NoCopy"}))
    )


def _is_workspace_mount(m: dict[str, Any], job_id: uuid.UUID) -> bool:
    return (
        _plain_volume_mount(m)
        and m.get("Source") == workspace_volume_name(job_id)
        and m.get("Target") == WORKSPACE
        and m.get("ReadOnly") in (None, False)
    )


def layer_mount_source(body: dict[str, Any]) -> str | None:
    """The dependency layer volume a (checked) create body mounts, if any."""
    mounts = (body.get("HostConfig") or {}).get("Mounts") or []
    return str(mounts[1]["Source"]) if len(mounts) == 2 else None


def _layer_mount_problems(
    m: dict[str, Any], job_id: uuid.UUID, project_id: uuid.UUID | None
) -> list[str]:
    source = m.get("Source")
    builder = layer_builder(source) if isinstance(source, str) else None
    if not _plain_volume_mount(m) or builder is None or m.get("Target") not in DEPENDENCY_TARGETS:
        return [
            "the second mount may be only a dependency layer volume at one of "
            + ", ".join(sorted(DEPENDENCY_TARGETS))
        ]
    problems = []
    if project_id is None:
        problems.append(f"a job mounting a dependency layer needs its {LABEL_PROJECT} label")
    read_only = m.get("ReadOnly")
    if not isinstance(read_only, bool):
        problems.append("a dependency layer mount says ReadOnly true or false")
    elif not read_only and builder != job_id:
        problems.append("a dependency layer is writable only in the install job that builds it")
    return problems


def _empty_struct(obj: dict[str, Any] | None) -> bool:
    return obj is None or all(_empty(x) for x in obj.values())


# ---------------------------------------------------------------------------------------------
# The egress gateway's configuration rules (C5). The proxy checks a gateway request with these
# before it makes anything; the gateway program checks its configuration again with its own
# copy, because it runs alone in its container on the standard library
# (runtime/sandbox/egress_gateway.py). tests/runtime/test_egress_gateway.py runs both on the
# same cases.

_HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})+")


class GatewayConfigError(ValueError):
    """An egress allow-list or port list that does not follow the rules."""


def is_hostname(name: str) -> bool:
    """A DNS host name of two labels or more, lowercase, no IP literal, no trailing dot."""
    if len(name) > 253 or not _HOSTNAME.fullmatch(name):
        return False
    if name.rsplit(".", 1)[1].isdigit():  # 10.0.0.1, 127.1 ... are addresses, not names
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return True
    return False


def validate_allow_list(entries: object) -> list[str]:
    """The allow-list, or GatewayConfigError: host names only, a leading ``*.`` the only
    wildcard."""
    if not isinstance(entries, list) or not entries:
        raise GatewayConfigError("the allow-list is a non-empty list of host names")
    if len(entries) > GATEWAY_MAX_ALLOW_ENTRIES:
        raise GatewayConfigError(f"the allow-list has at most {GATEWAY_MAX_ALLOW_ENTRIES} entries")
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise GatewayConfigError("allow-list entries are strings")
        name = entry[2:] if entry.startswith("*.") else entry
        if not is_hostname(name):
            raise GatewayConfigError(f"not a host name or *.host name pattern: {entry!r}")
        if entry not in out:
            out.append(entry)
    return out


def validate_ports(ports: object) -> list[int]:
    """The extra ports, or GatewayConfigError: at most a few TCP port numbers."""
    if not isinstance(ports, list) or len(ports) > GATEWAY_MAX_EXTRA_PORTS:
        raise GatewayConfigError(
            f"extra ports are a list of at most {GATEWAY_MAX_EXTRA_PORTS} port numbers"
        )
    out: list[int] = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise GatewayConfigError(f"not a port number: {port!r}")
        if port not in out:
            out.append(port)
    return out
