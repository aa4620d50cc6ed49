"""C5: the egress gateway's allow-list matcher, its address filter and its refusals.

Everything here stays on loopback: no name is resolved through real DNS (the allow-list is
checked before any lookup, and lookups are replaced where a test needs one).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from offcoder.runtime import policy
from offcoder.runtime.policy import GATEWAY_PORT, job_network_name
from offcoder.runtime.proxy.gateway import (
    GatewayError,
    gateway_body,
    gateway_program,
    parse_request,
)
from offcoder.runtime.sandbox import egress_gateway as gw

pytestmark = pytest.mark.promise("C5")

# The gateway checks its configuration with its own copy of the rules (it runs alone in its
# container); the proxy checks a gateway request with the policy's. Both get the same cases.
RULES = [
    pytest.param(
        SimpleNamespace(
            allow=gw.validate_allow_list, ports=gw.validate_ports, error=gw.ConfigError
        ),
        id="gateway",
    ),
    pytest.param(
        SimpleNamespace(
            allow=policy.validate_allow_list,
            ports=policy.validate_ports,
            error=policy.GatewayConfigError,
        ),
        id="proxy",
    ),
]


def test_allow_list_matcher() -> None:
    allow = ["pypi.org", "*.pythonhosted.org"]
    assert gw.host_allowed("pypi.org", allow)
    assert gw.host_allowed("PyPI.org", allow)
    assert gw.host_allowed("files.pythonhosted.org", allow)
    assert gw.host_allowed("a.b.pythonhosted.org", allow)
    for host in (
        "pythonhosted.org",  # *.suffix matches names under it, not the suffix itself
        "evilpythonhosted.org",
        "pypi.org.evil.test",
        "evilpypi.org",
        "sub.pypi.org",
        "127.0.0.1",
        "[::1]",
        "",
        "pypi.org:443",
    ):
        assert not gw.host_allowed(host, allow), host


@pytest.mark.parametrize(
    "entries",
    [
        [],
        "pypi.org",
        ["10.0.0.1"],
        ["127.1"],
        ["::1"],
        ["*"],
        ["*.org.*"],
        ["py*.org"],
        ["pypi.org:443"],
        ["localhost"],
        ["PyPI.org"],
        ["pypi.org."],
        ["http://pypi.org"],
        [1],
        [f"h{i}.example.test" for i in range(33)],
    ],
)
@pytest.mark.parametrize("rules", RULES)
def test_allow_list_validation_refuses(rules: SimpleNamespace, entries: Any) -> None:
    with pytest.raises(rules.error):
        rules.allow(entries)


@pytest.mark.parametrize("rules", RULES)
def test_allow_list_validation_accepts(rules: SimpleNamespace) -> None:
    assert rules.allow(["pypi.org", "*.npmjs.org", "pypi.org"]) == ["pypi.org", "*.npmjs.org"]
    assert rules.allow([f"h{i}.example.test" for i in range(32)])
    assert rules.ports([8000, 8000]) == [8000]
    assert rules.ports(list(range(1, 9))) == list(range(1, 9))
    for bad in ([0], [70000], [True], ["80"], list(range(1, 10)), "80"):
        with pytest.raises(rules.error):
            rules.ports(bad)


REFUSED_ALWAYS = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "0.0.0.0",  # noqa: S104
    "::",
    "169.254.169.254",
    "169.254.1.1",
    "fe80::1",
    "fe80::1%eth0",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "fd00:ec2::254",
    "100.100.100.200",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "not-an-address",
]
PRIVATE = ["10.1.2.3", "172.17.0.2", "192.168.1.1", "100.64.0.1", "fd12:3456::1"]
PUBLIC = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
def test_address_filter_refuses_loopback_link_local_and_metadata(address: str) -> None:
    assert not gw.address_allowed(address)
    assert not gw.address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", PRIVATE)
def test_address_filter_refuses_private_unless_relaxed(address: str) -> None:
    assert not gw.address_allowed(address)
    assert gw.address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_address_filter_allows_public(address: str) -> None:
    # Only judged with `ipaddress`: nothing is contacted.
    assert ipaddress.ip_address(address.replace("::ffff:", "")).is_global
    assert gw.address_allowed(address)


def test_gateway_request_body_is_strict() -> None:
    ok = json.dumps({"AllowHosts": ["pypi.org"], "ExtraPorts": [8000]}).encode()
    assert parse_request(ok) == (["pypi.org"], [8000])
    for bad in (
        b"",
        b"[]",
        b'{"AllowHosts": ["pypi.org"], "AllowHosts": ["evil.test"]}',
        b'{"AllowHosts": ["pypi.org"], "AllowPrivate": true}',
        b'{"AllowHosts": ["169.254.169.254"]}',
        b'{"AllowHosts": ["*"]}',
        b'{"ExtraPorts": [22]}',
    ):
        with pytest.raises(GatewayError) as info:
            parse_request(bad)
        assert info.value.status == 400


def test_gateway_container_is_hardened() -> None:
    import uuid

    job = uuid.uuid4()
    body = gateway_body(
        job, "offcoder/python:current", ["a.test"], [], allow_private=False, deployment="dep-1"
    )
    hc = body["HostConfig"]
    assert body["User"] == "10001:10001"
    assert hc["CapDrop"] == ["ALL"] and hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["ReadonlyRootfs"] is True and hc["Privileged"] is False
    assert hc["PidsLimit"] and hc["Memory"] == hc["MemorySwap"]
    assert hc["NetworkMode"] == job_network_name(job)
    assert body["Labels"] == {
        "dev.offcoder.managed": "1",
        "dev.offcoder.deployment": "dep-1",
        "dev.offcoder.job-id": str(job),
        "dev.offcoder.role": "gateway",
    }
    config = next(e for e in body["Env"] if e.startswith("OFFCODER_GATEWAY_CONFIG="))
    assert json.loads(config.split("=", 1)[1])["allow_private"] is False


# ------------------------------------------------------------------ the server, on loopback
@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[int, list[str]]]:
    """A gateway on 127.0.0.1 whose name lookups are faked (and recorded): no real DNS, and
    whose upstream connections are faked too: even with the filter broken, the metadata address
    a fake name resolves to is never contacted (the attempt is recorded and fails the test)."""
    looked_up: list[str] = []
    connects: list[tuple[str, int]] = []

    async def no_upstream(address: str, port: int) -> Any:
        connects.append((address, port))
        raise gw.Refusal(502, "test: no upstream connections")

    monkeypatch.setattr(gw, "_open", no_upstream)
    fake = {"allowed.offcoder.test": "127.0.0.1", "meta.offcoder.test": "169.254.169.254"}

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (fake[host], port))]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    config = gw.Config(
        allow=["allowed.offcoder.test", "meta.offcoder.test"],
        ports=gw.DEFAULT_PORTS | {8000},
        allow_private=True,
    )
    server = await asyncio.start_server(
        lambda r, w: gw.handle_client(config, r, w), "127.0.0.1", 0, limit=gw.HEAD_LIMIT
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, looked_up
        assert connects == [], f"the gateway tried to connect: {connects}"
    finally:
        server.close()
        await server.wait_closed()


async def ask(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"CONNECT denied.offcoder.test:443 HTTP/1.1\r\nHost: x\r\n\r\n", b"403"),
        (b"GET http://denied.offcoder.test/ HTTP/1.1\r\nHost: x\r\n\r\n", b"403"),
        (b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n", b"403"),
        (b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n", b"403"),
        (b"CONNECT allowed.offcoder.test:22 HTTP/1.1\r\n\r\n", b"403"),
        (b"CONNECT allowed.offcoder.test:443 HTTP/1.1\r\n\r\n", b"403"),  # resolves to loopback
        (b"GET http://meta.offcoder.test/ HTTP/1.1\r\n\r\n", b"403"),  # resolves to metadata
        (b"GET / HTTP/1.1\r\nHost: allowed.offcoder.test\r\n\r\n", b"405"),
        (b"GET https://allowed.offcoder.test/ HTTP/1.1\r\n\r\n", b"405"),
        (b"GET http://user@allowed.offcoder.test/ HTTP/1.1\r\n\r\n", b"400"),
        (b"CONNECT allowed.offcoder.test HTTP/1.1\r\n\r\n", b"400"),
        (b"BREW\r\n\r\n", b"400"),
    ],
)
async def test_gateway_refuses(gateway: tuple[int, list[str]], head: bytes, status: bytes) -> None:
    port, looked_up = gateway
    answer = await ask(port, head)
    assert answer.startswith(b"HTTP/1.1 " + status), answer
    assert b"X-Offcoder-Gateway: refused" in answer
    # A name off the list is never even looked up.
    assert "denied.offcoder.test" not in looked_up


def test_the_gateway_program_keeps_the_contract() -> None:
    # The sandbox program cannot import the policy (it runs alone in its container), so what
    # both sides need is written twice; this holds the two together.
    assert gw.LISTEN_PORT == GATEWAY_PORT
    assert gw.READY_LINE == policy.GATEWAY_READY_LINE
    assert gw.MAX_ALLOW_ENTRIES == policy.GATEWAY_MAX_ALLOW_ENTRIES
    assert gw.MAX_EXTRA_PORTS == policy.GATEWAY_MAX_EXTRA_PORTS
    # ... and the proxy hands containers exactly this file, read as a resource.
    assert gateway_program() == Path(gw.__file__).read_text(encoding="utf-8")
