"""Per-job networks for preview and egress mode (C5), made by the proxy with fixed options.

The proxy creates these itself instead of forwarding a client's network-create body, so no
caller can choose a driver, a parent interface, a subnet of the host's, or turn isolation off.

- preview: a bridge of its own with inter-container traffic off and no IP masquerade (so no
  route to the outside world), published ports bound to 127.0.0.1 only.
- egress: an internal bridge (no route out at all); the only way out is the filtering HTTP(S)
  gateway attached to the same network (``gateway.py``). Inter-container traffic is on
  here, as the job must reach its gateway; the job and its gateway are all there is on it.

Both are walled off the Docker host itself (``hostwall.py``) before anything runs on them, and
the wall comes down with the network.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import structlog

from offcoder.runtime.policy import (
    LABEL_NETWORK,
    NetworkMode,
    deployment_labels,
    is_ours,
    job_network_name,
)
from offcoder.runtime.proxy.engine import EngineClient
from offcoder.runtime.proxy.hostwall import HostWall, HostWallError

log = structlog.get_logger(__name__)


class NetworkError(Exception):
    """Creating or removing a job network failed; the message says why."""


def network_body(job_id: uuid.UUID, mode: NetworkMode, deployment: str) -> dict[str, Any]:
    if mode is NetworkMode.none:
        raise NetworkError("a job in network mode none has no network")
    egress = mode is NetworkMode.egress
    return {
        "Name": job_network_name(job_id),
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Internal": egress,
        "Attachable": False,
        "EnableIPv6": False,
        "Options": {
            # egress: the job must reach its gateway on this network, and nothing else is on it.
            "com.docker.network.bridge.enable_icc": "true" if egress else "false",
            "com.docker.network.bridge.enable_ip_masquerade": "false",
            "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
        },
        "Labels": {**deployment_labels(deployment, job_id), LABEL_NETWORK: mode.value},
    }


def bridge_name(network: dict[str, Any]) -> str:
    """The host interface of a bridge network, as the engine names it when no name is given."""
    options = network.get("Options") or {}
    return str(options.get("com.docker.network.bridge.name") or "br-" + str(network["Id"])[:12])


class JobNetworks:
    def __init__(self, engine: EngineClient, deployment: str) -> None:
        self.engine = engine
        self.deployment = deployment
        self.wall = HostWall(deployment)

    async def provision(self, job_id: uuid.UUID, mode: NetworkMode) -> str:
        name = job_network_name(job_id)
        status, data = await self.engine.request(
            "POST", "/networks/create", network_body(job_id, mode, self.deployment)
        )
        if status != 201:
            raise NetworkError(f"network create answered {status}: {data}")
        try:
            net = await self.engine.inspect("networks", name)
            if net is None:
                raise NetworkError(f"the network {name} vanished right after its creation")
            bridge = bridge_name(net)
            if not await asyncio.to_thread(Path("/sys/class/net", bridge).exists):
                raise NetworkError(
                    f"the bridge {bridge} is not in the proxy's network namespace: the proxy "
                    "must run in the Docker host's own to wall job networks off the host"
                )
            await self.wall.install(job_id, bridge)
        except (NetworkError, HostWallError, OSError) as exc:
            # No network without its wall: nothing may run on it.
            await self.engine.request("DELETE", f"/networks/{name}")
            raise NetworkError(f"the job network could not be walled off the host: {exc}") from exc
        log.info("job network created", job_id=str(job_id), mode=mode.value, bridge=bridge)
        return name

    async def is_walled(self, job_id: uuid.UUID, network: dict[str, Any]) -> bool:
        try:
            return await self.wall.is_installed(job_id, bridge_name(network))
        except HostWallError:
            return False

    async def walled_jobs(self) -> set[uuid.UUID]:
        try:
            return await self.wall.jobs()
        except HostWallError as exc:
            raise NetworkError(str(exc)) from exc

    async def teardown(self, job_id: uuid.UUID) -> bool:
        name = job_network_name(job_id)
        net = await self.engine.inspect("networks", name)
        removed = False
        # Another deployment's network of that name is left as if absent.
        if net is not None and is_ours(net.get("Labels"), self.deployment, job_id):
            status, data = await self.engine.request("DELETE", f"/networks/{name}")
            if status not in (204, 404):
                raise NetworkError(f"network remove answered {status}: {data}")
            removed = status == 204
        # After the network only: its wall stands as long as its bridge does. Found by the
        # job's and this deployment's tag, so a wall whose network is already gone goes too.
        try:
            return await self.wall.remove(job_id) > 0 or removed
        except HostWallError as exc:
            raise NetworkError(str(exc)) from exc
