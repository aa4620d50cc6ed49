"""T3: who is believed about the scheme and the client's address. The middleware in front of a
recording app, with the peer address each case needs (only loopback is reachable for real)."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from offcoder.web.middleware import Receive, Scope, Send
from offcoder.web.transport import ForwardedHeadersMiddleware, TrustedProxies

pytestmark = pytest.mark.promise("T3")


class Recorder:
    """An app that keeps the scope it was given and answers 204."""

    def __init__(self) -> None:
        self.scope: Scope = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def proxies(*networks: str) -> TrustedProxies:
    return TrustedProxies([ip_network(network) for network in networks])


async def seen(
    trusted: TrustedProxies, peer: str, headers: dict[str, str]
) -> tuple[str, str | None]:
    """The scheme and client address the app sees for a plain-HTTP request from `peer`."""
    recorder = Recorder()
    transport = httpx.ASGITransport(
        app=ForwardedHeadersMiddleware(recorder, trusted), client=(peer, 40000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://offcoder.test") as client:
        assert (await client.get("/", headers=headers)).status_code == 204
    client_address = recorder.scope["client"]
    return recorder.scope["scheme"], client_address[0] if client_address else None


FORGED = {
    "x-forwarded-proto": "https",
    "x-forwarded-for": "192.0.2.1",
    "forwarded": "for=192.0.2.1;proto=https",
}


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "203.0.113.9"])
async def test_nobody_is_believed_by_default(peer: str) -> None:
    assert await seen(proxies(), peer, FORGED) == ("http", peer)


async def test_a_peer_outside_the_configured_networks_is_not_believed() -> None:
    trusted = proxies("10.0.0.0/8", "fd00::/8")

    assert await seen(trusted, "127.0.0.1", FORGED) == ("http", "127.0.0.1")
    assert await seen(trusted, "11.0.0.1", FORGED) == ("http", "11.0.0.1")


@pytest.mark.parametrize("peer", ["10.1.2.3", "fd00::5"])
async def test_a_configured_proxy_is_believed_about_scheme_and_client(peer: str) -> None:
    trusted = proxies("10.0.0.0/8", "fd00::/8")

    headers = {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.7"}
    assert await seen(trusted, peer, headers) == ("https", "198.51.100.7")


async def test_the_client_is_the_nearest_address_that_is_not_a_trusted_proxy() -> None:
    """A client may start X-Forwarded-For with anything; proxies append, so the address our
    trusted chain saw is the rightmost one that is not one of them."""
    trusted = proxies("127.0.0.1", "10.0.0.0/8")

    chain = {"x-forwarded-for": "192.0.2.1, 198.51.100.7, 10.0.0.2"}
    assert await seen(trusted, "127.0.0.1", chain) == ("http", "198.51.100.7")


async def test_the_standard_forwarded_header_is_read() -> None:
    trusted = proxies("127.0.0.1")

    headers = {"forwarded": 'for=192.0.2.1;proto=http, for="[2001:db8::7]:4711";proto=https'}
    assert await seen(trusted, "127.0.0.1", headers) == ("https", "2001:db8::7")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-proto": "https, http"},
        {"x-forwarded-proto": "http", "forwarded": "proto=https"},
        {"x-forwarded-proto": "https", "forwarded": "proto=http"},
        {"x-forwarded-proto": "gopher"},
    ],
)
async def test_the_weaker_or_an_unknown_claim_wins(headers: dict[str, str]) -> None:
    assert (await seen(proxies("127.0.0.1"), "127.0.0.1", headers))[0] == "http"


async def test_a_websocket_from_a_trusted_proxy_becomes_wss() -> None:
    recorder = Recorder()
    scope: Scope = {
        "type": "websocket",
        "scheme": "ws",
        "client": ("127.0.0.1", 40000),
        "headers": [(b"x-forwarded-proto", b"https")],
    }

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(_: Any) -> None:
        return None

    await ForwardedHeadersMiddleware(recorder, proxies("127.0.0.1"))(scope, receive, send)

    assert recorder.scope["scheme"] == "wss"
