"""Per-job networks for preview and egress mode (C5), made by the proxy with fixed options.

The proxy creates these itself instead of forwarding a client's network-create body, so no
caller can choose a driver, a parent interface, a subnet of the host's, or turn isolation off.

- preview: a bridge of its own with inter-container traffic off and no IP masquerade (so no
  route to the outside world), published ports bound to 127.0.0.1 only.
- egress: an internal bridge (no route out at all); the only way out is the filtering HTTP(S)
  gateway attached to the same network (``gateway.py``). Inter-container traffic is on
  here, as the job must reach its gateway; the job and its gateway are all there is on it.
"""

from __future__ import annotations

import uuid
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


class JobNetworks:
    def __init__(self, engine: EngineClient, deployment: str) -> None:
        self.engine = engine
        self.deployment = deployment

    async def provision(self, job_id: uuid.UUID, mode: NetworkMode) -> str:
        status, data = await self.engine.request(
            "POST", "/networks/create", network_body(job_id, mode, self.deployment)
        )
        if status != 201:
            raise NetworkError(f"network create answered {status}: {data}")
        log.info("job network created", job_id=str(job_id), mode=mode.value)
        return job_network_name(job_id)

    async def teardown(self, job_id: uuid.UUID) -> bool:
        name = job_network_name(job_id)
        net = await self.engine.inspect("networks", name)
        # Another deployment's network of that name is left as if absent.
        if net is None or not is_ours(net.get("Labels"), self.deployment, job_id):
            return False
        status, data = await self.engine.request("DELETE", f"/networks/{name}")
        if status not in (204, 404):
            raise NetworkError(f"network remove answered {status}: {data}")
        return status == 204
