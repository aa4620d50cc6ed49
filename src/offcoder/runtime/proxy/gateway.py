"""Per-job egress gateways (C5), made by the proxy itself with fixed, hardened settings.

An egress job sits on its own *internal* bridge (`network.py`): no route out. The only way out
is this gateway, a container running `runtime/sandbox/egress_gateway.py` (our filtering HTTP(S)
proxy), attached to the job's network with the alias ``egress-gateway`` and to the shared bridge
``offcoder-egress`` (masquerade on: the one network with a route out, and nothing but gateways
of ours on it; it is shared by the deployments on the engine, belongs to none and is never
removed). The caller gives only the allow-list and extra ports, validated strictly;
everything else is fixed here. Whether private addresses may be reached is the proxy's own
setting (``OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE``, tests only), never the caller's.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from importlib.resources import files
from typing import Any

import structlog

from offcoder.runtime.policy import (
    GATEWAY_ALIAS,
    GATEWAY_READY_LINE,
    LABEL_MANAGED,
    LABEL_NETWORK,
    LOG_MAX_SIZE,
    SANDBOX_USER,
    GatewayConfigError,
    NetworkMode,
    deployment_labels,
    is_ours,
    job_network_name,
    validate_allow_list,
    validate_ports,
)
from offcoder.runtime.proxy.engine import EngineClient

log = structlog.get_logger(__name__)

LABEL_ROLE = "dev.offcoder.role"
ROLE_GATEWAY = "gateway"
ROLE_EGRESS = "egress"
EGRESS_NETWORK = "offcoder-egress"
DEFAULT_GATEWAY_IMAGE = "offcoder/python:current"
READY_TIMEOUT_S = 10.0
MAX_BODY = 16 * 1024

EGRESS_NETWORK_OPTIONS = {
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
}


class GatewayError(Exception):
    """Creating or removing a gateway failed, or the request was malformed; says why."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


def gateway_name(job_id: uuid.UUID) -> str:
    return f"offcoder-gw-{job_id}"


def egress_network_body() -> dict[str, Any]:
    """The shared egress bridge: the only network of ours with a route out."""
    return {
        "Name": EGRESS_NETWORK,
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Internal": False,
        "Attachable": False,
        "EnableIPv6": False,
        "Options": dict(EGRESS_NETWORK_OPTIONS),
        "Labels": {LABEL_MANAGED: "1", LABEL_ROLE: ROLE_EGRESS},
    }


