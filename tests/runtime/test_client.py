"""The worker's runtime client posts create bodies itself and says refusals as docker-py does.

A stand-in proxy on a unix socket records what arrives and answers as told; the proxy itself is
tested in test_proxy.py.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from offcoder.runtime.client import RuntimeClient
from tests.support.runtime import docker_proxy

pytestmark = pytest.mark.promise("C2")


class StandIn:
    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (201, b'{"Id": "abc123", "Warnings": []}')
        self.seen: list[tuple[str, str, bytes]] = []


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[tuple[StandIn, RuntimeClient]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.seen.append((self.path, self.headers["Content-Type"], body))
            status, payload = state.answer
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            request, _ = super().get_request()
            return request, ("proxy", 0)  # http.server wants a (host, port) client address

    socket_path = tmp_path / "proxy.sock"
    server = Server(str(socket_path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = RuntimeClient(str(socket_path))
    try:
        yield state, client
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_create_posts_the_body_as_built(stand_in: tuple[StandIn, RuntimeClient]) -> None:
    state, client = stand_in
    spec = {"Image": "offcoder/python:current", "Env": ["NAME=välue"], "Labels": {"a": "1"}}

    assert client.create(spec) == "abc123"

    assert state.seen == [
        ("/v1.41/containers/create", "application/json", json.dumps(spec).encode())
    ]


def test_a_refused_create_raises_docker_pys_error(
    stand_in: tuple[StandIn, RuntimeClient],
) -> None:
    state, client = stand_in
    state.answer = (403, b'{"message": "docker proxy: Privileged is not allowed"}')

    with pytest.raises(APIError) as refused:
        client.create({"Image": "x"})

    assert type(refused.value) is APIError
    assert refused.value.status_code == 403
    assert refused.value.explanation == "docker proxy: Privileged is not allowed"
    assert str(refused.value) == (
        "403 Client Error for http://proxy/v1.41/containers/create: Forbidden"
        ' ("docker proxy: Privileged is not allowed")'
    )


def test_engine_errors_keep_their_kind_and_words(
    stand_in: tuple[StandIn, RuntimeClient],
) -> None:
    state, client = stand_in
    state.answer = (404, b'{"message": "No such image: offcoder/python:current"}')
    with pytest.raises(ImageNotFound) as missing:
        client.create({"Image": "offcoder/python:current"})
    assert missing.value.explanation == "No such image: offcoder/python:current"

    state.answer = (404, b'{"message": "network offcoder-job-x not found"}')
    with pytest.raises(NotFound):
        client.create({"Image": "x"})

    state.answer = (500, b"engine trouble\n")
    with pytest.raises(APIError) as broken:
        client.create({"Image": "x"})
    assert broken.value.status_code == 500
    assert broken.value.explanation == "engine trouble"


@pytest.mark.docker
def test_the_proxys_refusal_arrives_as_docker_pys_error(tmp_path: Path) -> None:
    with docker_proxy(tmp_path) as socket_path:
        client = RuntimeClient(socket_path)
        try:
            with pytest.raises(APIError) as refused:
                client.create(
                    {"Image": "offcoder/python:current", "HostConfig": {"Privileged": True}}
                )
        finally:
            client.close()

    assert refused.value.status_code == 403
    assert "Privileged" in refused.value.explanation
