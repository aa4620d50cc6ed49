"""Stand-ins for outside hosts, for egress tests: tiny HTTP servers in containers of ours on the
shared egress bridge (``offcoder-egress``), under host names of our choosing.

Network rule: an egress job's gateway reaches them by their alias on that bridge, a private
docker network made during the run; nothing leaves the machine. Their addresses are private,
so the proxy of a test using them runs with ``OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE=1``
(`egress_proxy`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import APIError, NotFound

from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.proxy.gateway import EGRESS_NETWORK, egress_network_body
from tests.support.runtime import docker_proxy

TEST_LABEL = "dev.offcoder.test"


@contextlib.contextmanager
def egress_proxy(directory: Path, *, runtimes: str | None = None) -> Iterator[str]:
    """A proxy of the test's own whose gateways may reach the stand-ins' private addresses;
    `runtimes`: its allow-list of sandbox runtimes, else the default (runc)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE", "1")
        with docker_proxy(directory, runtimes=runtimes) as socket_path:
            env.undo()
            yield socket_path


@contextlib.contextmanager
def stand_ins(servers: dict[str, tuple[str, dict[str, str]]]) -> Iterator[dict[str, str]]:
    """Containers on the egress bridge, each {alias: (python program, environment)}, run in
    the python runtime image as uid 10001; answers {alias: its address on the bridge}."""
    engine = docker.from_env()
    created_network = False
    started: list[str] = []
    try:
        try:
            engine.networks.get(EGRESS_NETWORK)
        except NotFound:
            body = egress_network_body()
            with contextlib.suppress(APIError):  # made meanwhile by a proxy: same body
                engine.networks.create(
                    EGRESS_NETWORK,
                    driver=body["Driver"],
                    options=body["Options"],
                    labels=body["Labels"],
                    internal=False,
                    check_duplicate=True,
                )
                created_network = True
        api = engine.api
        addresses: dict[str, str] = {}
        for alias, (program, environment) in servers.items():
            container = api.create_container(
                IMAGES["python"],
                ["python3", "-c", program],
                user="10001:10001",
                environment=environment,
                labels={TEST_LABEL: "1"},
                host_config=api.create_host_config(
                    network_mode=EGRESS_NETWORK,
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    read_only=True,
                    pids_limit=32,
                    mem_limit="64m",
                ),
                networking_config=api.create_networking_config(
                    {EGRESS_NETWORK: api.create_endpoint_config(aliases=[alias])}
                ),
            )
            started.append(container["Id"])
            api.start(container["Id"])
            info = api.inspect_container(container["Id"])
            addresses[alias] = info["NetworkSettings"]["Networks"][EGRESS_NETWORK]["IPAddress"]
        yield addresses
    finally:
        for container_id in started:
            with contextlib.suppress(NotFound):
                engine.api.remove_container(container_id, force=True)
        if created_network:
            with contextlib.suppress(APIError):  # still in use by someone's gateway: it stays
                engine.networks.get(EGRESS_NETWORK).remove()
        engine.close()