def parse_request(raw: bytes) -> tuple[list[str], list[int]]:
    """``{"AllowHosts": [...], "ExtraPorts": [...]}``, strictly; GatewayError(400) otherwise."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise GatewayError(f"duplicate key {key!r}", 400)
            out[key] = value
        return out

    try:
        data = json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as exc:
        raise GatewayError(f"the gateway body is not valid JSON: {exc}", 400) from exc
    if not isinstance(data, dict) or not set(data) <= {"AllowHosts", "ExtraPorts"}:
        raise GatewayError("the gateway body has AllowHosts and optional ExtraPorts only", 400)
    try:
        allow = validate_allow_list(data.get("AllowHosts"))
        ports = validate_ports(data.get("ExtraPorts", []))
    except GatewayConfigError as exc:
        raise GatewayError(str(exc), 400) from exc
    return allow, ports


# The program each gateway container runs, read as a resource and never imported: the proxy
# runs none of the code it hands to containers (decision 0011).
GATEWAY_PROGRAM = files("offcoder.runtime") / "sandbox" / "egress_gateway.py"


def gateway_program() -> str:
    return GATEWAY_PROGRAM.read_text(encoding="utf-8")


def gateway_body(
    job_id: uuid.UUID,
    image: str,
    allow: list[str],
    ports: list[int],
    *,
    allow_private: bool,
    deployment: str,
) -> dict[str, Any]:
    config = json.dumps({"allow": allow, "ports": ports, "allow_private": allow_private})
    network = job_network_name(job_id)
    return {
        "Image": image,
        "Entrypoint": ["python3"],
        "Cmd": ["-I", "-S", "-c", gateway_program()],
        "Env": [f"OFFCODER_GATEWAY_CONFIG={config}", "PYTHONDONTWRITEBYTECODE=1"],
        "User": SANDBOX_USER,
        "WorkingDir": "/",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "OpenStdin": False,
        "Tty": False,
        "Labels": {**deployment_labels(deployment, job_id), LABEL_ROLE: ROLE_GATEWAY},
        "HostConfig": {
            "NetworkMode": network,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Privileged": False,
            "ReadonlyRootfs": True,
            "PidsLimit": 32,
            "Memory": 128 * 1024 * 1024,
            "MemorySwap": 128 * 1024 * 1024,
            "NanoCpus": 500_000_000,
            "IpcMode": "none",
            "Ulimits": [
                {"Name": "core", "Soft": 0, "Hard": 0},
                {"Name": "nofile", "Soft": 1024, "Hard": 1024},
            ],
            "LogConfig": {
                "Type": "json-file",
                "Config": {"max-size": LOG_MAX_SIZE, "max-file": "1"},
            },
            "AutoRemove": False,
            "RestartPolicy": {"Name": "no"},
        },
        "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": [GATEWAY_ALIAS]}}},
    }


class Gateways:
    def __init__(
        self, engine: EngineClient, *, deployment: str, image: str, allow_private: bool
    ) -> None:
        self.engine = engine
        self.deployment = deployment
        self.image = image
        self.allow_private = allow_private
        self._lock = asyncio.Lock()

    async def _egress_network(self) -> str:
        """The shared egress bridge, created on first use; refused if someone else's."""
        async with self._lock:
            net = await self.engine.inspect("networks", EGRESS_NETWORK)
            if net is None:
                status, data = await self.engine.request(
                    "POST", "/networks/create", egress_network_body()
                )
                if status not in (201, 409):
                    raise GatewayError(f"egress network create answered {status}: {data}")
                net = await self.engine.inspect("networks", EGRESS_NETWORK)
            labels = (net or {}).get("Labels") or {}
            options = (net or {}).get("Options") or {}
            if (
                net is None
                or labels.get(LABEL_MANAGED) != "1"
                or labels.get(LABEL_ROLE) != ROLE_EGRESS
                or net.get("Driver") != "bridge"
                or net.get("Internal")
                or any(options.get(k) != v for k, v in EGRESS_NETWORK_OPTIONS.items())
            ):
                raise GatewayError(f"network {EGRESS_NETWORK} exists and is not ours", 409)
            return str(net["Id"])

    async def provision(self, job_id: uuid.UUID, allow: list[str], ports: list[int]) -> str:
        network = await self.engine.inspect("networks", job_network_name(job_id))
        labels = (network or {}).get("Labels") or {}
        if (
            network is None
            or not is_ours(labels, self.deployment, job_id)
            or labels.get(LABEL_NETWORK) != NetworkMode.egress.value
            or not network.get("Internal")
        ):
            raise GatewayError("the job has no internal egress network of ours", 409)
        egress_id = await self._egress_network()
        body = gateway_body(
            job_id,
            self.image,
            allow,
            ports,
            allow_private=self.allow_private,
            deployment=self.deployment,
        )
        name = gateway_name(job_id)
        status, data = await self.engine.request("POST", "/containers/create", body, {"name": name})
        if status != 201:
            raise GatewayError(f"gateway create answered {status}: {data}", 409)
        container = str(data["Id"])
        try:
            status, data = await self.engine.request(
                "POST", f"/networks/{egress_id}/connect", {"Container": container}
            )
            if status != 200:
                raise GatewayError(f"gateway connect answered {status}: {data}")
            status, data = await self.engine.request("POST", f"/containers/{container}/start")
            if status not in (204, 304):
                raise GatewayError(f"gateway start answered {status}: {data}")
            await self._ready(container)
        except BaseException:
            await self.engine.request("DELETE", f"/containers/{container}", query={"force": "1"})
            raise
        log.info("egress gateway started", job_id=str(job_id), hosts=len(allow))
        return name

    async def _ready(self, container: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            status, data = await self.engine.request(
                "GET", f"/containers/{container}/logs", query={"stdout": "1", "stderr": "1"}
            )
            if status == 200 and GATEWAY_READY_LINE in str(data):
                return
            state = await self.engine.inspect("containers", container)
            if state is None or not (state.get("State") or {}).get("Running"):
                raise GatewayError(f"the gateway exited: {str(data)[-300:]}")
            await asyncio.sleep(0.05)
        raise GatewayError("the gateway did not become ready")

    async def teardown(self, job_id: uuid.UUID) -> bool:
        name = gateway_name(job_id)
        data = await self.engine.inspect("containers", name)
        labels = ((data or {}).get("Config") or {}).get("Labels") or {}
        # Another deployment's container of that name is left as if absent.
        if (
            data is None
            or not is_ours(labels, self.deployment, job_id)
            or labels.get(LABEL_ROLE) != ROLE_GATEWAY
        ):
            return False
        status, body = await self.engine.request(
            "DELETE", f"/containers/{data['Id']}", query={"force": "1"}
        )
        if status not in (204, 404):
            raise GatewayError(f"gateway remove answered {status}: {body}")
        log.info("egress gateway removed", job_id=str(job_id))
        return status == 204
